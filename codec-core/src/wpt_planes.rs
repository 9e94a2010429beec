//! The wavelet packet transform of [`crate::wpt`] on plain `f32` planes, for inference.
//!
//! The tensor version is what training differentiates and runs on GPUs; on a CPU its
//! gathers and convolutions with ten taps and stride two cost more than the decoder's
//! last layers. Here each level is a polyphase filter over whole rows, which the compiler
//! vectorises: the same definition (bior4.4, full periodic wrap for any even length),
//! equal to the tensor version within float rounding (tested), several times faster.
//! The forward transform (encoding only) adds mirrored samples before weighting them and
//! runs all the rows' levels before all the columns'; the inverse (decoding, which must
//! agree everywhere within ±1) keeps the definition's sums tap by tap, level by level.
//!
//! Layout: `[channels, height, width]` row-major, channels as [`crate::wpt`] numbers them.

use alloc::vec;
use alloc::vec::Vec;

use crate::cores::in_parts;
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
    let mosaic = Mosaic {
        channels,
        height,
        width,
        levels,
    };
    mosaic.to_planes(&forward_2d_mosaic(mosaic, |plane, row, out| {
        out.copy_from_slice(&x[(plane * height + row) * width..][..width])
    }))
}

/// [`forward_2d`] of planes whose rows `fill_row(plane, row, out)` writes, each once, as
/// the transform needs them (the caller's own layout, such as an image's interleaved,
/// unpadded samples, is read where it lies, with no planar copy made first), its packets
/// left where the columns' levels put them ([`Mosaic`]) instead of copied out into
/// planes of their own: the encoder reads them there, so an encode does not fault in a
/// second image-sized buffer of floats (docs/performance.md, ninth session).
///
/// Every level splits every band along both axes, and the two axes' filters touch
/// different indices, so the whole transform is the rows' packet transform of all levels
/// followed by the columns' of all levels (the order differs from level by level, so the
/// floats may differ by rounding; only an encoder runs this). Each row's levels stay in
/// the first-level cache; the columns go `LANES` at a time through all their levels in a
/// tile of `height × LANES`, and the last level's tile is written back over the columns
/// it came from. Every value is read and written twice in all, not twice per level: on a
/// 768×512 photo the level-by-level transform moved ≈ 50 MB through the caches for 3
/// levels, this ≈ 18.
pub fn forward_2d_mosaic(
    mosaic: Mosaic,
    fill_row: impl Fn(usize, usize, &mut [f32]) + Sync,
) -> Vec<f32> {
    let Mosaic {
        channels,
        height,
        width,
        levels,
    } = mosaic;
    let (bands, len) = (1usize << levels, channels * height * width);
    assert!(
        height % bands == 0 && width % bands == 0,
        "{height}×{width} cannot be split {levels} times"
    );
    // Rows: every row becomes its 2^levels bands of width/2^levels, in packet order.
    let mut by_w = crate::cores::filled_in_parts(len, width.max(1), len, |first, part| {
        let (mut row, mut next, mut phases) = (vec![0.0; width], vec![0.0; width], Vec::new());
        for (i, out) in part.chunks_exact_mut(width).enumerate() {
            fill_row((first + i) / height, (first + i) % height, &mut row);
            analyse_row_levels(&mut row, &mut next, &mut phases, levels, out);
        }
    });
    if levels == 0 {
        return by_w;
    }
    // Columns: the unit is one width band of one plane, a strip of columns no other unit
    // reads or writes, so the units write their packets back in place.
    let lw = width >> levels;
    let mut units: Vec<(usize, usize)> = (0..channels)
        .flat_map(|c| (0..bands).map(move |bw| (c, bw)))
        .collect();
    let strips = Strips(by_w.as_mut_ptr());
    let strips = &strips;
    crate::cores::in_parts_of_work(&mut units, 1, len, |_, group| {
        let mut tiles = [vec![0.0f32; height * LANES], vec![0.0f32; height * LANES]];
        for &mut (c, bw) in group {
            // Blocks of LANES columns, whose tiles stay in the second-level cache (whole
            // bands at once measured 50% slower); where the band is not a multiple of
            // LANES, the last block overlaps the one before. Columns are transformed
            // independently, so the overlap's columns (read after the block before wrote
            // them back) give wrong values only in lanes that are not written back.
            let n = LANES.min(lw);
            let mut written = 0;
            for j in (0..lw).step_by(LANES).map(|j| j.min(lw - n)) {
                let first = c * height * width + bw * lw + j;
                let [tile, spare] = &mut tiles;
                for (r, row) in tile.chunks_exact_mut(n).take(height).enumerate() {
                    // SAFETY: columns `first..first + n` of every row of this plane lie in
                    // this unit's strip, which no other thread touches.
                    unsafe { strips.read(first + r * width, row) };
                }
                column_levels(height, n, levels, tile, spare);
                let skip = written - j;
                for (r, row) in tile.chunks_exact(n).take(height).enumerate() {
                    // SAFETY: as above.
                    unsafe { strips.write(first + r * width + skip, &row[skip..]) };
                }
                written = j + n;
            }
        }
    });
    by_w
}

