#!/usr/bin/env python3
"""Rate-distortion of walloc models against cjpeg -optimize and cwebp -m 6 on a folder
of images: mean bpp and PSNR (8-bit RGB) per setting, and Bjøntegaard delta rate (PSNR).

Interim tool until `walloc eval` lands. Needs numpy, Pillow, cjpeg (libjpeg-turbo-progs)
and cwebp (webp).

    python3 scripts/rd_peers.py --walloc target/release/walloc \
        --model assets/models/image-q1.wlm --model assets/models/image-q2.wlm ... \
        ../shared/corpus/images/valid
"""
import argparse, json, os, subprocess, sys, tempfile
import numpy as np
from PIL import Image


def psnr(a, b):
    mse = ((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean()
    return 10 * np.log10(255.0 ** 2 / max(mse, 1e-12))


def bd_rate(r1, p1, r2, p2):
    """Average rate difference of curve 2 against curve 1 (percent), over the common PSNR
    range, with cubic fits of log-rate against PSNR (Bjøntegaard, VCEG-M33)."""
    lr1, lr2 = np.log(r1), np.log(r2)
    f1, f2 = np.polyfit(p1, lr1, 3), np.polyfit(p2, lr2, 3)
    lo, hi = max(min(p1), min(p2)), min(max(p1), max(p2))
    if hi <= lo:
        return float("nan")
    i1 = np.polyval(np.polyint(f1), hi) - np.polyval(np.polyint(f1), lo)
    i2 = np.polyval(np.polyint(f2), hi) - np.polyval(np.polyint(f2), lo)
    return (np.exp((i2 - i1) / (hi - lo)) - 1) * 100


def measure(files, code):
    bpps, ps = [], []
    for f in files:
        src = np.asarray(Image.open(f).convert("RGB"))
        nbytes, dec = code(f, src)
        bpps.append(nbytes * 8 / (src.shape[0] * src.shape[1]))
        ps.append(psnr(src, dec))
    return float(np.mean(bpps)), float(np.mean(ps))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("--walloc", default="target/release/walloc")
    ap.add_argument("--model", action="append", default=[])
    ap.add_argument("--json")
    a = ap.parse_args()
    files = sorted(os.path.join(a.folder, f) for f in os.listdir(a.folder)
                   if f.lower().endswith((".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")))
    tmp = tempfile.mkdtemp()
    ppm = os.path.join(tmp, "x.ppm")

    def jpeg(q):
        def code(f, src):
            Image.fromarray(src).save(ppm)
            out = os.path.join(tmp, "x.jpg")
            subprocess.run(["cjpeg", "-optimize", "-quality", str(q), "-outfile", out, ppm],
                           check=True, stderr=subprocess.DEVNULL)
            return os.path.getsize(out), np.asarray(Image.open(out).convert("RGB"))
        return code

    def webp(q):
        def code(f, src):
            Image.fromarray(src).save(os.path.join(tmp, "x.png"))
            out = os.path.join(tmp, "x.webp")
            subprocess.run(["cwebp", "-quiet", "-m", "6", "-q", str(q), os.path.join(tmp, "x.png"), "-o", out],
                           check=True)
            return os.path.getsize(out), np.asarray(Image.open(out).convert("RGB"))
        return code

    def wl(model):
        def code(f, src):
            Image.fromarray(src).save(os.path.join(tmp, "x.png"))
            subprocess.run([a.walloc, "encode", "-q", "--force", "--model", model,
                            os.path.join(tmp, "x.png"), "-o", os.path.join(tmp, "x.wl")], check=True)
            subprocess.run([a.walloc, "decode", "-q", "--force", "--model", model,
                            os.path.join(tmp, "x.wl"), "-o", os.path.join(tmp, "y.png")], check=True)
            return os.path.getsize(os.path.join(tmp, "x.wl")), np.asarray(Image.open(os.path.join(tmp, "y.png")).convert("RGB"))
        return code

    curves = {
        "jpeg": [measure(files, jpeg(q)) for q in (10, 20, 30, 50, 70, 85, 95)],
        "webp": [measure(files, webp(q)) for q in (10, 25, 50, 75, 90, 98)],
    }
    if a.model:
        curves["walloc"] = [measure(files, wl(m)) for m in a.model]
    for name, pts in curves.items():
        for bpp, p in pts:
            print(f"{name:7s} {bpp:7.3f} bpp {p:6.2f} dB")
    report = {"files": len(files), "curves": curves}
    if "walloc" in curves and len(curves["walloc"]) >= 2:
        w = np.array(curves["walloc"])
        for peer in ("jpeg", "webp"):
            pe = np.array(curves[peer])
            # A cubic needs four points; with fewer, fit what the points allow.
            if len(w) < 4:
                lo, hi = max(w[:, 1].min(), pe[:, 1].min()), min(w[:, 1].max(), pe[:, 1].max())
                grid = np.linspace(lo, hi, 50)
                order_w = np.argsort(w[:, 1]); order_p = np.argsort(pe[:, 1])
                rw = np.interp(grid, w[order_w, 1], np.log(w[order_w, 0]))
                rp = np.interp(grid, pe[order_p, 1], np.log(pe[order_p, 0]))
                d = (np.exp(np.mean(rw - rp)) - 1) * 100
            else:
                d = bd_rate(pe[:, 0], pe[:, 1], w[:, 0], w[:, 1])
            report[f"bd_rate_vs_{peer}"] = d
            print(f"BD-rate (PSNR) of walloc against {peer}: {d:+.1f}%")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
