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

    /// About where [`symbol`](Self::symbol) reaches `want` coming from below: where y
    /// crosses the rounding's threshold, `want − ½ + deadzone` for a positive symbol
    /// (and the mirror image for the others), taken back through the inverse of the erf.
    /// Only a starting point for [`SymbolSearch`], which checks it (NaN where there is
    /// no such y).
    fn boundary_guess(&self, want: i32, deadzone: f32) -> f32 {
        let past = |k: i32| k as f32 - 0.5 + deadzone;
        let y = if want >= 1 {
            past(want)
        } else {
            -past(1 - want)
        };
        let x = y / self.latent_max;
        if x.abs() < 1.0 {
            erfinv_value(x) * (self.scale * core::f32::consts::SQRT_2)
        } else {
            f32::NAN
        }
    }

    /// z' = s·Φ⁻¹(u), u = clamp(ŷ/(2L) + ½, 10⁻⁴, 0.9999); i.e. s√2·erfinv(2u − 1).
    pub fn inverse<const D: usize>(&self, y: Tensor<D>) -> Tensor<D> {
        let v = y
            .div_scalar(self.latent_max)
            .clamp(2.0 * 1e-4 - 1.0, 2.0 * 0.9999 - 1.0);
        erfinv(v).mul_scalar(self.scale * core::f32::consts::SQRT_2)
    }

    /// [`inverse`](Self::inverse) of one value, as the same f32 operations in the same
    /// order (std's `ln` and `sqrt`, as Burn's flex backend uses), so the same value as
    /// the tensor path. Decoding makes its table of every symbol's value with it: the
    /// tensor path ran the first decode of a page through ≈ 30 ms of Burn code compiled
    /// for that one use.
    pub fn inverse_value(&self, y: f32) -> f32 {
        // The tensor path's bounds are f64 literals that Burn narrows to f32.
        let (low, high) = ((2.0f64 * 1e-4 - 1.0) as f32, (2.0f64 * 0.9999 - 1.0) as f32);
        let v = (y / self.latent_max).clamp(low, high);
        erfinv_value(v) * (self.scale * core::f32::consts::SQRT_2)
    }
}

/// [`Companding::symbol`] as a lookup: the symbol is a nondecreasing function of z, so it
/// is fixed by the smallest z at which each symbol starts. Those boundaries are found once
/// by bisection over the f32 values themselves, with `symbol` as the judge. A symbol is
/// then a bucket of a fine grid over z (which counts the boundaries in earlier buckets)
/// and a comparison with the next boundary or two, instead of an `erff`: the erf, the
/// division and the rounding were a sixth of a whole `walloc encode`.
///
/// Exact wherever `symbol` is monotone in z, which holds for every f32 with the shipped
/// settings (checked over all 2^32 bit patterns for 8 bits and dead zones 0, 0.15 (every
/// shipped model) and 0.3; the unit test checks both sides of every boundary and a
/// million samples).
#[derive(Clone, Debug)]
pub struct SymbolSearch {
    /// `starts[i]` = the smallest z whose symbol is at least `min + i + 1`, then NaN as a
    /// sentinel that no comparison passes (the lowest symbol starts at −∞).
    starts: alloc::vec::Vec<f32>,
    /// `grid[b]` = the number of boundaries that fall in buckets before b.
    grid: alloc::vec::Vec<u16>,
    /// The grid: bucket b starts at `low + b / scale`.
    low: f32,
    scale: f32,
    min: i32,
    /// [`near_zero`](Self::near_zero), found once here: [`symbols_into`] runs on every
    /// chunk of a latent row.
    near: Option<Near>,
}

/// The window of [`SymbolSearch::symbols_into`]'s second case: its lowest and highest
/// values (the boundary below its first boundary, and the one after its last), its
/// [`NEAR`] boundaries, and the symbol of a value below all of them.
type Near = (f32, f32, [f32; NEAR], i32);

/// How far (in f32 steps) [`SymbolSearch::new`] looks either side of a boundary's guess
/// ([`Companding::boundary_guess`]); the guesses lie within 107 of the boundaries for 2 to
/// 12 bits and dead zones 0 to 0.3 (tested).
const GUESS_ULPS: u32 = 1 << 9;