/// Where [`forward_2d_mosaic`] leaves the packets of `channels` planes of `height ×
/// width` after `levels` levels: each plane is tiled by its `4^levels` packets as the
/// columns' levels left them, the packet of width band `bw` and height band `bh` (numbered
/// as in [`crate::wpt`]) at rows `bh·lh..` and columns `bw·lw..` of its plane, its rows
/// `width` apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mosaic {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub levels: usize,
}

impl Mosaic {
    /// A packet's height and width.
    pub fn packet_shape(&self) -> (usize, usize) {
        (self.height >> self.levels, self.width >> self.levels)
    }

    /// How many packets: `channels·4^levels`.
    pub fn packets(&self) -> usize {
        self.channels << (2 * self.levels)
    }

    /// Where packet `p` (numbered as [`forward_2d`]'s planes) starts.
    pub fn origin(&self, p: usize) -> usize {
        let per = 1 << (2 * self.levels);
        let (c, q) = (p / per, p % per);
        // The packet number's digits (base 4) are 2·width bit + height bit per level.
        let (bw, bh) = (gather_bits(q >> 1), gather_bits(q));
        let (lh, lw) = self.packet_shape();
        (c * self.height + bh * lh) * self.width + bw * lw
    }

    /// The packets copied out into planes of their own, as [`forward_2d`] gives them.
    pub fn to_planes(&self, mosaic: &[f32]) -> Vec<f32> {
        assert_eq!(mosaic.len(), self.channels * self.height * self.width);
        let (lh, lw) = self.packet_shape();
        let mut planes = Vec::with_capacity(mosaic.len());
        for p in 0..self.packets() {
            let origin = self.origin(p);
            for r in 0..lh {
                planes.extend_from_slice(&mosaic[origin + r * self.width..][..lw]);
            }
        }
        planes
    }
}

/// Columns of planes that threads share out among themselves: each reads and writes
/// only its own columns, through raw copies (no reference to the whole buffer exists
/// while they run).
struct Strips(*mut f32);

// SAFETY: the callers of `read` and `write` keep every thread to columns of its own.
unsafe impl Sync for Strips {}

impl Strips {
    /// Copies `out.len()` values from index `at` into `out`.
    ///
    /// # Safety
    /// `at..at + out.len()` lies in the buffer, and no other thread writes it meanwhile.
    unsafe fn read(&self, at: usize, out: &mut [f32]) {
        unsafe { core::ptr::copy_nonoverlapping(self.0.add(at), out.as_mut_ptr(), out.len()) }
    }

