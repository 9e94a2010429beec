//! The `tiny` presets train on committed real photos and music: the loss goes down, a
//! resumed run continues exactly, and the exported model file round-trips and codes real
//! signals within quality floors.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use burn::tensor::Device;
use walloc_core::codec::Codec;
use walloc_core::config::CodecConfig;
use walloc_core::container::{Limits, SampleFormat};
use walloc_core::model_file::Model;
use walloc_core::pipeline::{PcmAudio, RasterImage};
use walloc_train::trainer::{RunSettings, Trainer, load_checkpoint};

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data")
        .join(rel)
}

#[path = "../../cli/tests/common/scratch.rs"]
mod scratch;
use scratch::scratch;

fn settings(data_dir: &str, steps: usize, crop: usize, lr: f32) -> RunSettings {
    RunSettings {
        steps,
        batch: 4,
        crop,
        lambda: 0.01,
        lr,
        warmup: 5,
        valid_every: (steps / 6).max(1),
        seed: 7,
        data: data(data_dir),
        valid: None,
        freeze_encoder: false,
    }
}

fn train(preset: &str, s: RunSettings, dir: &Path) -> Trainer {
    train_from(preset, s, dir, None)
}

fn train_from(preset: &str, s: RunSettings, dir: &Path, init: Option<Codec>) -> Trainer {
    let config = CodecConfig::preset(preset).unwrap();
    let mut t = Trainer::open(config, s, dir, Device::flex(), false, init).unwrap();
    t.run(Arc::new(AtomicBool::new(false)), true).unwrap();
    t
}

/// Mean training loss of each logged interval, from metrics.jsonl.
fn interval_losses(dir: &Path) -> Vec<f64> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["train_loss"].as_f64())
        .collect()
}

fn load_png(rel: &str) -> RasterImage {
    let img = image::open(data(rel)).unwrap().to_rgb8();
    RasterImage {
        width: img.width(),
        height: img.height(),
        channels: 3,
        samples: img.into_raw().into(),
    }
}

fn psnr(a: &RasterImage, b: &RasterImage) -> f64 {
    assert_eq!(
        (a.width, a.height, a.channels),
        (b.width, b.height, b.channels)
    );
    let mse = a
        .samples
        .widened()
        .iter()
        .zip(&b.samples.widened())
        .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
        .sum::<f64>()
        / a.samples.len() as f64;
    10.0 * (255.0f64.powi(2) / mse.max(1e-12)).log10()
}

#[test]
fn tiny_image_codec_learns_exports_and_round_trips() {
    let dir = scratch("image");
    let t = train("tiny", settings("images", 300, 64, 1e-2), &dir);
    let losses = interval_losses(&dir);
    assert_eq!(losses.len(), 6, "{losses:?}");
    assert!(
        losses[5] < 0.8 * losses[0],
        "loss did not go down: {losses:?}"
    );

    // Export, write, read back: the same latents and the same bitstream.
    let model = Model::export(t.config.clone(), t.model().clone()).unwrap();
    let bytes = model.to_bytes().unwrap();
    let loaded = Model::from_bytes(&bytes, &Device::flex()).unwrap();
    assert_eq!(loaded.id, model.id);
    assert_eq!(loaded.tables, model.tables);
    let photo = load_png("photos/chelsea-crop.png");
    let limits = Limits::default();
    let wl = model.encode_image(&photo, &limits).unwrap();
    assert_eq!(loaded.encode_image(&photo, &limits).unwrap(), wl);
    assert_eq!(
        loaded.latent_symbols(&wl, &limits).unwrap().1,
        model.latent_symbols(&wl, &limits).unwrap().1
    );
    let back = loaded.decode_image(&wl, &limits).unwrap();
    let quality = psnr(&photo, &back);
    // A 4-channel latent after 300 steps on six crops (about 20.5 dB when written): far
    // from a good codec, far above what a broken pipeline gives (11-13 dB).
    assert!(quality > 18.5, "PSNR {quality:.2} dB");
}

