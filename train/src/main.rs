//! `walloc-train`: turns a folder of images or WAV files into a walloc codec.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use burn::tensor::Device;
use clap::{Args, Parser, Subcommand, ValueEnum};
use walloc_core::config::{CodecConfig, ModalityKind, PRESETS};
use walloc_core::model_file::Model;

use walloc_train::trainer::{self, RunSettings, Trainer};

#[derive(Parser)]
#[command(
    name = "walloc-train",
    version,
    about = "Train a walloc codec on your own images or audio"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train an image codec on a folder of images.
    Image(TrainArgs),
    /// Train an audio codec on a folder of WAV files.
    Audio(TrainArgs),
    /// Write the model file of a run's last checkpoint (what `walloc --model` reads).
    Export {
        /// The run folder (--out of a training run).
        run_dir: PathBuf,
        /// The model file to write.
        #[arg(short, long)]
        output: PathBuf,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
        /// Training files to fit the context tables to (default: the run's --data).
        #[arg(long, conflicts_with = "plain")]
        data: Option<PathBuf>,
        /// Only the learned density's tables, no context modelling (larger files, no data
        /// needed).
        #[arg(long)]
        plain: bool,
    },
    /// Fit a model file's context tables again to a folder of files, its networks as they
    /// are: to adapt a model to your kind of images or audio, or to refit a shipped model
    /// after the coder changed what it codes.
    Refit {
        /// The model file (.wlm) whose tables to fit.
        model: PathBuf,
        /// Files to fit the tables to: images or WAV files, as the model codes.
        #[arg(long)]
        data: PathBuf,
        /// The model file to write.
        #[arg(short, long)]
        output: PathBuf,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Backend {
    /// Pure-Rust CPU backend.
    Flex,
    /// GPU through wgpu (Vulkan, Metal, DX12); needs a build with `--features wgpu`.
    Wgpu,
}

#[derive(Args)]
struct TrainArgs {
    /// Folder of training files.
    #[arg(long)]
    data: PathBuf,
    /// Folder of validation files (whole files, real rounding).
    #[arg(long)]
    valid: Option<PathBuf>,
    /// A named configuration.
    #[arg(long, conflicts_with = "config")]
    preset: Option<String>,
    /// A configuration file (JSON, as written in a run folder).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Run folder: checkpoints, metrics.jsonl.
    #[arg(long)]
    out: PathBuf,
    /// Total optimisation steps.
    #[arg(long, default_value_t = 2000)]
    steps: usize,
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Crop side in pixels (images) or crop length in frames (audio).
    #[arg(long)]
    crop: Option<usize>,
    /// Rate weight: loss = MSE + λ·bits per pixel (or per sample). 0 trains for quality
    /// alone, as the reference does.
    #[arg(long, default_value_t = 0.01)]
    lambda: f32,
    #[arg(long, default_value_t = 1e-3)]
    lr: f32,
    /// Warm-up steps before the cosine decay.
    #[arg(long, default_value_t = 100)]
    warmup: usize,
    /// Validate and checkpoint every N steps.
    #[arg(long, default_value_t = 200)]
    valid_every: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, value_enum, default_value_t = Backend::Flex)]
    backend: Backend,
    /// Continue the run in --out exactly where its last checkpoint left it.
    #[arg(long)]
    resume: bool,
    /// Start from the weights of an exported model file (warm start).
    #[arg(long)]
    init: Option<PathBuf>,
    /// Stop (with a checkpoint) after this many minutes; `--resume` continues. Long
    /// trainings are a series of such runs.
    #[arg(long)]
    time_limit: Option<f64>,
    /// Keep the encoder (and so the latent and its rate) as it starts, and train the
    /// decoder alone on exactly rounded latents: a refinement of a working codec, e.g. an
    /// `encoder_init_gain` start or an `--init` model, that can only gain quality.
    #[arg(long)]
    freeze_encoder: bool,
    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Image(a) => train(ModalityKind::Image, a),
        Command::Audio(a) => train(ModalityKind::Audio, a),
        Command::Export {
            run_dir,
            output,
            force,
            data,
            plain,
        } => export(&run_dir, &output, force, data, plain),
        Command::Refit {
            model,
            data,
            output,
            force,
        } => refit(&model, &data, &output, force),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("walloc-train: {e}");
            ExitCode::FAILURE
        }
    }
}

fn device(backend: Backend) -> Result<Device, String> {
    match backend {
        Backend::Flex => Ok(Device::flex()),
        #[cfg(feature = "wgpu")]
        Backend::Wgpu => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
        #[cfg(not(feature = "wgpu"))]
        Backend::Wgpu => Err("this walloc-train was built without wgpu: rebuild with `cargo build --release -p walloc-train --features wgpu`".into()),
    }
}