    /// Copies `values` to index `at` on.
    ///
    /// # Safety
    /// `at..at + values.len()` lies in the buffer, and no other thread reads or writes it
    /// meanwhile.
    unsafe fn write(&self, at: usize, values: &[f32]) {
        unsafe { core::ptr::copy_nonoverlapping(values.as_ptr(), self.0.add(at), values.len()) }
    }
}

/// `v`'s even bits, packed: a band index along one axis, from a 2D packet number whose
/// digits (base 4) are 2·width bit + height bit per level.
fn gather_bits(v: usize) -> usize {
    (0..usize::BITS as usize / 2)
        .map(|i| ((v >> (2 * i)) & 1) << i)
        .sum()
}

crate::cores::wide_vectors! {
    /// All `levels` of one row's 1D packet transform, band by band: `row` (its content
    /// spent) and `next` take turns as input and output, the last level writes `out`.
    fn analyse_row_levels(
        row: &mut Vec<f32>,
        next: &mut Vec<f32>,
        phases: &mut Vec<f32>,
        levels: usize,
        out: &mut [f32],
    ) {
        let width = out.len();
        if levels == 0 {
            out.copy_from_slice(row);
        }
        for l in 0..levels {
            let n = width >> l;
            let dst: &mut [f32] = if l + 1 == levels { &mut *out } else { &mut next[..] };
            for (band, o) in row.chunks_exact(n).zip(dst.chunks_exact_mut(n)) {
                let (lo, hi) = o.split_at_mut(n / 2);
                analyse_row(band, phases, lo, hi);
            }
            core::mem::swap(row, next);
        }
    }
}

/// All `levels` down the `n ≤ LANES` columns of `tile` (`height` rows of `n`, its first
/// `height·n` values), `spare` of the same size taking turns with it: each level splits
/// every band of the one before into two, one under the other, so at the end `tile`
/// holds the height bands in order, each `height/2^levels` rows.
fn column_levels(
    height: usize,
    n: usize,
    levels: usize,
    tile: &mut Vec<f32>,
    spare: &mut Vec<f32>,
) {
    for l in 0..levels {
        let h = height >> l;
        for b in 0..1 << l {
            let (lo, hi) = spare[b * h * n..][..h * n].split_at_mut(h / 2 * n);
            analyse_columns(&tile[b * h * n..], h, n, n, lo, hi, n);
        }
        core::mem::swap(tile, spare);
    }
}

/// Inverse of [`forward_2d`]: `channels·4^levels` planes of `height × width` →
/// `channels` planes of `height·2^levels × width·2^levels`, in the same two passes in
/// reverse: down the height per (plane, width band), then along every row, back over the
/// level's input.
pub fn inverse_2d(
    y: Vec<f32>,
    channels: usize,
    height: usize,
    width: usize,
    levels: usize,
) -> Vec<f32> {
    let packets = channels << (2 * levels);
    assert_eq!(y.len(), packets * height * width);
    let (mut data, mut h, mut w) = (y, height, width);
    let mut by_h = vec![0.0f32; if levels > 0 { data.len() } else { 0 }];
    for _ in 0..levels {
        let (h2, w2) = (2 * h, 2 * w);
        // Columns: subbands 2b and 2b + 1 of a group of four (h × w each) become band b,
        // 2h × w, stored as the b-th half of each of the 2h rows of the output plane.
        let src = &data;
        in_parts(&mut by_h, h2 * w2, |first, part| {
            for (i, plane) in part.chunks_exact_mut(h2 * w2).enumerate() {
                let bands = &src[(first + i) * 4 * h * w..][..4 * h * w];
                for b in 0..2 {
                    let lo = &bands[2 * b * h * w..][..h * w];
                    let hi = &bands[(2 * b + 1) * h * w..][..h * w];
                    synthesise_columns(lo, hi, h, w, w2, &mut plane[b * w..]);
                }
            }
        });
        // Rows: [lo | hi] of w each becomes a row of 2w.
        let rows = &by_h;
        in_parts(&mut data, w2, |first, part| {
            synthesise_rows(&rows[first * w2..][..part.len()], w, part)
        });
        h = h2;
        w = w2;
    }
    data
}

