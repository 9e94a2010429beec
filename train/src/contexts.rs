//! Fitting the context tables of a model file: the training data goes through the
//! model's encoder, the latent symbols are counted per channel and per context, and export turns the counts (with the learned density as prior) into the
//! integer tables the coder uses.

use walloc_core::codec::Codec;
use walloc_core::config::{CodecConfig, ModalityKind};
use walloc_core::container::{Limits, SampleFormat};
use walloc_core::entropy::{ContextCounts, DEFAULT_CONTEXTS};
use walloc_core::model_file::Model;
use walloc_core::pipeline::{PcmAudio, RasterImage};

use crate::data::{Audio, Image};

/// The training representation (`x/255 − ½`) back to 8-bit samples.
pub fn raster(img: &Image) -> RasterImage {
    let plane = img.width * img.height;
    let mut samples = Vec::with_capacity(3 * plane);
    for i in 0..plane {
        for c in 0..3 {
            samples.push(
                ((img.planes[c * plane + i] + 0.5) * 255.0)
                    .round()
                    .clamp(0.0, 255.0) as u8,
            );
        }
    }
    RasterImage {
        width: img.width as u32,
        height: img.height as u32,
        channels: 3,
        samples: samples.into(),
    }
}

/// A clip as the codec's input.
pub fn pcm(clip: &Audio) -> PcmAudio {
    PcmAudio {
        sample_rate: clip.sample_rate,
        format: SampleFormat::Float32,
        planes: clip
            .planes
            .chunks(clip.frames)
            .map(<[f32]>::to_vec)
            .collect(),
    }
}

/// Exports `codec` with context tables fitted to `images` or `clips` (whichever the
/// modality uses). With no data it falls back to the factorized density's tables.
pub fn export(
    codec: &Codec,
    config: &CodecConfig,
    images: &[Image],
    clips: &[Audio],
) -> Result<Model, String> {
    let plain = Model::export(config.clone(), codec.clone()).map_err(|e| format!("export: {e}"))?;
    let limits = Limits::default();
    let max = config.max_symbol();
    let mut counts = ContextCounts::new(
        config.latent_dim,
        DEFAULT_CONTEXTS,
        -max,
        (2 * max + 1) as usize,
    );
    let mut any = false;
    let mut add = |name: &str, latent: Result<(Vec<i32>, [usize; 3]), _>| {
        let (symbols, [_, h, w]) = latent.map_err(|e| format!("{name}: {e}"))?;
        any = true;
        counts
            .add(&symbols, h, w)
            .map_err(|e| format!("{name}: {e}"))
    };
    match config.modality {
        ModalityKind::Image => {
            for img in images {
                add(&img.name, plain.image_symbols(&raster(img), &limits))?;
            }
        }
        ModalityKind::Audio => {
            for clip in clips {
                add(&clip.name, plain.audio_symbols(&pcm(clip), &limits))?;
            }
        }
    }
    if !any {
        return Ok(plain);
    }
    Model::export_with_counts(config.clone(), codec.clone(), Some(&counts))
        .map_err(|e| format!("export: {e}"))
}
