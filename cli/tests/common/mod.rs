//! Helpers every test of the `walloc` binary uses: committed data, a scratch folder per
//! test, running the binary and checking how it ended. Each test file compiles its own
//! copy, so a file may leave some unused.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

/// An empty folder of its own for one test, named after the test file, the process and
/// `name`, so tests running at once never share one. It is removed when the test is done
/// with it, unless the test failed (then it is left to look at): every run used to leave
/// its folders behind, and the project's machine ran out of disk with thousands of them.
pub fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!(
        "walloc-{}-{}-{name}",
        env!("CARGO_CRATE_NAME"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

/// A [`scratch`] folder, used as its path.
pub struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

pub fn walloc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_walloc"))
        .args(args)
        .output()
        .unwrap()
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