crate::cores::wide_vectors! {
    /// [`synthesise_row`] on consecutive `[lo | hi]` rows of `2w`.
    fn synthesise_rows(rows: &[f32], w: usize, out: &mut [f32]) {
        let mut wrapped = Vec::new();
        for (row, o) in rows.chunks_exact(2 * w).zip(out.chunks_exact_mut(2 * w)) {
            let (lo, hi) = row.split_at(w);
            synthesise_row(lo, hi, &mut wrapped, o);
        }
    }
}

/// Outputs computed together: four AVX2 vectors of f32 (eight simd128 ones). Each output
/// is a chain of ten dependent sums; one vector at a time waited on the adder's latency,
/// where four independent chains keep it busy. On a 768×576 image (best of 60, the two
/// builds alternating): forward 5.1 → 4.4 ms, inverse 7.3 → 4.9 ms. 16 lanes made the
/// inverse slower than 8.
const LANES: usize = 32;

/// lo[k] = Σ_t dec_lo[t]·x[(2k+5−t) mod n], hi likewise. The row is first copied with its
/// periodic wrap (4 before, 5 after) and split into its even and odd samples, so that
/// every tap reads a contiguous run for `LANES` consecutive outputs; each output's sum is
/// still taken tap by tap from t = 0, so the values are those of the plain loop.
#[inline(always)]
fn analyse_row(x: &[f32], scratch: &mut Vec<f32>, lo: &mut [f32], hi: &mut [f32]) {
    let n = x.len();
    let m = lo.len();
    // Phases of padded[i] = x[(i + 4n − 4) mod n]: even[j] = padded[2j], odd[j] =
    // padded[2j+1], j < m + 4, then a zero tail that the last partial block may read.
    let len = m + 4 + LANES;
    scratch.clear();
    scratch.resize(2 * len, 0.0);
    let (even, odd) = scratch.split_at_mut(len);
    for (j, pair) in x.chunks_exact(2).enumerate() {
        even[j + 2] = pair[0];
        odd[j + 2] = pair[1];
    }
    for j in [0, 1, m + 2, m + 3] {
        even[j] = x[wrap(2 * j as isize - 4, n)];
        odd[j] = x[wrap(2 * j as isize - 3, n)];
    }
    for (block, (l, h)) in lo.chunks_mut(LANES).zip(hi.chunks_mut(LANES)).enumerate() {
        let k = block * LANES;
        // s[t] = padded[2k+9−t]: an even index for odd t, an odd one for even t.
        let mut at = [0; 10];
        for (t, at) in at.iter_mut().enumerate() {
            *at = if t % 2 == 1 {
                k + (9 - t) / 2
            } else {
                len + k + (8 - t) / 2
            };
        }
        let (mut sl, mut sh) = ([0.0f32; LANES], [0.0f32; LANES]);
        analyse_lanes(scratch, &at, &mut sl, &mut sh);
        l.copy_from_slice(&sl[..l.len()]);
        h.copy_from_slice(&sh[..h.len()]);
    }
}

