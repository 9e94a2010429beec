//! The image decoder network for inference on the CPU, natively and in wasm: the same
//! layers as [`nets::Decoder`](crate::nets::Decoder), computed channels-last.
//!
//! Burn's flex backend runs each 3×3 convolution as: copy the input to channels-last, copy
//! tiles of it into im2col form, multiply, scatter the result back to channels-first, then
//! add the bias and apply SiLU in separate passes over fresh buffers. Most of that is
//! layout traffic and page faults, and the passes between the products run on one core.
//! Here activations stay channels-last with a zero border for the whole network; each 3×3
//! convolution is Winograd's F(4×4, 3×3) (see [`G`]), 4× fewer multiply-adds; the output
//! transform also adds the bias, applies SiLU and the residual; the latent is read where
//! it lies, as planes (the first layer copies a few rows at a time to channels-last), the
//! decoder's 1×1 linear skip is one product from those planes into the packet planes, to
//! which the last layer adds in place; where most of the latent is zero (as a dead zone
//! leaves it), the first layer and the skip read only its nonzero values ([`sparse`]);
//! and each core works through its own rows of every layer with single-threaded
//! products.
//! Each output pixel is computed the same way whichever rows or band it falls in, so
//! banded decoding gives the whole-image result exactly.
//!
//! Only decoders made of 3×3 convolutions, residual blocks without normalisation and an
//! optional 1×1 skip (every shipped image model) take this path; others use Burn.

use alloc::vec;
use alloc::vec::Vec;
use burn::nn::conv::Conv2d;
use burn::tensor::Tensor;

use crate::config::{CodecConfig, ModalityKind};
use crate::nets::Decoder;

mod sparse;
use sparse::Nonzeros;

/// Output pixels per side of a Winograd tile, and input pixels per side of its block.
const M: usize = 4;
const A: usize = M + 2;

/// Tiles per round of products: 32 tiles (512 pixels) keep a round's transformed input
/// and products (36 × 32 × 96 floats each, 0.4 MB) in the L2 cache.
const TILES: usize = 32;

/// Winograd's F(4×4, 3×3) (Lavin & Gray 2016): each 4×4 block of outputs is
/// Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A over the 6×6 block d of inputs around it, so the products are
/// 36 matrices of (tiles × cin)·(cin × cout) per 16 pixels instead of 9 per pixel: 4×
/// fewer multiply-adds, the same convolution up to rounding (measured against Burn's
/// direct convolution in tests/tests/cpu_decoder.rs). Bᵀ and Aᵀ are written out in
/// [`transform_in`] and [`transform_out`]; G is applied once, to the weights.
const G: [[f32; 3]; A] = [
    [1.0 / 4.0, 0.0, 0.0],
    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
    [0.0, 0.0, 1.0],
];

/// A 3×3 convolution, and its weights in Winograd form (see [`G`]).
#[derive(Debug, Clone)]
struct Conv3 {
    cin: usize,
    cout: usize,
    /// The kernel as the model stores it, `[co][ci][tap]`.
    weight: Vec<f32>,
    /// U_ξ = G g Gᵀ for ξ = A·i + j: A² matrices cin × cout, kept once made for more
    /// than one use ([`Conv3::winograd`]).
    wino: std::sync::OnceLock<Vec<f32>>,
    bias: Vec<f32>,
    /// The decoder's linear 1×1 skip, folded into the last conv: its latent channels, and
    /// its weights as the model stores them, `[co][cj]` (its bias is in `bias`).
    skip: Option<(usize, Vec<f32>)>,
}

fn values<const D: usize>(t: Tensor<D>) -> Option<Vec<f32>> {
    t.into_data().try_into_vec::<f32>().ok()
}

/// A convolution's weights as plain floats: `[cout, cin, kh, kw]` row-major, and the bias
/// (zero where `None`).
struct ConvParts {
    dims: [usize; 4],
    weight: Vec<f32>,
    bias: Option<Vec<f32>>,
}

impl ConvParts {
    /// Burn's conv, where it is plain (stride 1, dilation 1, one group).
    fn of(conv: &Conv2d) -> Option<Self> {
        if conv.stride != [1, 1] || conv.dilation != [1, 1] || conv.groups != 1 {
            return None;
        }
        let bias = match &conv.bias {
            Some(b) => Some(values(b.val())?),
            None => None,
        };
        Some(Self {
            dims: conv.weight.dims(),
            weight: values(conv.weight.val())?,
            bias,
        })
    }

    fn bias(&mut self) -> Vec<f32> {
        self.bias.take().unwrap_or_else(|| vec![0.0; self.dims[0]])
    }
}

/// `conv` (3×3, stride 1, dilation 1, padding 1) with `skip` (1×1) folded in.
fn conv3(conv: &Conv2d, skip: Option<&Conv2d>) -> Option<Conv3> {
    let skip = match skip {
        Some(s) => Some(ConvParts::of(s)?),
        None => None,
    };
    conv3_of(ConvParts::of(conv)?, skip)
}

/// [`conv3`] from plain weights.
fn conv3_of(mut conv: ConvParts, skip: Option<ConvParts>) -> Option<Conv3> {
    let [cout, cin, kh, kw] = conv.dims;
    if [kh, kw] != [3, 3] || conv.weight.len() != cout * cin * 9 {
        return None;
    }
    let mut bias = conv.bias();
    if bias.len() != cout {
        return None;
    }
    let skip = match skip {
        None => None,
        Some(mut s) => {
            let [sout, sin, sh, sw] = s.dims;
            if sout != cout || [sh, sw] != [1, 1] || s.weight.len() != sout * sin {
                return None;
            }
            let sb = s.bias();
            if sb.len() != cout {
                return None;
            }
            for (b, s) in bias.iter_mut().zip(sb) {
                *b += s;
            }
            Some((sin, s.weight))
        }
    };
    Some(Conv3 {
        cin,
        cout,
        weight: conv.weight,
        wino: std::sync::OnceLock::new(),
        bias,
        skip,
    })
}

