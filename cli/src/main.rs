//! `walloc`: encode images and audio to `.wl` files and back, inspect them, export
//! their latents for compressed-domain learning, and measure rate–distortion against
//! other codecs (`eval`).

mod eval;
mod models;
mod npy;
// The static musl build's heap; built on every Linux so that its tests run in the glibc
// build too.
#[cfg(target_os = "linux")]
#[cfg_attr(not(target_env = "musl"), allow(dead_code))]
mod span_heap;
mod tuning;

/// Huge pages for the large buffers (cli/src/tuning.rs).
#[global_allocator]
static ALLOCATOR: tuning::Heap = tuning::heap();

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use walloc_core::container::{self, Limits, SignalMeta, WlFile};
use walloc_core::latent_payload;
use walloc_core::model_file::id_hex;

use models::Models;
use walloc_cli::media::{self, Kind};

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

#[derive(Args, Clone)]
struct Common {
    /// A model file (from `walloc-train export`) instead of the built-in models.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Replace existing outputs.
    #[arg(long)]
    force: bool,
    /// No progress or summary, errors only.
    #[arg(short, long)]
    quiet: bool,
    /// Refuse images larger than this many pixels (also applies to headers read).
    #[arg(long, default_value_t = Limits::default().max_pixels)]
    max_pixels: u64,
    /// Refuse audio longer than this many frames (samples per channel), in WAV files and
    /// in headers read.
    #[arg(long, default_value_t = Limits::default().max_frames)]
    max_frames: u64,
    /// Refuse audio with more channels than this.
    #[arg(long, default_value_t = Limits::default().max_channels)]
    max_channels: u32,
    /// Refuse model files (--model) larger than this many bytes.
    #[arg(long, default_value_t = Limits::default().max_model_bytes)]
    max_model_bytes: u64,
}

