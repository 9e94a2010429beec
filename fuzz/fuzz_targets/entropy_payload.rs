//! Entropy decoding of arbitrary payloads behind a valid header: the first bytes choose a
//! model (tiny image or tiny audio), a signal size and the format version (1: one stream;
//! 2: zero-channel map, stream directory, streams; 3: the same with all-zero block flags
//! ahead of each channel), the rest is the payload. Decoding
//! gives symbols inside every table's alphabet, or a typed error; the symbols it gives
//! code and decode back to themselves.
#![no_main]

use libfuzzer_sys::fuzz_target;
use walloc_core::container::{AudioMeta, Header, ImageMeta, SampleFormat, SignalMeta, WlFile};
use walloc_core::entropy::{self, PlaneShape, SymbolTable};
use walloc_core::latent_payload;
use walloc_core::model_file::Model;

fn header(model: &Model, data: &[u8]) -> Header {
    let s = model.config.stride() as u32;
    let b = |i: usize| u32::from(data.get(i).copied().unwrap_or(0));
    let signal = if data[0] & 1 == 0 {
        // Up to 1024 × 256 pixels: latents up to 4 × 32 × 128 with the tiny model.
        let width = 1 + (b(1) | (b(2) & 3) << 8);
        let height = 1 + b(3);
        SignalMeta::Image(ImageMeta {
            width,
            height,
            channels: 1 + (data[0] >> 1 & 3),
            bit_depth: if data[0] & 8 == 0 { 8 } else { 16 },
            pad_left: ((width.div_ceil(s) * s - width) / 2) as u16,
            pad_top: ((height.div_ceil(s) * s - height) / 2) as u16,
        })
    } else {
        let frames = 1 + u64::from(b(1) | b(2) << 8 | (b(3) & 1) << 16);
        let channels = 1 + u16::from(data[0] >> 1 & 7);
        let padded = frames.div_ceil(u64::from(s)) * u64::from(s);
        SignalMeta::Audio(AudioMeta {
            sample_rate: 44_100,
            frames,
            channels,
            format: SampleFormat::Int(16),
            pad_left: ((padded - frames) / 2) as u32,
            gain: 1.0,
            means: vec![0.0; usize::from(channels)],
        })
    };
    let latent_shape = match &signal {
        SignalMeta::Image(m) => [
            model.config.latent_dim as u32,
            m.height.div_ceil(s),
            m.width.div_ceil(s),
        ],
        SignalMeta::Audio(m) => {
            let groups = u32::from(m.channels).div_ceil(model.config.channels as u32);
            [
                groups * model.config.latent_dim as u32,
                1,
                m.frames.div_ceil(u64::from(s)) as u32,
            ]
        }
    };
    Header {
        version: match data[0] >> 6 {
            0 => 3,
            1 => 2,
            _ => 1,
        },
        model_id: model.id,
        signal,
        latent_shape,
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let model = if data[0] & 1 == 0 {
        walloc_fuzz::image_model()
    } else {
        walloc_fuzz::audio_model()
    };
    let header = header(model, data);
    let rest = &data[4..];
    let payload = rest[..rest.len() / 4 * 4].to_vec();
    let bytes = WlFile {
        header: header.clone(),
        payload,
    }
    .to_bytes()
    .expect("a valid header");
    let limits = walloc_fuzz::limits();
    let Ok((_, symbols)) = model.latent_symbols(&bytes, &limits) else {
        return;
    };
    let [c, h, w] = header.latent_shape.map(|v| v as usize);
    assert_eq!(symbols.len(), c * h * w);
    let k = model.contexts;
    let own = model.tables.len() / k;
    let tables: Vec<SymbolTable> = (0..c)
        .flat_map(|ch| {
            model.tables[(ch % own) * k..(ch % own + 1) * k]
                .iter()
                .cloned()
        })
        .collect();
    let max = model.config.max_symbol();
    assert!(symbols.iter().all(|s| (-max..=max).contains(s)));
    let shape = PlaneShape {
        channels: c,
        height: h,
        width: w,
        contexts: k,
    };
    let back = if header.version == 1 {
        let coded = entropy::encode_planes(&symbols, &tables, &shape).expect("decoded symbols code");
        entropy::decode_planes(&coded, &tables, &shape).expect("and decode")
    } else {
        let v = header.version;
        let coded = latent_payload::encode_version(&symbols, &tables, &shape, None, v)
            .expect("decoded symbols code");
        latent_payload::decode_version(&coded, &tables, &shape, v).expect("and decode")
    };
    assert_eq!(back, symbols);
});