impl Conv3 {
    /// The Winograd weights: kept from the first call on where `once` is false; where
    /// it is true (an image of one band, each layer run once), made into `buf` and not
    /// kept, so that the decode holds one layer's (up to 2.7 MB) instead of all of
    /// them (10.6 MB of fresh memory for image-q3, most of a short decode's layout).
    fn winograd<'a>(&'a self, once: bool, buf: &'a mut Vec<f32>) -> &'a [f32] {
        if let Some(kept) = self.wino.get() {
            return kept;
        }
        if once {
            self.make_winograd(buf);
            return buf;
        }
        self.wino.get_or_init(|| {
            let mut wino = Vec::new();
            self.make_winograd(&mut wino);
            wino
        })
    }

    fn make_winograd(&self, wino: &mut Vec<f32>) {
        let (cin, cout) = (self.cin, self.cout);
        wino.clear();
        wino.resize(A * A * cin * cout, 0.0);
        let mut gg = vec![0.0f32; A * 3 * cout];
        // One input channel's kernel at a time laid out `[tap][co]`, so that each step of
        // U = G g Gᵀ, a vector over co at a time, is a loop along contiguous rows (this
        // runs in every process that decodes; strided scalar code made it 15 ms). A copy
        // of the whole kernel so laid out was 2.65 MB of a decode's fresh memory.
        let mut taps = vec![0.0f32; 9 * cout];
        for ci in 0..cin {
            for (co, kernel) in self.weight.chunks_exact(cin * 9).enumerate() {
                for (t, &v) in kernel[ci * 9..][..9].iter().enumerate() {
                    taps[t * cout + co] = v;
                }
            }
            let tap = |k: usize| &taps[k * cout..][..cout];
            // G g: row i, column x of the kernel, for every co.
            for i in 0..A {
                for x in 0..3 {
                    let dst = &mut gg[(3 * i + x) * cout..][..cout];
                    let (g0, g1, g2) = (tap(x), tap(3 + x), tap(6 + x));
                    let [a, b, c] = G[i];
                    for co in 0..cout {
                        dst[co] = a * g0[co] + b * g1[co] + c * g2[co];
                    }
                }
            }
            // (G g) Gᵀ.
            for i in 0..A {
                let row = |x: usize| &gg[(3 * i + x) * cout..][..cout];
                let (h0, h1, h2) = (row(0), row(1), row(2));
                for (j, &[a, b, c]) in G.iter().enumerate() {
                    let dst = &mut wino[((A * i + j) * cin + ci) * cout..][..cout];
                    for co in 0..cout {
                        dst[co] = a * h0[co] + b * h1[co] + c * h2[co];
                    }
                }
            }
        }
    }
}

/// Padding of 1 on every side, as the decoder's convolutions have.
fn padding_is_one(conv: &Conv2d) -> bool {
    use burn::nn::PaddingConfig2d;
    matches!(conv.padding, PaddingConfig2d::Explicit(1, 1, 1, 1))
}

