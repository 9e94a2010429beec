//! `walloc eval` as a user runs it: a folder of real photos (and of music) against the
//! peers installed here, JSON and SVG outputs, the error cases; and the BD-rate and
//! metric arithmetic on its own. Peer assertions are skipped where a tool is missing, so
//! the tests pass on a machine without them.

use std::path::{Path, PathBuf};

mod common;
use common::*;

// The pure arithmetic, compiled into this test as well as into the binary.
#[allow(dead_code)]
#[path = "../src/eval/bd_rate.rs"]
mod bd_rate;
#[allow(dead_code)]
#[path = "../src/eval/metrics.rs"]
mod metrics;

/// A folder holding copies of the files of `from` with extension `ext`.
fn copies(from: &str, ext: &str, to: &Path) -> PathBuf {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(data(from)).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|e| e == ext) {
            std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
    }
    to.to_path_buf()
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(tool).is_file()))
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The `key` values of a codec's points.
fn values(curve: &serde_json::Value, key: &str) -> Vec<f64> {
    curve
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[key].as_f64().unwrap_or(f64::NAN))
        .collect()
}

#[test]
fn photos_against_the_installed_peers() {
    let dir = scratch("photos");
    let photos = copies("photos", "png", &dir.join("photos"));
    let (json, svg) = (dir.join("out.json"), dir.join("out.svg"));
    let model = data("models/tiny-image.wlm");
    let out = ok(&[
        "eval",
        s(&photos),
        "--model",
        s(&model),
        "--json",
        s(&json),
        "--plot",
        s(&svg),
        "-q",
    ]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("walloc") && table.contains("tiny-image"),
        "{table}"
    );

    let v = read_json(&json);
    assert_eq!(v["kind"], "image");
    assert_eq!(v["files"], 2);
    let ours = &v["curves"]["walloc"];
    assert_eq!(ours.as_array().unwrap().len(), 1, "one point per model");
    assert!(
        values(ours, "bpp")
            .iter()
            .all(|&b| b.is_finite() && b > 0.0),
        "{ours}"
    );
    assert!(
        values(ours, "psnr")
            .iter()
            .all(|&q| q.is_finite() && q > 10.0),
        "{ours}"
    );
    assert!(
        values(ours, "ms_ssim").iter().all(|&m| m > 0.0 && m <= 1.0),
        "{ours}"
    );
    assert!(
        values(ours, "encode_mps")
            .iter()
            .all(|&m| m.is_finite() && m > 0.0),
        "{ours}"
    );
    assert!(
        values(ours, "decode_mps")
            .iter()
            .all(|&m| m.is_finite() && m > 0.0),
        "{ours}"
    );

    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(
        text.starts_with("<svg") || text.starts_with("<?xml"),
        "{}",
        &text[..80.min(text.len())]
    );
    assert!(text.contains("walloc"), "the legend names the curves");

    if on_path("cjpeg") && on_path("djpeg") {
        let jpeg = &v["curves"]["jpeg"];
        assert!(jpeg.as_array().is_some_and(|a| a.len() >= 4), "{jpeg}");
        let psnr = values(jpeg, "psnr");
        assert!(
            psnr.windows(2).all(|w| w[0] < w[1]),
            "PSNR rises with quality: {psnr:?}"
        );
        let bd = v["bd_rate"]["jpeg"].as_f64();
        assert!(
            bd.is_some_and(f64::is_finite),
            "no BD-rate against JPEG: walloc at {:?} dB, JPEG from {:?} dB",
            values(ours, "psnr"),
            psnr
        );
    } else {
        assert!(v["skipped"]["jpeg"].is_string(), "a missing peer is noted");
    }
    // The other peers: a curve, or a note saying why not (missing, or a build that
    // cannot read this input).
    for peer in ["webp", "avif", "jxl"] {
        let curve = &v["curves"][peer];
        if curve.is_array() {
            assert!(curve.as_array().unwrap().len() >= 4, "{peer}: {curve}");
            assert!(
                values(curve, "bpp")
                    .iter()
                    .all(|b| b.is_finite() && *b > 0.0)
            );
            assert!(
                values(curve, "psnr")
                    .iter()
                    .all(|q| q.is_finite() && *q > 10.0)
            );
        } else {
            assert!(
                v["skipped"][peer].is_string(),
                "{peer}: neither curve nor note"
            );
        }
    }
}

#[test]
fn music_against_opus() {
    let dir = scratch("music");
    let music = copies("audio", "wav", &dir.join("music"));
    let json = dir.join("out.json");
    let model = data("models/tiny-audio.wlm");
    ok(&[
        "eval",
        s(&music),
        "--model",
        s(&model),
        "--json",
        s(&json),
        "-q",
    ]);
    let v = read_json(&json);
    assert_eq!(v["kind"], "audio");
    let ours = &v["curves"]["walloc"];
    assert!(
        values(ours, "kbps")
            .iter()
            .all(|&k| k.is_finite() && k > 0.0),
        "{ours}"
    );
    assert!(values(ours, "snr").iter().all(|q| q.is_finite()), "{ours}");
    if on_path("opusenc") && on_path("opusdec") {
        let opus = &v["curves"]["opus"];
        assert!(opus.as_array().is_some_and(|a| a.len() >= 4), "{opus}");
        // Decoded at the source rate and aligned: more bits, less noise.
        let snr = values(opus, "snr");
        assert!(
            snr.last() > snr.first() && snr[snr.len() - 1] > 10.0,
            "{snr:?}"
        );
    }
}

