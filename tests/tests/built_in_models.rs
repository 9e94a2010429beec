//! `walloc` reads its built-in models with `Model::from_trusted_bytes`, which leaves the
//! networks unbuilt until something needs them and gives an image encode the encoder's
//! projection read straight from the weights; the browser reads model files with
//! `Model::from_owned_bytes`, which does the same after checking the file. Every model
//! read so must code exactly as the same file read whole by `Model::from_bytes`: same
//! `.wl` bytes, same decoded signal; and a damaged file must be refused, not panic.

use burn::tensor::Device;
use walloc_core::codec::Codec;
use walloc_core::config::CodecConfig;
use walloc_core::container::{Limits, SampleFormat};
use walloc_core::model_file::{Model, ModelError};
use walloc_core::pipeline::PcmAudio;

mod common;
use common::{path, photo};

/// A shipped model file read whole, in place as a built-in model, and kept for the CPU
/// paths.
fn three_ways(name: &str) -> [Model; 3] {
    let bytes = std::fs::read(path(&format!("../assets/models/{name}.wlm"))).unwrap();
    read_three_ways(bytes)
}

/// Model file bytes read whole, in place as a built-in model, and kept for the CPU paths.
fn read_three_ways(bytes: Vec<u8>) -> [Model; 3] {
    let whole = Model::from_bytes(&bytes, &Device::flex()).unwrap();
    let owned = Model::from_owned_bytes(bytes.clone(), &Device::flex(), &Limits::default())
        .expect("the file reads for the CPU paths");
    let built_in: &'static [u8] = bytes.leak();
    let in_place = Model::from_trusted_bytes(built_in, &Device::flex()).unwrap();
    [whole, in_place, owned]
}

/// Encodes with each of `[whole, in place, owned]` and checks that all give the same
/// bytes and decode them to the same signal; `what` names the case in failures.
fn codes_alike<T: PartialEq>(
    models: &[Model; 3],
    encode: impl Fn(&Model) -> Vec<u8>,
    decode: impl Fn(&Model, &[u8]) -> T,
    what: &str,
) {
    let [whole, others @ ..] = models;
    let wl = encode(whole);
    let signal = decode(whole, &wl);
    for (other, how) in others.iter().zip(["in place", "owned"]) {
        assert!(encode(other) == wl, "{what}: .wl bytes differ ({how})");
        assert!(
            decode(other, &wl) == signal,
            "{what}: decoded signals differ ({how})"
        );
    }
}

#[test]
fn built_in_image_models_code_as_when_read_whole() {
    let limits = Limits::default();
    for q in 1..=4 {
        let models = three_ways(&format!("image-q{q}"));
        let [whole, in_place, owned] = &models;
        assert_eq!(in_place.id, whole.id);
        assert_eq!(owned.id, whole.id);
        for name in ["photos/chelsea-crop.png", "photos/astronaut-crop.png"] {
            let image = photo(name);
            // Encoded first, before anything builds the networks: the projection read
            // from the weights must give the symbols of the one in the built encoder.
            for model in [in_place, owned] {
                assert!(
                    model.cpu_encoder().is_some() && model.cpu_decoder().is_some(),
                    "image-q{q}: the layers are read from the weights"
                );
            }
            codes_alike(
                &models,
                |m| m.encode_image(&image, &limits).unwrap(),
                |m, wl| m.decode_image(wl, &limits).unwrap(),
                &format!("image-q{q}, {name}"),
            );
        }
    }
}

/// The shipped encoders' biases are near zero; an untrained one's are not, so this checks
/// that the bias is read from the weights too.
#[test]
fn an_untrained_image_model_codes_in_place_as_when_read_whole() {
    let config = CodecConfig::preset("image-small").unwrap();
    let codec = Codec::new(&config, &Device::flex());
    let bytes = Model::export(config, codec).unwrap().to_bytes().unwrap();
    let [whole, in_place, owned] = read_three_ways(bytes);
    let limits = Limits::default();
    let image = photo("photos/chelsea-crop.png");
    let wl = whole.encode_image(&image, &limits).unwrap();
    for model in [in_place, owned] {
        assert!(model.cpu_encoder().is_some());
        assert!(
            wl == model.encode_image(&image, &limits).unwrap(),
            ".wl bytes differ"
        );
    }
}

/// Read for the CPU paths, a file is checked as when read whole: a byte changed anywhere
/// breaks its id, and weights that do not fit its configuration (with a right id) are
/// refused with the error `from_bytes` gives, not a panic when a decode needs them.
#[test]
fn damaged_model_files_are_refused_when_read_for_the_cpu_paths() {
    let device = Device::flex();
    let config = CodecConfig::preset("image-small").unwrap();
    let bytes = Model::export(config.clone(), Codec::new(&config, &device))
        .unwrap()
        .to_bytes()
        .unwrap();
    let mut flipped = bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    assert_eq!(
        Model::from_owned_bytes(flipped, &device, &Limits::default()).unwrap_err(),
        ModelError::IdMismatch
    );

    let mut wider = config.clone();
    wider.decoder_width += 8;
    let misfit = Model::export(config, Codec::new(&wider, &device))
        .unwrap()
        .to_bytes()
        .unwrap();
    let whole = Model::from_bytes(&misfit, &device).unwrap_err();
    assert!(matches!(whole, ModelError::Weights(_)), "{whole:?}");
    assert_eq!(
        Model::from_owned_bytes(misfit, &device, &Limits::default()).unwrap_err(),
        whole
    );
}

#[test]
fn built_in_audio_models_code_as_when_read_whole() {
    let limits = Limits::default();
    // Half a second of a stereo chord: the two models are compared with each other, so
    // any signal will do.
    let rate = 44_100;
    let tone = |f: f32, phase: f32| -> Vec<f32> {
        (0..rate / 2)
            .map(|i| {
                let t = i as f32 / rate as f32;
                0.3 * (std::f32::consts::TAU * f * t + phase).sin()
                    + 0.1 * (std::f32::consts::TAU * 2.5 * f * t).sin()
            })
            .collect()
    };
    let audio = PcmAudio {
        sample_rate: rate as u32,
        format: SampleFormat::Int(16),
        planes: vec![tone(220.0, 0.0), tone(330.0, 1.0)],
    };
    for q in 1..=2 {
        codes_alike(
            &three_ways(&format!("audio-q{q}")),
            |m| m.encode_audio(&audio, &limits).unwrap(),
            |m, wl| m.decode_audio(wl, &limits).unwrap(),
            &format!("audio-q{q}"),
        );
    }
}