/// The image decoder's layers in the form [`CpuDecoder::decode`] computes them.
#[derive(Debug)]
pub struct CpuDecoder {
    conv_in: Conv3,
    blocks: Vec<[Conv3; 2]>,
    /// The last 3×3 conv with the linear skip folded in.
    conv_out: Conv3,
    /// Rows of latent around a band that reach its pixels (the receptive radius).
    radius: usize,
    /// Whether this decoder has decoded before ([`Conv3::winograd`]).
    decoded: core::sync::atomic::AtomicBool,
    /// The weights of the sparse first layer and skip, made on first use.
    sparse: std::sync::OnceLock<sparse::Weights>,
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
            decoded: core::sync::atomic::AtomicBool::new(false),
            sparse: std::sync::OnceLock::new(),
        };
        let width = decoder.conv_in.cout;
        let chained = decoder
            .blocks
            .iter()
            .all(|[a, b]| (a.cin, a.cout, b.cin, b.cout) == (width, width, width, width));
        let skip_fits = decoder
            .conv_out
            .skip
            .as_ref()
            .is_none_or(|(n, _)| *n == decoder.conv_in.cin);
        (chained && decoder.conv_out.cin == width && skip_fits).then_some(decoder)
    }

    /// [`new`](Self::new) from a model's weights (burnpack) without building its
    /// networks: `walloc decode` built Burn's decoder only for this to read its weights
    /// back out, 3 MB of fresh memory and a copy of every weight (docs/performance.md,
    /// tenth session). The layers are those `nets::Decoder::new` makes of `config`; `None`
    /// where `new` would give `None`, or a tensor is missing, left over, not 32-bit
    /// floats, or not of its layer's shape.
    pub fn from_pack(weights: burn::tensor::Bytes, config: &CodecConfig) -> Option<Self> {
        if config.modality != ModalityKind::Image || config.attention || config.group_norm {
            return None;
        }
        let mut tensors = alloc::collections::BTreeMap::new();
        for tensor in burn_pack::Reader::from_bytes(weights)
            .ok()?
            .into_tensors()
            .ok()?
        {
            let (name, dtype, shape, _, bytes) = tensor.into_parts().ok()?;
            let Some(name) = name.strip_prefix("decoder.") else {
                continue;
            };
            if dtype != burn::tensor::DType::F32 {
                return None;
            }
            let floats = bytes.chunks_exact(4);
            let floats = floats.map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
            tensors.insert(
                name.to_owned(),
                (shape.to_vec(), floats.collect::<Vec<_>>()),
            );
        }
        let mut layer = |name: &str, dims: [usize; 4]| {
            let (shape, weight) = tensors.remove(&alloc::format!("{name}.weight"))?;
            let (bias_shape, bias) = tensors.remove(&alloc::format!("{name}.bias"))?;
            (shape == dims && bias_shape == [dims[0]]).then_some(ConvParts {
                dims,
                weight,
                bias: Some(bias),
            })
        };
        let (w, lc, pc) = (
            config.decoder_width,
            config.latent_dim,
            config.packet_channels(),
        );
        let conv_in = conv3_of(layer("conv_in", [w, lc, 3, 3])?, None)?;
        let blocks = (0..config.decoder_blocks)
            .map(|b| {
                let conv1 = layer(&alloc::format!("blocks.{b}.conv1"), [w, w, 3, 3])?;
                let conv2 = layer(&alloc::format!("blocks.{b}.conv2"), [w, w, 3, 3])?;
                Some([conv3_of(conv1, None)?, conv3_of(conv2, None)?])
            })
            .collect::<Option<Vec<_>>>()?;
        let skip = match config.decoder_skip {
            true => Some(layer("skip", [pc, lc, 1, 1])?),
            false => None,
        };
        let conv_out = conv3_of(layer("conv_out", [pc, w, 3, 3])?, skip)?;
        // Decoder weights left over belong to layers `config` does not have.
        if !tensors.is_empty() {
            return None;
        }
        Some(Self {
            conv_in,
            blocks,
            conv_out,
            radius: config.decoder_radius()?,
            decoded: core::sync::atomic::AtomicBool::new(false),
            sparse: std::sync::OnceLock::new(),
        })
    }

    /// Latent channels in, packet channels out.
    pub fn channels(&self) -> (usize, usize) {
        (self.conv_in.cin, self.conv_out.cout)
    }

    /// Latent planes `[L, h, w]` → packet planes `[P, h, w]`, in bands of at most `band`
    /// latent rows (each computed with a margin and cut back), so that the working memory
    /// follows the band and not the image; every band size gives the same result.
    pub fn decode(&self, latent: &[f32], h: usize, w: usize, band: usize) -> Vec<f32> {
        let (lc, pc) = self.channels();
        assert_eq!(latent.len(), lc * h * w, "latent size");
        let view = Latent {
            ptr: latent.as_ptr(),
            plane: h * w,
        };
        let nonzeros = sparse::sparse_enough(latent).then(|| Nonzeros::of(view, lc, h, w));
        let mut out = vec![0.0f32; pc * h * w];
        self.bands(
            Source::of(view, nonzeros.as_ref()),
            h,
            w,
            band,
            out.as_mut_ptr(),
        );
        out
    }

    /// [`decode`](Self::decode) of a latent it may free or overwrite. One band with as
    /// many packet channels as latent channels (every shipped image model on an image up
    /// to `band` rows) writes its packets over the latent: the first layer has read the
    /// whole latent before the skip writes the first packet, and the skip reads each
    /// pixel's latent before it writes its packets, so the packets need no buffer of their
    /// own (4.5 MB of fresh memory in a short `walloc decode` of a 768×512 photo). Several
    /// bands of a mostly zero latent read its nonzero values, listed first, and free it
    /// before the packets are made (288 MB of a 24-megapixel photo's peak).
    pub fn decode_owned(&self, mut latent: Vec<f32>, h: usize, w: usize, band: usize) -> Vec<f32> {
        let (lc, pc) = self.channels();
        assert_eq!(latent.len(), lc * h * w, "latent size");
        let sparse = sparse::sparse_enough(&latent);
        // A raw view: no reference to the buffer lives while it is written as packets.
        let ptr = latent.as_mut_ptr();
        let view = Latent { ptr, plane: h * w };
        let nonzeros = sparse.then(|| Nonzeros::of(view, lc, h, w));
        let source = Source::of(view, nonzeros.as_ref());
        if h <= band.max(1) && lc == pc {
            // Every packet of the one band is written: the latent's values are all
            // replaced.
            self.bands(source, h, w, band, ptr);
            return latent;
        }
        if sparse {
            // The bands read the nonzero values alone.
            drop(latent);
        }
        let mut out = vec![0.0f32; pc * h * w];
        self.bands(source, h, w, band, out.as_mut_ptr());
        out
    }

    /// The bands of [`decode`](Self::decode), from `source`, into the packet planes at
    /// `out` (`pc · h · w` values, which only [`decode_owned`](Self::decode_owned)'s one
    /// band may share with the latent).
    fn bands(&self, source: Source, h: usize, w: usize, band: usize, out: *mut f32) {
        let band = band.max(1);
        let mut work = Work::default();
        let once = self.once(h <= band);
        for y0 in (0..h).step_by(band) {
            let y1 = (y0 + band).min(h);
            // M times the receptive radius, from a row where the whole image's tiles
            // start: a tile's products read all A rows of its input block, so rounding
            // (not the value) reaches M rows further per layer.
            let margin = M * self.radius;
            let top = y0.saturating_sub(margin) / M * M;
            let bottom = (y1 + margin).min(h);
            let grid = Grid {
                rows: bottom - top,
                w,
            };
            self.load(&mut work, grid);
            let planes = Planes {
                ptr: out,
                plane: h * w,
                w,
                top,
                keep: (y0, y1),
                add: false,
            };
            let input = source.band(top, grid.rows, w);
            self.layers(&mut work, grid, input, planes, once);
        }
    }

    /// Whether the layers' Winograd weights are made for one use and not kept: with one
    /// band each layer runs once, so the first such decode of a process keeps none (a
    /// short `walloc decode` needs them once); any later decode keeps them, so a batch
    /// makes them once.
    fn once(&self, one_band: bool) -> bool {
        one_band
            && !self
                .decoded
                .swap(true, core::sync::atomic::Ordering::Relaxed)
    }

    /// The band's buffers sized and zeroed.
    fn load(&self, work: &mut Work, grid: Grid) {
        let width = self.conv_in.cout;
        let Work { x, a, b, .. } = work;
        grid.zeroed(a, width);
        grid.zeroed(b, width);
        x.clear();
        x.resize(grid.rows * grid.w * width, 0.0);
    }

    /// The network over the band of the latent `input` gives, whose buffers
    /// [`load`](Self::load) made in `work`, writing the packets of the rows `planes`
    /// keeps; `once` as [`Conv3::winograd`] takes it. `planes` may be the latent's own
    /// buffer ([`decode_owned`](Self::decode_owned)).
    fn layers(&self, work: &mut Work, grid: Grid, input: Band, mut planes: Planes, once: bool) {
        let Work { x, a, b, u } = work;
        // x = conv_in(latent); a = silu(x)
        let dest = Dest::Start { x, act: a };
        let conv = &self.conv_in;
        // and packets = skip(latent), to which conv_out adds: the latent is not read again.
        let skip = self.conv_out.skip.as_ref();
        match &input {
            Band::Sparse(nonzeros) => {
                let weights = self
                    .sparse
                    .get_or_init(|| sparse::Weights::of(conv, &self.conv_out));
                grid.conv(conv, dest, |rows, part| {
                    sparse::first_layer(&grid, conv, &weights.first, nonzeros, rows, part)
                });
                if let (Some(&(sin, _)), Some(s)) = (skip, &weights.skip) {
                    let shape = (sin, self.conv_out.cout);
                    grid.row_runs(sin * shape.1, |rows| {
                        sparse::skip_rows(grid.w, s, shape, nonzeros, &planes, rows)
                    });
                }
            }
            Band::Planes(latent) => {
                let input = Input::Latent(*latent);
                grid.winograd(conv, conv.winograd(once, u), input, dest);
                if let Some(skip) = skip {
                    grid.skip(skip, *latent, planes);
                }
            }
        }
        planes.add = skip.is_some();
        for [c1, c2] in &self.blocks {
            // b = silu(conv1(a)); x += conv2(b); a = silu(x)
            grid.winograd(c1, c1.winograd(once, u), Input::Bordered(a), Dest::Act(b));
            let dest = Dest::Residual { x, act: a };
            grid.winograd(c2, c2.winograd(once, u), Input::Bordered(b), dest);
        }
        // packets += conv_out(a)
        let (conv, wino) = (&self.conv_out, self.conv_out.winograd(once, u));
        grid.winograd(conv, wino, Input::Bordered(a), Dest::Planes(planes));
    }
}