/// Grid buckets; finer than the densest boundaries of 12-bit latents near zero.
const GRID: usize = 1 << 14;

impl SymbolSearch {
    pub fn new(companding: Companding, deadzone: f32) -> Self {
        let symbol = |z: f32| companding.symbol(z, deadzone);
        let (min, max) = (symbol(f32::NEG_INFINITY), symbol(f32::INFINITY));
        let bisect = |want: i32| {
            // Bisection over order keys: [lo, hi] holds the first key whose symbol is
            // at least `want`. It starts from the whole line, or from the
            // [`GUESS_ULPS`] keys either side of where the companding's inverse puts
            // the boundary, once `symbol` confirms that they hold it: 12 steps
            // instead of 32 (each an `erff`), on the path to an encode's first row.
            let (mut lo, mut hi) = (order_key(f32::NEG_INFINITY), order_key(f32::INFINITY));
            let guess = companding.boundary_guess(want, deadzone);
            if guess.is_finite() {
                let key = order_key(guess);
                let (below, above) = (key - GUESS_ULPS, key + GUESS_ULPS);
                if symbol(from_order_key(below)) < want && symbol(from_order_key(above)) >= want {
                    (lo, hi) = (below + 1, above);
                }
            }
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if symbol(from_order_key(mid)) >= want {
                    hi = mid;
                } else {
                    lo = mid + 1;
                }
            }
            from_order_key(lo)
        };
        // The positive symbols' boundaries by bisection, the others from them: `symbol`
        // is odd (erff, the scaling and both roundings are), so z has a symbol of at least
        // `want` ≤ 0 exactly when −z has one below 1 − want, i.e. when z lies above
        // −(the boundary of 1 − want): the next f32 up. Each is checked as the bisection
        // would judge it, and bisected where the check fails. Half the `erff`s: the
        // search was a third of the model's load before an encode could start.
        let positive: alloc::vec::Vec<f32> = (1..=max).map(bisect).collect();
        let mut starts: alloc::vec::Vec<f32> = (min + 1..=max)
            .map(|want| {
                if want >= 1 {
                    return positive[(want - 1) as usize];
                }
                if let Some(&b) = positive.get(want.unsigned_abs() as usize) {
                    let z = (-b).next_up();
                    if symbol(z) >= want && symbol(-b) < want {
                        return z;
                    }
                }
                bisect(want)
            })
            .collect();
        let (first, last) = match (starts.first(), starts.last()) {
            (Some(&a), Some(&b)) if a.is_finite() && b.is_finite() && b > a => (a, b),
            _ => (-1.0, 1.0),
        };
        let scale = (GRID - 1) as f32 / (last - first);
        let low = first;
        // Bucket b starts with the boundaries in earlier buckets, as `bucket` (the very
        // arithmetic of a lookup) places them: it is nondecreasing in z, so a boundary in
        // an earlier bucket lies below every z of bucket b, one in a later bucket above.
        let mut grid = alloc::vec![0u16; GRID];
        for &start in &starts {
            if let Some(g) = grid.get_mut(bucket(start, low, scale) + 1) {
                *g += 1;
            }
        }
        for b in 1..GRID {
            grid[b] += grid[b - 1];
        }
        starts.push(f32::NAN);
        let mut search = Self {
            starts,
            grid,
            low,
            scale,
            min,
            near: None,
        };
        search.near = search.near_zero();
        search
    }

    /// The symbol of z, as [`Companding::symbol`] gives it (NaN gives 0, as there).
    #[inline]
    pub fn symbol(&self, z: f32) -> i32 {
        if z.is_nan() {
            return 0;
        }
        let mut i = usize::from(self.grid[bucket(z, self.low, self.scale)]);
        // Only boundaries in z's own bucket (rarely more than one) are left to compare;
        // the sentinel stops the walk.
        while self.starts[i] <= z {
            i += 1;
        }
        self.min + i as i32
    }

    /// `out[i]` = [`symbol`](Self::symbol)`(z[i] + bias)` for each i (`out` as long as
    /// `z`), eight values at a time:
    /// - a group wholly inside symbol 0's interval is written as zeros: most latent
    ///   values of a photo round to zero (95% at quality 3), in long runs, where each
    ///   lookup was a grid load and a comparison. Exact: z has symbol 0 exactly when it
    ///   lies in `[starts[k − 1], starts[k])`, k = −min, as the walk in `symbol` counts;
    /// - a group wholly inside the [`NEAR`] symbols' intervals around 0 (the next most
    ///   common) counts the boundaries at or below each value, all eight at once: the
    ///   walk's answer too, as every boundary below the window's lies below the value and
    ///   every one above it above;
    /// - any other group, NaN included (it lies in no interval), takes the lookup (which
    ///   gives 0 for NaN).
    pub fn symbols_into(&self, z: &[f32], bias: f32, out: &mut [i32]) {
        symbols_into(self, z, bias, out)
    }

    /// [`symbols_into`](Self::symbols_into) in bytes, for a search whose symbols all fit
    /// in one (8-bit companding: −127..=127); panics otherwise. Written as found, with no
    /// 32-bit copy narrowed after.
    pub fn symbol_bytes_into(&self, z: &[f32], bias: f32, out: &mut [i8]) {
        assert!(
            self.min >= -127 && self.min + self.starts.len() as i32 - 1 <= 127,
            "symbols wider than a byte"
        );
        symbol_bytes_into(self, z, bias, out)
    }

    /// The window of [`symbols_into`](Self::symbols_into)'s second case ([`Near`]); None
    /// where the alphabet is too small to hold it around 0.
    fn near_zero(&self) -> Option<Near> {
        let k = usize::try_from(-self.min).ok()?;
        let first = k.checked_sub(NEAR / 2).filter(|&f| f >= 1)?;
        // Below the NaN sentinel.
        let above = *self.starts[..self.starts.len() - 1].get(first + NEAR)?;
        let bounds = core::array::from_fn(|j| self.starts[first + j]);
        Some((
            self.starts[first - 1],
            above,
            bounds,
            self.min + first as i32,
        ))
    }
}

