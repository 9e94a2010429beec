//! Wavelet packet transform (bior4.4 = CDF 9/7, periodization), 1D and 2D, J levels.
//!
//! Written once with Burn tensor operations so that training (autodiff, GPU), native
//! decoding and the browser share the same code. Definition (DESIGN.md), per axis of even
//! length N:
//!
//! ```text
//! lo[k] = Σ_t dec_lo[t]·x[(2k+5−t) mod N]        hi[k] likewise with dec_hi
//! x[i]  = Σ_n lo[n]·rec_lo[m] + hi[n]·rec_hi[m],  m ≡ i+4−2n (mod N), 0 ≤ m ≤ 9
//! ```
//!
//! which is `pywt.dwt(x, 'bior4.4', mode='periodization')`. The modulo wraps fully, so
//! short axes (N < 10, deep levels) stay perfectly invertible. The analysis is a stride-2
//! convolution over a circularly padded signal; the synthesis is a stride-2 transposed
//! convolution over circularly padded subbands. The circular padding is a gather with
//! indices taken mod N, which is what makes the wrap "full" for any N.
//!
//! Channel layout: each level splits every channel into subbands, the new index going
//! last. In 2D a channel c becomes `c·4 + f` with f = 0 LL, 1 (low along W, high along H),
//! 2 (high W, low H), 3 HH; after J levels channel `((c·4+f1)·4+f2)…·4+fJ` with f1 the
//! first split. In 1D `c·2 + f`, f = 0 low, 1 high.

use burn::tensor::module::{conv_transpose2d, conv2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Device, Int, Tensor, TensorData};

/// Taps of the bior4.4 filters (PyWavelets' `Wavelet('bior4.4')`).
pub const DEC_LO: [f32; 10] = [
    0.0,
    0.037_828_455,
    -0.023_849_465,
    -0.110_624_404,
    0.377_402_86,
    0.852_698_7,
    0.377_402_86,
    -0.110_624_404,
    -0.023_849_465,
    0.037_828_455,
];
pub const DEC_HI: [f32; 10] = [
    0.0,
    -0.064_538_88,
    0.040_689_42,
    0.418_092_28,
    -0.788_485_6,
    0.418_092_28,
    0.040_689_42,
    -0.064_538_88,
    0.0,
    0.0,
];
pub const REC_LO: [f32; 10] = [
    0.0,
    -0.064_538_88,
    -0.040_689_42,
    0.418_092_28,
    0.788_485_6,
    0.418_092_28,
    -0.040_689_42,
    -0.064_538_88,
    0.0,
    0.0,
];
pub const REC_HI: [f32; 10] = [
    0.0,
    -0.037_828_455,
    -0.023_849_465,
    0.110_624_404,
    0.377_402_86,
    -0.852_698_7,
    0.377_402_86,
    0.110_624_404,
    -0.023_849_465,
    -0.037_828_455,
];

const TAPS: usize = 10;
/// Samples of circular context the analysis needs on each side: x[2k−4 ..= 2k+5].
const ANALYSIS_PAD: usize = 4;
/// Subband samples of circular context the synthesis needs on each side.
const SYNTHESIS_PAD: usize = 3;

/// The two spatial axes of a `[batch, channels, height, width]` tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Axis {
    Height = 2,
    Width = 3,
}

/// Forward 2D packet transform: `[B, C, H, W]` → `[B, C·4^J, H/2^J, W/2^J]`.
///
/// Panics if H or W is not a multiple of 2^J: callers pad first (see the codec pipelines).
pub fn wpt2d(x: Tensor<4>, levels: usize) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    assert_divisible("height", h, levels);
    assert_divisible("width", w, levels);
    (0..levels).fold(x, |x, _| split2d(x))
}

/// Inverse of [`wpt2d`]: `[B, C·4^J, h, w]` → `[B, C, h·2^J, w·2^J]`.
pub fn iwpt2d(y: Tensor<4>, levels: usize) -> Tensor<4> {
    let [_, c, _, _] = y.dims();
    assert!(
        c % 4usize.pow(levels as u32) == 0,
        "{c} channels is not a multiple of 4^{levels}"
    );
    (0..levels).fold(y, |y, _| merge2d(y))
}

/// Forward 1D packet transform: `[B, C, N]` → `[B, C·2^J, N/2^J]`.
pub fn wpt1d(x: Tensor<3>, levels: usize) -> Tensor<3> {
    let [b, c, n] = x.dims();
    assert_divisible("length", n, levels);
    let y = (0..levels).fold(x.reshape([b, c, 1, n]), |x, _| split1d(x));
    let [_, c, _, n] = y.dims();
    y.reshape([b, c, n])
}