/// Buffers reused from band to band (channels-last; `a` and `b` with a zero border of
/// one pixel), and from layer to layer (`u`, Winograd weights not kept).
#[derive(Default)]
struct Work {
    x: Vec<f32>,
    a: Vec<f32>,
    b: Vec<f32>,
    u: Vec<f32>,
}

/// The decoder's output, `[P, h, w]` planes, written in place by the threads of the last
/// layer: each writes only its own rows, and only those a band keeps.
#[derive(Clone, Copy)]
struct Planes {
    ptr: *mut f32,
    /// h · w.
    plane: usize,
    w: usize,
    /// Image row of the band's first row.
    top: usize,
    /// Image rows written: `keep.0 .. keep.1`.
    keep: (usize, usize),
    /// Whether the last layer adds to the packets (the skip's, written first) instead
    /// of writing them.
    add: bool,
}

// SAFETY: threads given a `Planes` write disjoint pixels (their own rows) of a buffer
// that outlives them (`decode` and `decode_owned` wait for every band).
unsafe impl Send for Planes {}
unsafe impl Sync for Planes {}

impl Planes {
    /// Whether band row `y` is one to write.
    fn keeps(&self, y: usize) -> bool {
        (self.keep.0..self.keep.1).contains(&(self.top + y))
    }

    /// Offset of band pixel (y, x) in the first plane.
    fn at(&self, y: usize, x: usize) -> usize {
        (self.top + y) * self.w + x
    }

    /// Sets band row `y`'s packets to `row` (`[co][x]`: w values for each packet plane).
    ///
    /// # Safety
    /// Row `y` is one the caller's thread writes alone, nothing reads it meanwhile, and
    /// `row` has at most as many planes' values as the buffer has planes.
    unsafe fn write_row(&self, y: usize, row: &[f32]) {
        let at = self.at(y, 0);
        for (c, values) in row.chunks_exact(self.w).enumerate() {
            // SAFETY: see `Planes`; the caller has row y to itself.
            unsafe {
                let dst = self.ptr.add(c * self.plane + at);
                core::ptr::copy_nonoverlapping(values.as_ptr(), dst, self.w);
            }
        }
    }
}

/// A band's latent, `[L, rows, w]` planes `plane` apart from the band's first row, read
/// through a raw pointer: in [`CpuDecoder::decode_owned`] the same buffer is the packets,
/// which the skip's threads write ([`Grid::skip`]).
#[derive(Clone, Copy)]
struct Latent {
    ptr: *const f32,
    plane: usize,
}

