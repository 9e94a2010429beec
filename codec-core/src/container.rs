//! The `.wl` container: a small fixed little-endian header, the entropy-coded payload,
//! and a CRC-32 over both. docs/format.md is the specification; this module follows it
//! field by field.
//!
//! Readers check every size against [`Limits`] before they allocate anything, and every
//! malformed input becomes a [`FormatError`], never a panic.

use alloc::string::String;
use alloc::vec::Vec;

/// The first eight bytes of every `.wl` file. Like PNG's signature, the high byte and the
/// CR LF / SUB / LF sequence catch text-mode transfers and truncation to 7 bits.
pub const MAGIC: [u8; 8] = *b"\x89WLC\r\n\x1a\n";
/// The version encoders write. Any change of layout bumps it; readers refuse versions they
/// do not know. Version 2 changed only the payload (docs/format.md): a map of all-zero
/// channels and independent streams. Version 3 changed only how a stream codes a channel:
/// flags of its all-zero blocks first, then the other blocks' symbols.
pub const FORMAT_VERSION: u16 = 3;
/// The oldest version this reader still reads (version 1: one range-coded stream of every
/// channel).
pub const OLDEST_VERSION: u16 = 1;

/// Identifies the model a file was encoded with: the first 16 bytes of the SHA-256 of the
/// model file's content.
pub type ModelId = [u8; 16];

const MODALITY_IMAGE: u8 = 0;
const MODALITY_AUDIO: u8 = 1;
/// magic, version, modality, flags, model id, latent shape, payload length.
const COMMON_LEN: usize = 8 + 2 + 1 + 1 + 16 + 12 + 8;
const IMAGE_LEN: usize = 16;
const AUDIO_FIXED_LEN: usize = 24;
const CRC_LEN: usize = 4;

/// What kind of signal a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modality {
    Image,
    Audio,
}

/// How an image was stored before encoding; decoding gives it back in this shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageMeta {
    pub width: u32,
    pub height: u32,
    /// 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA (alpha is not coded; see docs/format.md).
    pub channels: u8,
    /// 8 or 16.
    pub bit_depth: u8,
    /// Columns of padding before the image in the coded signal.
    pub pad_left: u16,
    /// Rows of padding above the image in the coded signal.
    pub pad_top: u16,
}

/// The sample format of the source audio, restored on decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleFormat {
    /// Signed integer PCM with this many bits (8, 16, 24 or 32).
    Int(u8),
    Float32,
}

/// How audio was stored before encoding, and the normalisation that was applied.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioMeta {
    pub sample_rate: u32,
    pub frames: u64,
    pub channels: u16,
    pub format: SampleFormat,
    /// Frames of padding before the signal in the coded latent.
    pub pad_left: u32,
    /// The coded signal is `(x − mean) · gain`.
    pub gain: f32,
    /// One mean per channel.
    pub means: Vec<f32>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SignalMeta {
    Image(ImageMeta),
    Audio(AudioMeta),
}

impl SignalMeta {
    pub fn modality(&self) -> Modality {
        match self {
            SignalMeta::Image(_) => Modality::Image,
            SignalMeta::Audio(_) => Modality::Audio,
        }
    }
}

/// Everything before the payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// The format version: [`FORMAT_VERSION`] for what encoders write, down to
    /// [`OLDEST_VERSION`] for what was read. It decides how the payload is laid out.
    pub version: u16,
    pub model_id: ModelId,
    pub signal: SignalMeta,
    /// `[channels, height, width]` of the integer latent (audio: height 1).
    pub latent_shape: [u32; 3],
}

impl Header {
    /// Channels × height × width of the latent (saturating: three u32 can exceed u64).
    pub fn latent_values(&self) -> u64 {
        latent_values(&self.latent_shape)
    }
}

