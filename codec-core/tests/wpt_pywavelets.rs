//! The packet transform against vectors computed by PyWavelets (`pywt.dwt`, bior4.4,
//! periodization), made by `tests/data/wpt/make_vectors.py`. Both directions are checked:
//! forward(input) = output and inverse(output) = input.

use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};
use walloc_core::wpt::{iwpt1d, iwpt2d, wpt1d, wpt2d};

struct Case {
    dims: Vec<usize>,
    levels: usize,
    input: Vec<f32>,
    output: Vec<f32>,
}

fn load(name: &str) -> Case {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/wpt")
        .join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut words = bytes
        .chunks_exact(4)
        .map(|w| <[u8; 4]>::try_from(w).unwrap());
    let mut u32 = || u32::from_le_bytes(words.next().expect("truncated vector file")) as usize;
    let rank = u32();
    let dims: Vec<usize> = (0..rank).map(|_| u32()).collect();
    let levels = u32();
    let len: usize = dims.iter().product();
    let floats: Vec<f32> = bytes[4 * (rank + 2)..]
        .chunks_exact(4)
        .map(|w| f32::from_le_bytes(w.try_into().unwrap()))
        .collect();
    assert_eq!(floats.len(), 2 * len, "{name}: wrong length");
    Case {
        dims,
        levels,
        input: floats[..len].to_vec(),
        output: floats[len..].to_vec(),
    }
}

/// Max of |a − b| / max(1, |b|): the LL band grows by 2 per 2D level, so an absolute bound
/// would be loose for the small bands and tight for the large.
fn max_rel_error(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / y.abs().max(1.0))
        .fold(0.0, f32::max)
}

fn check_2d(name: &str) {
    let case = load(name);
    let dev = Device::flex();
    let [c, h, w] = <[usize; 3]>::try_from(case.dims.as_slice()).unwrap();
    let x = Tensor::<4>::from_data(TensorData::new(case.input.clone(), [1, c, h, w]), &dev);
    let y = wpt2d(x, case.levels);
    let s = 1 << case.levels;
    assert_eq!(y.dims(), [1, c * s * s, h / s, w / s], "{name}");
    let fwd = y.clone().into_data().try_into_vec::<f32>().unwrap();
    let err = max_rel_error(&fwd, &case.output);
    assert!(
        err < 1e-5,
        "{name}: forward differs from PyWavelets by {err}"
    );
    let inv = iwpt2d(y, case.levels)
        .into_data()
        .try_into_vec::<f32>()
        .unwrap();
    let err = max_rel_error(&inv, &case.input);
    assert!(err < 1e-5, "{name}: inverse error {err}");
}

fn check_1d(name: &str) {
    let case = load(name);
    let dev = Device::flex();
    let [c, n] = <[usize; 2]>::try_from(case.dims.as_slice()).unwrap();
    let x = Tensor::<3>::from_data(TensorData::new(case.input.clone(), [1, c, n]), &dev);
    let y = wpt1d(x, case.levels);
    let s = 1 << case.levels;
    assert_eq!(y.dims(), [1, c * s, n / s], "{name}");
    let fwd = y.clone().into_data().try_into_vec::<f32>().unwrap();
    let err = max_rel_error(&fwd, &case.output);
    assert!(
        err < 1e-5,
        "{name}: forward differs from PyWavelets by {err}"
    );
    let inv = iwpt1d(y, case.levels)
        .into_data()
        .try_into_vec::<f32>()
        .unwrap();
    let err = max_rel_error(&inv, &case.input);
    assert!(err < 1e-5, "{name}: inverse error {err}");
}

#[test]
fn matches_pywavelets_2d_24x40_one_level() {
    check_2d("wpt2d-3x24x40-j1.bin");
}

#[test]
fn matches_pywavelets_2d_24x40_three_levels() {
    check_2d("wpt2d-3x24x40-j3.bin");
}

#[test]
fn matches_pywavelets_2d_256x256() {
    check_2d("wpt2d-1x256x256-j3.bin");
}

#[test]
fn matches_pywavelets_2d_non_square_down_to_length_1() {
    check_2d("wpt2d-2x16x48-j4.bin");
}

#[test]
fn matches_pywavelets_2d_8x8() {
    check_2d("wpt2d-3x8x8-j2.bin");
}

#[test]
fn matches_pywavelets_1d_short_levels() {
    check_1d("wpt1d-2x96-j5.bin");
    check_1d("wpt1d-2x40-j3.bin");
    check_1d("wpt1d-1x12-j2.bin");
}

#[test]
fn matches_pywavelets_1d_eight_levels() {
    check_1d("wpt1d-2x1024-j8.bin");
}