// SAFETY: threads only read the latent through a `Latent`, and only while no thread
// writes the rows they read: the first layer before any packet is written, the skip each
// pixel before its own packets.
unsafe impl Send for Latent {}
unsafe impl Sync for Latent {}

/// A whole latent as a decode reads it: its planes, or its nonzero values alone
/// ([`sparse`]).
#[derive(Clone, Copy)]
enum Source<'a> {
    /// `[L, h, w]` planes from the first row.
    Planes(Latent),
    Sparse(&'a Nonzeros),
}

impl<'a> Source<'a> {
    /// The latent's `nonzeros` where they were listed (a mostly zero latent), else its
    /// planes.
    fn of(planes: Latent, nonzeros: Option<&'a Nonzeros>) -> Self {
        match nonzeros {
            Some(nonzeros) => Source::Sparse(nonzeros),
            None => Source::Planes(planes),
        }
    }

    /// Band rows `top..top + rows` of an image `w` wide.
    fn band(self, top: usize, rows: usize, w: usize) -> Band<'a> {
        match self {
            // The band's rows lie in the latent: `top + rows` is at most its height.
            Source::Planes(latent) => Band::Planes(Latent {
                ptr: latent.ptr.wrapping_add(top * w),
                plane: latent.plane,
            }),
            Source::Sparse(nonzeros) => Band::Sparse(nonzeros.band(top, rows)),
        }
    }
}

/// One band of a [`Source`]: its planes from the band's first row, or its rows' nonzero
/// values.
enum Band<'a> {
    Planes(Latent),
    Sparse(sparse::Rows<'a>),
}

/// A convolution's input.
#[derive(Clone, Copy)]
enum Input<'a> {
    /// Channels-last with a zero border, as [`Grid::zeroed`] makes it.
    Bordered(&'a [f32]),
    /// The latent planes, copied to channels-last a few rows at a time: a whole bordered
    /// copy of a 768×512 photo's latent (192 channels) was 5 MB of a decode's fresh
    /// memory.
    Latent(Latent),
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
    /// packets = v (see [`Planes`]).
    Planes(Planes),
}

/// One output row's share of a [`Dest`], given to one thread.
enum RowsDest<'a> {
    Start(&'a mut [f32], &'a mut [f32]),
    Act(&'a mut [f32]),
    Residual(&'a mut [f32], &'a mut [f32]),
    Planes(Planes),
}

/// A band of `rows × w` pixels. Bordered buffers have a zero border of one pixel, and
/// more rows and columns up to a multiple of M, so that every tile's input block lies
/// inside them.
#[derive(Clone, Copy)]
struct Grid {
    rows: usize,
    w: usize,
}

impl Grid {
    fn tiles(&self) -> (usize, usize) {
        (self.rows.div_ceil(M), self.w.div_ceil(M))
    }

    /// Pixels per bordered row.
    fn bw(&self) -> usize {
        M * self.tiles().1 + 2
    }

    fn zeroed(&self, buf: &mut Vec<f32>, channels: usize) {
        buf.clear();
        buf.resize((M * self.tiles().0 + 2) * self.bw() * channels, 0.0);
    }

    /// Applies `conv` to `input` in Winograd form ([`conv_tiles`]), writing through
    /// `dest`.
    fn winograd(&self, conv: &Conv3, wino: &[f32], input: Input, dest: Dest) {
        self.conv(conv, dest, |rows, part| {
            conv_tiles(self, conv, wino, input, rows, part)
        });
    }

    /// Runs `run(tile rows, their share of dest)` for `conv`'s output: natively the
    /// rows of tiles are shared out among the cores in contiguous runs.
    fn conv(
        &self,
        conv: &Conv3,
        dest: Dest,
        run: impl Fn(core::ops::Range<usize>, RowsDest) + Sync,
    ) {
        let (ty, _) = self.tiles();
        let work = self.rows * self.w * conv.cin * conv.cout;
        let threads = crate::cores::threads_for(work).min(ty).max(1);
        let per = ty.div_ceil(threads); // tile rows per thread
        let parts = ty.div_ceil(per);
        // Every destination is split at row boundaries (M pixel rows per tile row), so
        // each thread owns its rows.
        fn split(buf: &mut [f32], parts: usize, len: usize, skip: usize) -> Vec<&mut [f32]> {
            buf[skip..].chunks_mut(len).take(parts).collect()
        }
        let (flat, bordered) = (
            M * per * self.w * conv.cout,
            M * per * self.bw() * conv.cout,
        );
        let border = self.bw() * conv.cout;
        let parts: Vec<RowsDest> = match dest {
            Dest::Start { x, act } => split(x, parts, flat, 0)
                .into_iter()
                .zip(split(act, parts, bordered, border))
                .map(|(x, a)| RowsDest::Start(x, a))
                .collect(),
            Dest::Act(act) => split(act, parts, bordered, border)
                .into_iter()
                .map(RowsDest::Act)
                .collect(),
            Dest::Residual { x, act } => split(x, parts, flat, 0)
                .into_iter()
                .zip(split(act, parts, bordered, border))
                .map(|(x, a)| RowsDest::Residual(x, a))
                .collect(),
            Dest::Planes(planes) => (0..parts).map(|_| RowsDest::Planes(planes)).collect(),
        };
        crate::cores::each_part(parts, |i, part| {
            let first = i * per;
            run(first..(first + per).min(ty), part)
        });
    }

