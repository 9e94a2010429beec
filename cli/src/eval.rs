//! `walloc eval`: rate–distortion of walloc's quality levels (or the model files given)
//! against the peers installed on PATH, on a folder of images or of WAV files.
//!
//! Images are compared as 8-bit RGB: every source is reduced to that first (gray
//! replicated, alpha dropped, 16-bit rounded), so every codec codes the same pixels.
//! Rates are means over files of each file's bits per pixel (kbps for audio), counting
//! the whole file each codec writes (walloc's `.wl` header, JPEG markers, Ogg pages).
//! Qualities are means over files of each file's PSNR (SNR for audio). walloc's speeds
//! are the wall time of walloc-core's encode and decode calls; the peers' are subprocess
//! wall times (see [`peers`]).

mod bd_rate;
mod metrics;
mod peers;
mod plot;

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Instant;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use walloc_core::config::ModalityKind;
use walloc_core::container::Limits;
use walloc_core::model_file::Model;
use walloc_core::pipeline::{PcmAudio, RasterImage};

use crate::media::{self, Kind};
use crate::models::{Models, SHIPPED};
use peers::{IMAGE_PEERS, ImagePeer, OPUS_KBPS, Sources};

#[derive(Args)]
pub struct EvalArgs {
    /// A folder of images (PNG, JPEG, WebP, BMP, TIFF) or of WAV files (not both).
    dir: PathBuf,
    /// Write every number here as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Draw rate against PSNR (SNR for audio), one curve per codec, as SVG.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// Evaluate this model file (repeat for several) instead of the built-in levels.
    #[arg(long = "model", value_name = "FILE")]
    models: Vec<PathBuf>,
    /// Replace existing --json and --plot files.
    #[arg(long)]
    force: bool,
    /// No progress bar or notes; the table still goes to stdout.
    #[arg(short, long)]
    quiet: bool,
}

/// One setting of one codec, averaged over the folder.
pub struct Point {
    /// The level name, model file, or the peer encoder's flags.
    pub setting: String,
    /// Bits per pixel (images) or kbps (audio).
    pub rate: f64,
    /// PSNR (images) or SNR (audio) in dB.
    pub quality: f64,
    pub ms_ssim: Option<f64>,
    /// Megapixels per second (images) or seconds of audio per second.
    pub encode_speed: f64,
    pub decode_speed: f64,
}

pub struct Curve {
    pub codec: String,
    pub points: Vec<Point>,
}

struct Report {
    kind: Kind,
    files: usize,
    curves: Vec<Curve>,
    /// Peers left out, and why.
    skipped: Vec<(String, String)>,
    /// BD-rate of walloc against each peer, in percent.
    bd_rate: Vec<(String, Option<f64>)>,
}

pub fn run(args: EvalArgs) -> Result<(), String> {
    // Refuse before the long part, not after it.
    for out in [&args.json, &args.plot].into_iter().flatten() {
        media::refuse_overwrite(out, args.force)?;
        let parent = out.parent().filter(|p| !p.as_os_str().is_empty());
        if parent.is_some_and(|p| !p.is_dir()) {
            return Err(format!(
                "{}: no such folder",
                parent.unwrap_or(out).display()
            ));
        }
    }
    if args.json.is_some() && args.json == args.plot {
        return Err("--json and --plot name the same file".into());
    }
    let (kind, files) = list(&args.dir)?;
    let walloc = walloc_models(kind, &args.models)?;
    let tmp = TempDir::new()?;
    let mut report = match kind {
        Kind::Image => eval_images(&files, &walloc, &tmp.0, args.quiet)?,
        Kind::Audio => eval_audio(&files, &walloc, &tmp.0, args.quiet)?,
    };
    let rate_quality =
        |c: &Curve| -> Vec<(f64, f64)> { c.points.iter().map(|p| (p.rate, p.quality)).collect() };
    // curves[0] is walloc's; every peer is the anchor of its own comparison.
    let ours = rate_quality(&report.curves[0]);
    report.bd_rate = report.curves[1..]
        .iter()
        .map(|c| (c.codec.clone(), bd_rate::bd_rate(&rate_quality(c), &ours)))
        .collect();
    print!("{}", table(&report));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&json(&report)).expect("JSON values serialise");
        media::write_atomic(path, format!("{text}\n").as_bytes())?;
    }
    if let Some(path) = &args.plot {
        let (x, y) = match kind {
            Kind::Image => ("rate (bits per pixel)", "PSNR (dB, 8-bit RGB)"),
            Kind::Audio => ("rate (kbps)", "SNR (dB)"),
        };
        media::write_atomic(path, plot::svg(&report.curves, x, y)?.as_bytes())?;
    }
    Ok(())
}

