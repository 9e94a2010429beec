//! The wavelet packet transform of [`crate::wpt`] on plain `f32` planes, for inference.
//!
//! The tensor version is what training differentiates and runs on GPUs; on a CPU its
//! gathers and convolutions with ten taps and stride two cost more than the decoder's
//! last layers. Here each level is a polyphase filter over whole rows, which the compiler
//! vectorises: the same definition (bior4.4, full periodic wrap for any even length),
//! equal to the tensor version within float rounding (tested), several times faster.
//! The forward transform (encoding only) adds mirrored samples before weighting them,
//! runs each row's levels at once, and goes down the image a row of packets at a time
//! ([`RowStream`]), so that an encoder projects each row as it is made and no
//! image-sized buffer of floats exists; the inverse (decoding, which must agree
//! everywhere within ±1) keeps the definition's sums tap by tap, level by level. The
//! image encoder runs the forward transform on 16-bit fixed-point samples instead
//! ([`Sample`], [`crate::wpt_fixed`]): the same streams, half the time.
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
    let split = Split {
        channels,
        height,
        width,
        levels,
    };
    forward_2d_planes(split, |plane, row, out| {
        out.copy_from_slice(&x[(plane * height + row) * width..][..width])
    })
}

/// [`forward_2d`] of planes whose rows `fill_row(plane, row, out)` writes as the
/// transform needs them (the caller's own layout, such as an image's interleaved,
/// unpadded samples, is read where it lies, with no planar copy made first), in floats
/// or in fixed point ([`Sample`]).
pub fn forward_2d_planes<S: Sample>(
    split: Split,
    fill_row: impl Fn(usize, usize, &mut [S]) + Sync,
) -> Vec<S> {
    let offsets = split.row_offsets();
    let lw = split.packet_shape().1;
    by_latent_rows(
        split,
        &fill_row,
        offsets.len(),
        |packets: &[S], out: &mut [S]| {
            for (&at, o) in offsets.iter().zip(out.chunks_exact_mut(lw)) {
                o.copy_from_slice(&packets[at..][..lw]);
            }
        },
    )
}

/// `planes` planes of the packets' shape, made a row at a time: `emit(packets, out)` is
/// handed the packets' row r ([`RowStream::row`]) and writes row r of every plane into
/// `out` (`planes` rows of the packets' width, one after another). The rows are shared
/// out among the cores in runs, each run transformed by a [`RowStream`] of its own.
///
/// Why rows: the whole transform's output is a float per sample, twelve bytes a pixel
/// (4.5 MB for a 741×500 photo, 285 MB for 24 megapixels), all of it fresh memory, which
/// this project's machine fills at about 0.2 ms per MB, and which the encoder then read
/// again from far outside the caches. A row of packets is a few tens of kilobytes.
pub fn by_latent_rows<S: Sample, T: Copy + Default + Send>(
    split: Split,
    fill_row: &(impl Fn(usize, usize, &mut [S]) + Sync),
    planes: usize,
    emit: impl Fn(&[S], &mut [T]) + Sync,
) -> Vec<T> {
    let (lh, lw) = split.packet_shape();
    let plane = lh * lw;
    let len = planes * plane;
    if len == 0 {
        return Vec::new();
    }
    let threads = crate::cores::threads_for(split.channels * split.height * split.width);
    let per = lh.div_ceil(threads.clamp(1, lh));
    let parts = lh.div_ceil(per);
    // Runs of `per` rows, the last ones whole: the first part, the caller's, takes what
    // the others leave. Given the extra row of an odd count, the caller's part ended
    // about 0.09 ms after the other (a 741×500 encode's 63 rows, where the whole step
    // takes 2 ms), and the step with it; encode 5.74 → 5.61 ms (500 shuffled rounds).
    let start = |i: usize| (lh + i * per).saturating_sub(parts * per);
    // The output is allocated by the first part, while the others make their first rows:
    // its allocation faults in fresh memory (a huge page, 0.13–0.16 ms on this project's
    // VM), which the caller paid before any part began (741×500 encode 5.28 → 5.16 ms,
    // 600 shuffled rounds). Its size is checked here, before any part starts, so that
    // the allocation cannot fail but by running out of memory.
    core::alloc::Layout::array::<T>(len).expect("a latent larger than memory");
    let buffer: std::sync::OnceLock<(Scattered<T>, usize)> = std::sync::OnceLock::new();
    let buffer = &buffer;
    crate::cores::each_part(0..parts, |i, _| {
        if i == 0 {
            let mut out = core::mem::ManuallyDrop::new(Vec::<T>::with_capacity(len));
            let _ = buffer.set((Scattered(out.as_mut_ptr()), out.capacity()));
        }
        let (first, end) = (start(i), if i + 1 < parts { start(i + 1) } else { lh });
        let mut stream = RowStream::<S>::new(split, first);
        let mut values = vec![T::default(); planes * lw];
        for r in first..end {
            emit(stream.row(fill_row), &mut values);
            let (rows, _) = buffer.wait();
            for (p, v) in values.chunks_exact(lw).enumerate() {
                // SAFETY: row r of every plane lies in the output's capacity, and only
                // this part writes row r.
                unsafe { rows.write(p * plane + r * lw, v) };
            }
        }
    });
    let (rows, capacity) = buffer.get().expect("the first part allocates the output");
    // SAFETY: the buffer was allocated as a `Vec<T>` of `capacity` (at least `len`) and
    // never freed, and the parts wrote every row of every plane, all `len` values.
    unsafe { Vec::from_raw_parts(rows.0, len, *capacity) }
}

