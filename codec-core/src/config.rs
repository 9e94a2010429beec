//! Codec configurations and the named presets.

use alloc::string::String;
use alloc::vec::Vec;
use burn::config::Config;

/// What a codec compresses.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum ModalityKind {
    /// RGB images (gray and RGBA inputs are mapped to RGB by the pipeline).
    Image,
    /// Audio, coded in groups of `channels` (2 for stereo models).
    Audio,
}

/// Everything needed to build a codec's networks; stored as JSON in model files.
#[derive(Config, Debug, PartialEq)]
pub struct CodecConfig {
    /// Preset or user name, for messages and model cards.
    pub name: String,
    pub modality: ModalityKind,
    /// Signal channels the networks see: 3 for RGB, 2 for stereo.
    pub channels: usize,
    /// Wavelet packet levels J.
    pub levels: usize,
    /// Latent channels after the 1×1 encoder.
    pub latent_dim: usize,
    /// Companding bits b: symbols lie in −(2^(b−1)−1) ..= 2^(b−1)−1.
    #[config(default = 8)]
    pub latent_bits: u32,
    /// Hidden layers (1×1 conv + SiLU, latent resolution) before the encoder's projection;
    /// 0 is the reference's linear encoder.
    #[config(default = 0)]
    pub encoder_hidden_layers: usize,
    #[config(default = 0)]
    pub encoder_hidden_width: usize,
    /// Decoder width (channels of its hidden layers).
    pub decoder_width: usize,
    /// Residual blocks in the decoder.
    pub decoder_blocks: usize,
    /// A linear 1×1 path from the latent straight to the packets, added to the decoder's
    /// output: the network then only learns what a linear synthesis misses, which trains
    /// much faster on few CPU cores.
    #[config(default = false)]
    pub decoder_skip: bool,
    /// When positive, with a full-rank latent and the linear skip: the encoder starts as
    /// this gain times an orthonormal colour transform of each wavelet packet and the skip
    /// as its inverse, so training starts from a working transform codec (packets
    /// quantised with step 1/gain) instead of from noise. The gain sets the starting
    /// operating point; λ should match it (see docs/training.md).
    #[config(default = 0.0)]
    pub encoder_init_gain: f32,
    /// GroupNorm before each activation, as the reference. Its statistics span the whole
    /// image, so a decoder with it cannot decode in tiles; the shipped presets leave it off.
    #[config(default = false)]
    pub group_norm: bool,
    /// One global self-attention block in the middle of the decoder (the reference's).
    #[config(default = false)]
    pub attention: bool,
    /// Dilations of the residual units of each audio decoder block.
    #[config(default = "Vec::new()")]
    pub audio_dilations: Vec<usize>,
    /// Taps of the audio time-domain post-filter (0 = none; the reference uses 129).
    #[config(default = 0)]
    pub postfilter_taps: usize,
    /// Encoder only (decoders ignore it): latents are rounded toward zero by this much
    /// more than rounding to nearest, i.e. |y| rounds up only past k + ½ + deadzone. A
    /// small dead zone (0.1–0.3) drops many symbols to zero for little distortion, as
    /// rate–distortion optimising encoders do. None (or 0) rounds to nearest. An option so
    /// configurations written before it existed still load.
    pub deadzone: Option<f32>,
    /// Hidden widths of the factorized density's per-channel MLP (Ballé et al. 2018).
    #[config(default = "alloc::vec![3, 3, 3]")]
    pub density_filters: Vec<usize>,
}

impl CodecConfig {
    /// How far, in latent pixels (samples for audio), one decoder output reaches into its
    /// input: a latent decoded in tiles, each with this margin of neighbours, gives the
    /// same output as the whole latent at once. None when some layer sees the whole latent
    /// (attention, group norm), which cannot be tiled.
    pub fn decoder_radius(&self) -> Option<usize> {
        if self.attention || self.group_norm {
            return None;
        }
        Some(match self.modality {
            // conv_in, two 3×3 convs per block, conv_out.
            ModalityKind::Image => 1 + 2 * self.decoder_blocks + 1,
            // 1×7 conv_in, a dilated 1×7 conv per residual unit, 1×3 conv_out.
            ModalityKind::Audio => {
                3 + self.decoder_blocks * self.audio_dilations.iter().map(|d| 3 * d).sum::<usize>()
                    + 1
            }
        })
    }

    /// Channels of the packet transform output: channels · 4^J (2D) or · 2^J (1D).
    pub fn packet_channels(&self) -> usize {
        match self.modality {
            ModalityKind::Image => self.channels << (2 * self.levels),
            ModalityKind::Audio => self.channels << self.levels,
        }
    }

    /// The encoder's dead zone (see the field), 0 when unset.
    pub fn deadzone(&self) -> f32 {
        self.deadzone.unwrap_or(0.0)
    }

    /// Largest symbol magnitude, 2^(b−1) − 1.
    pub fn max_symbol(&self) -> i32 {
        (1i32 << (self.latent_bits - 1)) - 1
    }

    /// Input samples per latent position along each transformed axis: 2^J.
    pub fn stride(&self) -> usize {
        1 << self.levels
    }