/// The files to evaluate: the folder's direct entries of one kind, sorted.
fn list(dir: &Path) -> Result<(Kind, Vec<PathBuf>), String> {
    if !dir.is_dir() {
        return Err(format!("{} is not a folder", dir.display()));
    }
    let mut files: Vec<(Kind, PathBuf)> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter_map(|p| media::kind_of(&p).map(|k| (k, p)))
        .collect();
    files.sort_by(|a, b| a.1.cmp(&b.1));
    let Some(&(kind, _)) = files.first() else {
        return Err(format!(
            "{} holds no images ({}) or WAV files",
            dir.display(),
            media::IMAGE_EXTENSIONS.join(", ")
        ));
    };
    // Rates and qualities of the two kinds share no unit, so one run is one kind.
    if files.iter().any(|(k, _)| *k != kind) {
        return Err(format!(
            "{} holds both images and WAV files; evaluate one kind per folder",
            dir.display()
        ));
    }
    Ok((kind, files.into_iter().map(|(_, p)| p).collect()))
}

/// walloc's points: each built-in level of the folder's kind, or each `--model` file.
fn walloc_models(kind: Kind, files: &[PathBuf]) -> Result<Vec<(String, Rc<Model>)>, String> {
    let want = match kind {
        Kind::Image => ModalityKind::Image,
        Kind::Audio => ModalityKind::Audio,
    };
    if files.is_empty() {
        let mut models = Models::with_user_file(None, &Limits::default())?;
        let levels: Vec<u8> = SHIPPED
            .iter()
            .filter(|s| s.kind == kind)
            .map(|s| s.quality)
            .collect();
        if levels.is_empty() {
            let kind = if kind == Kind::Image {
                "image"
            } else {
                "audio"
            };
            return Err(format!(
                "this walloc has no built-in {kind} model; pass --model FILE (from walloc-train export)"
            ));
        }
        return levels
            .into_iter()
            .map(|q| Ok((format!("q{q}"), models.for_encoding(kind, Some(q))?)))
            .collect();
    }
    files
        .iter()
        .map(|path| {
            let model =
                Models::with_user_file(Some(path), &Limits::default())?.for_encoding(kind, None)?;
            if model.config.modality != want {
                let (has, holds) = match kind {
                    Kind::Image => ("an audio", "images"),
                    Kind::Audio => ("an image", "WAV files"),
                };
                return Err(format!(
                    "{}: {has} model, but the folder holds {holds}",
                    path.display()
                ));
            }
            let name = path.file_stem().unwrap_or(path.as_os_str());
            Ok((name.to_string_lossy().into_owned(), model))
        })
        .collect()
}

