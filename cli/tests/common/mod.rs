//! Helpers every test of the `walloc` binary uses: committed data, a scratch folder per
//! test, running the binary and checking how it ended. Each test file compiles its own
//! copy, so a file may leave some unused.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

// Shared with walloc-train's tests, which include the file by its path.
mod scratch;
#[allow(unused_imports)] // as above: not every test file makes scratch folders
pub use scratch::{Scratch, scratch};

/// A file under tests/data.
pub fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data")
        .join(rel)
}

/// A committed tiny model (tests/data/models).
pub fn model(name: &str) -> PathBuf {
    data(&format!("models/{name}"))
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The `walloc` under test: the one this build made, or the one `WALLOC_BIN` names (CI runs
/// these tests again against the static musl build, scripts/static-build.sh).
pub fn walloc_bin() -> PathBuf {
    std::env::var_os("WALLOC_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_walloc").into())
}

pub fn walloc(args: &[&str]) -> Output {
    Command::new(walloc_bin()).args(args).output().unwrap()
}

/// Succeeds; returns the output.
pub fn ok(args: &[&str]) -> Output {
    let out = walloc(args);
    assert!(
        out.status.success(),
        "walloc {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Fails, says so on stderr, and does not panic; returns stderr.
pub fn fails(args: &[&str]) -> String {
    let out = walloc(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "walloc {args:?} succeeded");
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
    err
}

/// [`fails`] with exactly one line on stderr (one input, one problem).
pub fn fails_once(args: &[&str]) -> String {
    let err = fails(args);
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    err
}
