//! The image decoder network for inference on the CPU, natively and in wasm: the same
//! layers as [`nets::Decoder`](crate::nets::Decoder), computed channels-last.
//!
//! Burn's flex backend runs each 3×3 convolution as: copy the input to channels-last, copy
//! tiles of it into im2col form, multiply, scatter the result back to channels-first, then
//! add the bias and apply SiLU in separate passes over fresh buffers. Most of that is
//! layout traffic and page faults, and the passes between the products run on one core.
//! Here activations stay channels-last with a zero border for the whole network, a
//! product's epilogue adds the bias, applies SiLU and the residual in the same pass, the
//! decoder's 1×1 linear skip rides in the last product (its latent is 192 more columns of
//! the same im2col rows), and each core works through its own rows of every layer with
//! single-threaded products. Each output pixel is computed the same way whichever rows
//! or band it falls in, so banded decoding gives the whole-image result exactly.
//!
//! Only decoders made of 3×3 convolutions, residual blocks without normalisation and an
//! optional 1×1 skip (every shipped image model) take this path; others use Burn.

use alloc::vec;
use alloc::vec::Vec;
use burn::nn::conv::Conv2d;
use burn::tensor::Tensor;

use crate::config::{CodecConfig, ModalityKind};
use crate::nets::Decoder;

/// Output pixels per matrix product: small enough that a product's im2col rows
/// (256 × 9·96 floats, 0.9 MB) stay in the L2 cache, large enough to amortise the
/// packing of the weights (measured best of 128..1024 on the 2-core EPYC).
const CHUNK: usize = 256;

/// A 3×3 convolution (plus, for the last layer, the 1×1 skip) as one matrix:
/// row `(ky·3 + kx)·cin + ci` (then `9·cin + cj` for the skip), column `co`.
#[derive(Debug, Clone)]
struct Conv3 {
    cin: usize,
    cout: usize,
    /// Extra rows after the 3×3 taps, read from the latent's centre pixel.
    skip_in: usize,
    weights: Vec<f32>,
    bias: Vec<f32>,
}

impl Conv3 {
    fn rows(&self) -> usize {
        9 * self.cin + self.skip_in
    }
}

fn values<const D: usize>(t: Tensor<D>) -> Option<Vec<f32>> {
    t.into_data().try_into_vec::<f32>().ok()
}

fn bias_of(conv: &Conv2d, cout: usize) -> Option<Vec<f32>> {
    match &conv.bias {
        Some(b) => values(b.val()),
        None => Some(vec![0.0; cout]),
    }
}

/// `conv` (3×3, stride 1, dilation 1, padding 1) with `skip` (1×1) appended.
fn conv3(conv: &Conv2d, skip: Option<&Conv2d>) -> Option<Conv3> {
    let [cout, cin, kh, kw] = conv.weight.dims();
    let simple = |c: &Conv2d| c.stride == [1, 1] && c.dilation == [1, 1] && c.groups == 1;
    if [kh, kw] != [3, 3] || !simple(conv) {
        return None;
    }
    let w = values(conv.weight.val())?;
    let mut bias = bias_of(conv, cout)?;
    let mut weights = vec![0.0f32; 9 * cin * cout];
    for co in 0..cout {
        for ci in 0..cin {
            for t in 0..9 {
                weights[(t * cin + ci) * cout + co] = w[(co * cin + ci) * 9 + t];
            }
        }
    }
    let mut skip_in = 0;
    if let Some(s) = skip {
        let [sout, sin, sh, sw] = s.weight.dims();
        if sout != cout || [sh, sw] != [1, 1] || !simple(s) {
            return None;
        }
        let sw = values(s.weight.val())?;
        weights.resize((9 * cin + sin) * cout, 0.0);
        for co in 0..cout {
            for cj in 0..sin {
                weights[(9 * cin + cj) * cout + co] = sw[co * sin + cj];
            }
        }
        for (b, s) in bias.iter_mut().zip(bias_of(s, cout)?) {
            *b += s;
        }
        skip_in = sin;
    }
    Some(Conv3 {
        cin,
        cout,
        skip_in,
        weights,
        bias,
    })
}