    /// Checks what a model file could get wrong before any network is built from it.
    pub fn validate(&self) -> Result<(), String> {
        let fail = |m: &str| Err(alloc::format!("invalid codec configuration: {m}"));
        if !(1..=8).contains(&self.channels) {
            return fail("channels must be 1..=8");
        }
        let max_levels = match self.modality {
            ModalityKind::Image => 5,
            ModalityKind::Audio => 10,
        };
        if !(1..=max_levels).contains(&self.levels) {
            return fail("levels out of range");
        }
        if !(1..=1024).contains(&self.latent_dim) {
            return fail("latent_dim must be 1..=1024");
        }
        if !(2..=12).contains(&self.latent_bits) {
            return fail("latent_bits must be 2..=12");
        }
        if self.decoder_width == 0 || self.decoder_width > 4096 || self.decoder_blocks > 64 {
            return fail("decoder width must be 1..=4096 and blocks at most 64");
        }
        if self.encoder_hidden_layers > 0 && self.encoder_hidden_width == 0 {
            return fail("encoder_hidden_width must be set with hidden layers");
        }
        if self.group_norm && self.decoder_width % 32 != 0 {
            return fail("group_norm needs a decoder width divisible by 32");
        }
        if self.postfilter_taps > 1025
            || (self.postfilter_taps > 0 && self.postfilter_taps % 2 == 0)
        {
            return fail("postfilter_taps must be odd and at most 1025");
        }
        if !(0.0..0.5).contains(&self.deadzone()) {
            return fail("deadzone must be in 0 ..< 0.5");
        }
        if self.density_filters.len() > 8 || self.density_filters.iter().any(|&f| f == 0 || f > 64)
        {
            return fail("density_filters must be up to 8 widths of 1..=64");
        }
        Ok(())
    }

    /// A named preset (see [`PRESETS`]).
    pub fn preset(name: &str) -> Option<Self> {
        let image = |latent, width, blocks| {
            CodecConfig::new(
                name.into(),
                ModalityKind::Image,
                3,
                3,
                latent,
                width,
                blocks,
            )
        };
        let audio = |latent, width, blocks| {
            CodecConfig::new(
                name.into(),
                ModalityKind::Audio,
                2,
                8,
                latent,
                width,
                blocks,
            )
            .with_audio_dilations(alloc::vec![1, 3, 9])
        };
        Some(match name {
            // The paper's configurations (Jacobellis & Yadwadkar 2025).
            "rgb-16x" => image(12, 768, 2).with_group_norm(true).with_attention(true),
            "rgb-4x" => image(48, 768, 2).with_group_norm(true).with_attention(true),
            "stereo-20x" => audio(27, 256, 2).with_postfilter_taps(129),
            "stereo-5x" => audio(108, 256, 2).with_postfilter_taps(129),
            // Smoke tests: a few thousand parameters.
            "tiny" | "tiny-image" => image(4, 8, 1).with_density_filters(alloc::vec![2]),
            "tiny-audio" => CodecConfig::new(name.into(), ModalityKind::Audio, 2, 4, 4, 8, 1)
                .with_audio_dilations(alloc::vec![1])
                .with_postfilter_taps(9)
                .with_density_filters(alloc::vec![2]),
            // What walloc ships: small decoders that decode a 768×512 photo in well under a
            // second on two cores and stay local (no norm, no attention) for tiled decoding.
            "image-small" => image(48, 96, 2),
            "image-medium" => image(48, 128, 3),
            // Full-rank latent (4^3·3 = 192 channels, no dimensionality reduction): λ and
            // the entropy model decide what each channel is worth, as in learned transform
            // coding; the decoder refines a linear synthesis.
            "image-wide" => image(192, 96, 2)
                .with_decoder_skip(true)
                .with_encoder_init_gain(8.0),
            "audio-small" => audio(32, 96, 2).with_postfilter_taps(33),
            // Full-rank stereo latent (2·2^8 = 512 channels), starting as a mid/side
            // wavelet packet codec with a learned correction, as `image-wide`.
            "audio-wide" => audio(512, 64, 1)
                .with_decoder_skip(true)
                .with_encoder_init_gain(8.0)
                .with_postfilter_taps(33),
            _ => return None,
        })
    }
}

/// Names accepted by [`CodecConfig::preset`].
pub const PRESETS: &[&str] = &[
    "rgb-16x",
    "rgb-4x",
    "stereo-20x",
    "stereo-5x",
    "tiny",
    "tiny-image",
    "tiny-audio",
    "image-small",
    "image-medium",
    "image-wide",
    "audio-small",
    "audio-wide",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_is_valid_and_named() {
        for name in PRESETS {
            let c = CodecConfig::preset(name).unwrap();
            assert_eq!(c.name, *name);
            c.validate().unwrap();
        }
        assert!(CodecConfig::preset("nope").is_none());
    }

    #[test]
    fn reference_presets_have_the_papers_shapes() {
        let c = CodecConfig::preset("rgb-16x").unwrap();
        assert_eq!(
            (c.packet_channels(), c.latent_dim, c.max_symbol()),
            (192, 12, 127)
        );
        // 192 packet channels to 12: 16× fewer values (before entropy coding).
        let c = CodecConfig::preset("stereo-20x").unwrap();
        assert_eq!((c.packet_channels(), c.latent_dim), (512, 27));
    }
}
