#!/usr/bin/env python3
"""Writes the PyWavelets test vectors for walloc's wavelet packet transform.

Run from this folder: `python3 make_vectors.py` (needs numpy and PyWavelets; made with
PyWavelets 1.8.0). Each case is one little-endian binary file:

    u32 rank, u32 dims[rank] (the input shape), u32 levels,
    f32 input[prod(dims)], f32 output[prod(dims)]   (C order)

2D inputs are [C, H, W]; the output is [C·4^J, H/2^J, W/2^J] in walloc's channel order:
each level splits every channel c into c·4 + f with f = 0 LL, 1 (low along W, high along
H), 2 (high W, low H), 3 HH, the filter running along width first. 1D inputs are [C, N];
outputs [C·2^J, N/2^J] with f = 0 low, 1 high. Only pywt.dwt is used, one axis at a time,
so the channel order is spelled out here rather than borrowed from pywt's packet naming.
"""
import struct

import numpy as np
import pywt

WAVELET = "bior4.4"


def dwt(x, axis):
    return pywt.dwt(x, WAVELET, mode="periodization", axis=axis)


def split2d(x):
    """[C, H, W] -> [4C, H/2, W/2]."""
    out = []
    for ch in x:
        lo_w, hi_w = dwt(ch, axis=1)
        for band_w in (lo_w, hi_w):
            lo_h, hi_h = dwt(band_w, axis=0)
            out += [lo_h, hi_h]
    return np.stack(out)


def split1d(x):
    """[C, N] -> [2C, N/2]."""
    out = []
    for ch in x:
        out += list(dwt(ch, axis=0))
    return np.stack(out)


def write(name, x, levels, split):
    y = x.astype(np.float64)
    for _ in range(levels):
        y = split(y)
    with open(name, "wb") as f:
        f.write(struct.pack("<I", x.ndim))
        f.write(struct.pack(f"<{x.ndim}I", *x.shape))
        f.write(struct.pack("<I", levels))
        f.write(x.astype("<f4").tobytes())
        f.write(y.astype("<f4").tobytes())


def main():
    rng = np.random.default_rng(20261122)
    # float32 inputs, transformed in float64: the vectors hold the exact transform of
    # exactly the f32 values the Rust test feeds in.
    def signal(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    # 2D: 24×40 to J=3 (the last level sees 6×10), square 256×256, non-square, and
    # levels that drop to lengths 2 and 4 (below the 10 taps: full wrap).
    write("wpt2d-3x24x40-j1.bin", signal(3, 24, 40), 1, split2d)
    write("wpt2d-3x24x40-j3.bin", signal(3, 24, 40), 3, split2d)
    write("wpt2d-1x256x256-j3.bin", signal(1, 256, 256), 3, split2d)
    write("wpt2d-2x16x48-j4.bin", signal(2, 16, 48), 4, split2d)
    write("wpt2d-3x8x8-j2.bin", signal(3, 8, 8), 2, split2d)
    # 1D: stereo, down to length 2 and 3; J = 8 as the audio presets use.
    write("wpt1d-2x96-j5.bin", signal(2, 96), 5, split1d)
    write("wpt1d-2x40-j3.bin", signal(2, 40), 3, split1d)
    write("wpt1d-2x1024-j8.bin", signal(2, 1024), 8, split1d)
    write("wpt1d-1x12-j2.bin", signal(1, 12), 2, split1d)


if __name__ == "__main__":
    main()
