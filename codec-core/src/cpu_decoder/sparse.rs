//! The decoder's first layer and its linear skip computed from the latent's nonzero
//! values only.
//!
//! Rounding with a dead zone leaves most of a latent zero: 90–99% of a photo's values at
//! the shipped image levels (1.1–1.6% nonzero at level 1, 3–5% at level 3, 6.5–10% at
//! level 4 on the valid photos), and the inverse companding maps symbol 0 to exactly 0.
//! The first layer (latent → decoder width, 3×3) and the skip (latent → packets, 1×1)
//! have the widest input of the network, so in Winograd form and as a dense product they
//! were about a third of its multiply-adds, nearly all of them by zero. Here each output
//! pixel sums the weights of the nonzero values it reaches (the first layer directly, 9
//! taps, without Winograd's transforms), [`LANES`] output channels at a time in registers.
//!
//! Each output pixel sums its terms in one order (kernel row, kernel column, then input
//! channel) whatever band or thread computes it, so banded decoding still gives the
//! whole-image result exactly.

use alloc::vec;
use alloc::vec::Vec;
use core::ops::Range;

use super::{Conv3, Grid, Latent, M, Planes, RowsDest, finish};

/// A latent is decoded this way when at most one value in this many is nonzero: above
/// that, Winograd's products (a quarter of the direct multiply-adds, at a higher rate)
/// win. The choice is made once per latent, never per band, so that every band of an
/// image computes its pixels the same way.
const ONE_IN: usize = 8;

/// Output channels summed at a time: four AVX2 registers (eight SSE or wasm ones), which
/// stay in registers across all the terms of a pixel.
const LANES: usize = 32;

/// Whether `latent` has few enough nonzero values for [`Nonzeros`].
pub(super) fn sparse_enough(latent: &[f32]) -> bool {
    latent.iter().filter(|&&v| v != 0.0).count() * ONE_IN <= latent.len()
}

/// The nonzero values of a band's latent, pixel by pixel.
pub(super) struct Nonzeros {
    rows: usize,
    w: usize,
    /// Pixel (r, x)'s values are `values[starts[r·w + x]..starts[r·w + x + 1]]`.
    starts: Vec<usize>,
    /// (channel, value), by channel within a pixel.
    values: Vec<(u32, f32)>,
}

impl Nonzeros {
    /// The nonzero values of `rows` rows of `channels` planes of width `w`: the two halves
    /// of the rows on two cores natively.
    pub(super) fn of(latent: Latent, channels: usize, rows: usize, w: usize) -> Self {
        let half = rows / 2;
        let (top, bottom) = crate::cores::join(
            || Self::rows(latent, channels, 0..half, w),
            || Self::rows(latent, channels, half..rows, w),
        );
        let (mut starts, mut values) = top;
        let base = values.len();
        starts.extend(bottom.0[1..].iter().map(|s| s + base));
        values.extend(bottom.1);
        Self {
            rows,
            w,
            starts,
            values,
        }
    }

    /// [`of`](Self::of) for band rows `rows` alone: its `starts` (from 0) and values. Each
    /// row is read plane by plane (contiguous, eight values at a time skipped where all
    /// are zero, as most are), then its values are sorted into pixels by counting.
    fn rows(
        latent: Latent,
        channels: usize,
        rows: Range<usize>,
        w: usize,
    ) -> (Vec<usize>, Vec<(u32, f32)>) {
        let mut starts = Vec::with_capacity(rows.len() * w + 1);
        let mut values = Vec::new();
        let mut found = Vec::new();
        let mut counts = vec![0usize; w];
        starts.push(0);
        for r in rows {
            found.clear();
            counts.fill(0);
            for c in 0..channels {
                // SAFETY: row r of plane c lies in the band's latent, which nothing writes
                // while it is read (see `Latent`).
                let row = unsafe {
                    core::slice::from_raw_parts(latent.ptr.add(c * latent.plane + r * w), w)
                };
                for (i, eight) in row.chunks(8).enumerate() {
                    if eight.iter().all(|&v| v == 0.0) {
                        continue;
                    }
                    for (j, &v) in eight.iter().enumerate().filter(|(_, v)| **v != 0.0) {
                        let x = 8 * i + j;
                        counts[x] += 1;
                        found.push((x as u32, c as u32, v));
                    }
                }
            }
            // Each pixel's values go where its count puts them, in the channel order they
            // were found in.
            let first = values.len();
            let mut at = Vec::with_capacity(w);
            let mut end = first;
            for &n in &counts {
                at.push(end);
                end += n;
                starts.push(end);
            }
            values.resize(end, (0, 0.0));
            for &(x, c, v) in &found {
                let slot = &mut at[x as usize];
                values[*slot] = (c, v);
                *slot += 1;
            }
        }
        (starts, values)
    }

    /// Rows `top..top + rows` as a band reads them (rows outside it read as zero).
    pub(super) fn band(&self, top: usize, rows: usize) -> Rows<'_> {
        Rows {
            all: self,
            top,
            rows: rows.min(self.rows.saturating_sub(top)),
        }
    }
}

/// A band's rows of [`Nonzeros`].
pub(super) struct Rows<'a> {
    all: &'a Nonzeros,
    top: usize,
    rows: usize,
}

impl Rows<'_> {
    /// The values of band pixel (r, x), none where r or x (wrapped below zero) is outside
    /// the band.
    fn pixel(&self, r: usize, x: usize) -> &[(u32, f32)] {
        let all = self.all;
        if r >= self.rows || x >= all.w {
            return &[];
        }
        let at = (self.top + r) * all.w + x;
        &all.values[all.starts[at]..all.starts[at + 1]]
    }
}

