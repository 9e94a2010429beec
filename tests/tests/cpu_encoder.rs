//! Encoding runs the image encoder as matrix products with the symbol looked up
//! (walloc_core::cpu_encoder), not through Burn, which training and export's estimates
//! use. Products summed in another order can move a latent value by an ulp, and a value on
//! a rounding boundary then gets the neighbouring symbol: encoders may differ so
//! (DESIGN.md, determinism), so symbols may differ by one, rarely.

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use walloc_core::bottleneck::Companding;
use walloc_core::codec::Codec;
use walloc_core::config::CodecConfig;
use walloc_core::container::Limits;
use walloc_core::cpu_encoder::CpuEncoder;
use walloc_core::model_file::Model;
use walloc_core::nets::Encoder;
use walloc_core::pipeline::RasterImage;
use walloc_core::{signal, wpt_planes};

mod common;
use common::{path, photo};

/// The padded planes of an 8-bit RGB image as the pipeline makes them, and their height
/// and width.
fn padded(image: &RasterImage, levels: usize) -> (Vec<f32>, usize, usize) {
    let (w, h) = (image.width as usize, image.height as usize);
    let mut planes = vec![0.0f32; 3 * w * h];
    for (i, px) in image.samples.widened().chunks_exact(3).enumerate() {
        for c in 0..3 {
            // As the pipeline scales 8-bit samples, to the bit.
            planes[c * w * h + i] = f32::from(px[c]) * (1.0 / 255.0f32) - 0.5;
        }
    }
    let (padded, ph, pw, _, _) = signal::pad_planes(&planes, 3, h, w, 1 << levels);
    (padded, ph, pw)
}

/// The packet planes of an 8-bit RGB image as the pipeline makes them, and the latent's
/// height and width.
fn packets(image: &RasterImage, levels: usize) -> (Vec<f32>, usize, usize) {
    let (padded, ph, pw) = padded(image, levels);
    (
        wpt_planes::forward_2d(padded, 3, ph, pw, levels),
        ph >> levels,
        pw >> levels,
    )
}

/// The symbols of Burn's encoder output, rounded by the scalar definition.
fn burn_symbols(
    encoder: &Encoder,
    config: &CodecConfig,
    x: &[f32],
    lh: usize,
    lw: usize,
) -> Vec<i32> {
    let shape = [1, config.packet_channels(), lh, lw];
    let x = Tensor::<4>::from_data(TensorData::new(x.to_vec(), shape), &Device::flex());
    let companding = Companding::new(config.latent_bits);
    encoder
        .forward(x)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap()
        .into_iter()
        .map(|z| companding.symbol(z, config.deadzone()))
        .collect()
}

/// How many symbols differ; panics if any differs by more than one.
fn differing(a: &[i32], b: &[i32]) -> usize {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .filter(|(x, y)| {
            assert!((*x - *y).abs() <= 1, "symbols {x} and {y}");
            x != y
        })
        .count()
}

