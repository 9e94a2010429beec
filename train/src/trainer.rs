//! The training loop: batches, loss = MSE + λ·bits per sample, AdamW with warm-up and
//! cosine decay, validation, checkpoints and exact resume.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device, Tensor, TensorData};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use walloc_core::bottleneck::Companding;
use walloc_core::codec::{Codec, TrainOutput, quantize_deadzone};
use walloc_core::config::{CodecConfig, ModalityKind};

use crate::data::{self, Audio, Image};
use crate::rng::Rng;
use crate::validate;

/// Everything a run needs besides the data; stored in the run folder so `--resume`
/// continues with the same settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunSettings {
    pub steps: usize,
    pub batch: usize,
    /// Crop side (images) or crop length in frames (audio).
    pub crop: usize,
    pub lambda: f32,
    pub lr: f32,
    pub warmup: usize,
    pub valid_every: usize,
    pub seed: u64,
    pub data: PathBuf,
    pub valid: Option<PathBuf>,
    /// Train the decoder alone on exactly rounded latents, the encoder (and so the rate)
    /// fixed: see `--freeze-encoder`.
    #[serde(default)]
    pub freeze_encoder: bool,
}

/// What `state.json` holds beside the weights and optimizer files.
#[derive(Serialize, Deserialize)]
struct RunState {
    step: usize,
    rng: u64,
    settings: RunSettings,
    config: serde_json::Value,
}

pub struct Trainer {
    pub config: CodecConfig,
    pub settings: RunSettings,
    pub run_dir: PathBuf,
    device: Device,
    model: Codec,
    optim: ModuleOptimizer,
    step: usize,
    rng: Rng,
    images: Vec<Image>,
    clips: Vec<Audio>,
    valid_images: Vec<Image>,
    valid_clips: Vec<Audio>,
}

/// One step's numbers.
#[derive(Clone, Copy, Debug, Default)]
pub struct StepStats {
    pub loss: f32,
    pub mse: f32,
    /// Bits per pixel (images) or per sample (audio), from the density; none when the loss
    /// has no rate term (λ = 0).
    pub bits_per_sample: Option<f32>,
}

impl Trainer {
    /// A new run, or the continuation of one (`resume`), or a warm start from exported
    /// weights (`init`).
    pub fn open(
        config: CodecConfig,
        settings: RunSettings,
        run_dir: &Path,
        device: Device,
        resume: bool,
        init: Option<Codec>,
    ) -> Result<Self, String> {
        // The model lives on the autodiff flavour of the device; validation and export
        // take `model.valid()`, its plain twin.
        let device = device.autodiff();
        let state_path = run_dir.join("state.json");
        let (config, settings, step, rng, model, optim) = if resume && state_path.exists() {
            let state: RunState = serde_json::from_slice(&read(&state_path)?)
                .map_err(|e| format!("{}: {e}", state_path.display()))?;
            let (config, model) = load_checkpoint(run_dir, &device)?;
            let optim = optimizer()
                .from_bytes(Bytes::from_bytes_vec(read(&run_dir.join("optimizer.bpk"))?))
                .map_err(|e| format!("optimizer checkpoint: {e}"))?;
            let mut settings_now = state.settings;
            // The total may be raised to continue a finished run.
            settings_now.steps = settings_now.steps.max(settings.steps);
            (
                config,
                settings_now,
                state.step,
                Rng::new(state.rng),
                model,
                optim,
            )
        } else {
            std::fs::create_dir_all(run_dir)
                .map_err(|e| format!("cannot create {}: {e}", run_dir.display()))?;
            // Seeded so a run is reproducible from its settings (the seed is global to the
            // backend: two trainers initialising at once in one process may interleave).
            device.seed(settings.seed);
            let model = init.unwrap_or_else(|| Codec::new(&config, &device));
            let rng = Rng::new(settings.seed);
            (config, settings, 0, rng, model, optimizer())
        };
        let mut t = Self {
            config,
            settings,
            run_dir: run_dir.to_path_buf(),
            device,
            model,
            optim,
            step,
            rng,
            images: Vec::new(),
            clips: Vec::new(),
            valid_images: Vec::new(),
            valid_clips: Vec::new(),
        };
        t.load_data()?;
        Ok(t)
    }

