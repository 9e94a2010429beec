//! Links the `walloc` binary as a static, position-dependent executable on Linux (glibc).
//!
//! Why position-dependent: a position-independent `walloc` made the dynamic loader apply
//! ≈ 10 000 relative relocations at every start, writing pointers into ≈ 45 pages of
//! read-only-after-start data (vtables, panic locations, static strings), each a
//! copy-on-write page fault. That was 0.45 ms of every command (`walloc --version` 1.67 →
//! 1.19 ms median, 150 interleaved runs; 171 → 122 page faults). The cost: the
//! executable's own code and data load at a fixed address (the stack, the heap and memory
//! maps are still randomised). The objects are position-independent as always, so only
//! this link changes, and no dependency is rebuilt for it (docs/performance.md).
//!
//! Why static: with no dynamic loader, no shared C library to map, relocate and fault in,
//! and no calls through the GOT, every command starts sooner: `walloc --version` 1.33 →
//! 1.03 ms, 110 → 61 page faults; `walloc encode` of a 741×500 photo 6.57 → 6.12 ms median
//! (600 shuffled rounds each; docs/performance.md, sixteenth session). `walloc` loads
//! nothing at run time (no `dlopen`, no name service), so a static C library costs it
//! nothing. (`walloc-train` stays dynamic: wgpu opens the Vulkan loader at run time.)
//!
//! How, without rebuilding anything: `-C target-feature=+crt-static` would make rustc
//! link statically, but it can only be given to every crate at once (profile rustflags are
//! unstable), which rebuilds all of Burn and breaks proc-macro crates, which cannot be
//! static. So this script asks the C compiler driver for a static link of this one binary
//! (`-static`: the static start files, no interpreter) and answers the libraries rustc
//! names for a dynamic link (`-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc`, searched with
//! `-Bdynamic`) from a folder searched first, where each `lib<name>.so` is a linker script
//! naming static archives (for `gcc_s`, the static unwinder `libgcc_eh.a` and
//! `libgcc.a`). Where any archive is missing (a C library without its static archives,
//! say), or `WALLOC_DYNAMIC` is set, `walloc` links dynamically as before, with a warning
//! in the first case. cli/tests/static_link.rs checks the result.
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=WALLOC_DYNAMIC");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") != "linux" || var("CARGO_CFG_TARGET_ENV") != "gnu" {
        return;
    }
    println!("cargo:rustc-link-arg-bin=walloc=-no-pie");
    if std::env::var_os("WALLOC_DYNAMIC").is_some() {
        return;
    }
    let out = PathBuf::from(var("OUT_DIR")).join("static-libs");
    match static_library_scripts(&out) {
        Ok(()) => {
            println!("cargo:rustc-link-arg-bin=walloc=-static");
            println!("cargo:rustc-link-arg-bin=walloc=-L{}", out.display());
        }
        Err(why) => println!("cargo:warning=walloc links dynamically: {why}"),
    }
}

/// What each library rustc asks for (`-l<name>`) becomes: static archives, the C library
/// grouped with the compiler's runtime, which its unwinding and builtins call.
const LIBRARIES: [(&str, &[&str]); 7] = [
    ("gcc_s", &["libgcc_eh.a", "libgcc.a"]),
    ("util", &["libutil.a"]),
    ("rt", &["librt.a"]),
    ("pthread", &["libpthread.a"]),
    ("m", &["libm.a"]),
    ("dl", &["libdl.a"]),
    ("c", &["libc.a", "libgcc_eh.a", "libgcc.a"]),
];

/// Writes `dir/lib<name>.so` for each of [`LIBRARIES`]: a linker script grouping the
/// static archives, found where the C compiler driver that links finds them.
fn static_library_scripts(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let driver = std::env::var("RUSTC_LINKER").unwrap_or_else(|_| "cc".into());
    for (name, archives) in LIBRARIES {
        let paths = archives
            .iter()
            .map(|a| archive(&driver, a))
            .collect::<Result<Vec<_>, _>>()?;
        let script = format!(
            "/* walloc's static link (cli/build.rs): -l{name} as static archives */\n\
             GROUP ( {} )\n",
            paths
                .iter()
                .map(|p| format!("\"{}\"", p.display()))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let file = dir.join(format!("lib{name}.so"));
        std::fs::write(&file, script).map_err(|e| format!("{}: {e}", file.display()))?;
    }
    Ok(())
}

/// Where the driver finds `file` (`cc -print-file-name`), which must exist: the driver
/// echoes the bare name back when it finds nothing.
fn archive(driver: &str, file: &str) -> Result<PathBuf, String> {
    let out = Command::new(driver)
        .arg(format!("-print-file-name={file}"))
        .output()
        .map_err(|e| format!("cannot run {driver}: {e}"))?;
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if out.status.success() && path.is_absolute() && path.is_file() {
        Ok(path)
    } else {
        Err(format!("{driver} finds no {file}"))
    }
}
