//! The learned codec as one Burn module: packet transform → encoder → companding →
//! (noise | rounding) → entropy model, and back through the decoder and the inverse
//! transform. Signals are `[B, C, H, W]` for images and `[B, C, N]` for audio, in the
//! normalised range the pipelines produce (images in [−½, ½]).

use alloc::vec::Vec;
use burn::module::Module;
use burn::tensor::{Device, Tensor};

use crate::bottleneck::Companding;
use crate::config::{CodecConfig, ModalityKind};
use crate::density::FactorizedDensity;
use crate::nets::{Decoder, Encoder, PostFilter};
use crate::wpt;

#[derive(Module, Debug)]
pub struct Codec {
    pub encoder: Encoder,
    pub density: FactorizedDensity,
    pub decoder: Decoder,
    pub postfilter: Option<PostFilter>,
}

/// What one training forward pass gives the loss.
pub struct TrainOutput<const D: usize> {
    /// The reconstruction, same shape as the input.
    pub reconstruction: Tensor<D>,
    /// Total information content of the noisy latent, in bits (a one-element tensor),
    /// where the caller asked for it.
    pub bits: Option<Tensor<1>>,
}

impl Codec {
    pub fn new(config: &CodecConfig, device: &Device) -> Self {
        let postfilter = (config.modality == ModalityKind::Audio && config.postfilter_taps > 0)
            .then(|| PostFilter::new(config.channels, config.postfilter_taps, device));
        Self {
            encoder: Encoder::new(config, device),
            density: FactorizedDensity::new(config.latent_dim, &config.density_filters, device),
            decoder: Decoder::new(config, device),
            postfilter,
        }
    }

    /// Image `[B, C, H, W]` (H, W multiples of 2^J) → pre-companding latent `[B, L, h, w]`.
    pub fn analyse_image(&self, image: Tensor<4>, levels: usize) -> Tensor<4> {
        self.encoder.forward(wpt::wpt2d(image, levels))
    }

    /// Audio `[B, C, N]` → pre-companding latent `[B, L, 1, n]`.
    pub fn analyse_audio(&self, audio: Tensor<3>, levels: usize) -> Tensor<4> {
        let packets = wpt::wpt1d(audio, levels);
        let [b, c, n] = packets.dims();
        self.encoder.forward(packets.reshape([b, c, 1, n]))
    }

    /// Companded latent (rounded or noisy) → image `[B, C, H, W]`.
    pub fn synthesise_image(&self, y: Tensor<4>, config: &CodecConfig) -> Tensor<4> {
        let z = Companding::new(config.latent_bits).inverse(y);
        wpt::iwpt2d(self.decoder.forward(z), config.levels)
    }

    /// Latent after the inverse companding (the pipelines apply it through a table of its
    /// values) → packets (the decoder's output, before the inverse transform), running the
    /// decoder on tiles of at most `tile`×`tile` latent pixels, each read with its
    /// receptive margin ([`CodecConfig::decoder_radius`]) and cut back to its own pixels,
    /// so the decoder's working memory follows the tile and not the image while the output
    /// stays what the whole latent gives. Decoders that see the whole latent at once decode
    /// it whole.
    pub fn decode_latent_tiled(
        &self,
        z: Tensor<4>,
        config: &CodecConfig,
        tile: usize,
    ) -> Tensor<4> {
        let [_, _, h, w] = z.dims();
        match config.decoder_radius() {
            Some(radius) if h > tile || w > tile => self.decode_tiles(z, radius, tile.max(1)),
            _ => self.decoder.forward(z),
        }
    }