    fn load_data(&mut self) -> Result<(), String> {
        let s = &self.settings;
        match self.config.modality {
            ModalityKind::Image => {
                self.images = data::load_images(&s.data)?;
                if let Some(v) = &s.valid {
                    self.valid_images = data::load_images(v)?;
                }
            }
            ModalityKind::Audio => {
                self.clips = data::load_wavs(&s.data, self.config.channels)?;
                if let Some(v) = &s.valid {
                    self.valid_clips = data::load_wavs(v, self.config.channels)?;
                }
            }
        }
        let stride = self.config.stride();
        if s.crop == 0 || s.crop % stride != 0 {
            return Err(format!(
                "--crop {} is not a positive multiple of 2^J = {stride}",
                s.crop
            ));
        }
        // The batch samplers only crop files at least as large as the crop; say so here,
        // before training starts, rather than fail inside a step.
        let fits = match self.config.modality {
            ModalityKind::Image => self
                .images
                .iter()
                .any(|i| i.width >= s.crop && i.height >= s.crop),
            ModalityKind::Audio => self.clips.iter().any(|c| c.frames >= s.crop),
        };
        if !fits {
            return Err(format!(
                "no training file in {} is at least as large as --crop {} ({}); pass a \
                 smaller --crop",
                s.data.display(),
                s.crop,
                match self.config.modality {
                    ModalityKind::Image => "pixels per side",
                    ModalityKind::Audio => "frames",
                }
            ));
        }
        Ok(())
    }

    pub fn step(&self) -> usize {
        self.step
    }

    pub fn model(&self) -> &Codec {
        &self.model
    }

    /// Learning rate at `step`: linear warm-up, then cosine decay to a tenth.
    pub fn learning_rate(&self, step: usize) -> f64 {
        let s = &self.settings;
        let lr = s.lr as f64;
        if step < s.warmup {
            return lr * (step + 1) as f64 / s.warmup as f64;
        }
        let span = (s.steps.saturating_sub(s.warmup)).max(1) as f64;
        let t = ((step - s.warmup) as f64 / span).min(1.0);
        lr * (0.1 + 0.9 * 0.5 * (1.0 + (core::f64::consts::PI * t).cos()))
    }

    /// One optimisation step on a fresh random batch.
    pub fn train_step(&mut self) -> StepStats {
        let s = &self.settings;
        let (b, crop) = (s.batch, s.crop);
        let dev = self.device.clone();
        let model = self.model.clone();
        let cfg = &self.config;
        let [l, h, w] = Codec::latent_dims(cfg, crop, crop);
        let noise = self.rng.noise(b * l * h * w);
        let noise = Tensor::<4>::from_data(TensorData::new(noise, [b, l, h, w]), &dev);
        // With λ = 0 the loss has no rate term, and the density, which nothing then trains,
        // is not evaluated: its tanh layers over every latent value (twice) were half of a
        // step's time on the CPU (docs/performance.md, Training).
        let rated = s.lambda != 0.0;
        let (mse, bits, samples) = match cfg.modality {
            ModalityKind::Image => {
                let x = data::image_batch(&self.images, b, crop, &mut self.rng);
                let x = Tensor::<4>::from_data(TensorData::new(x, [b, 3, crop, crop]), &dev);
                let out = if self.settings.freeze_encoder {
                    let y = frozen_latent(model.analyse_image(x.clone(), cfg.levels), cfg);
                    TrainOutput {
                        bits: rated.then(|| model.density.bits(y.clone())),
                        reconstruction: model.synthesise_image(y, cfg),
                    }
                } else {
                    model.train_image(x.clone(), noise, cfg, rated)
                };
                let mse = (out.reconstruction - x).powi_scalar(2).mean();
                (mse, out.bits, (b * crop * crop) as f32)
            }
            ModalityKind::Audio => {
                let x = data::audio_batch(&self.clips, b, crop, &mut self.rng);
                let c = cfg.channels;
                let x = Tensor::<3>::from_data(TensorData::new(x, [b, c, crop]), &dev);
                let out = if self.settings.freeze_encoder {
                    let y = frozen_latent(model.analyse_audio(x.clone(), cfg.levels), cfg);
                    TrainOutput {
                        bits: rated.then(|| model.density.bits(y.clone())),
                        reconstruction: model.synthesise_audio(y, cfg),
                    }
                } else {
                    model.train_audio(x.clone(), noise, cfg, rated)
                };
                let mse = (out.reconstruction - x).powi_scalar(2).mean();
                (mse, out.bits, (b * c * crop) as f32)
            }
        };
        let rate = bits.map(|bits| bits.div_scalar(samples));
        let loss = match &rate {
            Some(rate) => mse.clone() + rate.clone().mul_scalar(self.settings.lambda),
            None => mse.clone(),
        };
        // Read the numbers from detached copies: the backward pass consumes the graph.
        let (loss_v, mse_v) = (loss.clone().detach(), mse.detach());
        let rate_v = rate.map(|r| r.detach());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let stats = StepStats {
            loss: loss_v.into_scalar::<f32>(),
            mse: mse_v.into_scalar::<f32>(),
            bits_per_sample: rate_v.map(|r| r.into_scalar::<f32>()),
        };
        let lr = self.learning_rate(self.step);
        let model = self.optim.step(lr, model, grads);
        self.model = model;
        self.step += 1;
        stats
    }

