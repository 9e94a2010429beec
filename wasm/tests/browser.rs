//! The web demo in headless Chromium against the native decoder.
//!
//! Builds the wasm package (`scripts/web.sh build`), then `web/test/browser.mjs` opens the
//! page in Debian's Chromium through playwright-core, clicks every sample in
//! assets/samples, opens the golden `.wl` files through the file chooser (with their
//! model file), reads headers and feeds a damaged file. This test then decodes the same
//! files natively with walloc-core and requires:
//!
//! - identical latent symbols (the integer path is bit-exact by design);
//! - pixels within ±1 and audio samples within 1e-4 of the native decoder (floats before
//!   the final rounding may differ by an ulp between x86-64 and wasm SIMD: different
//!   instruction selection and summation order), and the golden image within ±1 of its
//!   committed decoding;
//! - headers read in the browser equal to the native reading, field by field;
//! - the page's figures (size, bpp, kbps, model) right, the player's duration the
//!   signal's, nothing wider than a phone's screen, and for the damaged file the CLI's
//!   message (`walloc: FILE: MESSAGE` without the `walloc: `);
//! - no page errors, failed requests or console errors.
//!
//! Screenshots (image.png, audio.png, phone.png, error.png) and the raw results are kept in
//! `$CARGO_TARGET_TMPDIR/browser` (or `$WALLOC_BROWSER_OUT`) as the test's artifacts.
//! Skipped, with a message, only where node or Chromium is not installed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use burn::tensor::Device;
use serde_json::{Value, json};
use walloc_core::container::{self, Limits};
use walloc_core::model_file::{Model, id_hex};
use walloc_core::pipeline::RasterImage;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("wasm/ sits in the workspace")
        .to_path_buf()
}

/// Every committed model file, by id, with the name the page shows (the configuration's,
/// which for the shipped models is also the file's).
fn models(root: &Path) -> HashMap<[u8; 16], (String, Model)> {
    let mut out = HashMap::new();
    for dir in ["assets/models", "tests/data/models"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "wlm") {
                let model = Model::from_bytes(&std::fs::read(&path).unwrap(), &Device::flex())
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                out.insert(model.id, (model.config.name.clone(), model));
            }
        }
    }
    out
}