/// Inverse of [`wpt1d`]: `[B, C·2^J, n]` → `[B, C, n·2^J]`.
pub fn iwpt1d(y: Tensor<3>, levels: usize) -> Tensor<3> {
    let [b, c, n] = y.dims();
    assert!(
        c % (1usize << levels) == 0,
        "{c} channels is not a multiple of 2^{levels}"
    );
    let x = (0..levels).fold(y.reshape([b, c, 1, n]), |y, _| merge1d(y));
    let [_, c, _, n] = x.dims();
    x.reshape([b, c, n])
}

fn assert_divisible(what: &str, n: usize, levels: usize) {
    assert!(
        n > 0 && n % (1usize << levels) == 0,
        "{what} {n} is not a positive multiple of 2^{levels}"
    );
}

/// One 2D level: width first, then height; channel c becomes c·4 + 2·(W high) + (H high).
fn split2d(x: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    let by_w = analysis(x.reshape([b * c, 1, h, w]), Axis::Width); // [bc, 2, h, w/2]
    let by_h = analysis(by_w.reshape([b * c * 2, 1, h, w / 2]), Axis::Height); // [bc2, 2, h/2, w/2]
    by_h.reshape([b, c * 4, h / 2, w / 2])
}

fn merge2d(y: Tensor<4>) -> Tensor<4> {
    let [b, c4, h, w] = y.dims();
    let c = c4 / 4;
    let by_h = synthesis(y.reshape([b * c * 2, 2, h, w]), Axis::Height); // [bc2, 1, 2h, w]
    let by_w = synthesis(by_h.reshape([b * c, 2, 2 * h, w]), Axis::Width); // [bc, 1, 2h, 2w]
    by_w.reshape([b, c, 2 * h, 2 * w])
}

/// One 1D level on a `[B, C, 1, N]` tensor.
fn split1d(x: Tensor<4>) -> Tensor<4> {
    let [b, c, _, n] = x.dims();
    analysis(x.reshape([b * c, 1, 1, n]), Axis::Width).reshape([b, c * 2, 1, n / 2])
}

fn merge1d(y: Tensor<4>) -> Tensor<4> {
    let [b, c2, _, n] = y.dims();
    let c = c2 / 2;
    synthesis(y.reshape([b * c, 2, 1, n]), Axis::Width).reshape([b, c, 1, 2 * n])
}

/// `[M, 1, H, W]` → `[M, 2, ·, ·]` (low, high), halving `axis`.
fn analysis(x: Tensor<4>, axis: Axis) -> Tensor<4> {
    let device = x.device();
    let n = x.dims()[axis as usize];
    let padded = circular_pad(x, axis, ANALYSIS_PAD, ANALYSIS_PAD);
    // Cross-correlation with reversed taps computes Σ_t dec[t]·x[2k+5−t].
    let rev = |f: &[f32; TAPS]| {
        let mut r = *f;
        r.reverse();
        r
    };
    let weight = kernel(&[rev(&DEC_LO), rev(&DEC_HI)], axis, &device, [2, 1]);
    let stride = match axis {
        Axis::Height => [2, 1],
        Axis::Width => [1, 2],
    };
    let y = conv2d(
        padded,
        weight,
        None,
        ConvOptions::new(stride, [0, 0], [1, 1], 1),
    );
    debug_assert_eq!(y.dims()[axis as usize], n / 2);
    y
}

/// `[M, 2, h, w]` (low, high) → `[M, 1, ·, ·]`, doubling `axis`.
fn synthesis(y: Tensor<4>, axis: Axis) -> Tensor<4> {
    let device = y.device();
    let padded = circular_pad(y, axis, SYNTHESIS_PAD, SYNTHESIS_PAD);
    // The transposed convolution scatters sub[n']·rec[j] to position 2n'+j. With
    // n' = n + 3 that is output i + 4 + 6 for i = 2n + j − 4: cropping 10 on each side
    // leaves exactly the N periodic outputs.
    let weight = kernel(&[REC_LO, REC_HI], axis, &device, [2, 1]);
    let crop = 4 + 2 * SYNTHESIS_PAD;
    let (stride, padding) = match axis {
        Axis::Height => ([2, 1], [crop, 0]),
        Axis::Width => ([1, 2], [0, crop]),
    };
    conv_transpose2d(
        padded,
        weight,
        None,
        ConvTransposeOptions::new(stride, padding, [0, 0], [1, 1], 1),
    )
}

/// A `[d0, d1, 10, 1]` or `[d0, d1, 1, 10]` kernel holding `filters` along `axis`.
fn kernel(filters: &[[f32; TAPS]; 2], axis: Axis, device: &Device, dims: [usize; 2]) -> Tensor<4> {
    let data: Vec<f32> = filters.iter().flatten().copied().collect();
    let shape = match axis {
        Axis::Height => [dims[0], dims[1], TAPS, 1],
        Axis::Width => [dims[0], dims[1], 1, TAPS],
    };
    Tensor::from_data(TensorData::new(data, shape), device)
}

