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

    /// The encoder's symbol for one latent value: [`forward`](Self::forward), then the
    /// rounding of [`quantize_deadzone`](crate::codec::quantize_deadzone), as the same
    /// f32 operations in the same order (libm's `erff`, which Burn's flex backend uses for
    /// `erf`), so the same symbol as the tensor path. Encoding uses it: one pass over the
    /// latent instead of eight tensor passes.
    #[inline]
    pub fn symbol(&self, z: f32, deadzone: f32) -> i32 {
        let y = libm::erff(z / (self.scale * core::f32::consts::SQRT_2)) * self.latent_max;
        let q = if deadzone <= 0.0 {
            y.round_ties_even()
        } else {
            let sign = if y.is_nan() || y == 0.0 {
                0.0
            } else {
                1f32.copysign(y)
            };
            (y.abs() + (0.5 - deadzone)).floor() * sign
        };
        q as i32
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

    /// The scalar symbol path equals forward + quantize_deadzone on tensors, for every
    /// kind of value: near rounding boundaries, zeros, the clamp region, huge values.
    #[test]
    fn scalar_symbols_equal_the_tensor_path() {
        let mut zs: alloc::vec::Vec<f32> = (-40000..=40000).map(|i| i as f32 * 0.01).collect();
        zs.extend([0.0, -0.0, 1e-30, -1e-30, 1e30, -1e30, f32::MAX, f32::MIN]);
        for bits in [4, 8] {
            let c = Companding::new(bits);
            // Values whose companded value lands next to each rounding boundary.
            for k in -(1 << (bits - 1))..(1 << (bits - 1)) {
                for off in [-1e-4f32, 0.0, 1e-4] {
                    let y = (k as f32 + 0.5 + off) / c.latent_max;
                    if y.abs() < 1.0 {
                        let z: f32 = vals(erfinv(t(&[y])))[0] * c.scale * core::f32::consts::SQRT_2;
                        zs.push(z);
                    }
                }
            }
            for deadzone in [0.0, 0.15, 0.3] {
                let tensor = crate::codec::quantize_deadzone(
                    c.forward(Tensor::<4>::from_data(
                        TensorData::new(zs.clone(), [1, 1, 1, zs.len()]),
                        &Device::flex(),
                    )),
                    deadzone,
                );
                let want = tensor.into_data().try_into_vec::<f32>().unwrap();
                for (z, w) in zs.iter().zip(want) {
                    assert_eq!(
                        c.symbol(*z, deadzone),
                        w as i32,
                        "z {z}, bits {bits}, dz {deadzone}"
                    );
                }
            }
        }
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