fn read_i32(path: &Path) -> Vec<i32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes
        .chunks_exact(4)
        .map(|b| i32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

fn read_f32(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

/// Largest difference between the page's RGBA and an 8-bit gray or RGB image, and how
/// many samples differ at all.
fn rgba_vs(rgba: &[u8], image: &RasterImage) -> (u8, usize) {
    assert_eq!(image.bit_depth(), 8, "the test files are 8-bit");
    let samples = image.samples.widened();
    let ch = usize::from(image.channels);
    let pixels = (image.width * image.height) as usize;
    assert_eq!(rgba.len(), pixels * 4, "RGBA size");
    let (mut max, mut differ) = (0u8, 0usize);
    for i in 0..pixels {
        assert_eq!(rgba[4 * i + 3], 255, "decoded images are opaque");
        for c in 0..3 {
            let native = samples[i * ch + if ch >= 3 { c } else { 0 }] as u8;
            let d = rgba[4 * i + c].abs_diff(native);
            max = max.max(d);
            differ += usize::from(d > 0);
        }
    }
    (max, differ)
}

fn which(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn browser_decodes_like_native() {
    let root = root();
    if !which("node") {
        eprintln!("SKIPPED browser test: node is not installed (apt-get install nodejs npm)");
        return;
    }
    let chromium = std::env::var("WALLOC_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        eprintln!("SKIPPED browser test: no Chromium at {chromium} (apt-get install chromium)");
        return;
    }

    let built = Command::new("bash")
        .arg(root.join("scripts/web.sh"))
        .arg("build")
        .status()
        .expect("bash runs");
    assert!(built.success(), "scripts/web.sh build failed");

    let out = std::env::var_os("WALLOC_BROWSER_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser"));
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();

    // The samples, as the page lists them.
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(root.join("assets/samples/samples.json")).unwrap())
            .unwrap();
    let samples: Vec<String> = manifest
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["file"].as_str().unwrap().to_string())
        .collect();
    let sample = |name: &str| root.join("assets/samples").join(name);
    let first_image = samples
        .iter()
        .find(|s| std::fs::read(sample(s)).unwrap()[10] == 0)
        .expect("an image sample")
        .clone();
    assert!(
        samples
            .iter()
            .any(|s| std::fs::read(sample(s)).unwrap()[10] == 1),
        "an audio sample"
    );

    // A damaged copy of an image sample (one payload byte flipped), and a truncated one.
    let mut corrupt = std::fs::read(sample(&first_image)).unwrap();
    let at = corrupt.len() - 7;
    corrupt[at] ^= 0x5a;
    let corrupt_path = out.join("corrupt.wl");
    std::fs::write(&corrupt_path, &corrupt).unwrap();
    let truncated = std::fs::read(sample(&first_image)).unwrap()[..40].to_vec();
    let truncated_path = out.join("truncated.wl");
    std::fs::write(&truncated_path, &truncated).unwrap();

    let golden = root.join("tests/data/golden/chelsea-crop.wl");
    let core_goldens = [
        root.join("codec-core/tests/data/golden-image.wl"),
        root.join("codec-core/tests/data/golden-audio.wl"),
    ];
    let mut info_files: Vec<PathBuf> = samples.iter().map(|s| sample(s)).collect();
    info_files.push(golden.clone());
    info_files.extend(core_goldens.iter().cloned());
    info_files.push(truncated_path.clone());
    info_files.push(corrupt_path.clone());
    let job = json!({
        "samples": samples,
        "files": [{
            "wl": golden,
            "model": root.join("tests/data/models/tiny-image.wlm"),
        }],
        "info": info_files,
        "bad": [&corrupt_path, &core_goldens[0], &core_goldens[1]],
    });
    let job_path = out.join("job.json");
    std::fs::write(&job_path, serde_json::to_vec_pretty(&job).unwrap()).unwrap();

    let ran = Command::new("node")
        .arg(root.join("web/test/browser.mjs"))
        .arg(&job_path)
        .arg(&out)
        .env("WALLOC_CHROMIUM", &chromium)
        .status()
        .expect("node runs");
    assert!(ran.success(), "web/test/browser.mjs failed");
    let results: Value =
        serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["problems"], json!([]), "the page reported problems");

    let models = models(&root);
    let limits = Limits::default();
    let mut report = Vec::new();

    // The page warms up the default image model, the CLI's (the middle quality level),
    // while it waits for the user: decodes with that model say how long it took.
    let catalog: Value =
        serde_json::from_slice(&std::fs::read(root.join("web/pkg/catalog.json")).unwrap()).unwrap();
    let defaults: Vec<&str> = catalog["models"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["default"] == json!(true))
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(defaults, ["image-q3"], "the catalog's default model");

    // Samples and the golden file: symbols, samples, figures.
    let opened: Vec<(&Value, PathBuf)> = results["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e, sample(e["name"].as_str().unwrap())))
        .chain(
            results["files"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| (e, golden.clone())),
        )
        .collect();
    assert_eq!(opened.len(), samples.len() + 1, "every file was opened");
    for (entry, path) in opened {
        let name = entry["name"].as_str().unwrap();
        assert!(
            entry.get("error").is_none(),
            "{name}: the page failed: {}",
            entry["error"]
        );
        let bytes = std::fs::read(&path).unwrap();
        let header = container::read_header(&bytes, &limits).unwrap();
        let (model_name, model) = models
            .get(&header.model_id)
            .unwrap_or_else(|| panic!("{name}: no committed model {}", id_hex(&header.model_id)));
        let (_, native_symbols) = model.latent_symbols(&bytes, &limits).unwrap();
        let symbols = read_i32(&out.join(format!("{name}.symbols")));
        assert!(
            symbols == native_symbols,
            "{name}: latent symbols differ from the native decoder's"
        );
        assert_eq!(
            entry["stats"]["model"],
            json!(model_name),
            "{name}: model shown"
        );
        let warm_up = &entry["warmUpMs"];
        if model_name == defaults[0] {
            assert!(
                warm_up.as_f64().is_some_and(|ms| ms > 0.0),
                "{name}: the default model was not warmed up ({warm_up})"
            );
        } else {
            assert_eq!(warm_up, &Value::Null, "{name}: warmed up a model on demand");
        }
        let stats = &entry["stats"];
        match entry["modality"].as_str().unwrap() {
            "image" => {
                let native = model.decode_image(&bytes, &limits).unwrap();
                let rgba = std::fs::read(out.join(format!("{name}.rgba"))).unwrap();
                let (max, differ) = rgba_vs(&rgba, &native);
                assert!(max <= 1, "{name}: a pixel is {max} off the native decoding");
                let (w, h) = (native.width, native.height);
                assert_eq!(stats["size"], json!(format!("{w} × {h} px")));
                let bpp = bytes.len() as f64 * 8.0 / f64::from(w * h);
                assert_eq!(stats["bpp"], json!(format!("{bpp:.3} bpp")));
                report.push(format!(
                    "{name}: {w}×{h}, symbols identical, pixels max |Δ| {max} ({differ} of {} samples differ), wasm decode {:.0} ms",
                    rgba.len() / 4 * 3,
                    entry["decodeMs"].as_f64().unwrap()
                ));
                if path == golden {
                    let png = image::open(root.join("tests/data/golden/chelsea-crop.decoded.png"))
                        .unwrap();
                    let committed = RasterImage {
                        width: png.width(),
                        height: png.height(),
                        channels: 3,
                        samples: png.to_rgb8().into_raw().into(),
                    };
                    let (max, differ) = rgba_vs(&rgba, &committed);
                    assert!(
                        max <= 1,
                        "{name}: a pixel is {max} off the committed decoding"
                    );
                    report.push(format!(
                        "{name} against chelsea-crop.decoded.png: max |Δ| {max}, {differ} samples differ"
                    ));
                }
            }
            "audio" => {
                let native = model.decode_audio(&bytes, &limits).unwrap();
                let frames = native.planes[0].len();
                let mut max = 0.0f32;
                for (k, plane) in native.planes.iter().enumerate() {
                    let wasm = read_f32(&out.join(format!("{name}.ch{k}.f32")));
                    assert_eq!(wasm.len(), frames, "{name}: channel {k} length");
                    for (a, b) in wasm.iter().zip(plane) {
                        max = max.max((a - b).abs());
                    }
                }
                assert_eq!(entry["channels"], json!(native.planes.len()));
                assert!(
                    max <= 1e-4,
                    "{name}: a sample is {max} off the native decoding"
                );
                let seconds = frames as f64 / f64::from(native.sample_rate);
                let player = entry["player_duration"].as_f64().unwrap();
                assert!(
                    (player - seconds).abs() < 0.01,
                    "{name}: the player says {player} s, the file {seconds} s"
                );
                let kbps = bytes.len() as f64 * 8.0 / seconds / 1000.0;
                assert_eq!(stats["kbps"], json!(format!("{kbps:.1} kbps")));
                report.push(format!(
                    "{name}: {seconds:.2} s, symbols identical, samples max |Δ| {max:.2e}, wasm decode {:.0} ms",
                    entry["decodeMs"].as_f64().unwrap()
                ));
            }
            other => panic!("{name}: modality {other}"),
        }
    }

    // Headers (and header errors) read in the browser against the native reading.
    let infos = results["info"].as_array().unwrap();
    assert_eq!(infos.len(), info_files.len());
    for (got, path) in infos.iter().zip(&info_files) {
        let name = got["name"].as_str().unwrap();
        let bytes = std::fs::read(path).unwrap();
        match walloc_wasm::read_info(&bytes, &walloc_wasm::browser_limits()) {
            Ok(fields) => {
                assert!(got.get("error").is_none(), "{name}: {}", got["error"]);
                for (key, field) in fields {
                    let value = &got["info"][key];
                    // serde_json's float parsing is not always correctly rounded: allow
                    // an ulp or two (the values are ratios of header integers).
                    let close = |v: &Value, x: f64| {
                        v.as_f64()
                            .is_some_and(|y| (y - x).abs() <= 1e-15 * x.abs().max(y.abs()))
                    };
                    let same = match field {
                        walloc_wasm::Field::Number(x) => close(value, x),
                        walloc_wasm::Field::Text(s) => value.as_str() == Some(s.as_str()),
                        walloc_wasm::Field::Numbers(xs) => value.as_array().is_some_and(|a| {
                            a.len() == xs.len() && a.iter().zip(&xs).all(|(v, &x)| close(v, x))
                        }),
                    };
                    assert!(same, "{name}: info.{key} is {value} in the browser");
                }
            }
            Err(message) => assert_eq!(got["error"], json!(message), "{name}: error"),
        }
    }
    // Files the page must refuse: the damaged one with the CLI's message, the core crate's
    // golden containers (they name a made-up model) with the page's version of the CLI's
    // "which this walloc does not have"; no stale result beside either.
    let bad = results["bad"].as_array().unwrap();
    assert_eq!(bad.len(), 3);
    let expected = container::read(&corrupt, &limits).unwrap_err().to_string();
    assert!(expected.contains("checksum mismatch"), "{expected}");
    assert_eq!(bad[0]["message"], json!(format!("corrupt.wl: {expected}")));
    for (got, path) in bad[1..].iter().zip(&core_goldens) {
        let header = container::read_header(&std::fs::read(path).unwrap(), &limits).unwrap();
        assert!(!models.contains_key(&header.model_id));
        let name = path.file_name().unwrap().to_string_lossy();
        assert_eq!(
            got["message"],
            json!(format!(
                "{name}: encoded with model {}, which this page does not have; add its model file (.wlm)",
                id_hex(&header.model_id)
            ))
        );
    }
    for got in bad {
        assert_eq!(got["result_hidden"], json!(true), "{got}");
    }

    // A phone-sized window: nothing sticks out sideways.
    let phone = &results["phone"];
    let viewport = phone["viewport"].as_u64().unwrap();
    assert!(
        phone["scroll_width"].as_u64().unwrap() <= viewport,
        "{phone}"
    );
    assert!(
        phone["canvas_width"].as_u64().unwrap() <= viewport,
        "{phone}"
    );

    for shot in ["image.png", "audio.png", "phone.png", "error.png"] {
        let png = std::fs::read(out.join(shot)).unwrap();
        assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{shot}");
    }
    let summary = report.join("\n");
    std::fs::write(out.join("summary.txt"), &summary).unwrap();
    eprintln!(
        "{summary}\nbrowser test artifacts (screenshots, results): {}",
        out.display()
    );
}