/// Boundaries counted at once by [`SymbolSearch::symbols_into`]'s second case: symbols
/// −4 ..= 4, which hold most nonzero latent values.
const NEAR: usize = 8;

crate::cores::wide_vectors! {
    avx512;
    fn symbols_into(search: &SymbolSearch, z: &[f32], bias: f32, out: &mut [i32]) {
        symbols_as(search, z, bias, out)
    }
}

crate::cores::wide_vectors! {
    avx512;
    fn symbol_bytes_into(search: &SymbolSearch, z: &[f32], bias: f32, out: &mut [i8]) {
        // Exact: `symbol_bytes_into` checked that every symbol fits.
        symbols_as(search, z, bias, out)
    }
}

/// A symbol as stored: 32 bits, or a byte where every symbol fits in one.
trait SymbolAs: Copy {
    fn from_symbol(s: i32) -> Self;
}

impl SymbolAs for i32 {
    #[inline(always)]
    fn from_symbol(s: i32) -> Self {
        s
    }
}

impl SymbolAs for i8 {
    #[inline(always)]
    fn from_symbol(s: i32) -> Self {
        s as i8
    }
}

/// [`SymbolSearch::symbols_into`]'s loop, for either width of symbol.
#[inline(always)]
fn symbols_as<O: SymbolAs>(search: &SymbolSearch, z: &[f32], bias: f32, out: &mut [O]) {
    assert_eq!(z.len(), out.len(), "one symbol per value");
    // Symbol 0's interval, where the alphabet has one below and above it (every
    // companding's does; otherwise every value takes the lookup).
    let zero = usize::try_from(-search.min)
        .ok()
        .filter(|&k| k >= 1)
        .and_then(|k| Some((*search.starts.get(k - 1)?, *search.starts.get(k)?)));
    let near = search.near;
    // `&`, not `&&`: all eight comparisons at once, one branch.
    let inside = |v: &[f32; 8], low: f32, high: f32| {
        v.iter().fold(true, |all, &v| all & (v >= low) & (v < high))
    };
    let mut done = 0;
    if let Some((low, high)) = zero {
        for (z, out) in z.chunks_exact(8).zip(out.chunks_exact_mut(8)) {
            let v: [f32; 8] = core::array::from_fn(|i| z[i] + bias);
            if inside(&v, low, high) {
                out.fill(O::from_symbol(0));
                continue;
            }
            if let Some((below, above, bounds, base)) = near
                && inside(&v, below, above)
            {
                let mut symbols = [base; 8];
                for &b in &bounds {
                    for (s, &v) in symbols.iter_mut().zip(&v) {
                        *s += i32::from(v >= b);
                    }
                }
                for (o, &s) in out.iter_mut().zip(&symbols) {
                    *o = O::from_symbol(s);
                }
                continue;
            }
            for (o, &v) in out.iter_mut().zip(&v) {
                *o = O::from_symbol(search.symbol(v));
            }
        }
        done = z.len() / 8 * 8;
    }
    for (o, &v) in out[done..].iter_mut().zip(&z[done..]) {
        *o = O::from_symbol(search.symbol(v + bias));
    }
}

