//! Bjøntegaard delta rate: how much more (or less) rate one codec needs than another at
//! equal quality, averaged over the quality range both curves cover.
//!
//! Plain `std` only, so that the integration tests can include this file and check the
//! arithmetic without going through the binary.

/// A rate–quality curve fitted as log(rate) over quality.
enum Fit {
    /// Least-squares cubic in the normalised quality `(q − centre) / scale` (the
    /// normalisation keeps the 4×4 normal equations well conditioned at 30–50 dB).
    Cubic {
        coef: [f64; 4],
        centre: f64,
        scale: f64,
    },
    /// Straight lines between neighbouring points, sorted by quality (one point: a
    /// constant). Used for curves of fewer than four points, where a cubic would
    /// interpolate wildly or be underdetermined.
    Linear(Vec<(f64, f64)>),
}

impl Fit {
    fn eval(&self, q: f64) -> f64 {
        match self {
            Fit::Cubic {
                coef,
                centre,
                scale,
            } => {
                let x = (q - centre) / scale;
                coef.iter().rev().fold(0.0, |acc, c| acc * x + c)
            }
            Fit::Linear(pts) => {
                let i = pts.partition_point(|p| p.0 < q);
                if i == 0 {
                    return pts[0].1;
                }
                if i == pts.len() {
                    return pts[pts.len() - 1].1;
                }
                let ((q0, r0), (q1, r1)) = (pts[i - 1], pts[i]);
                r0 + (r1 - r0) * (q - q0) / (q1 - q0)
            }
        }
    }
}

/// Fits log(rate) over quality; `None` when no point has a finite positive rate and a
/// finite quality.
fn fit(curve: &[(f64, f64)]) -> Option<(Fit, f64, f64)> {
    let mut pts: Vec<(f64, f64)> = curve
        .iter()
        .filter(|(r, q)| r.is_finite() && *r > 0.0 && q.is_finite())
        .map(|&(r, q)| (q, r.ln()))
        .collect();
    if pts.is_empty() {
        return None;
    }
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (lo, hi) = (pts[0].0, pts[pts.len() - 1].0);
    if pts.len() >= 4 {
        if let Some(f) = cubic(&pts) {
            return Some((f, lo, hi));
        }
    }
    // Equal qualities would make a zero-width segment: keep their mean log-rate.
    let mut merged: Vec<(f64, f64, usize)> = Vec::new();
    for (q, r) in pts {
        match merged.last_mut() {
            Some(last) if last.0 == q => {
                last.1 += r;
                last.2 += 1;
            }
            _ => merged.push((q, r, 1)),
        }
    }
    let pts = merged
        .into_iter()
        .map(|(q, r, n)| (q, r / n as f64))
        .collect();
    Some((Fit::Linear(pts), lo, hi))
}

/// Least-squares cubic through (quality, log-rate) points; `None` when the points do not
/// determine one (fewer than four distinct qualities).
fn cubic(pts: &[(f64, f64)]) -> Option<Fit> {
    let n = pts.len() as f64;
    let centre = pts.iter().map(|p| p.0).sum::<f64>() / n;
    let scale = (pts.iter().map(|p| (p.0 - centre).powi(2)).sum::<f64>() / n).sqrt();
    if !(scale > 0.0) {
        return None;
    }
    // Normal equations AᵀA c = Aᵀy with A's columns 1, x, x², x³.
    let mut m = [[0.0f64; 5]; 4];
    for &(q, r) in pts {
        let x = (q - centre) / scale;
        let pow = [1.0, x, x * x, x * x * x];
        for i in 0..4 {
            for j in 0..4 {
                m[i][j] += pow[i] * pow[j];
            }
            m[i][4] += pow[i] * r;
        }
    }
    solve4(m).map(|coef| Fit::Cubic {
        coef,
        centre,
        scale,
    })
}

/// Gaussian elimination with partial pivoting on an augmented 4×5 matrix.
fn solve4(mut m: [[f64; 5]; 4]) -> Option<[f64; 4]> {
    for col in 0..4 {
        let pivot = (col..4).max_by(|&a, &b| m[a][col].abs().total_cmp(&m[b][col].abs()))?;
        if m[pivot][col].abs() < 1e-12 {
            return None;
        }
        m.swap(col, pivot);
        for row in col + 1..4 {
            let f = m[row][col] / m[col][col];
            for k in col..5 {
                m[row][k] -= f * m[col][k];
            }
        }
    }
    let mut x = [0.0; 4];
    for row in (0..4).rev() {
        let s: f64 = (row + 1..4).map(|k| m[row][k] * x[k]).sum();
        x[row] = (m[row][4] - s) / m[row][row];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// The Bjøntegaard delta rate of `test` against `anchor`, in percent: negative when
/// `test` needs fewer bits for the same quality. Curves are `(rate, quality)` points in
/// any order (rate in any unit, both curves the same; quality in dB).
///
/// Each curve is fitted as log(rate) over quality: a least-squares cubic when it has at
/// least four points (as Bjøntegaard, VCEG-M33), otherwise piecewise-linear interpolation.
/// The mean log-rate difference is integrated over the quality range both curves cover
/// (Simpson's rule, exact for the cubics). When that range is a single quality (a
/// one-point curve inside the other's range), the difference at that quality is used.
/// `None` when the ranges do not overlap or a curve has no usable point.
pub fn bd_rate(anchor: &[(f64, f64)], test: &[(f64, f64)]) -> Option<f64> {
    let (fa, alo, ahi) = fit(anchor)?;
    let (ft, tlo, thi) = fit(test)?;
    let (lo, hi) = (alo.max(tlo), ahi.min(thi));
    if lo > hi {
        return None;
    }
    let diff = |q: f64| ft.eval(q) - fa.eval(q);
    let mean = if hi - lo < 1e-9 {
        diff(lo)
    } else {
        const STEPS: usize = 512;
        let h = (hi - lo) / STEPS as f64;
        let sum: f64 = (0..=STEPS)
            .map(|i| {
                let w = if i == 0 || i == STEPS {
                    1.0
                } else if i % 2 == 1 {
                    4.0
                } else {
                    2.0
                };
                w * diff(lo + i as f64 * h)
            })
            .sum();
        sum * h / 3.0 / (hi - lo)
    };
    let pct = (mean.exp() - 1.0) * 100.0;
    pct.is_finite().then_some(pct)
}