/// Values that threads write to disjoint places of one buffer through raw copies (no
/// reference to the whole buffer exists while they run).
struct Scattered<T>(*mut T);

// SAFETY: the callers of `write` keep every thread to places of its own, and the buffer
// outlives the threads (it is shared in a frame they are joined in).
unsafe impl<T: Send> Sync for Scattered<T> {}
// SAFETY: as for `Sync`: a pointer handed to another thread, which writes its own places.
unsafe impl<T: Send> Send for Scattered<T> {}

impl<T: Copy> Scattered<T> {
    /// Copies `values` to index `at` on.
    ///
    /// # Safety
    /// `at..at + values.len()` lies in the buffer's allocation, and no other thread reads
    /// or writes it meanwhile.
    unsafe fn write(&self, at: usize, values: &[T]) {
        let bytes = core::mem::size_of_val(values);
        let (from, to) = (values.as_ptr().cast::<u8>(), unsafe {
            self.0.add(at).cast::<u8>()
        });
        // SAFETY: `bytes` bytes from `from` are `values`, and as many from `to` lie in the
        // buffer (the caller's promise); the two do not overlap.
        unsafe { copy_row(from, to, bytes) }
    }
}

/// Copies `n` bytes from `from` to `to` (not overlapping), a row of a plane: rows of a few
/// hundred bytes or less in 16-byte pieces, the last piece overlapping the one before.
///
/// Why not `copy_nonoverlapping`, which calls the C library's `memcpy` for a length known
/// only at run time: an encode copies each plane's rows apart (12 096 rows of 93 bytes for a
/// 741×500 photo), and the static musl build's `memcpy` moves a misaligned row's head and
/// tail a byte at a time and its middle with `rep movsq`, whose start-up alone outlasts the
/// row: its `memcpy` took 9.4% of an encode's samples where glibc's took 3.4%
/// (docs/performance.md, twentieth session). The loop below stays a loop: its bound leaves
/// the last piece to the overlapping store, so the optimiser does not turn it back into a
/// `memcpy` call, as it did a loop of whole pieces.
///
/// # Safety
/// `from..from + n` is readable, `to..to + n` writable, and they do not overlap.
#[inline]
unsafe fn copy_row(from: *const u8, to: *mut u8, n: usize) {
    const PIECE: usize = 16;
    if !(PIECE..=512).contains(&n) {
        return unsafe { core::ptr::copy_nonoverlapping(from, to, n) };
    }
    let piece = |at: usize| {
        // SAFETY: `at + PIECE <= n` at every call: inside both ranges.
        unsafe {
            let v = from.add(at).cast::<[u8; PIECE]>().read_unaligned();
            to.add(at).cast::<[u8; PIECE]>().write_unaligned(v);
        }
    };
    let mut at = 0;
    while at + PIECE < n {
        piece(at);
        at += PIECE;
    }
    piece(n - PIECE);
}

/// The shape of a forward transform: `channels` planes of `height × width` split
/// `levels` times along both axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Split {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub levels: usize,
}

impl Split {
    /// A packet's height and width.
    pub fn packet_shape(&self) -> (usize, usize) {
        (self.height >> self.levels, self.width >> self.levels)
    }

    /// How many packets: `channels·4^levels`.
    pub fn packets(&self) -> usize {
        self.channels << (2 * self.levels)
    }

    /// Where each packet's row starts in a [`RowStream::row`], packets numbered as
    /// [`forward_2d`]'s planes.
    pub fn row_offsets(&self) -> Vec<usize> {
        let per = 1 << (2 * self.levels);
        let lw = self.packet_shape().1;
        (0..self.packets())
            .map(|p| {
                let (c, q) = (p / per, p % per);
                // The packet number's digits (base 4) are 2·width bit + height bit per
                // level, the first level's most significant.
                let (bw, bh) = (gather_bits(q >> 1), gather_bits(q));
                ((c << self.levels) + bh) * self.width + bw * lw
            })
            .collect()
    }
}

