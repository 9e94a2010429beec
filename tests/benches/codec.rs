//! `cargo bench --workspace --bench codec`: each stage of the image codec with the default
//! shipped model (image-q3), per pixel, on a 768×576 mosaic of a committed real photo
//! (3×3 copies of tests/data/photos/astronaut-crop.png, so no corpus is needed). Stages:
//! the wavelet packet transform both ways, the encoder (transform, 1×1 projection,
//! companding, rounding), entropy coding both ways, the decoder network (the channels-last
//! path decoding uses, and the same layers in Burn, as training runs them), and whole
//! `encode_image` / `decode_image` calls. docs/performance.md holds the numbers.

use std::hint::black_box;
use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use walloc_core::bottleneck::Companding;
use walloc_core::container::Limits;
use walloc_core::cpu_decoder::CpuDecoder;
use walloc_core::entropy::{self, PlaneShape};
use walloc_core::latent_payload;
use walloc_core::model_file::Model;
use walloc_core::pipeline::RasterImage;
use walloc_core::wpt_planes;

fn root(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// 3×3 copies of the committed 256×192 photo crop.
fn mosaic() -> RasterImage {
    let tile = image::open(root("data/photos/astronaut-crop.png"))
        .unwrap()
        .to_rgb8();
    let (tw, th) = (tile.width(), tile.height());
    let (w, h) = (3 * tw, 3 * th);
    let mut samples = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            samples.extend(tile.get_pixel(x % tw, y % th).0);
        }
    }
    RasterImage {
        width: w,
        height: h,
        channels: 3,
        samples: samples.into(),
    }
}

