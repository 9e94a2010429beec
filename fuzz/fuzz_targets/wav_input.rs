//! The CLI's WAV input path (`walloc encode song.wav`): bytes become planes of equal
//! length in [−1, 1] within the limits, or a message; short clips are then encoded with
//! the tiny audio model and decoded back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use walloc_cli::media;

fuzz_target!(|data: &[u8]| {
    let limits = walloc_fuzz::limits();
    let Ok(pcm) = media::decode_wav(data, &limits) else {
        return;
    };
    let channels = pcm.planes.len();
    assert!(channels >= 1 && channels as u64 <= u64::from(limits.max_channels));
    let frames = pcm.planes[0].len();
    assert!(frames >= 1 && frames as u64 <= limits.max_frames);
    assert!(pcm.planes.iter().all(|p| p.len() == frames));
    if frames * channels > 1 << 16 {
        return;
    }
    let model = walloc_fuzz::audio_model();
    // NaN and infinite float samples are refused by the encoder with a message.
    let wl = match model.encode_audio(&pcm, &limits) {
        Ok(wl) => wl,
        Err(e) => {
            assert!(
                pcm.planes.iter().flatten().any(|v| !v.is_finite()) || pcm.sample_rate == 0,
                "a readable WAV fails to encode: {e}"
            );
            return;
        }
    };
    let back = model.decode_audio(&wl, &limits).expect("and decodes");
    assert_eq!(back.planes.len(), channels);
    assert!(back.planes.iter().all(|p| p.len() == frames));
});
