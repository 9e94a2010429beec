//! Crashes the fuzz targets on the CLI's input path found (fuzz/, docs/robustness.md),
//! replayed through the library the `walloc` binary reads files with.

use burn::tensor::Device;
use walloc_cli::media;
use walloc_core::container::Limits;
use walloc_core::model_file::Model;

mod common;
use common::*;

/// wav_input: a float WAV whose only nonzero sample is a denormal (4.8·10^-44) read fine
/// but failed to encode ("invalid header: the audio gain is not a positive number": the
/// gain that brings its peak to ½ overflowed f32 to infinity). Now it encodes as the
/// silence it is, and decodes back.
#[test]
fn a_float_wav_with_a_denormal_peak_encodes() {
    let limits = Limits::default();
    let pcm = media::read_wav(&data("fuzz/wav_input-denormal-float.wav"), &limits).unwrap();
    let peak = pcm
        .planes
        .iter()
        .flatten()
        .fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(peak > 0.0 && !(0.5 / peak).is_finite(), "{peak}");
    let model = Model::from_bytes(
        &std::fs::read(data("models/tiny-audio.wlm")).unwrap(),
        &Device::flex(),
    )
    .unwrap();
    let wl = model.encode_audio(&pcm, &limits).unwrap();
    let back = model.decode_audio(&wl, &limits).unwrap();
    assert_eq!(back.planes.len(), pcm.planes.len());
    assert_eq!(back.planes[0].len(), pcm.planes[0].len());
}

/// wav_input: a WAVE_FORMAT_EXTENSIBLE header stating 52272 valid bits per sample made
/// `1 << (bits − 1)` overflow (a panic with overflow checks, a garbage scale and an
/// impossible stored format without). Sizes over 32 bits are refused with a message.
#[test]
fn a_wav_stating_52272_bit_samples_is_refused() {
    let limits = Limits::default();
    let err = media::read_wav(&data("fuzz/wav_input-52272-bit-samples.wav"), &limits).unwrap_err();
    assert!(err.contains("52272-bit integer samples"), "{err}");
}
