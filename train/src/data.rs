//! Training and validation data: folders of images or WAV files, loaded once into memory,
//! and random crops from them.

use std::path::{Path, PathBuf};

use crate::rng::Rng;

/// Files in `dir` (not recursive), sorted so runs are reproducible.
pub fn list_files(dir: &Path, extensions: &[&str]) -> Result<Vec<PathBuf>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read folder {}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| extensions.iter().any(|x| x.eq_ignore_ascii_case(e)))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!(
            "no {} files in {}",
            extensions.join("/"),
            dir.display()
        ));
    }
    Ok(files)
}

/// An RGB image as f32 planes in [−½, ½], `[3, height, width]`.
pub struct Image {
    pub name: String,
    pub width: usize,
    pub height: usize,
    pub planes: Vec<f32>,
}

pub const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "webp", "bmp", "tif", "tiff"];

pub fn load_images(dir: &Path) -> Result<Vec<Image>, String> {
    list_files(dir, IMAGE_EXTENSIONS)?
        .iter()
        .map(|path| {
            let img = image::open(path)
                .map_err(|e| format!("{}: {e}", path.display()))?
                .to_rgb8();
            let (w, h) = (img.width() as usize, img.height() as usize);
            let mut planes = vec![0.0f32; 3 * w * h];
            for (i, p) in img.pixels().enumerate() {
                for c in 0..3 {
                    planes[c * w * h + i] = p.0[c] as f32 / 255.0 - 0.5;
                }
            }
            Ok(Image {
                name: file_name(path),
                width: w,
                height: h,
                planes,
            })
        })
        .collect()
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A batch of random `crop`×`crop` crops with random horizontal and vertical flips,
/// `[batch, 3, crop, crop]` flattened. Images smaller than the crop are skipped.
pub fn image_batch(images: &[Image], batch: usize, crop: usize, rng: &mut Rng) -> Vec<f32> {
    let usable: Vec<&Image> = images
        .iter()
        .filter(|i| i.width >= crop && i.height >= crop)
        .collect();
    assert!(
        !usable.is_empty(),
        "no training image is at least {crop}×{crop}"
    );
    let mut out = Vec::with_capacity(batch * 3 * crop * crop);
    for _ in 0..batch {
        let img = usable[rng.below(usable.len())];
        let x0 = rng.below(img.width - crop + 1);
        let y0 = rng.below(img.height - crop + 1);
        let flip_x = rng.below(2) == 1;
        let flip_y = rng.below(2) == 1;
        for c in 0..3 {
            let plane = &img.planes[c * img.width * img.height..];
            for y in 0..crop {
                let sy = y0 + if flip_y { crop - 1 - y } else { y };
                for x in 0..crop {
                    let sx = x0 + if flip_x { crop - 1 - x } else { x };
                    out.push(plane[sy * img.width + sx]);
                }
            }
        }
    }
    out
}

/// Audio as f32 planes `[channels, frames]`, normalised as the codec does: mean removed
/// per channel, peak scaled to ½.
pub struct Audio {
    pub name: String,
    pub sample_rate: u32,
    pub channels: usize,
    pub frames: usize,
    pub planes: Vec<f32>,
}

pub fn load_wavs(dir: &Path, channels: usize) -> Result<Vec<Audio>, String> {
    list_files(dir, &["wav"])?
        .iter()
        .map(|path| read_wav(path, channels))
        .collect()
}

/// Reads any WAV hound reads (8–32-bit int, 32-bit float), maps it to `channels`
/// channels (mono is duplicated, extra channels dropped) and normalises it.
pub fn read_wav(path: &Path, channels: usize) -> Result<Audio, String> {
    let err = |e: hound::Error| format!("{}: {e}", path.display());
    let mut reader = hound::WavReader::open(path).map_err(err)?;
    let spec = reader.spec();
    let src_ch = spec.channels as usize;
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader
            .samples::<f32>()
            .collect::<Result<_, _>>()
            .map_err(err)?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
                .map_err(err)?
        }
    };
    let frames = samples.len() / src_ch.max(1);
    let mut planes = vec![0.0f32; channels * frames];
    for c in 0..channels {
        let src = c.min(src_ch - 1);
        for f in 0..frames {
            planes[c * frames + f] = samples[f * src_ch + src];
        }
    }
    for c in 0..channels {
        let p = &mut planes[c * frames..(c + 1) * frames];
        let mean = p.iter().map(|&v| v as f64).sum::<f64>() / frames.max(1) as f64;
        p.iter_mut().for_each(|v| *v -= mean as f32);
    }
    let peak = planes.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    if peak > 0.0 {
        planes.iter_mut().for_each(|v| *v *= 0.5 / peak);
    }
    Ok(Audio {
        name: file_name(path),
        sample_rate: spec.sample_rate,
        channels,
        frames,
        planes,
    })
}

/// A batch of random crops of `length` frames with a random gain in [¼, 1],
/// `[batch, channels, length]` flattened.
pub fn audio_batch(clips: &[Audio], batch: usize, length: usize, rng: &mut Rng) -> Vec<f32> {
    let usable: Vec<&Audio> = clips.iter().filter(|a| a.frames >= length).collect();
    assert!(!usable.is_empty(), "no training clip has {length} frames");
    let mut out = Vec::with_capacity(batch * usable[0].channels * length);
    for _ in 0..batch {
        let clip = usable[rng.below(usable.len())];
        let start = rng.below(clip.frames - length + 1);
        let gain = 0.25 + 0.75 * rng.uniform();
        for c in 0..clip.channels {
            let plane = &clip.planes[c * clip.frames + start..][..length];
            out.extend(plane.iter().map(|v| v * gain));
        }
    }
    out
}
