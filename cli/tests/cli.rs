//! The `walloc` binary as a user runs it: round trips on real photos and music with
//! quality floors, golden files, every bad-input case, batches with failures, and no
//! overwriting without `--force`. Models: the tiny ones in tests/data/models (a few
//! hundred training steps on the committed crops; see tests/data/SOURCES.md).

use std::path::{Path, PathBuf};

mod common;
use common::*;

/// Encodes `src` beside itself with `model`, then decodes the `.wl` to `back`.
fn round_trip(model: &Path, src: &Path, back: &Path) -> PathBuf {
    ok(&["encode", "-q", "--model", s(model), s(src)]);
    let wl = src.with_extension("wl");
    ok(&["decode", "-q", "--model", s(model), s(&wl), "-o", s(back)]);
    wl
}

fn image_model() -> PathBuf {
    data("models/tiny-image.wlm")
}

fn audio_model() -> PathBuf {
    data("models/tiny-audio.wlm")
}

fn rgb(path: &Path) -> image::RgbImage {
    image::open(path).unwrap().to_rgb8()
}

fn psnr(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let mse = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum::<f64>()
        / a.as_raw().len() as f64;
    10.0 * (255.0f64.powi(2) / mse).log10()
}

#[test]
fn photo_round_trip_keeps_size_and_quality() {
    let dir = scratch("photo");
    let src = dir.join("cat.png");
    std::fs::copy(data("photos/chelsea-crop.png"), &src).unwrap();
    let model = image_model();
    let wl = round_trip(&model, &src, &dir.join("back.png"));
    assert_eq!(wl, dir.join("cat.wl"));
    let q = psnr(&rgb(&src), &rgb(&dir.join("back.png")));
    // The tiny test model: about 20 dB (the shipped models are tested in assets/).
    assert!(q > 18.0, "PSNR {q:.2}");
    // Other output formats by extension.
    ok(&[
        "decode",
        "--model",
        s(&model),
        s(&wl),
        "-o",
        s(&dir.join("back.jpg")),
    ]);
    assert_eq!(rgb(&dir.join("back.jpg")).dimensions(), (120, 90));
}

#[test]
fn gray_and_rgba_inputs_come_back_gray_and_rgb() {
    let dir = scratch("gray");
    let cat = image::open(data("photos/chelsea-crop.png")).unwrap();
    cat.to_luma8().save(dir.join("gray.png")).unwrap();
    cat.to_rgba8().save(dir.join("rgba.png")).unwrap();
    let model = image_model();
    for name in ["gray", "rgba"] {
        let p = dir.join(format!("{name}.png"));
        round_trip(&model, &p, &dir.join(format!("{name}-back.png")));
        let back = image::open(dir.join(format!("{name}-back.png"))).unwrap();
        let expected = if name == "gray" {
            image::ColorType::L8
        } else {
            image::ColorType::Rgb8
        };
        assert_eq!(back.color(), expected, "{name}");
        assert_eq!((back.width(), back.height()), (120, 90));
    }
}

/// Netpbm files, which cjpeg and djpeg read and write raw: the same pixels as a PNG give
/// the same `.wl` bytes, and a decode to `.ppm` or `.pgm` holds the pixels a `.png` holds.
#[test]
fn netpbm_inputs_and_outputs_hold_the_same_pixels() {
    let dir = scratch("netpbm");
    let cat = image::open(data("photos/chelsea-crop.png")).unwrap();
    let model = image_model();
    for (name, img) in [
        ("rgb", cat.clone()),
        ("gray", image::DynamicImage::ImageLuma8(cat.to_luma8())),
    ] {
        let (png, ppm) = (
            dir.join(format!("{name}.png")),
            dir.join(format!("{name}.ppm")),
        );
        img.save(&png).unwrap();
        // The encoder picks PPM or PGM by the image's colour type, whatever the name.
        img.save_with_format(&ppm, image::ImageFormat::Pnm).unwrap();
        round_trip(&model, &png, &dir.join(format!("{name}-back.png")));
        let from_png = std::fs::read(png.with_extension("wl")).unwrap();
        std::fs::remove_file(png.with_extension("wl")).unwrap();
        let back = dir.join(format!("{name}-back.ppm"));
        round_trip(&model, &ppm, &back);
        assert_eq!(
            std::fs::read(ppm.with_extension("wl")).unwrap(),
            from_png,
            "{name}"
        );
        let (a, b) = (
            image::open(dir.join(format!("{name}-back.png"))).unwrap(),
            image::open(&back).unwrap(),
        );
        assert_eq!(a.color(), b.color(), "{name}");
        assert_eq!(a.as_bytes(), b.as_bytes(), "{name}");
    }
}

