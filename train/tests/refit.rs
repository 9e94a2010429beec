//! `walloc-train refit`: a model file's context tables fitted again to a folder of files,
//! its networks untouched.

use std::path::{Path, PathBuf};
use std::process::Command;

use burn::tensor::Device;
use walloc_core::container::Limits;
use walloc_core::model_file::Model;
use walloc_core::pipeline::RasterImage;

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data")
        .join(rel)
}

#[path = "../../cli/tests/common/scratch.rs"]
mod scratch;
use scratch::scratch;

fn refit(model: &Path, folder: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_walloc-train"))
        .arg("refit")
        .arg(model)
        .arg("--data")
        .arg(folder)
        .arg("-o")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

fn load(path: &Path) -> Model {
    Model::from_bytes(&std::fs::read(path).unwrap(), &Device::flex()).unwrap()
}

fn png(path: &Path) -> RasterImage {
    let img = image::open(path).unwrap().to_rgb8();
    RasterImage {
        width: img.width(),
        height: img.height(),
        channels: 3,
        samples: img.into_raw().into(),
    }
}

#[test]
fn refitted_tables_fit_their_data_and_leave_the_networks_alone() {
    let dir = scratch("fit");
    let original = data("models/tiny-image.wlm");
    // One photo the tables are fitted to.
    let folder = dir.join("one");
    std::fs::create_dir_all(&folder).unwrap();
    let photo_path = folder.join("chelsea.png");
    std::fs::copy(data("photos/chelsea-crop.png"), &photo_path).unwrap();
    let out = dir.join("refit.wlm");
    let o = refit(&original, &folder, &out, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let (before, after) = (load(&original), load(&out));
    assert_ne!(before.id, after.id);
    assert_eq!(before.config, after.config);
    assert_ne!(before.tables, after.tables);
    let photo = png(&photo_path);
    let limits = Limits::default();
    let a = before.encode_image(&photo, &limits).unwrap();
    let b = after.encode_image(&photo, &limits).unwrap();
    assert!(
        b.len() < a.len(),
        "tables fitted to the photo code it in {} bytes, the original's in {}",
        b.len(),
        a.len()
    );
    // The same encoder and decoder: the same latent, the same pixels.
    assert_eq!(
        before.latent_symbols(&a, &limits).unwrap().1,
        after.latent_symbols(&b, &limits).unwrap().1
    );
    assert_eq!(
        before.decode_image(&a, &limits).unwrap(),
        after.decode_image(&b, &limits).unwrap()
    );

    // Refitting the result to the same files changes nothing: the same bytes.
    let again = dir.join("again.wlm");
    let o = refit(&out, &folder, &again, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(std::fs::read(&again).unwrap() == std::fs::read(&out).unwrap());
}

#[test]
fn refit_refuses_to_overwrite_and_names_bad_inputs() {
    let dir = scratch("bad");
    let model = data("models/tiny-image.wlm");
    let out = dir.join("out.wlm");
    std::fs::write(&out, b"keep me").unwrap();
    let o = refit(&model, &data("images"), &out, &[]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("pass --force"));
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");

    let o = refit(
        &model,
        &data("images/cups-crop.png"),
        &dir.join("x.wlm"),
        &[],
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not a folder"));
    let o = refit(
        &data("images/cups-crop.png"),
        &data("images"),
        &dir.join("y.wlm"),
        &[],
    );
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("cups-crop.png"));
    assert!(!dir.join("x.wlm").exists() && !dir.join("y.wlm").exists());
}