/// The product of a latent shape, saturating at `u64::MAX` (three u32 values can
/// overflow a u64, and a wrapped product could slip under a limit).
fn latent_values(shape: &[u32; 3]) -> u64 {
    shape
        .iter()
        .try_fold(1u64, |acc, &v| acc.checked_mul(u64::from(v)))
        .unwrap_or(u64::MAX)
}

/// A whole `.wl` file.
#[derive(Debug, Clone, PartialEq)]
pub struct WlFile {
    pub header: Header,
    /// The range-coded latent symbols (a whole number of little-endian 32-bit words).
    pub payload: Vec<u8>,
}

/// Ceilings a reader enforces before allocating: `.wl` headers here, images, WAV files
/// and model files in the front ends ([`Model::from_bytes_limited`](crate::model_file::Model::from_bytes_limited)).
/// The defaults suit a desktop (a decode may need a few times `max_pixels` × 12 bytes,
/// or `max_frames` × channels × 4 bytes); a server reading untrusted files may lower them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Image width × height.
    pub max_pixels: u64,
    /// Audio frames (samples per channel).
    pub max_frames: u64,
    /// Audio channels.
    pub max_channels: u32,
    /// Latent channels × height × width.
    pub max_latent_values: u64,
    /// Payload bytes.
    pub max_payload_bytes: u64,
    /// Model file bytes.
    pub max_model_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_pixels: 1 << 28,
            // 93 minutes of 48 kHz audio; 1 GiB of f32 samples per channel.
            max_frames: 1 << 28,
            max_channels: 16,
            max_latent_values: 1 << 30,
            max_payload_bytes: 1 << 32,
            max_model_bytes: 256 << 20,
        }
    }
}

impl Limits {
    /// No ceilings at all: for writers, and for readers of trusted bytes.
    pub fn unlimited() -> Self {
        Self {
            max_pixels: u64::MAX,
            max_frames: u64::MAX,
            max_channels: u32::MAX,
            max_latent_values: u64::MAX,
            max_payload_bytes: u64::MAX,
            max_model_bytes: u64::MAX,
        }
    }
}

/// Why bytes are not a readable `.wl` file. Messages say what is wrong in words a user can
/// act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("truncated file: {what} needs {needed} bytes, only {available} are left")]
    Truncated {
        what: &'static str,
        needed: u64,
        available: u64,
    },
    #[error("not a .wl file (bad magic bytes)")]
    BadMagic,
    #[error(
        "unsupported .wl format version {found} (this walloc reads versions 1 to {supported}); a newer walloc may read it"
    )]
    UnsupportedVersion { found: u16, supported: u16 },
    #[error("unknown modality {0} in the header (0 = image, 1 = audio)")]
    UnknownModality(u8),
    #[error(
        "checksum mismatch: the file is corrupted (stored CRC-32 {stored:08x}, computed {computed:08x})"
    )]
    Crc { stored: u32, computed: u32 },
    #[error("{what} {value} exceeds the limit of {limit}")]
    TooLarge {
        what: &'static str,
        value: u64,
        limit: u64,
    },
    #[error("invalid header: {0}")]
    Invalid(String),
    #[error("{0} unexpected bytes after the payload")]
    TrailingBytes(u64),
}

fn invalid(msg: impl Into<String>) -> FormatError {
    FormatError::Invalid(msg.into())
}

fn check_limit(what: &'static str, value: u64, limit: u64) -> Result<(), FormatError> {
    if value > limit {
        return Err(FormatError::TooLarge { what, value, limit });
    }
    Ok(())
}