    /// The latent's rows for tile rows `tiles` (band rows M·start − 1 .. M·end + 1, zero
    /// outside the band), bordered and channels-last as [`zeroed`](Self::zeroed) lays
    /// out, into `strip`: its border columns are never written, so they stay zero.
    fn strip(
        &self,
        strip: &mut Vec<f32>,
        latent: Latent,
        cin: usize,
        tiles: core::ops::Range<usize>,
    ) {
        let (w, bw) = (self.w, self.bw());
        let rows = M * tiles.len() + 2;
        if strip.len() < rows * bw * cin {
            strip.resize(rows * bw * cin, 0.0);
        }
        for (i, dst) in strip.chunks_exact_mut(bw * cin).take(rows).enumerate() {
            let dst = &mut dst[cin..(w + 1) * cin];
            // Band row, wrapping below zero for the top border.
            let r = (M * tiles.start + i).wrapping_sub(1);
            if r >= self.rows {
                dst.fill(0.0);
                continue;
            }
            for c in 0..cin {
                // SAFETY: row r of plane c lies in the band's latent, which no thread
                // writes while the first layer reads it (see `Latent`).
                let src = unsafe {
                    core::slice::from_raw_parts(latent.ptr.add(c * latent.plane + r * w), w)
                };
                for (x, &v) in src.iter().enumerate() {
                    dst[x * cin + c] = v;
                }
            }
        }
    }

    /// Runs `run(band rows)` over the band's rows in contiguous runs shared out among the
    /// cores, for `work` multiply-adds per pixel.
    fn row_runs(&self, work: usize, run: impl Fn(core::ops::Range<usize>) + Sync) {
        let threads = crate::cores::threads_for(self.rows * self.w * work).min(self.rows);
        let per = self.rows.div_ceil(threads.max(1));
        crate::cores::each_part(0..self.rows.div_ceil(per), |i, _| {
            run(i * per..((i + 1) * per).min(self.rows))
        });
    }

    /// The packets of the rows `planes` keeps set to the linear skip of the band's
    /// latent planes, `latent · S` (`skip` = (latent channels, S)). Each thread reads a
    /// row's latent whole before it writes that row's packets, so `planes` may be the
    /// latent's own buffer.
    fn skip(&self, (sin, weights): &(usize, Vec<f32>), latent: Latent, planes: Planes) {
        let (w, sin, cout) = (self.w, *sin, weights.len() / sin);
        // Whole views for the threads (a closure would take only their pointers).
        let (latent, planes) = (&latent, &planes);
        self.row_runs(sin * cout, |rows| {
            let mut row = vec![0.0f32; cout * w];
            for y in rows.filter(|&y| planes.keeps(y)) {
                // SAFETY: row y of every latent plane (w × sin: pixels of stride 1, planes
                // `plane` apart) lies in the latent, which no thread writes before it is
                // read here (see `Latent`); S (sin × cout, stored `[co][cj]`) lies in
                // `weights`, and `row` (cout × w, `[co][x]`) is this thread's.
                unsafe {
                    crate::matmul::strided(
                        (w, cout, sin),
                        (row.as_mut_ptr(), 1, w),
                        (latent.ptr.add(y * w), 1, latent.plane),
                        (weights.as_ptr(), 1, sin),
                    );
                }
                // SAFETY: row y is this thread's, and its latent was read whole by the
                // product above.
                unsafe { planes.write_row(y, &row) };
            }
        });
    }

    /// The conv for the tile rows `tile_rows`, [`TILES`] tiles at a time: input
    /// transform, A² products, output transform and epilogue. `dest` starts at the
    /// first pixel row of these tiles. The latent as input is copied to a bordered
    /// channels-last strip for as many tile rows as a round of tiles covers (one, for
    /// an image at least `TILES` tiles wide).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn conv_tiles(
        &self,
        conv: &Conv3,
        wino: &[f32],
        input: Input,
        tile_rows: core::ops::Range<usize>,
        mut dest: RowsDest,
    ) {
        let (w, bw, cin, cout) = (self.w, self.bw(), conv.cin, conv.cout);
        let (_, tx) = self.tiles();
        let first_row = M * tile_rows.start;
        let cap = TILES.min(tile_rows.len() * tx);
        let mut v = vec![0.0f32; A * A * cap * cin];
        let mut m = vec![0.0f32; A * A * cap * cout];
        let mut scratch = vec![0.0f32; A * A * cin.max(cout)];
        let mut out = vec![0.0f32; M * M * cout];
        let group = match input {
            Input::Bordered(_) => tile_rows.len().max(1),
            Input::Latent(_) => (TILES / tx).max(1),
        };
        let mut strip = Vec::new();
        for k0 in tile_rows.clone().step_by(group) {
            let k1 = (k0 + group).min(tile_rows.end);
            // The input, and the bordered row of it that tile row k0 starts at.
            let (input, row0) = match input {
                Input::Bordered(input) => (input, 0),
                Input::Latent(latent) => {
                    self.strip(&mut strip, latent, cin, k0..k1);
                    (&strip[..], M * k0)
                }
            };
            let tiles = k0 * tx..k1 * tx;
            for t0 in tiles.clone().step_by(TILES) {
                let n = TILES.min(tiles.end - t0);
                for (i, t) in (t0..t0 + n).enumerate() {
                    let base = (M * (t / tx) - row0) * bw + M * (t % tx);
                    // Bᵀ d B: along each row of the block (d B, row r at scratch[A·r..]),
                    // then down the columns into V_ξ, ξ = A·i + j.
                    for r in 0..A {
                        let d = &input[(base + r * bw) * cin..][..A * cin];
                        let d: [&[f32]; A] = core::array::from_fn(|j| &d[j * cin..][..cin]);
                        transform_in(rows(&mut scratch[A * r * cin..], cin, cin), d);
                    }
                    for j in 0..A {
                        let col: [&[f32]; A] =
                            core::array::from_fn(|r| &scratch[(A * r + j) * cin..][..cin]);
                        transform_in(rows(&mut v[(j * n + i) * cin..], A * n * cin, cin), col);
                    }
                }
                for xi in 0..A * A {
                    // m_ξ (n × cout) = v_ξ (n × cin) · U_ξ (cin × cout).
                    crate::matmul::product(
                        (n, cout, cin),
                        &mut m[xi * n * cout..],
                        cout,
                        &v[xi * n * cin..],
                        cin,
                        &wino[xi * cin * cout..],
                        cout,
                    );
                }
                for (i, t) in (t0..t0 + n).enumerate() {
                    let mat: [&[f32]; A * A] =
                        core::array::from_fn(|xi| &m[(xi * n + i) * cout..][..cout]);
                    winograd_out(&mut out, &mut scratch, cout, &mat, &conv.bias);
                    let (y0, x0) = (M * (t / tx), M * (t % tx));
                    for (k, v) in out.chunks_exact_mut(cout).enumerate() {
                        let (y, x) = (y0 + k / M, x0 + k % M);
                        if y >= self.rows || x >= w {
                            continue;
                        }
                        let flat = ((y - first_row) * w + x) * cout;
                        let bordered = ((y - first_row) * bw + x + 1) * cout;
                        finish(&mut dest, (y, x), flat, bordered, v);
                    }
                }
            }
        }
    }
}

