#!/usr/bin/env python3
"""Writes the small image and WAV seeds in fuzz/seeds/{image,wav} with the standard
library alone (and cjpeg for the JPEG, when it is installed): one file per layout walloc
reads, a few hundred bytes each, so libFuzzer starts from every decoder's happy path."""
import os, struct, subprocess, zlib, wave

HERE = os.path.dirname(os.path.abspath(__file__))
IMG, WAV = os.path.join(HERE, "image"), os.path.join(HERE, "wav")
os.makedirs(IMG, exist_ok=True)
os.makedirs(WAV, exist_ok=True)

W, H = 9, 7

def px(x, y, c):
    return (x * 29 + y * 53 + c * 71) % 256

def png(name, color_type, depth, channels, palette=False):
    rows = b""
    for y in range(H):
        row = b"\x00"
        for x in range(W):
            for c in range(channels):
                v = px(x, y, c) if not palette else (x + y) % 4
                row += bytes([v]) if depth == 8 else struct.pack(">H", v * 257)
        rows += row
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, depth, color_type, 0, 0, 0))
    if palette:
        out += chunk(b"PLTE", bytes(range(12)))
    out += chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    open(os.path.join(IMG, name), "wb").write(out)

png("gray8.png", 0, 8, 1)
png("gray16.png", 0, 16, 1)
png("graya8.png", 4, 8, 2)
png("rgb8.png", 2, 8, 3)
png("rgba8.png", 6, 8, 4)
png("rgb16.png", 2, 16, 3)
png("rgba16.png", 6, 16, 4)
png("palette.png", 3, 8, 1, palette=True)

# 24-bit BMP, bottom-up rows padded to 4 bytes.
row_len = (W * 3 + 3) // 4 * 4
pixels = b""
for y in reversed(range(H)):
    row = b"".join(bytes([px(x, y, 2), px(x, y, 1), px(x, y, 0)]) for x in range(W))
    pixels += row + b"\x00" * (row_len - len(row))
bmp = b"BM" + struct.pack("<IHHI", 54 + len(pixels), 0, 0, 54)
bmp += struct.pack("<IiiHHIIiiII", 40, W, H, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
open(os.path.join(IMG, "rgb.bmp"), "wb").write(bmp + pixels)

# Uncompressed RGB TIFF, one strip.
data = b"".join(bytes([px(x, y, c) for c in range(3)]) for y in range(H) for x in range(W))
entries = [(256, 3, 1, W), (257, 3, 1, H), (258, 3, 3, 0), (259, 3, 1, 1), (262, 3, 1, 2),
           (273, 4, 1, 0), (277, 3, 1, 3), (278, 3, 1, H), (279, 4, 1, len(data))]
ifd_at = 8
ifd_len = 2 + 12 * len(entries) + 4
bps_at = ifd_at + ifd_len
data_at = bps_at + 6
ifd = struct.pack("<H", len(entries))
for tag, typ, count, value in entries:
    if tag == 258:
        value = bps_at
    if tag == 273:
        value = data_at
    if typ == 3 and count == 1:
        ifd += struct.pack("<HHIHH", tag, typ, count, value, 0)
    else:
        ifd += struct.pack("<HHII", tag, typ, count, value)
ifd += struct.pack("<I", 0)
tiff = b"II*\x00" + struct.pack("<I", ifd_at) + ifd + struct.pack("<HHH", 8, 8, 8) + data
open(os.path.join(IMG, "rgb.tiff"), "wb").write(tiff)

# JPEG through cjpeg, from a binary PPM.
ppm = b"P6\n%d %d\n255\n" % (W, H) + data
try:
    jpg = subprocess.run(["cjpeg", "-quality", "80"], input=ppm, capture_output=True, check=True).stdout
    open(os.path.join(IMG, "rgb.jpg"), "wb").write(jpg)
except (OSError, subprocess.CalledProcessError):
    print("cjpeg not found: no JPEG seed")

# WebP through cwebp (lossless with alpha, lossy without), when it is installed.
for args, src, name in [(["-lossless"], "rgba8.png", "rgba8-lossless.webp"),
                        (["-q", "70"], "rgb8.png", "rgb8-lossy.webp")]:
    try:
        subprocess.run(["cwebp", "-quiet", *args, os.path.join(IMG, src), "-o",
                        os.path.join(IMG, name)], check=True)
    except (OSError, subprocess.CalledProcessError):
        print("cwebp not found: no WebP seed")

# WAV: integer PCM through the wave module, float and extensible by hand.
FRAMES = 40

def sample(i, c):
    return ((i * 37 + c * 11) % 64 - 32) / 32.0

def int_wav(name, channels, width):
    w = wave.open(os.path.join(WAV, name), "wb")
    w.setnchannels(channels)
    w.setsampwidth(width)
    w.setframerate(8000)
    frames = b""
    for i in range(FRAMES):
        for c in range(channels):
            v = sample(i, c)
            if width == 1:
                frames += bytes([int(128 + v * 127)])
            else:
                frames += int(v * (2 ** (8 * width - 1) - 1)).to_bytes(width, "little", signed=True)
    w.writeframes(frames)
    w.close()

int_wav("mono8.wav", 1, 1)
int_wav("stereo16.wav", 2, 2)
int_wav("stereo24.wav", 2, 3)
int_wav("mono32.wav", 1, 4)
int_wav("six16.wav", 6, 2)

def riff(fmt, body):
    data = b"data" + struct.pack("<I", len(body)) + body
    fmt = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    return b"RIFF" + struct.pack("<I", 4 + len(fmt) + len(data)) + b"WAVE" + fmt + data

floats = b"".join(struct.pack("<f", sample(i, c)) for i in range(FRAMES) for c in range(2))
open(os.path.join(WAV, "stereo-float.wav"), "wb").write(
    riff(struct.pack("<HHIIHH", 3, 2, 48000, 48000 * 8, 8, 32), floats))
pcm_guid = bytes.fromhex("0100000000001000800000aa00389b71")
ext = struct.pack("<HHIIHHHHI", 0xFFFE, 2, 44100, 44100 * 4, 4, 16, 22, 16, 3) + pcm_guid
ints = b"".join(struct.pack("<h", int(sample(i, c) * 32767)) for i in range(FRAMES) for c in range(2))
open(os.path.join(WAV, "stereo16-extensible.wav"), "wb").write(riff(ext, ints))