#[test]
fn shipped_image_encoders_match_burn() {
    let device = Device::flex();
    for q in 1..=4 {
        let bytes = std::fs::read(path(&format!("../assets/models/image-q{q}.wlm"))).unwrap();
        let model = Model::from_bytes(&bytes, &device).unwrap();
        let cpu = model
            .cpu_encoder()
            .unwrap_or_else(|| panic!("image-q{q} takes the matrix-product path"));
        for name in ["photos/chelsea-crop.png", "photos/astronaut-crop.png"] {
            let image = photo(name);
            let (x, lh, lw) = packets(&image, model.config.levels);
            assert!(
                cpu.sparse(),
                "image-q{q}: a colour transform per packet is sparse"
            );
            let ours = cpu.symbols(&x, lh * lw);
            // The same a row of packets at a time from the padded image's rows, in bytes.
            let (planes, ph, pw) = padded(&image, model.config.levels);
            let split = wpt_planes::Split {
                channels: 3,
                height: ph,
                width: pw,
                levels: model.config.levels,
            };
            assert!(cpu.fits_bytes(), "image-q{q}: 8-bit symbols");
            let bytes = cpu.symbol_bytes_of_rows(split, &|c, r, out: &mut [f32]| {
                out.copy_from_slice(&planes[(c * ph + r) * pw..][..pw])
            });
            assert!(
                bytes.iter().map(|&b| i32::from(b)).eq(ours.iter().copied()),
                "image-q{q}, {name}: symbols in bytes"
            );
            // The pipeline encodes with the same encoder on fixed-point samples
            // (walloc_core::wpt_fixed): 8v − 1020 for an 8-bit sample v.
            let fixed = cpu.symbols_of_rows(split, &|c, r, out: &mut [i16]| {
                for (o, &x) in out.iter_mut().zip(&planes[(c * ph + r) * pw..][..pw]) {
                    *o = (x * 2040.0).round() as i16;
                }
            });
            let (coded, shape) = model.image_symbols(&image, &Limits::default()).unwrap();
            assert_eq!(shape, [model.config.latent_dim, lh, lw]);
            assert_eq!(coded, fixed, "image-q{q}, {name}: pipeline symbols");
            // Whose filters' rounding moves a few symbols by one. Measured: 1 in 35 000
            // (q1) to 1 in 600 (q4, the finest steps); allow one in 400.
            let n = differing(&fixed, &ours);
            assert!(
                n * 400 <= ours.len(),
                "image-q{q}, {name}: {n} of {} symbols differ in fixed point",
                ours.len()
            );
            let burn = burn_symbols(&model.codec().encoder, &model.config, &x, lh, lw);
            let n = differing(&burn, &ours);
            // Measured: none differ on these photos; allow one in ten thousand.
            assert!(
                n * 10_000 <= ours.len(),
                "image-q{q}, {name}: {n} of {} symbols differ from Burn's",
                ours.len()
            );
        }
    }
}

/// A small image configuration with `latent` channels and the shipped dead zone.
fn random_config(latent: usize) -> CodecConfig {
    let mut config = CodecConfig::preset("image-small").unwrap();
    config.latent_dim = latent;
    config.deadzone = Some(0.15);
    config
}

/// `cpu`'s symbols of random packets of `lh × lw` positions, checked against `encoder`'s
/// through Burn: at most one in a thousand may differ (by one).
fn symbols_matching_burn(
    cpu: &CpuEncoder,
    encoder: &Encoder,
    config: &CodecConfig,
    (lh, lw): (usize, usize),
) -> Vec<i32> {
    let x = Tensor::<4>::random(
        [1, config.packet_channels(), lh, lw],
        Distribution::Normal(0.0, 1.0),
        &Device::flex(),
    )
    .into_data()
    .try_to_vec::<f32>()
    .unwrap();
    let ours = cpu.symbols(&x, lh * lw);
    let burn = burn_symbols(encoder, config, &x, lh, lw);
    let n = differing(&burn, &ours);
    assert!(
        n * 1_000 <= ours.len().max(1_000),
        "latent {}, {lh}×{lw}: {n} of {} symbols differ",
        config.latent_dim,
        ours.len()
    );
    ours
}

#[test]
fn random_encoders_match_burn() {
    for latent in [192, 48, 5] {
        let config = random_config(latent);
        let codec = Codec::new(&config, &Device::flex());
        let cpu = CpuEncoder::new(&codec.encoder, &config).expect("a linear encoder");
        assert!(!cpu.sparse(), "random weights take the matrix products");
        // Odd sizes: positions not a multiple of the product's block, nor of the vectors.
        for size in [(1, 1), (7, 37), (19, 29)] {
            symbols_matching_burn(&cpu, &codec.encoder, &config, size);
        }
    }
}

