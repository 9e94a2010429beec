//! A scratch folder per test, removed when the test is done with it. Used by the
//! `walloc` binary's tests (tests/common) and by walloc-train's, which include this file
//! by its path.

use std::path::{Path, PathBuf};

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
