//! The image encoder for inference, from packet planes straight to symbols: the 1×1
//! projection, the bias, the companding and the encoder's rounding in one pass.
//!
//! Through Burn the same encoder cost a tensor round trip, a convolution with its layout
//! copies, and an `erff` per latent value: about a third of a whole `walloc encode`. The
//! products sum in another order than Burn's convolution, so a latent value can differ in
//! its last bit and, when it lies on a rounding boundary, its symbol by one; encoders may
//! differ so (DESIGN.md, "Determinism"), and tests/tests/cpu_encoder.rs bounds how often.
//!
//! Two ways to the products. A dense projection is matrix products (the `gemm` crate, as
//! the CPU decoder). A sparse one, such as every shipped image model's (a colour
//! transform of each packet, frozen in training: two or three of 192 weights per row are
//! nonzero), is a few multiply-adds per value: the products over the zeros were 98% of
//! the work. Each sparse sum is taken as gemm takes it on this CPU (from zero, in packet
//! order, fused multiply-adds where the CPU has them), and a zero weight leaves gemm's sum
//! as it was, so both ways give the same latent values (tested).

use alloc::vec;
use alloc::vec::Vec;

use burn::nn::conv::Conv2d;
use burn::tensor::Tensor;

use crate::bottleneck::{Companding, SymbolSearch};
use crate::config::CodecConfig;
use crate::nets::Encoder;
use crate::wpt_planes::{self, Sample, Split};

/// Latent positions per product: a block's packets (192 × 256 values) and its latent stay
/// in the second-level cache.
const BLOCK: usize = 256;

/// Positions per sparse pass: a few packet rows and the sums stay in the first-level cache.
const CHUNK: usize = 1024;

/// A linear image encoder laid out for [`symbols`](Self::symbols).
#[derive(Debug, Clone)]
pub struct CpuEncoder {
    /// Packet channels in, latent channels out.
    cin: usize,
    cout: usize,
    weights: Weights,
    bias: Vec<f32>,
    search: SymbolSearch,
    /// The largest symbol (the smallest is its negative).
    max_symbol: i32,
    /// Whether the sparse sums fuse their multiply-adds, as gemm does on this CPU: asked
    /// of the CPU once, not per pass.
    fused: bool,
}

/// The projection, as its products read it.
#[derive(Debug, Clone)]
enum Weights {
    /// `cout × cin`, row-major.
    Dense(Vec<f32>),
    /// Each row's nonzero weights as (packet channel, weight), in channel order: row r's
    /// are `terms[starts[r]..starts[r + 1]]`.
    Sparse {
        starts: Vec<usize>,
        terms: Vec<(usize, f32)>,
    },
}

impl Weights {
    /// The `cout × cin` weights, row-major, that each call of `values` gives: sparse where
    /// at most one weight in eight is nonzero (below that, skipping the zeros beats the
    /// matrix products' speed per multiply-add), and only then copied whole. The nonzero
    /// weights are gathered in one pass, given up for a second, dense one as soon as
    /// they are too many: so a model's bytes are read where they lie, as a dense copy of
    /// the shipped models' projection (147 KB) left a hole in the heap below an encode's
    /// buffers, which then reached one more huge page of fresh memory, and read once
    /// (a first pass counting the nonzeros took 0.05 ms of the model's load, which an
    /// encode waits for; docs/performance.md).
    fn new<I: Iterator<Item = f32>>(values: impl Fn() -> I, cout: usize, cin: usize) -> Self {
        let most = cout * cin / 8;
        let mut starts = Vec::with_capacity(cout + 1);
        let mut terms = Vec::new();
        starts.push(0);
        let mut all = values();
        for _ in 0..cout {
            terms.extend(
                all.by_ref()
                    .take(cin)
                    .enumerate()
                    .filter(|&(_, w)| w != 0.0),
            );
            if terms.len() > most {
                return Self::Dense(values().collect());
            }
            starts.push(terms.len());
        }
        Self::Sparse { starts, terms }
    }
}

/// 32-bit little-endian floats, as a model's weights are stored.
fn le_floats(bytes: &[u8]) -> impl Iterator<Item = f32> + '_ {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn values<const D: usize>(t: Tensor<D>) -> Option<Vec<f32>> {
    t.into_data().try_into_vec::<f32>().ok()
}