crate::cores::wide_vectors! {
    /// [`Grid::conv_tiles`], compiled for AVX2 too: the input and output transforms and
    /// the epilogue are loops over channels.
    fn conv_tiles(
        grid: &Grid,
        conv: &Conv3,
        wino: &[f32],
        input: Input<'_>,
        tile_rows: core::ops::Range<usize>,
        dest: RowsDest<'_>,
    ) {
        grid.conv_tiles(conv, wino, input, tile_rows, dest)
    }
}

/// `K` slices of `len` values, `stride` apart from the start of `buf`.
#[inline(always)]
fn rows<const K: usize>(buf: &mut [f32], stride: usize, len: usize) -> [&mut [f32]; K] {
    let mut chunks = buf.chunks_mut(stride);
    core::array::from_fn(|_| &mut chunks.next().expect("buffer holds K rows")[..len])
}

/// o = Bᵀ x for six vectors of channels (one loop over the channels, so that it
/// vectorises), Bᵀ being Lavin & Gray's (the unit tests hold it as a matrix).
#[inline(always)]
fn transform_in(o: [&mut [f32]; A], x: [&[f32]; A]) {
    let [o0, o1, o2, o3, o4, o5] = o;
    let n = o0.len();
    let [x0, x1, x2, x3, x4, x5] = x.map(|x| &x[..n]);
    let (o1, o2, o3, o4, o5) = (
        &mut o1[..n],
        &mut o2[..n],
        &mut o3[..n],
        &mut o4[..n],
        &mut o5[..n],
    );
    for c in 0..n {
        let (a0, a1, a2, a3, a4, a5) = (x0[c], x1[c], x2[c], x3[c], x4[c], x5[c]);
        o0[c] = 4.0 * a0 - 5.0 * a2 + a4;
        o1[c] = -4.0 * a1 - 4.0 * a2 + a3 + a4;
        o2[c] = 4.0 * a1 - 4.0 * a2 - a3 + a4;
        o3[c] = -2.0 * a1 - a2 + 2.0 * a3 + a4;
        o4[c] = 2.0 * a1 - a2 - 2.0 * a3 + a4;
        o5[c] = 4.0 * a1 - 5.0 * a3 + a5;
    }
}

/// o = Aᵀ x (+ bias) for six vectors of channels, as [`transform_in`].
#[inline(always)]
fn transform_out(o: [&mut [f32]; M], x: [&[f32]; A], bias: Option<&[f32]>) {
    let [o0, o1, o2, o3] = o;
    let n = o0.len();
    let [x0, x1, x2, x3, x4, x5] = x.map(|x| &x[..n]);
    let (o1, o2, o3) = (&mut o1[..n], &mut o2[..n], &mut o3[..n]);
    for c in 0..n {
        let (m0, m1, m2, m3, m4, m5) = (x0[c], x1[c], x2[c], x3[c], x4[c], x5[c]);
        let b = bias.map_or(0.0, |b| b[c]);
        o0[c] = m0 + m1 + m2 + m3 + m4 + b;
        o1[c] = m1 - m2 + 2.0 * m3 - 2.0 * m4 + b;
        o2[c] = m1 + m2 + 4.0 * m3 + 4.0 * m4 + b;
        o3[c] = m1 - m2 + 8.0 * m3 - 8.0 * m4 + m5 + b;
    }
}

/// Aᵀ M A + bias for one tile: `out` gets its M×M outputs (row-major, `c` each) from
/// the A² product rows `m[ξ]`; `s` is scratch.
#[inline(always)]
fn winograd_out(out: &mut [f32], s: &mut [f32], c: usize, m: &[&[f32]; A * A], bias: &[f32]) {
    // Down the columns: S[a][j] = Σ_i Aᵀ[a][i]·M[i][j].
    for j in 0..A {
        let col: [&[f32]; A] = core::array::from_fn(|i| m[A * i + j]);
        transform_out(rows(&mut s[j * c..], A * c, c), col, None);
    }
    // Along the rows: Y[a][b] = Σ_j S[a][j]·Aᵀ[b][j] + bias.
    for a in 0..M {
        let row: [&[f32]; A] = core::array::from_fn(|j| &s[(A * a + j) * c..][..c]);
        transform_out(rows(&mut out[M * a * c..], c, c), row, Some(bias));
    }
}

