//! Format versions 2 and 3's payload: the zero-channel map and the stream directory
//! around version 1's range coder, and version 3's all-zero block flags. Round trips at
//! every stream count, the claim that a coded channel costs what it did, golden payloads,
//! and every kind of damage to the map and the directory.

use proptest::prelude::*;
use walloc_core::entropy::{self, EntropyError, PlaneShape, SymbolTable};
use walloc_core::latent_payload;

mod support;
use support::Rng;

const HALF: i32 = 15;

/// Six context tables per channel, each a discretised Laplacian wider than the last.
fn tables(channels: usize) -> Vec<SymbolTable> {
    (0..channels * 6)
        .map(|i| {
            let scale = 0.2 + (i % 6) as f64 * 0.7 + (i / 6) as f64 * 0.05;
            let p: Vec<f64> = (-HALF..=HALF)
                .map(|s| (-(s as f64).abs() / scale).exp())
                .collect();
            SymbolTable::from_probabilities(-HALF, &p).unwrap()
        })
        .collect()
}

/// A latent whose channels in `zero` are all zero and whose others are sparse, with a
/// busy patch (so the contexts vary) and at least one nonzero symbol.
fn latent(shape: &PlaneShape, zero: &[usize], seed: u64) -> Vec<i32> {
    let mut rng = Rng(seed);
    let n = shape.height * shape.width;
    let mut symbols = vec![0; shape.channels * n];
    for c in (0..shape.channels).filter(|c| !zero.contains(c)) {
        for i in 0..n {
            let busy = (i % shape.width) < shape.width / 3;
            let u = rng.uniform();
            symbols[c * n + i] = if u < if busy { 0.5 } else { 0.08 } {
                ((rng.uniform() * 9.0) as i32 - 4).clamp(-HALF, HALF)
            } else {
                0
            };
        }
        symbols[c * n + n / 2] = 3;
    }
    symbols
}

fn shape(channels: usize, height: usize, width: usize) -> PlaneShape {
    PlaneShape {
        channels,
        height,
        width,
        contexts: 6,
    }
}