/// A sample type the forward transform runs on, with its filters: `f32`, the
/// definition's sums (this module's), or `i16`, fixed point ([`crate::wpt_fixed`]: the
/// image encoder's, at most [`wpt_fixed::MAX_LEVELS`](crate::wpt_fixed::MAX_LEVELS)).
pub trait Sample: Copy + Default + Send + Sync + 'static {
    /// The most levels the filters can take without losing the values.
    const MAX_LEVELS: usize;
    /// What 1.0 is in these samples: a sample `v` stands for `v.to_f32() / ONE`.
    const ONE: f32;
    /// Rows wider than this make their column levels' rows two at a time ([`pairs_pay`]).
    const PAIRS_WIDER_THAN: usize;
    fn to_f32(self) -> f32;
    /// All `levels` of one row's 1D packet transform into `out` (`row` is spent, `next`
    /// as long as it, `scratch` any).
    fn analyse_row_levels(
        row: &mut Vec<Self>,
        next: &mut Vec<Self>,
        scratch: &mut Vec<Self>,
        levels: usize,
        out: &mut [Self],
    );
    /// A level down the columns: `lo` and `hi` from the ten rows `rows[t]` (row 2k + 5 − t
    /// of the level before for output row k).
    fn analyse_across(rows: &[&[Self]; 10], lo: &mut [Self], hi: &mut [Self]);
    /// [`analyse_across`](Self::analyse_across) for rows k and k + 1 from the twelve rows
    /// 2k + 7 − u they read.
    fn analyse_across_two(
        rows: &[&[Self]; 12],
        lo: &mut [Self],
        hi: &mut [Self],
        lo_next: &mut [Self],
        hi_next: &mut [Self],
    );
}

impl Sample for f32 {
    const MAX_LEVELS: usize = usize::MAX;
    const ONE: f32 = 1.0;
    /// Where the ten rows one row reads no longer fit a 32 KB L1 data cache. At 5928 wide
    /// a 24 MP encode took 302 → 274 ms; at 768 wide (rows 30 KB) two at a time was no
    /// faster, and its larger ring took a 741×500 encode into a third huge page (6.59 →
    /// 6.89 ms median; docs/performance.md, sixteenth session).
    const PAIRS_WIDER_THAN: usize = (32 << 10) / (10 * 4);
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
    fn analyse_row_levels(
        row: &mut Vec<f32>,
        next: &mut Vec<f32>,
        scratch: &mut Vec<f32>,
        levels: usize,
        out: &mut [f32],
    ) {
        analyse_row_levels(row, next, scratch, levels, out)
    }
    fn analyse_across(rows: &[&[f32]; 10], lo: &mut [f32], hi: &mut [f32]) {
        analyse_across(rows, lo, hi)
    }
    fn analyse_across_two(
        rows: &[&[f32]; 12],
        lo: &mut [f32],
        hi: &mut [f32],
        lo_next: &mut [f32],
        hi_next: &mut [f32],
    ) {
        analyse_across_two(rows, lo, hi, lo_next, hi_next)
    }
}

impl Sample for i16 {
    const MAX_LEVELS: usize = crate::wpt_fixed::MAX_LEVELS;
    const ONE: f32 = crate::wpt_fixed::ONE;
    /// A quarter of the floats' width in bytes: a 741×500 encode (744 wide, ten rows
    /// 15 KB) took 4.60 → 4.54, 4.70 → 4.67 and 5.09 → 5.01 ms two rows at a time (600,
    /// 400 and 400 shuffled rounds, fresh copies), its ring still inside the two huge
    /// pages it had (peak resident 10.36 → 10.44 MB).
    const PAIRS_WIDER_THAN: usize = (8 << 10) / (10 * 2);
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f32::from(self)
    }
    fn analyse_row_levels(
        row: &mut Vec<i16>,
        next: &mut Vec<i16>,
        scratch: &mut Vec<i16>,
        levels: usize,
        out: &mut [i16],
    ) {
        crate::wpt_fixed::analyse_row_levels(row, next, scratch, levels, out)
    }
    fn analyse_across(rows: &[&[i16]; 10], lo: &mut [i16], hi: &mut [i16]) {
        crate::wpt_fixed::analyse_across(rows, lo, hi)
    }
    fn analyse_across_two(
        rows: &[&[i16]; 12],
        lo: &mut [i16],
        hi: &mut [i16],
        lo_next: &mut [i16],
        hi_next: &mut [i16],
    ) {
        crate::wpt_fixed::analyse_across_two(rows, lo, hi, lo_next, hi_next)
    }
}

/// Rows kept of each band of each level of the columns' transform, a row at a time: a
/// row of the next level reads ten (its rows 2q − 4 ..= 2q + 5 of this level), and the
/// two rows its next row adds are made only when that row is, over the two its window
/// drops. (Sixteen made the slot a mask instead of a remainder; ten keep 0.36 MB less per
/// core at 768×512, fresh memory in a short process. Nine fail the tests.)
const RING: usize = 10;

/// Rows kept per band where a stream makes its rows two at a time ([`pairs_pay`]): rows
/// q (even) and q + 1 read twelve (2q − 4 ..= 2q + 7; [`analyse_across_two`]). A level
/// asks its parent for rows up to an odd one, and a parent making pairs from even rows
/// stops there, so twelve always hold them. (Eleven fail the tests.)
const RING_TWO: usize = 12;

