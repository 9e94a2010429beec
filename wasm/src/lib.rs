//! walloc-wasm: walloc's decoder for the browser, a wasm-bindgen API over walloc-core.
//!
//! ```js
//! import init, { WallocModel, info } from "./pkg/walloc_wasm.js";
//! await init();
//! const header = info(wlBytes);                  // what `walloc info --json` prints
//! const model = WallocModel.fromBytes(wlmBytes);  // a model file (.wlm)
//! model.warmUp();                                // optional, while the visitor is idle
//! const image = model.decodeImage(wlBytes);       // { width, height, rgba, ... }
//! const audio = model.decodeAudio(wlBytes);       // { sample_rate, channels: [Float32Array] }
//! ```
//!
//! Every failure is a JS `Error` whose message is the one the `walloc` CLI prints for the
//! same file (`walloc: FILE: MESSAGE`), never a trap. Should a bug still panic, the module
//! traps; `lastPanic()` then tells what happened, and the instance must be replaced.
//!
//! The work is done by plain Rust functions ([`read_info`], [`decode_image_rgba`], …) that
//! the bindings (`src/bindings.rs`, wasm32 only) wrap, so that native tests check them too.

use burn::tensor::Device;
use walloc_core::config::ModalityKind;
use walloc_core::container::{self, Limits, SignalMeta, WlFile};
use walloc_core::latent_payload;
use walloc_core::model_file::{Model, id_hex};
use walloc_core::pipeline::{PcmAudio, RasterImage, Samples};

/// Ceilings for files decoded in a browser tab. wasm32 addresses 4 GiB at most and
/// decoding holds several full-size float copies of the signal, so these sit well below
/// the CLI's defaults; a larger file is refused with the usual "exceeds the limit" message
/// instead of running out of memory halfway.
pub fn browser_limits() -> Limits {
    Limits {
        // 32 megapixels (8192 × 4096).
        max_pixels: 1 << 25,
        // About 6 minutes of 44.1 kHz audio.
        max_frames: 1 << 24,
        ..Limits::default()
    }
}

/// The CLI refuses an empty file before it reads a header; so does the browser.
fn non_empty(wl: &[u8]) -> Result<(), String> {
    if wl.is_empty() {
        Err("the file is empty".into())
    } else {
        Ok(())
    }
}

/// A value of [`read_info`]'s table.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    Number(f64),
    Text(String),
    Numbers(Vec<f64>),
}

/// The header of a whole, verified `.wl` file (CRC included, as `walloc info` checks it),
/// as the fields of `walloc info --json`, in the same names, less the model's name (the
/// page knows it, this module does not).
pub fn read_info(wl: &[u8], limits: &Limits) -> Result<Vec<(&'static str, Field)>, String> {
    non_empty(wl)?;
    let file = container::read(wl, limits).map_err(|e| e.to_string())?;
    Ok(info_fields(&file, wl.len()))
}

fn info_fields(file: &WlFile, file_bytes: usize) -> Vec<(&'static str, Field)> {
    use Field::*;
    let h = &file.header;
    let [c, lh, lw] = h.latent_shape;
    let latent_values = f64::from(c) * f64::from(lh) * f64::from(lw);
    let bits = file_bytes as f64 * 8.0;
    let mut v = vec![
        ("format_version", Number(h.version.into())),
        ("bytes", Number(file_bytes as f64)),
        ("model_id", Text(id_hex(&h.model_id))),
        (
            "latent_shape",
            Numbers(vec![c.into(), lh.into(), lw.into()]),
        ),
    ];
    if let Some(layout) = latent_payload::file_layout(file) {
        v.push(("zero_channels", Number(layout.zero_channels() as f64)));
        v.push(("streams", Number(layout.streams.len() as f64)));
    }
    match &h.signal {
        SignalMeta::Image(m) => {
            let pixels = f64::from(m.width) * f64::from(m.height);
            let samples = pixels * f64::from(m.channels.clamp(1, 3));
            v.extend([
                ("modality", Text("image".into())),
                ("width", Number(m.width.into())),
                ("height", Number(m.height.into())),
                ("channels", Number(m.channels.into())),
                ("bit_depth", Number(m.bit_depth.into())),
                ("pad_left", Number(m.pad_left.into())),
                ("pad_top", Number(m.pad_top.into())),
                ("bpp", Number(bits / pixels)),
                ("dimensionality_reduction", Number(samples / latent_values)),
            ]);
        }
        SignalMeta::Audio(m) => {
            let seconds = m.frames as f64 / f64::from(m.sample_rate);
            v.extend([
                ("modality", Text("audio".into())),
                ("sample_rate", Number(m.sample_rate.into())),
                ("frames", Number(m.frames as f64)),
                ("channels", Number(m.channels.into())),
                ("seconds", Number(seconds)),
                ("sample_format", Text(format!("{:?}", m.format))),
                ("gain", Number(m.gain.into())),
                (
                    "means",
                    Numbers(m.means.iter().map(|&x| x.into()).collect()),
                ),
                ("pad_left", Number(m.pad_left.into())),
                ("kbps", Number(bits / seconds / 1000.0)),
                (
                    "dimensionality_reduction",
                    Number(m.frames as f64 * f64::from(m.channels) / latent_values),
                ),
            ]);
        }
    }
    v
}