/// Padding of 1 on every side, as the decoder's convolutions have.
fn padding_is_one(conv: &Conv2d) -> bool {
    use burn::nn::PaddingConfig2d;
    matches!(conv.padding, PaddingConfig2d::Explicit(1, 1, 1, 1))
}

/// The image decoder's layers in the form [`CpuDecoder::decode`] computes them.
#[derive(Debug, Clone)]
pub struct CpuDecoder {
    conv_in: Conv3,
    blocks: Vec<[Conv3; 2]>,
    /// The last 3×3 conv with the linear skip folded in.
    conv_out: Conv3,
    /// Rows of latent around a band that reach its pixels (the receptive radius).
    radius: usize,
}

impl CpuDecoder {
    /// The decoder's layers re-laid out, or `None` for a decoder this path does not
    /// compute (audio, normalisation, attention, other kernels).
    pub fn new(decoder: &Decoder, config: &CodecConfig) -> Option<Self> {
        if config.modality != ModalityKind::Image
            || decoder.attention.is_some()
            || !decoder.units.is_empty()
            || decoder.snake_out.is_some()
            || decoder.act_out.norm.is_some()
        {
            return None;
        }
        let mut convs = vec![&decoder.conv_in, &decoder.conv_out];
        let mut blocks = Vec::with_capacity(decoder.blocks.len());
        for b in &decoder.blocks {
            if b.act1.norm.is_some() || b.act2.norm.is_some() {
                return None;
            }
            convs.extend([&b.conv1, &b.conv2]);
            blocks.push([conv3(&b.conv1, None)?, conv3(&b.conv2, None)?]);
        }
        if !convs.iter().all(|c| padding_is_one(c)) {
            return None;
        }
        let decoder = Self {
            conv_in: conv3(&decoder.conv_in, None)?,
            blocks,
            conv_out: conv3(&decoder.conv_out, decoder.skip.as_ref())?,
            radius: config.decoder_radius()?,
        };
        let width = decoder.conv_in.cout;
        let chained = decoder
            .blocks
            .iter()
            .all(|[a, b]| (a.cin, a.cout, b.cin, b.cout) == (width, width, width, width));
        let skip_fits =
            decoder.conv_out.skip_in == 0 || decoder.conv_out.skip_in == decoder.conv_in.cin;
        (chained && decoder.conv_out.cin == width && skip_fits).then_some(decoder)
    }

    /// Latent channels in, packet channels out.
    pub fn channels(&self) -> (usize, usize) {
        (self.conv_in.cin, self.conv_out.cout)
    }

    /// Latent planes `[L, h, w]` → packet planes `[P, h, w]`, in bands of at most `band`
    /// latent rows (each computed with `radius` rows of margin and cut back), so that the
    /// working memory follows the band and not the image.
    pub fn decode(&self, latent: &[f32], h: usize, w: usize, band: usize) -> Vec<f32> {
        let (lc, pc) = self.channels();
        assert_eq!(latent.len(), lc * h * w, "latent size");
        let band = band.max(1);
        let mut out = vec![0.0f32; pc * h * w];
        let mut work = Work::default();
        for y0 in (0..h).step_by(band) {
            let y1 = (y0 + band).min(h);
            let (top, bottom) = (y0.saturating_sub(self.radius), (y1 + self.radius).min(h));
            let rows = bottom - top;
            let packets = self.band(&mut work, latent, h, w, top, rows);
            // Channels-last band rows → this band's rows of each packet plane.
            let keep = (y0 - top) * w..(y1 - top) * w;
            for (c, plane) in out.chunks_exact_mut(h * w).enumerate() {
                let dst = &mut plane[y0 * w..y1 * w];
                for (d, p) in dst.iter_mut().zip(keep.clone()) {
                    *d = packets[p * pc + c];
                }
            }
        }
        out
    }

