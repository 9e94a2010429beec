//! The `.wl` container against hostile bytes: golden layouts, every field's damage, and
//! property tests that random bytes, mutations and truncations never panic.

use proptest::prelude::*;
use walloc_core::container::{
    self, AudioMeta, FormatError, Header, ImageMeta, Limits, SampleFormat, SignalMeta, WlFile,
};

fn image_file() -> WlFile {
    WlFile {
        header: Header {
            version: walloc_core::container::FORMAT_VERSION,
            model_id: *b"0123456789abcdef",
            signal: SignalMeta::Image(ImageMeta {
                width: 451,
                height: 300,
                channels: 3,
                bit_depth: 8,
                pad_left: 2,
                pad_top: 2,
            }),
            latent_shape: [48, 38, 57],
        },
        payload: (0u8..64).collect(),
    }
}

fn audio_file() -> WlFile {
    WlFile {
        header: Header {
            // Version 1: its files are still read, and written back unchanged.
            version: 1,
            model_id: [0xA5; 16],
            signal: SignalMeta::Audio(AudioMeta {
                sample_rate: 44_100,
                frames: 441_000,
                channels: 2,
                format: SampleFormat::Int(16),
                pad_left: 12,
                gain: 1.75,
                means: vec![0.001, -0.002],
            }),
            latent_shape: [32, 1, 1723],
        },
        payload: vec![0xFF; 40],
    }
}

/// The header layouts are pinned byte for byte (WALLOC_BLESS=1 rewrites them after an
/// intended change, which must also bump FORMAT_VERSION and docs/format.md): the image file
/// as version 3, the audio file as version 1, which is still read and written back
/// unchanged.
#[test]
fn golden_files_are_stable() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    for (name, file) in [
        ("golden-image.wl", image_file()),
        ("golden-audio.wl", audio_file()),
    ] {
        let bytes = file.to_bytes().unwrap();
        let path = dir.join(name);
        if std::env::var_os("WALLOC_BLESS").is_some() {
            std::fs::write(&path, &bytes).unwrap();
        }
        let golden = std::fs::read(&path).expect("golden file (WALLOC_BLESS=1 creates it)");
        assert!(golden == bytes, "{name}: the container layout changed");
        assert_eq!(container::read(&golden, &Limits::default()).unwrap(), file);
    }
}

/// The offsets of docs/format.md.
#[test]
fn layout_matches_the_specification() {
    let bytes = image_file().to_bytes().unwrap();
    assert_eq!(&bytes[0..8], b"\x89WLC\r\n\x1a\n");
    assert_eq!(u16::from_le_bytes([bytes[8], bytes[9]]), 3);
    assert_eq!(bytes[10], 0);
    assert_eq!(bytes[11], 0);
    assert_eq!(&bytes[12..28], b"0123456789abcdef");
    assert_eq!(u32::from_le_bytes(bytes[28..32].try_into().unwrap()), 48);
    assert_eq!(u64::from_le_bytes(bytes[40..48].try_into().unwrap()), 64);
    assert_eq!(u32::from_le_bytes(bytes[48..52].try_into().unwrap()), 451);
    assert_eq!(bytes.len(), 48 + 16 + 4 + 64);
    let crc = crc32fast::hash(&[&bytes[..64], &bytes[68..]].concat());
    assert_eq!(u32::from_le_bytes(bytes[64..68].try_into().unwrap()), crc);
    let audio = audio_file().to_bytes().unwrap();
    assert_eq!(audio[10], 1);
    assert_eq!(audio.len(), 48 + 24 + 8 + 4 + 40);
}

#[test]
fn absurd_sizes_fail_before_allocation() {
    // A header claiming 100 000 × 100 000 pixels, with a correct CRC.
    let mut f = image_file();
    if let SignalMeta::Image(m) = &mut f.header.signal {
        m.width = 100_000;
        m.height = 100_000;
    }
    let bytes = f.to_bytes().unwrap();
    let err = container::read(&bytes, &Limits::default()).unwrap_err();
    assert!(
        matches!(
            err,
            FormatError::TooLarge {
                what: "image size (pixels)",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("10000000000"), "{err}");
    // Payload lengths and latent sizes beyond any sane file.
    let mut bytes = image_file().to_bytes().unwrap();
    bytes[40..48].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(
        container::read(&bytes, &Limits::default()),
        Err(FormatError::TooLarge { .. })
    ));
    let mut bytes = image_file().to_bytes().unwrap();
    bytes[28..40].copy_from_slice(&[0xFF; 12]);
    assert!(matches!(
        container::read(&bytes, &Limits::default()),
        Err(FormatError::TooLarge { .. })
    ));
    // Too many audio channels for the configured limit.
    let limits = Limits {
        max_channels: 1,
        ..Limits::default()
    };
    assert!(matches!(
        container::read(&audio_file().to_bytes().unwrap(), &limits),
        Err(FormatError::TooLarge {
            what: "audio channel count",
            ..
        })
    ));
}

#[test]
fn messages_say_what_is_wrong() {
    let l = Limits::default();
    let bytes = image_file().to_bytes().unwrap();
    let msg = |b: &[u8]| container::read(b, &l).unwrap_err().to_string();
    assert!(msg(b"\x89PNG\r\n\x1a\n rest").contains("not a .wl file"));
    assert!(msg(&bytes[..30]).contains("truncated"));
    assert!(msg(&bytes[..bytes.len() - 3]).contains("truncated"));
    let mut v = bytes.clone();
    v[70] ^= 0x10;
    assert!(msg(&v).contains("corrupted"));
    for unknown in [0u8, 4] {
        let mut v = bytes.clone();
        v[8] = unknown;
        assert!(msg(&v).contains(&format!("version {unknown}")));
        assert!(msg(&v).contains("reads versions 1 to 3"));
    }
    assert!(msg(b"").contains("truncated"));
}

fn valid_files() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(image_file().to_bytes().unwrap()),
        Just(audio_file().to_bytes().unwrap())
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = container::read(&bytes, &Limits::default());
        let _ = container::read_header(&bytes, &Limits::default());
    }

    #[test]
    fn random_bytes_after_the_magic_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let mut v = b"\x89WLC\r\n\x1a\n\x01\x00".to_vec();
        v.extend(bytes);
        let _ = container::read(&v, &Limits::default());
    }

    /// Any single changed byte is caught: by a field check or by the CRC.
    #[test]
    fn single_byte_mutations_are_errors(file in valid_files(), pos: prop::sample::Index, xor in 1u8..=255) {
        let mut v = file.clone();
        let i = pos.index(v.len());
        v[i] ^= xor;
        prop_assert!(container::read(&v, &Limits::default()).is_err());
    }

    #[test]
    fn truncations_are_errors(file in valid_files(), len: prop::sample::Index) {
        let n = len.index(file.len());
        prop_assert!(container::read(&file[..n], &Limits::default()).is_err());
    }
}