/// A folder made for one run and removed with everything in it when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<Self, String> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!("walloc-eval-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&path)
            .map_err(|e| format!("cannot make a temporary folder {}: {e}", path.display()))?;
        Ok(Self(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One file coded at one setting.
struct Sample {
    rate: f64,
    quality: Option<f64>,
    ms_ssim: Option<f64>,
    /// Megapixels or seconds of audio, what speeds are counted in.
    work: f64,
    encode_s: f64,
    decode_s: f64,
}

/// Codes every file at one setting (`one(i)` codes file `i`) and averages.
/// The walloc curve: one point per model, each measured on every file with `one`.
fn walloc_curve(
    walloc: &[(String, Rc<Model>)],
    files: usize,
    bar: &ProgressBar,
    mut one: impl FnMut(&Model, usize) -> Result<Sample, String>,
) -> Result<Curve, String> {
    let mut points = Vec::new();
    for (label, model) in walloc {
        bar.set_message(format!("walloc {label}"));
        let point = measure(label, files, bar, |i| one(model, i)).inspect_err(|_| {
            bar.finish_and_clear();
        })?;
        points.push(point);
    }
    Ok(Curve {
        codec: "walloc".into(),
        points,
    })
}

fn measure(
    setting: &str,
    files: usize,
    bar: &ProgressBar,
    mut one: impl FnMut(usize) -> Result<Sample, String>,
) -> Result<Point, String> {
    let (mut rate, mut quality, mut quality_n, mut ssim, mut ssim_n) = (0.0, 0.0, 0, 0.0, 0);
    let (mut work, mut encode_s, mut decode_s) = (0.0, 0.0, 0.0);
    for i in 0..files {
        let s = one(i)?;
        rate += s.rate;
        if let Some(q) = s.quality {
            quality += q;
            quality_n += 1;
        }
        if let Some(v) = s.ms_ssim {
            ssim += v;
            ssim_n += 1;
        }
        work += s.work;
        encode_s += s.encode_s;
        decode_s += s.decode_s;
        bar.inc(1);
    }
    // Speeds are total work over total time, so large files weigh as much as they cost.
    Ok(Point {
        setting: setting.to_string(),
        rate: rate / files.max(1) as f64,
        quality: if quality_n > 0 {
            quality / quality_n as f64
        } else {
            f64::NAN
        },
        ms_ssim: (ssim_n > 0).then(|| ssim / ssim_n as f64),
        encode_speed: work / encode_s.max(1e-9),
        decode_speed: work / decode_s.max(1e-9),
    })
}

fn progress(steps: usize, quiet: bool) -> ProgressBar {
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(steps as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("[{bar:30}] {pos}/{len} {wide_msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar
}

/// The peers whose tools are all on PATH; the others with the reason, noted on stderr.
fn available<P: Copy>(
    peers: &[P],
    name: impl Fn(P) -> &'static str,
    tools: impl Fn(P) -> Vec<&'static str>,
    quiet: bool,
) -> (Vec<P>, Vec<(String, String)>) {
    let (mut found, mut skipped) = (Vec::new(), Vec::new());
    for &p in peers {
        match tools(p).into_iter().find(|t| !peers::on_path(t)) {
            None => found.push(p),
            Some(missing) => {
                let why = format!("{missing} not found on PATH");
                if !quiet {
                    eprintln!("walloc eval: skipping {}: {why}", name(p));
                }
                skipped.push((name(p).to_string(), why));
            }
        }
    }
    (found, skipped)
}

/// Runs a peer's sweep; a failure drops the peer (noted), not the run, since the peers
/// are the yardstick and walloc is what is measured.
fn peer_curve(
    name: &str,
    steps: usize,
    bar: &ProgressBar,
    report: (&mut Vec<Curve>, &mut Vec<(String, String)>),
    quiet: bool,
    sweep: impl FnOnce() -> Result<Vec<Point>, String>,
) {
    let start = bar.position();
    match sweep() {
        Ok(points) => report.0.push(Curve {
            codec: name.to_string(),
            points,
        }),
        Err(e) => {
            if !quiet {
                bar.suspend(|| eprintln!("walloc eval: skipping {name}: {e}"));
            }
            report.1.push((name.to_string(), e));
        }
    }
    bar.set_position(start + steps as u64);
}

/// A source image as 8-bit RGB.
struct Photo {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
}

fn eval_images(
    files: &[PathBuf],
    walloc: &[(String, Rc<Model>)],
    tmp: &Path,
    quiet: bool,
) -> Result<Report, String> {
    let photos: Vec<Photo> = files
        .iter()
        .map(|f| load_photo(f).map_err(|e| format!("{}: {e}", f.display())))
        .collect::<Result<_, _>>()?;
    let name_of = |i: usize| files[i].display().to_string();
    let (peers, mut skipped) =
        available(&IMAGE_PEERS, ImagePeer::name, |p| p.tools().to_vec(), quiet);
    let per_setting = photos.len();
    let steps =
        per_setting * (walloc.len() + peers.iter().map(|p| p.settings().len()).sum::<usize>());
    let bar = progress(steps, quiet);
    let mut curves = vec![walloc_curve(walloc, photos.len(), &bar, |model, i| {
        walloc_image(model, &photos[i]).map_err(|e| format!("{}: {e}", name_of(i)))
    })?];
    let sources = if peers.is_empty() {
        Vec::new()
    } else {
        write_sources(&photos, tmp)?
    };
    for peer in peers {
        let settings = peer.settings();
        let steps = settings.len() * per_setting;
        peer_curve(
            peer.name(),
            steps,
            &bar,
            (&mut curves, &mut skipped),
            quiet,
            || {
                settings
                    .iter()
                    .map(|flags| {
                        let label = flags.join(" ");
                        bar.set_message(format!("{} {label}", peer.name()));
                        measure(&label, photos.len(), &bar, |i| {
                            peer_image(peer, flags, &sources[i], tmp, &photos[i])
                                .map_err(|e| format!("{}: {e}", name_of(i)))
                        })
                    })
                    .collect()
            },
        );
    }
    bar.finish_and_clear();
    Ok(Report {
        kind: Kind::Image,
        files: photos.len(),
        curves,
        skipped,
        bd_rate: Vec::new(),
    })
}

fn load_photo(path: &Path) -> Result<Photo, String> {
    let img = media::read_image(path, &Limits::default())?;
    Ok(Photo {
        width: img.width,
        height: img.height,
        rgb: to_rgb8(&img),
    })
}

/// Any raster as interleaved 8-bit RGB: gray replicated, alpha dropped, 16-bit rounded.
fn to_rgb8(img: &RasterImage) -> Vec<u8> {
    let channels = usize::from(img.channels.max(1));
    let narrow = |v: u16| -> u8 {
        if img.bit_depth() > 8 {
            ((u32::from(v) + 128) / 257).min(255) as u8
        } else {
            v.min(255) as u8
        }
    };
    img.samples
        .widened()
        .chunks_exact(channels)
        .flat_map(|px| {
            if channels >= 3 {
                [px[0], px[1], px[2]].map(narrow)
            } else {
                [px[0]; 3].map(narrow)
            }
        })
        .collect()
}

/// Scores a decoded image against its source.
fn image_sample(
    src: &Photo,
    bytes: u64,
    decoded: &RasterImage,
    encode_s: f64,
    decode_s: f64,
) -> Result<Sample, String> {
    if (decoded.width, decoded.height) != (src.width, src.height) {
        return Err(format!(
            "decoded to {}×{}, not {}×{}",
            decoded.width, decoded.height, src.width, src.height
        ));
    }
    let rgb = to_rgb8(decoded);
    let pixels = f64::from(src.width) * f64::from(src.height);
    let (w, h) = (src.width as usize, src.height as usize);
    Ok(Sample {
        rate: bytes as f64 * 8.0 / pixels,
        quality: Some(metrics::psnr(&src.rgb, &rgb)),
        ms_ssim: metrics::ms_ssim_rgb(&src.rgb, &rgb, w, h),
        work: pixels / 1e6,
        encode_s,
        decode_s,
    })
}

/// Runs a codec call and times it (wall clock, seconds).
fn timed<T, E: std::fmt::Display>(f: impl FnOnce() -> Result<T, E>) -> Result<(T, f64), String> {
    let start = Instant::now();
    let out = f().map_err(|e| e.to_string())?;
    Ok((out, start.elapsed().as_secs_f64()))
}

fn walloc_image(model: &Model, src: &Photo) -> Result<Sample, String> {
    let raster = RasterImage {
        width: src.width,
        height: src.height,
        channels: 3,
        samples: src.rgb.clone().into(),
    };
    let limits = Limits::default();
    let (bytes, encode_s) = timed(|| model.encode_image(&raster, &limits))?;
    let (decoded, decode_s) = timed(|| model.decode_image(&bytes, &limits))?;
    image_sample(src, bytes.len() as u64, &decoded, encode_s, decode_s)
}

/// Writes each source as PPM (for cjpeg) and PNG (for the others) in `tmp`.
fn write_sources(photos: &[Photo], tmp: &Path) -> Result<Vec<Sources>, String> {
    photos
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let src = Sources {
                ppm: tmp.join(format!("source-{i}.ppm")),
                png: tmp.join(format!("source-{i}.png")),
            };
            let mut ppm = format!("P6\n{} {}\n255\n", p.width, p.height).into_bytes();
            ppm.extend_from_slice(&p.rgb);
            std::fs::write(&src.ppm, ppm)
                .map_err(|e| format!("cannot write {}: {e}", src.ppm.display()))?;
            image::save_buffer(
                &src.png,
                &p.rgb,
                p.width,
                p.height,
                image::ExtendedColorType::Rgb8,
            )
            .map_err(|e| format!("cannot write {}: {e}", src.png.display()))?;
            Ok(src)
        })
        .collect()
}

fn peer_image(
    peer: ImagePeer,
    flags: &[String],
    src: &Sources,
    tmp: &Path,
    photo: &Photo,
) -> Result<Sample, String> {
    let (bytes, decoded, encode_s, decode_s) = peer.code(flags, src, tmp)?;
    let decoded = media::read_image(&decoded, &Limits::default())
        .map_err(|e| format!("{} output: {e}", peer.tools()[1]))?;
    image_sample(photo, bytes, &decoded, encode_s, decode_s)
}

/// A source WAV file.
struct Clip {
    audio: PcmAudio,
    seconds: f64,
}

fn eval_audio(
    files: &[PathBuf],
    walloc: &[(String, Rc<Model>)],
    tmp: &Path,
    quiet: bool,
) -> Result<Report, String> {
    let limits = Limits::default();
    let clips: Vec<Clip> = files
        .iter()
        .map(|f| {
            let audio = media::read_wav(f, &limits).map_err(|e| format!("{}: {e}", f.display()))?;
            let frames = audio.planes.first().map_or(0, Vec::len);
            let seconds = frames as f64 / f64::from(audio.sample_rate.max(1));
            Ok(Clip { audio, seconds })
        })
        .collect::<Result<_, String>>()?;
    let name_of = |i: usize| files[i].display().to_string();
    let (peers, mut skipped) = available(&["opus"], |p| p, |_| vec!["opusenc", "opusdec"], quiet);
    let per_setting = clips.len();
    let steps = per_setting * (walloc.len() + peers.len() * OPUS_KBPS.len());
    let bar = progress(steps, quiet);
    let mut curves = vec![walloc_curve(walloc, clips.len(), &bar, |model, i| {
        walloc_audio(model, &clips[i]).map_err(|e| format!("{}: {e}", name_of(i)))
    })?];
    if !peers.is_empty() {
        let sources = write_wavs(&clips, tmp)?;
        peer_curve(
            "opus",
            OPUS_KBPS.len() * per_setting,
            &bar,
            (&mut curves, &mut skipped),
            quiet,
            || {
                OPUS_KBPS
                    .iter()
                    .map(|&kbps| {
                        let label = format!("--bitrate {kbps}");
                        bar.set_message(format!("opus {label}"));
                        measure(&label, clips.len(), &bar, |i| {
                            opus_audio(kbps, &sources[i], tmp, &clips[i])
                                .map_err(|e| format!("{}: {e}", name_of(i)))
                        })
                    })
                    .collect()
            },
        );
    }
    bar.finish_and_clear();
    Ok(Report {
        kind: Kind::Audio,
        files: clips.len(),
        curves,
        skipped,
        bd_rate: Vec::new(),
    })
}

fn audio_sample(
    src: &Clip,
    bytes: u64,
    decoded: &PcmAudio,
    encode_s: f64,
    decode_s: f64,
) -> Result<Sample, String> {
    if decoded.planes.len() != src.audio.planes.len() {
        return Err(format!(
            "decoded to {} channels, not {}",
            decoded.planes.len(),
            src.audio.planes.len()
        ));
    }
    Ok(Sample {
        rate: bytes as f64 * 8.0 / src.seconds.max(1e-9) / 1000.0,
        quality: metrics::snr(&src.audio.planes, &decoded.planes),
        ms_ssim: None,
        work: src.seconds,
        encode_s,
        decode_s,
    })
}

fn walloc_audio(model: &Model, src: &Clip) -> Result<Sample, String> {
    let limits = Limits::default();
    let (bytes, encode_s) = timed(|| model.encode_audio(&src.audio, &limits))?;
    let (decoded, decode_s) = timed(|| model.decode_audio(&bytes, &limits))?;
    audio_sample(src, bytes.len() as u64, &decoded, encode_s, decode_s)
}

/// Writes each source as a 32-bit float WAV (no requantisation before opusenc).
fn write_wavs(clips: &[Clip], tmp: &Path) -> Result<Vec<PathBuf>, String> {
    clips
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let path = tmp.join(format!("source-{i}.wav"));
            std::fs::write(&path, media::wav_bytes(&c.audio, true)?)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            Ok(path)
        })
        .collect()
}