fn load_config(modality: ModalityKind, a: &TrainArgs) -> Result<CodecConfig, String> {
    let config = match (&a.preset, &a.config) {
        (Some(name), _) => CodecConfig::preset(name)
            .ok_or_else(|| format!("unknown preset {name:?}; presets: {}", PRESETS.join(", ")))?,
        (None, Some(path)) => {
            let text = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        (None, None) if a.resume => CodecConfig::preset("tiny").expect("tiny preset"),
        (None, None) => return Err("give --preset NAME or --config FILE".into()),
    };
    config.validate()?;
    if config.modality != modality {
        return Err(format!(
            "configuration {:?} is for {:?}, not {:?}",
            config.name, config.modality, modality
        ));
    }
    Ok(config)
}

fn train(modality: ModalityKind, a: TrainArgs) -> Result<(), String> {
    let config = load_config(modality, &a)?;
    let device = device(a.backend)?;
    let crop = a.crop.unwrap_or(match modality {
        ModalityKind::Image => 128,
        ModalityKind::Audio => 32768,
    });
    let settings = RunSettings {
        steps: a.steps,
        batch: a.batch,
        crop,
        lambda: a.lambda,
        lr: a.lr,
        warmup: a.warmup,
        valid_every: a.valid_every.max(1),
        seed: a.seed,
        data: a.data.clone(),
        valid: a.valid.clone(),
        freeze_encoder: a.freeze_encoder,
    };
    let init = match &a.init {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let model = Model::from_bytes(&bytes, &device.clone().autodiff())
                .map_err(|e| format!("{}: {e}", path.display()))?;
            if model.config != config {
                return Err(format!(
                    "{} holds a {:?} model; --init needs the same configuration as --preset/--config",
                    path.display(),
                    model.config.name
                ));
            }
            Some(burn::module::Module::train(model.into_codec()))
        }
        None => None,
    };
    let mut trainer = Trainer::open(config, settings, &a.out, device, a.resume, init)?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst))
            .map_err(|e| format!("cannot install the Ctrl-C handler: {e}"))?;
    }
    if let Some(minutes) = a.time_limit {
        let stop = stop.clone();
        let limit = std::time::Duration::from_secs_f64(minutes.max(0.0) * 60.0);
        std::thread::spawn(move || {
            std::thread::sleep(limit);
            stop.store(true, Ordering::SeqCst);
        });
    }
    if !a.quiet {
        eprintln!(
            "training {} ({}) from step {} to {}: batch {}, crop {}, λ {}",
            trainer.config.name,
            a.out.display(),
            trainer.step(),
            trainer.settings.steps,
            trainer.settings.batch,
            trainer.settings.crop,
            trainer.settings.lambda
        );
    }
    trainer.run(stop, a.quiet)
}

fn export(
    run_dir: &std::path::Path,
    output: &std::path::Path,
    force: bool,
    data: Option<PathBuf>,
    plain: bool,
) -> Result<(), String> {
    refuse_overwrite(output, force)?;
    let (config, codec) = trainer::load_checkpoint(run_dir, &Device::flex())?;
    let model = if plain {
        Model::export(config, codec).map_err(|e| e.to_string())?
    } else {
        let data = match data {
            Some(d) => d,
            None => trainer::load_settings(run_dir)?.data,
        };
        if !data.is_dir() {
            return Err(format!(
                "the training files ({}) are not here: pass --data DIR to fit the context \
                 tables to other files of the same kind, or --plain for none",
                data.display()
            ));
        }
        fit_tables(&codec, &config, &data)?
    };
    write_model(&model, output)
}

fn refit(
    model: &std::path::Path,
    data: &std::path::Path,
    output: &std::path::Path,
    force: bool,
) -> Result<(), String> {
    refuse_overwrite(output, force)?;
    let bytes = std::fs::read(model).map_err(|e| format!("{}: {e}", model.display()))?;
    let model = Model::from_bytes(&bytes, &Device::flex())
        .map_err(|e| format!("{}: {e}", model.display()))?;
    if !data.is_dir() {
        return Err(format!("{} is not a folder", data.display()));
    }
    let refitted = fit_tables(model.codec(), &model.config, data)?;
    write_model(&refitted, output)
}

fn refuse_overwrite(output: &std::path::Path, force: bool) -> Result<(), String> {
    if output.exists() && !force {
        return Err(format!(
            "{} exists; pass --force to replace it",
            output.display()
        ));
    }
    Ok(())
}

/// The model with context tables fitted to the images or WAV files in `data`.
fn fit_tables(
    codec: &walloc_core::codec::Codec,
    config: &CodecConfig,
    data: &std::path::Path,
) -> Result<Model, String> {
    let (images, clips) = match config.modality {
        ModalityKind::Image => (walloc_train::data::load_images(data)?, Vec::new()),
        ModalityKind::Audio => (
            Vec::new(),
            walloc_train::data::load_wavs(data, config.channels)?,
        ),
    };
    walloc_train::contexts::export(codec, config, &images, &clips)
}

fn write_model(model: &Model, output: &std::path::Path) -> Result<(), String> {
    let bytes = model.to_bytes().map_err(|e| e.to_string())?;
    trainer::write_atomic(output, &bytes)?;
    eprintln!(
        "wrote {} ({} bytes, model {})",
        output.display(),
        bytes.len(),
        model.id_hex()
    );
    Ok(())
}
