#!/usr/bin/env bash
# walloc end to end on a fresh checkout: build, then encode and decode a committed photo and
# a music clip with the built-in models, and describe the files.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
work="${WALLOC_DEMO_DIR:-$(mktemp -d)}"
w="$target/release/walloc"

cargo build --release --workspace
cp tests/data/photos/astronaut-crop.png "$work/photo.png"
cp tests/data/audio/nebula-0.5s.wav "$work/music.wav"
"$w" encode "$work/photo.png" "$work/music.wav" --force
"$w" decode "$work/photo.wl" -o "$work/photo.decoded.png" --force
"$w" decode "$work/music.wl" -o "$work/music.decoded.wav" --force
"$w" info "$work/photo.wl"
"$w" info "$work/music.wl"
ls -l "$work"
echo "demo files are in $work"