/// lo[i] = Σ_t dec_lo[t]·s_t[i] and hi[i] likewise, for N lanes (a constant, so that the
/// loop becomes whole vectors), where s_t = x[at[t]..][..N]. Both filters are symmetric
/// (dec_lo about t = 5, dec_hi about t = 4; their other taps are zero), so mirrored
/// samples are added first and each weight multiplies once: 23 operations per pair of
/// outputs instead of 40. The sums' order is fixed here, for every caller, and no
/// multiply-add is fused, so the result is the same on every CPU and in wasm.
#[inline(always)]
fn analyse_lanes<const N: usize>(
    x: &[f32],
    at: &[usize; 10],
    lo: &mut [f32; N],
    hi: &mut [f32; N],
) {
    let s = |t: usize| &x[at[t]..at[t] + N];
    let (s1, s2, s3, s4, s5) = (s(1), s(2), s(3), s(4), s(5));
    let (s6, s7, s8, s9) = (s(6), s(7), s(8), s(9));
    for i in 0..N {
        lo[i] = DEC_LO[5] * s5[i]
            + DEC_LO[4] * (s4[i] + s6[i])
            + DEC_LO[3] * (s3[i] + s7[i])
            + DEC_LO[2] * (s2[i] + s8[i])
            + DEC_LO[1] * (s1[i] + s9[i]);
        hi[i] = DEC_HI[4] * s4[i]
            + DEC_HI[3] * (s3[i] + s5[i])
            + DEC_HI[2] * (s2[i] + s6[i])
            + DEC_HI[1] * (s1[i] + s7[i]);
    }
}

/// `i mod n` in 0..n: a division only where `i` lies outside (at the edges of a
/// periodic wrap), since a division per row of a column block cost more than its sums.
#[inline(always)]
fn wrap(i: isize, n: usize) -> usize {
    if (i as usize) < n {
        i as usize
    } else {
        i.rem_euclid(n as isize) as usize
    }
}

crate::cores::wide_vectors! {
    /// [`analyse_row`] down the columns of an `h × w` plane whose rows lie `stride` apart
    /// in `x`, into `h/2` rows of `w` lying `out_stride` apart in `lo` and `hi`: `LANES`
    /// columns at a time, the ten rows of each tap read into registers, each output
    /// written once.
    fn analyse_columns(
        x: &[f32],
        h: usize,
        w: usize,
        stride: usize,
        lo: &mut [f32],
        hi: &mut [f32],
        out_stride: usize,
    ) {
        for k in 0..h / 2 {
            // Where the ten rows of output row k's taps start.
            let mut rows = [0; 10];
            for (t, row) in rows.iter_mut().enumerate() {
                *row = wrap((2 * k + 5) as isize - t as isize, h) * stride;
            }
            let (l, hh) = (&mut lo[k * out_stride..][..w], &mut hi[k * out_stride..][..w]);
            if w < LANES {
                // A plane narrower than LANES: a lane at a time.
                for i in 0..w {
                    let (l, hh) = (&mut l[i..][..1], &mut hh[i..][..1]);
                    let at = rows.map(|r| r + i);
                    analyse_lanes::<1>(x, &at, l.try_into().unwrap(), hh.try_into().unwrap());
                }
                continue;
            }
            // Whole blocks only (a partial block's loop runs a lane at a time): the last
            // block ends at the row's end, overlapping the one before, whose columns it
            // computes again to the same values.
            for c in (0..w).step_by(LANES).map(|c| c.min(w - LANES)) {
                let (l, hh) = (&mut l[c..][..LANES], &mut hh[c..][..LANES]);
                let mut at = rows;
                for a in &mut at {
                    *a += c;
                }
                analyse_lanes::<LANES>(x, &at, l.try_into().unwrap(), hh.try_into().unwrap());
            }
        }
    }
}

