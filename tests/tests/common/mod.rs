//! What the walloc-tests test files share: their data and the shipped models.

use std::path::{Path, PathBuf};

use walloc_core::pipeline::RasterImage;

/// A path relative to this crate (tests/).
pub fn path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A committed photo (under tests/data) as 8-bit RGB.
pub fn photo(rel: &str) -> RasterImage {
    let img = image::open(path("data").join(rel)).unwrap().to_rgb8();
    RasterImage {
        width: img.width(),
        height: img.height(),
        channels: 3,
        samples: img.into_raw().into(),
    }
}
