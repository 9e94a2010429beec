//! Distortion measures: PSNR and MS-SSIM of 8-bit RGB images, SNR of audio.
//!
//! Plain `std` only, so that the integration tests can include this file.

/// Identical signals would give an infinite PSNR or SNR; they count as this many dB so
/// that means over a folder stay finite.
pub const CAP_DB: f64 = 100.0;

/// PSNR in dB of two equally long 8-bit sample arrays (peak 255), over all samples.
pub fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let n = a.len().min(b.len()).max(1) as f64;
    let se: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum();
    let mse = se / n;
    if mse == 0.0 {
        CAP_DB
    } else {
        (10.0 * (255.0f64 * 255.0 / mse).log10()).min(CAP_DB)
    }
}

/// SNR in dB of a decoded signal against its source, over all channels and the frames
/// both have (a decoder that pads or trims by a few frames is compared over the common
/// part). `None` for a silent source, whose SNR is undefined.
pub fn snr(source: &[Vec<f32>], decoded: &[Vec<f32>]) -> Option<f64> {
    let (mut signal, mut noise) = (0.0f64, 0.0f64);
    for (s, d) in source.iter().zip(decoded) {
        for (&x, &y) in s.iter().zip(d) {
            signal += f64::from(x).powi(2);
            noise += (f64::from(x) - f64::from(y)).powi(2);
        }
    }
    if signal == 0.0 {
        return None;
    }
    Some(if noise == 0.0 {
        CAP_DB
    } else {
        (10.0 * (signal / noise).log10()).min(CAP_DB)
    })
}

/// The standard five scale weights (Wang, Simoncelli & Bovik 2003), finest first.
const WEIGHTS: [f64; 5] = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333];
const WINDOW: usize = 11;
const SIGMA: f64 = 1.5;
const C1: f64 = (0.01 * 255.0) * (0.01 * 255.0);
const C2: f64 = (0.03 * 255.0) * (0.03 * 255.0);

/// MS-SSIM of two interleaved 8-bit RGB images, computed on R, G and B separately and
/// averaged (as CompressAI and pytorch-msssim do for RGB), not on luma.
///
/// Per scale: 11×11 Gaussian window (σ = 1.5) over the valid part of the image (no
/// padding), K1 = 0.01, K2 = 0.03, L = 255; contrast–structure at the four finer scales,
/// full SSIM at the coarsest, each clamped at 0 before the power (as pytorch-msssim, so a
/// negative correlation cannot make the product undefined); 2×2 averaging between scales
/// (an odd last row or column is dropped). Images too small for five scales (under
/// 176 pixels on a side) use as many as fit, the weights renormalised to sum to 1;
/// `None` under 11 pixels.
pub fn ms_ssim_rgb(a: &[u8], b: &[u8], width: usize, height: usize) -> Option<f64> {
    if a.len() != width * height * 3 || b.len() != a.len() {
        return None;
    }
    let plane = |img: &[u8], c: usize| -> Vec<f64> {
        img.iter()
            .skip(c)
            .step_by(3)
            .map(|&v| f64::from(v))
            .collect()
    };
    let mut sum = 0.0;
    for c in 0..3 {
        sum += ms_ssim_plane(plane(a, c), plane(b, c), width, height)?;
    }
    Some(sum / 3.0)
}

/// MS-SSIM of one plane pair (see [`ms_ssim_rgb`]).
fn ms_ssim_plane(mut x: Vec<f64>, mut y: Vec<f64>, mut w: usize, mut h: usize) -> Option<f64> {
    let scales = (0..WEIGHTS.len())
        .take_while(|&s| (w.min(h) >> s) >= WINDOW)
        .count();
    if scales == 0 {
        return None;
    }
    let total: f64 = WEIGHTS[..scales].iter().sum();
    let kernel = gaussian();
    let mut result = 1.0;
    for (s, weight) in WEIGHTS[..scales].iter().enumerate() {
        let (l, cs) = ssim_terms(&x, &y, w, h, &kernel);
        let value = if s + 1 == scales { l } else { cs };
        result *= value.max(0.0).powf(weight / total);
        if s + 1 < scales {
            (x, _, _) = halve(&x, w, h);
            (y, w, h) = halve(&y, w, h);
        }
    }
    Some(result)
}

fn gaussian() -> [f64; WINDOW] {
    let mut k = [0.0; WINDOW];
    let mid = (WINDOW / 2) as f64;
    for (i, v) in k.iter_mut().enumerate() {
        *v = (-((i as f64 - mid).powi(2)) / (2.0 * SIGMA * SIGMA)).exp();
    }
    let sum: f64 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= sum);
    k
}

/// Mean SSIM and mean contrast–structure term over the valid window positions.
fn ssim_terms(x: &[f64], y: &[f64], w: usize, h: usize, k: &[f64; WINDOW]) -> (f64, f64) {
    let xx: Vec<f64> = x.iter().map(|v| v * v).collect();
    let yy: Vec<f64> = y.iter().map(|v| v * v).collect();
    let xy: Vec<f64> = x.iter().zip(y).map(|(a, b)| a * b).collect();
    let [mx, my, sxx, syy, sxy] = [x, y, &xx, &yy, &xy].map(|p| blur(p, w, h, k));
    let (mut ssim, mut cs) = (0.0, 0.0);
    for i in 0..mx.len() {
        let (mx, my) = (mx[i], my[i]);
        let (vx, vy, cov) = (sxx[i] - mx * mx, syy[i] - my * my, sxy[i] - mx * my);
        let c = (2.0 * cov + C2) / (vx + vy + C2);
        let l = (2.0 * mx * my + C1) / (mx * mx + my * my + C1);
        ssim += l * c;
        cs += c;
    }
    let n = mx.len().max(1) as f64;
    (ssim / n, cs / n)
}

/// Separable Gaussian filter over the valid positions: (w − 10) × (h − 10) values.
fn blur(p: &[f64], w: usize, h: usize, k: &[f64; WINDOW]) -> Vec<f64> {
    let ow = w + 1 - WINDOW;
    let oh = h + 1 - WINDOW;
    let mut rows = vec![0.0; ow * h];
    for r in 0..h {
        let src = &p[r * w..][..w];
        let dst = &mut rows[r * ow..][..ow];
        for (c, d) in dst.iter_mut().enumerate() {
            *d = src[c..c + WINDOW].iter().zip(k).map(|(a, b)| a * b).sum();
        }
    }
    let mut out = vec![0.0; ow * oh];
    for (t, &kv) in k.iter().enumerate() {
        for r in 0..oh {
            let src = &rows[(r + t) * ow..][..ow];
            let dst = &mut out[r * ow..][..ow];
            dst.iter_mut().zip(src).for_each(|(d, s)| *d += kv * s);
        }
    }
    out
}

/// 2×2 averaging; an odd last row or column is dropped.
fn halve(p: &[f64], w: usize, h: usize) -> (Vec<f64>, usize, usize) {
    let (nw, nh) = (w / 2, h / 2);
    let mut out = Vec::with_capacity(nw * nh);
    for r in 0..nh {
        for c in 0..nw {
            let at = |rr: usize, cc: usize| p[rr * w + cc];
            out.push(
                (at(2 * r, 2 * c)
                    + at(2 * r, 2 * c + 1)
                    + at(2 * r + 1, 2 * c)
                    + at(2 * r + 1, 2 * c + 1))
                    / 4.0,
            );
        }
    }
    (out, nw, nh)
}