#[test]
fn bad_folders_and_existing_outputs() {
    let dir = scratch("bad");
    let model = data("models/tiny-image.wlm");
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("notes.txt"), "not an image").unwrap();
    let err = fails_once(&["eval", s(&empty), "--model", s(&model)]);
    assert!(err.contains("no images"), "{err}");

    let err = fails_once(&["eval", s(&dir.join("missing")), "--model", s(&model)]);
    assert!(err.contains("not a folder"), "{err}");

    let mixed = copies("photos", "png", &dir.join("mixed"));
    copies("audio", "wav", &mixed);
    let err = fails_once(&["eval", s(&mixed), "--model", s(&model)]);
    assert!(err.contains("both"), "{err}");

    // An audio model for a folder of photos.
    let photos = copies("photos", "png", &dir.join("photos"));
    let audio_model = data("models/tiny-audio.wlm");
    let err = fails_once(&["eval", s(&photos), "--model", s(&audio_model), "-q"]);
    assert!(err.contains("model"), "{err}");

    // Existing outputs are refused before any work, and kept.
    let json = dir.join("out.json");
    std::fs::write(&json, "keep").unwrap();
    let err = fails_once(&["eval", s(&photos), "--model", s(&model), "--json", s(&json)]);
    assert!(err.contains("--force"), "{err}");
    assert_eq!(std::fs::read_to_string(&json).unwrap(), "keep");
}

/// A JPEG-like curve: rate doubling every 6 dB.
fn curve(n: usize, scale: f64) -> Vec<(f64, f64)> {
    (0..n)
        .map(|i| {
            let q = 26.0 + 3.0 * i as f64;
            (
                scale * 0.25 * 2f64.powf((q - 26.0) / 6.0) * (1.0 + 0.02 * i as f64),
                q,
            )
        })
        .collect()
}

#[test]
fn bd_rate_of_identical_and_halved_curves() {
    for n in [2, 3, 4, 6] {
        let anchor = curve(n, 1.0);
        let same = bd_rate::bd_rate(&anchor, &anchor).unwrap();
        assert!(same.abs() < 1e-9, "{n} points: {same}");
        let half = bd_rate::bd_rate(&anchor, &curve(n, 0.5)).unwrap();
        assert!((half + 50.0).abs() < 1e-6, "{n} points: {half}");
        let double = bd_rate::bd_rate(&anchor, &curve(n, 2.0)).unwrap();
        assert!((double - 100.0).abs() < 1e-6, "{n} points: {double}");
    }
}

#[test]
fn bd_rate_over_the_overlap_only() {
    let anchor = curve(6, 1.0); // 26 to 41 dB
    // A single point inside the anchor's range: the difference at that quality.
    let (r, q) = anchor[2];
    let one = bd_rate::bd_rate(&anchor, &[(r * 0.8, q)]).unwrap();
    assert!((one + 20.0).abs() < 1.0, "{one}");
    // Disjoint quality ranges have no BD-rate.
    assert_eq!(bd_rate::bd_rate(&anchor, &[(0.1, 20.0), (0.2, 22.0)]), None);
    // Points without a finite positive rate or a finite quality are left out.
    let mut noisy = curve(6, 0.5);
    noisy.push((0.0, 30.0));
    noisy.push((1.0, f64::NAN));
    let half = bd_rate::bd_rate(&anchor, &noisy).unwrap();
    assert!((half + 50.0).abs() < 1e-6, "{half}");
}

#[test]
fn metrics_of_known_pairs() {
    let (w, h) = (200, 180);
    let img: Vec<u8> = (0..w * h * 3)
        .map(|i| ((i * 7919 + (i / (w * 3)) * 31) % 251) as u8)
        .collect();
    assert_eq!(metrics::psnr(&img, &img), metrics::CAP_DB);
    let ms = metrics::ms_ssim_rgb(&img, &img, w, h).unwrap();
    assert!((ms - 1.0).abs() < 1e-9, "{ms}");
    // Every sample off by 5: MSE 25, PSNR 10·log10(255²/25).
    let off: Vec<u8> = img
        .iter()
        .map(|&v| if v < 128 { v + 5 } else { v - 5 })
        .collect();
    let want = 10.0 * (255.0f64 * 255.0 / 25.0).log10();
    assert!((metrics::psnr(&img, &off) - want).abs() < 1e-9);
    let ms = metrics::ms_ssim_rgb(&img, &off, w, h).unwrap();
    assert!(ms > 0.0 && ms < 1.0, "{ms}");
    // Too small for even one 11×11 window.
    assert_eq!(
        metrics::ms_ssim_rgb(&img[..10 * 10 * 3], &img[..10 * 10 * 3], 10, 10),
        None
    );
    // SNR: noise at a tenth of the signal's amplitude is 20 dB.
    let sig = vec![
        (0..1000)
            .map(|i| ((i as f32) * 0.1).sin())
            .collect::<Vec<f32>>(),
    ];
    let noisy = vec![sig[0].iter().map(|v| v * 1.1).collect::<Vec<f32>>()];
    assert!((metrics::snr(&sig, &noisy).unwrap() - 20.0).abs() < 1e-3);
    assert_eq!(metrics::snr(&[vec![0.0; 10]], &[vec![0.1; 10]]), None);
}