/// Opus at `kbps`, decoded at the source's rate. opusdec trims the encoder's pre-skip
/// and resamples from 48 kHz, so its output lines up with the source; any difference in
/// length is trimmed (the SNR is over the common frames) and no sub-sample delay is
/// searched for, which could only understate opus's SNR.
fn opus_audio(kbps: u32, wav: &Path, tmp: &Path, src: &Clip) -> Result<Sample, String> {
    let (bytes, decoded, encode_s, decode_s) =
        peers::opus_code(kbps, wav, src.audio.sample_rate, tmp)?;
    let decoded = media::read_wav(&decoded, &Limits::default())
        .map_err(|e| format!("opusdec output: {e}"))?;
    audio_sample(src, bytes, &decoded, encode_s, decode_s)
}

/// Column names and descriptions by kind.
struct Units {
    rate: &'static str,
    quality: &'static str,
    encode: &'static str,
    decode: &'static str,
}

fn units(kind: Kind) -> Units {
    match kind {
        Kind::Image => Units {
            rate: "bpp",
            quality: "psnr",
            encode: "encode_mps",
            decode: "decode_mps",
        },
        Kind::Audio => Units {
            rate: "kbps",
            quality: "snr",
            encode: "encode_x_realtime",
            decode: "decode_x_realtime",
        },
    }
}

