#!/usr/bin/env bash
# Whole-command speed of walloc against the image codecs people use, on the same photo,
# each side measured in one hyperfine run so the ratios come from one run on one machine:
#
#   bash scripts/speed.sh [PHOTO.png] [OUT_DIR]
#
# Default photo: the largest valid photo (skimage-motorcycle_left, 741×500). Writes
# OUT_DIR/encode.md and OUT_DIR/decode.md (hyperfine's markdown: mean, σ, and each
# command relative to the fastest) and prints them. Process start, model loading (walloc's
# models are compiled into the binary) and file I/O are included, as a user sees them.
#
# Settings, near walloc's default level (about 0.7 bpp, 32 dB on the valid photos):
# walloc --quality 3 (the default); cjpeg -optimize -quality 75; cwebp -q 75 (default
# method 4); avifenc --min 26 --max 26 (default speed 6) on 2 threads; cjxl -d 1.8
# (default effort 7, all threads). Decoders write uncompressed BMP or PPM where they can
# (walloc, djpeg, dwebp, djxl), PNG where they cannot (avifdec).
#
# WALLOC=PATH times another walloc binary, such as the static musl build:
#   WALLOC=$(bash scripts/static-build.sh | tail -n 1) bash scripts/speed.sh
#
# SETTLE=S waits S seconds before every timed run (hyperfine --prepare), the machine idle:
# a command then runs as a user's single command does after a pause, not as the next of
# a tight loop, whose memory the system has just freed and hands out again. On this
# project's VMs the difference is large for anything that touches fresh memory
# (docs/performance.md, ninth session).
#
# Needs hyperfine, cjpeg/djpeg (libjpeg-turbo-progs), cwebp/dwebp (webp), avifenc/avifdec
# (libavif-bin) and cjxl/djxl (libjxl-tools); a missing peer is left out with a note.
set -euo pipefail
cd "$(dirname "$0")/.."

photo=${1:-../shared/corpus/images/valid/skimage-motorcycle_left.png}
out=${2:-target/speed}
walloc=${WALLOC:-${CARGO_TARGET_DIR:-target}/release/walloc}
runs=${RUNS:-10}
settle=()
[ -n "${SETTLE:-}" ] && settle=(--prepare "sleep $SETTLE")

command -v hyperfine >/dev/null || { echo "speed.sh needs hyperfine (apt-get install hyperfine)" >&2; exit 1; }
[ -x "$walloc" ] || { echo "no walloc at $walloc: cargo build --release --workspace first" >&2; exit 1; }
[ -f "$photo" ] || { echo "no photo at $photo" >&2; exit 1; }
mkdir -p "$out"
out=$(realpath "$out")
walloc=$(realpath "$walloc")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$photo" "$tmp/in.png"
cd "$tmp"

has() { command -v "$1" >/dev/null || { echo "note: $1 not installed, left out" >&2; return 1; }; }

# cjpeg reads no PNG: a lossless WebP round trip gives it the exact pixels as PPM.
if has cwebp && has dwebp; then
  cwebp -quiet -lossless in.png -o lossless.webp && dwebp -quiet lossless.webp -ppm -o in.ppm
fi

# walloc reads each input its peers read: the PNG (cwebp, avifenc, cjxl) and the PPM
# (cjpeg), whose decoding costs nothing.
encode=("$walloc encode --force in.png -o x.wl")
[ -f in.ppm ] && encode+=("$walloc encode --force in.ppm -o xp.wl")
decode=("$walloc decode --force x.wl -o x.bmp")
if has cjpeg && has djpeg && [ -f in.ppm ]; then
  encode+=("cjpeg -optimize -quality 75 -outfile x.jpg in.ppm")
  decode+=("djpeg -bmp -outfile xj.bmp x.jpg")
fi
if has cwebp && has dwebp; then
  encode+=("cwebp -quiet -q 75 in.png -o x.webp")
  decode+=("dwebp -quiet x.webp -bmp -o xw.bmp")
fi
if has avifenc && has avifdec; then
  encode+=("avifenc -j 2 --min 26 --max 26 in.png x.avif")
  decode+=("avifdec -j 2 x.avif xa.png")
fi
if has cjxl && has djxl; then
  encode+=("cjxl -d 1.8 --quiet in.png x.jxl")
  decode+=("djxl --quiet x.jxl xx.ppm")
fi

# Coded files for the decoders, and their sizes for the record.
for c in "${encode[@]}"; do sh -c "$c" >/dev/null 2>&1; done
pixels=$(python3 -c "import struct;d=open('in.png','rb').read(24);w,h=struct.unpack('>II',d[16:24]);print(w*h)")
echo "photo: $photo ($pixels pixels)"
[ -f xp.wl ] && ! cmp -s x.wl xp.wl && { echo "walloc coded the PPM and the PNG differently" >&2; exit 1; }
for f in x.wl x.jpg x.webp x.avif x.jxl; do
  [ -f "$f" ] && printf '  %-7s %7d bytes  %.3f bpp\n' "$f" "$(stat -c %s "$f")" \
    "$(python3 -c "print($(stat -c %s "$f")*8/$pixels)")"
done

hyperfine -N --warmup 2 --runs "$runs" "${settle[@]}" --export-markdown "$out/encode.md" "${encode[@]}" >/dev/null
hyperfine -N --warmup 2 --runs "$runs" "${settle[@]}" --export-markdown "$out/decode.md" "${decode[@]}" >/dev/null
echo; echo "## encode"; cat "$out/encode.md"
echo; echo "## decode"; cat "$out/decode.md"