/// Whether a stream of rows `width` wide makes its column levels' rows two at a time,
/// reading each block of the rows they share once for both: where rows are wider than
/// [`Sample::PAIRS_WIDER_THAN`].
fn pairs_pay<S: Sample>(width: usize) -> bool {
    width > S::PAIRS_WIDER_THAN
}

/// Rows a stream keeps of each band: [`RING`], or [`RING_TWO`] where it makes pairs.
fn rows_kept(pairs: bool) -> usize {
    if pairs { RING_TWO } else { RING }
}

/// The forward transform a row of packets at a time, from the top down (with the
/// periodic wrap, the first rows read the last of the input too).
///
/// Row r of every packet is the columns' `levels`-th level at row r of each height band,
/// which reads ten rows of the level before (2r − 4 ..= 2r + 5, wrapped), and so on down
/// to the input's rows 8r − 28 ..= 8r + 35 at three levels. Each level keeps its last
/// [`RING`] rows per band ([`RING_TWO`] where wide rows are made two at a time,
/// [`pairs_pay`]), so going down the image every row of every level is made once
/// (a stream started below the top makes the rows its first packets need again). Row
/// numbers are kept unwrapped (negative above the top), and a level's row k is its row k
/// mod its height: row k of level l reads rows 2k + 5 − t of level l − 1 whichever way
/// they are numbered, since level l − 1 is twice as high. Each value is the same sum of
/// the same values as the level-by-level transform ([`analyse_taps`]), bit for bit.
pub struct RowStream<S: Sample> {
    split: Split,
    /// Per channel, the bands of levels 0 .. levels − 1 (level 0: the rows' transform of
    /// input rows, one band; level l: 2^l bands), `kept` rows of `width` each.
    ring: Vec<S>,
    /// Per level 0 .. levels − 1: the next row (unwrapped) to make.
    next: Vec<isize>,
    /// The next row of packets [`row`](Self::row) gives.
    row: usize,
    /// The packets' current row: per channel, the height bands' rows of `width`.
    out: Vec<S>,
    /// Whether rows are made two at a time ([`pairs_pay`]), and so how many rows of each
    /// band the ring keeps ([`kept`](Self::kept)).
    pairs: bool,
    /// With pairs, the packets' next row, made with the current one
    /// ([`row`](Self::row)), and whether it is (then it is row `row`).
    out_next: Vec<S>,
    made_next: bool,
    /// An input row and the rows' transform's scratch.
    input: Vec<S>,
    spare: Vec<S>,
    phases: Vec<S>,
}

impl<S: Sample> RowStream<S> {
    /// A stream whose first [`row`](Self::row) is row `first` of the packets.
    pub fn new(split: Split, first: usize) -> Self {
        Self::with_pairs(split, first, pairs_pay::<S>(split.width))
    }

    /// [`new`](Self::new), making rows two at a time or not: the same rows either way.
    fn with_pairs(split: Split, first: usize, pairs: bool) -> Self {
        let Split {
            channels,
            height,
            width,
            levels,
        } = split;
        assert!(
            height % (1 << levels) == 0 && width % (1 << levels) == 0,
            "{height}×{width} cannot be split {levels} times"
        );
        assert!(levels <= S::MAX_LEVELS, "{levels} levels in these samples");
        // Level l − 1's first row is the lowest that level l's first row reads.
        let mut next = vec![0isize; levels];
        let mut k = first as isize;
        for n in next.iter_mut().rev() {
            k = 2 * k - 4;
            *n = k;
        }
        let bands = (1 << levels) - 1;
        RowStream {
            split,
            ring: vec![S::default(); channels * bands * rows_kept(pairs) * width],
            next,
            row: first,
            out: vec![S::default(); (channels << levels) * width],
            pairs,
            out_next: if pairs {
                vec![S::default(); (channels << levels) * width]
            } else {
                Vec::new()
            },
            made_next: false,
            input: vec![S::default(); width],
            spare: vec![S::default(); width],
            phases: Vec::new(),
        }
    }

    /// The packets' next row (the stream's first row, then each next one): per channel,
    /// the `2^levels` height bands' rows of `width`, each the width bands' rows of
    /// `width/2^levels` side by side (where each packet's row lies:
    /// [`Split::row_offsets`]). `fill_row(plane, row, out)` writes the input's rows.
    pub fn row(&mut self, fill_row: &impl Fn(usize, usize, &mut [S])) -> &[S] {
        let Split { width, levels, .. } = self.split;
        let r = self.row;
        assert!(
            r < self.split.packet_shape().0,
            "row {r} is past the packets' last"
        );
        self.row += 1;
        if levels == 0 {
            for (c, out) in self.out.chunks_exact_mut(width).enumerate() {
                fill_row(c, r, out);
            }
            return &self.out;
        }
        if core::mem::take(&mut self.made_next) {
            core::mem::swap(&mut self.out, &mut self.out_next);
            return &self.out;
        }
        // With pairs, rows r and r + 1 together where both exist, as the levels below
        // make theirs (`make_up_to`): the callers ask for the rows in order, and a part's
        // last row made for nothing is one of a part's hundreds.
        let k = r as isize;
        let two = self.pairs && r + 1 < self.split.packet_shape().0;
        self.make_up_to(levels - 1, 2 * k + if two { 7 } else { 5 }, fill_row);
        let (split, kept) = (self.split, self.kept());
        let parents = kept * width << (levels - 1);
        let bands = width << levels;
        for (c, out) in self.out.chunks_exact_mut(bands).enumerate() {
            let parent = &self.ring[band_start(&split, c, levels - 1, kept)..][..parents];
            if two {
                let next = &mut self.out_next[c * bands..][..bands];
                split_bands_into_two(parent, width, k, out, next);
            } else {
                split_bands(parent, width, k, out, width, 0, kept);
            }
        }
        self.made_next = two;
        &self.out
    }