/// The first layer's kernel and the skip's S laid out for the sums ([`by_lanes`]): made
/// once per decoder, whatever the number of bands or decodes.
#[derive(Debug)]
pub(super) struct Weights {
    /// The first layer's kernel.
    pub(super) first: Vec<f32>,
    /// The skip's S (latent channels × packet channels), as Sᵀ by lanes.
    pub(super) skip: Option<Vec<f32>>,
}

impl Weights {
    pub(super) fn of(first: &Conv3, last: &Conv3) -> Self {
        Self {
            first: by_lanes(&first.weight, first.cin, 9, first.cout),
            skip: (last.skip.as_ref()).map(|(sin, s)| by_lanes(s, *sin, 1, last.cout)),
        }
    }
}

/// Weights `[co][ci][tap]` (taps = 1 or 9) laid out `[co / LANES][ci][tap][co % LANES]`,
/// output channels padded with zeros to a multiple of LANES: the weights of one pass of
/// LANES channels lie together (221 KB of the first layer's 663 KB for image-q3).
fn by_lanes(weight: &[f32], cin: usize, taps: usize, cout: usize) -> Vec<f32> {
    let chunks = cout.div_ceil(LANES);
    let mut out = vec![0.0f32; chunks * cin * taps * LANES];
    for (co, kernel) in weight.chunks_exact(cin * taps).take(cout).enumerate() {
        let chunk = &mut out[co / LANES * cin * taps * LANES..];
        for (i, &v) in kernel.iter().enumerate() {
            chunk[i * LANES + co % LANES] = v;
        }
    }
    out
}

/// Adds `z · k` for the terms `(channel, z)` of one input pixel and one tap `tap` of
/// `taps`, from weights `w` laid out by [`by_lanes`] for one pass (`[ci][tap][LANES]`).
#[inline(always)]
fn add_terms(sums: &mut [f32; LANES], terms: &[(u32, f32)], w: &[f32], taps: usize, tap: usize) {
    for &(c, z) in terms {
        let k: &[f32; LANES] = w[(c as usize * taps + tap) * LANES..][..LANES]
            .try_into()
            .expect("LANES weights");
        for (s, k) in sums.iter_mut().zip(k) {
            *s += z * k;
        }
    }
}

crate::cores::wide_vectors! {
    /// `conv` (3×3, padding 1) over the pixel rows of tile rows `tile_rows`, from the
    /// band's nonzero latent values and the kernel laid out by [`by_lanes`], through
    /// `dest` as the Winograd path's epilogue.
    pub(super) fn first_layer(
        grid: &Grid,
        conv: &Conv3,
        kernel: &[f32],
        latent: &Rows,
        tile_rows: Range<usize>,
        dest: RowsDest<'_>,
    ) {
        let (w, bw, cin, cout) = (grid.w, grid.bw(), conv.cin, conv.cout);
        let mut dest = dest;
        let mut v = vec![0.0f32; cout.next_multiple_of(LANES)];
        let first_row = M * tile_rows.start;
        for y in first_row..(M * tile_rows.end).min(grid.rows) {
            for x in 0..w {
                for (pass, out) in v.chunks_exact_mut(LANES).enumerate() {
                    let k = &kernel[pass * cin * 9 * LANES..][..cin * 9 * LANES];
                    let mut sums = [0.0f32; LANES];
                    for ky in 0..3 {
                        for kx in 0..3 {
                            // Input pixel (y + ky − 1, x + kx − 1), wrapping below zero.
                            let terms = latent.pixel((y + ky).wrapping_sub(1), (x + kx).wrapping_sub(1));
                            add_terms(&mut sums, terms, k, 9, 3 * ky + kx);
                        }
                    }
                    out.copy_from_slice(&sums);
                }
                let v = &mut v[..cout];
                for (v, b) in v.iter_mut().zip(&conv.bias) {
                    *v += b;
                }
                let flat = ((y - first_row) * w + x) * cout;
                let bordered = ((y - first_row) * bw + x + 1) * cout;
                finish(&mut dest, (y, x), flat, bordered, v);
            }
        }
    }
}

crate::cores::wide_vectors! {
    /// The packets of band rows `rows` that `planes` keeps set to the linear skip of the
    /// band's nonzero latent values (`weights` = S laid out by [`by_lanes`], `shape` =
    /// its latent channels in and packet channels out).
    pub(super) fn skip_rows(
        w: usize,
        weights: &[f32],
        shape: (usize, usize),
        latent: &Rows,
        planes: &Planes,
        rows: Range<usize>,
    ) {
        let (cin, cout) = shape;
        // One row of packets, `[co][x]`.
        let mut row = vec![0.0f32; cout.next_multiple_of(LANES) * w];
        for y in rows.filter(|&y| planes.keeps(y)) {
            for x in 0..w {
                let terms = latent.pixel(y, x);
                for pass in 0..cout.div_ceil(LANES) {
                    let mut sums = [0.0f32; LANES];
                    add_terms(&mut sums, terms, &weights[pass * cin * LANES..], 1, 0);
                    for (i, s) in sums.into_iter().enumerate() {
                        row[(pass * LANES + i) * w + x] = s;
                    }
                }
            }
            // SAFETY: row y is this thread's; `row` is cut to the cout packet planes.
            unsafe { planes.write_row(y, &row[..cout * w]) };
        }
    }
}
