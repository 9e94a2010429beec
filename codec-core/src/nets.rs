//! The networks: the encoder projection and the image and audio decoders.
//!
//! Everything runs at latent resolution on `[batch, channels, height, width]` tensors;
//! audio uses height 1, so one set of layers serves both modalities. Up- and downsampling
//! is the wavelet packet transform's job, outside these modules.

use alloc::vec::Vec;
use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{GroupNorm, GroupNormConfig, Initializer, PaddingConfig2d};
use burn::tensor::activation::{silu, softmax};
use burn::tensor::{Device, Tensor};

use crate::config::{CodecConfig, ModalityKind};

fn conv(cin: usize, cout: usize, kernel: [usize; 2], dilation: usize, device: &Device) -> Conv2d {
    let pad = |k: usize| dilation * (k - 1) / 2;
    Conv2dConfig::new([cin, cout], kernel)
        .with_dilation([dilation, dilation])
        .with_padding(PaddingConfig2d::Explicit(
            pad(kernel[0]),
            pad(kernel[1]),
            pad(kernel[0]),
            pad(kernel[1]),
        ))
        .init(device)
}

/// A conv whose weights start small, so a residual branch starts close to identity: the
/// shipped decoders have no normalisation to keep deep stacks stable early in training.
fn residual_out_conv(
    cin: usize,
    cout: usize,
    kernel: [usize; 2],
    dilation: usize,
    device: &Device,
) -> Conv2d {
    let mut c = conv(cin, cout, kernel, dilation, device);
    // A tenth of the default bound (Kaiming uniform, gain 1/√3), drawn lazily like every
    // other parameter: loading a model file replaces the weights without ever drawing
    // them (an eager draw here cost a third of the model load).
    let fan_in = cin * kernel[0] * kernel[1];
    let fan_out = cout * kernel[0] * kernel[1];
    c.weight = Initializer::KaimingUniform {
        gain: 0.1 / 3f64.sqrt(),
        fan_out_only: false,
    }
    .init_with(
        [cout, cin, kernel[0], kernel[1]],
        Some(fan_in),
        Some(fan_out),
        device,
    );
    c
}

/// An orthonormal colour transform (the Karhunen–Loève basis of typical RGB: luma, then
/// two opponent chroma axes). Starting the encoder with it codes one bright channel and
/// two faint ones per packet instead of three correlated ones, as JPEG's YCbCr does.
const COLOUR: [[f32; 3]; 3] = [
    [0.577_350_3, 0.577_350_3, 0.577_350_3],
    [0.707_106_8, 0.0, -0.707_106_8],
    [0.408_248_3, -0.816_496_6, 0.408_248_3],
];

const MID_SIDE: [[f32; 2]; 2] = [
    [
        core::f32::consts::FRAC_1_SQRT_2,
        core::f32::consts::FRAC_1_SQRT_2,
    ],
    [
        core::f32::consts::FRAC_1_SQRT_2,
        -core::f32::consts::FRAC_1_SQRT_2,
    ],
];

/// A 1×1 conv on `n = channels · packets` channels (channel-major, as the transform lays
/// them out) computing `gain · M` on the signal channels of each packet, where `M` is the
/// colour transform for RGB (or its transpose with `inverse`), mid/side for stereo and the
/// identity otherwise.
fn packet_mixer(n: usize, channels: usize, gain: f32, inverse: bool, device: &Device) -> Conv2d {
    let mut c = conv(n, n, [1, 1], 1, device);
    let packets = n / channels;
    let mut w = alloc::vec![0.0f32; n * n];
    for out_c in 0..channels {
        for in_c in 0..channels {
            let m = match (channels, inverse) {
                (3, false) => COLOUR[out_c][in_c],
                (3, true) => COLOUR[in_c][out_c],
                // Mid and side: stereo channels are mostly alike, so their sum carries the
                // signal and their difference is small and cheap (symmetric, its own
                // inverse).
                (2, _) => MID_SIDE[out_c][in_c],
                _ => f32::from(u8::from(out_c == in_c)),
            };
            for p in 0..packets {
                w[(out_c * packets + p) * n + in_c * packets + p] = gain * m;
            }
        }
    }
    c.weight = Param::from_tensor(Tensor::from_data(
        burn::tensor::TensorData::new(w, [n, n, 1, 1]),
        device,
    ));
    c.bias = Some(Param::from_tensor(Tensor::zeros([n], device)));
    c
}

/// Whether the encoder and the decoder's linear skip start as a scaled identity pair (see
/// `CodecConfig::encoder_init_gain`).
fn identity_start(config: &CodecConfig) -> bool {
    config.encoder_init_gain > 0.0
        && config.decoder_skip
        && config.encoder_hidden_layers == 0
        && config.latent_dim == config.packet_channels()
}

/// Image convolutions are 3×3; audio ones run along time only (1×k).
fn kernel(modality: ModalityKind, k: usize) -> [usize; 2] {
    match modality {
        ModalityKind::Image => [k, k],
        ModalityKind::Audio => [1, k],
    }
}

