//! `walloc`: encode images and audio to `.wl` files and back.
//!
//! This is the first cut: `encode` and `decode` with an explicit `--model` file. Quality
//! levels with shipped default models, `info`, `eval` and `latents` come with the CLI issue.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use burn::tensor::Device;
use clap::{Parser, Subcommand};
use walloc_core::config::ModalityKind;
use walloc_core::container::{Limits, SampleFormat};
use walloc_core::model_file::Model;
use walloc_core::pipeline::{PcmAudio, RasterImage};

#[derive(Parser)]
#[command(
    name = "walloc",
    version,
    about = "Learned compression for images and audio"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compress an image (PNG, JPEG, WebP, BMP, TIFF) or a WAV file to .wl.
    Encode {
        input: PathBuf,
        /// Output file (default: the input with .wl).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Model file (from `walloc-train export`).
        #[arg(long)]
        model: PathBuf,
        /// Replace an existing output.
        #[arg(long)]
        force: bool,
    },
    /// Decompress a .wl file to PNG (images) or WAV (audio).
    Decode {
        input: PathBuf,
        #[arg(short, long)]
        output: Option<PathBuf>,
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        force: bool,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("walloc: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Encode {
            input,
            output,
            model,
            force,
        } => {
            let model = load_model(&model)?;
            let output = output.unwrap_or_else(|| input.with_extension("wl"));
            refuse_overwrite(&output, force)?;
            let limits = Limits::default();
            let bytes = match model.config.modality {
                ModalityKind::Image => model.encode_image(&read_image(&input)?, &limits),
                ModalityKind::Audio => model.encode_audio(&read_wav(&input)?, &limits),
            }
            .map_err(|e| format!("{}: {e}", input.display()))?;
            write_atomic(&output, &bytes)?;
            eprintln!(
                "{} → {} ({} bytes)",
                input.display(),
                output.display(),
                bytes.len()
            );
            Ok(())
        }
        Command::Decode {
            input,
            output,
            model,
            force,
        } => {
            let model = load_model(&model)?;
            let bytes = std::fs::read(&input).map_err(|e| format!("{}: {e}", input.display()))?;
            let limits = Limits::default();
            let ext = match model.config.modality {
                ModalityKind::Image => "png",
                ModalityKind::Audio => "wav",
            };
            let output = output.unwrap_or_else(|| input.with_extension(ext));
            refuse_overwrite(&output, force)?;
            let err = |e: walloc_core::pipeline::CodecError| format!("{}: {e}", input.display());
            let encoded = match model.config.modality {
                ModalityKind::Image => {
                    png_bytes(&model.decode_image(&bytes, &limits).map_err(err)?)?
                }
                ModalityKind::Audio => {
                    wav_bytes(&model.decode_audio(&bytes, &limits).map_err(err)?)?
                }
            };
            write_atomic(&output, &encoded)?;
            eprintln!("{} → {}", input.display(), output.display());
            Ok(())
        }
    }
}

fn load_model(path: &Path) -> Result<Model, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Model::from_bytes(&bytes, &Device::flex()).map_err(|e| format!("{}: {e}", path.display()))
}

fn refuse_overwrite(path: &Path, force: bool) -> Result<(), String> {
    if path.exists() && !force {
        return Err(format!(
            "{} exists; pass --force to replace it",
            path.display()
        ));
    }
    Ok(())
}

/// Writes beside the target and renames, so a failure leaves no partial file.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("cannot write {}: {e}", path.display())
        })
}

fn read_image(path: &Path) -> Result<RasterImage, String> {
    let img =
        image::open(path).map_err(|e| format!("{}: not a readable image: {e}", path.display()))?;
    let (width, height) = (img.width(), img.height());
    let (channels, bit_depth, samples): (u8, u8, Vec<u16>) = match img {
        image::DynamicImage::ImageLuma8(i) => {
            (1, 8, i.into_raw().into_iter().map(u16::from).collect())
        }
        image::DynamicImage::ImageLumaA8(i) => {
            (2, 8, i.into_raw().into_iter().map(u16::from).collect())
        }
        image::DynamicImage::ImageRgba8(i) => {
            (4, 8, i.into_raw().into_iter().map(u16::from).collect())
        }
        image::DynamicImage::ImageLuma16(i) => (1, 16, i.into_raw()),
        image::DynamicImage::ImageLumaA16(i) => (2, 16, i.into_raw()),
        image::DynamicImage::ImageRgb16(i) => (3, 16, i.into_raw()),
        image::DynamicImage::ImageRgba16(i) => (4, 16, i.into_raw()),
        other => (
            3,
            8,
            other
                .to_rgb8()
                .into_raw()
                .into_iter()
                .map(u16::from)
                .collect(),
        ),
    };
    Ok(RasterImage {
        width,
        height,
        channels,
        bit_depth,
        samples,
    })
}

fn read_wav(path: &Path) -> Result<PcmAudio, String> {
    let err = |e: hound::Error| format!("{}: not a readable WAV file: {e}", path.display());
    let mut reader = hound::WavReader::open(path).map_err(err)?;
    let spec = reader.spec();
    let channels = spec.channels as usize;
    let (format, samples): (SampleFormat, Vec<f32>) = match spec.sample_format {
        hound::SampleFormat::Float => (
            SampleFormat::Float32,
            reader
                .samples::<f32>()
                .collect::<Result<_, _>>()
                .map_err(err)?,
        ),
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            (
                SampleFormat::Int(spec.bits_per_sample as u8),
                reader
                    .samples::<i32>()
                    .map(|s| s.map(|v| v as f32 * scale))
                    .collect::<Result<_, _>>()
                    .map_err(err)?,
            )
        }
    };
    let planes = (0..channels)
        .map(|c| {
            samples
                .iter()
                .skip(c)
                .step_by(channels.max(1))
                .copied()
                .collect()
        })
        .collect();
    Ok(PcmAudio {
        sample_rate: spec.sample_rate,
        format,
        planes,
    })
}

fn png_bytes(img: &RasterImage) -> Result<Vec<u8>, String> {
    use image::ImageEncoder;
    let color = match (img.channels, img.bit_depth) {
        (1, 8) => image::ExtendedColorType::L8,
        (3, 8) => image::ExtendedColorType::Rgb8,
        (1, 16) => image::ExtendedColorType::L16,
        _ => image::ExtendedColorType::Rgb16,
    };
    let raw: Vec<u8> = if img.bit_depth == 8 {
        img.samples.iter().map(|&v| v as u8).collect()
    } else {
        img.samples.iter().flat_map(|v| v.to_ne_bytes()).collect()
    };
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(&raw, img.width, img.height, color)
        .map_err(|e| format!("PNG encoding failed: {e}"))?;
    Ok(out)
}

/// 16-bit PCM WAV at the stored rate and channel count.
fn wav_bytes(audio: &PcmAudio) -> Result<Vec<u8>, String> {
    let spec = hound::WavSpec {
        channels: audio.planes.len() as u16,
        sample_rate: audio.sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut cursor = std::io::Cursor::new(Vec::new());
    let mut w = hound::WavWriter::new(&mut cursor, spec).map_err(|e| e.to_string())?;
    let frames = audio.planes.first().map_or(0, Vec::len);
    for f in 0..frames {
        for p in &audio.planes {
            w.write_sample((p[f] * 32767.0).round().clamp(-32768.0, 32767.0) as i16)
                .map_err(|e| e.to_string())?;
        }
    }
    w.finalize().map_err(|e| e.to_string())?;
    Ok(cursor.into_inner())
}
