#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 600) each, one after the other on one core,
# under the limits docs/robustness.md describes; crashes go to fuzz/artifacts/<target>/.
# Build first: cargo +nightly fuzz build --sanitizer none -a
set -uo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-600}
TARGETS=${TARGETS:-"image_input wav_input model_file decode_full entropy_payload wl_container"}
mkdir -p fuzz/logs
for t in $TARGETS; do
  echo "== $t ($SECONDS_EACH s)"
  cargo +nightly fuzz run --sanitizer none -a "$t" -- \
    -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 -print_final_stats=1 \
    > "fuzz/logs/$t.log" 2>&1
  echo "exit $?"
  tail -n 3 "fuzz/logs/$t.log"
done