/// x[2j+p] = Σ_q lo[(j+2−q) mod m]·rec_lo[2q+p] + hi[(j+2−q) mod m]·rec_hi[2q+p], m = n/2:
/// the synthesis `x[i] = Σ lo[n]·rec_lo[i+4−2n mod N] + …` split by output parity (for
/// each output and tap exactly one subband index matches, whatever the length). The
/// subbands are first copied with their periodic wrap (2 on each side); `LANES` even and
/// odd outputs are summed in registers, term by term from q = 0 as the plain loop does,
/// and then interleaved.
#[inline(always)]
fn synthesise_row(lo: &[f32], hi: &[f32], scratch: &mut Vec<f32>, x: &mut [f32]) {
    let m = lo.len();
    let len = m + 4 + LANES;
    scratch.clear();
    scratch.resize(2 * len, 0.0);
    let (pl, ph) = scratch.split_at_mut(len);
    pl[2..m + 2].copy_from_slice(lo);
    ph[2..m + 2].copy_from_slice(hi);
    for i in [0, 1, m + 2, m + 3] {
        pl[i] = lo[wrap(i as isize - 2, m)];
        ph[i] = hi[wrap(i as isize - 2, m)];
    }
    for (block, out) in x.chunks_mut(2 * LANES).enumerate() {
        let j = block * LANES;
        let mut v = [[0.0f32; LANES]; 2];
        for q in 0..5 {
            // lo[j+2−q] is pl[j+4−q].
            let (wl, wh) = (&pl[j + 4 - q..][..LANES], &ph[j + 4 - q..][..LANES]);
            for (p, v) in v.iter_mut().enumerate() {
                let (a, b) = (REC_LO[2 * q + p], REC_HI[2 * q + p]);
                for i in 0..LANES {
                    v[i] += wl[i] * a + wh[i] * b;
                }
            }
        }
        for (i, pair) in out.chunks_exact_mut(2).enumerate() {
            pair[0] = v[0][i];
            pair[1] = v[1][i];
        }
    }
}

