#!/usr/bin/env bash
# Fills fuzz/corpus/<target>/ (not committed) with seeds from the committed test files:
# golden .wl files, the tiny models, the photos and music clip, and the small media
# seeds in fuzz/seeds/. With a built `walloc` (WALLOC=path, default
# $CARGO_TARGET_DIR/release/walloc), also real encodings of the committed photos.
set -euo pipefail
cd "$(dirname "$0")/.."
C=fuzz/corpus
mkdir -p $C/wl_container $C/entropy_payload $C/decode_full $C/image_input $C/wav_input $C/model_file
golden="tests/data/golden/*.wl codec-core/tests/data/golden-*.wl"
cp $golden $C/wl_container/
cp tests/data/golden/*.wl $C/decode_full/
cp tests/data/models/*.wlm $C/model_file/
cp fuzz/seeds/image/* tests/data/images/*.png $C/image_input/
cp fuzz/seeds/wav/* $C/wav_input/
# The committed clip is 88 KB; its first 4 KB make a seed libFuzzer mutates faster.
head -c 4096 tests/data/audio/nebula-0.5s.wav > $C/wav_input/nebula-head.wav
# entropy_payload: 4 bytes that pick a model and size, then a real payload (what
# follows the header and CRC of a golden file).
python3 - "$C/entropy_payload" tests/data/golden/*.wl <<'PY'
import struct, sys
out = sys.argv[1]
for path in sys.argv[2:]:
    b = open(path, "rb").read()
    modality = b[10]
    if modality == 0:
        width, height = struct.unpack("<II", b[48:56])
        at = 64
        head = bytes([0, (width - 1) & 255, ((width - 1) >> 8) & 3, min(height - 1, 255)])
    else:
        frames, channels = struct.unpack("<QH", b[52:62])
        at = 72 + 4 * channels
        f = frames - 1
        head = bytes([1 | ((channels - 1) & 7) << 1, f & 255, (f >> 8) & 255, (f >> 16) & 1])
    # Bit 7 of the first byte picks format version 1 (the target's header), as the file has.
    if struct.unpack("<H", b[8:10])[0] == 1:
        head = bytes([head[0] | 0x80]) + head[1:]
    name = path.rsplit("/", 1)[1]
    open(f"{out}/{name}", "wb").write(head + b[at + 4:])
PY
W=${WALLOC:-${CARGO_TARGET_DIR:-target}/release/walloc}
if [ -x "$W" ]; then
  tmp=$(mktemp -d)
  for f in tests/data/images/*.png tests/data/photos/*.png; do
    "$W" encode -q --model tests/data/models/tiny-image.wlm "$f" -o "$tmp/$(basename "$f" .png).wl"
  done
  "$W" encode -q --model tests/data/models/tiny-audio.wlm fuzz/seeds/wav/six16.wav -o "$tmp/six16.wl"
  "$W" encode -q --model tests/data/models/tiny-audio.wlm fuzz/seeds/wav/mono8.wav -o "$tmp/mono8.wl"
  cp "$tmp"/*.wl $C/decode_full/
  cp "$tmp"/*.wl $C/wl_container/
  rm -r "$tmp"
else
  echo "no walloc binary at $W: decode_full starts from the golden files only"
fi
for d in $C/*; do echo "$d: $(ls "$d" | wc -l) seeds"; done
