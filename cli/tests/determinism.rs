//! Determinism: a committed photo and music clip, encoded with the committed tiny models,
//! give committed `.wl` bytes (tests/data/golden), and decoding those committed files
//! gives output whose SHA-256 is committed too (tests/data/golden/decoded.sha256). The
//! hashes are over the decoded samples, not a container: the RGB8 pixels row by row for
//! the image, the 32-bit float samples (`decode --float`), interleaved little-endian, for
//! the audio. WALLOC_BLESS=1 rewrites them all after an intended change. The same signals
//! as written by format versions 1 and 2 (`*.v1.wl`, `*.v2.wl`, kept from before the
//! versions after them) still decode, to the same output as each other and to committed
//! hashes too. (They decoded to the current file's output until the image encoder's
//! transform went to fixed point, which moved some of its symbols.)
//!
//! Run against another build (`WALLOC_BIN`, the static musl build in CI), the encoded
//! bytes and the decoded image must still be the committed ones. The decoded audio may
//! differ in the floats' last bits, as DESIGN.md allows across platforms: its decoder's
//! sine comes from the C library (glibc's and musl's round differently, by up to 9e-8 on
//! this clip), so it is held within [`AUDIO_ULPS`] of this build's own decode instead.

use std::path::Path;

use sha2::{Digest, Sha256};

mod common;
use common::*;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn bless() -> bool {
    std::env::var_os("WALLOC_BLESS").is_some()
}

struct Golden {
    /// Source under tests/data.
    source: &'static str,
    model: &'static str,
    /// The committed encoding under tests/data/golden.
    wl: &'static str,
    /// The same signal as format versions 1 and 2 wrote it (the same symbols: one
    /// stream; streams without block flags).
    older: [&'static str; 2],
    /// What the decoded file is called in the scratch folder (its extension picks the
    /// format), and how its samples are hashed.
    decoded: &'static str,
    hash: fn(&Path) -> String,
}

fn image_hash(path: &Path) -> String {
    hex(&Sha256::digest(
        image::open(path).unwrap().to_rgb8().as_raw(),
    ))
}

fn audio_samples(path: &Path) -> Vec<f32> {
    let mut reader = hound::WavReader::open(path).unwrap();
    assert_eq!(reader.spec().sample_format, hound::SampleFormat::Float);
    reader.samples::<f32>().map(Result::unwrap).collect()
}

fn audio_hash(path: &Path) -> String {
    let mut h = Sha256::new();
    for v in audio_samples(path) {
        h.update(v.to_le_bytes());
    }
    hex(&h.finalize())
}

/// How far another build's decoded audio may lie from this build's: 1e-6, a thirtieth of
/// a 16-bit step (3e-5).
const AUDIO_ULPS: f32 = 1e-6;

const GOLDEN: [Golden; 2] = [
    Golden {
        source: "photos/chelsea-crop.png",
        model: "models/tiny-image.wlm",
        wl: "golden/chelsea-crop.wl",
        older: ["golden/chelsea-crop.v1.wl", "golden/chelsea-crop.v2.wl"],
        decoded: "decoded.png",
        hash: image_hash,
    },
    Golden {
        source: "audio/nebula-0.5s.wav",
        model: "models/tiny-audio.wlm",
        wl: "golden/nebula-0.5s.wl",
        older: ["golden/nebula-0.5s.v1.wl", "golden/nebula-0.5s.v2.wl"],
        decoded: "decoded.wav",
        hash: audio_hash,
    },
];

/// `name  hash` lines of tests/data/golden/decoded.sha256.
fn committed_hashes() -> Vec<(String, String)> {
    std::fs::read_to_string(data("golden/decoded.sha256"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (hash, name) = l.split_once("  ")?;
            Some((name.to_string(), hash.to_string()))
        })
        .collect()
}

#[test]
fn golden_files_encode_and_decode_to_the_committed_bytes() {
    let mut hashes = Vec::new();
    for g in &GOLDEN {
        let dir = scratch(g.wl.rsplit('/').next().unwrap());
        let model = data(g.model);
        // Encoding the source gives the committed bytes.
        let src = dir.join(Path::new(g.source).file_name().unwrap());
        std::fs::copy(data(g.source), &src).unwrap();
        let wl = dir.join("encoded.wl");
        ok(&["encode", "-q", "--model", s(&model), s(&src), "-o", s(&wl)]);
        let encoded = std::fs::read(&wl).unwrap();
        if bless() {
            std::fs::write(data(g.wl), &encoded).unwrap();
        }
        assert!(
            encoded == std::fs::read(data(g.wl)).unwrap(),
            "{}: the encoded bytes changed",
            g.wl
        );
        // Decoding the committed file gives the committed samples, and so does decoding
        // the older versions' files of the same signal.
        let decode = |wl: &str, name: &str| {
            let decoded = dir
                .join(name)
                .with_extension(Path::new(g.decoded).extension().unwrap());
            let input = data(wl);
            let args = [
                "decode",
                "-q",
                "--float",
                "--model",
                s(&model),
                s(&input),
                "-o",
                s(&decoded),
            ];
            ok(&args);
            if std::env::var_os("WALLOC_BIN").is_some() && g.decoded.ends_with(".wav") {
                // Another build's audio: within AUDIO_ULPS of this build's, whose output
                // the hashes then check.
                let theirs = audio_samples(&decoded);
                let status = std::process::Command::new(env!("CARGO_BIN_EXE_walloc"))
                    .args(args)
                    .arg("--force")
                    .status()
                    .unwrap();
                assert!(status.success());
                let ours = audio_samples(&decoded);
                assert_eq!(theirs.len(), ours.len(), "{wl}: another length");
                let worst = ours
                    .iter()
                    .zip(&theirs)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f32::max);
                assert!(
                    worst <= AUDIO_ULPS,
                    "{wl}: {worst} from this build's decode"
                );
            }
            (g.hash)(&decoded)
        };
        hashes.push((g.wl.to_string(), decode(g.wl, "decoded")));
        // The older versions' files hold the same symbols as each other (those of the
        // encoder of their day), so they decode to the same output.
        let older = g
            .older
            .map(|wl| (wl.to_string(), decode(wl, wl.rsplit('/').next().unwrap())));
        assert_eq!(
            older[0].1, older[1].1,
            "{} and {}: an older version's file decodes differently",
            older[0].0, older[1].0
        );
        hashes.extend(older);
    }
    if bless() {
        let text: String = hashes
            .iter()
            .map(|(name, hash)| format!("{hash}  {name}\n"))
            .collect();
        std::fs::write(data("golden/decoded.sha256"), text).unwrap();
    }
    assert_eq!(
        hashes,
        committed_hashes(),
        "decoded output changed (left: now, right: committed)"
    );
}