/// A bounds-checked little-endian reader.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], FormatError> {
        let available = self.bytes.len() - self.pos;
        if n > available {
            return Err(FormatError::Truncated {
                what,
                needed: n as u64,
                available: available as u64,
            });
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], FormatError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, FormatError> {
        Ok(self.array::<1>(what)?[0])
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, FormatError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, FormatError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    fn u64(&mut self, what: &'static str) -> Result<u64, FormatError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }
    fn f32(&mut self, what: &'static str) -> Result<f32, FormatError> {
        Ok(f32::from_le_bytes(self.array(what)?))
    }
}

/// The parsed header, where it ends, and how long the payload claims to be.
struct Parsed {
    header: Header,
    header_len: usize,
    payload_len: u64,
}

fn parse_header(bytes: &[u8], limits: &Limits) -> Result<Parsed, FormatError> {
    let mut r = Reader { bytes, pos: 0 };
    // The magic is checked on whatever is there, so a short non-.wl file says "not a .wl
    // file" rather than "truncated".
    let n = bytes.len().min(MAGIC.len());
    if bytes[..n] != MAGIC[..n] {
        return Err(FormatError::BadMagic);
    }
    r.take(MAGIC.len(), "the magic bytes")?;
    let version = r.u16("the format version")?;
    if !(OLDEST_VERSION..=FORMAT_VERSION).contains(&version) {
        return Err(FormatError::UnsupportedVersion {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    let modality = r.u8("the modality")?;
    if modality != MODALITY_IMAGE && modality != MODALITY_AUDIO {
        return Err(FormatError::UnknownModality(modality));
    }
    let flags = r.u8("the flags")?;
    if flags != 0 {
        return Err(invalid(alloc::format!(
            "reserved flags {flags:#04x} are set"
        )));
    }
    let model_id: ModelId = r.array("the model id")?;
    let latent_shape = [
        r.u32("the latent shape")?,
        r.u32("the latent shape")?,
        r.u32("the latent shape")?,
    ];
    if latent_shape.contains(&0) {
        return Err(invalid("the latent shape has a zero dimension"));
    }
    let latent_values = latent_values(&latent_shape);
    check_limit(
        "latent size (values)",
        latent_values,
        limits.max_latent_values,
    )?;
    let payload_len = r.u64("the payload length")?;
    check_limit(
        "payload size (bytes)",
        payload_len,
        limits.max_payload_bytes,
    )?;
    if payload_len % 4 != 0 {
        return Err(invalid("the payload length is not a multiple of 4"));
    }
    let signal = if modality == MODALITY_IMAGE {
        let width = r.u32("the image size")?;
        let height = r.u32("the image size")?;
        let channels = r.u8("the image channel count")?;
        let bit_depth = r.u8("the image bit depth")?;
        let pad_left = r.u16("the image padding")?;
        let pad_top = r.u16("the image padding")?;
        let reserved = r.u16("a reserved field")?;
        if width == 0 || height == 0 {
            return Err(invalid(alloc::format!(
                "image size {width}×{height} is empty"
            )));
        }
        check_limit(
            "image size (pixels)",
            u64::from(width) * u64::from(height),
            limits.max_pixels,
        )?;
        if !(1..=4).contains(&channels) {
            return Err(invalid(alloc::format!(
                "image channel count {channels} (must be 1 to 4)"
            )));
        }
        if bit_depth != 8 && bit_depth != 16 {
            return Err(invalid(alloc::format!(
                "image bit depth {bit_depth} (must be 8 or 16)"
            )));
        }
        if reserved != 0 {
            return Err(invalid("a reserved image field is not zero"));
        }
        SignalMeta::Image(ImageMeta {
            width,
            height,
            channels,
            bit_depth,
            pad_left,
            pad_top,
        })
    } else {
        let sample_rate = r.u32("the sample rate")?;
        let frames = r.u64("the frame count")?;
        let channels = r.u16("the audio channel count")?;
        let kind = r.u8("the sample format")?;
        let bits = r.u8("the sample format")?;
        let pad_left = r.u32("the audio padding")?;
        let gain = r.f32("the audio gain")?;
        if sample_rate == 0 {
            return Err(invalid("the sample rate is zero"));
        }
        if frames == 0 {
            return Err(invalid("the audio has no frames"));
        }
        check_limit("audio length (frames)", frames, limits.max_frames)?;
        if channels == 0 {
            return Err(invalid("the audio has no channels"));
        }
        check_limit(
            "audio channel count",
            u64::from(channels),
            u64::from(limits.max_channels),
        )?;
        let format = match (kind, bits) {
            (0, 8 | 16 | 24 | 32) => SampleFormat::Int(bits),
            (1, 32) => SampleFormat::Float32,
            _ => return Err(invalid(alloc::format!("sample format {kind}/{bits} bits"))),
        };
        if !gain.is_finite() || gain <= 0.0 {
            return Err(invalid("the audio gain is not a positive number"));
        }
        // Bounded by max_channels above, so this allocation is small.
        let mut means = Vec::with_capacity(usize::from(channels));
        for _ in 0..channels {
            let m = r.f32("the channel means")?;
            if !m.is_finite() {
                return Err(invalid("a channel mean is not a finite number"));
            }
            means.push(m);
        }
        SignalMeta::Audio(AudioMeta {
            sample_rate,
            frames,
            channels,
            format,
            pad_left,
            gain,
            means,
        })
    };
    Ok(Parsed {
        header: Header {
            version,
            model_id,
            signal,
            latent_shape,
        },
        header_len: r.pos,
        payload_len,
    })
}

/// Reads only the header, without checking the payload or CRC: what `walloc info` shows
/// even for a damaged file. Use [`read`] to decode.
pub fn read_header(bytes: &[u8], limits: &Limits) -> Result<Header, FormatError> {
    parse_header(bytes, limits).map(|p| p.header)
}

/// Parses and verifies a whole `.wl` file: header fields, limits, payload length, CRC.
pub fn read(bytes: &[u8], limits: &Limits) -> Result<WlFile, FormatError> {
    let Parsed {
        header,
        header_len,
        payload_len,
    } = parse_header(bytes, limits)?;
    let mut r = Reader {
        bytes,
        pos: header_len,
    };
    let stored = r.u32("the checksum")?;
    let available = (bytes.len() - r.pos) as u64;
    if payload_len > available {
        return Err(FormatError::Truncated {
            what: "the payload",
            needed: payload_len,
            available,
        });
    }
    if payload_len < available {
        return Err(FormatError::TrailingBytes(available - payload_len));
    }
    let payload = &bytes[r.pos..];
    let computed = crc(&bytes[..header_len], payload);
    if stored != computed {
        return Err(FormatError::Crc { stored, computed });
    }
    Ok(WlFile {
        header,
        payload: payload.to_vec(),
    })
}

fn crc(header: &[u8], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(header);
    h.update(payload);
    h.finalize()
}

impl WlFile {
    /// Serialises the file. Fails only on values the format cannot hold (which
    /// [`read`] would reject), so whatever is written can be read back.
    pub fn to_bytes(&self) -> Result<Vec<u8>, FormatError> {
        let h = &self.header;
        let mut out =
            Vec::with_capacity(COMMON_LEN + AUDIO_FIXED_LEN + CRC_LEN + self.payload.len());
        out.extend_from_slice(&MAGIC);
        if !(OLDEST_VERSION..=FORMAT_VERSION).contains(&h.version) {
            return Err(FormatError::UnsupportedVersion {
                found: h.version,
                supported: FORMAT_VERSION,
            });
        }
        out.extend_from_slice(&h.version.to_le_bytes());
        out.push(match h.signal {
            SignalMeta::Image(_) => MODALITY_IMAGE,
            SignalMeta::Audio(_) => MODALITY_AUDIO,
        });
        out.push(0); // flags
        out.extend_from_slice(&h.model_id);
        for v in h.latent_shape {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&(self.payload.len() as u64).to_le_bytes());
        match &h.signal {
            SignalMeta::Image(m) => {
                out.extend_from_slice(&m.width.to_le_bytes());
                out.extend_from_slice(&m.height.to_le_bytes());
                out.push(m.channels);
                out.push(m.bit_depth);
                out.extend_from_slice(&m.pad_left.to_le_bytes());
                out.extend_from_slice(&m.pad_top.to_le_bytes());
                out.extend_from_slice(&0u16.to_le_bytes());
                debug_assert_eq!(out.len(), COMMON_LEN + IMAGE_LEN);
            }
            SignalMeta::Audio(m) => {
                if m.means.len() != usize::from(m.channels) {
                    return Err(invalid("one mean per audio channel is required"));
                }
                out.extend_from_slice(&m.sample_rate.to_le_bytes());
                out.extend_from_slice(&m.frames.to_le_bytes());
                out.extend_from_slice(&m.channels.to_le_bytes());
                let (kind, bits) = match m.format {
                    SampleFormat::Int(b) => (0u8, b),
                    SampleFormat::Float32 => (1u8, 32u8),
                };
                out.push(kind);
                out.push(bits);
                out.extend_from_slice(&m.pad_left.to_le_bytes());
                out.extend_from_slice(&m.gain.to_le_bytes());
                debug_assert_eq!(out.len(), COMMON_LEN + AUDIO_FIXED_LEN);
                for mean in &m.means {
                    out.extend_from_slice(&mean.to_le_bytes());
                }
            }
        }
        let header_len = out.len();
        let crc = crc(&out[..header_len], &self.payload);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&self.payload);
        // Refuse to write what no reader accepts (limits aside: a writer is not bound by a
        // reader's configuration, only by the format).
        read(&out, &Limits::unlimited())?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn image_file() -> WlFile {
        WlFile {
            header: Header {
                version: FORMAT_VERSION,
                model_id: [7; 16],
                signal: SignalMeta::Image(ImageMeta {
                    width: 120,
                    height: 90,
                    channels: 3,
                    bit_depth: 8,
                    pad_left: 0,
                    pad_top: 3,
                }),
                latent_shape: [48, 12, 15],
            },
            payload: vec![1, 2, 3, 4, 5, 6, 7, 8],
        }
    }

    #[test]
    fn image_round_trip_and_layout() {
        let f = image_file();
        let bytes = f.to_bytes().unwrap();
        assert_eq!(bytes.len(), COMMON_LEN + IMAGE_LEN + CRC_LEN + 8);
        assert_eq!(&bytes[..8], &MAGIC);
        assert_eq!(read(&bytes, &Limits::default()).unwrap(), f);
        assert_eq!(read_header(&bytes, &Limits::default()).unwrap(), f.header);
    }

    #[test]
    fn limits_apply_before_the_payload_is_read() {
        let bytes = image_file().to_bytes().unwrap();
        let tight = Limits {
            max_pixels: 100,
            ..Limits::default()
        };
        assert!(matches!(
            read_header(&bytes[..COMMON_LEN + IMAGE_LEN], &tight),
            Err(FormatError::TooLarge {
                what: "image size (pixels)",
                ..
            })
        ));
    }

    #[test]
    fn damage_is_reported_by_kind() {
        let bytes = image_file().to_bytes().unwrap();
        let l = Limits::default();
        assert_eq!(read(b"GIF89a", &l), Err(FormatError::BadMagic));
        assert!(matches!(
            read(&bytes[..5], &l),
            Err(FormatError::Truncated { .. })
        ));
        assert!(matches!(
            read(&bytes[..bytes.len() - 1], &l),
            Err(FormatError::Truncated { .. })
        ));
        let mut v = bytes.clone();
        v[8] = 9;
        assert!(matches!(
            read(&v, &l),
            Err(FormatError::UnsupportedVersion { found: 9, .. })
        ));
        let mut v = bytes.clone();
        v[10] = 7;
        assert_eq!(read(&v, &l), Err(FormatError::UnknownModality(7)));
        let mut v = bytes.clone();
        *v.last_mut().unwrap() ^= 1;
        assert!(matches!(read(&v, &l), Err(FormatError::Crc { .. })));
        let mut v = bytes.clone();
        v.push(0);
        assert_eq!(read(&v, &l), Err(FormatError::TrailingBytes(1)));
    }
}