/// Loads a model file (`.wlm`) for decoding on the CPU: its id checked, its bytes kept,
/// tables made and layers read from them as decoding first needs them, no networks built
/// for image models ([`Model::from_owned_bytes`]). A page's first load ran ≈ 240 ms of
/// freshly compiled code building networks that decoding never used.
pub fn load_model(bytes: Vec<u8>) -> Result<Model, String> {
    Model::from_owned_bytes(bytes, &Device::flex(), &Limits::default()).map_err(|e| e.to_string())
}

/// An image decoded for a canvas.
#[derive(Debug, Clone, PartialEq)]
pub struct RgbaImage {
    pub width: u32,
    pub height: u32,
    /// Row-major RGBA, 8 bits per sample, opaque.
    pub rgba: Vec<u8>,
    /// What the decoder gave: 1 (gray) or 3 (RGB) channels at `bit_depth` bits.
    pub channels: u8,
    pub bit_depth: u8,
}

/// Decodes an image `.wl` into 8-bit RGBA: gray is replicated, 16-bit samples are rounded
/// to 8 bits, alpha is opaque (walloc does not code alpha).
pub fn decode_image_rgba(model: &Model, wl: &[u8], limits: &Limits) -> Result<RgbaImage, String> {
    non_empty(wl)?;
    let image = model.decode_image(wl, limits).map_err(|e| e.to_string())?;
    Ok(RgbaImage {
        width: image.width,
        height: image.height,
        rgba: to_rgba(&image),
        channels: image.channels,
        bit_depth: image.bit_depth(),
    })
}

/// Interleaved gray or RGB samples at 8 or 16 bits → RGBA8.
pub fn to_rgba(image: &RasterImage) -> Vec<u8> {
    let ch = usize::from(image.channels.max(1));
    match &image.samples {
        Samples::Eight(s) => rgba_of(s, ch, |v| v),
        Samples::Sixteen(s) => rgba_of(s, ch, |v| ((u32::from(v) * 255 + 32767) / 65535) as u8),
    }
}

/// `ch` interleaved channels (gray repeated, alpha dropped) → RGBA8, each sample narrowed
/// by `to8`.
fn rgba_of<T: Copy>(samples: &[T], ch: usize, to8: impl Fn(T) -> u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(samples.len() / ch * 4);
    for px in samples.chunks_exact(ch) {
        let (r, g, b) = if ch >= 3 {
            (px[0], px[1], px[2])
        } else {
            (px[0], px[0], px[0])
        };
        out.extend_from_slice(&[to8(r), to8(g), to8(b), 255]);
    }
    out
}

/// Decodes an audio `.wl` into one plane per channel, samples in [−1, 1].
pub fn decode_audio_planes(model: &Model, wl: &[u8], limits: &Limits) -> Result<PcmAudio, String> {
    non_empty(wl)?;
    model.decode_audio(wl, limits).map_err(|e| e.to_string())
}

/// The integer latent a `.wl` holds, `[channels, height, width]` flattened (what
/// `walloc latents` writes).
pub fn latent_symbols(model: &Model, wl: &[u8], limits: &Limits) -> Result<Vec<i32>, String> {
    non_empty(wl)?;
    model
        .latent_symbols(wl, limits)
        .map(|(_, s)| s)
        .map_err(|e| e.to_string())
}

/// Decodes a small signal made here, encoded with `model`, and throws the result away: a
/// page runs it while the visitor chooses a file, so that the first file decodes nearly
/// at the speed of later ones. A browser compiles a module's functions with a quick
/// compiler first and with its optimising one only after they have run a while, on other
/// threads; in headless Chromium, a 768×512 photo decoded 2 s after page load took
/// 233–334 ms against ≈ 120 ms for later decodes, and 136–177 ms after this warm-up
/// (≈ 70 ms; web/README.md). The model also makes its tables and weight layouts here.
pub fn warm_up(model: &Model) -> Result<(), String> {
    let limits = browser_limits();
    let error = |e: walloc_core::pipeline::CodecError| e.to_string();
    match model.config.modality {
        ModalityKind::Image => {
            let wl = model
                .encode_image(&warm_up_image(), &limits)
                .map_err(error)?;
            decode_image_rgba(model, &wl, &limits).map(drop)
        }
        ModalityKind::Audio => {
            let wl = model
                .encode_audio(&warm_up_sound(), &limits)
                .map_err(error)?;
            decode_audio_planes(model, &wl, &limits).map(drop)
        }
    }
}

/// Side of [`warm_up_image`]. Warming up with 32- or 64-pixel crops of a photo left first
/// decodes of 140–205 ms in Chromium; a 256-pixel crop cost twice the time for no more.
const WARM_UP_SIDE: usize = 128;

