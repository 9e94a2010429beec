//! The forward transform's filters on 16-bit fixed-point samples, for the image encoder.
//!
//! Why: the filters were a quarter of a `walloc encode`'s CPU time in 32-bit floats. A
//! 16-bit lane holds an 8-bit image's samples with room to spare, a vector holds twice as
//! many of them, and a rounded product of two 16-bit numbers is one instruction
//! (`pmulhrsw`, `i16x8.q15mulr_sat`): the columns' filters ran 2.2 times faster (a row
//! of 744 in L1, 243 → 110 ns), and the rows' buffers take half the memory.
//!
//! Exact integers: every CPU and wasm give the same bits (the float filters kept that
//! by fixing their sums' order and fusing no multiply-add), so an encoder's output
//! stays the same everywhere. The values differ from the float definition's by the
//! filters' rounding, a fraction of an 8-bit step (tested); DESIGN.md lets an encoder
//! differ so, as the only writer of its files.
//!
//! Scale: an 8-bit sample v is `8v − 1020`, i.e. (v/255 − 0.5)·[`ONE`]; the packets of
//! three levels are then at most 15.7 times that (the filters' gains), and no sum or
//! partial sum of the filters can leave 16 bits for any input (tested from the filters'
//! absolute sums, level by level). Three levels at most: each further level
//! could double the largest value.

use alloc::vec::Vec;

use crate::wpt::{DEC_HI, DEC_LO};

/// The fixed-point value of 1.0: samples in [−0.5, 0.5] lie in [−1020, 1020].
pub const ONE: f32 = 2040.0;

/// Levels the encoder may run in fixed point (the bound above).
pub const MAX_LEVELS: usize = 3;

/// A weight in Q15 (its value times 2^15, rounded).
const fn q15(w: f64) -> i16 {
    let v = w * 32768.0;
    (if v >= 0.0 { v + 0.5 } else { v - 0.5 }) as i16
}

/// The analysis filters' distinct taps in Q15 (both are symmetric, as the float filters
/// use: `LO[t]` is dec_lo's tap 5 − t and 5 + t, `HI[t]` dec_hi's 4 − t and 4 + t).
const LO: [i16; 5] = [
    q15(DEC_LO[5] as f64),
    q15(DEC_LO[4] as f64),
    q15(DEC_LO[3] as f64),
    q15(DEC_LO[2] as f64),
    q15(DEC_LO[1] as f64),
];
const HI: [i16; 4] = [
    q15(DEC_HI[4] as f64),
    q15(DEC_HI[3] as f64),
    q15(DEC_HI[2] as f64),
    q15(DEC_HI[1] as f64),
];

/// An 8-bit sample in fixed point.
#[inline(always)]
pub fn from_eight(v: u8) -> i16 {
    8 * i16::from(v) - 1020
}

/// A 16-bit sample in fixed point, rounded: (v/65535 − 0.5)·[`ONE`].
#[inline(always)]
pub fn from_sixteen(v: u16) -> i16 {
    ((u32::from(v) * 4080 + 65535) / 131_070) as i16 - 1020
}

/// Vectors of 16-bit lanes, as the filters use them.
trait Lanes: Copy {
    const N: usize;
    /// # Safety
    /// `p..p + N` is readable; the CPU has the vector's instructions.
    unsafe fn load(p: *const i16) -> Self;
    /// # Safety
    /// `p..p + N` is writable; the CPU has the vector's instructions.
    unsafe fn store(self, p: *mut i16);
    /// Lane by lane, wrapping (the scale keeps every sum inside 16 bits).
    unsafe fn add(self, other: Self) -> Self;
    /// Lane by lane `(a·w + 2^14) >> 15`, w in Q15: the product, rounded.
    unsafe fn mul(self, w: i16) -> Self;
    /// The even and the odd samples of `p..p + 2N`.
    /// # Safety
    /// `p..p + 2N` is readable; the CPU has the vector's instructions.
    unsafe fn split(p: *const i16) -> (Self, Self);
}

