//! The wavelet packet transform of [`crate::wpt`] on plain `f32` planes, for inference.
//!
//! The tensor version is what training differentiates and runs on GPUs; on a CPU its
//! gathers and convolutions with ten taps and stride two cost more than the decoder's
//! last layers. Here each level is a polyphase filter over whole rows, which the compiler
//! vectorises: the same definition (bior4.4, full periodic wrap for any even length),
//! equal to the tensor version within float rounding (tested), several times faster.
//!
//! Layout: `[channels, height, width]` row-major, channels as [`crate::wpt`] numbers them.

use alloc::vec;
use alloc::vec::Vec;

use crate::wpt::{DEC_HI, DEC_LO, REC_HI, REC_LO};

/// Forward 2D packet transform of `channels` planes of `height × width` (multiples of
/// 2^levels) → `channels·4^levels` planes of `height/2^levels × width/2^levels`.
pub fn forward_2d(
    x: Vec<f32>,
    channels: usize,
    height: usize,
    width: usize,
    levels: usize,
) -> Vec<f32> {
    assert_eq!(x.len(), channels * height * width);
    let (mut data, mut h, mut w) = (x, height, width);
    for _ in 0..levels {
        assert!(h % 2 == 0 && w % 2 == 0, "{h}×{w} cannot be split");
        let mut out = vec![0.0f32; data.len()];
        let (hh, hw) = (h / 2, w / 2);
        // Each plane becomes its four subbands, f = 2·(W high) + (H high), contiguous.
        each_plane(&data, h * w, &mut out, 4 * hh * hw, |by_w, plane, bands| {
            by_w.resize(2 * h * hw, 0.0); // [low W | high W], each h × w/2
            let (lo, hi) = by_w.split_at_mut(h * hw);
            for (r, row) in plane.chunks_exact(w).enumerate() {
                analyse_row(row, &mut lo[r * hw..][..hw], &mut hi[r * hw..][..hw]);
            }
            // Then along the height.
            for wb in 0..2 {
                let src = &by_w[wb * h * hw..][..h * hw];
                let (lo, hi) = bands[2 * wb * hh * hw..][..2 * hh * hw].split_at_mut(hh * hw);
                analyse_columns(src, h, hw, lo, hi);
            }
        });
        data = out;
        h = hh;
        w = hw;
    }
    data
}

/// Inverse of [`forward_2d`]: `channels·4^levels` planes of `height × width` →
/// `channels` planes of `height·2^levels × width·2^levels`.
pub fn inverse_2d(
    y: Vec<f32>,
    channels: usize,
    height: usize,
    width: usize,
    levels: usize,
) -> Vec<f32> {
    let packets = channels << (2 * levels);
    assert_eq!(y.len(), packets * height * width);
    let (mut data, mut c, mut h, mut w) = (y, packets, height, width);
    for _ in 0..levels {
        let (c1, h2, w2) = (c / 4, 2 * h, 2 * w);
        let mut out = vec![0.0f32; data.len()];
        // Four subbands of `h × w` become one plane of `2h × 2w`.
        each_plane(
            &data,
            4 * h * w,
            &mut out,
            h2 * w2,
            |scratch, bands, dst| {
                scratch.resize(2 * h2 * w + w2, 0.0);
                let (by_h, row) = scratch.split_at_mut(2 * h2 * w);
                for wb in 0..2 {
                    let lo = &bands[(2 * wb) * h * w..][..h * w];
                    let hi = &bands[(2 * wb + 1) * h * w..][..h * w];
                    synthesise_columns(lo, hi, h, w, &mut by_h[wb * h2 * w..][..h2 * w]);
                }
                let (lo, hi) = by_h.split_at(h2 * w);
                for r in 0..h2 {
                    synthesise_row(&lo[r * w..][..w], &hi[r * w..][..w], row);
                    dst[r * w2..][..w2].copy_from_slice(row);
                }
            },
        );
        data = out;
        c = c1;
        h = h2;
        w = w2;
    }
    data
}

/// Calls `f(scratch, input plane, output plane)` for consecutive planes of `input` and
/// `output` (`in_len` and `out_len` values each). Natively, planes large enough to pay for
/// a thread are shared out among the cores in contiguous runs, each thread with its own
/// scratch buffer; every plane is computed the same way wherever it runs, so the result
/// does not depend on the thread count. In wasm (one thread) they run in order.
fn each_plane<F>(input: &[f32], in_len: usize, output: &mut [f32], out_len: usize, f: F)
where
    F: Fn(&mut Vec<f32>, &[f32], &mut [f32]) + Sync,
{
    let run = |input: &[f32], output: &mut [f32]| {
        let mut scratch = Vec::new();
        let planes = || {
            for (a, b) in input
                .chunks_exact(in_len)
                .zip(output.chunks_exact_mut(out_len))
            {
                f(&mut scratch, a, b);
            }
        };
        crate::cores::with_wide_vectors(planes)
    };
    let planes = input.len() / in_len;
    let threads = crate::cores::threads_for(input.len()).min(planes).max(1);
    let per = planes.div_ceil(threads).max(1);
    let parts = input
        .chunks(per * in_len)
        .zip(output.chunks_mut(per * out_len));
    crate::cores::each_part(parts, |_, (a, b)| run(a, b));
}

