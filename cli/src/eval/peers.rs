//! The codecs walloc is compared with, run as their command-line tools on temporary
//! files. Their speeds are subprocess wall times, so they include process start and file
//! I/O; on small images that overhead dominates.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// An image codec's tool pair and quality sweep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImagePeer {
    Jpeg,
    Webp,
    Avif,
    Jxl,
}

pub const IMAGE_PEERS: [ImagePeer; 4] = [
    ImagePeer::Jpeg,
    ImagePeer::Webp,
    ImagePeer::Avif,
    ImagePeer::Jxl,
];

/// The files a peer may read a source image from (cjpeg reads no PNG).
pub struct Sources {
    pub ppm: PathBuf,
    pub png: PathBuf,
}

impl ImagePeer {
    pub fn name(self) -> &'static str {
        match self {
            Self::Jpeg => "jpeg",
            Self::Webp => "webp",
            Self::Avif => "avif",
            Self::Jxl => "jxl",
        }
    }

    /// Encoder and decoder programs.
    pub fn tools(self) -> [&'static str; 2] {
        match self {
            Self::Jpeg => ["cjpeg", "djpeg"],
            Self::Webp => ["cwebp", "dwebp"],
            Self::Avif => ["avifenc", "avifdec"],
            Self::Jxl => ["cjxl", "djxl"],
        }
    }

    /// The swept settings as encoder flags, from small files to large. They reach down
    /// to qualities JPEG was never meant for (about 18 dB at `-quality 2`) because learned
    /// codecs are most often compared at low rates, and a BD-rate needs overlapping
    /// PSNR ranges.
    pub fn settings(self) -> Vec<Vec<String>> {
        let flags = |flag: &str, values: &[&str]| -> Vec<Vec<String>> {
            values
                .iter()
                .map(|v| vec![flag.to_string(), v.to_string()])
                .collect()
        };
        let percent = [
            "2", "3", "5", "10", "20", "30", "40", "50", "60", "70", "80", "90", "95",
        ];
        match self {
            Self::Jpeg => flags("-quality", &percent),
            // cwebp's quality saturates below 5 (about 28 dB on photographs).
            Self::Webp => flags("-q", &percent[1..]),
            // One quantizer for the whole image (--min = --max), 63 = coarsest.
            Self::Avif => ["63", "56", "48", "40", "32", "26", "20", "14", "8"]
                .iter()
                .map(|q| ["--min", q, "--max", q].map(String::from).to_vec())
                .collect(),
            // Butteraugli distance, 1 = visually lossless.
            Self::Jxl => flags(
                "-d",
                &[
                    "15", "10", "7", "5", "3.5", "2.5", "1.8", "1.2", "0.8", "0.5",
                ],
            ),
        }
    }

    /// The coded file's extension and the decoded file's (a format the image crate reads).
    fn extensions(self) -> [&'static str; 2] {
        match self {
            Self::Jpeg => ["jpg", "bmp"],
            Self::Webp => ["webp", "bmp"],
            Self::Avif => ["avif", "png"],
            Self::Jxl => ["jxl", "png"],
        }
    }

    /// Encodes and decodes one image; returns the coded size, the decoded file and the
    /// two wall times in seconds.
    pub fn code(
        self,
        flags: &[String],
        src: &Sources,
        work: &Path,
    ) -> Result<(u64, PathBuf, f64, f64), String> {
        let [enc, dec] = self.tools();
        let [coded_ext, decoded_ext] = self.extensions();
        let coded = work.join(format!("coded.{coded_ext}"));
        let decoded = work.join(format!("decoded.{decoded_ext}"));
        // Stale outputs from the previous image must not be mistaken for new ones.
        let _ = std::fs::remove_file(&coded);
        let _ = std::fs::remove_file(&decoded);
        let (c, d) = (coded.as_os_str(), decoded.as_os_str());
        let mut encode: Vec<OsString> = Vec::new();
        let mut decode: Vec<OsString> = Vec::new();
        let flags = flags.iter().map(OsString::from);
        match self {
            Self::Jpeg => {
                encode.push("-optimize".into());
                encode.extend(flags);
                encode.extend(["-outfile".into(), c.into(), src.ppm.clone().into()]);
                decode.extend(["-bmp".into(), "-outfile".into(), d.into(), c.into()]);
            }
            Self::Webp => {
                encode.extend(["-quiet".into(), "-m".into(), "6".into()]);
                encode.extend(flags);
                encode.extend([src.png.clone().into(), "-o".into(), c.into()]);
                decode.extend([c.into(), "-bmp".into(), "-o".into(), d.into()]);
            }
            Self::Avif => {
                encode.extend(flags);
                encode.extend([src.png.clone().into(), c.into()]);
                decode.extend(["-d".into(), "8".into(), c.into(), d.into()]);
            }
            Self::Jxl => {
                encode.extend([src.png.clone().into(), c.into()]);
                encode.extend(flags);
                decode.extend([c.into(), d.into()]);
            }
        }
        let encode_s = run_tool(enc, &encode)?;
        let bytes = std::fs::metadata(&coded)
            .map_err(|e| format!("{enc} wrote no output: {e}"))?
            .len();
        let decode_s = run_tool(dec, &decode)?;
        Ok((bytes, decoded, encode_s, decode_s))
    }
}

/// Opus at each bitrate in kbps (the total for all channels).
pub const OPUS_KBPS: [u32; 8] = [6, 12, 24, 32, 48, 64, 96, 128];

/// Encodes `src` (a WAV file) with opusenc and decodes it back to a float WAV at
/// `sample_rate` (opusdec resamples from Opus's 48 kHz and trims the encoder's pre-skip);
/// returns the coded size, the decoded file and the two wall times.
pub fn opus_code(
    kbps: u32,
    src: &Path,
    sample_rate: u32,
    work: &Path,
) -> Result<(u64, PathBuf, f64, f64), String> {
    let coded = work.join("coded.opus");
    let decoded = work.join("decoded.wav");
    let _ = std::fs::remove_file(&coded);
    let _ = std::fs::remove_file(&decoded);
    let encode: Vec<OsString> = vec![
        "--quiet".into(),
        "--bitrate".into(),
        kbps.to_string().into(),
        src.into(),
        coded.clone().into(),
    ];
    let encode_s = run_tool("opusenc", &encode)?;
    let bytes = std::fs::metadata(&coded)
        .map_err(|e| format!("opusenc wrote no output: {e}"))?
        .len();
    let decode: Vec<OsString> = vec![
        "--quiet".into(),
        "--float".into(),
        "--rate".into(),
        sample_rate.to_string().into(),
        coded.into(),
        decoded.clone().into(),
    ];
    let decode_s = run_tool("opusdec", &decode)?;
    Ok((bytes, decoded, encode_s, decode_s))
}

/// Whether an executable of this name is in a folder on PATH.
pub fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            let p = dir.join(format!("{tool}{}", std::env::consts::EXE_SUFFIX));
            p.is_file() && is_executable(&p)
        })
    })
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(_: &Path) -> bool {
    true
}

/// Runs a tool to completion; returns its wall time, or its first line of complaint.
fn run_tool(program: &str, args: &[OsString]) -> Result<f64, String> {
    let start = Instant::now();
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let seconds = start.elapsed().as_secs_f64();
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let line = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        return Err(format!(
            "{program} failed ({}): {}",
            out.status,
            line.trim()
        ));
    }
    Ok(seconds)
}