impl CpuEncoder {
    /// The encoder of an image model when it is one 1×1 projection (every shipped image
    /// model); `None` for encoders with hidden layers, which stay with Burn.
    pub fn new(encoder: &Encoder, config: &CodecConfig) -> Option<Self> {
        let project = encoder.linear_projection()?;
        Self::from_conv(project, config)
    }

    /// [`new`](Self::new) from a model's weights (burnpack) without building its
    /// networks: the projection is two of its tensors, read where they lie. `None` where
    /// `new` would give `None`, or the tensors are not the 32-bit floats of a 1×1
    /// projection from every packet channel.
    pub fn from_pack(weights: burn::tensor::Bytes, config: &CodecConfig) -> Option<Self> {
        if config.encoder_hidden_layers != 0 {
            return None;
        }
        let (cout, cin) = (config.latent_dim, config.packet_channels());
        let (mut weight, mut bias) = (None, None);
        for tensor in burn_pack::Reader::from_bytes(weights)
            .ok()?
            .into_tensors()
            .ok()?
        {
            let (name, dtype, shape, _, bytes) = tensor.into_parts().ok()?;
            let (slot, dims): (_, &[usize]) = match name.as_str() {
                "encoder.project.weight" => (&mut weight, &[cout, cin, 1, 1]),
                "encoder.project.bias" => (&mut bias, &[cout]),
                _ => continue,
            };
            if dtype != burn::tensor::DType::F32 || shape.as_slice() != dims {
                return None;
            }
            *slot = Some(bytes);
        }
        let (weight, bias) = (weight?, bias.map(|b| le_floats(&b).collect()));
        // The shape was checked; the bytes must hold it too.
        if weight.len() != cout * cin * 4 {
            return None;
        }
        let weights = Weights::new(|| le_floats(&weight), cout, cin);
        Self::with_weights(weights, cout, cin, bias, config)
    }

    fn from_conv(conv: &Conv2d, config: &CodecConfig) -> Option<Self> {
        let [cout, cin, kh, kw] = conv.weight.dims();
        if [kh, kw] != [1, 1] || conv.groups != 1 {
            return None;
        }
        let bias = match &conv.bias {
            Some(b) => Some(values(b.val())?),
            None => None,
        };
        Self::from_weights(values(conv.weight.val())?, cout, cin, bias, config)
    }

    /// From a `cout × cin` projection, row-major, and its bias (zero where `None`).
    fn from_weights(
        weight: Vec<f32>,
        cout: usize,
        cin: usize,
        bias: Option<Vec<f32>>,
        config: &CodecConfig,
    ) -> Option<Self> {
        if weight.len() != cout * cin {
            return None;
        }
        let weights = Weights::new(|| weight.iter().copied(), cout, cin);
        Self::with_weights(weights, cout, cin, bias, config)
    }

    /// From the projection's weights as its products read them, and its bias (zero where
    /// `None`).
    fn with_weights(
        weights: Weights,
        cout: usize,
        cin: usize,
        bias: Option<Vec<f32>>,
        config: &CodecConfig,
    ) -> Option<Self> {
        let bias = bias.unwrap_or_else(|| vec![0.0; cout]);
        if bias.len() != cout {
            return None;
        }
        Some(Self {
            cin,
            cout,
            weights,
            bias,
            search: SymbolSearch::new(Companding::new(config.latent_bits), config.deadzone()),
            max_symbol: config.max_symbol(),
            fused: has_fma(),
        })
    }

    /// Whether the products skip the projection's zero weights (most are zero).
    pub fn sparse(&self) -> bool {
        matches!(self.weights, Weights::Sparse { .. })
    }

    /// The symbols of `packets` (`cin` planes of `positions` values): `cout` planes of
    /// `positions` symbols. The latent channels are shared out among the cores.
    pub fn symbols(&self, packets: &[f32], positions: usize) -> Vec<i32> {
        assert_eq!(packets.len(), self.cin * positions, "packet planes");
        let origins: Vec<usize> = (0..self.cin).map(|p| p * positions).collect();
        self.symbols_of(&Packets::planes(packets, &origins, positions))
    }