impl Common {
    fn limits(&self) -> Limits {
        Limits {
            max_pixels: self.max_pixels,
            max_frames: self.max_frames,
            max_channels: self.max_channels,
            max_model_bytes: self.max_model_bytes,
            ..Limits::default()
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Compress images (PNG, JPEG, WebP, BMP, TIFF) or WAV files to .wl.
    Encode {
        /// Files or folders (every image and WAV file directly inside).
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Output file (one input) or folder (several); default: beside each input, .wl.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Built-in quality level, 1 = smallest files (default: the middle one).
        #[arg(long, conflicts_with = "model")]
        quality: Option<u8>,
        #[command(flatten)]
        common: Common,
    },
    /// Decompress .wl files: images to PNG (or the format -o names), audio to WAV.
    Decode {
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Output file (one input) or folder (several); default: beside each input.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Write 32-bit float WAV instead of 16-bit.
        #[arg(long)]
        float: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Describe a .wl file: signal, model, size, rate, header fields.
    Info {
        input: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Write the quantized latent of a .wl file (or of an image or WAV, encoded first) as a
    /// NumPy .npy array (channels × height × width, or channels × frames for audio).
    Latents {
        input: PathBuf,
        #[arg(short, long)]
        output: PathBuf,
        #[arg(long, conflicts_with = "model")]
        quality: Option<u8>,
        #[command(flatten)]
        common: Common,
    },
    /// Rate–distortion of walloc against the codecs installed on PATH (JPEG, WebP, AVIF,
    /// JPEG XL; Opus for audio) on a folder of images or WAV files: a table, and
    /// optionally JSON and an SVG chart.
    Eval(eval::EvalArgs),
}

fn main() -> ExitCode {
    tuning::keep_freed_memory();
    // The commands that work on two cores start their second thread at once, beside the
    // arguments' parsing (`cores::start_helper`); a look at the first argument is enough
    // to know, and a wrong guess costs a sleeping thread.
    if let Some("encode" | "decode") = std::env::args_os()
        .nth(1)
        .as_deref()
        .and_then(|a| a.to_str())
    {
        walloc_core::cores::start_helper();
    }
    let command = Cli::parse().command;
    media::exit_cleanly_on_interrupt();
    let result = run(command);
    // The helper thread asleep before the process ends, which then ends sooner.
    walloc_core::cores::rest();
    match result {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("walloc: {e}");
            ExitCode::FAILURE
        }
    }
}

/// An input file's signal, read and decoded.
enum Signal {
    Image(walloc_core::pipeline::RasterImage),
    Audio(walloc_core::pipeline::PcmAudio),
}

impl Signal {
    fn read(kind: Kind, path: &Path, limits: &Limits) -> Result<Self, String> {
        Ok(match kind {
            Kind::Image => Self::Image(media::read_image(path, limits)?),
            Kind::Audio => Self::Audio(media::read_wav(path, limits)?),
        })
    }
}

/// Runs a command; returns how many inputs failed (each already reported).
fn run(command: Command) -> Result<usize, String> {
    match command {
        Command::Eval(args) => eval::run(args).map(|()| 0),
        Command::Encode {
            inputs,
            output,
            quality,
            common,
        } => {
            let mut models = Models::with_user_file(common.model.as_deref(), &common.limits())?;
            let limits = common.limits();
            let r = batch(&inputs, output.as_deref(), &common, "wl", |input, out| {
                let kind =
                    media::kind_of(input).ok_or("not an image or WAV file (by its extension)")?;
                // The input is read and decoded on another core while the model loads
                // (each takes milliseconds; a whole encode, tens). A model error still
                // comes first, as when the input was read after it.
                let (model, signal) = walloc_core::cores::join(
                    || {
                        let model = models.for_encoding(kind, quality);
                        // The image encoder's weights and symbol search, built while the
                        // input is still being read rather than after.
                        if let (Ok(model), Kind::Image) = (&model, kind) {
                            model.cpu_encoder();
                        }
                        model
                    },
                    || Signal::read(kind, input, &limits),
                );
                let (model, signal) = (model?, signal?);
                let bytes = match &signal {
                    Signal::Image(image) => model.encode_image(image, &limits),
                    Signal::Audio(audio) => model.encode_audio(audio, &limits),
                }
                .map_err(|e| e.to_string())?;
                media::write_atomic(out, &bytes)?;
                Ok(bytes.len() as u64)
            });
            // Not freed: the process ends here, and freeing a model's ~1 500 tables made
            // one by one took 0.04 ms of a 5.4 ms encode (600 shuffled rounds).
            std::mem::forget(models);
            r
        }
        Command::Decode {
            inputs,
            output,
            float,
            common,
        } => {
            let mut models = Models::with_user_file(common.model.as_deref(), &common.limits())?;
            let limits = common.limits();
            batch(&inputs, output.as_deref(), &common, "", |input, out| {
                let bytes = read_wl(input, &limits)?;
                let header = container::read_header(&bytes, &limits).map_err(|e| e.to_string())?;
                let model = models.for_decoding(&header.model_id)?;
                let encoded = match header.signal {
                    SignalMeta::Image(_) => media::image_bytes(
                        model
                            .decode_image(&bytes, &limits)
                            .map_err(|e| e.to_string())?,
                        out,
                    )?,
                    SignalMeta::Audio(_) => media::wav_bytes(
                        &model
                            .decode_audio(&bytes, &limits)
                            .map_err(|e| e.to_string())?,
                        float,
                    )?,
                };
                media::write_atomic(out, &encoded)?;
                Ok(encoded.len() as u64)
            })
        }
        Command::Info {
            input,
            json,
            common,
        } => {
            let models = Models::with_user_file(common.model.as_deref(), &common.limits())?;
            let bytes = read_wl(&input, &common.limits())
                .map_err(|e| format!("{}: {e}", input.display()))?;
            let file = container::read(&bytes, &common.limits())
                .map_err(|e| format!("{}: {e}", input.display()))?;
            let name = models.name_of(&file.header.model_id);
            print_info(&file, bytes.len(), name.as_deref(), json);
            Ok(0)
        }
        Command::Latents {
            input,
            output,
            quality,
            common,
        } => {
            media::refuse_overwrite(&output, common.force)?;
            let mut models = Models::with_user_file(common.model.as_deref(), &common.limits())?;
            let limits = common.limits();
            let at = |e: String| format!("{}: {e}", input.display());
            let bytes = match media::kind_of(&input) {
                Some(kind) => {
                    let model = models.for_encoding(kind, quality).map_err(at)?;
                    match kind {
                        Kind::Image => model.encode_image(
                            &media::read_image(&input, &limits).map_err(at)?,
                            &limits,
                        ),
                        Kind::Audio => model
                            .encode_audio(&media::read_wav(&input, &limits).map_err(at)?, &limits),
                    }
                    .map_err(|e| at(e.to_string()))?
                }
                None => read_wl(&input, &limits).map_err(at)?,
            };
            let header = container::read_header(&bytes, &limits).map_err(|e| at(e.to_string()))?;
            let model = models.for_decoding(&header.model_id).map_err(at)?;
            let (header, symbols) = model
                .latent_symbols(&bytes, &limits)
                .map_err(|e| at(e.to_string()))?;
            let [c, h, w] = header.latent_shape.map(|v| v as usize);
            let shape: Vec<usize> = match header.signal {
                SignalMeta::Image(_) => vec![c, h, w],
                SignalMeta::Audio(_) => vec![c, w],
            };
            media::write_atomic(&output, &npy::int32(&symbols, &shape))?;
            if !common.quiet {
                eprintln!(
                    "{} → {} (int32 {:?})",
                    input.display(),
                    output.display(),
                    shape
                );
            }
            Ok(0)
        }
    }
}

/// The most bytes a `.wl` header can take (audio, 65535 channels) with its CRC.
const MAX_HEADER_BYTES: u64 = 48 + 24 + 4 * 65535 + 4;

/// Reads a `.wl` file, refusing one larger than any header with a payload within
/// `limits` before reading it.
fn read_wl(path: &Path, limits: &Limits) -> Result<Vec<u8>, String> {
    let size = std::fs::metadata(path)
        .map_err(|e| format!("cannot read: {e}"))?
        .len();
    if size == 0 {
        return Err("the file is empty".into());
    }
    let most = limits.max_payload_bytes.saturating_add(MAX_HEADER_BYTES);
    if size > most {
        return Err(format!(
            "the file is {size} bytes, more than a .wl file within the limits can be ({most})"
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    if bytes.is_empty() {
        return Err("the file is empty".into());
    }
    Ok(bytes)
}

/// The first `n` bytes of a file (fewer if it is shorter; none if it cannot be read).
fn read_prefix(path: &Path, n: u64) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    if let Ok(f) = std::fs::File::open(path) {
        let _ = f.take(n).read_to_end(&mut out);
    }
    out
}

/// The files a list of arguments names: files as given, folders by their direct entries
/// of a known kind (`.wl` for decoding), sorted.
fn expand(inputs: &[PathBuf], want_wl: bool) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(input)
                .map_err(|e| format!("{}: {e}", input.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .filter(|p| {
                    if want_wl {
                        p.extension().is_some_and(|e| e.eq_ignore_ascii_case("wl"))
                    } else {
                        media::kind_of(p).is_some()
                    }
                })
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(input.clone());
        }
    }
    Ok(files)
}

/// Where an input's output goes: `-o` as the file (one input) or the folder (several),
/// else beside the input. Decoding (`ext` empty) picks .png or .wav from the header.
fn output_for(
    input: &Path,
    output: Option<&Path>,
    many: bool,
    ext: &str,
) -> Result<PathBuf, String> {
    let ext = if ext.is_empty() {
        let bytes = read_prefix(input, MAX_HEADER_BYTES);
        match container::read_header(&bytes, &Limits::unlimited()).map(|h| h.signal) {
            Ok(SignalMeta::Audio(_)) => "wav",
            _ => "png",
        }
    } else {
        ext
    };
    let name = input.file_name().ok_or("not a file name")?;
    Ok(match output {
        Some(o) if many || o.is_dir() => o.join(Path::new(name).with_extension(ext)),
        Some(o) => o.to_path_buf(),
        None => input.with_extension(ext),
    })
}

/// Runs `work` on every input, reporting failures one line each and carrying on.
fn batch(
    inputs: &[PathBuf],
    output: Option<&Path>,
    common: &Common,
    ext: &str,
    mut work: impl FnMut(&Path, &Path) -> Result<u64, String>,
) -> Result<usize, String> {
    let files = expand(inputs, ext.is_empty())?;
    if files.is_empty() {
        return Err("no input files found".into());
    }
    let many = files.len() > 1;
    if let Some(o) = output {
        if many && !o.is_dir() {
            return Err(format!(
                "{} is not a folder: with several inputs, -o names a folder",
                o.display()
            ));
        }
    }
    let bar = if common.quiet || !many {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(files.len() as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("[{bar:30}] {pos}/{len} {wide_msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let started = Instant::now();
    let (mut failed, mut bytes_in, mut bytes_out) = (0usize, 0u64, 0u64);
    for input in &files {
        bar.set_message(input.display().to_string());
        let result = output_for(input, output, many, ext).and_then(|out| {
            if out == *input {
                return Err("the output would replace the input".into());
            }
            media::refuse_overwrite(&out, common.force)?;
            let written = work(input, &out)?;
            Ok((out, written))
        });
        match result {
            Ok((out, written)) => {
                let size = std::fs::metadata(input).map_or(0, |m| m.len());
                bytes_in += size;
                bytes_out += written;
                if !common.quiet && !many {
                    // One write: stderr is unbuffered, and eprintln! of the pieces made
                    // eight system calls.
                    let line = format!(
                        "{} → {} ({size} → {written} bytes)\n",
                        input.display(),
                        out.display()
                    );
                    eprint!("{line}");
                }
            }
            Err(e) => {
                failed += 1;
                bar.suspend(|| eprintln!("walloc: {}: {e}", input.display()));
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    if !common.quiet && many {
        eprintln!(
            "{} of {} files done ({bytes_in} → {bytes_out} bytes) in {:.1} s{}",
            files.len() - failed,
            files.len(),
            started.elapsed().as_secs_f64(),
            if failed > 0 {
                format!(", {failed} failed")
            } else {
                String::new()
            }
        );
    }
    Ok(failed)
}

fn print_info(file: &WlFile, file_bytes: usize, model_name: Option<&str>, json: bool) {
    let h = &file.header;
    let [c, lh, lw] = h.latent_shape;
    let latent_values = u64::from(c) * u64::from(lh) * u64::from(lw);
    let bits = file_bytes as f64 * 8.0;
    let mut v = serde_json::json!({
        "format_version": h.version,
        "bytes": file_bytes,
        "model_id": id_hex(&h.model_id),
        "model": model_name,
        "latent_shape": [c, lh, lw],
    });
    let text = match &h.signal {
        SignalMeta::Image(m) => {
            let pixels = u64::from(m.width) * u64::from(m.height);
            let samples = pixels * u64::from(m.channels.min(3).max(1));
            let reduction = samples as f64 / latent_values as f64;
            let bpp = bits / pixels as f64;
            v["modality"] = "image".into();
            v["width"] = m.width.into();
            v["height"] = m.height.into();
            v["channels"] = m.channels.into();
            v["bit_depth"] = m.bit_depth.into();
            v["pad_left"] = m.pad_left.into();
            v["pad_top"] = m.pad_top.into();
            v["bpp"] = bpp.into();
            v["dimensionality_reduction"] = reduction.into();
            format!(
                "image {}×{}, {} channel(s), {}-bit\n{file_bytes} bytes, {bpp:.3} bpp\nlatent {c}×{lh}×{lw} ({reduction:.1}× fewer values than samples), padding left {} top {}",
                m.width, m.height, m.channels, m.bit_depth, m.pad_left, m.pad_top
            )
        }
        SignalMeta::Audio(m) => {
            let seconds = m.frames as f64 / f64::from(m.sample_rate);
            let kbps = bits / seconds / 1000.0;
            let reduction = (m.frames * u64::from(m.channels)) as f64 / latent_values as f64;
            v["modality"] = "audio".into();
            v["sample_rate"] = m.sample_rate.into();
            v["frames"] = m.frames.into();
            v["channels"] = m.channels.into();
            v["seconds"] = seconds.into();
            v["sample_format"] = format!("{:?}", m.format).into();
            v["gain"] = m.gain.into();
            v["means"] = m.means.clone().into();
            v["pad_left"] = m.pad_left.into();
            v["kbps"] = kbps.into();
            v["dimensionality_reduction"] = reduction.into();
            format!(
                "audio {seconds:.2} s, {} Hz, {} channel(s), {:?}\n{file_bytes} bytes, {kbps:.1} kbps\nlatent {c}×{lh}×{lw} ({reduction:.1}× fewer values than samples), gain {}",
                m.sample_rate, m.channels, m.format, m.gain
            )
        }
    };
    // What the version 2 payload says: how many channels it leaves out, in how many streams.
    let layout = latent_payload::file_layout(file);
    let layout_text = match &layout {
        Some(l) => {
            v["zero_channels"] = l.zero_channels().into();
            v["streams"] = l.streams.len().into();
            format!(
                ": {} of {c} latent channels all zero (not coded), {} stream(s)",
                l.zero_channels(),
                l.streams.len()
            )
        }
        None => String::new(),
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&v).expect("JSON values serialise")
        );
    } else {
        println!(
            "{text}\nmodel {}{}\n.wl format version {}{}",
            id_hex(&h.model_id),
            model_name.map(|n| format!(" ({n})")).unwrap_or_default(),
            h.version,
            layout_text
        );
    }
}
