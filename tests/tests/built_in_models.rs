//! `walloc` reads its built-in models with `Model::from_trusted_bytes`, which leaves the
//! networks unbuilt until something needs them and gives an image encode the encoder's
//! projection read straight from the weights. Every model read so must code exactly as
//! the same file read whole by `Model::from_bytes`: same `.wl` bytes, same decoded signal.

use burn::tensor::Device;
use walloc_core::codec::Codec;
use walloc_core::config::CodecConfig;
use walloc_core::container::{Limits, SampleFormat};
use walloc_core::model_file::Model;
use walloc_core::pipeline::PcmAudio;

mod common;
use common::{path, photo};

/// A shipped model file read both ways.
fn both_ways(name: &str) -> (Model, Model) {
    let bytes = std::fs::read(path(&format!("../assets/models/{name}.wlm"))).unwrap();
    read_both_ways(bytes)
}

/// Model file bytes read whole, and in place as a built-in model.
fn read_both_ways(bytes: Vec<u8>) -> (Model, Model) {
    let whole = Model::from_bytes(&bytes, &Device::flex()).unwrap();
    let built_in: &'static [u8] = bytes.leak();
    let in_place = Model::from_trusted_bytes(built_in, &Device::flex()).unwrap();
    (whole, in_place)
}

/// Encodes with `in_place` and checks that `whole` gives the same bytes and that both
/// decode them to the same signal; `what` names the case in failures.
fn codes_alike<T: PartialEq>(
    (whole, in_place): (&Model, &Model),
    encode: impl Fn(&Model) -> Vec<u8>,
    decode: impl Fn(&Model, &[u8]) -> T,
    what: &str,
) {
    let wl = encode(in_place);
    assert!(wl == encode(whole), "{what}: .wl bytes differ");
    assert!(
        decode(in_place, &wl) == decode(whole, &wl),
        "{what}: decoded signals differ"
    );
}

#[test]
fn built_in_image_models_code_as_when_read_whole() {
    let limits = Limits::default();
    for q in 1..=4 {
        let (whole, in_place) = both_ways(&format!("image-q{q}"));
        assert_eq!(in_place.id, whole.id);
        for name in ["photos/chelsea-crop.png", "photos/astronaut-crop.png"] {
            let image = photo(name);
            // Encoded first, before anything builds the networks: the projection read
            // from the weights must give the symbols of the one in the built encoder.
            assert!(
                in_place.cpu_encoder().is_some(),
                "image-q{q}: the projection is read from the weights"
            );
            codes_alike(
                (&whole, &in_place),
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
    let (whole, in_place) = read_both_ways(bytes);
    assert!(in_place.cpu_encoder().is_some());
    let limits = Limits::default();
    let image = photo("photos/chelsea-crop.png");
    let wl = in_place.encode_image(&image, &limits).unwrap();
    assert!(
        wl == whole.encode_image(&image, &limits).unwrap(),
        ".wl bytes differ"
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
        let (whole, in_place) = both_ways(&format!("audio-q{q}"));
        codes_alike(
            (&whole, &in_place),
            |m| m.encode_audio(&audio, &limits).unwrap(),
            |m, wl| m.decode_audio(wl, &limits).unwrap(),
            &format!("audio-q{q}"),
        );
    }
}