    /// [`symbols`](Self::symbols) of the packets of planes whose rows
    /// `fill_row(plane, row, out)` writes, made a row of packets at a time
    /// ([`wpt_planes::by_latent_rows`]): no plane of packets is ever whole.
    pub fn symbols_of_rows<X: Sample>(
        &self,
        split: Split,
        fill_row: &(impl Fn(usize, usize, &mut [X]) + Sync),
    ) -> Vec<i32> {
        self.row_symbols(split, fill_row)
    }

    /// [`symbols_of_rows`](Self::symbols_of_rows) in one byte each, where every symbol
    /// the model makes fits in one ([`fits_bytes`](Self::fits_bytes)): a quarter of the
    /// memory, all of it fresh in a short process.
    pub fn symbol_bytes_of_rows<X: Sample>(
        &self,
        split: Split,
        fill_row: &(impl Fn(usize, usize, &mut [X]) + Sync),
    ) -> Vec<i8> {
        assert!(self.fits_bytes(), "symbols wider than a byte");
        self.row_symbols(split, fill_row)
    }

    /// Whether every symbol lies in −127..=127 (8-bit companding).
    pub fn fits_bytes(&self) -> bool {
        self.max_symbol <= i32::from(i8::MAX)
    }

    fn row_symbols<X: Sample, S: Symbol>(
        &self,
        split: Split,
        fill_row: &(impl Fn(usize, usize, &mut [X]) + Sync),
    ) -> Vec<S> {
        assert_eq!(split.packets(), self.cin, "packet count");
        let origins = split.row_offsets();
        let lw = split.packet_shape().1;
        wpt_planes::by_latent_rows(split, fill_row, self.cout, |row: &[X], out: &mut [S]| {
            match &self.weights {
                Weights::Sparse { starts, terms } => {
                    let packets = Packets::planes(row, &origins, lw);
                    self.sparse_channels(starts, terms, &packets, 0, out)
                }
                Weights::Dense(weight) => {
                    let mut planes = Vec::with_capacity(self.cin * lw);
                    for &at in &origins {
                        planes.extend(row[at..][..lw].iter().map(|v| v.to_f32() / X::ONE));
                    }
                    self.dense_channels(weight, &planes, lw, 0, out)
                }
            }
        })
    }

    fn symbols_of<S: Symbol>(&self, packets: &Packets<f32>) -> Vec<S> {
        let positions = packets.positions;
        let len = self.cout * positions;
        if positions == 0 {
            return vec![S::default(); len];
        }
        let work = self.cout * self.cin * positions;
        let threads = crate::cores::threads_for(work).clamp(1, self.cout);
        let per = self.cout.div_ceil(threads);
        crate::cores::filled_in_parts(len, per * positions, work, |i, part| match &self.weights {
            Weights::Dense(weight) => {
                // Dense products read the planes one after another.
                debug_assert!(
                    (packets.origins.iter().enumerate()).all(|(p, &at)| at == p * positions),
                    "planes one after another"
                );
                let planes = &packets.values[..self.cin * positions];
                self.dense_channels(weight, planes, positions, i * per, part)
            }
            Weights::Sparse { starts, terms } => {
                let rows = &starts[i * per..];
                self.sparse_channels(rows, terms, packets, i * per, part)
            }
        })
    }

    /// Symbols of latent channels `first..` into `out` (whole planes of
    /// `packets.positions` values), from the rows' nonzero terms (`rows[c]..rows[c + 1]`
    /// for channel `first + c`).
    fn sparse_channels<X: Sample, S: Symbol>(
        &self,
        rows: &[usize],
        terms: &[(usize, f32)],
        packets: &Packets<X>,
        first: usize,
        out: &mut [S],
    ) {
        let positions = packets.positions;
        let mut z = [0.0f32; CHUNK];
        // Fixed-point samples' scale goes into the weights (1 for floats).
        let unit = 1.0 / X::ONE;
        for (c, plane) in out.chunks_exact_mut(positions).enumerate() {
            let terms = &terms[rows[c]..rows[c + 1]];
            let b = self.bias[first + c];
            for (j0, dst) in (0..positions).step_by(CHUNK).zip(plane.chunks_mut(CHUNK)) {
                let (z, n) = (&mut z[..dst.len()], dst.len());
                let x = |k: usize| &packets.values[packets.origins[k] + j0..][..n];
                match terms.split_first() {
                    None => z.fill(0.0),
                    Some((&(k, w), rest)) => {
                        // The first term written, not added to zeros written first
                        // (12 000 small clears per photo): the same values.
                        multiply_add::<true, X>(self.fused, z, w * unit, x(k));
                        for &(k, w) in rest {
                            multiply_add::<false, X>(self.fused, z, w * unit, x(k));
                        }
                    }
                }
                S::store(&self.search, z, b, dst);
            }
        }
    }

