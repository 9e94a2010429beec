//! The `walloc` binary against hostile input: sizes over the limits are refused from the
//! headers with one clear line and no output, every limit has a flag, and a batch
//! interrupted with Ctrl-C keeps its finished outputs and leaves no temporary file.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use walloc_core::container::{Header, ImageMeta, SignalMeta, WlFile};

mod common;
use common::*;

/// No file in `dir` but `keep`.
fn only(dir: &Path, keep: &[&str]) {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut keep: Vec<String> = keep.iter().map(|k| k.to_string()).collect();
    keep.sort();
    assert_eq!(names, keep);
}

/// A PNG chunk: length, kind and body, CRC.
fn png_chunk(kind: &[u8], body: &[u8]) -> Vec<u8> {
    let mut typed = kind.to_vec();
    typed.extend_from_slice(body);
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&typed);
    out.extend_from_slice(&crc32fast::hash(&typed).to_be_bytes());
    out
}

/// A PNG claiming `width × height` RGB pixels, with an empty IDAT: no pixel data.
fn png_header(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(png_chunk(b"IHDR", &ihdr));
    png.extend(png_chunk(b"IDAT", &[]));
    png.extend(png_chunk(b"IEND", &[]));
    png
}

/// A header that claims 100 000 × 100 000 pixels fails at once, whichever way it comes in:
/// as a `.wl` file to decode or describe, or as an image to encode.
#[test]
fn a_100000_by_100000_claim_is_refused_from_the_header() {
    let dir = scratch("huge");
    let wl = WlFile {
        header: Header {
            version: walloc_core::container::FORMAT_VERSION,
            model_id: [9; 16],
            signal: SignalMeta::Image(ImageMeta {
                width: 100_000,
                height: 100_000,
                channels: 3,
                bit_depth: 8,
                pad_left: 0,
                pad_top: 0,
            }),
            latent_shape: [4, 12_500, 12_500],
        },
        payload: vec![0; 16],
    }
    .to_bytes()
    .unwrap();
    let huge = dir.join("huge.wl");
    std::fs::write(&huge, &wl).unwrap();
    for cmd in ["decode", "info"] {
        let err = fails_once(&[cmd, s(&huge)]);
        assert!(
            err.contains("image size (pixels) 10000000000 exceeds the limit of 268435456"),
            "{err}"
        );
    }
    let png = dir.join("huge.png");
    std::fs::write(&png, png_header(100_000, 100_000)).unwrap();
    let err = fails_once(&[
        "encode",
        "--model",
        s(&model("tiny-image.wlm")),
        s(&png),
        "-o",
        s(&dir.join("out.wl")),
    ]);
    assert!(
        err.contains("100000×100000 = 10000000000 pixels, over the limit of 268435456"),
        "{err}"
    );
    only(&dir, &["huge.png", "huge.wl"]);
}

/// Every limit has a flag, and each refuses with one line and writes nothing.
#[test]
fn every_limit_has_a_flag() {
    let dir = scratch("flags");
    let wav = dir.join("clip.wav");
    std::fs::copy(data("audio/nebula-0.5s.wav"), &wav).unwrap();
    let audio = model("tiny-audio.wlm");
    let err = fails_once(&[
        "encode",
        "--model",
        s(&audio),
        "--max-frames",
        "1000",
        s(&wav),
    ]);
    assert!(err.contains("over the limits"), "{err}");
    let err = fails_once(&[
        "encode",
        "--model",
        s(&audio),
        "--max-channels",
        "1",
        s(&wav),
    ]);
    assert!(err.contains("over the limits"), "{err}");
    let err = fails_once(&[
        "encode",
        "--model",
        s(&audio),
        "--max-model-bytes",
        "1000",
        s(&wav),
    ]);
    assert!(
        err.contains("larger than the limit of 1000 bytes") && err.contains("--max-model-bytes"),
        "{err}"
    );
    only(&dir, &["clip.wav"]);
    // The same limits apply to the headers of .wl files read.
    let ok = walloc(&["encode", "-q", "--model", s(&audio), s(&wav)]);
    assert!(ok.status.success());
    let wl = dir.join("clip.wl");
    let back = dir.join("back.wav");
    let err = fails_once(&[
        "decode",
        "--model",
        s(&audio),
        "--max-frames",
        "1000",
        s(&wl),
        "-o",
        s(&back),
    ]);
    assert!(
        err.contains("audio length (frames) 22050 exceeds the limit of 1000"),
        "{err}"
    );
    let err = fails_once(&["info", "--max-channels", "1", s(&wl)]);
    assert!(
        err.contains("audio channel count 2 exceeds the limit of 1"),
        "{err}"
    );
    only(&dir, &["clip.wav", "clip.wl"]);
}

/// Ctrl-C in the middle of a folder: the files finished before it are complete (the same
/// bytes as encoding them alone), the rest are absent, no temporary file is left, and the
/// exit status says it was interrupted.
#[test]
fn an_interrupted_batch_keeps_finished_files_and_leaves_no_temporaries() {
    let dir = scratch("interrupt");
    let (inputs, out) = (dir.join("in"), dir.join("out"));
    std::fs::create_dir_all(&inputs).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    let n = 300;
    for i in 0..n {
        std::fs::copy(
            data("photos/astronaut-crop.png"),
            inputs.join(format!("p{i:03}.png")),
        )
        .unwrap();
    }
    let model = model("tiny-image.wlm");
    // The reference: one of them encoded alone.
    let single = dir.join("single.wl");
    let one = walloc(&[
        "encode",
        "-q",
        "--model",
        s(&model),
        s(&inputs.join("p000.png")),
        "-o",
        s(&single),
    ]);
    assert!(one.status.success());
    let reference = std::fs::read(&single).unwrap();

    let mut child = Command::new(walloc_bin())
        .args([
            "encode",
            "-q",
            "--model",
            s(&model),
            s(&inputs),
            "-o",
            s(&out),
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once the first output is in place.
    let give_up = Instant::now() + Duration::from_secs(600);
    while !out.join("p000.wl").exists() {
        assert!(
            Instant::now() < give_up,
            "the batch never wrote its first file"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted"), "{err}");

    let written: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        written.iter().all(|name| !name.ends_with(".tmp")),
        "{written:?}"
    );
    assert!(!written.is_empty() && written.len() < n, "{written:?}");
    for name in &written {
        assert_eq!(
            std::fs::read(out.join(name)).unwrap(),
            reference,
            "{name} is not a complete output"
        );
    }
    // The finished files are exactly the first ones in order.
    for i in 0..written.len() {
        assert!(out.join(format!("p{i:03}.wl")).exists());
    }
}
