//! Context-adaptive coding: tables chosen per symbol by the magnitude of its coded
//! neighbours. Round trips, the gain over one table per channel on a source whose scale
//! varies across the plane (as it does in photos), counting, and a golden bitstream that
//! pins the context rule (part of the format).

use proptest::prelude::*;
use walloc_core::entropy::{self, ContextCounts, PlaneShape, SymbolTable};

mod support;
use support::Rng;

/// A Laplacian draw of `scale`, rounded and clipped to ±half.
fn laplace(scale: f64, half: i32, rng: &mut Rng) -> i32 {
    let u = rng.uniform() - 0.5;
    let v = -scale * u.signum() * (1.0 - 2.0 * u.abs()).max(1e-300).ln();
    (v.round() as i32).clamp(-half, half)
}

/// `channels` planes of `h × w` symbols whose scale is large in blobs and small
/// elsewhere: the spatial clustering of activity a photo's latent shows.
fn clustered(channels: usize, h: usize, w: usize, seed: u64) -> Vec<i32> {
    let mut rng = Rng(seed);
    let mut out = Vec::new();
    for c in 0..channels {
        for y in 0..h {
            for x in 0..w {
                let busy = ((x / 8 + y / 6 + c) % 3) == 0;
                out.push(laplace(if busy { 12.0 } else { 0.3 }, 127, &mut rng));
            }
        }
    }
    out
}

fn fitted(symbols: &[i32], shape: &PlaneShape) -> Vec<SymbolTable> {
    let mut counts = ContextCounts::new(shape.channels, shape.contexts, -127, 255);
    counts.add(symbols, shape.height, shape.width).unwrap();
    let flat = vec![vec![1.0 / 255.0; 255]; shape.channels];
    counts.tables(&flat, 16.0).unwrap()
}

#[test]
fn contexts_round_trip_and_beat_one_table_on_clustered_activity() {
    let (channels, h, w) = (2, 96, 128);
    let symbols = clustered(channels, h, w, 7);
    let mut sizes = Vec::new();
    for contexts in [1, 12] {
        let shape = PlaneShape {
            channels,
            height: h,
            width: w,
            contexts,
        };
        let tables = fitted(&symbols, &shape);
        let bytes = entropy::encode_planes(&symbols, &tables, &shape).unwrap();
        assert_eq!(
            entropy::decode_planes(&bytes, &tables, &shape).unwrap(),
            symbols
        );
        let ideal = entropy::ideal_bits_planes(&symbols, &tables, &shape).unwrap();
        assert!((bytes.len() * 8) as f64 <= ideal * 1.01 + 64.0);
        sizes.push(bytes.len());
    }
    assert!(
        (sizes[1] as f64) < 0.9 * sizes[0] as f64,
        "contexts should save over 10% here: {sizes:?}"
    );
}

#[test]
fn one_context_is_the_plain_coder() {
    let symbols = clustered(3, 10, 30, 3);
    let shape = PlaneShape {
        channels: 3,
        height: 10,
        width: 30,
        contexts: 1,
    };
    let tables = fitted(&symbols, &shape);
    assert_eq!(
        entropy::encode_planes(&symbols, &tables, &shape).unwrap(),
        entropy::encode(&symbols, &tables, 300).unwrap()
    );
}

#[test]
fn bad_shapes_and_symbols_are_errors() {
    let symbols = clustered(1, 4, 4, 1);
    let shape = PlaneShape {
        channels: 1,
        height: 4,
        width: 4,
        contexts: 3,
    };
    let tables = fitted(&symbols, &shape);
    // Tables for 3 contexts offered as if there were 2.
    let two = PlaneShape {
        contexts: 2,
        ..shape
    };
    assert!(entropy::encode_planes(&symbols, &tables, &two).is_err());
    assert!(entropy::decode_planes(&[0; 8], &tables, &two).is_err());
    let too_many = PlaneShape {
        contexts: 17,
        ..shape
    };
    assert!(entropy::encode_planes(&symbols, &tables, &too_many).is_err());
    assert!(entropy::encode_planes(&symbols[1..], &tables, &shape).is_err());
    let mut counts = ContextCounts::new(1, 3, -2, 5);
    assert!(
        counts.add(&[0, 1, 9, 0], 2, 2).is_err(),
        "9 is outside −2..=2"
    );
    assert!(
        counts.add(&[0, 1, 2], 2, 2).is_err(),
        "3 symbols for a 2×2 plane"
    );
}

/// Fixed symbols and counts: the bytes must never change, or every `.wl` file made with
/// a context model decodes to garbage (WALLOC_BLESS=1 rewrites the file after an intended
/// format change, which also needs a version bump).
#[test]
fn golden_context_bitstream_is_stable() {
    let (channels, h, w) = (2, 24, 40);
    let symbols = clustered(channels, h, w, 2026);
    let shape = PlaneShape {
        channels,
        height: h,
        width: w,
        contexts: 6,
    };
    let tables = fitted(&symbols, &shape);
    let bytes = entropy::encode_planes(&symbols, &tables, &shape).unwrap();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/entropy-context-golden.bin");
    if std::env::var_os("WALLOC_BLESS").is_some() {
        std::fs::write(&path, &bytes).unwrap();
    }
    let golden = std::fs::read(&path).expect("golden file (WALLOC_BLESS=1 creates it)");
    assert!(
        golden == bytes,
        "the context coder's output changed: this breaks every .wl file"
    );
    assert_eq!(
        entropy::decode_planes(&golden, &tables, &shape).unwrap(),
        symbols
    );
}

proptest! {
    #[test]
    fn any_planes_round_trip(channels in 1usize..3, h in 0usize..9, w in 0usize..9, contexts in 1usize..17, seed: u64) {
        let mut rng = Rng(seed);
        let symbols: Vec<i32> = (0..channels * h * w).map(|_| laplace(4.0, 127, &mut rng)).collect();
        let shape = PlaneShape { channels, height: h, width: w, contexts };
        let mut counts = ContextCounts::new(channels, contexts, -127, 255);
        if h * w > 0 {
            counts.add(&symbols, h, w).unwrap();
        }
        let tables = counts.tables(&vec![vec![1.0; 255]; channels], 1.0).unwrap();
        let bytes = entropy::encode_planes(&symbols, &tables, &shape).unwrap();
        prop_assert_eq!(entropy::decode_planes(&bytes, &tables, &shape).unwrap(), symbols);
    }

    /// Arbitrary payloads decode to in-range symbols or an error, never a panic.
    #[test]
    fn arbitrary_payloads_never_panic(payload in prop::collection::vec(any::<u8>(), 0..300), h in 0usize..12, w in 0usize..12, contexts in 1usize..17) {
        let shape = PlaneShape { channels: 1, height: h, width: w, contexts };
        let tables = ContextCounts::new(1, contexts, -5, 11).tables(&[vec![1.0; 11]], 1.0).unwrap();
        if let Ok(symbols) = entropy::decode_planes(&payload, &tables, &shape) {
            prop_assert_eq!(symbols.len(), h * w);
            prop_assert!(symbols.iter().all(|s| (-5..=5).contains(s)));
        }
    }
}
