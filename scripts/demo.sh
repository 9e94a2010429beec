#!/usr/bin/env bash
# walloc end to end on a fresh checkout: build, train a tiny codec on the committed sample
# photos, export its model file, then encode and decode a held-out photo.
#
# Until the shipped models land (assets/models), the codec is trained here in about a
# minute; it is a smoke test of every stage, not a good codec.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
work="${WALLOC_DEMO_DIR:-$(mktemp -d)}"

cargo build --release --workspace
"$target/release/walloc-train" image --data tests/data/images --preset tiny \
  --out "$work/run" --steps 300 --batch 4 --crop 64 --lr 1e-2 --warmup 5 --valid-every 100
"$target/release/walloc-train" export "$work/run" -o "$work/tiny.wlm" --force
cp tests/data/photos/chelsea-crop.png "$work/photo.png"
"$target/release/walloc" encode --model "$work/tiny.wlm" "$work/photo.png" -o "$work/photo.wl" --force
"$target/release/walloc" decode --model "$work/tiny.wlm" "$work/photo.wl" -o "$work/photo.decoded.png" --force
ls -l "$work/photo.png" "$work/photo.wl" "$work/photo.decoded.png"
echo "demo files are in $work"
