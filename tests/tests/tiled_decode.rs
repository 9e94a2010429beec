//! Images are decoded in bands of latent rows so that a 24-megapixel photo fits in memory:
//! whatever the band, a shipped model gives exactly the pixels of the whole-latent decode.

use burn::tensor::Device;
use walloc_core::container::Limits;
use walloc_core::model_file::Model;

mod common;
use common::{path, photo};

#[test]
fn tiled_decode_equals_whole_decode() {
    let bytes = std::fs::read(path("../assets/models/image-q3.wlm")).unwrap();
    let model = Model::from_bytes(&bytes, &Device::flex()).unwrap();
    let radius = model
        .config
        .decoder_radius()
        .expect("image-q3 decodes in tiles");
    let limits = Limits::default();
    // 256×192 pixels: a 32×24 latent. At 16 bits the decoded samples keep enough of the
    // decoder's floats that a margin one pixel short changes hundreds of them.
    let mut source = photo("photos/astronaut-crop.png");
    source.samples = source
        .samples
        .widened()
        .iter()
        .map(|v| v * 257)
        .collect::<Vec<u16>>()
        .into();
    let wl = model.encode_image(&source, &limits).unwrap();
    let whole = model
        .decode_image_in_tiles(&wl, &limits, usize::MAX)
        .unwrap();
    // Bands smaller than the margin, uneven last bands.
    for tile in [radius - 1, 7, 16, 31] {
        let tiled = model.decode_image_in_tiles(&wl, &limits, tile).unwrap();
        assert_eq!((tiled.width, tiled.height), (whole.width, whole.height));
        let differ = tiled
            .samples
            .widened()
            .iter()
            .zip(&whole.samples.widened())
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(
            differ, 0,
            "tile {tile}: {differ} samples differ from the whole decode"
        );
    }
    // The default (what `walloc decode` uses) is one tile at this size.
    assert_eq!(model.decode_image(&wl, &limits).unwrap(), whole);
}
