//! Limits against hostile sizes: a header that claims a giant signal, a payload far too
//! short for the latent its header claims, and a model file over the size limit all fail
//! with a typed error before anything of that size is allocated.

mod support;

use burn::tensor::Device;
use support::Rng;
use walloc_core::container::{
    self, AudioMeta, FormatError, Header, ImageMeta, Limits, SampleFormat, SignalMeta, WlFile,
};
use walloc_core::entropy::{self, EntropyError, PlaneShape, SymbolTable};
use walloc_core::model_file::{Model, ModelError};
use walloc_core::pipeline::CodecError;

fn tiny_image_model_bytes() -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/data/models/tiny-image.wlm"),
    )
    .unwrap()
}

fn image_header(model_id: [u8; 16], width: u32, height: u32, latent: [u32; 3]) -> Header {
    Header {
        version: walloc_core::container::FORMAT_VERSION,
        model_id,
        signal: SignalMeta::Image(ImageMeta {
            width,
            height,
            channels: 3,
            bit_depth: 8,
            pad_left: 0,
            pad_top: 0,
        }),
        latent_shape: latent,
    }
}

/// 100 000 × 100 000 pixels is refused from the header alone: the error names the
/// quantity, its value and the limit.
#[test]
fn a_header_claiming_100000_by_100000_pixels_is_refused() {
    let bytes = WlFile {
        header: image_header([1; 16], 100_000, 100_000, [12, 12_500, 12_500]),
        payload: vec![0; 8],
    }
    .to_bytes()
    .unwrap();
    // The latent claims 1.9 · 10^9 values, over its own limit too; the pixels are checked
    // with a latent limit that lets the latent through.
    let limits = Limits {
        max_latent_values: u64::MAX,
        ..Limits::default()
    };
    for result in [
        container::read_header(&bytes, &limits),
        container::read(&bytes, &limits).map(|f| f.header),
    ] {
        let err = result.unwrap_err();
        assert_eq!(
            err,
            FormatError::TooLarge {
                what: "image size (pixels)",
                value: 10_000_000_000,
                limit: 1 << 28,
            }
        );
        assert_eq!(
            err.to_string(),
            "image size (pixels) 10000000000 exceeds the limit of 268435456"
        );
    }
    // Through a model's decoder, the same error.
    let model = Model::from_bytes(&tiny_image_model_bytes(), &Device::flex()).unwrap();
    let bytes = WlFile {
        header: image_header(model.id, 100_000, 100_000, [4, 12_500, 12_500]),
        payload: vec![0; 8],
    }
    .to_bytes()
    .unwrap();
    assert!(matches!(
        model.decode_image(&bytes, &Limits::default()),
        Err(CodecError::Format(FormatError::TooLarge {
            what: "image size (pixels)",
            ..
        }))
    ));
}

/// Audio frame and channel counts are checked against their own limits.
#[test]
fn audio_frames_and_channels_have_limits() {
    let file = |frames: u64, channels: u16| WlFile {
        header: Header {
            version: walloc_core::container::FORMAT_VERSION,
            model_id: [2; 16],
            signal: SignalMeta::Audio(AudioMeta {
                sample_rate: 48_000,
                frames,
                channels,
                format: SampleFormat::Int(16),
                pad_left: 0,
                gain: 1.0,
                means: vec![0.0; usize::from(channels)],
            }),
            latent_shape: [4, 1, 16],
        },
        payload: vec![0; 8],
    };
    let limits = Limits::default();
    let long = file(limits.max_frames + 1, 2).to_bytes().unwrap();
    assert!(matches!(
        container::read(&long, &limits),
        Err(FormatError::TooLarge {
            what: "audio length (frames)",
            ..
        })
    ));
    let wide = file(1000, 17).to_bytes().unwrap();
    assert!(matches!(
        container::read(&wide, &limits),
        Err(FormatError::TooLarge {
            what: "audio channel count",
            ..
        })
    ));
    let tight = Limits {
        max_frames: 999,
        ..Limits::default()
    };
    assert!(container::read(&file(1000, 2).to_bytes().unwrap(), &tight).is_err());
    assert!(container::read(&file(999, 2).to_bytes().unwrap(), &tight).is_ok());
}

