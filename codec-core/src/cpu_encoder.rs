//! The image encoder for inference, from packet planes straight to symbols: the 1×1
//! projection as matrix products (the `gemm` crate, as the CPU decoder), the bias, the
//! companding and the encoder's rounding in the products' epilogue.
//!
//! Through Burn the same encoder cost a tensor round trip, a convolution with its layout
//! copies, and an `erff` per latent value: about a third of a whole `walloc encode`. The
//! products sum in another order than Burn's convolution, so a latent value can differ in
//! its last bit and, when it lies on a rounding boundary, its symbol by one; encoders may
//! differ so (DESIGN.md, "Determinism"), and tests/tests/cpu_encoder.rs bounds how often.

use alloc::vec;
use alloc::vec::Vec;

use burn::nn::conv::Conv2d;
use burn::tensor::Tensor;

use crate::bottleneck::{Companding, SymbolSearch};
use crate::config::CodecConfig;
use crate::nets::Encoder;

/// Latent positions per product: a block's packets (192 × 256 values) and its latent stay
/// in the second-level cache.
const BLOCK: usize = 256;

/// A linear image encoder laid out for [`symbols`](Self::symbols).
#[derive(Debug, Clone)]
pub struct CpuEncoder {
    /// Packet channels in, latent channels out.
    cin: usize,
    cout: usize,
    /// The projection, `cout × cin` row-major.
    weight: Vec<f32>,
    bias: Vec<f32>,
    search: SymbolSearch,
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

    fn from_conv(conv: &Conv2d, config: &CodecConfig) -> Option<Self> {
        let [cout, cin, kh, kw] = conv.weight.dims();
        if [kh, kw] != [1, 1] || conv.groups != 1 {
            return None;
        }
        let weight = values(conv.weight.val())?;
        let bias = match &conv.bias {
            Some(b) => values(b.val())?,
            None => vec![0.0; cout],
        };
        Some(Self {
            cin,
            cout,
            weight,
            bias,
            search: SymbolSearch::new(Companding::new(config.latent_bits), config.deadzone()),
        })
    }

    /// The symbols of `packets` (`cin` planes of `positions` values): `cout` planes of
    /// `positions` symbols. The latent channels are shared out among the cores.
    pub fn symbols(&self, packets: &[f32], positions: usize) -> Vec<i32> {
        assert_eq!(packets.len(), self.cin * positions, "packet planes");
        let mut out = vec![0i32; self.cout * positions];
        if positions == 0 {
            return out;
        }
        let work = self.cout * self.cin * positions;
        let threads = crate::cores::threads_for(work).clamp(1, self.cout);
        let per = self.cout.div_ceil(threads);
        let parts = out.chunks_mut(per * positions);
        crate::cores::each_part(parts, |i, part| {
            self.channels(packets, positions, i * per, part)
        });
        out
    }

    /// Symbols of latent channels `first..` into `out` (whole planes of `positions`).
    fn channels(&self, packets: &[f32], positions: usize, first: usize, out: &mut [i32]) {
        let m = out.len() / positions;
        let mut z = vec![0.0f32; m * BLOCK];
        for j0 in (0..positions).step_by(BLOCK) {
            let n = BLOCK.min(positions - j0);
            // z (m × n) = the weights' rows first.. (m × cin) · the packets' columns
            // j0..j0 + n (cin × n, rows `positions` apart).
            crate::matmul::product(
                (m, n, self.cin),
                &mut z,
                n,
                &self.weight[first * self.cin..],
                self.cin,
                &packets[j0..],
                positions,
            );
            for (c, row) in z.chunks_exact(n).take(m).enumerate() {
                let b = self.bias[first + c];
                let dst = &mut out[c * positions + j0..][..n];
                for (s, &v) in dst.iter_mut().zip(row) {
                    *s = self.search.symbol(v + b);
                }
            }
        }
    }
}