/// The human-readable summary.
fn table(r: &Report) -> String {
    use std::fmt::Write;
    let image = r.kind == Kind::Image;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {}; means over files; rates count whole files, headers included{}",
        r.files,
        match (image, r.files) {
            (true, 1) => "image",
            (true, _) => "images",
            (false, 1) => "WAV file",
            (false, _) => "WAV files",
        },
        if image {
            "\nPSNR on 8-bit RGB; MS-SSIM is the mean of R, G and B; speeds in megapixels/s"
        } else {
            "\nspeeds in seconds of audio per second (× real time)"
        }
    );
    let (rate, quality) = if image {
        ("bpp", "PSNR dB")
    } else {
        ("kbps", "SNR dB")
    };
    let _ = write!(
        out,
        "{:<8} {:<22} {rate:>9} {quality:>8}",
        "codec", "setting"
    );
    if image {
        let _ = write!(out, " {:>8}", "MS-SSIM");
    }
    let _ = writeln!(out, " {:>9} {:>9}", "encode", "decode");
    for c in &r.curves {
        for p in &c.points {
            let _ = write!(
                out,
                "{:<8} {:<22} {:>9.4} {:>8.2}",
                c.codec, p.setting, p.rate, p.quality
            );
            if image {
                let ssim = p.ms_ssim.map_or("-".into(), |v| format!("{v:.4}"));
                let _ = write!(out, " {ssim:>8}");
            }
            let _ = writeln!(out, " {:>9.2} {:>9.2}", p.encode_speed, p.decode_speed);
        }
    }
    if !r.bd_rate.is_empty() {
        let _ = writeln!(
            out,
            "BD-rate of walloc on {} (negative: walloc needs fewer bits for the same quality):",
            if image { "PSNR" } else { "SNR" }
        );
        for (peer, v) in &r.bd_rate {
            let v = v.map_or("n/a (the quality ranges do not overlap)".into(), |v| {
                format!("{v:+.1}%")
            });
            let _ = writeln!(out, "  vs {peer:<6} {v}");
        }
    }
    for (peer, why) in &r.skipped {
        let _ = writeln!(out, "skipped {peer}: {why}");
    }
    if r.curves.len() > 1 {
        let _ = writeln!(
            out,
            "peer speeds are subprocess wall times, process start and file I/O included"
        );
    }
    out
}

