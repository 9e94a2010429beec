//! The range coder on known distributions: round trips, size against the information
//! content, arbitrary payloads, and the golden bitstream whose bytes are the format's
//! promise.

use proptest::prelude::*;
use walloc_core::entropy::{self, SymbolTable};

mod support;
use support::Rng;

/// A discretised Laplacian of `scale` over −half..=half.
fn laplace_pmf(scale: f64, half: i32) -> Vec<f64> {
    let p: Vec<f64> = (-half..=half)
        .map(|s| (-(s as f64).abs() / scale).exp())
        .collect();
    let sum: f64 = p.iter().sum();
    p.iter().map(|v| v / sum).collect()
}

/// Draws from a pmf over −half.. by inverting its cumulative sum.
fn sample(pmf: &[f64], half: i32, n: usize, rng: &mut Rng) -> Vec<i32> {
    (0..n)
        .map(|_| {
            let u = rng.uniform();
            let mut acc = 0.0;
            for (i, p) in pmf.iter().enumerate() {
                acc += p;
                if u < acc {
                    return i as i32 - half;
                }
            }
            half
        })
        .collect()
}

#[test]
fn coded_size_is_within_one_percent_of_the_information_content() {
    let half = 127;
    let pmf = laplace_pmf(3.0, half);
    let table = SymbolTable::from_probabilities(-half, &pmf).unwrap();
    let symbols = sample(&pmf, half, 100_000, &mut Rng(42));
    let tables = [table];
    let bytes = entropy::encode(&symbols, &tables, symbols.len()).unwrap();
    let coded = bytes.len() as f64 * 8.0;
    // Against the integer table the coder uses, and against the true distribution.
    let ideal = entropy::ideal_bits(&symbols, &tables, symbols.len()).unwrap();
    let true_bits: f64 = symbols
        .iter()
        .map(|&s| -pmf[(s + half) as usize].log2())
        .sum();
    assert!(
        coded <= ideal * 1.01,
        "coded {coded} bits, ideal {ideal:.0}"
    );
    assert!(
        coded <= true_bits * 1.01,
        "coded {coded} bits, true information {true_bits:.0}"
    );
    assert!(
        coded >= ideal * 0.999,
        "coded {coded} bits below the ideal {ideal:.0}?"
    );
    assert_eq!(
        entropy::decode(&bytes, &tables, symbols.len()).unwrap(),
        symbols
    );
}

#[test]
fn channels_use_their_own_tables() {
    let wide = SymbolTable::from_probabilities(-127, &laplace_pmf(20.0, 127)).unwrap();
    let narrow = SymbolTable::from_probabilities(-127, &laplace_pmf(0.3, 127)).unwrap();
    let mut rng = Rng(3);
    let mut symbols = sample(&laplace_pmf(20.0, 127), 127, 5000, &mut rng);
    symbols.extend(sample(&laplace_pmf(0.3, 127), 127, 5000, &mut rng));
    let tables = [wide.clone(), narrow.clone()];
    let bytes = entropy::encode(&symbols, &tables, 5000).unwrap();
    assert_eq!(entropy::decode(&bytes, &tables, 5000).unwrap(), symbols);
    // The wrong tables cost more bits: the tables really are per channel.
    let swapped = entropy::encode(&symbols, &[narrow, wide], 5000).unwrap();
    assert!(swapped.len() > bytes.len());
}

/// Fixed tables and symbols: the bytes must never change (WALLOC_BLESS=1 rewrites the file
/// after an intended format change, which also needs a format version bump).
#[test]
fn golden_bitstream_is_stable() {
    let tables = [
        SymbolTable::from_probabilities(-127, &laplace_pmf(1.5, 127)).unwrap(),
        SymbolTable::from_probabilities(-127, &laplace_pmf(8.0, 127)).unwrap(),
        SymbolTable::from_frequencies(-2, vec![1000, 20000, 23536, 20000, 1000]).unwrap(),
    ];
    let mut rng = Rng(2025);
    let mut symbols = sample(&laplace_pmf(1.5, 127), 127, 700, &mut rng);
    symbols.extend(sample(&laplace_pmf(8.0, 127), 127, 700, &mut rng));
    symbols.extend((0..700).map(|i| (i % 5) as i32 - 2));
    let bytes = entropy::encode(&symbols, &tables, 700).unwrap();
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/entropy-golden.bin");
    if std::env::var_os("WALLOC_BLESS").is_some() {
        std::fs::write(&path, &bytes).unwrap();
    }
    let golden = std::fs::read(&path).expect("golden file (WALLOC_BLESS=1 creates it)");
    assert!(
        golden == bytes,
        "the range coder's output changed: this breaks every .wl file"
    );
    assert_eq!(entropy::decode(&golden, &tables, 700).unwrap(), symbols);
}

fn table_strategy() -> impl Strategy<Value = SymbolTable> {
    (prop::collection::vec(0.0f64..1.0, 2..40), -50i32..50)
        .prop_map(|(p, min)| SymbolTable::from_probabilities(min, &p).unwrap())
}

proptest! {
    #[test]
    fn any_symbols_round_trip(tables in prop::collection::vec(table_strategy(), 1..4), per in 0usize..200, seed: u64) {
        let mut rng = Rng(seed);
        let symbols: Vec<i32> = tables.iter().flat_map(|t| {
            let n = t.len() as u64;
            (0..per).map(|_| t.min_symbol() + (rng.next() % n) as i32).collect::<Vec<_>>()
        }).collect();
        let bytes = entropy::encode(&symbols, &tables, per).unwrap();
        prop_assert_eq!(entropy::decode(&bytes, &tables, per).unwrap(), symbols);
    }

    /// Arbitrary payloads decode to in-range symbols or an error, never a panic.
    #[test]
    fn arbitrary_payloads_never_panic(payload in prop::collection::vec(any::<u8>(), 0..300), per in 0usize..100, table in table_strategy()) {
        if let Ok(symbols) = entropy::decode(&payload, &[table.clone()], per) {
            prop_assert_eq!(symbols.len(), per);
            prop_assert!(symbols.iter().all(|&s| s >= table.min_symbol() && s <= table.max_symbol()));
        }
    }
}
