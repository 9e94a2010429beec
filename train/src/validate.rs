//! Validation on whole held-out files: rounding instead of noise, PSNR (images) or SNR
//! (audio), and the rate from the entropy model.

use burn::tensor::{Device, Tensor, TensorData};
use walloc_core::codec::{Codec, quantize};
use walloc_core::config::CodecConfig;
use walloc_core::signal;

use crate::data::{Audio, Image};

pub struct Report {
    /// Mean PSNR (images, peak 1) or SNR (audio), in dB.
    pub quality_db: f64,
    /// Mean bpp (images) or kbps (audio), from the density's information content.
    pub rate: f64,
    pub rate_unit: &'static str,
    /// Same as `rate`: kept apart so real coded sizes can be reported next to it.
    pub estimated_rate: f64,
}

pub fn images(model: &Codec, config: &CodecConfig, images: &[Image]) -> Result<Report, String> {
    let device = &model_device(model);
    let (mut psnr, mut bpp) = (0.0, 0.0);
    for img in images {
        let (padded, ph, pw, left, top) =
            signal::pad_planes(&img.planes, 3, img.height, img.width, config.stride());
        let x = Tensor::<4>::from_data(TensorData::new(padded, [1, 3, ph, pw]), device);
        let y = quantize(
            walloc_core::bottleneck::Companding::new(config.latent_bits)
                .forward(model.analyse_image(x, config.levels)),
        );
        let bits = model.density.bits(y.clone()).into_scalar::<f32>() as f64;
        let out = model.synthesise_image(y, config).clamp(-0.5, 0.5);
        let out = out
            .into_data()
            .try_into_vec::<f32>()
            .map_err(|e| format!("{e:?}"))?;
        let out = signal::crop_planes(&out, 3, ph, pw, (left, top, img.width, img.height));
        // PSNR on 8-bit values, as a decoder would write them.
        let mse = out
            .iter()
            .zip(&img.planes)
            .map(|(a, b)| {
                let qa = ((a + 0.5) * 255.0).round();
                let qb = ((b + 0.5) * 255.0).round();
                ((qa - qb) as f64).powi(2)
            })
            .sum::<f64>()
            / out.len() as f64;
        psnr += 10.0 * (255.0f64 * 255.0 / mse.max(1e-10)).log10();
        bpp += bits / (img.width * img.height) as f64;
    }
    let n = images.len() as f64;
    Ok(Report {
        quality_db: psnr / n,
        rate: bpp / n,
        rate_unit: "bpp",
        estimated_rate: bpp / n,
    })
}

pub fn audio(model: &Codec, config: &CodecConfig, clips: &[Audio]) -> Result<Report, String> {
    let device = &model_device(model);
    let (mut snr, mut kbps) = (0.0, 0.0);
    for clip in clips {
        let c = clip.channels;
        let (padded, _, pn, left, _) =
            signal::pad_planes(&clip.planes, c, 1, clip.frames, config.stride());
        let x = Tensor::<3>::from_data(TensorData::new(padded, [1, c, pn]), device);
        let y = quantize(
            walloc_core::bottleneck::Companding::new(config.latent_bits)
                .forward(model.analyse_audio(x, config.levels)),
        );
        let bits = model.density.bits(y.clone()).into_scalar::<f32>() as f64;
        let out = model
            .synthesise_audio(y, config)
            .into_data()
            .try_into_vec::<f32>()
            .map_err(|e| format!("{e:?}"))?;
        let out = signal::crop_planes(&out, c, 1, pn, (left, 0, clip.frames, 1));
        let (mut sig, mut err) = (0.0f64, 0.0f64);
        for (a, b) in out.iter().zip(&clip.planes) {
            sig += (*b as f64).powi(2);
            err += ((a - b) as f64).powi(2);
        }
        snr += 10.0 * (sig / err.max(1e-20)).log10();
        let seconds = clip.frames as f64 / clip.sample_rate as f64;
        kbps += bits / seconds / 1000.0;
    }
    let n = clips.len() as f64;
    Ok(Report {
        quality_db: snr / n,
        rate: kbps / n,
        rate_unit: "kbps",
        estimated_rate: kbps / n,
    })
}

fn model_device(model: &Codec) -> Device {
    use burn::module::Module;
    model
        .devices()
        .into_iter()
        .next()
        .unwrap_or_else(Device::flex)
}