/// lo[k] = Σ_t dec_lo[t]·x[(2k+5−t) mod n], hi likewise. The row is first copied with
/// its periodic wrap (4 before, 5 after) so that the inner loop has no modulo.
#[inline(always)]
fn analyse_row(x: &[f32], lo: &mut [f32], hi: &mut [f32]) {
    let n = x.len();
    let padded: Vec<f32> = (0..n + 9).map(|i| x[(i + 4 * n - 4) % n]).collect();
    for (k, (l, h)) in lo.iter_mut().zip(hi.iter_mut()).enumerate() {
        // x[2k+5−t] is padded[2k+9−t].
        let window = &padded[2 * k..2 * k + 10];
        let (mut sl, mut sh) = (0.0f32, 0.0f32);
        for t in 0..10 {
            let v = window[9 - t];
            sl += DEC_LO[t] * v;
            sh += DEC_HI[t] * v;
        }
        *l = sl;
        *h = sh;
    }
}

/// [`analyse_row`] down the columns of an `h × w` plane, a whole row at a time.
#[inline(always)]
fn analyse_columns(x: &[f32], h: usize, w: usize, lo: &mut [f32], hi: &mut [f32]) {
    lo.fill(0.0);
    hi.fill(0.0);
    for k in 0..h / 2 {
        let (l, hh) = (&mut lo[k * w..][..w], &mut hi[k * w..][..w]);
        for t in 0..10 {
            let src = &x[((2 * k + 5 + 10 * h - t) % h) * w..][..w];
            let (a, b) = (DEC_LO[t], DEC_HI[t]);
            for ((l, hh), &v) in l.iter_mut().zip(hh.iter_mut()).zip(src) {
                *l += a * v;
                *hh += b * v;
            }
        }
    }
}

/// x[2j+p] = Σ_q lo[(j+2−q) mod m]·rec_lo[2q+p] + hi[(j+2−q) mod m]·rec_hi[2q+p], m = n/2:
/// the synthesis `x[i] = Σ lo[n]·rec_lo[i+4−2n mod N] + …` split by output parity (for
/// each output and tap exactly one subband index matches, whatever the length). The
/// subbands are first copied with their periodic wrap (2 on each side).
#[inline(always)]
fn synthesise_row(lo: &[f32], hi: &[f32], x: &mut [f32]) {
    let m = lo.len();
    let wrap = |s: &[f32]| -> Vec<f32> { (0..m + 4).map(|i| s[(i + 2 * m - 2) % m]).collect() };
    let (pl, ph) = (wrap(lo), wrap(hi));
    for (j, out) in x.chunks_exact_mut(2).enumerate() {
        // lo[j+2−q] is pl[j+4−q].
        let (wl, wh) = (&pl[j..j + 5], &ph[j..j + 5]);
        for (p, o) in out.iter_mut().enumerate() {
            let mut v = 0.0f32;
            for q in 0..5 {
                v += wl[4 - q] * REC_LO[2 * q + p] + wh[4 - q] * REC_HI[2 * q + p];
            }
            *o = v;
        }
    }
}

/// [`synthesise_row`] down the columns: `h × w` subbands → a `2h × w` plane.
#[inline(always)]
fn synthesise_columns(lo: &[f32], hi: &[f32], h: usize, w: usize, x: &mut [f32]) {
    x.fill(0.0);
    for j in 0..h {
        for p in 0..2 {
            let dst = &mut x[(2 * j + p) * w..][..w];
            for q in 0..5 {
                let n = (j + 2 + 5 * h - q) % h;
                let (a, b) = (REC_LO[2 * q + p], REC_HI[2 * q + p]);
                let (l, hh) = (&lo[n * w..][..w], &hi[n * w..][..w]);
                for ((d, &l), &hv) in dst.iter_mut().zip(l).zip(hh) {
                    *d += a * l + b * hv;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Tensor, TensorData};

    fn noise(len: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..len)
            .map(|_| {
                s = s
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    fn max_diff(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    /// Equal to the tensor transform (the definition PyWavelets pins) both ways, down to
    /// levels where an axis is 2 samples long and the periodic wrap folds many times.
    #[test]
    fn planes_match_the_tensor_transform() {
        let dev = Device::flex();
        for (levels, h, w) in [(1, 2, 4), (2, 12, 8), (3, 24, 40), (4, 32, 16), (3, 8, 8)] {
            let x = noise(3 * h * w, (levels * h * w) as u64);
            let t = Tensor::<4>::from_data(TensorData::new(x.clone(), [1, 3, h, w]), &dev);
            let y_tensor = crate::wpt::wpt2d(t, levels);
            let y_planes = forward_2d(x.clone(), 3, h, w, levels);
            let y_ref = y_tensor.clone().into_data().try_to_vec::<f32>().unwrap();
            let err = max_diff(&y_planes, &y_ref);
            assert!(err < 1e-5, "forward J={levels} {h}×{w}: {err}");
            let (ph, pw) = (h >> levels, w >> levels);
            let back_ref = crate::wpt::iwpt2d(y_tensor, levels)
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            let back = inverse_2d(y_ref, 3, ph, pw, levels);
            let err = max_diff(&back, &back_ref);
            assert!(err < 1e-5, "inverse J={levels} {h}×{w}: {err}");
            assert!(max_diff(&back, &x) < 1e-5);
        }
    }
}