    /// The network over latent rows `top .. top + rows` (zero outside them), giving
    /// channels-last packets `[rows·w, P]` (in `work.out`).
    fn band<'a>(
        &self,
        work: &'a mut Work,
        latent: &[f32],
        h: usize,
        w: usize,
        top: usize,
        rows: usize,
    ) -> &'a [f32] {
        let (lc, pc) = self.channels();
        let width = self.conv_in.cout;
        let grid = Grid { rows, w };
        let Work { lat, x, a, b, out } = work;
        // The latent, channels-last with its zero border.
        grid.zeroed(lat, lc);
        for c in 0..lc {
            let plane = &latent[(c * h + top) * w..][..rows * w];
            for (p, &v) in plane.iter().enumerate() {
                lat[grid.padded(p) * lc + c] = v;
            }
        }
        grid.zeroed(a, width);
        grid.zeroed(b, width);
        x.clear();
        x.resize(rows * w * width, 0.0);
        out.clear();
        out.resize(rows * w * pc, 0.0);

        // x = conv_in(latent); a = silu(x)
        grid.conv(&self.conv_in, lat, None, Dest::Start { x, act: a });
        for [c1, c2] in &self.blocks {
            // b = silu(conv1(a)); x += conv2(b); a = silu(x)
            grid.conv(c1, a, None, Dest::Act(b));
            grid.conv(c2, b, None, Dest::Residual { x, act: a });
        }
        // packets = conv_out(a) + skip(latent)
        grid.conv(&self.conv_out, a, Some(lat), Dest::Plain(out));
        out
    }
}

/// Buffers reused from band to band (channels-last; `lat`, `a` and `b` with a zero
/// border of one pixel).
#[derive(Default)]
struct Work {
    lat: Vec<f32>,
    x: Vec<f32>,
    a: Vec<f32>,
    b: Vec<f32>,
    out: Vec<f32>,
}