fn words(payload: &[u8]) -> Vec<u32> {
    payload
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

fn bytes(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// What version 1 writes for the channels `kept` of `symbols` alone, with their tables.
fn v1_bytes(symbols: &[i32], t: &[SymbolTable], sh: &PlaneShape, kept: &[usize]) -> Vec<u8> {
    let n = sh.height * sh.width;
    let kept_symbols: Vec<i32> = kept
        .iter()
        .flat_map(|&c| symbols[c * n..(c + 1) * n].iter().copied())
        .collect();
    let kept_tables: Vec<SymbolTable> = kept
        .iter()
        .flat_map(|&c| t[c * 6..(c + 1) * 6].iter().cloned())
        .collect();
    let shape = PlaneShape {
        channels: kept.len(),
        ..*sh
    };
    entropy::encode_planes(&kept_symbols, &kept_tables, &shape).unwrap()
}

#[test]
fn latents_round_trip_at_every_stream_count() {
    let sh = shape(37, 9, 11);
    let t = tables(sh.channels);
    let zero = [0, 1, 5, 17, 31, 32, 36];
    let symbols = latent(&sh, &zero, 7);
    for (streams, version) in [1, 2, 3, 4, 16, 29, 30, 31, 1000]
        .into_iter()
        .flat_map(|s| [(s, 2), (s, 3)])
    {
        let payload =
            latent_payload::encode_version(&symbols, &t, &sh, Some(streams), version).unwrap();
        let w = words(&payload);
        // The map marks exactly the zero channels (37 channels: two words).
        let marked: Vec<usize> = (0..37).filter(|c| w[c / 32] >> (c % 32) & 1 == 1).collect();
        assert_eq!(marked, zero);
        // At most one stream per coded channel.
        assert_eq!(w[2] as usize, streams.min(30), "{streams} streams asked");
        assert_eq!(
            latent_payload::decode_version(&payload, &t, &sh, version).unwrap(),
            symbols,
            "{streams} streams, version {version}"
        );
    }
    // The default count for this small latent: one stream.
    let payload = latent_payload::encode(&symbols, &t, &sh).unwrap();
    assert_eq!(words(&payload)[2], 1);
    assert_eq!(latent_payload::decode(&payload, &t, &sh).unwrap(), symbols);
}

/// Skipping a zero channel does not change how the others are coded: a one-stream payload
/// carries exactly version 1's bytes for the latent without its zero channels.
#[test]
fn a_coded_channel_costs_what_it_cost_in_version_1() {
    let sh = shape(8, 13, 10);
    let t = tables(8);
    let zero = [2, 3, 7];
    let symbols = latent(&sh, &zero, 11);
    let payload = latent_payload::encode_version(&symbols, &t, &sh, Some(1), 2).unwrap();
    let kept: Vec<usize> = (0..8).filter(|c| !zero.contains(c)).collect();
    let v1 = v1_bytes(&symbols, &t, &sh, &kept);
    // Map (1 word), count (1), directory (2), then the stream.
    assert_eq!(payload[16..], v1[..]);
    assert_eq!(words(&payload)[3] as usize * 4, v1.len());
}

/// A latent large enough to be coded on several threads: every stream, in directory
/// order, holds exactly version 1's bytes for its own coded channels, and it decodes.
#[test]
fn parallel_streams_hold_their_own_channels() {
    let sh = shape(24, 100, 100);
    let t = tables(24);
    let zero = [1, 2, 9, 23];
    let symbols = latent(&sh, &zero, 21);
    let payload = latent_payload::encode_version(&symbols, &t, &sh, Some(4), 2).unwrap();
    let w = words(&payload);
    assert_eq!(w[1], 4);
    let firsts: Vec<usize> = (0..4).map(|i| w[2 + 2 * i] as usize).collect();
    // 20 coded channels, five per stream.
    assert_eq!(firsts, [0, 7, 13, 18]);
    let mut at = 10;
    for i in 0..4 {
        let end = firsts.get(i + 1).copied().unwrap_or(24);
        let kept: Vec<usize> = (firsts[i]..end).filter(|c| !zero.contains(c)).collect();
        assert_eq!(kept.len(), 5);
        let v1 = v1_bytes(&symbols, &t, &sh, &kept);
        let len = w[3 + 2 * i] as usize;
        assert_eq!(bytes(&w[at..at + len]), v1, "stream {i}");
        at += len;
    }
    assert_eq!(at, w.len());
    assert_eq!(
        latent_payload::decode_version(&payload, &t, &sh, 2).unwrap(),
        symbols
    );
}

/// A latent of 40 × 50 planes (3 × 4 blocks of 16 × 16, the last row and column
/// partial) whose coded channels are zero outside the blocks in `busy` (block numbers,
/// row-major), and busy inside them.
fn blocky_latent(shape: &PlaneShape, busy: &[&[usize]], seed: u64) -> Vec<i32> {
    let mut rng = Rng(seed);
    let (h, w) = (shape.height, shape.width);
    let mut symbols = vec![0; shape.channels * h * w];
    for (c, blocks) in busy.iter().enumerate() {
        for i in 0..h * w {
            let block = i / w / 16 * w.div_ceil(16) + i % w / 16;
            if blocks.contains(&block) && rng.uniform() < 0.4 {
                symbols[c * h * w + i] = (rng.uniform() * 9.0) as i32 - 4;
            }
        }
    }
    symbols
}

/// Version 3 codes the symbols of the blocks flagged as not all zero and nothing of the
/// others: round trips with busy, one-block and all-zero channels and partial blocks at
/// the right and bottom edges, at no more bits than version 2 where blocks are zero.
#[test]
fn version_3_skips_all_zero_blocks() {
    let sh = shape(4, 40, 50);
    let t = tables(4);
    // Channel 0 busy everywhere, 1 in one block, 2 in the bottom-right (partial) block,
    // 3 all zero.
    let busy: [&[usize]; 4] = [&(0..12).collect::<Vec<_>>(), &[5], &[11], &[]];
    let symbols = blocky_latent(&sh, &busy, 3);
    let stream_words = |version| {
        let payload = latent_payload::encode_version(&symbols, &t, &sh, Some(3), version).unwrap();
        let decoded = latent_payload::decode_version(&payload, &t, &sh, version).unwrap();
        assert_eq!(decoded, symbols, "version {version}");
        let layout = latent_payload::layout(&payload, 4).unwrap();
        assert_eq!(layout.zero_channels(), 1);
        let lens: Vec<usize> = layout.streams.iter().map(|s| s.words.len()).collect();
        lens
    };
    let (v2, v3) = (stream_words(2), stream_words(3));
    // The busy channel pays twelve flags more; the one-block channels no more than their
    // zeros cost (little: zeros among zeros are cheap, which is why flags pay only for
    // large blocks).
    assert!(
        v3[0] >= v2[0] && v3[0] <= v2[0] + 1,
        "busy: {v2:?} → {v3:?}"
    );
    for i in [1, 2] {
        assert!(v3[i] <= v2[i], "channel {i}: {v2:?} → {v3:?}");
    }
    // Flags only, against version 2's symbols: a plane busy nowhere but one block.
    let only = |block: usize| {
        let one = blocky_latent(&shape(1, 40, 50), &[&[block]], 4);
        let sh1 = shape(1, 40, 50);
        let p = latent_payload::encode_version(&one, &t[..6], &sh1, None, 3).unwrap();
        assert_eq!(
            latent_payload::decode_version(&p, &t[..6], &sh1, 3).unwrap(),
            one
        );
        p.len()
    };
    // The same busy block coded, wherever it lies (full or partial): within a few words.
    assert!(only(0).abs_diff(only(5)) <= 8, "{} {}", only(0), only(5));
}

/// A version 3 stream far too short for the blocks its flags claim is refused once the
/// flags are read, before their symbols: two busy 300 × 300 channels cut to one word each.
#[test]
fn version_3_streams_too_short_for_their_flags_are_errors() {
    assert_eq!(
        decode_streams_cut_to_a_word(3),
        Err(EntropyError::CorruptPayload(
            "a stream is too short for the symbols its block flags claim"
        ))
    );
}

/// Decodes, as format `version`, two busy 300 × 300 channels coded in two streams and
/// then cut to their first word each.
fn decode_streams_cut_to_a_word(version: u16) -> Result<Vec<i32>, EntropyError> {
    let big = shape(2, 300, 300);
    let t = tables(2);
    let symbols = latent(&big, &[], 9);
    let w = words(&latent_payload::encode_version(&symbols, &t, &big, Some(2), version).unwrap());
    assert!(
        w[3] > 50 && w[5] > 50,
        "streams of {} and {} words",
        w[3],
        w[5]
    );
    let short = [w[0], 2, 0, 1, 1, 1, w[6], w[7 + w[3] as usize]];
    latent_payload::decode_version(&bytes(&short), &t, &big, version)
}

/// Fixed tables and symbols with all-zero blocks, three streams: version 3's bytes must
/// never change (WALLOC_BLESS=1 rewrites the file after an intended format change).
#[test]
fn golden_version_3_payload_is_stable() {
    let sh = shape(4, 40, 50);
    let t = tables(4);
    let busy: [&[usize]; 4] = [&[0, 1, 2, 6], &[5], &[11], &[]];
    let symbols = blocky_latent(&sh, &busy, 8);
    let payload = latent_payload::encode_with_streams(&symbols, &t, &sh, Some(3)).unwrap();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/latent-payload-v3-golden.bin");
    if std::env::var_os("WALLOC_BLESS").is_some() {
        std::fs::write(&path, &payload).unwrap();
    }
    let golden = std::fs::read(&path).expect("golden file (WALLOC_BLESS=1 creates it)");
    assert!(golden == payload, "the version 3 payload changed");
    assert_eq!(latent_payload::decode(&golden, &t, &sh).unwrap(), symbols);
    // Read as version 2 (no flags), the same bytes are not these symbols.
    assert_ne!(
        latent_payload::decode_version(&golden, &t, &sh, 2).ok(),
        Some(symbols)
    );
}

#[test]
fn an_all_zero_latent_is_a_map_and_an_empty_stream() {
    let sh = shape(40, 6, 7);
    let t = tables(40);
    let symbols = vec![0; 40 * 42];
    let payload = latent_payload::encode(&symbols, &t, &sh).unwrap();
    assert_eq!(words(&payload), [u32::MAX, 0xFF, 1, 0, 0]);
    assert_eq!(latent_payload::decode(&payload, &t, &sh).unwrap(), symbols);
}

/// Streams split the coding work, not the count of channels: two busy channels then six
/// with one symbol each make two streams of one and seven channels, a busy one each, the
/// six nearly empty ones costing less together than a busy one (equal counts would have
/// left both busy channels and two more to the first core).
#[test]
fn streams_share_the_work_not_the_channel_count() {
    let sh = shape(8, 100, 100);
    let t = tables(8);
    let n = 100 * 100;
    let mut symbols = vec![0; 8 * n];
    for (i, s) in symbols[..2 * n].iter_mut().enumerate() {
        *s = (i % 7) as i32 - 3;
    }
    for c in 2..8 {
        symbols[c * n + 37 * c] = 1;
    }
    for version in [2, 3] {
        let payload = latent_payload::encode_version(&symbols, &t, &sh, Some(2), version).unwrap();
        let layout = latent_payload::layout(&payload, 8).unwrap();
        let ranges: Vec<(usize, usize, usize)> = layout
            .streams
            .iter()
            .map(|s| (s.first, s.end, s.coded))
            .collect();
        assert_eq!(ranges, [(0, 1, 1), (1, 8, 7)], "version {version}");
        assert_eq!(
            latent_payload::decode_version(&payload, &t, &sh, version).unwrap(),
            symbols
        );
    }
}

/// Fixed tables and symbols, three streams: the bytes must never change (WALLOC_BLESS=1
/// rewrites the file after an intended format change, which also needs a version bump).
#[test]
fn golden_payload_is_stable() {
    let sh = shape(10, 12, 9);
    let t = tables(10);
    let symbols = latent(&sh, &[0, 4, 9], 5);
    let payload = latent_payload::encode_version(&symbols, &t, &sh, Some(3), 2).unwrap();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/latent-payload-golden.bin");
    if std::env::var_os("WALLOC_BLESS").is_some() {
        std::fs::write(&path, &payload).unwrap();
    }
    let golden = std::fs::read(&path).expect("golden file (WALLOC_BLESS=1 creates it)");
    assert!(golden == payload, "the version 2 payload changed");
    let w = words(&golden);
    // Map: channels 0, 4, 9; three streams from channels 0, 3 and 7 (7 coded channels of
    // about equal work: 2, 3 and 2, each boundary where the work is nearest a third).
    assert_eq!(w[..3], [0b10_0001_0001, 3, 0]);
    assert_eq!([w[4], w[6]], [3, 7]);
    assert_eq!(
        latent_payload::decode_version(&golden, &t, &sh, 2).unwrap(),
        symbols
    );
    // What `walloc info` reads of it.
    let layout = latent_payload::layout(&golden, 10).unwrap();
    assert_eq!(layout.zero_channels(), 3);
    assert!((0..10).all(|c| layout.is_zero(c) == [0, 4, 9].contains(&c)));
    let ranges: Vec<(usize, usize, usize)> = layout
        .streams
        .iter()
        .map(|s| (s.first, s.end, s.coded))
        .collect();
    assert_eq!(ranges, [(0, 3, 2), (3, 7, 3), (7, 10, 2)]);
    assert_eq!(
        layout.streams.iter().map(|s| s.words.len()).sum::<usize>() + 8,
        golden.len() / 4
    );
}

/// Each way the map or the directory can lie is a `CorruptPayload` error (version 2; the
/// map and directory are the same in version 3).
#[test]
fn damaged_maps_and_directories_are_errors() {
    let sh = shape(10, 12, 9);
    let t = tables(10);
    let symbols = latent(&sh, &[0, 4, 9], 5);
    let good = words(&latent_payload::encode_version(&symbols, &t, &sh, Some(3), 2).unwrap());
    let stream_words: usize = [3, 5, 7].iter().map(|&i| good[i] as usize).sum();
    assert_eq!(good.len(), 1 + 1 + 6 + stream_words);
    let damaged = |f: &dyn Fn(&mut Vec<u32>)| {
        let mut w = good.clone();
        f(&mut w);
        latent_payload::decode_version(&bytes(&w), &t, &sh, 2)
    };
    let cases: [(&str, &dyn Fn(&mut Vec<u32>)); 12] = [
        ("empty", &|w| w.clear()),
        ("map only", &|w| w.truncate(1)),
        ("a channel beyond the latent", &|w| w[0] |= 1 << 10),
        ("no streams", &|w| w[1] = 0),
        ("more streams than channels", &|w| w[1] = 11),
        ("a directory cut short", &|w| w.truncate(5)),
        ("stream 0 not at channel 0", &|w| w[2] = 1),
        ("ranges out of order", &|w| w[6] = 2),
        ("a range past the latent", &|w| w[6] = 10),
        ("a stream longer than the payload", &|w| w[7] += 1),
        ("words left over", &|w| w.push(0)),
        ("words in a stream with nothing coded", &|w| {
            // Channels 0 and 4 marked zero, stream 1 (channels 3..7) keeps only 3, 5 and
            // 6; mark them zero too and its words are left without a channel.
            w[0] |= 1 << 3 | 1 << 5 | 1 << 6;
        }),
    ];
    for (what, f) in cases {
        assert!(
            matches!(damaged(f), Err(EntropyError::CorruptPayload(_))),
            "{what}: {:?}",
            damaged(f).map(|_| ())
        );
    }
    // A length that is not whole words.
    let mut b = bytes(&good);
    b.pop();
    assert!(matches!(
        latent_payload::decode_version(&b, &t, &sh, 2),
        Err(EntropyError::CorruptPayload(_))
    ));
    // A stream far too short for its symbols: two channels of 300 × 300, one word each.
    assert_eq!(
        decode_streams_cut_to_a_word(2),
        Err(EntropyError::CorruptPayload(
            "a stream is too short for the number of symbols the header claims"
        ))
    );
}

/// A tables/shape mismatch is refused before any thread codes.
#[test]
fn tables_must_fit_the_shape() {
    let sh = shape(4, 3, 3);
    let symbols = vec![1; 36];
    assert!(matches!(
        latent_payload::encode(&symbols, &tables(3), &sh),
        Err(EntropyError::BadTable(_))
    ));
    assert!(matches!(
        latent_payload::encode(&symbols[1..], &tables(4), &sh),
        Err(EntropyError::ShapeMismatch { .. })
    ));
    let payload = latent_payload::encode(&symbols, &tables(4), &sh).unwrap();
    assert!(matches!(
        latent_payload::decode(&payload, &tables(3), &sh),
        Err(EntropyError::BadTable(_))
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Any damage to a valid payload gives symbols or an error, never a panic, and every
    /// decoded symbol lies in the tables' alphabet.
    #[test]
    fn damaged_payloads_never_panic(at in 0usize..2000, bits in 1u8..=255, cut in 0usize..64) {
        let sh = shape(10, 12, 9);
        let t = tables(10);
        let symbols = latent(&sh, &[0, 4, 9], 5);
        let mut b = latent_payload::encode_with_streams(&symbols, &t, &sh, Some(3)).unwrap();
        let at = at % b.len();
        b[at] ^= bits;
        if let Ok(decoded) = latent_payload::decode(&b, &t, &sh) {
            prop_assert_eq!(decoded.len(), symbols.len());
            prop_assert!(decoded.iter().all(|s| (-HALF..=HALF).contains(s)));
        }
        let keep = b.len().saturating_sub(4 * cut);
        let _ = latent_payload::decode(&b[..keep], &t, &sh);
    }

    /// Random latents with random zero channels round trip at random stream counts.
    #[test]
    fn random_latents_round_trip(channels in 1usize..40, h in 1usize..6, w in 1usize..6,
                                 seed in any::<u64>(), streams in 1usize..50, zero_every in 1usize..5) {
        let sh = shape(channels, h, w);
        let t = tables(channels);
        let zero: Vec<usize> = (0..channels).filter(|c| c % zero_every == 0).collect();
        let symbols = latent(&sh, &zero, seed);
        let payload = latent_payload::encode_with_streams(&symbols, &t, &sh, Some(streams)).unwrap();
        prop_assert_eq!(latent_payload::decode(&payload, &t, &sh).unwrap(), symbols);
    }
}

/// Symbols held in bytes (as an encoder of 8-bit latents holds them) code to the same
/// payload as the same values in 32 bits.
#[test]
fn symbols_in_bytes_code_as_in_32_bits() {
    for (channels, height, width, zero) in [(5, 17, 40, vec![1, 3]), (9, 33, 33, vec![])] {
        let sh = shape(channels, height, width);
        let t = tables(channels);
        let symbols = latent(&sh, &zero, (channels * height) as u64);
        let narrow: Vec<i8> = symbols.iter().map(|&s| i8::try_from(s).unwrap()).collect();
        let wide = latent_payload::encode(&symbols, &t, &sh).unwrap();
        let from_bytes =
            latent_payload::encode_symbols(entropy::Symbols::Bytes(&narrow), &t, &sh).unwrap();
        assert_eq!(from_bytes, wide, "{channels}×{height}×{width}");
        let back = latent_payload::decode(&wide, &t, &sh).unwrap();
        assert_eq!(back, symbols);
    }
}