/// Logged intervals end at the pause (step 10), so the interval means agree too.
fn resume_settings() -> RunSettings {
    RunSettings {
        valid_every: 5,
        ..settings("images", 20, 32, 3e-3)
    }
}

#[test]
fn resumed_run_continues_exactly() {
    // Both runs start from the same weights (the backend's seed is global, and other
    // tests initialise models on other threads at the same time).
    let config = CodecConfig::preset("tiny").unwrap();
    let init = Codec::new(&config, &Device::flex().autodiff());
    let straight = scratch("straight");
    train_from("tiny", resume_settings(), &straight, Some(init.clone()));
    let split = scratch("split");
    {
        let mut t = Trainer::open(
            config.clone(),
            resume_settings(),
            &split,
            Device::flex(),
            false,
            Some(init),
        )
        .unwrap();
        t.run_until(10, Arc::new(AtomicBool::new(false)), true)
            .unwrap();
    }
    let mut t = Trainer::open(
        config,
        resume_settings(),
        &split,
        Device::flex(),
        true,
        None,
    )
    .unwrap();
    assert_eq!(t.step(), 10);
    t.run(Arc::new(AtomicBool::new(false)), true).unwrap();
    // Exported model files name parameters canonically: equal bytes mean equal weights.
    let export = |dir: &Path| {
        let (config, codec) = load_checkpoint(dir, &Device::flex()).unwrap();
        Model::export(config, codec).unwrap().to_bytes().unwrap()
    };
    assert!(
        export(&straight) == export(&split),
        "weights after 10 + 10 steps differ from 20 steps"
    );
    assert_eq!(interval_losses(&straight), interval_losses(&split));
}

/// The rate the density predicts for a real photo and the bytes the range coder writes
/// for every symbol (format version 2) agree within 2%; the file `encode_image` writes
/// (version 3, which skips all-zero blocks) is no larger.
#[test]
fn estimated_and_coded_bits_agree_on_a_real_photo() {
    let dir = scratch("rate");
    train("tiny", settings("images", 30, 32, 3e-3), &dir);
    let (config, codec) = load_checkpoint(&dir, &Device::flex()).unwrap();
    let model = Model::export(config, codec).unwrap();
    let photo = load_png("photos/astronaut-crop.png");
    let limits = Limits::default();
    let (symbols, [channels, height, width]) = model.image_symbols(&photo, &limits).unwrap();
    let shape = walloc_core::entropy::PlaneShape {
        channels,
        height,
        width,
        contexts: model.contexts,
    };
    // The range-coded streams, without the zero-channel map, the stream count and the
    // directory in front of them (docs/format.md).
    let coded_bits = |payload: &[u8]| {
        let words: Vec<u32> = payload
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        let map = channels.div_ceil(32);
        let layout = map + 1 + 2 * words[map] as usize;
        (words.len() - layout) as f64 * 32.0
    };
    let v2 = walloc_core::latent_payload::encode_version(&symbols, &model.tables, &shape, None, 2);
    let coded = coded_bits(&v2.unwrap());
    let estimated = model.estimated_bits_image(&photo).unwrap();
    let gap = (coded - estimated).abs() / estimated;
    assert!(
        gap < 0.02,
        "coded {coded} bits, estimated {estimated:.0} ({:.2}%)",
        100.0 * gap
    );
    let wl = model.encode_image(&photo, &limits).unwrap();
    let file = walloc_core::container::read(&wl, &limits).unwrap();
    assert_eq!(file.header.version, 3);
    let v3 = coded_bits(&file.payload);
    assert!(v3 <= coded, "version 3: {v3} bits, version 2: {coded}");
}

