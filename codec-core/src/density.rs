//! The learned entropy model: a factorized density per latent channel (Ballé, Minnen,
//! Singh, Hwang, Johnston, "Variational image compression with a scale hyperprior", 2018,
//! appendix 6.1; CompressAI's `EntropyBottleneck`).
//!
//! Each channel has a monotone cumulative c(x) = sigmoid(f_K(…f_1(x))), where
//! f_k(x) = h_k(softplus(H_k)·x + b_k) and h_k(x) = x + tanh(a_k) ⊙ tanh(x). The probability
//! of a rounded value, and (in training) the density of a value with uniform noise, is
//! c(y + ½) − c(y − ½). Companding bounds the alphabet, so the tails need no quantile
//! search: at export every symbol of −M ..= M is evaluated, the end symbols taking all of
//! the mass beyond them.

use alloc::vec::Vec;
use burn::module::{Module, Param};
use burn::tensor::activation::{sigmoid, softplus};
use burn::tensor::{Device, Tensor, TensorData};

#[derive(Module, Debug)]
pub struct FactorizedDensity {
    /// Per layer: `[C, d_out, d_in]` pre-softplus matrices.
    matrices: Vec<Param<Tensor<3>>>,
    /// Per layer: `[C, d_out, 1]`.
    biases: Vec<Param<Tensor<3>>>,
    /// Per hidden layer: `[C, d_out, 1]` pre-tanh factors.
    factors: Vec<Param<Tensor<3>>>,
}

/// Initial spread of the density. CompressAI starts at 10; the latents here start within a
/// few units, and a density much wider than them costs several bits per symbol until it
/// has learned to narrow (thousands of steps on a CPU).
const INIT_SCALE: f64 = 4.0;
/// The parameters are stored divided by this and multiplied back in the forward pass: under
/// Adam this makes the density learn this many times faster than the networks, which it
/// needs to keep up with the encoder (CompressAI gives its density a separate optimiser).
const PARAM_GAIN: f32 = 10.0;
/// Probabilities are floored here before the log, so a bad outlier costs at most ~30 bits.
const MIN_LIKELIHOOD: f32 = 1e-9;

impl FactorizedDensity {
    pub fn new(channels: usize, filters: &[usize], device: &Device) -> Self {
        let dims: Vec<usize> = core::iter::once(1)
            .chain(filters.iter().copied())
            .chain(core::iter::once(1))
            .collect();
        let scale = INIT_SCALE.powf(1.0 / (dims.len() - 1) as f64);
        let mut matrices = Vec::new();
        let mut biases = Vec::new();
        let mut factors = Vec::new();
        // A fixed pattern of bias offsets in [−½, ½) rather than random ones: the entropy
        // model's start does not need randomness, and this keeps `new` deterministic.
        for (k, pair) in dims.windows(2).enumerate() {
            let (d_in, d_out) = (pair[0], pair[1]);
            let init = ((1.0 / scale / d_out as f64).exp_m1()).ln() as f32;
            let m = Tensor::<3>::full([channels, d_out, d_in], init / PARAM_GAIN, device);
            matrices.push(Param::from_tensor(m));
            let b: Vec<f32> = (0..channels * d_out)
                .map(|i| (((i * 7 + k * 3) % 11) as f32 / 11.0 - 0.5) / PARAM_GAIN)
                .collect();
            biases.push(Param::from_tensor(Tensor::from_data(
                TensorData::new(b, [channels, d_out, 1]),
                device,
            )));
            if k + 2 < dims.len() {
                factors.push(Param::from_tensor(Tensor::zeros(
                    [channels, d_out, 1],
                    device,
                )));
            }
        }
        Self {
            matrices,
            biases,
            factors,
        }
    }

    /// Latent channels modelled.
    pub fn channels(&self) -> usize {
        self.matrices[0].val().dims()[0]
    }

    /// Logits of the cumulative for `x`: `[C, 1, N]` → `[C, 1, N]`.
    fn logits_cumulative(&self, x: Tensor<3>) -> Tensor<3> {
        let last = self.matrices.len() - 1;
        let mut x = x;
        for (k, (m, b)) in self.matrices.iter().zip(&self.biases).enumerate() {
            x = softplus(m.val().mul_scalar(PARAM_GAIN), 1.0).matmul(x)
                + b.val().mul_scalar(PARAM_GAIN);
            if k < last {
                x = x.clone()
                    + self.factors[k]
                        .val()
                        .mul_scalar(PARAM_GAIN)
                        .tanh()
                        .mul(x.tanh());
            }
        }
        x
    }

    /// P(y) = c(y + ½) − c(y − ½) for `y: [C, 1, N]`, computed on the side of the median
    /// where the sigmoids are not both near 1 (which would cancel catastrophically).
    fn likelihood_channels(&self, y: Tensor<3>) -> Tensor<3> {
        let n = y.dims()[2];
        let both = Tensor::cat(vec_of(y.clone().sub_scalar(0.5), y.add_scalar(0.5)), 2);
        let logits = self.logits_cumulative(both);
        let lower = logits.clone().narrow(2, 0, n);
        let upper = logits.narrow(2, n, n);
        let sign = lower.clone().add(upper.clone()).sign().neg();
        (sigmoid(upper.mul(sign.clone())) - sigmoid(lower.mul(sign)))
            .abs()
            .clamp_min(MIN_LIKELIHOOD)
    }

    /// Total information content in bits of `y: [B, C, H, W]` (noisy or rounded).
    pub fn bits(&self, y: Tensor<4>) -> Tensor<1> {
        let [b, c, h, w] = y.dims();
        let per_channel = y.swap_dims(0, 1).reshape([c, 1, b * h * w]);
        let p = self.likelihood_channels(per_channel);
        p.log().sum().div_scalar(-core::f32::consts::LN_2)
    }

    /// The probability of every symbol −M ..= M per channel: `C` rows of `2M + 1` values
    /// summing to 1 (the end symbols take the tails). This is what export turns into
    /// integer tables.
    pub fn symbol_pmfs(&self, max_symbol: i32) -> Vec<Vec<f64>> {
        let c = self.channels();
        let device = self.matrices[0].val().device();
        let count = (2 * max_symbol + 2) as usize;
        // Cumulative at the symbol boundaries −M − ½, …, M + ½.
        let edges: Vec<f32> = (0..count)
            .map(|i| i as f32 - max_symbol as f32 - 0.5)
            .collect();
        let x = Tensor::<1>::from_data(TensorData::new(edges, [count]), &device)
            .reshape([1, 1, count])
            .repeat_dim(0, c);
        let cdf: Vec<f64> = sigmoid(self.logits_cumulative(x))
            .into_data()
            .try_into_vec::<f32>()
            .unwrap_or_default()
            .into_iter()
            .map(f64::from)
            .collect();
        cdf.chunks(count)
            .map(|row| {
                let mut pmf: Vec<f64> = row.windows(2).map(|w| (w[1] - w[0]).max(0.0)).collect();
                // Tails: everything below −M + ½ is −M, everything above M − ½ is M.
                pmf[0] += row[0];
                let last = pmf.len() - 1;
                pmf[last] += 1.0 - row[count - 1];
                pmf
            })
            .collect()
    }
}

fn vec_of(a: Tensor<3>, b: Tensor<3>) -> Vec<Tensor<3>> {
    alloc::vec![a, b]
}