/// Pads `axis` circularly: output index p holds input index (p − before) mod N. Taking the
/// index mod N (rather than copying a slice) wraps as many times as needed when N is
/// smaller than the padding.
fn circular_pad(x: Tensor<4>, axis: Axis, before: usize, after: usize) -> Tensor<4> {
    let n = x.dims()[axis as usize];
    let indices: Vec<i64> = (0..n + before + after)
        .map(|p| ((p + n * before - before) % n) as i64)
        .collect();
    let len = indices.len();
    let indices = Tensor::<1, Int>::from_data(TensorData::new(indices, [len]), &x.device());
    x.select(axis as usize, indices)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device() -> Device {
        Device::flex()
    }

    /// A deterministic pseudo-random signal (splitmix64), in [-1, 1).
    fn noise(len: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..len)
            .map(|_| {
                s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = s;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                z ^= z >> 31;
                (z >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_into_vec::<f32>().expect("f32 tensor")
    }

    #[test]
    fn inverse_2d_undoes_forward_for_1_to_4_levels() {
        let dev = device();
        for levels in 1..=4 {
            // Non-square, two images, three channels; at J = 4 the last level has length 2.
            let shape = [2, 3, 2 << levels, 3 << levels];
            let len = shape.iter().product();
            let x = noise(len, levels as u64);
            let t = Tensor::<4>::from_data(TensorData::new(x.clone(), shape), &dev);
            let y = wpt2d(t, levels);
            assert_eq!(
                y.dims(),
                [2, 3 << (2 * levels), shape[2] >> levels, shape[3] >> levels]
            );
            let back = values(iwpt2d(y, levels));
            let err = max_abs_diff(&x, &back);
            assert!(err < 1e-5, "J={levels}: max error {err}");
        }
    }

    #[test]
    fn inverse_1d_undoes_forward_for_1_to_8_levels() {
        let dev = device();
        for levels in 1..=8 {
            let shape = [2, 2, 3 << levels];
            let x = noise(shape.iter().product(), 100 + levels as u64);
            let t = Tensor::<3>::from_data(TensorData::new(x.clone(), shape), &dev);
            let y = wpt1d(t, levels);
            assert_eq!(y.dims(), [2, 2 << levels, 3]);
            let back = values(iwpt1d(y, levels));
            let err = max_abs_diff(&x, &back);
            assert!(err < 1e-5, "J={levels}: max error {err}");
        }
    }

    /// Pins which packet holds which subband: a constant image has energy only in the
    /// all-low packet, a signal varying along one axis only in the matching subband.
    #[test]
    fn channel_layout_puts_subbands_where_documented() {
        let dev = device();
        let (h, w) = (8, 8);
        // Channel 0 constant, channel 1 alternates along width, channel 2 along height.
        let mut data = vec![0.0f32; 3 * h * w];
        for i in 0..h {
            for j in 0..w {
                data[i * w + j] = 1.0;
                data[h * w + i * w + j] = if j % 2 == 0 { 1.0 } else { -1.0 };
                data[2 * h * w + i * w + j] = if i % 2 == 0 { 1.0 } else { -1.0 };
            }
        }
        let x = Tensor::<4>::from_data(TensorData::new(data, [1, 3, h, w]), &dev);
        let y = wpt2d(x, 2);
        let [_, c, hh, ww] = y.dims();
        assert_eq!(c, 48);
        let energy: Vec<f32> = values(y)
            .chunks(hh * ww)
            .map(|ch| ch.iter().map(|v| v * v).sum())
            .collect();
        let hot: Vec<usize> = (0..c).filter(|&k| energy[k] > 1e-6).collect();
        // Constant → LL of LL: (0·4 + 0)·4 + 0 = 0.
        // Alternating along W is high along W at level 1 (f1 = 2); its level-1 output is
        // constant, so level 2 puts it in LL (f2 = 0): (1·4 + 2)·4 + 0 = 24.
        // Alternating along H: f1 = 1, f2 = 0: (2·4 + 1)·4 + 0 = 36.
        assert_eq!(hot, vec![0, 24, 36], "energies: {energy:?}");
    }

    #[test]
    fn one_dimensional_layout_puts_high_band_second() {
        let dev = device();
        let data: Vec<f32> = (0..16)
            .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        let x = Tensor::<3>::from_data(TensorData::new(data, [1, 1, 16]), &dev);
        let y = values(wpt1d(x, 2)); // 4 channels of 4
        let energy: Vec<f32> = y.chunks(4).map(|c| c.iter().map(|v| v * v).sum()).collect();
        // High at level 1 (f1 = 1), then constant → low at level 2: 1·2 + 0 = 2.
        let hot: Vec<usize> = (0..4).filter(|&k| energy[k] > 1e-6).collect();
        assert_eq!(hot, vec![2], "energies: {energy:?}");
    }
}
