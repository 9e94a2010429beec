//! `image-wide` starts as a working transform codec: the encoder is 8× an orthonormal
//! colour transform of each wavelet packet and the decoder's linear skip its inverse, the
//! network's correction exactly zero. Without rounding, synthesis(analysis(x)) = x.

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
    // Orthonormal up to the gain: the latent has 64× the packets' energy; a gray image
    // puts all of it in the first (luma) third of the channels.
    let energy = |t: Tensor<4>| t.powi_scalar(2).sum().into_scalar::<f32>();
    let ratio = energy(z.clone()) / energy(packets);
    assert!((ratio - 64.0).abs() < 1e-2, "energy ratio {ratio}");
    let gray = Tensor::<4>::random([1, 1, 32, 32], Distribution::Uniform(-0.5, 0.5), &device)
        .repeat_dim(1, 3);
    let zg = codec.analyse_image(gray, config.levels);
    let chroma = energy(zg.clone().narrow(1, 64, 128));
    assert!(
        chroma < 1e-6 * energy(zg),
        "gray input leaks into chroma: {chroma}"
    );
    let y = Companding::new(config.latent_bits).forward(z);
    let back = codec.synthesise_image(y, &config);
    let err = (back - x).abs().max().into_scalar::<f32>();
    assert!(err < 1e-4, "reconstruction error {err}");
}
