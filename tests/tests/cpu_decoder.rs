//! Decoding runs the image decoder network channels-last (walloc_core::cpu_decoder), not
//! through Burn, which training uses: the two must compute the same network. Products
//! summed in another order differ in the last bits of a float, so the packets are compared
//! with a tolerance far below one 8-bit step, and the decoded 8-bit pixels may differ by at
//! most one level (the determinism rule for decoders, DESIGN.md).

use burn::tensor::{Device, Distribution, Tensor, TensorData};
use walloc_core::bottleneck::Companding;
use walloc_core::codec::Codec;
use walloc_core::config::CodecConfig;
use walloc_core::container::Limits;
use walloc_core::cpu_decoder::CpuDecoder;
use walloc_core::model_file::Model;
use walloc_core::wpt_planes;

mod common;
use common::{path, photo};

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

/// Largest |a − b| and largest |a|.
fn max_diff(a: &[f32], b: &[f32]) -> (f32, f32) {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).fold((0.0, 0.0), |(d, m), (x, y)| {
        (d.max((x - y).abs()), m.max(x.abs()))
    })
}

/// Packet planes → 8-bit samples, as decoding makes them (image range [−½, ½]).
fn pixels(packets: Vec<f32>, lh: usize, lw: usize, levels: usize) -> Vec<i32> {
    wpt_planes::inverse_2d(packets, 3, lh, lw, levels)
        .iter()
        .map(|v| ((v + 0.5) * 255.0).round().clamp(0.0, 255.0) as i32)
        .collect()
}

#[test]
fn shipped_image_decoders_match_burn() {
    let device = Device::flex();
    let source = photo("photos/chelsea-crop.png");
    for q in 1..=4 {
        let bytes = std::fs::read(path(&format!("../assets/models/image-q{q}.wlm"))).unwrap();
        let model = Model::from_bytes(&bytes, &device).unwrap();
        let cpu = model
            .cpu_decoder()
            .unwrap_or_else(|| panic!("image-q{q} takes the channels-last path"));
        let (symbols, [lc, lh, lw]) = model.image_symbols(&source, &Limits::default()).unwrap();
        let symbols: Vec<f32> = symbols.iter().map(|&s| s as f32).collect();
        let latent = Companding::new(model.config.latent_bits).inverse(Tensor::<4>::from_data(
            TensorData::new(symbols, [1, lc, lh, lw]),
            &device,
        ));
        let burn = values(model.codec().decoder.forward(latent.clone()));
        let ours = cpu.decode(&values(latent), lh, lw, lh);
        let (diff, peak) = max_diff(&burn, &ours);
        // Measured: at most 7e-7 (a few ulps of the peak); one 8-bit step is 4e-3.
        assert!(
            diff <= 4e-6 * peak.max(1.0),
            "image-q{q}: packets differ by {diff} (peak {peak})"
        );
        let levels = model.config.levels;
        let (a, b) = (pixels(burn, lh, lw, levels), pixels(ours, lh, lw, levels));
        let off = a.iter().zip(&b).filter(|(x, y)| x != y).count();
        let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).max().unwrap();
        assert!(worst <= 1, "image-q{q}: a pixel differs by {worst} levels");
        assert!(
            off * 1000 <= a.len(),
            "image-q{q}: {off} of {} samples differ",
            a.len()
        );
    }
}

/// An image configuration whose decoder the channels-last path computes: `latent`
/// channels in, `blocks` residual blocks of `width`, with or without the linear skip.
fn plain_decoder(latent: usize, width: usize, blocks: usize, skip: bool) -> CodecConfig {
    let mut config = CodecConfig::preset("image-small")
        .unwrap()
        .with_decoder_skip(skip);
    config.latent_dim = latent;
    config.decoder_width = width;
    config.decoder_blocks = blocks;
    config
}