#[test]
fn tiny_audio_codec_learns_and_round_trips_music() {
    let dir = scratch("audio");
    // A light rate weight: four latent channels for 32 packets have little to spare.
    let s = RunSettings {
        lambda: 0.001,
        ..settings("audio", 200, 4096, 1e-2)
    };
    let t = train("tiny-audio", s, &dir);
    let losses = interval_losses(&dir);
    assert!(
        losses[5] < 0.8 * losses[0],
        "loss did not go down: {losses:?}"
    );
    let model = Model::export(t.config.clone(), t.model().clone()).unwrap();
    let loaded = Model::from_bytes(&model.to_bytes().unwrap(), &Device::flex()).unwrap();
    let mut reader = hound::WavReader::open(data("audio/nebula-0.5s.wav")).unwrap();
    let spec = reader.spec();
    let samples: Vec<f32> = reader
        .samples::<i16>()
        .map(|s| s.unwrap() as f32 / 32768.0)
        .collect();
    let planes: Vec<Vec<f32>> = (0..2)
        .map(|c| samples.iter().skip(c).step_by(2).copied().collect())
        .collect();
    let audio = PcmAudio {
        sample_rate: spec.sample_rate,
        format: SampleFormat::Int(16),
        planes,
    };
    let limits = Limits::default();
    let wl = loaded.encode_audio(&audio, &limits).unwrap();
    assert_eq!(model.encode_audio(&audio, &limits).unwrap(), wl);
    let back = loaded.decode_audio(&wl, &limits).unwrap();
    assert_eq!(back.sample_rate, 44100);
    assert_eq!(back.planes.len(), 2);
    assert_eq!(back.planes[0].len(), audio.planes[0].len());
    let (mut sig, mut err) = (0.0f64, 0.0f64);
    for (a, b) in audio
        .planes
        .iter()
        .flatten()
        .zip(back.planes.iter().flatten())
    {
        sig += (*a as f64).powi(2);
        err += ((a - b) as f64).powi(2);
    }
    let snr = 10.0 * (sig / err).log10();
    // About 3 dB when written: a 4-channel latent for 32 packets after 200 steps.
    assert!(snr > 2.0, "SNR {snr:.2} dB");
    // Mono through a stereo model: one channel back, same length.
    let mono = PcmAudio {
        planes: vec![audio.planes[0].clone()],
        ..audio.clone()
    };
    let back = loaded
        .decode_audio(&loaded.encode_audio(&mono, &limits).unwrap(), &limits)
        .unwrap();
    assert_eq!(back.planes.len(), 1);
    assert_eq!(back.planes[0].len(), mono.planes[0].len());
}

/// The committed training crops as the trainer loads them.
fn training_images() -> Vec<walloc_train::data::Image> {
    walloc_train::data::load_images(&data("images")).unwrap()
}

#[test]
fn context_tables_code_a_held_out_photo_smaller_and_to_the_same_pixels() {
    // `image-wide` starts as a working transform codec, so its latents are a photo's real
    // statistics without any training.
    let config = CodecConfig::preset("image-wide").unwrap();
    let codec = Codec::new(&config, &Device::flex());
    let plain = Model::export(config.clone(), codec.clone()).unwrap();
    let fitted = walloc_train::contexts::export(&codec, &config, &training_images(), &[]).unwrap();
    assert_eq!(fitted.contexts, walloc_core::entropy::DEFAULT_CONTEXTS);
    // The model file keeps the context tables (version 2) and the same id.
    let loaded = Model::from_bytes(&fitted.to_bytes().unwrap(), &Device::flex()).unwrap();
    assert_eq!((loaded.id, loaded.contexts), (fitted.id, fitted.contexts));
    assert_eq!(loaded.tables, fitted.tables);

    let photo = load_png("photos/astronaut-crop.png");
    let limits = Limits::default();
    let a = plain.encode_image(&photo, &limits).unwrap();
    let b = loaded.encode_image(&photo, &limits).unwrap();
    assert!(
        b.len() * 10 < a.len() * 9,
        "context tables should save over 10%: {} vs {} bytes",
        b.len(),
        a.len()
    );
    // Entropy coding is lossless: the same latent, so the same pixels.
    assert_eq!(
        plain.latent_symbols(&a, &limits).unwrap().1,
        loaded.latent_symbols(&b, &limits).unwrap().1
    );
    assert_eq!(
        plain.decode_image(&a, &limits).unwrap(),
        loaded.decode_image(&b, &limits).unwrap()
    );
}