#[test]
fn music_round_trip_keeps_rate_channels_and_length() {
    let dir = scratch("music");
    let src = dir.join("clip.wav");
    std::fs::copy(data("audio/nebula-0.5s.wav"), &src).unwrap();
    let model = audio_model();
    round_trip(&model, &src, &dir.join("back.wav"));
    let read = |p: &Path| {
        let mut r = hound::WavReader::open(p).unwrap();
        let spec = r.spec();
        let v: Vec<f64> = r.samples::<i16>().map(|x| f64::from(x.unwrap())).collect();
        (spec, v)
    };
    let (a_spec, a) = read(&src);
    let (b_spec, b) = read(&dir.join("back.wav"));
    assert_eq!(
        (b_spec.sample_rate, b_spec.channels, b_spec.bits_per_sample),
        (a_spec.sample_rate, a_spec.channels, 16)
    );
    assert_eq!(a.len(), b.len());
    let sig: f64 = a.iter().map(|x| x * x).sum();
    let err: f64 = a.iter().zip(&b).map(|(x, y)| (x - y).powi(2)).sum();
    let snr = 10.0 * (sig / err).log10();
    assert!(snr > 2.0, "SNR {snr:.2} dB");
    ok(&[
        "decode",
        "-q",
        "--float",
        "--force",
        "--model",
        s(&model),
        s(&dir.join("clip.wl")),
        "-o",
        s(&dir.join("back.wav")),
    ]);
    let spec = hound::WavReader::open(dir.join("back.wav")).unwrap().spec();
    assert_eq!(
        (spec.sample_format, spec.bits_per_sample),
        (hound::SampleFormat::Float, 32)
    );
}

/// Encoding a committed photo with the committed model gives committed bytes, and decoding
/// them gives committed pixels (WALLOC_BLESS=1 rewrites both after an intended change).
#[test]
fn golden_image_file_is_stable() {
    let dir = scratch("golden");
    let src = dir.join("cat.png");
    std::fs::copy(data("photos/chelsea-crop.png"), &src).unwrap();
    let model = image_model();
    round_trip(&model, &src, &dir.join("cat-back.png"));
    let wl = std::fs::read(dir.join("cat.wl")).unwrap();
    let golden_wl = data("golden/chelsea-crop.wl");
    let golden_png = data("golden/chelsea-crop.decoded.png");
    if std::env::var_os("WALLOC_BLESS").is_some() {
        std::fs::create_dir_all(golden_wl.parent().unwrap()).unwrap();
        std::fs::write(&golden_wl, &wl).unwrap();
        std::fs::copy(dir.join("cat-back.png"), &golden_png).unwrap();
    }
    assert!(
        wl == std::fs::read(&golden_wl).unwrap(),
        "encoded bytes changed"
    );
    assert!(
        rgb(&dir.join("cat-back.png")) == rgb(&golden_png),
        "decoded pixels changed"
    );
}

