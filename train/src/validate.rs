//! Validation on whole held-out files through the real codec: the model is exported (integer
//! tables), each file is encoded to `.wl` bytes and decoded, and quality and rate are
//! measured on what a user would get. The density's estimate is reported beside the coded
//! rate so a gap between them shows up in the metrics.

use walloc_core::codec::Codec;
use walloc_core::config::CodecConfig;
use walloc_core::container::Limits;

use crate::contexts::{pcm, raster};
use crate::data::{Audio, Image};

pub struct Report {
    /// Mean PSNR (images, 8-bit) or SNR (audio), in dB.
    pub quality_db: f64,
    /// Mean coded bpp (images) or kbps (audio): `.wl` payload bytes.
    pub rate: f64,
    pub rate_unit: &'static str,
    /// Mean rate the float density predicts (images only).
    pub estimated_rate: Option<f64>,
}

/// Validates `model` exported with context tables fitted to `train` (the training images).
pub fn images(
    model: &Codec,
    config: &CodecConfig,
    images: &[Image],
    train: &[Image],
) -> Result<Report, String> {
    let model = crate::contexts::export(model, config, train, &[])?;
    let limits = Limits::default();
    let (mut psnr, mut bpp, mut estimated) = (0.0, 0.0, 0.0);
    for img in images {
        let source = raster(img);
        let wl = model
            .encode_image(&source, &limits)
            .map_err(|e| format!("{}: {e}", img.name))?;
        let payload = walloc_core::container::read(&wl, &limits)
            .map_err(|e| format!("{}: {e}", img.name))?
            .payload
            .len();
        let back = model
            .decode_image(&wl, &limits)
            .map_err(|e| format!("{}: {e}", img.name))?;
        let mse = source
            .samples
            .widened()
            .iter()
            .zip(&back.samples.widened())
            .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
            .sum::<f64>()
            / source.samples.len() as f64;
        psnr += 10.0 * (255.0f64 * 255.0 / mse.max(1e-10)).log10();
        let pixels = (img.width * img.height) as f64;
        bpp += payload as f64 * 8.0 / pixels;
        estimated += model
            .estimated_bits_image(&source)
            .map_err(|e| format!("{}: {e}", img.name))?
            / pixels;
    }
    let n = images.len() as f64;
    Ok(Report {
        quality_db: psnr / n,
        rate: bpp / n,
        rate_unit: "bpp",
        estimated_rate: Some(estimated / n),
    })
}

/// Validates `model` exported with context tables fitted to `train` (the training clips).
pub fn audio(
    model: &Codec,
    config: &CodecConfig,
    clips: &[Audio],
    train: &[Audio],
) -> Result<Report, String> {
    let model = crate::contexts::export(model, config, &[], train)?;
    let limits = Limits::default();
    let (mut snr, mut kbps) = (0.0, 0.0);
    for clip in clips {
        let audio = pcm(clip);
        let wl = model
            .encode_audio(&audio, &limits)
            .map_err(|e| format!("{}: {e}", clip.name))?;
        let payload = walloc_core::container::read(&wl, &limits)
            .map_err(|e| format!("{}: {e}", clip.name))?
            .payload
            .len();
        let back = model
            .decode_audio(&wl, &limits)
            .map_err(|e| format!("{}: {e}", clip.name))?;
        let (mut sig, mut err) = (0.0f64, 0.0f64);
        for (a, b) in audio
            .planes
            .iter()
            .flatten()
            .zip(back.planes.iter().flatten())
        {
            sig += f64::from(*a).powi(2);
            err += f64::from(a - b).powi(2);
        }
        snr += 10.0 * (sig / err.max(1e-20)).log10();
        let seconds = clip.frames as f64 / f64::from(clip.sample_rate);
        kbps += payload as f64 * 8.0 / seconds / 1000.0;
    }
    let n = clips.len() as f64;
    Ok(Report {
        quality_db: snr / n,
        rate: kbps / n,
        rate_unit: "kbps",
        estimated_rate: None,
    })
}