#[test]
fn a_frozen_encoder_keeps_the_latent_while_the_decoder_learns() {
    let config = CodecConfig::preset("tiny").unwrap();
    let init = Codec::new(&config, &Device::flex().autodiff());
    let before = Model::export(config.clone(), init.clone()).unwrap();
    let dir = scratch("frozen");
    let s = RunSettings {
        freeze_encoder: true,
        lambda: 0.0,
        ..settings("images", 60, 64, 1e-2)
    };
    let t = train_from("tiny", s, &dir, Some(init));
    let losses = interval_losses(&dir);
    assert!(
        losses[5] < 0.9 * losses[0],
        "decoder did not learn: {losses:?}"
    );
    let after = Model::export(t.config.clone(), t.model().clone()).unwrap();
    let photo = load_png("photos/chelsea-crop.png");
    let limits = Limits::default();
    let (wa, wb) = (
        before.encode_image(&photo, &limits).unwrap(),
        after.encode_image(&photo, &limits).unwrap(),
    );
    assert_eq!(
        before.latent_symbols(&wa, &limits).unwrap().1,
        after.latent_symbols(&wb, &limits).unwrap().1,
        "the encoder moved"
    );
    let (pa, pb) = (
        psnr(&photo, &before.decode_image(&wa, &limits).unwrap()),
        psnr(&photo, &after.decode_image(&wb, &limits).unwrap()),
    );
    assert!(
        pb > pa,
        "the trained decoder is no better: {pa:.2} → {pb:.2} dB"
    );
}

/// With λ = 0 the loss is the MSE alone: the density is not evaluated (no rate is
/// reported) and stays exactly as it started, while the networks still learn. With λ > 0
/// the rate is there and counts.
#[test]
fn without_a_rate_term_the_density_is_left_alone() {
    let config = CodecConfig::preset("tiny").unwrap();
    let init = Codec::new(&config, &Device::flex().autodiff());
    let max = config.max_symbol();
    for lambda in [0.0, 0.01] {
        let dir = scratch(&format!("rate-{lambda}"));
        let s = RunSettings {
            lambda,
            ..settings("images", 4, 64, 1e-2)
        };
        let mut t = Trainer::open(
            config.clone(),
            s,
            &dir,
            Device::flex(),
            false,
            Some(init.clone()),
        )
        .unwrap();
        let steps: Vec<_> = (0..4).map(|_| t.train_step()).collect();
        let density_moved = t.model().density.symbol_pmfs(max) != init.density.symbol_pmfs(max);
        if lambda == 0.0 {
            for s in &steps {
                assert_eq!(s.bits_per_sample, None, "a rate without a rate term");
                assert_eq!(s.loss, s.mse, "the loss is not the MSE");
            }
            assert!(!density_moved, "the density changed with λ = 0");
            assert!(steps[3].mse < steps[0].mse, "no learning: {steps:?}");
        } else {
            for s in &steps {
                let bits = s.bits_per_sample.expect("a rate");
                assert!(bits > 0.0 && s.loss > s.mse, "{s:?}");
            }
            assert!(density_moved, "the density did not learn with λ > 0");
        }
    }
}

#[test]
fn a_crop_larger_than_every_training_file_is_a_clear_error() {
    let config = CodecConfig::preset("tiny").unwrap();
    // The committed crops are 96×96.
    let s = settings("images", 10, 128, 1e-3);
    let dir = scratch("big-crop");
    let err = Trainer::open(config, s, &dir, Device::flex(), false, None)
        .err()
        .expect("a 128 crop of 96×96 images must be refused");
    assert!(err.contains("--crop 128"), "{err}");
}