/// A model file over `max_model_bytes` is refused before it is parsed.
#[test]
fn model_files_have_a_size_limit() {
    let bytes = tiny_image_model_bytes();
    let device = Device::flex();
    let tight = Limits {
        max_model_bytes: bytes.len() as u64 - 1,
        ..Limits::default()
    };
    assert_eq!(
        Model::from_bytes_limited(&bytes, &device, &tight).unwrap_err(),
        ModelError::TooLarge {
            size: bytes.len() as u64,
            limit: bytes.len() as u64 - 1
        }
    );
    let exact = Limits {
        max_model_bytes: bytes.len() as u64,
        ..Limits::default()
    };
    assert!(Model::from_bytes_limited(&bytes, &device, &exact).is_ok());
}

/// The most peaked table a model can hold: one symbol has all the mass but the 1 each
/// other symbol must keep.
fn peaked_table(half: i32) -> SymbolTable {
    let k = (2 * half + 1) as u32;
    let mut freqs = vec![1u32; k as usize];
    freqs[half as usize] = (1 << 16) - (k - 1);
    SymbolTable::from_frequencies(-half, freqs).unwrap()
}

/// Payloads the encoder writes are never refused as too short, even for the cheapest
/// symbols there are (the most probable symbol of the most peaked table, everywhere).
#[test]
fn the_payload_floor_accepts_everything_the_encoder_writes() {
    let mut rng = Rng(7);
    for half in [1, 7, 127] {
        let table = peaked_table(half);
        for n in [0usize, 1, 5, 100, 10_000, 1_000_000] {
            let symbols = vec![0i32; n];
            let bytes = entropy::encode(&symbols, std::slice::from_ref(&table), n).unwrap();
            assert_eq!(
                entropy::decode(&bytes, std::slice::from_ref(&table), n).unwrap(),
                symbols,
                "half {half}, {n} symbols in {} bytes",
                bytes.len()
            );
        }
        // With a few other symbols sprinkled in, too.
        let n = 200_000;
        let symbols: Vec<i32> = (0..n)
            .map(|_| {
                if rng.uniform() < 0.001 {
                    (rng.next() % (2 * half as u64 + 1)) as i32 - half
                } else {
                    0
                }
            })
            .collect();
        let bytes = entropy::encode(&symbols, std::slice::from_ref(&table), n).unwrap();
        assert_eq!(
            entropy::decode(&bytes, std::slice::from_ref(&table), n).unwrap(),
            symbols
        );
    }
}

/// A payload of a few words that claims a latent of hundreds of millions of symbols is
/// refused before the decoder allocates or loops over them.
#[test]
fn a_payload_far_too_short_for_its_latent_is_refused() {
    let table = peaked_table(127);
    let shape = PlaneShape {
        channels: 4,
        height: 10_000,
        width: 10_000,
        contexts: 1,
    };
    let tables = vec![table; 4];
    assert_eq!(
        entropy::decode_planes(&[0u8; 64], &tables, &shape),
        Err(EntropyError::CorruptPayload(
            "too short for the number of symbols the header claims"
        ))
    );
    // Through the whole decoder: a 2^28-pixel image (within the default limits) named in
    // a 100-byte file is refused, in either format version.
    let model = Model::from_bytes(&tiny_image_model_bytes(), &Device::flex()).unwrap();
    let s = model.config.stride() as u32;
    let side = 1u32 << 14;
    let header = image_header(
        model.id,
        side,
        side,
        [model.config.latent_dim as u32, side / s, side / s],
    );
    // Version 2: no zero channel, one stream of three words.
    let mut payload = [0u32, 1, 0, 3].map(u32::to_le_bytes).concat();
    payload.extend([0x5A; 12]);
    let v1 = Header {
        version: 1,
        ..header.clone()
    };
    for (header, payload, message) in [
        (
            header,
            payload,
            "a stream is too short for the number of symbols the header claims",
        ),
        (
            v1,
            vec![0x5A; 32],
            "too short for the number of symbols the header claims",
        ),
    ] {
        let bytes = WlFile { header, payload }.to_bytes().unwrap();
        assert!(bytes.len() < 120);
        assert_eq!(
            model.decode_image(&bytes, &Limits::default()).unwrap_err(),
            CodecError::Entropy(EntropyError::CorruptPayload(message))
        );
    }
}