crate::cores::wide_vectors! {
    /// [`synthesise_row`] down the columns: `h × w` subbands → `2h` rows of `w` lying
    /// `stride` apart in `x`, `LANES` columns at a time in registers. Both rows of an
    /// output pair read the same five rows of each subband, so they are summed together
    /// from one load of each.
    fn synthesise_columns(
        lo: &[f32],
        hi: &[f32],
        h: usize,
        w: usize,
        stride: usize,
        x: &mut [f32],
    ) {
        for j in 0..h {
            let at = |q: usize| wrap((j + 2) as isize - q as isize, h) * w;
            let rows: [(&[f32], &[f32]); 5] =
                core::array::from_fn(|q| (&lo[at(q)..][..w], &hi[at(q)..][..w]));
            let (even, odd) = x[2 * j * stride..].split_at_mut(stride);
            let (even, odd) = (&mut even[..w], &mut odd[..w]);
            let mut c = 0;
            while c < w {
                let lanes = LANES.min(w - c);
                let mut v = [[0.0f32; LANES]; 2];
                for (q, (l, hh)) in rows.iter().enumerate() {
                    if lanes == LANES {
                        let (l, hh) = (&l[c..][..LANES], &hh[c..][..LANES]);
                        for (p, v) in v.iter_mut().enumerate() {
                            let (a, b) = (REC_LO[2 * q + p], REC_HI[2 * q + p]);
                            for i in 0..LANES {
                                v[i] += a * l[i] + b * hh[i];
                            }
                        }
                    } else {
                        for (p, v) in v.iter_mut().enumerate() {
                            let (a, b) = (REC_LO[2 * q + p], REC_HI[2 * q + p]);
                            for i in 0..lanes {
                                v[i] += a * l[c + i] + b * hh[c + i];
                            }
                        }
                    }
                }
                even[c..c + lanes].copy_from_slice(&v[0][..lanes]);
                odd[c..c + lanes].copy_from_slice(&v[1][..lanes]);
                c += lanes;
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

    /// The filters as plain loops, one output at a time with its indices taken straight
    /// from the definition, summed in the order the blocked kernels must keep (analysis:
    /// [`analyse_lanes`] on one lane, itself checked against the tap-by-tap sum): the
    /// kernels give the same bits, so rewriting them for speed cannot move a golden
    /// bitstream.
    fn plain_analysis(x: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let n = x.len();
        let mut lo = vec![0.0f32; n / 2];
        let mut hi = vec![0.0f32; n / 2];
        for k in 0..n / 2 {
            let at: [usize; 10] = core::array::from_fn(|t| (2 * k + 5 + 10 * n - t) % n);
            let (l, h) = (&mut lo[k..k + 1], &mut hi[k..k + 1]);
            analyse_lanes::<1>(x, &at, l.try_into().unwrap(), h.try_into().unwrap());
            // The sum as the definition writes it, tap by tap: the same within rounding.
            let (l, h) = (0..10).fold((0.0f32, 0.0f32), |(l, h), t| {
                (l + DEC_LO[t] * x[at[t]], h + DEC_HI[t] * x[at[t]])
            });
            assert!((l - lo[k]).abs() <= 1e-6 && (h - hi[k]).abs() <= 1e-6);
        }
        (lo, hi)
    }

    /// [`analyse_lanes`] may fold mirrored taps only because the filters are symmetric.
    #[test]
    fn analysis_filters_are_symmetric() {
        for t in 1..10 {
            assert_eq!(DEC_LO[t], DEC_LO[10 - t]);
        }
        for t in 1..8 {
            assert_eq!(DEC_HI[t], DEC_HI[8 - t]);
        }
        assert_eq!([DEC_LO[0], DEC_HI[0], DEC_HI[8], DEC_HI[9]], [0.0; 4]);
    }

    fn plain_synthesis(lo: &[f32], hi: &[f32]) -> Vec<f32> {
        let m = lo.len();
        let mut x = vec![0.0f32; 2 * m];
        for j in 0..m {
            for p in 0..2 {
                for q in 0..5 {
                    let i = (j + 2 + 5 * m - q) % m;
                    x[2 * j + p] += lo[i] * REC_LO[2 * q + p] + hi[i] * REC_HI[2 * q + p];
                }
            }
        }
        x
    }

    #[test]
    fn blocked_kernels_equal_the_plain_loops_bit_for_bit() {
        for n in [2, 4, 6, 10, 16, 18, 34, 100] {
            let x = noise(n, n as u64);
            let (lo, hi) = plain_analysis(&x);
            let (mut l, mut h) = (vec![0.0; n / 2], vec![0.0; n / 2]);
            analyse_row(&x, &mut Vec::new(), &mut l, &mut h);
            assert_eq!((&l, &h), (&lo, &hi), "row analysis, n = {n}");
            let mut back = vec![0.0; n];
            synthesise_row(&lo, &hi, &mut Vec::new(), &mut back);
            assert_eq!(back, plain_synthesis(&lo, &hi), "row synthesis, n = {n}");

            // The same along columns of a plane n high and 13 wide (a partial block).
            let w = 13;
            let plane = noise(n * w, 7 * n as u64);
            let column =
                |p: &[f32], c: usize, h: usize| (0..h).map(|r| p[r * w + c]).collect::<Vec<_>>();
            let (mut l, mut h) = (vec![0.0; n / 2 * w], vec![0.0; n / 2 * w]);
            analyse_columns(&plane, n, w, w, &mut l, &mut h, w);
            let mut x = vec![0.0; n * w];
            synthesise_columns(&l, &h, n / 2, w, w, &mut x);
            for c in 0..w {
                let (lo, hi) = plain_analysis(&column(&plane, c, n));
                assert_eq!(
                    (column(&l, c, n / 2), column(&h, c, n / 2)),
                    (lo.clone(), hi.clone()),
                    "columns, n = {n}"
                );
                assert_eq!(
                    column(&x, c, n),
                    plain_synthesis(&lo, &hi),
                    "column synthesis, n = {n}"
                );
            }
        }
    }

    /// Equal to the tensor transform (the definition PyWavelets pins) both ways, down to
    /// levels where an axis is 2 samples long and the periodic wrap folds many times.
    #[test]
    fn planes_match_the_tensor_transform() {
        let dev = Device::flex();
        // The last two: bands of 45 and 70 columns, whose last block of 32 overlaps the
        // one before (written back in place).
        let sizes = [
            (1, 2, 4),
            (2, 12, 8),
            (3, 24, 40),
            (4, 32, 16),
            (3, 8, 8),
            (3, 16, 360),
            (2, 8, 280),
        ];
        for (levels, h, w) in sizes {
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
