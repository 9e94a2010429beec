#!/usr/bin/env bash
# The static musl build of `walloc`, the one to install or ship on Linux:
#
#   bash scripts/static-build.sh        # prints the binary's path on its last line
#
# Why: every program linked with glibc, statically or not, starts by asking the processor
# about its caches with some 65 CPUID instructions. In a virtual machine each one traps to
# the hypervisor: 6.9 µs apiece on this project's VMs, 0.45 ms of every command (a 741×500
# `walloc encode` takes 4.2 ms). musl asks nothing. The build is the same code, the same
# bytes out; its heap is talc's on huge pages (cli/src/span_heap.rs), as musl's own
# allocator maps and faults in every large buffer afresh. docs/performance.md (twentieth
# session) has the measurements.
#
# Adds the Rust target x86_64-unknown-linux-musl with rustup where it is missing: no C compiler or musl package is needed, Rust ships the C library and its start
# files. The first build compiles walloc's dependencies once more for that target (about
# 5 minutes on two cores); builds go to $CARGO_TARGET_DIR (or target/) under the target's
# name.
set -euo pipefail
cd "$(dirname "$0")/.."

# x86-64 only: the one kind of machine this build was measured and tested on.
[ "$(uname -s)-$(uname -m)" = Linux-x86_64 ] \
  || { echo "static-build.sh builds for Linux on x86-64 only; use cargo build --release" >&2; exit 1; }
target=x86_64-unknown-linux-musl

if ! rustup target list --installed | grep -qx "$target"; then
  rustup target add "$target"
fi
cargo build --release -p walloc --bin walloc --target "$target"
echo "${CARGO_TARGET_DIR:-target}/$target/release/walloc"