/// The epilogue of one output pixel `v` (bias added) at band row and column `(y, x)`:
/// `flat` and `bordered` index it in the thread's share of the unbordered and bordered
/// destinations.
#[inline(always)]
fn finish(dest: &mut RowsDest, (y, x): (usize, usize), flat: usize, bordered: usize, v: &[f32]) {
    let c = v.len();
    match dest {
        RowsDest::Start(x, act) => {
            x[flat..flat + c].copy_from_slice(v);
            silu_into(v, &mut act[bordered..bordered + c]);
        }
        RowsDest::Act(act) => silu_into(v, &mut act[bordered..bordered + c]),
        RowsDest::Residual(x, act) => {
            let x = &mut x[flat..flat + c];
            for (x, v) in x.iter_mut().zip(v) {
                *x += v;
            }
            silu_into(x, &mut act[bordered..bordered + c]);
        }
        RowsDest::Planes(out) => {
            if out.keeps(y) {
                let at = out.at(y, x);
                for (c, v) in v.iter().enumerate() {
                    // SAFETY: see `Planes`; (y, x) is in this thread's rows.
                    unsafe {
                        let p = out.ptr.add(c * out.plane + at);
                        *p = if out.add { *p + *v } else { *v };
                    }
                }
            }
        }
    }
}

/// SiLU, x·σ(x) = x / (1 + e^−x), with e^−x from [`exp`]: a loop the compiler turns
/// into vector code (a call to the C library's `expf` per value cost a tenth of the
/// decoder natively and more in wasm).
#[inline(always)]
fn silu_into(x: &[f32], out: &mut [f32]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = v / (1.0 + exp(-v));
    }
}

/// e^t to within about an ulp, in operations that vectorise: t = n·ln 2 + r with
/// |r| ≤ ½ ln 2, e^r by Cephes' degree-6 polynomial, 2^n built in the exponent bits.
/// t is clamped to ±87.3 (e^t stays a normal float), which SiLU does not notice: there
/// x / (1 + e^−x) is already x or a negligible fraction of it.
#[inline(always)]
fn exp(t: f32) -> f32 {
    const LOG2E: f32 = core::f32::consts::LOG2_E;
    // ln 2 in two parts, the first exact in few bits, so n·LN2_HI is exact.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding and subtracting 1.5·2^23 rounds to the nearest integer without a branch.
    const ROUND: f32 = 12_582_912.0;
    let t = t.clamp(-87.3, 87.3);
    let n = (t * LOG2E + ROUND) - ROUND;
    let r = (t - n * LN2_HI) - n * LN2_LO;
    let p = 1.987_569_1e-4;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let e = p * (r * r) + r + 1.0;
    e * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BT: [[f32; A]; A] = [
        [4.0, 0.0, -5.0, 0.0, 1.0, 0.0],
        [0.0, -4.0, -4.0, 1.0, 1.0, 0.0],
        [0.0, 4.0, -4.0, -1.0, 1.0, 0.0],
        [0.0, -2.0, -1.0, 2.0, 1.0, 0.0],
        [0.0, 2.0, -1.0, -2.0, 1.0, 0.0],
        [0.0, 4.0, 0.0, -5.0, 0.0, 1.0],
    ];

    const AT: [[f32; A]; M] = [
        [1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
        [0.0, 1.0, -1.0, 2.0, -2.0, 0.0],
        [0.0, 1.0, 1.0, 4.0, 4.0, 0.0],
        [0.0, 1.0, -1.0, 8.0, -8.0, 1.0],
    ];

    /// The written-out transforms are the matrices.
    #[test]
    fn transforms_are_lavin_and_grays() {
        let x: [Vec<f32>; A] = core::array::from_fn(|k| vec![(k * k) as f32 - 2.5, k as f32]);
        let xs: [&[f32]; A] = core::array::from_fn(|k| &x[k][..]);
        let mut o = vec![0.0f32; 2 * A];
        transform_in(rows(&mut o, 2, 2), xs);
        for (i, bt) in BT.iter().enumerate() {
            for c in 0..2 {
                let want: f32 = (0..A).map(|k| bt[k] * x[k][c]).sum();
                assert_eq!(o[2 * i + c], want, "Bᵀ row {i}");
            }
        }
        transform_out(rows(&mut o, 2, 2), xs, Some(&[0.5, 0.25]));
        for (i, at) in AT.iter().enumerate() {
            for c in 0..2 {
                let want: f32 = (0..A).map(|k| at[k] * x[k][c]).sum::<f32>() + [0.5, 0.25][c];
                assert_eq!(o[2 * i + c], want, "Aᵀ row {i}");
            }
        }
    }

    #[test]
    fn exp_is_within_two_ulps_of_libm() {
        let mut worst = 0.0f64;
        for i in -200_000..=200_000 {
            let t = i as f32 * 4.0e-4; // −80 ..= 80
            let (ours, libm) = (exp(t) as f64, libm::expf(t) as f64);
            let ulp = libm::expf(t).to_bits();
            let ulp = (f32::from_bits(ulp + 1) - libm::expf(t)) as f64;
            worst = worst.max((ours - libm).abs() / ulp);
        }
        assert!(worst <= 2.0, "{worst} ulps");
        // Beyond the clamp SiLU's result does not change.
        assert!(exp(100.0).is_finite() && exp(-100.0) > 0.0);
    }
}
