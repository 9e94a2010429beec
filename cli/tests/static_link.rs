//! `walloc` on Linux with glibc is linked statically and position-dependent (cli/build.rs),
//! and so is the static musl build (scripts/static-build.sh, .cargo/config.toml): no
//! interpreter, no dynamic section, loaded at a fixed address. The static link is worth
//! 0.3–0.45 ms of every command (docs/performance.md); this checks the build still gives
//! it (the other tests run that binary; with `WALLOC_BIN` set, that one).

#![cfg(all(target_os = "linux", target_env = "gnu"))]

use std::io::Read;

mod common;

/// The ELF program header types this test looks for.
const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
/// ELF's type of a position-dependent executable (a position-independent one is DYN).
const ET_EXEC: u16 = 2;

/// The binary's ELF type and the types of its program headers.
fn program_headers(path: &std::path::Path) -> (u16, Vec<u32>) {
    let mut head = vec![0u8; 64 << 10];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap();
    let head = &head[..n];
    assert_eq!(&head[..4], b"\x7fELF", "not an ELF file");
    assert_eq!(head[4], 2, "not a 64-bit ELF file");
    let u16_at = |o: usize| u16::from_le_bytes(head[o..o + 2].try_into().unwrap());
    let u32_at = |o: usize| u32::from_le_bytes(head[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(head[o..o + 8].try_into().unwrap());
    let (phoff, phentsize, phnum) = (u64_at(0x20) as usize, u16_at(0x36), u16_at(0x38));
    let types = (0..usize::from(phnum))
        .map(|i| u32_at(phoff + i * usize::from(phentsize)))
        .collect();
    (u16_at(0x10), types)
}

#[test]
fn walloc_is_static_and_position_dependent() {
    let walloc = common::walloc_bin();
    if option_env!("WALLOC_DYNAMIC").is_some() && std::env::var_os("WALLOC_BIN").is_none() {
        eprintln!("WALLOC_DYNAMIC is set: walloc was linked dynamically on purpose");
        return;
    }
    let (kind, types) = program_headers(&walloc);
    assert_eq!(kind, ET_EXEC, "walloc is position-independent");
    assert!(types.contains(&PT_LOAD), "no loadable segment: {types:?}");
    assert!(
        !types.contains(&PT_INTERP) && !types.contains(&PT_DYNAMIC),
        "walloc is dynamically linked (program headers {types:?}): see cli/build.rs's warning"
    );
}
