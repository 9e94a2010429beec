//! The shipped models (assets/models, compiled into `walloc`): each quality level loads,
//! codes a committed real photo (or music clip) above its PSNR (SNR) floor, and higher
//! levels spend more bits for more quality. A change that breaks or silently replaces a
//! shipped model fails here.

use std::path::Path;

mod common;
use common::*;

fn psnr(a: &Path, b: &Path) -> f64 {
    let (a, b) = (
        image::open(a).unwrap().to_rgb8(),
        image::open(b).unwrap().to_rgb8(),
    );
    let mse = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum::<f64>()
        / a.as_raw().len() as f64;
    10.0 * (255.0f64.powi(2) / mse).log10()
}

/// (quality level, PSNR floor in dB on photos/astronaut-crop.png), floors about ½ dB
/// under what each model measured when it was committed (see assets/models/README.md).
const FLOORS: &[(u8, f64)] = &[(1, 26.0), (2, 29.3), (3, 32.3), (4, 36.3)];

/// (quality level, SNR floor in dB on audio/nebula-0.5s.wav), likewise.
const AUDIO_FLOORS: &[(u8, f64)] = &[(1, 11.7), (2, 25.0)];

fn wav(path: &Path) -> Vec<f64> {
    let mut r = hound::WavReader::open(path).unwrap();
    match r.spec().sample_format {
        hound::SampleFormat::Int => r.samples::<i32>().map(|s| f64::from(s.unwrap())).collect(),
        hound::SampleFormat::Float => r.samples::<f32>().map(|s| f64::from(s.unwrap())).collect(),
    }
}

fn snr(a: &Path, b: &Path) -> f64 {
    let (a, b) = (wav(a), wav(b));
    assert_eq!(a.len(), b.len(), "decoded length differs");
    let signal: f64 = a.iter().map(|x| x * x).sum();
    let noise: f64 = a.iter().zip(&b).map(|(x, y)| (x - y).powi(2)).sum();
    10.0 * (signal / noise.max(1e-20)).log10()
}

#[test]
fn every_audio_level_meets_its_floor_and_levels_are_ordered() {
    let dir = scratch("audio-levels");
    let src = data("audio/nebula-0.5s.wav");
    let mut last: Option<(u64, f64)> = None;
    for &(q, floor) in AUDIO_FLOORS {
        let wl = dir.join(format!("q{q}.wl"));
        let back = dir.join(format!("q{q}.wav"));
        let q_arg = q.to_string();
        ok(&[
            "encode",
            "-q",
            "--quality",
            &q_arg,
            src.to_str().unwrap(),
            "-o",
            wl.to_str().unwrap(),
        ]);
        ok(&[
            "decode",
            "-q",
            wl.to_str().unwrap(),
            "-o",
            back.to_str().unwrap(),
        ]);
        let quality = snr(&src, &back);
        let bytes = std::fs::metadata(&wl).unwrap().len();
        assert!(
            quality > floor,
            "audio quality {q}: {quality:.2} dB, floor {floor}"
        );
        if let Some((b, p)) = last {
            assert!(
                bytes > b && quality > p,
                "audio quality {q} is not above the level below it"
            );
        }
        last = Some((bytes, quality));
    }
}

#[test]
fn every_quality_level_meets_its_floor_and_levels_are_ordered() {
    let dir = scratch("image-levels");
    let src = data("photos/astronaut-crop.png");
    let mut last: Option<(u64, f64)> = None;
    for &(q, floor) in FLOORS {
        let wl = dir.join(format!("q{q}.wl"));
        let back = dir.join(format!("q{q}.png"));
        let q_arg = q.to_string();
        ok(&[
            "encode",
            "-q",
            "--quality",
            &q_arg,
            src.to_str().unwrap(),
            "-o",
            wl.to_str().unwrap(),
        ]);
        ok(&[
            "decode",
            "-q",
            wl.to_str().unwrap(),
            "-o",
            back.to_str().unwrap(),
        ]);
        let quality = psnr(&src, &back);
        let bytes = std::fs::metadata(&wl).unwrap().len();
        assert!(
            quality > floor,
            "quality {q}: {quality:.2} dB, floor {floor}"
        );
        if let Some((b, p)) = last {
            assert!(
                bytes > b && quality > p,
                "quality {q} is not above the level below it"
            );
        }
        last = Some((bytes, quality));
    }
    // The default is a shipped level too.
    let wl = dir.join("default.wl");
    if !FLOORS.is_empty() {
        ok(&[
            "encode",
            "-q",
            src.to_str().unwrap(),
            "-o",
            wl.to_str().unwrap(),
        ]);
        assert!(wl.exists());
    }
}