    /// Rows kept of each band ([`rows_kept`]).
    fn kept(&self) -> usize {
        rows_kept(self.pairs)
    }

    /// Makes the rows of level `l` up to row `k` (unwrapped).
    fn make_up_to(&mut self, l: usize, k: isize, fill_row: &impl Fn(usize, usize, &mut [S])) {
        let Split {
            channels, width, ..
        } = self.split;
        let kept = self.kept();
        while self.next[l] <= k {
            let q = self.next[l];
            let slot = q.rem_euclid(kept as isize) as usize;
            if l == 0 {
                let row = q.rem_euclid(self.split.height as isize) as usize;
                for c in 0..channels {
                    fill_row(c, row, &mut self.input);
                    let at = band_start(&self.split, c, 0, kept) + slot * width;
                    let out = &mut self.ring[at..][..width];
                    S::analyse_row_levels(
                        &mut self.input,
                        &mut self.spare,
                        &mut self.phases,
                        self.split.levels,
                        out,
                    );
                }
                self.next[l] += 1;
                continue;
            }
            // With pairs, rows q and q + 1 from one pass over the twelve rows they read.
            // Every level but the top starts at an even row (`with_pairs`), so q is even.
            debug_assert!(!self.pairs || q % 2 == 0, "level {l} pairs from an odd row");
            let made = if self.pairs { 2 } else { 1 };
            self.make_up_to(l - 1, 2 * q + 3 + 2 * made, fill_row);
            let next = (q + 1).rem_euclid(kept as isize) as usize;
            for c in 0..channels {
                let at = band_start(&self.split, c, l - 1, kept);
                // Level l's bands follow level l − 1's.
                let (parent, children) = self.ring[at..].split_at_mut(kept * width << (l - 1));
                let stride = kept * width;
                if self.pairs {
                    split_bands_two(parent, width, q, children, stride, [slot, next]);
                } else {
                    split_bands(parent, width, q, children, stride, slot * width, kept);
                }
            }
            self.next[l] += made;
        }
    }
}

/// Where channel `c`'s first band of level `l` starts in a [`RowStream`]'s ring of
/// `kept` rows per band: per channel, the band of level 0, then level 1's two, and so on.
fn band_start(split: &Split, c: usize, l: usize, kept: usize) -> usize {
    let bands = (1 << split.levels) - 1;
    (c * bands + (1 << l) - 1) * kept * split.width
}

/// Row `k` of the bands a level's bands split into: band p's last `kept` rows of `w`
/// are `parents[p·kept·w..]` (row j in slot j mod `kept`), and row k of its low and high
/// halves (its rows 2k + 5 − t, t < 10) goes to `children` at `2p·stride + at` and
/// `(2p + 1)·stride + at`.
fn split_bands<S: Sample>(
    parents: &[S],
    w: usize,
    k: isize,
    children: &mut [S],
    stride: usize,
    at: usize,
    kept: usize,
) {
    for (p, parent) in parents.chunks_exact(kept * w).enumerate() {
        let rows: [&[S]; 10] = core::array::from_fn(|t| {
            let slot = (2 * k + 5 - t as isize).rem_euclid(kept as isize) as usize;
            &parent[slot * w..][..w]
        });
        let (lo, hi) = children[2 * p * stride..].split_at_mut(stride);
        S::analyse_across(&rows, &mut lo[at..][..w], &mut hi[at..][..w]);
    }
}

/// Rows `k` (even) and `k + 1` of the bands a level's bands split into, as
/// [`split_bands`] makes each: band p's rows 2k − 4 ..= 2k + 7 in `parents` (its last
/// [`RING_TWO`] rows), and the children's rows k and k + 1 in slots `slots[0]` and
/// `slots[1]` of each child band.
fn split_bands_two<S: Sample>(
    parents: &[S],
    w: usize,
    k: isize,
    children: &mut [S],
    stride: usize,
    slots: [usize; 2],
) {
    for (p, parent) in parents.chunks_exact(RING_TWO * w).enumerate() {
        let (lo, hi) = children[2 * p * stride..].split_at_mut(stride);
        let (lo, lo_next) = split_rows(&mut lo[..stride], slots, w);
        let (hi, hi_next) = split_rows(&mut hi[..stride], slots, w);
        S::analyse_across_two(&twelve_rows(parent, w, k), lo, hi, lo_next, hi_next);
    }
}