/// Random weights of every shape the path accepts (with and without the linear skip,
/// zero to two blocks), on dense and mostly zero latents of three widths, in bands of
/// every height.
#[test]
fn random_decoders_match_burn_in_any_band() {
    let device = Device::flex();
    for (latent, width, blocks, skip) in [
        (12, 16, 0, false),
        (8, 24, 2, true),
        (48, 32, 1, true),
        (192, 16, 1, true),
    ] {
        let config = plain_decoder(latent, width, blocks, skip);
        let codec = Codec::new(&config, &device);
        let cpu = CpuDecoder::new(&codec.decoder, &config).expect("a plain image decoder");
        // One round of tiles over several tile rows; several rounds, the first layer's
        // latent rows copied in two groups; rounds within one tile row (34 tiles wide).
        for ((h, w), sparse) in [(11, 17), (21, 40), (6, 133)]
            .into_iter()
            .flat_map(|shape| [(shape, false), (shape, true)])
        {
            let z = Tensor::<4>::random([1, latent, h, w], Distribution::Normal(0.0, 2.0), &device);
            // Mostly zero, as a dead zone leaves a latent (the decoder then reads only
            // the nonzero values): about 5% of N(0, 2²) lies beyond ±4.
            let z = if sparse {
                z.clone().mask_fill(z.abs().lower_elem(4.0), 0.0)
            } else {
                z
            };
            let burn = values(codec.decoder.forward(z.clone()));
            let z = values(z);
            let whole = cpu.decode(&z, h, w, h);
            let (diff, peak) = max_diff(&burn, &whole);
            assert!(
                diff <= 1e-5 * peak.max(1.0),
                "{latent}/{width}/{blocks} {h}×{w} (sparse: {sparse}): differs by {diff} (peak {peak})"
            );
            // Bands with their margins give exactly the whole latent's result.
            for band in [1, 2, 5, h - 1] {
                assert_eq!(
                    cpu.decode(&z, h, w, band),
                    whole,
                    "{h}×{w} {sparse}, band {band}"
                );
            }
            // So does the call that writes the packets over the latent (which it does for one
            // band with as many packet channels as latent channels, the last case here).
            for band in [h, h + 3, 4] {
                let owned = cpu.decode_owned(z.clone(), h, w, band);
                assert_eq!(
                    owned, whole,
                    "{latent}/{width}/{blocks} {h}×{w} {sparse}, over the latent, band {band}"
                );
            }
        }
    }
}

/// Read from a model's weights (what `walloc decode` does, building no networks), the
/// decoder is the one read from Burn's layers, to the bit; weights of another shape are
/// refused rather than misread.
#[test]
fn decoders_from_weights_equal_decoders_from_networks() {
    use burn::module::Module;
    let device = Device::flex();
    for (latent, width, blocks, skip) in [(12, 16, 0, false), (8, 24, 2, true)] {
        let config = plain_decoder(latent, width, blocks, skip);
        let codec = Codec::new(&config, &device);
        let from_layers = CpuDecoder::new(&codec.decoder, &config).unwrap();
        let pack = codec.clone().into_record().into_bytes().unwrap();
        let from_pack = CpuDecoder::from_pack(pack.clone(), &config)
            .unwrap_or_else(|| panic!("{latent}/{width}/{blocks}: the pack reads"));
        let (h, w) = (9, 13);
        let z = Tensor::<4>::random([1, latent, h, w], Distribution::Normal(0.0, 2.0), &device);
        let z = values(z);
        assert_eq!(
            from_pack.decode(&z, h, w, h),
            from_layers.decode(&z, h, w, h)
        );
        let mut wider = config.clone();
        wider.decoder_width += 8;
        assert!(CpuDecoder::from_pack(pack.clone(), &wider).is_none());
        let mut deeper = config.clone();
        deeper.decoder_blocks += 1;
        assert!(CpuDecoder::from_pack(pack.clone(), &deeper).is_none());
        let mut without_skip = config.clone();
        without_skip.decoder_skip = false;
        assert_eq!(CpuDecoder::from_pack(pack, &without_skip).is_none(), skip);
    }
}

#[test]
fn decoders_it_does_not_compute_stay_with_burn() {
    let device = Device::flex();
    for name in ["rgb-16x", "audio-small", "tiny-audio"] {
        let config = CodecConfig::preset(name).unwrap();
        let codec = Codec::new(&config, &device);
        assert!(
            CpuDecoder::new(&codec.decoder, &config).is_none(),
            "{name} has layers the channels-last path does not compute"
        );
    }
}