    /// The decoder over a latent in tiles; rows of tiles are joined as they finish so
    /// that at most one row of tile outputs is held beside the result.
    fn decode_tiles(&self, z: Tensor<4>, radius: usize, tile: usize) -> Tensor<4> {
        let [b, c, h, w] = z.dims();
        let mut rows = Vec::with_capacity(h.div_ceil(tile));
        for y0 in (0..h).step_by(tile) {
            let y1 = (y0 + tile).min(h);
            let (top, bottom) = (y0.saturating_sub(radius), (y1 + radius).min(h));
            let mut row = Vec::with_capacity(w.div_ceil(tile));
            for x0 in (0..w).step_by(tile) {
                let x1 = (x0 + tile).min(w);
                let (left, right) = (x0.saturating_sub(radius), (x1 + radius).min(w));
                let out =
                    self.decoder
                        .forward(z.clone().slice([0..b, 0..c, top..bottom, left..right]));
                let [_, pc, _, _] = out.dims();
                row.push(out.slice([0..b, 0..pc, y0 - top..y1 - top, x0 - left..x1 - left]));
            }
            rows.push(Tensor::cat(row, 3));
        }
        Tensor::cat(rows, 2)
    }

    /// Companded latent `[B, L, 1, n]` → audio `[B, C, N]`.
    pub fn synthesise_audio(&self, y: Tensor<4>, config: &CodecConfig) -> Tensor<3> {
        let z = Companding::new(config.latent_bits).inverse(y);
        self.synthesise_audio_latent(z, config)
    }

    /// [`synthesise_audio`](Self::synthesise_audio) from the latent after the inverse
    /// companding.
    pub fn synthesise_audio_latent(&self, z: Tensor<4>, config: &CodecConfig) -> Tensor<3> {
        let packets = self.decoder.forward(z);
        let [b, c, _, n] = packets.dims();
        let audio = wpt::iwpt1d(packets.reshape([b, c, n]), config.levels);
        match &self.postfilter {
            Some(f) => f.forward(audio),
            None => audio,
        }
    }

    /// Training pass for images: `noise` is U(−½, ½) of the latent's shape, supplied by the
    /// caller so that the trainer owns every random number (exact resume). The density is
    /// evaluated only where `rated` (a loss with a rate term).
    pub fn train_image(
        &self,
        image: Tensor<4>,
        noise: Tensor<4>,
        config: &CodecConfig,
        rated: bool,
    ) -> TrainOutput<4> {
        let z = self.analyse_image(image, config.levels);
        let y = Companding::new(config.latent_bits).forward(z) + noise;
        TrainOutput {
            bits: rated.then(|| self.density.bits(y.clone())),
            reconstruction: self.synthesise_image(y, config),
        }
    }

    /// Training pass for audio, as [`Codec::train_image`].
    pub fn train_audio(
        &self,
        audio: Tensor<3>,
        noise: Tensor<4>,
        config: &CodecConfig,
        rated: bool,
    ) -> TrainOutput<3> {
        let z = self.analyse_audio(audio, config.levels);
        let y = Companding::new(config.latent_bits).forward(z) + noise;
        TrainOutput {
            bits: rated.then(|| self.density.bits(y.clone())),
            reconstruction: self.synthesise_audio(y, config),
        }
    }

    /// The latent shape `[L, h, w]` for an input of `dims` (after padding).
    pub fn latent_dims(config: &CodecConfig, height: usize, width: usize) -> [usize; 3] {
        let s = config.stride();
        match config.modality {
            ModalityKind::Image => [config.latent_dim, height / s, width / s],
            ModalityKind::Audio => [config.latent_dim, 1, width / s],
        }
    }
}

/// Rounds companded values to integer symbols (inference).
pub fn quantize(y: Tensor<4>) -> Tensor<4> {
    y.round()
}

/// Rounds toward zero with a dead zone: |y| → ⌊|y| + ½ − deadzone⌋ with y's sign
/// ([`quantize`] when `deadzone` is 0, so files made without one keep their bytes).
pub fn quantize_deadzone(y: Tensor<4>, deadzone: f32) -> Tensor<4> {
    if deadzone <= 0.0 {
        return quantize(y);
    }
    let magnitude = y.clone().abs().add_scalar(0.5 - deadzone).floor();
    magnitude.mul(y.sign())
}