    /// Symbols of latent channels `first..` into `out` (whole planes of `positions`), by
    /// matrix products with the rows of `weight`.
    fn dense_channels<S: Symbol>(
        &self,
        weight: &[f32],
        packets: &[f32],
        positions: usize,
        first: usize,
        out: &mut [S],
    ) {
        let m = out.len() / positions;
        // A block's products at most; a row of packets is often narrower.
        let mut z = vec![0.0f32; m * BLOCK.min(positions)];
        for j0 in (0..positions).step_by(BLOCK) {
            let n = BLOCK.min(positions - j0);
            // z (m × n) = the weights' rows first.. (m × cin) · the packets' columns
            // j0..j0 + n (cin × n, rows `positions` apart).
            crate::matmul::product(
                (m, n, self.cin),
                &mut z,
                n,
                &weight[first * self.cin..],
                self.cin,
                &packets[j0..],
                positions,
            );
            for (c, row) in z.chunks_exact(n).take(m).enumerate() {
                let b = self.bias[first + c];
                S::store(&self.search, row, b, &mut out[c * positions + j0..][..n]);
            }
        }
    }
}

/// How a symbol is stored: 32 bits, or a byte where the model's symbols fit in one.
trait Symbol: Copy + Default + Send {
    /// The symbols of `z` (plus `bias`) into `out`.
    fn store(search: &SymbolSearch, z: &[f32], bias: f32, out: &mut [Self]);
}

impl Symbol for i32 {
    fn store(search: &SymbolSearch, z: &[f32], bias: f32, out: &mut [i32]) {
        search.symbols_into(z, bias, out);
    }
}

impl Symbol for i8 {
    fn store(search: &SymbolSearch, z: &[f32], bias: f32, out: &mut [i8]) {
        // Only models whose symbols lie in −127..=127 come here (`fits_bytes`).
        search.symbol_bytes_into(z, bias, out);
    }
}

/// Packets to project: packet `p` is the `positions` values from `values[origins[p]..]`
/// (whole planes, or one row of each packet as the transform makes it).
struct Packets<'a, X> {
    values: &'a [X],
    origins: &'a [usize],
    positions: usize,
}

impl<'a, X> Packets<'a, X> {
    fn planes(values: &'a [X], origins: &'a [usize], positions: usize) -> Self {
        Packets {
            values,
            origins,
            positions,
        }
    }
}

/// Whether the CPU has the fused multiply-adds (x86-64 with AVX2 and FMA) that gemm's
/// microkernels use.
fn has_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("fma") && std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `z[i] += w · x[i]` as gemm's microkernels add a product on this CPU: fused where
/// `fused` ([`has_fma`]), a product then a sum elsewhere. With `FIRST`, `z` is not read:
/// `z[i] = 0 + w · x[i]`, bit for bit what the sum onto zeros gives (a product of −0
/// becomes +0 either way), without the zeros written first.
fn multiply_add<const FIRST: bool, X: Sample>(fused: bool, z: &mut [f32], w: f32, x: &[X]) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        fn fma<const FIRST: bool, X: Sample>(z: &mut [f32], w: f32, x: &[X]) {
            for (z, &x) in z.iter_mut().zip(x) {
                *z = w.mul_add(x.to_f32(), if FIRST { 0.0 } else { *z });
            }
        }
        if fused {
            // SAFETY: `fused` comes from `has_fma`: the CPU has AVX2 and FMA.
            return unsafe { fma::<FIRST, X>(z, w, x) };
        }
    }
    let _ = fused;
    for (z, &x) in z.iter_mut().zip(x) {
        *z = if FIRST { 0.0 } else { *z } + w * x.to_f32();
    }
}