/// Where a product's epilogue puts `v = product + bias` for each output pixel.
enum Dest<'a> {
    /// x = v; act = silu(v).
    Start {
        x: &'a mut [f32],
        act: &'a mut [f32],
    },
    /// act = silu(v).
    Act(&'a mut [f32]),
    /// x += v; act = silu(x).
    Residual {
        x: &'a mut [f32],
        act: &'a mut [f32],
    },
    /// out = v (no border).
    Plain(&'a mut [f32]),
}

/// One output row's share of a [`Dest`], given to one thread.
enum RowsDest<'a> {
    Start(&'a mut [f32], &'a mut [f32]),
    Act(&'a mut [f32]),
    Residual(&'a mut [f32], &'a mut [f32]),
    Plain(&'a mut [f32]),
}

#[derive(Clone, Copy)]
struct Grid {
    rows: usize,
    w: usize,
}

impl Grid {
    /// Index of pixel `p` (row-major over rows × w) in the bordered layout.
    fn padded(&self, p: usize) -> usize {
        (p / self.w + 1) * (self.w + 2) + p % self.w + 1
    }

    fn zeroed(&self, buf: &mut Vec<f32>, channels: usize) {
        buf.clear();
        buf.resize((self.rows + 2) * (self.w + 2) * channels, 0.0);
    }

    /// Applies `conv` to the bordered `input` (and `skip`, the bordered latent, when the
    /// conv carries the linear skip), writing through `dest`. Natively the output rows are
    /// shared out among the cores in contiguous runs.
    fn conv(&self, conv: &Conv3, input: &[f32], skip: Option<&[f32]>, dest: Dest) {
        let threads =
            crate::cores::threads_for(self.rows * self.w * conv.rows() * conv.cout).min(self.rows);
        let per = self.rows.div_ceil(threads.max(1));
        let (w, pw) = (self.w, self.w + 2);
        // Every destination is split at row boundaries, so each thread owns its rows.
        fn split(
            buf: &mut [f32],
            rows: usize,
            per: usize,
            row: usize,
            border: bool,
        ) -> Vec<&mut [f32]> {
            let body = if border { &mut buf[row..] } else { buf };
            body.chunks_mut(per * row)
                .take(rows.div_ceil(per))
                .collect()
        }
        let rows = self.rows;
        let (flat, bordered) = (w * conv.cout, pw * conv.cout);
        let parts: Vec<RowsDest> = match dest {
            Dest::Start { x, act } => split(x, rows, per, flat, false)
                .into_iter()
                .zip(split(act, rows, per, bordered, true))
                .map(|(x, a)| RowsDest::Start(x, a))
                .collect(),
            Dest::Act(act) => split(act, rows, per, bordered, true)
                .into_iter()
                .map(RowsDest::Act)
                .collect(),
            Dest::Residual { x, act } => split(x, rows, per, flat, false)
                .into_iter()
                .zip(split(act, rows, per, bordered, true))
                .map(|(x, a)| RowsDest::Residual(x, a))
                .collect(),
            Dest::Plain(out) => split(out, rows, per, flat, false)
                .into_iter()
                .map(RowsDest::Plain)
                .collect(),
        };
        let run = |first_row: usize, part: RowsDest| {
            let end = (first_row + per).min(self.rows);
            self.conv_rows(conv, input, skip, first_row..end, part)
        };
        #[cfg(not(target_arch = "wasm32"))]
        if threads > 1 {
            std::thread::scope(|s| {
                let run = &run;
                for (i, part) in parts.into_iter().enumerate() {
                    s.spawn(move || run(i * per, part));
                }
            });
            return;
        }
        for (i, part) in parts.into_iter().enumerate() {
            run(i * per, part);
        }
    }

    /// The conv for output rows `rows` (of this grid), in chunks of [`CHUNK`] pixels:
    /// im2col, one product, the epilogue. `dest` starts at the first of these rows.
    fn conv_rows(
        &self,
        conv: &Conv3,
        input: &[f32],
        skip: Option<&[f32]>,
        rows: core::ops::Range<usize>,
        mut dest: RowsDest,
    ) {
        let (w, pw, cin, cout, k) = (self.w, self.w + 2, conv.cin, conv.cout, conv.rows());
        let first = rows.start * w;
        let pixels = first..rows.end * w;
        let mut col = vec![0.0f32; CHUNK.min(pixels.len()) * k];
        let mut acc = vec![0.0f32; CHUNK.min(pixels.len()) * cout];
        for p0 in pixels.clone().step_by(CHUNK) {
            let n = CHUNK.min(pixels.end - p0);
            for (i, p) in (p0..p0 + n).enumerate() {
                let (y, x) = (p / w, p % w);
                let row = &mut col[i * k..(i + 1) * k];
                // The three taps of a kernel row are three neighbouring pixels: one copy.
                for dy in 0..3 {
                    let src = ((y + dy) * pw + x) * cin;
                    row[dy * 3 * cin..(dy + 1) * 3 * cin]
                        .copy_from_slice(&input[src..src + 3 * cin]);
                }
                if let Some(lat) = skip {
                    let s = conv.skip_in;
                    let src = ((y + 1) * pw + x + 1) * s;
                    row[9 * cin..].copy_from_slice(&lat[src..src + s]);
                }
            }
            // SAFETY: the shapes and strides describe `acc` (n × cout, row-major), `col`
            // (n × k) and the weights (k × cout), all within their slices.
            unsafe {
                gemm::gemm(
                    n,
                    cout,
                    k,
                    acc.as_mut_ptr(),
                    1,
                    cout as isize,
                    false,
                    col.as_ptr(),
                    1,
                    k as isize,
                    conv.weights.as_ptr(),
                    1,
                    cout as isize,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
            for (i, v) in acc[..n * cout].chunks_exact_mut(cout).enumerate() {
                for (v, b) in v.iter_mut().zip(&conv.bias) {
                    *v += b;
                }
                let p = p0 + i;
                // Index of this pixel within the thread's share of the destination.
                let flat = (p - first) * cout;
                let bordered = ((p / w - rows.start) * pw + p % w + 1) * cout;
                match &mut dest {
                    RowsDest::Start(x, act) => {
                        x[flat..flat + cout].copy_from_slice(v);
                        silu_into(v, &mut act[bordered..bordered + cout]);
                    }
                    RowsDest::Act(act) => silu_into(v, &mut act[bordered..bordered + cout]),
                    RowsDest::Residual(x, act) => {
                        let x = &mut x[flat..flat + cout];
                        for (x, v) in x.iter_mut().zip(v.iter()) {
                            *x += v;
                        }
                        silu_into(x, &mut act[bordered..bordered + cout]);
                    }
                    RowsDest::Plain(out) => out[flat..flat + cout].copy_from_slice(v),
                }
            }
        }
    }
}

/// SiLU, x·σ(x) = x / (1 + e^−x).
fn silu_into(x: &[f32], out: &mut [f32]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = v / (1.0 + (-v).exp());
    }
}