/// The grid bucket of z: nondecreasing in z (a subtraction, a multiplication by a
/// positive number and a float-to-int `as`, which saturates: below the grid is bucket 0,
/// above it the last).
#[inline(always)]
fn bucket(z: f32, low: f32, scale: f32) -> usize {
    (((z - low) * scale) as usize).min(GRID - 1)
}

/// f32 → u32 with the same order as the numbers (−0 just below +0); NaNs fall outside
/// the keys of −∞..=+∞.
fn order_key(v: f32) -> u32 {
    let b = v.to_bits();
    if b >> 31 == 1 { !b } else { b | 1 << 31 }
}

fn from_order_key(k: u32) -> f32 {
    f32::from_bits(if k >> 31 == 1 { k & !(1 << 31) } else { !k })
}

/// [`erfinv`]'s polynomial for w < 5 (in w − 2.5) and for the tails (in √w − 3).
const ERFINV_CENTRAL: [f32; 9] = [
    2.810_226_4e-8,
    3.432_739_4e-7,
    -3.523_387_7e-6,
    -4.391_506_5e-6,
    2.185_808_7e-4,
    -1.253_725e-3,
    -4.177_681_6e-3,
    0.246_640_73,
    1.501_409_4,
];
const ERFINV_TAIL: [f32; 9] = [
    -2.002_142_6e-4,
    1.009_505_6e-4,
    1.349_343_2e-3,
    -3.673_428_4e-3,
    5.739_507_7e-3,
    -7.622_461e-3,
    9.438_870_5e-3,
    1.001_674_1,
    2.832_976_8,
];

/// Inverse error function for |x| < 1 with tensor operations (M. Giles, "Approximating the
/// erfinv function", GPU Computing Gems, 2010; single-precision coefficients). Burn has
/// `erf` but no `erfinv`; this keeps the decoder differentiable for training.
pub fn erfinv<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    // w = −ln((1 − x)(1 + x))
    let w = x.clone().mul(x.clone()).neg().add_scalar(1.0).log().neg();
    let central = horner(w.clone().sub_scalar(2.5), &ERFINV_CENTRAL);
    // The tail branch only counts where w ≥ 5; clamping first keeps sqrt's gradient at
    // w = 0 (x = 0) from turning into 0·∞ = NaN through the mask.
    let tail = horner(
        w.clone().clamp_min(5.0).sqrt().sub_scalar(3.0),
        &ERFINV_TAIL,
    );
    let p = tail.mask_where(w.lower_elem(5.0), central);
    p.mul(x)
}

/// [`erfinv`] of one value: the same operations in the same order.
fn erfinv_value(x: f32) -> f32 {
    let w = -(-(x * x) + 1.0).ln();
    let p = if w < 5.0 {
        horner_value(w - 2.5, &ERFINV_CENTRAL)
    } else {
        // `clamp_min(5.0)` is the identity here (w ≥ 5, or NaN, which it passes on).
        horner_value(w.sqrt() - 3.0, &ERFINV_TAIL)
    };
    p * x
}