#[test]
fn info_reports_the_signal_and_the_model() {
    let dir = scratch("info");
    let src = dir.join("cat.png");
    std::fs::copy(data("photos/chelsea-crop.png"), &src).unwrap();
    let model = image_model();
    ok(&["encode", "-q", "--model", s(&model), s(&src)]);
    let out = ok(&[
        "info",
        "--json",
        "--model",
        s(&model),
        s(&dir.join("cat.wl")),
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let bytes = std::fs::metadata(dir.join("cat.wl")).unwrap().len();
    assert_eq!(v["modality"], "image");
    assert_eq!(v["width"], 120);
    assert_eq!(v["height"], 90);
    assert_eq!(v["channels"], 3);
    assert_eq!(v["bytes"], bytes);
    assert_eq!(v["model"], "tiny");
    assert_eq!(v["latent_shape"], serde_json::json!([4, 12, 15]));
    let bpp = v["bpp"].as_f64().unwrap();
    assert!((bpp - bytes as f64 * 8.0 / (120.0 * 90.0)).abs() < 1e-9);
    assert_eq!(v["format_version"], 3);
    let text = ok(&["info", s(&dir.join("cat.wl"))]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("image 120×90"));
    // A version 1 file says so.
    let v1 = ok(&["info", "--json", s(&data("golden/chelsea-crop.v1.wl"))]);
    let v1: serde_json::Value = serde_json::from_slice(&v1.stdout).unwrap();
    assert_eq!(v1["format_version"], 1);
    assert!(v1.get("streams").is_none() && v1.get("zero_channels").is_none());
    // A version 2 file says how many channels it leaves out and in how many streams.
    let v2 = ok(&["info", "--json", s(&data("golden/chelsea-crop.v2.wl"))]);
    let v2: serde_json::Value = serde_json::from_slice(&v2.stdout).unwrap();
    assert_eq!(
        (v2["format_version"].as_u64(), v2["streams"].as_u64()),
        (Some(2), Some(1))
    );
    let zero = v2["zero_channels"].as_u64().unwrap();
    assert!(zero < 4);
    let text = ok(&["info", s(&data("golden/chelsea-crop.wl"))]);
    assert!(String::from_utf8_lossy(&text.stdout).contains(&format!(
        "format version 3: {zero} of 4 latent channels all zero"
    )));
}

#[test]
fn bad_inputs_get_one_clear_line_and_no_output() {
    let dir = scratch("bad");
    let model = image_model();
    let m = s(&model);
    // Not an image, though named like one; an empty file; an unknown extension.
    std::fs::write(dir.join("text.png"), b"hello, not a picture").unwrap();
    assert!(
        fails(&["encode", "--model", m, s(&dir.join("text.png"))]).contains("not a readable image")
    );
    std::fs::write(dir.join("empty.png"), b"").unwrap();
    assert!(fails(&["encode", "--model", m, s(&dir.join("empty.png"))]).contains("empty"));
    std::fs::write(dir.join("notes.txt"), b"x").unwrap();
    assert!(
        fails(&["encode", "--model", m, s(&dir.join("notes.txt"))]).contains("not an image or WAV")
    );
    // Over the pixel limit.
    let cat = dir.join("cat.png");
    std::fs::copy(data("photos/chelsea-crop.png"), &cat).unwrap();
    assert!(
        fails(&["encode", "--model", m, "--max-pixels", "1000", s(&cat)])
            .contains("over the limit")
    );
    assert!(!dir.join("cat.wl").exists());
    // Truncated, corrupted, and made by a model walloc does not have.
    ok(&["encode", "-q", "--model", m, s(&cat)]);
    let wl = std::fs::read(dir.join("cat.wl")).unwrap();
    std::fs::write(dir.join("short.wl"), &wl[..wl.len() - 9]).unwrap();
    assert!(fails(&["decode", "--model", m, s(&dir.join("short.wl"))]).contains("truncated"));
    let mut flipped = wl.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x40;
    std::fs::write(dir.join("flipped.wl"), &flipped).unwrap();
    assert!(fails(&["decode", "--model", m, s(&dir.join("flipped.wl"))]).contains("corrupted"));
    let err = fails(&[
        "decode",
        s(&dir.join("cat.wl")),
        "-o",
        s(&dir.join("x.png")),
    ]);
    assert!(
        err.contains("104e426e19fb3874b4fe1d9f07971e40") && err.contains("--model"),
        "{err}"
    );
    let err = fails(&[
        "decode",
        "--model",
        s(&audio_model()),
        s(&dir.join("cat.wl")),
        "-o",
        s(&dir.join("x.png")),
    ]);
    assert!(err.contains("does not have"), "{err}");
    std::fs::write(dir.join("empty.wl"), b"").unwrap();
    assert!(fails(&["decode", "--model", m, s(&dir.join("empty.wl"))]).contains("empty"));
    // Nothing partial was left behind.
    for f in [
        "short.png",
        "flipped.png",
        "x.png",
        "text.wl",
        "empty.wl.png",
    ] {
        assert!(!dir.join(f).exists(), "{f}");
    }
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn a_batch_with_a_bad_file_does_the_others_and_fails() {
    let dir = scratch("batch");
    let inputs = dir.join("in");
    let out = dir.join("out");
    std::fs::create_dir_all(&inputs).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    std::fs::copy(data("photos/chelsea-crop.png"), inputs.join("a.png")).unwrap();
    std::fs::copy(data("photos/astronaut-crop.png"), inputs.join("c.png")).unwrap();
    std::fs::write(inputs.join("b.png"), b"broken").unwrap();
    let model = image_model();
    let result = walloc(&["encode", "--model", s(&model), s(&inputs), "-o", s(&out)]);
    assert!(!result.status.success());
    let err = String::from_utf8_lossy(&result.stderr);
    assert_eq!(
        err.lines().filter(|l| l.starts_with("walloc: ")).count(),
        1,
        "{err}"
    );
    assert!(
        err.contains("b.png") && err.contains("2 of 3 files done"),
        "{err}"
    );
    assert!(out.join("a.wl").exists() && out.join("c.wl").exists() && !out.join("b.wl").exists());
    // Decoding the folder back.
    let back = dir.join("back");
    std::fs::create_dir_all(&back).unwrap();
    ok(&[
        "decode",
        "-q",
        "--model",
        s(&model),
        s(&out),
        "-o",
        s(&back),
    ]);
    assert!(back.join("a.png").exists() && back.join("c.png").exists());
}

#[test]
fn nothing_is_overwritten_without_force() {
    let dir = scratch("force");
    let src = dir.join("cat.png");
    std::fs::copy(data("photos/chelsea-crop.png"), &src).unwrap();
    let model = image_model();
    std::fs::write(dir.join("cat.wl"), b"precious").unwrap();
    assert!(fails(&["encode", "--model", s(&model), s(&src)]).contains("--force"));
    assert_eq!(std::fs::read(dir.join("cat.wl")).unwrap(), b"precious");
    // A hard link to the old file: replacing the output gives its name a new file, as a
    // rename does (cli/src/media.rs swaps the two files on Linux), and the link keeps
    // the old one.
    std::fs::hard_link(dir.join("cat.wl"), dir.join("old.wl")).unwrap();
    ok(&["encode", "-q", "--force", "--model", s(&model), s(&src)]);
    ok(&[
        "encode",
        "-q",
        "--model",
        s(&model),
        s(&src),
        "-o",
        s(&dir.join("fresh.wl")),
    ]);
    assert_eq!(
        std::fs::read(dir.join("cat.wl")).unwrap(),
        std::fs::read(dir.join("fresh.wl")).unwrap()
    );
    assert_eq!(std::fs::read(dir.join("old.wl")).unwrap(), b"precious");
    // A folder where the output would go is not replaced, even with --force.
    let dog = dir.join("dog.png");
    std::fs::copy(&src, &dog).unwrap();
    let folder = dir.join("dog.wl");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("inside"), b"kept").unwrap();
    let err = fails(&["encode", "--force", "--model", s(&model), s(&dog)]);
    assert!(err.contains("dog.wl"), "{err}");
    assert_eq!(std::fs::read(folder.join("inside")).unwrap(), b"kept");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "cat.png", "cat.wl", "dog.png", "dog.wl", "fresh.wl", "old.wl"
        ],
        "nothing left behind"
    );
}

#[test]
fn latents_are_a_numpy_array_of_the_coded_symbols() {
    let dir = scratch("latents");
    let src = dir.join("cat.png");
    std::fs::copy(data("photos/chelsea-crop.png"), &src).unwrap();
    let model = image_model();
    ok(&[
        "latents",
        "-q",
        "--model",
        s(&model),
        s(&src),
        "-o",
        s(&dir.join("z.npy")),
    ]);
    let b = std::fs::read(dir.join("z.npy")).unwrap();
    assert_eq!(&b[..6], b"\x93NUMPY");
    let len = u16::from_le_bytes([b[8], b[9]]) as usize;
    let header = std::str::from_utf8(&b[10..10 + len]).unwrap();
    assert!(header.contains("'shape': (4, 12, 15)"), "{header}");
    assert_eq!(b.len(), 10 + len + 4 * 4 * 12 * 15);
    // The same symbols from the .wl file.
    ok(&["encode", "-q", "--model", s(&model), s(&src)]);
    ok(&[
        "latents",
        "-q",
        "--model",
        s(&model),
        s(&dir.join("cat.wl")),
        "-o",
        s(&dir.join("z2.npy")),
    ]);
    assert_eq!(std::fs::read(dir.join("z2.npy")).unwrap(), b);
}
