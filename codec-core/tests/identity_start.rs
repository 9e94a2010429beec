//! `image-wide` starts as a working transform codec: the encoder is 8× the identity on the
//! wavelet packets and the decoder's linear skip its inverse, the network's correction
//! exactly zero. Without rounding, synthesis(analysis(x)) = x.

use burn::tensor::{Device, Distribution, Tensor};
use walloc_core::bottleneck::Companding;
use walloc_core::codec::Codec;
use walloc_core::config::CodecConfig;

#[test]
fn image_wide_starts_as_an_invertible_linear_codec() {
    let config = CodecConfig::preset("image-wide").unwrap();
    let device = Device::flex();
    let codec = Codec::new(&config, &device);
    let x = Tensor::<4>::random([2, 3, 32, 48], Distribution::Uniform(-0.5, 0.5), &device);
    let z = codec.analyse_image(x.clone(), config.levels);
    let packets = walloc_core::wpt::wpt2d(x.clone(), config.levels);
    let scaled = (z.clone() - packets.mul_scalar(8.0))
        .abs()
        .max()
        .into_scalar::<f32>();
    assert!(scaled < 1e-5, "encoder is not 8·identity: {scaled}");
    let y = Companding::new(config.latent_bits).forward(z);
    let back = codec.synthesise_image(y, &config);
    let err = (back - x).abs().max().into_scalar::<f32>();
    assert!(err < 1e-4, "reconstruction error {err}");
}