/// A photo-like RGB image: smooth shading under patches of colour at several scales, so
/// that, as in a photo, most of its latent is zero but nonzero values are spread over its
/// channels, and decoding takes the paths a photo takes.
fn warm_up_image() -> RasterImage {
    let n = WARM_UP_SIDE;
    let hash = |a: usize, b: usize, c: usize| {
        let h = (a as u32).wrapping_mul(0x9E37_79B9)
            ^ (b as u32).wrapping_mul(0x85EB_CA6B)
            ^ (c as u32).wrapping_mul(0xC2B2_AE35);
        (h ^ (h >> 15)).wrapping_mul(0x2C1B_3C6D) >> 24
    };
    let mut samples = Vec::with_capacity(n * n * 3);
    for y in 0..n {
        for x in 0..n {
            for c in 0..3 {
                let (fx, fy) = (x as f32, y as f32);
                let shade = 40.0 * (fx / 23.0 + c as f32).sin() + 30.0 * (fy / 31.0).cos();
                // Patches of 32, 16 and 8 pixels, each level a little fainter.
                let patches: f32 = [(32, 0.5), (16, 0.3), (8, 0.15)]
                    .iter()
                    .map(|&(size, weight)| weight * hash(x / size, y / size, c + size) as f32)
                    .sum();
                samples.push((shade + patches).clamp(0.0, 255.0) as u8);
            }
        }
    }
    RasterImage {
        width: n as u32,
        height: n as u32,
        channels: 3,
        samples: Samples::Eight(samples),
    }
}

/// A fifth of a second of stereo: two chords of partials and a click, for [`warm_up`].
fn warm_up_sound() -> PcmAudio {
    let rate = 44_100u32;
    let frames = rate as usize / 5;
    let plane = |base: f32| -> Vec<f32> {
        (0..frames)
            .map(|i| {
                let t = i as f32 / rate as f32;
                let tone: f32 = (1..=4)
                    .map(|k| (core::f32::consts::TAU * base * k as f32 * t).sin() / k as f32)
                    .sum();
                0.3 * tone + if i == frames / 2 { 0.5 } else { 0.0 }
            })
            .collect()
    };
    PcmAudio {
        sample_rate: rate,
        format: walloc_core::container::SampleFormat::Int(16),
        planes: vec![plane(220.0), plane(330.0)],
    }
}

#[cfg(target_arch = "wasm32")]
mod bindings;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgba_replicates_gray_and_rounds_16_bit() {
        let gray16 = RasterImage {
            width: 2,
            height: 1,
            channels: 1,
            samples: vec![65535u16, 257 * 10 + 128].into(),
        };
        assert_eq!(to_rgba(&gray16), [255, 255, 255, 255, 10, 10, 10, 255]);
        let rgb8 = RasterImage {
            width: 1,
            height: 1,
            channels: 3,
            samples: vec![1u8, 2, 3].into(),
        };
        assert_eq!(to_rgba(&rgb8), [1, 2, 3, 255]);
    }

    fn shipped_models() -> Vec<(String, Model)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/models");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "wlm"))
            .collect();
        files.sort();
        assert!(files.len() >= 2, "no shipped models in {}", dir.display());
        files
            .into_iter()
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                (name, load_model(std::fs::read(&p).unwrap()).unwrap())
            })
            .collect()
    }

    #[test]
    fn warm_up_runs_with_every_shipped_model() {
        for (name, model) in shipped_models() {
            warm_up(&model).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    /// The warm-up image must take the paths a photo takes: a latent mostly zero (the
    /// decoder's sparse first layer: at most one value in eight nonzero), with nonzero
    /// values spread over its channels (the entropy decoder's tables). It has 18–79 of 192
    /// channels nonzero from image-q1 to image-q4; a 128-pixel crop of a photo, 41–153.
    #[test]
    fn the_warm_up_image_codes_like_a_photo() {
        for (name, model) in shipped_models() {
            if model.config.modality != ModalityKind::Image {
                continue;
            }
            let (symbols, [c, h, w]) = model
                .image_symbols(&warm_up_image(), &browser_limits())
                .unwrap();
            let nonzero = symbols.iter().filter(|&&s| s != 0).count();
            let busy = symbols
                .chunks_exact(h * w)
                .filter(|ch| ch.iter().any(|&s| s != 0))
                .count();
            assert!(
                nonzero * 8 <= symbols.len() && nonzero * 200 >= symbols.len(),
                "{name}: {nonzero} of {} symbols nonzero",
                symbols.len()
            );
            assert!(
                busy * 12 >= c,
                "{name}: only {busy} of {c} channels nonzero"
            );
        }
    }

    #[test]
    fn messages_are_the_clis() {
        let limits = browser_limits();
        assert_eq!(read_info(&[], &limits).unwrap_err(), "the file is empty");
        assert_eq!(
            read_info(b"hello, world", &limits).unwrap_err(),
            container::read(b"hello, world", &limits)
                .unwrap_err()
                .to_string()
        );
    }
}
