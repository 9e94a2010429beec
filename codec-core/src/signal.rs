//! Signal preparation shared by the pipelines and training: reflect padding to a
//! multiple of 2^J and cropping back.

use alloc::vec::Vec;

/// Mirror index into 0..n (n ≥ 1) without repeating the edge sample (numpy's "reflect"),
/// folding as often as needed so any padding works on any length, 1 included.
pub fn reflect_index(i: isize, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n as isize - 1);
    let m = i.rem_euclid(period);
    (if m < n as isize { m } else { period - m }) as usize
}

/// Padding `(before, after)` that brings `len` to a multiple of `multiple`, half before
/// (rounded down) and the rest after.
pub fn padding(len: usize, multiple: usize) -> (usize, usize) {
    let total = len.div_ceil(multiple) * multiple - len;
    (total / 2, total - total / 2)
}

/// Reflect-pads `[channels, height, width]` planes to multiples of `multiple` along both
/// axes. Returns the padded planes, their size and the (left, top) padding.
pub fn pad_planes(
    planes: &[f32],
    channels: usize,
    height: usize,
    width: usize,
    multiple: usize,
) -> (Vec<f32>, usize, usize, usize, usize) {
    pad_planes_by(planes, channels, height, width, (multiple, multiple))
}

/// Reflect-pads `[channels, length]` signals to a multiple of `multiple` frames. Returns
/// the padded signals, their length and the padding before.
pub fn pad_signals(
    planes: &[f32],
    channels: usize,
    length: usize,
    multiple: usize,
) -> (Vec<f32>, usize, usize) {
    let (out, _, padded, left, _) = pad_planes_by(planes, channels, 1, length, (1, multiple));
    (out, padded, left)
}

fn pad_planes_by(
    planes: &[f32],
    channels: usize,
    height: usize,
    width: usize,
    (multiple_h, multiple_w): (usize, usize),
) -> (Vec<f32>, usize, usize, usize, usize) {
    let (top, bottom) = padding(height, multiple_h);
    let (left, right) = padding(width, multiple_w);
    let (ph, pw) = (height + top + bottom, width + left + right);
    let cols: Vec<usize> = (0..pw)
        .map(|x| reflect_index(x as isize - left as isize, width))
        .collect();
    let mut out = Vec::with_capacity(channels * ph * pw);
    for c in 0..channels {
        let plane = &planes[c * height * width..(c + 1) * height * width];
        for y in 0..ph {
            let row = &plane[reflect_index(y as isize - top as isize, height) * width..][..width];
            out.extend(cols.iter().map(|&x| row[x]));
        }
    }
    (out, ph, pw, left, top)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inverse of [`pad_planes`]: the `height`×`width` window at (left, top). (Decoding
    /// reads that window where it lies.)
    fn crop_planes(
        padded: &[f32],
        channels: usize,
        padded_height: usize,
        padded_width: usize,
        window: (usize, usize, usize, usize),
    ) -> Vec<f32> {
        let (left, top, width, height) = window;
        let mut out = Vec::with_capacity(channels * height * width);
        for c in 0..channels {
            let plane = &padded[c * padded_height * padded_width..];
            for y in 0..height {
                out.extend_from_slice(&plane[(top + y) * padded_width + left..][..width]);
            }
        }
        out
    }

    #[test]
    fn reflect_folds_any_distance() {
        let n = 3; // 0 1 2 1 0 1 2 …
        let got: Vec<usize> = (-4..8).map(|i| reflect_index(i, n)).collect();
        assert_eq!(got, [0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2, 1]);
        assert_eq!(reflect_index(-5, 1), 0);
    }

    #[test]
    fn pad_then_crop_is_identity_for_awkward_sizes() {
        for (h, w) in [(1, 1), (3, 10), (8, 8), (17, 5)] {
            let planes: Vec<f32> = (0..2 * h * w).map(|i| i as f32).collect();
            let (p, ph, pw, left, top) = pad_planes(&planes, 2, h, w, 8);
            assert_eq!((ph % 8, pw % 8), (0, 0));
            assert_eq!((left, top), (padding(w, 8).0, padding(h, 8).0));
            assert_eq!(crop_planes(&p, 2, ph, pw, (left, top, w, h)), planes);
        }
    }
}
