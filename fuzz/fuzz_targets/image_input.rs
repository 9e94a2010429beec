//! The CLI's image input path (`walloc encode photo.png`): bytes in any of the formats
//! walloc reads (PNG, JPEG, WebP, BMP, TIFF) become a raster within the limits or a
//! message; small rasters are then encoded with the tiny image model and decoded back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use walloc_cli::media;

fuzz_target!(|data: &[u8]| {
    let limits = walloc_fuzz::limits();
    let Ok(img) = media::decode_image(data, &limits) else {
        return;
    };
    let pixels = u64::from(img.width) * u64::from(img.height);
    assert!(pixels <= limits.max_pixels);
    assert_eq!(img.samples.len() as u64, pixels * u64::from(img.channels));
    if pixels > 1 << 14 {
        return; // the networks are slow under instrumentation; size is what matters here
    }
    let model = walloc_fuzz::image_model();
    let wl = model
        .encode_image(&img, &limits)
        .expect("a raster that reads encodes");
    let back = model.decode_image(&wl, &limits).expect("and decodes");
    assert_eq!((back.width, back.height), (img.width, img.height));
});