/// One lane: the definition every vector follows.
impl Lanes for i16 {
    const N: usize = 1;
    #[inline(always)]
    unsafe fn load(p: *const i16) -> Self {
        unsafe { *p }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut i16) {
        unsafe { *p = self }
    }
    #[inline(always)]
    unsafe fn add(self, other: Self) -> Self {
        self.wrapping_add(other)
    }
    #[inline(always)]
    unsafe fn mul(self, w: i16) -> Self {
        ((i32::from(self) * i32::from(w) + (1 << 14)) >> 15) as i16
    }
    #[inline(always)]
    unsafe fn split(p: *const i16) -> (Self, Self) {
        unsafe { (*p, *p.add(1)) }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use core::arch::x86_64::*;

    #[derive(Clone, Copy)]
    pub struct Avx2(__m256i);
    #[derive(Clone, Copy)]
    pub struct Avx512(__m512i);

    // `pmulhrsw` is the rounded product exactly: ((a·w >> 14) + 1) >> 1.
    impl super::Lanes for Avx2 {
        const N: usize = 16;
        #[inline(always)]
        unsafe fn load(p: *const i16) -> Self {
            Self(unsafe { _mm256_loadu_si256(p.cast()) })
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut i16) {
            unsafe { _mm256_storeu_si256(p.cast(), self.0) }
        }
        #[inline(always)]
        unsafe fn add(self, other: Self) -> Self {
            Self(unsafe { _mm256_add_epi16(self.0, other.0) })
        }
        #[inline(always)]
        unsafe fn mul(self, w: i16) -> Self {
            Self(unsafe { _mm256_mulhrs_epi16(self.0, _mm256_set1_epi16(w)) })
        }
        /// Each 32-bit lane's low half (sign-extended) and high half, packed back to
        /// 16 bits (exactly: they are 16-bit values), with the 64-bit quarters the packs
        /// leave lane by lane put back in order.
        #[inline(always)]
        unsafe fn split(p: *const i16) -> (Self, Self) {
            unsafe {
                let (a, b) = (
                    _mm256_loadu_si256(p.cast()),
                    _mm256_loadu_si256(p.add(16).cast()),
                );
                let low = |v| _mm256_srai_epi32::<16>(_mm256_slli_epi32::<16>(v));
                let even = _mm256_packs_epi32(low(a), low(b));
                let odd =
                    _mm256_packs_epi32(_mm256_srai_epi32::<16>(a), _mm256_srai_epi32::<16>(b));
                let order = |v| _mm256_permute4x64_epi64::<0b11_01_10_00>(v);
                (Self(order(even)), Self(order(odd)))
            }
        }
    }

    impl super::Lanes for Avx512 {
        const N: usize = 32;
        #[inline(always)]
        unsafe fn load(p: *const i16) -> Self {
            Self(unsafe { _mm512_loadu_si512(p.cast()) })
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut i16) {
            unsafe { _mm512_storeu_si512(p.cast(), self.0) }
        }
        #[inline(always)]
        unsafe fn add(self, other: Self) -> Self {
            Self(unsafe { _mm512_add_epi16(self.0, other.0) })
        }
        #[inline(always)]
        unsafe fn mul(self, w: i16) -> Self {
            Self(unsafe { _mm512_mulhrs_epi16(self.0, _mm512_set1_epi16(w)) })
        }
        #[inline(always)]
        unsafe fn split(p: *const i16) -> (Self, Self) {
            unsafe {
                let (a, b) = (
                    _mm512_loadu_si512(p.cast()),
                    _mm512_loadu_si512(p.add(32).cast()),
                );
                let even = _mm512_set_epi16(
                    62, 60, 58, 56, 54, 52, 50, 48, 46, 44, 42, 40, 38, 36, 34, 32, 30, 28, 26, 24,
                    22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0,
                );
                let odd = _mm512_add_epi16(even, _mm512_set1_epi16(1));
                (
                    Self(_mm512_permutex2var_epi16(a, even, b)),
                    Self(_mm512_permutex2var_epi16(a, odd, b)),
                )
            }
        }
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm {
    use core::arch::wasm32::*;

    #[derive(Clone, Copy)]
    pub struct Simd128(v128);

    // `q15mulr_sat` saturates only −32768 · −32768, which no weight is.
    impl super::Lanes for Simd128 {
        const N: usize = 8;
        #[inline(always)]
        unsafe fn load(p: *const i16) -> Self {
            Self(unsafe { v128_load(p.cast()) })
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut i16) {
            unsafe { v128_store(p.cast(), self.0) }
        }
        #[inline(always)]
        unsafe fn add(self, other: Self) -> Self {
            Self(i16x8_add(self.0, other.0))
        }
        #[inline(always)]
        unsafe fn mul(self, w: i16) -> Self {
            Self(i16x8_q15mulr_sat(self.0, i16x8_splat(w)))
        }
        #[inline(always)]
        unsafe fn split(p: *const i16) -> (Self, Self) {
            let (a, b) = unsafe { (v128_load(p.cast()), v128_load(p.add(8).cast())) };
            (
                Self(i16x8_shuffle::<0, 2, 4, 6, 8, 10, 12, 14>(a, b)),
                Self(i16x8_shuffle::<1, 3, 5, 7, 9, 11, 13, 15>(a, b)),
            )
        }
    }
}

/// Both filters on `V::N` lanes: `s[t]` points at the lanes' sample 2k + 5 − t (t in
/// 1..=9), the outputs go to `lo` and `hi`. Mirrored samples are added first (the
/// filters are symmetric), then weighted and summed in this order, as the float filters
/// do ([`crate::wpt_planes`]).
///
/// # Safety
/// Each `s[t]..s[t] + N` is readable, `lo..lo + N` and `hi..hi + N` writable; the CPU has
/// `V`'s instructions.
#[inline(always)]
unsafe fn taps<V: Lanes>(s: &[*const i16; 10], lo: *mut i16, hi: *mut i16) {
    unsafe {
        let [_, s1, s2, s3, s4, s5, s6, s7, s8, s9] = s.map(|p| V::load(p));
        let l = s5
            .mul(LO[0])
            .add(s4.add(s6).mul(LO[1]))
            .add(s3.add(s7).mul(LO[2]))
            .add(s2.add(s8).mul(LO[3]))
            .add(s1.add(s9).mul(LO[4]));
        let h = s4
            .mul(HI[0])
            .add(s3.add(s5).mul(HI[1]))
            .add(s2.add(s6).mul(HI[2]))
            .add(s1.add(s7).mul(HI[3]));
        l.store(lo);
        h.store(hi);
    }
}

/// `lo` and `hi` (rows of one length) from the ten rows `rows[t]` a column's taps read
/// (2k + 5 − t for output row k): two vectors of columns at a time (independent sums
/// keep the adder busy), a lane at a time where a row is narrower, and the last block
/// ending at the row's end, over columns of the one before (the same values again).
///
/// # Safety
/// The CPU has `V`'s instructions.
#[inline(always)]
unsafe fn across<V: Lanes>(rows: &[&[i16]; 10], lo: &mut [i16], hi: &mut [i16]) {
    let w = lo.len();
    assert!(hi.len() == w && rows.iter().all(|r| r.len() >= w));
    let block = 2 * V::N;
    let at = |c: usize| -> [*const i16; 10] { core::array::from_fn(|t| rows[t][c..].as_ptr()) };
    let (lo, hi) = (lo.as_mut_ptr(), hi.as_mut_ptr());
    // SAFETY (all three loops): every column read or written is below w.
    if w < block {
        for c in 0..w {
            unsafe { taps::<i16>(&at(c), lo.add(c), hi.add(c)) };
        }
        return;
    }
    for c in (0..w).step_by(block).map(|c| c.min(w - block)) {
        for c in [c, c + V::N] {
            unsafe { taps::<V>(&at(c), lo.add(c), hi.add(c)) };
        }
    }
}

/// One level of a row: `lo[k]` and `hi[k]` from x[(2k + 5 − t) mod n]. The row is first
/// copied with its periodic wrap (4 before, 5 after) into its even and odd samples, so
/// that each tap reads a contiguous run of the outputs' samples, as the float filters do.
///
/// # Safety
/// The CPU has `V`'s instructions.
#[inline(always)]
unsafe fn one_level<V: Lanes>(x: &[i16], scratch: &mut Vec<i16>, lo: &mut [i16], hi: &mut [i16]) {
    let (n, m) = (x.len(), lo.len());
    assert!(n == 2 * m && hi.len() == m && m > 0);
    let block = 2 * V::N;
    // Phases of padded[i] = x[(i + 4n − 4) mod n]: even[j] = padded[2j], odd[j] =
    // padded[2j + 1], j < m + 4.
    let len = m + 4;
    scratch.resize(2 * len, 0);
    let (even, odd) = scratch.split_at_mut(len);
    // A vector of pairs at a time, the last ending at the row's end over pairs of the
    // one before: the compiler's own loop left up to 31 pairs to a lane at a time, which
    // took as long as the filters.
    let (ev, od) = (even.as_mut_ptr(), odd.as_mut_ptr());
    // SAFETY: every pair read is below n / 2 = m, every place written below m + 2 < len.
    if m < V::N {
        for j in 0..m {
            unsafe {
                let (e, o) = i16::split(x.as_ptr().add(2 * j));
                e.store(ev.add(j + 2));
                o.store(od.add(j + 2));
            }
        }
    } else {
        for j in (0..m).step_by(V::N).map(|j| j.min(m - V::N)) {
            unsafe {
                let (e, o) = V::split(x.as_ptr().add(2 * j));
                e.store(ev.add(j + 2));
                o.store(od.add(j + 2));
            }
        }
    }
    // A division only where the index lies more than a row outside (rows of two or four
    // samples); a division per band was a tenth of the rows' time.
    let wrap = |i: isize| {
        let n = n as isize;
        (if (0..n).contains(&i) {
            i
        } else if (-n..0).contains(&i) {
            i + n
        } else if (n..2 * n).contains(&i) {
            i - n
        } else {
            i.rem_euclid(n)
        }) as usize
    };
    for j in [0, 1, m + 2, m + 3] {
        even[j] = x[wrap(2 * j as isize - 4)];
        odd[j] = x[wrap(2 * j as isize - 3)];
    }
    // Sample 2k + 9 − t of the padded row: an even one for odd t, an odd one for even t.
    let (even, odd) = (even.as_ptr(), odd.as_ptr());
    let at = |k: usize| -> [*const i16; 10] {
        core::array::from_fn(|t| {
            // SAFETY: k + 4 < len for every output k < m.
            unsafe {
                if t % 2 == 1 {
                    even.add(k + (9 - t) / 2)
                } else {
                    odd.add(k + (8 - t) / 2)
                }
            }
        })
    };
    let (lo, hi) = (lo.as_mut_ptr(), hi.as_mut_ptr());
    // SAFETY: as in `across`, every output index is below m and every input below len.
    if m < block {
        for k in 0..m {
            unsafe { taps::<i16>(&at(k), lo.add(k), hi.add(k)) };
        }
        return;
    }
    for k in (0..m).step_by(block).map(|k| k.min(m - block)) {
        for k in [k, k + V::N] {
            unsafe { taps::<V>(&at(k), lo.add(k), hi.add(k)) };
        }
    }
}

/// All `levels` of one row's 1D packet transform, band by band: `row` (its content
/// spent) and `next` take turns as input and output, the last level writes `out`.
///
/// # Safety
/// The CPU has `V`'s instructions.
#[inline(always)]
unsafe fn row_levels<V: Lanes>(
    row: &mut Vec<i16>,
    next: &mut Vec<i16>,
    scratch: &mut Vec<i16>,
    levels: usize,
    out: &mut [i16],
) {
    let width = out.len();
    next.resize(width, 0);
    if levels == 0 {
        out.copy_from_slice(row);
    }
    for l in 0..levels {
        let n = width >> l;
        let dst: &mut [i16] = if l + 1 == levels {
            &mut *out
        } else {
            &mut next[..]
        };
        for (band, o) in row.chunks_exact(n).zip(dst.chunks_exact_mut(n)) {
            let (lo, hi) = o.split_at_mut(n / 2);
            unsafe { one_level::<V>(band, scratch, lo, hi) };
        }
        core::mem::swap(row, next);
    }
}

/// `pub fn name(args) => inner`: `name` runs `inner::<V>(args)` with the widest vectors
/// the CPU has (AVX-512BW, AVX2, wasm's simd128, or one lane), each compiled for them.
macro_rules! widest {
    ($(#[$meta:meta])* pub fn $name:ident($($arg:ident: $ty:ty),* $(,)?) => $inner:ident) => {
        $(#[$meta])*
        pub fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx2")]
                fn avx512($($arg: $ty),*) {
                    // SAFETY: compiled for AVX-512BW, and only called where the CPU has it.
                    unsafe { $inner::<x86::Avx512>($($arg),*) }
                }
                #[target_feature(enable = "avx2")]
                fn avx2($($arg: $ty),*) {
                    // SAFETY: compiled for AVX2, and only called where the CPU has it.
                    unsafe { $inner::<x86::Avx2>($($arg),*) }
                }
                if std::arch::is_x86_feature_detected!("avx512bw") {
                    // SAFETY: the CPU was just found to have AVX-512BW.
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU was just found to have AVX2.
                    return unsafe { avx2($($arg),*) };
                }
            }
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            {
                // SAFETY: the module was built for simd128.
                return unsafe { $inner::<wasm::Simd128>($($arg),*) };
            }
            #[allow(unreachable_code)]
            // SAFETY: one lane needs only the baseline's instructions.
            unsafe {
                $inner::<i16>($($arg),*)
            }
        }
    };
}

widest! {
    /// [`crate::wpt_planes`]'s columns step in fixed point: `lo` and `hi` from the ten
    /// rows a column's taps read (row 2k + 5 − t of the level before for output row k).
    pub fn analyse_across(rows: &[&[i16]; 10], lo: &mut [i16], hi: &mut [i16]) => across
}

widest! {
    /// [`analyse_across`] for output rows k and k + 1 from the twelve rows 2k + 7 − u
    /// they read between them (row k's taps are `rows[u + 2]`, row k + 1's `rows[u]`).
    pub fn analyse_across_two(
        rows: &[&[i16]; 12],
        lo: &mut [i16],
        hi: &mut [i16],
        lo_next: &mut [i16],
        hi_next: &mut [i16],
    ) => across_two
}

widest! {
    /// [`crate::wpt_planes`]'s rows step in fixed point: all `levels` of a row's packet
    /// transform (`row` is spent; `next` and `scratch` are scratch of any length).
    pub fn analyse_row_levels(
        row: &mut Vec<i16>,
        next: &mut Vec<i16>,
        scratch: &mut Vec<i16>,
        levels: usize,
        out: &mut [i16],
    ) => row_levels
}

/// [`across`] for two output rows (see [`analyse_across_two`]).
///
/// # Safety
/// The CPU has `V`'s instructions.
#[inline(always)]
unsafe fn across_two<V: Lanes>(
    rows: &[&[i16]; 12],
    lo: &mut [i16],
    hi: &mut [i16],
    lo_next: &mut [i16],
    hi_next: &mut [i16],
) {
    let first: [&[i16]; 10] = core::array::from_fn(|t| rows[t + 2]);
    let second: [&[i16]; 10] = core::array::from_fn(|t| rows[t]);
    unsafe {
        across::<V>(&first, lo, hi);
        across::<V>(&second, lo_next, hi_next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    use crate::wpt_planes::tests::fixed_noise as noise;

    /// One output of each filter as the definition writes it, in one lane.
    fn plain(x: &[i16], k: usize) -> (i16, i16) {
        let n = x.len();
        let s: [*const i16; 10] =
            core::array::from_fn(|t| &x[(2 * k + 5 + 10 * n - t) % n] as *const i16);
        let (mut l, mut h) = (0i16, 0i16);
        // SAFETY: one lane, each pointer into x.
        unsafe { taps::<i16>(&s, &mut l, &mut h) };
        (l, h)
    }

    /// Each kind of vector this CPU has, on the same rows, gives the same bits.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn every_vector_width_agrees() {
        for (n, w) in [(744, 100), (136, 45), (64, 33)] {
            let x = noise(n, 3);
            let plane = noise(n * w, 4);
            let rows: [&[i16]; 10] =
                core::array::from_fn(|t| &plane[(5 + 10 * n - t) % n * w..][..w]);
            let run = |f: &dyn Fn(&mut [i16], &mut [i16], &mut [i16])| {
                let (mut out, mut l, mut h) = (vec![0; n], vec![0; w], vec![0; w]);
                f(&mut out, &mut l, &mut h);
                (out, l, h)
            };
            // SAFETY (each): one lane needs nothing; the others run where the CPU has them.
            let lane = run(&|out, l, h| unsafe {
                row_levels::<i16>(&mut x.clone(), &mut Vec::new(), &mut Vec::new(), 3, out);
                across::<i16>(&rows, l, h);
            });
            if std::arch::is_x86_feature_detected!("avx2") {
                let got = run(&|out, l, h| unsafe {
                    row_levels::<x86::Avx2>(
                        &mut x.clone(),
                        &mut Vec::new(),
                        &mut Vec::new(),
                        3,
                        out,
                    );
                    across::<x86::Avx2>(&rows, l, h);
                });
                assert!(got == lane, "AVX2, {n} × {w}");
            }
            if std::arch::is_x86_feature_detected!("avx512bw") {
                let got = run(&|out, l, h| unsafe {
                    row_levels::<x86::Avx512>(
                        &mut x.clone(),
                        &mut Vec::new(),
                        &mut Vec::new(),
                        3,
                        out,
                    );
                    across::<x86::Avx512>(&rows, l, h);
                });
                assert!(got == lane, "AVX-512, {n} × {w}");
            }
        }
    }

    /// The vector kernels give the one-lane definition's bits, for rows and columns of
    /// any length (narrower than a block, and not a multiple of one).
    #[test]
    fn vectors_give_the_lane_definition() {
        for n in [2, 4, 6, 10, 18, 64, 130, 200, 744] {
            let x = noise(n, n as u64);
            let want: (Vec<i16>, Vec<i16>) = (0..n / 2).map(|k| plain(&x, k)).unzip();
            let mut out = vec![0; n];
            analyse_row_levels(
                &mut x.clone(),
                &mut Vec::new(),
                &mut Vec::new(),
                1,
                &mut out,
            );
            assert_eq!(out[..n / 2], want.0, "row of {n}: low half");
            assert_eq!(out[n / 2..], want.1, "row of {n}: high half");
            for w in [13, 45, 100] {
                let plane = noise(n * w, (7 * n + w) as u64);
                for k in 0..n / 2 {
                    let rows: [&[i16]; 10] =
                        core::array::from_fn(|t| &plane[(2 * k + 5 + 10 * n - t) % n * w..][..w]);
                    let (mut l, mut h) = (vec![0; w], vec![0; w]);
                    analyse_across(&rows, &mut l, &mut h);
                    for c in 0..w {
                        let column: Vec<i16> = (0..n).map(|r| plane[r * w + c]).collect();
                        assert_eq!((l[c], h[c]), plain(&column, k), "column {c}, n = {n}");
                    }
                }
            }
        }
    }

    /// Fixed point follows the float filters within its rounding: three levels of a row
    /// of 8-bit samples, against the float transform of the same row.
    #[test]
    fn close_to_the_float_filters() {
        let n = 744;
        let bytes: Vec<u8> = noise(n, 5)
            .iter()
            .map(|&v| (v.rem_euclid(256)) as u8)
            .collect();
        let mut fixed: Vec<i16> = bytes.iter().map(|&v| from_eight(v)).collect();
        let mut floats: Vec<f32> = bytes.iter().map(|&v| f32::from(v) / 255.0 - 0.5).collect();
        let (mut out, mut want) = (vec![0i16; n], vec![0f32; n]);
        analyse_row_levels(&mut fixed, &mut Vec::new(), &mut Vec::new(), 3, &mut out);
        crate::wpt_planes::analyse_row_levels(
            &mut floats,
            &mut vec![0.0; n],
            &mut Vec::new(),
            3,
            &mut want,
        );
        let errors: Vec<f32> = out
            .iter()
            .zip(&want)
            .map(|(&a, &b)| f32::from(a) / ONE - b)
            .collect();
        let largest = errors.iter().fold(0.0f32, |m, e| m.max(e.abs()));
        let rms = (errors.iter().map(|e| e * e).sum::<f32>() / n as f32).sqrt();
        // In 8-bit steps (1/255): measured 0.42 at most, 0.14 root mean square.
        let (largest, rms) = (largest * 255.0, rms * 255.0);
        assert!(largest < 0.5 && rms < 0.2, "{largest} at most, {rms} rms");
    }

    /// No sum inside the filters can leave 16 bits, for any input in ±1020: each level's
    /// inputs are bounded by the absolute sums of the composite filters that made them
    /// (rows' levels, then columns' on top), a mirrored pair by twice that, each partial
    /// sum by the filter's absolute sum times its input's bound, plus a unit per rounded
    /// product.
    #[test]
    fn sums_stay_inside_sixteen_bits() {
        let lo: Vec<f64> = (1..10).map(|t| DEC_LO[t] as f64).collect();
        let hi: Vec<f64> = (1..8).map(|t| DEC_HI[t] as f64).collect();
        let convolve = |a: &[f64], b: &[f64]| {
            let mut r = vec![0.0; a.len() + b.len() - 1];
            for (i, x) in a.iter().enumerate() {
                for (j, y) in b.iter().enumerate() {
                    r[i + j] += x * y;
                }
            }
            r
        };
        let upsample = |f: &[f64], by: usize| {
            let mut g = vec![0.0; (f.len() - 1) * by + 1];
            for (i, &x) in f.iter().enumerate() {
                g[i * by] = x;
            }
            g
        };
        // Largest absolute sum of the composite filters of `levels` levels along one axis.
        let gain = |levels: usize| -> f64 {
            (0..1usize << levels)
                .map(|path| {
                    (0..levels).fold(vec![1.0], |f, l| {
                        let tap = if path >> l & 1 == 0 { &lo } else { &hi };
                        convolve(&f, &upsample(tap, 1 << l))
                    })
                })
                .map(|f| f.iter().map(|x| x.abs()).sum::<f64>())
                .fold(0.0, f64::max)
        };
        let largest = 1020.0;
        let filter_sum = lo.iter().map(|x| x.abs()).sum::<f64>();
        let mut worst = 0.0f64;
        for rows in 0..=MAX_LEVELS {
            for columns in 0..=MAX_LEVELS {
                if columns > rows || (columns == 0 && rows == 0) {
                    continue;
                }
                // The inputs of the level that makes (rows, columns): rows' first.
                let (done_rows, done_columns) = if columns == 0 {
                    (rows - 1, 0)
                } else {
                    (rows, columns - 1)
                };
                let bound = largest * gain(done_rows) * gain(done_columns) + 16.0;
                worst = worst.max(2.0 * bound).max(filter_sum * bound + 5.0);
            }
        }
        assert!(worst < 32767.0, "a sum may reach {worst}");
        // The bound is not loose by much: three levels' packets reach 15.7 × 1020.
        assert!(gain(3) * gain(3) > 15.0);
    }

    #[test]
    fn samples_scale_to_the_range() {
        assert_eq!((from_eight(0), from_eight(255)), (-1020, 1020));
        assert_eq!((from_sixteen(0), from_sixteen(65535)), (-1020, 1020));
        assert_eq!(from_sixteen(257 * 128), from_eight(128));
        assert_eq!(from_eight(128), 4);
    }
}