/// 1×1 convolutions from packet channels to latent channels, optionally with hidden
/// layers (the reference's `lightweight_encode=False`).
#[derive(Module, Debug)]
pub struct Encoder {
    hidden: Vec<Conv2d>,
    project: Conv2d,
}

impl Encoder {
    pub fn new(config: &CodecConfig, device: &Device) -> Self {
        let mut width = config.packet_channels();
        let hidden = (0..config.encoder_hidden_layers)
            .map(|_| {
                let c = conv(width, config.encoder_hidden_width, [1, 1], 1, device);
                width = config.encoder_hidden_width;
                c
            })
            .collect();
        let project = if identity_start(config) {
            packet_mixer(
                width,
                config.channels,
                config.encoder_init_gain,
                false,
                device,
            )
        } else {
            conv(width, config.latent_dim, [1, 1], 1, device)
        };
        Self { hidden, project }
    }

    /// The projection, when it is the whole encoder (no hidden layers): inference can
    /// then run it as one matrix product ([`crate::cpu_encoder`]).
    pub fn linear_projection(&self) -> Option<&Conv2d> {
        self.hidden.is_empty().then_some(&self.project)
    }

    pub fn forward(&self, packets: Tensor<4>) -> Tensor<4> {
        let x = self
            .hidden
            .iter()
            .fold(packets, |x, layer| silu(layer.forward(x)));
        self.project.forward(x)
    }
}

/// Optional GroupNorm followed by SiLU.
#[derive(Module, Debug)]
pub(crate) struct NormAct {
    pub(crate) norm: Option<GroupNorm>,
}

impl NormAct {
    fn new(config: &CodecConfig, channels: usize, device: &Device) -> Self {
        let norm = config
            .group_norm
            .then(|| GroupNormConfig::new(32, channels).init(device));
        Self { norm }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match &self.norm {
            Some(n) => silu(n.forward(x)),
            None => silu(x),
        }
    }
}

/// (norm, SiLU, 3×3 conv) twice, plus the skip.
#[derive(Module, Debug)]
pub(crate) struct ResBlock {
    pub(crate) act1: NormAct,
    pub(crate) conv1: Conv2d,
    pub(crate) act2: NormAct,
    pub(crate) conv2: Conv2d,
}