/// Keeps about one weight in twenty of each projection and gives every bias a value, so
/// that the encoder takes the sparse path with a bias to add.
struct Sparsify(u64);

impl ModuleMapper for Sparsify {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.map(|t| {
            let shape = t.shape();
            let n = shape.num_elements();
            let keep = (0..n)
                .map(|_| {
                    self.0 = self
                        .0
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1);
                    if D == 1 || (self.0 >> 33) % 20 == 0 {
                        1.0
                    } else {
                        0.0
                    }
                })
                .collect::<Vec<f32>>();
            let mask = Tensor::<D>::from_data(TensorData::new(keep, shape), &t.device());
            let t = t * mask;
            if D == 1 { t + 0.3 } else { t }
        })
    }
}

#[test]
fn sparse_encoders_match_burn() {
    for latent in [192, 48, 5] {
        let config = random_config(latent);
        let encoder = Codec::new(&config, &Device::flex())
            .encoder
            .map(&mut Sparsify(latent as u64));
        let cpu = CpuEncoder::new(&encoder, &config).expect("a linear encoder");
        assert!(
            cpu.sparse(),
            "latent {latent}: one weight in twenty is sparse"
        );
        // Sizes across the sparse pass's chunk of positions, and not multiples of it.
        for size in [(1, 1), (7, 37), (31, 67)] {
            let ours = symbols_matching_burn(&cpu, &encoder, &config, size);
            // A handful of symbols may all round to zero, and so may five channels of a
            // dozen small weights; thousands of symbols of 48 channels or more do not,
            // unless the sums were lost.
            if ours.len() > 1_000 && latent >= 48 {
                assert!(
                    ours.iter().any(|&s| s != 0),
                    "latent {latent}: all symbols zero"
                );
            }
        }
    }
}

/// An image's symbols made a row of packets at a time are those of its packet planes,
/// for dense and sparse encoders, with packets narrower than the vectors, or than a
/// product's block, or not a multiple of it.
#[test]
fn rows_give_the_symbols_of_planes() {
    for latent in [192, 5] {
        let config = random_config(latent);
        let dense = Codec::new(&config, &Device::flex()).encoder;
        let sparse = dense.clone().map(&mut Sparsify(latent as u64));
        for (encoder, is_sparse) in [(&dense, false), (&sparse, true)] {
            let cpu = CpuEncoder::new(encoder, &config).expect("a linear encoder");
            assert_eq!(cpu.sparse(), is_sparse);
            let levels = config.levels;
            for (lh, lw) in [(1, 1), (3, 37), (5, 300)] {
                let (h, w) = (lh << levels, lw << levels);
                let x = Tensor::<1>::random(
                    [3 * h * w],
                    Distribution::Normal(0.0, 0.3),
                    &Device::flex(),
                )
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
                let split = wpt_planes::Split {
                    channels: 3,
                    height: h,
                    width: w,
                    levels,
                };
                let rows = cpu.symbols_of_rows(split, &|c, r, out: &mut [f32]| {
                    out.copy_from_slice(&x[(c * h + r) * w..][..w])
                });
                let packets = wpt_planes::forward_2d(x.clone(), 3, h, w, levels);
                let planes = cpu.symbols(&packets, lh * lw);
                assert!(
                    rows == planes,
                    "latent {latent}, sparse {is_sparse}, {lh}×{lw}: rows and planes differ"
                );
                if latent == 192 && lh * lw > 100 {
                    assert!(rows.iter().any(|&s| s != 0), "all symbols zero");
                }
            }
        }
    }
}

#[test]
fn encoders_with_hidden_layers_stay_with_burn() {
    let device = Device::flex();
    let mut config = CodecConfig::preset("image-small").unwrap();
    config.encoder_hidden_layers = 1;
    config.encoder_hidden_width = 64;
    let codec = Codec::new(&config, &device);
    assert!(CpuEncoder::new(&codec.encoder, &config).is_none());
}