/// [`split_bands_two`] into rows of their own: the children's rows k and k + 1 (each
/// band's `w` values after the one before) in `out` and `next`.
fn split_bands_into_two<S: Sample>(
    parents: &[S],
    w: usize,
    k: isize,
    out: &mut [S],
    next: &mut [S],
) {
    let pairs = out
        .chunks_exact_mut(2 * w)
        .zip(next.chunks_exact_mut(2 * w));
    for (parent, (out, next)) in parents.chunks_exact(RING_TWO * w).zip(pairs) {
        let (lo, hi) = out.split_at_mut(w);
        let (lo_next, hi_next) = next.split_at_mut(w);
        S::analyse_across_two(&twelve_rows(parent, w, k), lo, hi, lo_next, hi_next);
    }
}

/// A band's rows 2k + 7 − u (u < 12) from its last [`RING_TWO`] rows of `w` (row j in
/// slot j mod `RING_TWO`): what its children's rows k and k + 1 read.
fn twelve_rows<S>(parent: &[S], w: usize, k: isize) -> [&[S]; 12] {
    core::array::from_fn(|u| {
        let slot = (2 * k + 7 - u as isize).rem_euclid(RING_TWO as isize) as usize;
        &parent[slot * w..][..w]
    })
}

/// Rows `slots[0]` and `slots[1]` (different) of `band`'s rows of `w`.
fn split_rows<S>(band: &mut [S], slots: [usize; 2], w: usize) -> (&mut [S], &mut [S]) {
    let [a, b] = slots;
    if a < b {
        let (first, second) = band.split_at_mut(b * w);
        (&mut first[a * w..][..w], &mut second[..w])
    } else {
        let (first, second) = band.split_at_mut(a * w);
        (&mut second[..w], &mut first[b * w..][..w])
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
    avx512;
    /// All `levels` of one row's 1D packet transform, band by band: `row` (its content
    /// spent) and `next` take turns as input and output, the last level writes `out`.
    pub(crate) fn analyse_row_levels(
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
    // padded[2j+1], j < m + 4, then a tail that a row shorter than a block reads into
    // lanes it drops. The scratch is never cleared: the tail holds whatever an earlier
    // row left (clearing it cost as many writes as the row itself).
    let len = m + 4 + LANES;
    if scratch.len() < 2 * len {
        scratch.resize(2 * len, 0.0);
    }
    let (even, odd) = scratch[..2 * len].split_at_mut(len);
    for (j, pair) in x.chunks_exact(2).enumerate() {
        even[j + 2] = pair[0];
        odd[j + 2] = pair[1];
    }
    for j in [0, 1, m + 2, m + 3] {
        even[j] = x[wrap(2 * j as isize - 4, n)];
        odd[j] = x[wrap(2 * j as isize - 3, n)];
    }
    let phases = &scratch[..2 * len];
    // s[t] = padded[2k+9−t]: an even index for odd t, an odd one for even t.
    let taps = |k: usize| -> [usize; 10] {
        core::array::from_fn(|t| {
            if t % 2 == 1 {
                k + (9 - t) / 2
            } else {
                len + k + (8 - t) / 2
            }
        })
    };
    if m < LANES {
        let (mut sl, mut sh) = ([0.0f32; LANES], [0.0f32; LANES]);
        analyse_lanes(phases, &taps(0), &mut sl, &mut sh);
        lo.copy_from_slice(&sl[..m]);
        hi.copy_from_slice(&sh[..m]);
        return;
    }
    // Whole blocks only: the last ends at the row's end, overlapping the one before,
    // whose outputs it computes again to the same values.
    for k in (0..m).step_by(LANES).map(|k| k.min(m - LANES)) {
        let (l, h) = (&mut lo[k..][..LANES], &mut hi[k..][..LANES]);
        analyse_lanes::<LANES>(
            phases,
            &taps(k),
            l.try_into().unwrap(),
            h.try_into().unwrap(),
        );
    }
}

/// [`analyse_taps`] on the ten runs `x[at[t]..][..N]`.
#[inline(always)]
fn analyse_lanes<const N: usize>(
    x: &[f32],
    at: &[usize; 10],
    lo: &mut [f32; N],
    hi: &mut [f32; N],
) {
    analyse_taps(|t| &x[at[t]..], lo, hi);
}

/// lo[i] = Σ_t dec_lo[t]·s(t)[i] and hi[i] likewise, for N lanes (a constant, so that
/// the loop becomes whole vectors). Both filters are symmetric (dec_lo about t = 5,
/// dec_hi about t = 4; their other taps are zero), so mirrored samples are added first
/// and each weight multiplies once: 23 operations per pair of outputs instead of 40. The
/// sums' order is fixed here, for every caller, and no multiply-add is fused, so the
/// result is the same on every CPU and in wasm.
#[inline(always)]
fn analyse_taps<'a, const N: usize>(
    s: impl Fn(usize) -> &'a [f32],
    lo: &mut [f32; N],
    hi: &mut [f32; N],
) {
    let s = |t: usize| &s(t)[..N];
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
    avx512;
    /// [`analyse_taps`] down the columns: `lo` and `hi` (rows of one length) from the ten
    /// rows `rows[t]` a column's taps read (2k + 5 − t for output row k), `LANES`
    /// columns at a time.
    fn analyse_across(rows: &[&[f32]; 10], lo: &mut [f32], hi: &mut [f32]) {
        let w = lo.len();
        if w < LANES {
            // A row narrower than LANES: a lane at a time.
            for i in 0..w {
                let (l, h) = (&mut lo[i..][..1], &mut hi[i..][..1]);
                analyse_taps::<1>(|t| &rows[t][i..], l.try_into().unwrap(), h.try_into().unwrap());
            }
            return;
        }
        // Whole blocks only (a partial block's loop runs a lane at a time): the last block
        // ends at the row's end, overlapping the one before, whose columns it computes
        // again to the same values.
        for c in (0..w).step_by(LANES).map(|c| c.min(w - LANES)) {
            let (l, h) = (&mut lo[c..][..LANES], &mut hi[c..][..LANES]);
            analyse_taps::<LANES>(|t| &rows[t][c..], l.try_into().unwrap(), h.try_into().unwrap());
        }
    }
}

crate::cores::wide_vectors! {
    avx512;
    /// [`analyse_across`] for two consecutive output rows k and k + 1 from the twelve
    /// rows `rows[u]` = row 2k + 7 − u they read between them (row k's taps are
    /// `rows[t + 2]`, row k + 1's `rows[t]`): the same sums, a column block of both rows
    /// at a time, so the second reads the block's rows where the first left them, in L1.
    fn analyse_across_two(
        rows: &[&[f32]; 12],
        lo: &mut [f32],
        hi: &mut [f32],
        lo_next: &mut [f32],
        hi_next: &mut [f32],
    ) {
        let w = lo.len();
        if w < LANES {
            for i in 0..w {
                let (l, h) = (&mut lo[i..][..1], &mut hi[i..][..1]);
                analyse_taps::<1>(|t| &rows[t + 2][i..], l.try_into().unwrap(), h.try_into().unwrap());
                let (l, h) = (&mut lo_next[i..][..1], &mut hi_next[i..][..1]);
                analyse_taps::<1>(|t| &rows[t][i..], l.try_into().unwrap(), h.try_into().unwrap());
            }
            return;
        }
        for c in (0..w).step_by(LANES).map(|c| c.min(w - LANES)) {
            let (l, h) = (&mut lo[c..][..LANES], &mut hi[c..][..LANES]);
            analyse_taps::<LANES>(|t| &rows[t + 2][c..], l.try_into().unwrap(), h.try_into().unwrap());
            let (l, h) = (&mut lo_next[c..][..LANES], &mut hi_next[c..][..LANES]);
            analyse_taps::<LANES>(|t| &rows[t][c..], l.try_into().unwrap(), h.try_into().unwrap());
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
    // Past each subband's wrapped copy, a tail that the last block reads into outputs it
    // drops: never cleared, as in `analyse_row`.
    let len = m + 4 + LANES;
    if scratch.len() < 2 * len {
        scratch.resize(2 * len, 0.0);
    }
    let (pl, ph) = scratch[..2 * len].split_at_mut(len);
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
pub(crate) mod tests {
    use super::*;
    use burn::tensor::{Device, Tensor, TensorData};

    /// Rows of every length up to past the pieces' limit, at every misalignment of both
    /// ends, come out whole, and nothing past their end is written.
    #[test]
    fn rows_are_copied_whole() {
        let from: Vec<u8> = (0..600u32).map(|i| (i * 7 + 3) as u8).collect();
        for n in 0..=530 {
            for (f, t) in [(0, 0), (1, 3), (5, 0), (7, 9)] {
                let mut to = vec![0xEEu8; n + t + 16];
                // SAFETY: `n` bytes from `f` and from `t` lie in the two buffers.
                unsafe { copy_row(from[f..].as_ptr(), to[t..].as_mut_ptr(), n) };
                assert_eq!(to[t..t + n], from[f..f + n], "length {n}");
                assert!(to[..t].iter().chain(&to[t + n..]).all(|&b| b == 0xEE));
            }
        }
    }

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

            // The same along columns of planes n high and 13 wide (narrower than a block)
            // or 45 (the last block overlapping the one before).
            for w in [13, 45] {
                let plane = noise(n * w, 7 * n as u64);
                let column = |p: &[f32], c: usize, h: usize| {
                    (0..h).map(|r| p[r * w + c]).collect::<Vec<_>>()
                };
                let (mut l, mut h) = (vec![0.0; n / 2 * w], vec![0.0; n / 2 * w]);
                for k in 0..n / 2 {
                    let rows: [&[f32]; 10] =
                        core::array::from_fn(|t| &plane[(2 * k + 5 + 10 * n - t) % n * w..][..w]);
                    analyse_across(&rows, &mut l[k * w..][..w], &mut h[k * w..][..w]);
                }
                // Two rows at a time: the same rows, bit for bit.
                for k in (0..n / 2).step_by(2).filter(|k| k + 1 < n / 2) {
                    let rows: [&[f32]; 12] =
                        core::array::from_fn(|u| &plane[(2 * k + 7 + 12 * n - u) % n * w..][..w]);
                    let mut two = [vec![0.0f32; w], vec![0.0; w], vec![0.0; w], vec![0.0; w]];
                    let [a, b, c, d] = &mut two;
                    analyse_across_two(&rows, a, b, c, d);
                    let want = [k, k + 1].map(|r| [&l[r * w..][..w], &h[r * w..][..w]]);
                    for (got, want) in two.iter().zip(want.as_flattened()) {
                        assert_eq!(&got[..], *want, "two rows, n = {n}, w = {w}");
                    }
                }
                let mut x = vec![0.0; n * w];
                synthesise_columns(&l, &h, n / 2, w, w, &mut x);
                for c in 0..w {
                    let (lo, hi) = plain_analysis(&column(&plane, c, n));
                    assert_eq!(
                        (column(&l, c, n / 2), column(&h, c, n / 2)),
                        (lo.clone(), hi.clone()),
                        "columns, n = {n}, w = {w}"
                    );
                    assert_eq!(
                        column(&x, c, n),
                        plain_synthesis(&lo, &hi),
                        "column synthesis, n = {n}, w = {w}"
                    );
                }
            }
        }
    }

    /// The rows of a stream from the top, each checked against streams started at every
    /// row, making rows one or two at a time: the same, bit for bit.
    fn rows_from_any_start<S: Sample + PartialEq>(split: Split, x: &[S]) -> Vec<Vec<S>> {
        let Split { height, width, .. } = split;
        let fill = |c: usize, r: usize, out: &mut [S]| {
            out.copy_from_slice(&x[(c * height + r) * width..][..width])
        };
        let lh = split.packet_shape().0;
        let mut top = RowStream::with_pairs(split, 0, false);
        let rows: Vec<Vec<S>> = (0..lh).map(|_| top.row(&fill).to_vec()).collect();
        for (first, pairs) in (0..lh).flat_map(|f| [(f, false), (f, true)]) {
            let mut stream = RowStream::with_pairs(split, first, pairs);
            for (r, want) in rows.iter().enumerate().skip(first) {
                assert!(
                    stream.row(&fill) == &want[..],
                    "{split:?}: row {r} from {first}, pairs {pairs}"
                );
            }
        }
        rows
    }

    /// Fixed-point samples: a noise of 8-bit range, in fixed point.
    pub(crate) fn fixed_noise(len: usize, seed: u64) -> Vec<i16> {
        noise(len, seed)
            .iter()
            .map(|v| (v * 1020.0).round() as i16)
            .collect()
    }

    /// A stream started at any row gives the rows one started at the top gives, bit for
    /// bit (the parts of a parallel transform start where the cores' shares begin), down
    /// to heights where the periodic wrap folds several times over a row's taps; and the
    /// rows are the planes' packets. The same for streams of fixed-point samples (up to
    /// their three levels), whose rows are the float transform's within their rounding.
    #[test]
    fn streams_started_anywhere_agree() {
        for (levels, h, w) in [
            (1, 2, 4),
            (2, 4, 8),
            (3, 8, 72),
            (3, 24, 40),
            (4, 48, 16),
            (3, 40, 48),
            (2, 40, 48),
            (3, 16, 360),
        ] {
            let split = Split {
                channels: 2,
                height: h,
                width: w,
                levels,
            };
            // The stream's rows (as floats) against the planes' packets of `x`: `close`
            // judges their largest difference.
            let check = |rows: Vec<Vec<f32>>, x: Vec<f32>, close: fn(f32) -> bool| {
                let planes = forward_2d(x, 2, h, w, levels);
                let (lh, lw) = split.packet_shape();
                for (p, &at) in split.row_offsets().iter().enumerate() {
                    for (r, row) in rows.iter().enumerate() {
                        let err = max_diff(&row[at..at + lw], &planes[(p * lh + r) * lw..][..lw]);
                        assert!(close(err), "J={levels} {h}×{w}: {err}");
                    }
                }
            };
            let x = noise(2 * h * w, (levels * h + w) as u64);
            check(rows_from_any_start(split, &x), x, |err| err == 0.0);
            if levels > i16::MAX_LEVELS {
                continue;
            }
            let x = fixed_noise(2 * h * w, (levels * h + w) as u64);
            let floats = |v: &[i16]| -> Vec<f32> {
                v.iter()
                    .map(|&v| f32::from(v) / crate::wpt_fixed::ONE)
                    .collect()
            };
            let rows = rows_from_any_start(split, &x)
                .iter()
                .map(|r| floats(r))
                .collect();
            // Within an 8-bit step (1/255) of values up to 15.7 times ±0.5.
            check(rows, floats(&x), |err| err < 1.0 / 255.0);
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
