//! Links the `walloc` binary as a position-dependent executable on Linux (glibc).
//!
//! Why: a position-independent `walloc` made the dynamic loader apply ≈ 10 000 relative
//! relocations at every start, writing pointers into ≈ 45 pages of read-only-after-start
//! data (vtables, panic locations, static strings), each a copy-on-write page fault.
//! That was 0.45 ms of every command (`walloc --version` 1.67 → 1.19 ms median, 150
//! interleaved runs; 171 → 122 page faults), a tenth of what separates `walloc encode`
//! from `cjpeg`. The cost: the executable's own code and data load at a fixed address
//! (the stack, the heap, memory maps and shared libraries are still randomised). The
//! objects are position-independent as always, so only this link changes, and no
//! dependency is rebuilt for it (docs/performance.md).
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bin=walloc=-no-pie");
    }
}
