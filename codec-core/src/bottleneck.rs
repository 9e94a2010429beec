//! Companding to a bounded alphabet, as the reference does: the encoder's output z goes
//! through the normal CDF to a uniform value in (−L, L), which is rounded (inference) or
//! gets uniform noise (training). Decoding maps back with the inverse CDF.
//!
//! With L = 2^(b−1) − 1 + 0.5 − 10⁻³ every rounded value is a symbol in
//! −(2^(b−1)−1) ..= 2^(b−1)−1, so the entropy coder's finite tables cover every symbol the
//! encoder can produce: no escape code is needed.

use burn::tensor::Tensor;

/// The companding constants for `bits` bits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Companding {
    /// Half-width L of the uniform range.
    pub latent_max: f32,
    /// Scale s of the Gaussian the encoder output is compared with.
    pub scale: f32,
}

impl Companding {
    pub fn new(bits: u32) -> Self {
        let m = ((1u32 << (bits - 1)) - 1) as f32;
        Self {
            latent_max: m + 0.5 - 1e-3,
            scale: m / 1.85,
        }
    }

    /// y = 2L·(Φ(z/s) − ½) = L·erf(z / (s√2)).
    pub fn forward<const D: usize>(&self, z: Tensor<D>) -> Tensor<D> {
        z.div_scalar(self.scale * core::f32::consts::SQRT_2)
            .erf()
            .mul_scalar(self.latent_max)
    }

    /// z' = s·Φ⁻¹(u), u = clamp(ŷ/(2L) + ½, 10⁻⁴, 0.9999); i.e. s√2·erfinv(2u − 1).
    pub fn inverse<const D: usize>(&self, y: Tensor<D>) -> Tensor<D> {
        let v = y
            .div_scalar(self.latent_max)
            .clamp(2.0 * 1e-4 - 1.0, 2.0 * 0.9999 - 1.0);
        erfinv(v).mul_scalar(self.scale * core::f32::consts::SQRT_2)
    }
}

/// Inverse error function for |x| < 1 with tensor operations (M. Giles, "Approximating the
/// erfinv function", GPU Computing Gems, 2010; single-precision coefficients). Burn has
/// `erf` but no `erfinv`; this keeps the decoder differentiable for training.
pub fn erfinv<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    // w = −ln((1 − x)(1 + x))
    let w = x.clone().mul(x.clone()).neg().add_scalar(1.0).log().neg();
    let central = horner(
        w.clone().sub_scalar(2.5),
        &[
            2.810_226_4e-8,
            3.432_739_4e-7,
            -3.523_387_7e-6,
            -4.391_506_5e-6,
            2.185_808_7e-4,
            -1.253_725e-3,
            -4.177_681_6e-3,
            0.246_640_73,
            1.501_409_4,
        ],
    );
    // The tail branch only counts where w ≥ 5; clamping first keeps sqrt's gradient at
    // w = 0 (x = 0) from turning into 0·∞ = NaN through the mask.
    let tail = horner(
        w.clone().clamp_min(5.0).sqrt().sub_scalar(3.0),
        &[
            -2.002_142_6e-4,
            1.009_505_6e-4,
            1.349_343_2e-3,
            -3.673_428_4e-3,
            5.739_507_7e-3,
            -7.622_461e-3,
            9.438_870_5e-3,
            1.001_674_1,
            2.832_976_8,
        ],
    );
    let p = tail.mask_where(w.lower_elem(5.0), central);
    p.mul(x)
}

/// c[0]·w^(n−1) + … + c[n−1].
fn horner<const D: usize>(w: Tensor<D>, c: &[f32]) -> Tensor<D> {
    c[1..]
        .iter()
        .fold(w.zeros_like().add_scalar(c[0]), |p, &k| {
            p.mul(w.clone()).add_scalar(k)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    fn t(v: &[f32]) -> Tensor<1> {
        Tensor::from_data(TensorData::new(v.to_vec(), [v.len()]), &Device::flex())
    }

    fn vals(x: Tensor<1>) -> alloc::vec::Vec<f32> {
        x.into_data().try_into_vec::<f32>().unwrap()
    }

    #[test]
    fn erfinv_inverts_erf() {
        let xs: alloc::vec::Vec<f32> = (-99..=99).map(|i| i as f32 / 100.0).collect();
        let back = vals(erfinv(t(&xs)).erf());
        for (x, b) in xs.iter().zip(back) {
            assert!((x - b).abs() < 2e-6, "erf(erfinv({x})) = {b}");
        }
    }

    #[test]
    fn companding_round_trips_and_bounds_symbols() {
        for bits in [4, 8] {
            let c = Companding::new(bits);
            let m = ((1 << (bits - 1)) - 1) as f32;
            let zs: alloc::vec::Vec<f32> = (-300..=300).map(|i| i as f32 * 0.5).collect();
            let y = vals(c.forward(t(&zs)));
            for &v in &y {
                assert!(v.round().abs() <= m, "{v} rounds outside ±{m}");
            }
            // Away from saturation the inverse recovers z.
            let back = vals(c.inverse(t(&y)));
            for (z, b) in zs.iter().zip(back) {
                if z.abs() < c.scale * 2.5 {
                    assert!((z - b).abs() < 1e-2 * c.scale.max(1.0), "{z} -> {b}");
                }
            }
        }
    }
}