/// Every number, for scripts.
fn json(r: &Report) -> serde_json::Value {
    let u = units(r.kind);
    let mut curves = serde_json::Map::new();
    for c in &r.curves {
        let points: Vec<serde_json::Value> = c
            .points
            .iter()
            .map(|p| {
                let mut v = serde_json::json!({ "setting": p.setting });
                v[u.rate] = p.rate.into();
                v[u.quality] = p.quality.into();
                if r.kind == Kind::Image {
                    v["ms_ssim"] = p.ms_ssim.into();
                }
                v[u.encode] = p.encode_speed.into();
                v[u.decode] = p.decode_speed.into();
                v
            })
            .collect();
        curves.insert(c.codec.clone(), points.into());
    }
    let bd: serde_json::Map<String, serde_json::Value> = r
        .bd_rate
        .iter()
        .map(|(k, v)| (k.clone(), (*v).into()))
        .collect();
    let skipped: serde_json::Map<String, serde_json::Value> = r
        .skipped
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().into()))
        .collect();
    serde_json::json!({
        "kind": if r.kind == Kind::Image { "image" } else { "audio" },
        "files": r.files,
        "rate_unit": u.rate,
        "quality_metric": if r.kind == Kind::Image { "PSNR in dB on 8-bit RGB" } else { "SNR in dB" },
        "ms_ssim": if r.kind == Kind::Image { "mean of the R, G and B MS-SSIM" } else { "not measured" },
        "speed_unit": if r.kind == Kind::Image { "megapixels per second" } else { "seconds of audio per second" },
        "curves": curves,
        "bd_rate": bd,
        "bd_rate_note": "percent, walloc against each peer at equal quality; negative: walloc needs fewer bits",
        "skipped": skipped,
    })
}