impl ResBlock {
    fn new(config: &CodecConfig, device: &Device) -> Self {
        let w = config.decoder_width;
        let k = kernel(config.modality, 3);
        Self {
            act1: NormAct::new(config, w, device),
            conv1: conv(w, w, k, 1, device),
            act2: NormAct::new(config, w, device),
            conv2: residual_out_conv(w, w, k, 1, device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let h = self.conv1.forward(self.act1.forward(x.clone()));
        let h = self.conv2.forward(self.act2.forward(h));
        x + h
    }
}

/// One global self-attention block over all latent positions (the reference's mid-block).
#[derive(Module, Debug)]
pub(crate) struct Attention {
    norm: GroupNorm,
    q: Conv2d,
    k: Conv2d,
    v: Conv2d,
    out: Conv2d,
}

impl Attention {
    fn new(width: usize, device: &Device) -> Self {
        Self {
            norm: GroupNormConfig::new(32, width).init(device),
            q: conv(width, width, [1, 1], 1, device),
            k: conv(width, width, [1, 1], 1, device),
            v: conv(width, width, [1, 1], 1, device),
            out: residual_out_conv(width, width, [1, 1], 1, device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        let n = self.norm.forward(x.clone());
        let q = self
            .q
            .forward(n.clone())
            .reshape([b, c, h * w])
            .swap_dims(1, 2);
        let k = self.k.forward(n.clone()).reshape([b, c, h * w]);
        let v = self.v.forward(n).reshape([b, c, h * w]).swap_dims(1, 2);
        let weights = softmax(q.matmul(k).div_scalar((c as f32).sqrt()), 2);
        let attended = weights.matmul(v).swap_dims(1, 2).reshape([b, c, h, w]);
        x + self.out.forward(attended)
    }
}

/// Snake activation x + sin²(αx)/α with a learned α per channel (audio decoders).
#[derive(Module, Debug)]
pub(crate) struct Snake {
    alpha: Param<Tensor<4>>,
}

impl Snake {
    fn new(channels: usize, device: &Device) -> Self {
        Self {
            alpha: Initializer::Ones.init([1, channels, 1, 1], device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let alpha = self.alpha.val();
        let s = x.clone().mul(alpha.clone()).sin();
        x + s.clone().mul(s).div(alpha.add_scalar(1e-9))
    }
}

/// Snake, dilated 1×7 conv, Snake, 1×1 conv, plus the skip (DAC/Oobleck style).
#[derive(Module, Debug)]
pub(crate) struct ResidualUnit {
    act1: Snake,
    conv1: Conv2d,
    act2: Snake,
    conv2: Conv2d,
}

impl ResidualUnit {
    fn new(width: usize, dilation: usize, device: &Device) -> Self {
        Self {
            act1: Snake::new(width, device),
            conv1: conv(width, width, [1, 7], dilation, device),
            act2: Snake::new(width, device),
            conv2: residual_out_conv(width, width, [1, 1], 1, device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let h = self.conv1.forward(self.act1.forward(x.clone()));
        x + self.conv2.forward(self.act2.forward(h))
    }
}

/// Decoder body: conv_in → blocks → activation → conv_out to packet channels.
#[derive(Module, Debug)]
pub struct Decoder {
    pub(crate) conv_in: Conv2d,
    pub(crate) blocks: Vec<ResBlock>,
    pub(crate) attention: Option<Attention>,
    pub(crate) units: Vec<ResidualUnit>,
    pub(crate) act_out: NormAct,
    pub(crate) snake_out: Option<Snake>,
    pub(crate) conv_out: Conv2d,
    pub(crate) skip: Option<Conv2d>,
}

impl Decoder {
    pub fn new(config: &CodecConfig, device: &Device) -> Self {
        let w = config.decoder_width;
        let m = config.modality;
        let audio = m == ModalityKind::Audio;
        let (blocks, units) = if audio {
            let units = (0..config.decoder_blocks)
                .flat_map(|_| config.audio_dilations.iter())
                .map(|&d| ResidualUnit::new(w, d, device))
                .collect();
            (Vec::new(), units)
        } else {
            let blocks = (0..config.decoder_blocks)
                .map(|_| ResBlock::new(config, device))
                .collect();
            (blocks, Vec::new())
        };
        Self {
            conv_in: conv(
                config.latent_dim,
                w,
                kernel(m, if audio { 7 } else { 3 }),
                1,
                device,
            ),
            blocks,
            attention: config.attention.then(|| Attention::new(w, device)),
            units,
            act_out: NormAct::new(config, w, device),
            snake_out: audio.then(|| Snake::new(w, device)),
            // With the linear skip the network starts near zero and learns a correction;
            // starting from a working linear codec, the network's correction starts at
            // exactly zero (its input is far from small, so a random start would swamp it).
            conv_out: if identity_start(config) {
                let (k, out) = (kernel(m, 3), config.packet_channels());
                let mut c = conv(w, out, k, 1, device);
                // The shape from the configuration: asking the lazy parameter for its dims
                // would draw the random weights this replaces (2 ms of every model load).
                c.weight = Param::from_tensor(Tensor::zeros([out, w, k[0], k[1]], device));
                c.bias = Some(Param::from_tensor(Tensor::zeros(
                    [config.packet_channels()],
                    device,
                )));
                c
            } else if config.decoder_skip {
                residual_out_conv(w, config.packet_channels(), kernel(m, 3), 1, device)
            } else {
                conv(w, config.packet_channels(), kernel(m, 3), 1, device)
            },
            skip: config.decoder_skip.then(|| {
                if identity_start(config) {
                    packet_mixer(
                        config.latent_dim,
                        config.channels,
                        1.0 / config.encoder_init_gain,
                        true,
                        device,
                    )
                } else {
                    conv(
                        config.latent_dim,
                        config.packet_channels(),
                        [1, 1],
                        1,
                        device,
                    )
                }
            }),
        }
    }

    /// Latent `[B, latent_dim, h, w]` → packets `[B, packet_channels, h, w]`.
    pub fn forward(&self, latent: Tensor<4>) -> Tensor<4> {
        let linear = self.skip.as_ref().map(|s| s.forward(latent.clone()));
        let mut x = self.conv_in.forward(latent);
        let half = self.blocks.len() / 2;
        for (i, block) in self.blocks.iter().enumerate() {
            if i == half {
                if let Some(a) = &self.attention {
                    x = a.forward(x);
                }
            }
            x = block.forward(x);
        }
        for unit in &self.units {
            x = unit.forward(x);
        }
        let x = match &self.snake_out {
            Some(s) => s.forward(x),
            None => self.act_out.forward(x),
        };
        let x = self.conv_out.forward(x);
        match linear {
            Some(l) => x + l,
            None => x,
        }
    }
}

/// A time-domain FIR filter, channels → channels, applied after the inverse transform
/// (the reference's 129-tap post-filter). Starts as the identity.
#[derive(Module, Debug)]
pub struct PostFilter {
    conv: Conv2d,
}

impl PostFilter {
    pub fn new(channels: usize, taps: usize, device: &Device) -> Self {
        let mut conv = Conv2dConfig::new([channels, channels], [1, taps])
            .with_padding(PaddingConfig2d::Explicit(0, taps / 2, 0, taps / 2))
            .with_bias(false)
            .with_initializer(Initializer::Zeros)
            .init(device);
        // Identity: a unit tap in the middle of each channel's own filter.
        let mut w = alloc::vec![0.0f32; channels * channels * taps];
        for c in 0..channels {
            w[(c * channels + c) * taps + taps / 2] = 1.0;
        }
        let shape = [channels, channels, 1, taps];
        conv.weight = Param::from_tensor(Tensor::from_data(
            burn::tensor::TensorData::new(w, shape),
            device,
        ));
        Self { conv }
    }

    /// `[B, C, N]` → `[B, C, N]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [b, c, n] = x.dims();
        self.conv
            .forward(x.reshape([b, c, 1, n]))
            .reshape([b, c, n])
    }
}