    /// Writes model, optimizer and state, each to a temporary file renamed into place, so
    /// an interrupted write leaves the previous checkpoint whole.
    pub fn save_checkpoint(&self) -> Result<(), String> {
        let model = self
            .model
            .clone()
            .into_record()
            .into_bytes()
            .map_err(|e| format!("serialising model: {e}"))?;
        let optim = self
            .optim
            .into_bytes()
            .map_err(|e| format!("serialising optimizer: {e}"))?;
        let state = RunState {
            step: self.step,
            rng: self.rng.state,
            settings: self.settings.clone(),
            config: serde_json::to_value(&self.config).map_err(|e| e.to_string())?,
        };
        let state = serde_json::to_vec_pretty(&state).map_err(|e| e.to_string())?;
        write_atomic(&self.run_dir.join("model.bpk"), &model)?;
        write_atomic(&self.run_dir.join("optimizer.bpk"), &optim)?;
        write_atomic(&self.run_dir.join("state.json"), &state)
    }

    /// Validation on the held-out folder; appends a line to `metrics.jsonl`.
    pub fn validate(&self) -> Result<Option<validate::Report>, String> {
        let model = self.model.valid();
        let report = match self.config.modality {
            ModalityKind::Image if !self.valid_images.is_empty() => Some(validate::images(
                &model,
                &self.config,
                &self.valid_images,
                &self.images,
            )?),
            ModalityKind::Audio if !self.valid_clips.is_empty() => Some(validate::audio(
                &model,
                &self.config,
                &self.valid_clips,
                &self.clips,
            )?),
            _ => None,
        };
        if let Some(r) = &report {
            let line = serde_json::json!({
                "step": self.step,
                "quality_db": r.quality_db,
                "rate": r.rate,
                "rate_unit": r.rate_unit,
                "estimated_rate": r.estimated_rate,
                "lambda": self.settings.lambda,
            });
            append_line(&self.run_dir.join("metrics.jsonl"), &line.to_string())?;
        }
        Ok(report)
    }

    /// Trains to `settings.steps`, validating and checkpointing every `valid_every`
    /// steps; stops early (after a checkpoint) when `stop` is raised.
    pub fn run(&mut self, stop: Arc<AtomicBool>, quiet: bool) -> Result<(), String> {
        self.run_until(self.settings.steps, stop, quiet)
    }