fn stages(c: &mut Criterion) {
    let bytes = std::fs::read(root("../assets/models/image-q3.wlm")).unwrap();
    let model = Model::from_bytes(&bytes, &Device::flex()).unwrap();
    let image = mosaic();
    let (w, h) = (image.width as usize, image.height as usize);
    let limits = Limits::default();
    let device = Device::flex();
    let levels = model.config.levels;

    // Planes in [−½, ½], as the pipeline gives the transform.
    let mut planes = vec![0.0f32; 3 * w * h];
    for (i, px) in image.samples.widened().chunks_exact(3).enumerate() {
        for ch in 0..3 {
            planes[ch * w * h + i] = f32::from(px[ch]) / 255.0 - 0.5;
        }
    }
    let packets = wpt_planes::forward_2d(planes.clone(), 3, h, w, levels);
    let (ph, pw) = (h >> levels, w >> levels);
    let wl = model.encode_image(&image, &limits).unwrap();
    let (symbols, [lc, lh, lw]) = model.image_symbols(&image, &limits).unwrap();
    let shape = PlaneShape {
        channels: lc,
        height: lh,
        width: lw,
        contexts: model.contexts,
    };
    let payload_v1 = entropy::encode_planes(&symbols, &model.tables, &shape).unwrap();
    let payload = latent_payload::encode(&symbols, &model.tables, &shape).unwrap();
    let latent = Companding::new(model.config.latent_bits).inverse(Tensor::<4>::from_data(
        TensorData::new(
            symbols.iter().map(|&s| s as f32).collect::<Vec<_>>(),
            [1, lc, lh, lw],
        ),
        &device,
    ));

    let mut g = c.benchmark_group("image-q3 768x576");
    g.throughput(Throughput::Elements((w * h) as u64));
    g.sample_size(20);
    g.bench_function("wpt forward", |b| {
        b.iter(|| wpt_planes::forward_2d(black_box(planes.clone()), 3, h, w, levels))
    });
    // What the image encoder runs: the same transform in 16-bit fixed point.
    let split = wpt_planes::Split {
        channels: 3,
        height: h,
        width: w,
        levels,
    };
    let fixed: Vec<i16> = planes
        .iter()
        .map(|&v| (v * walloc_core::wpt_fixed::ONE).round() as i16)
        .collect();
    g.bench_function("wpt forward (fixed point)", |b| {
        b.iter(|| {
            wpt_planes::forward_2d_planes(split, |c, r, out: &mut [i16]| {
                out.copy_from_slice(&black_box(&fixed)[(c * h + r) * w..][..w])
            })
        })
    });
    g.bench_function("wpt inverse", |b| {
        b.iter(|| wpt_planes::inverse_2d(black_box(packets.clone()), 3, ph, pw, levels))
    });
    g.bench_function("encoder (to symbols)", |b| {
        b.iter(|| model.image_symbols(black_box(&image), &limits).unwrap())
    });
    // Format version 3 (zero-channel map, streams on every core, all-zero blocks
    // skipped), version 2 (no block flags) and version 1 (every channel, one stream) on
    // the same symbols.
    g.bench_function("entropy encode", |b| {
        b.iter(|| latent_payload::encode(black_box(&symbols), &model.tables, &shape).unwrap())
    });
    g.bench_function("entropy decode", |b| {
        b.iter(|| latent_payload::decode(black_box(&payload), &model.tables, &shape).unwrap())
    });
    let encode_v2 = |symbols: &[i32]| {
        latent_payload::encode_version(symbols, &model.tables, &shape, None, 2).unwrap()
    };
    let payload_v2 = encode_v2(&symbols);
    g.bench_function("entropy encode (version 2)", |b| {
        b.iter(|| encode_v2(black_box(&symbols)))
    });
    g.bench_function("entropy decode (version 2)", |b| {
        b.iter(|| {
            latent_payload::decode_version(black_box(&payload_v2), &model.tables, &shape, 2)
                .unwrap()
        })
    });
    g.bench_function("entropy encode (version 1)", |b| {
        b.iter(|| entropy::encode_planes(black_box(&symbols), &model.tables, &shape).unwrap())
    });
    g.bench_function("entropy decode (version 1)", |b| {
        b.iter(|| entropy::decode_planes(black_box(&payload_v1), &model.tables, &shape).unwrap())
    });
    let latent_planes = latent.clone().into_data().try_to_vec::<f32>().unwrap();
    let cpu = model
        .cpu_decoder()
        .expect("image-q3 takes the channels-last path");
    g.bench_function("decoder network", |b| {
        b.iter(|| cpu.decode(black_box(&latent_planes), lh, lw, lh))
    });
    g.bench_function("decoder network (Burn)", |b| {
        b.iter(|| {
            model
                .codec()
                .decoder
                .forward(black_box(latent.clone()))
                .into_data()
        })
    });
    g.bench_function("encode_image", |b| {
        b.iter(|| model.encode_image(black_box(&image), &limits).unwrap())
    });
    g.bench_function("decode_image", |b| {
        b.iter(|| model.decode_image(black_box(&wl), &limits).unwrap())
    });
    g.finish();

    // What every `walloc` process pays before its first image: the model file parsed into
    // tables and network weights (the shipped models are compiled into the binary).
    let mut g = c.benchmark_group("image-q3 model");
    g.sample_size(20);
    g.bench_function("model load", |b| {
        b.iter(|| Model::from_bytes(black_box(&bytes), &device).unwrap())
    });
    // As `walloc encode` loads its built-in models: the id in the header is trusted (a
    // unit test checks it), so no SHA-256 of the file, and only the encoder's projection
    // is read from the weights.
    let built_in: &'static [u8] = bytes.clone().leak();
    g.bench_function("model load for encoding (built in)", |b| {
        b.iter(|| {
            let model = Model::from_trusted_bytes(black_box(built_in), &device).unwrap();
            assert!(model.cpu_encoder().is_some());
            model
        })
    });
    // As `walloc decode` loads them: the networks built from the weights, read in place.
    g.bench_function("model load for decoding (built in)", |b| {
        b.iter(|| {
            let model = Model::from_trusted_bytes(black_box(built_in), &device).unwrap();
            model.codec();
            model
        })
    });
    // Paid once per process, at its first decode: the decoder's weights into Winograd form.
    g.bench_function("decoder layout", |b| {
        b.iter(|| CpuDecoder::new(black_box(&model.codec().decoder), &model.config).unwrap())
    });
    g.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
