//! Every crash the fuzz targets (fuzz/, docs/robustness.md) found, kept as a regression
//! test: the inputs they crashed on (tests/data/fuzz) and the smallest case of each bug.

use burn::tensor::Device;
use walloc_core::container::{
    self, AudioMeta, FormatError, Header, ImageMeta, Limits, SampleFormat, SignalMeta,
};
use walloc_core::model_file::Model;
use walloc_core::pipeline::PcmAudio;

fn data(rel: &str) -> Vec<u8> {
    std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap()
}

/// A `.wl` header with the given latent shape and nothing after the payload length.
fn header_with_latent(shape: [u32; 3]) -> Vec<u8> {
    let mut b = container::MAGIC.to_vec();
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(&[0; 16]);
    for v in shape {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(&8u64.to_le_bytes());
    b.extend_from_slice(&[0; 16]);
    b
}

/// wl_container and decode_full: the product of the three u32 latent dimensions
/// overflowed u64 (a panic with overflow checks, and without them a wrapped product that
/// could slip under the latent limit: 2^31 · 2^31 · 4 wrapped to 0). It saturates now.
#[test]
fn a_latent_shape_whose_product_overflows_is_too_large() {
    let limits = Limits::default();
    for shape in [[1 << 31, 1 << 31, 4], [u32::MAX; 3]] {
        let bytes = header_with_latent(shape);
        assert_eq!(
            container::read_header(&bytes, &limits).unwrap_err(),
            FormatError::TooLarge {
                what: "latent size (values)",
                value: u64::MAX,
                limit: limits.max_latent_values,
            }
        );
        let header = Header {
            version: walloc_core::container::FORMAT_VERSION,
            model_id: [0; 16],
            signal: SignalMeta::Image(ImageMeta {
                width: 1,
                height: 1,
                channels: 3,
                bit_depth: 8,
                pad_left: 0,
                pad_top: 0,
            }),
            latent_shape: shape,
        };
        assert_eq!(header.latent_values(), u64::MAX);
    }
    // The fuzzers' own inputs.
    for file in [
        "tests/data/fuzz/wl_container-latent-overflow.wl",
        "tests/data/fuzz/decode_full-latent-overflow.wl",
    ] {
        assert!(
            matches!(
                container::read(&data(file), &limits),
                Err(FormatError::TooLarge {
                    what: "latent size (values)",
                    ..
                })
            ),
            "{file}"
        );
    }
}

/// wav_input: float audio whose peak is a denormal made the gain 0.5 / peak overflow to
/// infinity, and encoding failed with an internal header error (the fuzzer's input is
/// tests/data/fuzz/wav_input-denormal-float.wav, replayed in cli/tests/fuzz_findings.rs).
/// The same code overflowed the other way on finite samples near ±f32::MAX (x − mean
/// to infinity, so a gain of 0). Samples beyond [−1, 1] are now clamped, as decoding
/// clamps them, and a gain that overflows is 1 (the audio is silence).
#[test]
fn float_audio_beyond_full_scale_encodes_as_clamped() {
    let model = Model::from_bytes(
        &data("../tests/data/models/tiny-audio.wlm"),
        &Device::flex(),
    )
    .unwrap();
    let limits = Limits::default();
    let frames = 600;
    // Mostly +3e38: the mean is about 1e38, and −3e38 − mean overflows f32.
    let wild: Vec<f32> = (0..frames)
        .map(|i| match i % 4 {
            0 | 1 => 3.0e38,
            2 => -3.0e38,
            _ => (i as f32 / frames as f32) - 0.5,
        })
        .collect();
    let audio = |plane: &Vec<f32>| PcmAudio {
        sample_rate: 48_000,
        format: SampleFormat::Float32,
        planes: vec![plane.clone(), plane.iter().map(|v| v * 0.5).collect()],
    };
    let loud = audio(&wild);
    let clamped = PcmAudio {
        planes: loud
            .planes
            .iter()
            .map(|p| p.iter().map(|v| v.clamp(-1.0, 1.0)).collect())
            .collect(),
        ..loud.clone()
    };
    let bytes = model.encode_audio(&loud, &limits).unwrap();
    assert_eq!(bytes, model.encode_audio(&clamped, &limits).unwrap());
    let back = model.decode_audio(&bytes, &limits).unwrap();
    assert_eq!(back.planes.len(), 2);
    assert!(back.planes.iter().all(|p| p.len() == frames));
    let header = container::read_header(&bytes, &limits).unwrap();
    let SignalMeta::Audio(AudioMeta { gain, .. }) = header.signal else {
        panic!("audio")
    };
    assert!(gain.is_finite() && gain > 0.0);
    // Vanishingly quiet audio, whose gain would overflow, encodes as silence.
    let quiet: Vec<f32> = (0..frames)
        .map(|i| if i % 2 == 0 { 1.0e-45 } else { -1.0e-45 })
        .collect();
    let bytes = model.encode_audio(&audio(&quiet), &limits).unwrap();
    assert!(model.decode_audio(&bytes, &limits).is_ok());
}
