//! Full decode with the tiny models: mutated `.wl` files (seeded with real encodings of
//! the committed photos and music) get their model id and CRC fixed up, then go through
//! the container, the entropy decoder, the networks and the inverse transform. The result
//! is a typed error or a signal of exactly the size the header promises.
#![no_main]

use libfuzzer_sys::fuzz_target;
use walloc_core::container::{self, SignalMeta};

fuzz_target!(|data: &[u8]| {
    let limits = walloc_fuzz::limits();
    // As given (checksum and model checks included), then fixed up to go deeper.
    let _ = walloc_fuzz::image_model().decode_image(data, &limits);
    let Ok(header) = container::read_header(data, &limits) else {
        return;
    };
    let mut bytes = data.to_vec();
    match header.signal {
        SignalMeta::Image(m) => {
            let model = walloc_fuzz::image_model();
            if !walloc_fuzz::fix_up(&mut bytes, Some(model)) {
                return;
            }
            if let Ok(img) = model.decode_image(&bytes, &limits) {
                assert_eq!((img.width, img.height), (m.width, m.height));
                assert_eq!(img.bit_depth(), m.bit_depth);
                let ch = if m.channels <= 2 { 1 } else { 3 };
                assert_eq!(img.channels, ch);
                assert_eq!(
                    img.samples.len(),
                    m.width as usize * m.height as usize * ch as usize
                );
                let max = ((1u32 << m.bit_depth) - 1) as u16;
                assert!(img.samples.widened().iter().all(|&v| v <= max));
            }
        }
        SignalMeta::Audio(m) => {
            let model = walloc_fuzz::audio_model();
            if !walloc_fuzz::fix_up(&mut bytes, Some(model)) {
                return;
            }
            if let Ok(pcm) = model.decode_audio(&bytes, &limits) {
                assert_eq!(pcm.sample_rate, m.sample_rate);
                assert_eq!(pcm.planes.len(), usize::from(m.channels));
                for p in &pcm.planes {
                    assert_eq!(p.len() as u64, m.frames);
                    assert!(p.iter().all(|v| (-1.0..=1.0).contains(v)));
                }
            }
        }
    }
});