/// [`horner`] of one value.
fn horner_value(w: f32, c: &[f32]) -> f32 {
    c[1..].iter().fold(c[0], |p, &k| p * w + k)
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

    /// The search gives `symbol`'s answer on both sides of every boundary it found, at
    /// the extremes, and on a million values spread over the range where symbols change.
    #[test]
    fn symbol_search_equals_the_scalar_path() {
        for bits in [2, 4, 8, 12] {
            let c = Companding::new(bits);
            for deadzone in [0.0, 0.15, 0.3] {
                let search = SymbolSearch::new(c, deadzone);
                let check = |z: f32| {
                    assert_eq!(
                        search.symbol(z),
                        c.symbol(z, deadzone),
                        "z {z}, bits {bits}, dz {deadzone}"
                    )
                };
                for &start in search.starts.iter().filter(|v| v.is_finite()) {
                    let k = order_key(start);
                    for d in [-2i64, -1, 0, 1, 2] {
                        check(from_order_key((i64::from(k) + d) as u32));
                    }
                }
                for z in [
                    0.0,
                    -0.0,
                    f32::MAX,
                    f32::MIN,
                    f32::INFINITY,
                    f32::NEG_INFINITY,
                    f32::NAN,
                ] {
                    check(z);
                }
                let span = 6.0 * c.scale;
                let mut s = 0x9e37_79b9_7f4a_7c15u64;
                for _ in 0..1_000_000 / 12 {
                    s = s
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    check(((s >> 40) as f32 / (1u64 << 23) as f32 - 1.0) * span);
                }
            }
        }
    }

    /// The batch lookup, with its shortcuts for groups of eight zeros and of eight small
    /// symbols, gives `symbol`'s answer for every value: groups all inside symbol 0's
    /// interval, groups with one value just outside it (either side, by one ulp), groups
    /// inside the small symbols' window and with a value on either side of each of its
    /// boundaries and edges, NaN, a bias, and a remainder past the last whole group.
    #[test]
    fn batch_symbols_equal_one_at_a_time() {
        for bits in [2, 8, 12] {
            for deadzone in [0.0, 0.15] {
                let search = SymbolSearch::new(Companding::new(bits), deadzone);
                let k = (-search.min) as usize;
                let (low, high) = (search.starts[k - 1], search.starts[k]);
                let below = from_order_key(order_key(low) - 1);
                let last_zero = from_order_key(order_key(high) - 1);
                let mut zs = alloc::vec::Vec::new();
                for odd in [
                    None,
                    Some(low),
                    Some(below),
                    Some(last_zero),
                    Some(high),
                    Some(f32::NAN),
                    Some(1e30),
                ] {
                    for at in [0, 3, 7] {
                        let mut group = [
                            0.0f32,
                            0.5 * low,
                            0.5 * high,
                            low,
                            last_zero,
                            0.0,
                            -0.0,
                            0.25 * high,
                        ];
                        if let Some(v) = odd {
                            group[at] = v;
                        }
                        zs.extend(group);
                    }
                }
                zs.extend([high, low, 0.0, 3.0 * high, below]);
                // Groups wholly inside the near window, and with one value on either
                // side of each boundary of the window and of its edges.
                if let Some((window_low, window_high, bounds, _)) = search.near_zero() {
                    let edges = [window_low, window_high].into_iter().chain(bounds);
                    let sides: alloc::vec::Vec<f32> = edges
                        .flat_map(|b| [b, from_order_key(order_key(b) - 1)])
                        .collect();
                    for group in sides.chunks_exact(2) {
                        zs.extend([
                            group[0], group[1], 0.0, low, high, bounds[0], bounds[7], -0.0,
                        ]);
                    }
                    for &v in &sides {
                        let mut group = bounds;
                        group[5] = v;
                        zs.extend(group);
                    }
                }
                for bias in [0.0, 0.5 * high, -1.0] {
                    let mut got = alloc::vec![7i32; zs.len()];
                    search.symbols_into(&zs, bias, &mut got);
                    for (i, (&z, &g)) in zs.iter().zip(&got).enumerate() {
                        assert_eq!(
                            g,
                            search.symbol(z + bias),
                            "value {i}: z {z}, bias {bias}, bits {bits}"
                        );
                    }
                    // In bytes, where they fit: the same symbols.
                    if bits <= 8 {
                        let mut bytes = alloc::vec![7i8; zs.len()];
                        search.symbol_bytes_into(&zs, bias, &mut bytes);
                        assert!(
                            bytes.iter().map(|&b| i32::from(b)).eq(got.iter().copied()),
                            "bytes, bias {bias}, bits {bits}"
                        );
                    }
                }
                // Nonzero symbols were asked for, and some groups took the shortcut.
                let mut got = alloc::vec![7i32; zs.len()];
                search.symbols_into(&zs, 0.0, &mut got);
                assert!(got.iter().any(|&s| s != 0) && got[..8].iter().all(|&s| s == 0));
                // 8- and 12-bit alphabets have the near window; a 2-bit one does not.
                assert_eq!(search.near_zero().is_some(), bits > 2, "bits {bits}");
            }
        }
    }

    /// The companding's inverse puts every boundary within [`GUESS_ULPS`] of where it
    /// lies, so the symbol search's bisections start narrow (they would still be exact,
    /// only slower, from the whole line).
    #[test]
    fn boundary_guesses_lie_near_the_boundaries() {
        for bits in [2, 4, 8, 12] {
            let c = Companding::new(bits);
            for deadzone in [0.0, 0.15, 0.3] {
                let search = SymbolSearch::new(c, deadzone);
                let boundaries = search.starts.iter().filter(|v| !v.is_nan());
                for (want, &start) in (search.min + 1..).zip(boundaries) {
                    let guess = c.boundary_guess(want, deadzone);
                    let off = order_key(guess).abs_diff(order_key(start));
                    assert!(
                        off < GUESS_ULPS,
                        "symbol {want}: {off} steps off, bits {bits}, dz {deadzone}"
                    );
                }
            }
        }
    }

    /// Every f32 against the scalar path, for the settings models are trained with:
    /// `cargo test --release -p walloc-core --lib -- --ignored every_f32` (about 40 s per
    /// dead zone on two cores).
    #[test]
    #[ignore = "2^32 values per setting; run in release"]
    fn symbol_search_equals_the_scalar_path_for_every_f32() {
        for deadzone in [0.0, 0.15, 0.3] {
            let c = Companding::new(8);
            let search = SymbolSearch::new(c, deadzone);
            let halves = [0u32..1 << 31, 1 << 31..u32::MAX];
            std::thread::scope(|scope| {
                for half in halves {
                    let search = &search;
                    scope.spawn(move || {
                        for b in half.chain(core::iter::once(u32::MAX)) {
                            let z = f32::from_bits(b);
                            assert_eq!(search.symbol(z), c.symbol(z, deadzone), "bits {b:#x}");
                        }
                    });
                }
            });
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

    /// The scalar inverse equals the tensor path bit for bit: on every symbol of every
    /// bit depth (what decoding uses it for), on the clamp region, on both erfinv branches
    /// and on a sweep of the whole range, zeros and non-finite values included.
    #[test]
    fn scalar_inverse_equals_the_tensor_path() {
        for bits in 1..=16 {
            let c = Companding::new(bits);
            let m = ((1i32 << (bits - 1)) - 1) as f32;
            let mut ys: alloc::vec::Vec<f32> = (-(m as i32)..=m as i32).map(|s| s as f32).collect();
            ys.extend((-20000..=20000).map(|i| i as f32 * (m + 1.0) / 20000.0));
            ys.extend([
                0.0,
                -0.0,
                1e-30,
                -1e-30,
                1e30,
                -1e30,
                f32::INFINITY,
                f32::NEG_INFINITY,
            ]);
            let want = vals(c.inverse(t(&ys)));
            for (y, w) in ys.iter().zip(want) {
                assert_eq!(
                    c.inverse_value(*y).to_bits(),
                    w.to_bits(),
                    "y {y}, bits {bits}: {} against {w}",
                    c.inverse_value(*y)
                );
            }
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