    /// Like [`run`](Self::run) but pauses (with a checkpoint) at step `end`, as an
    /// interrupted run would; the schedule still spans `settings.steps`.
    pub fn run_until(
        &mut self,
        end: usize,
        stop: Arc<AtomicBool>,
        quiet: bool,
    ) -> Result<(), String> {
        let total = self.settings.steps;
        let end = end.min(total);
        let bar = if quiet {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(total as u64)
        };
        bar.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} steps  {msg}  ETA {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_position(self.step as u64);
        let started = Instant::now();
        let first = self.step;
        let mut last_valid = String::new();
        let mut avg: Option<StepStats> = None;
        let (mut interval_loss, mut interval_steps) = (0.0f64, 0usize);
        while self.step < end {
            if stop.load(Ordering::SeqCst) {
                say(&bar, quiet, "interrupted: writing a checkpoint".into());
                break;
            }
            let s = self.train_step();
            interval_loss += s.loss as f64;
            interval_steps += 1;
            let a = avg.get_or_insert(s);
            let k = 0.05;
            a.loss += k * (s.loss - a.loss);
            a.mse += k * (s.mse - a.mse);
            if let (Some(avg), Some(now)) = (&mut a.bits_per_sample, s.bits_per_sample) {
                *avg += k * (now - *avg);
            }
            let psnr = -10.0 * a.mse.max(1e-12).log10();
            let rate = match (a.bits_per_sample, self.config.modality) {
                (Some(bpp), ModalityKind::Image) => format!("  {bpp:.3} bpp"),
                (Some(bps), ModalityKind::Audio) => format!("  {bps:.3} bits/sample"),
                (None, _) => String::new(),
            };
            let per_s = (self.step - first) as f64 * self.settings.batch as f64
                / started.elapsed().as_secs_f64();
            bar.set_message(format!(
                "loss {:.5}  train {psnr:.2} dB{rate}  {per_s:.1} crops/s{last_valid}",
                a.loss
            ));
            bar.set_position(self.step as u64);
            if self.step % self.settings.valid_every == 0 || self.step == total {
                self.save_checkpoint()?;
                let line = serde_json::json!({
                    "step": self.step,
                    "train_loss": interval_loss / interval_steps.max(1) as f64,
                    "lr": self.learning_rate(self.step - 1),
                });
                append_line(&self.run_dir.join("metrics.jsonl"), &line.to_string())?;
                (interval_loss, interval_steps) = (0.0, 0);
                if let Some(r) = self.validate()? {
                    last_valid = format!(
                        "  | valid {:.2} dB {:.3} {}",
                        r.quality_db, r.rate, r.rate_unit
                    );
                }
                // The bar is hidden when stderr is not a terminal (nohup, CI): then each
                // checkpoint gets a plain progress line instead.
                let eta = (total - self.step) as f64 * self.settings.batch as f64 / per_s.max(1e-9);
                say(
                    &bar,
                    quiet,
                    format!(
                        "step {}/{total}: loss {:.5}, train {psnr:.2} dB, {rate}, {per_s:.1} crops/s, ETA {:.0} min{last_valid}",
                        self.step,
                        a.loss,
                        eta / 60.0
                    ),
                );
            }
        }
        self.save_checkpoint()?;
        bar.finish_and_clear();
        let secs = started.elapsed().as_secs_f64();
        let done = self.step - first;
        if !quiet {
            eprintln!(
                "step {}/{}: {done} steps in {secs:.0} s ({:.2} crops/s), last loss {:.5}{last_valid}",
                self.step,
                total,
                (done * self.settings.batch) as f64 / secs.max(1e-9),
                avg.map_or(f32::NAN, |a| a.loss),
            );
        }
        Ok(())
    }
}

/// The latent exactly as the codec stores it (companded and rounded, with the encoder's
/// dead zone), cut off from the encoder: with the encoder frozen the decoder learns to
/// undo real rounding, not noise.
fn frozen_latent(z: Tensor<4>, config: &CodecConfig) -> Tensor<4> {
    let y = Companding::new(config.latent_bits).forward(z.detach());
    quantize_deadzone(y, config.deadzone()).detach()
}

/// A line above the progress bar, or on stderr when the bar is not drawn.
fn say(bar: &ProgressBar, quiet: bool, line: String) {
    if quiet {
        return;
    }
    if bar.is_hidden() {
        eprintln!("{line}");
    } else {
        bar.println(line);
    }
}

/// The settings a run was started with (its `state.json`).
pub fn load_settings(run_dir: &Path) -> Result<RunSettings, String> {
    let state_path = run_dir.join("state.json");
    let state: RunState = serde_json::from_slice(&read(&state_path)?)
        .map_err(|e| format!("{}: {e}", state_path.display()))?;
    Ok(state.settings)
}

/// The configuration and weights of a run's last checkpoint.
pub fn load_checkpoint(run_dir: &Path, device: &Device) -> Result<(CodecConfig, Codec), String> {
    let state_path = run_dir.join("state.json");
    let state: RunState = serde_json::from_slice(&read(&state_path)?)
        .map_err(|e| format!("{}: {e}", state_path.display()))?;
    let config: CodecConfig = serde_json::from_value(state.config)
        .map_err(|e| format!("{}: {e}", state_path.display()))?;
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(read(&run_dir.join("model.bpk"))?))
        .map_err(|e| format!("model checkpoint: {e}"))?;
    let model = Codec::new(&config, device)
        .try_load_record(record)
        .map_err(|e| format!("model checkpoint: {e}"))?;
    Ok((config, model))
}

fn optimizer() -> ModuleOptimizer {
    AdamWConfig::new().with_weight_decay(0.0).init()
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn append_line(path: &Path, line: &str) -> Result<(), String> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| writeln!(f, "{line}"))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
