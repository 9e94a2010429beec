//! Whole-signal codecs: image or audio samples → `.wl` bytes → samples.
//!
//! Images: any size from 1×1, gray, gray+alpha, RGB or RGBA, 8 or 16 bits. Gray is coded
//! as RGB with equal planes and comes back gray; alpha is not coded (decoded images are
//! opaque, the header remembers that the input had alpha so a front end can say so).
//! Audio: any channel count and sample rate; channels are coded in groups of the model's
//! channel count (pairs for stereo models; a lone last channel is duplicated into a pair
//! and averaged back).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use burn::tensor::{Device, Tensor, TensorData};

use crate::bottleneck::{Companding, SymbolSearch};
use crate::codec::quantize_deadzone;
use crate::config::ModalityKind;
use crate::container::{
    AudioMeta, FORMAT_VERSION, FormatError, Header, ImageMeta, Limits, SampleFormat, SignalMeta,
    WlFile,
};
use crate::entropy::{self, EntropyError, Symbols};
use crate::latent_payload;
use crate::model_file::{Model, id_hex};
use crate::signal;
use crate::wpt_planes::{self, Split};

/// Latent rows of the bands images are decoded in (1024 image rows at J = 3; the whole
/// width each), or the side of the square tiles of decoders that go through Burn: large
/// enough that a typical photo is one band (a band's margin is extra work, about 40% at
/// this size for image-q3), small enough that a 24-megapixel photo decodes in about a
/// gigabyte.
pub const DECODE_TILE: usize = 128;

/// An image as interleaved samples (row-major, `channels` per pixel).
#[derive(Clone, Debug, PartialEq)]
pub struct RasterImage {
    pub width: u32,
    pub height: u32,
    /// 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA.
    pub channels: u8,
    pub samples: Samples,
}

impl RasterImage {
    /// 8 or 16, as the samples are stored.
    pub fn bit_depth(&self) -> u8 {
        self.samples.bit_depth()
    }
}

/// An image's samples at their bit depth. An 8-bit image keeps its bytes: widened to
/// 16 bits as it was read, a 768×512 photo cost 2.3 MB and about a millisecond more of a
/// 15 ms `walloc encode`.
#[derive(Clone, Debug, PartialEq)]
pub enum Samples {
    /// Each in 0 ..= 255.
    Eight(Vec<u8>),
    /// Each in 0 ..= 65535.
    Sixteen(Vec<u16>),
}

impl Samples {
    pub fn bit_depth(&self) -> u8 {
        match self {
            Self::Eight(_) => 8,
            Self::Sixteen(_) => 16,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Self::Eight(s) => s.len(),
            Self::Sixteen(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every sample as a 16-bit value (8-bit ones keep their value: 255 stays 255).
    pub fn widened(&self) -> Vec<u16> {
        match self {
            Self::Eight(s) => s.iter().map(|&v| u16::from(v)).collect(),
            Self::Sixteen(s) => s.clone(),
        }
    }
}

impl From<Vec<u8>> for Samples {
    fn from(samples: Vec<u8>) -> Self {
        Self::Eight(samples)
    }
}

impl From<Vec<u16>> for Samples {
    fn from(samples: Vec<u16>) -> Self {
        Self::Sixteen(samples)
    }
}

/// Audio as one plane of samples in [−1, 1] per channel.
#[derive(Clone, Debug, PartialEq)]
pub struct PcmAudio {
    pub sample_rate: u32,
    /// The source's sample format, remembered for decoding.
    pub format: SampleFormat,
    pub planes: Vec<Vec<f32>>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CodecError {
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error(transparent)]
    Entropy(#[from] EntropyError),
    #[error("this file needs model {needed}, but the model given is {given}")]
    WrongModel { needed: String, given: String },
    #[error("the model codes {model:?} signals, not {signal:?}")]
    WrongModality {
        model: ModalityKind,
        signal: ModalityKind,
    },
    #[error("invalid input: {0}")]
    Input(String),
}

impl Model {
    /// Encodes an image into `.wl` bytes.
    pub fn encode_image(
        &self,
        image: &RasterImage,
        limits: &Limits,
    ) -> Result<Vec<u8>, CodecError> {
        let (header, padded, split) = self.image_input(image, limits)?;
        if let Some(encoder) = self.cpu_encoder().filter(|e| e.fits_bytes())
            && fixed_point(split)
        {
            // A quarter of the memory of 32-bit symbols, the same payload.
            let fill_row = |c, r, out: &mut [i16]| padded.fill_row(c, r, out);
            let symbols = encoder.symbol_bytes_of_rows(split, &fill_row);
            let shape = header.latent_shape.map(|v| v as usize);
            return self.finish_symbols(header, Symbols::Bytes(&symbols), shape);
        }
        let symbols = self.image_symbols_of(&header, split, &padded)?;
        self.finish(header, symbols)
    }

    /// The symbols `encode_image` would code, `[channels, height, width]` flattened, with
    /// that shape: what export counts to fit the context tables.
    pub fn image_symbols(
        &self,
        image: &RasterImage,
        limits: &Limits,
    ) -> Result<(Vec<i32>, [usize; 3]), CodecError> {
        let (header, padded, split) = self.image_input(image, limits)?;
        self.image_symbols_of(&header, split, &padded)
    }

    /// The encoder on an image's rows: [`CpuEncoder`](crate::cpu_encoder::CpuEncoder)
    /// where it applies (on fixed-point samples where they hold the transform,
    /// [`fixed_point`]), Burn otherwise.
    fn image_symbols_of(
        &self,
        header: &Header,
        split: Split,
        padded: &PaddedRgb,
    ) -> Result<(Vec<i32>, [usize; 3]), CodecError> {
        let [c, h, w] = header.latent_shape.map(|v| v as usize);
        let floats = |c, r, out: &mut [f32]| padded.fill_row(c, r, out);
        match self.cpu_encoder() {
            Some(encoder) if fixed_point(split) => {
                let fixed = |c, r, out: &mut [i16]| padded.fill_row(c, r, out);
                Ok((encoder.symbols_of_rows(split, &fixed), [c, h, w]))
            }
            Some(encoder) => Ok((encoder.symbols_of_rows(split, &floats), [c, h, w])),
            None => {
                let packets = wpt_planes::forward_2d_planes(split, floats);
                self.symbols(self.image_latent(header, packets))
            }
        }
    }

    /// Header of an image's file, the image padded for the transform (its rows as the
    /// transform reads them), and the transform's shape.
    fn image_input<'i>(
        &self,
        image: &'i RasterImage,
        limits: &Limits,
    ) -> Result<(Header, PaddedRgb<'i>, Split), CodecError> {
        self.expect(ModalityKind::Image)?;
        check_image(image, limits)?;
        let stride = self.config.stride();
        let padded = PaddedRgb::new(image, stride);
        let (ph, pw, left, top) = (padded.height, padded.width, padded.left, padded.top);
        let split = Split {
            channels: 3,
            height: ph,
            width: pw,
            levels: self.config.levels,
        };
        let header = Header {
            version: FORMAT_VERSION,
            model_id: self.id,
            signal: SignalMeta::Image(ImageMeta {
                width: image.width,
                height: image.height,
                channels: image.channels,
                bit_depth: image.bit_depth(),
                pad_left: left as u16,
                pad_top: top as u16,
            }),
            latent_shape: [
                self.config.latent_dim as u32,
                (ph / stride) as u32,
                (pw / stride) as u32,
            ],
        };
        Ok((header, padded, split))
    }

    /// The encoder's output (before companding) through Burn, `[1, L, h, w]`.
    fn image_latent(&self, header: &Header, packets: Vec<f32>) -> Tensor<4> {
        let [_, h, w] = header.latent_shape.map(|v| v as usize);
        let shape = [1, self.config.packet_channels(), h, w];
        let x = Tensor::<4>::from_data(TensorData::new(packets, shape), &self.device());
        self.codec().encoder.forward(x)
    }

    /// Decodes `.wl` bytes made by this model into an image (gray or RGB, at the source's
    /// bit depth; alpha is not coded).
    pub fn decode_image(&self, bytes: &[u8], limits: &Limits) -> Result<RasterImage, CodecError> {
        self.decode_image_in_tiles(bytes, limits, DECODE_TILE)
    }

    /// [`decode_image`](Self::decode_image) with the decoder run on bands of at most
    /// `tile` latent rows ([`CpuDecoder::decode`](crate::cpu_decoder::CpuDecoder::decode)),
    /// or, for decoders that go through Burn, tiles of at most `tile`×`tile` latent pixels
    /// ([`Codec::decode_latent_tiled`](crate::codec::Codec::decode_latent_tiled)): the same
    /// pixels whatever the size, less memory for smaller ones.
    pub fn decode_image_in_tiles(
        &self,
        bytes: &[u8],
        limits: &Limits,
        tile: usize,
    ) -> Result<RasterImage, CodecError> {
        let (header, y) = self.start(bytes, limits, ModalityKind::Image)?;
        let SignalMeta::Image(meta) = &header.signal else {
            unreachable!("start checked the modality")
        };
        let [_, lh, lw] = header.latent_shape.map(|v| v as usize);
        let stride = self.config.stride();
        let (ph, pw) = (lh * stride, lw * stride);
        let packets = match self.cpu_decoder() {
            Some(decoder) => decoder.decode_owned(y, lh, lw, tile),
            None => {
                let y = self.latent_tensor(y, header.latent_shape);
                to_vec(self.codec().decode_latent_tiled(y, &self.config, tile))?
            }
        };
        let out = wpt_planes::inverse_2d(packets, 3, lh, lw, self.config.levels);
        // The image's window of the padded planes is read where it lies: a cropped copy
        // was one more image-sized buffer of floats (288 MB at 24 megapixels).
        let corner = (meta.pad_left as usize, meta.pad_top as usize);
        Ok(from_rgb_planes(&out, (ph, pw), corner, meta))
    }

    /// Encodes audio into `.wl` bytes: per-channel mean removed, one gain for all channels
    /// (peak to ½), both stored in the header.
    pub fn encode_audio(&self, audio: &PcmAudio, limits: &Limits) -> Result<Vec<u8>, CodecError> {
        let (header, z) = self.analyse_audio_input(audio, limits)?;
        let symbols = self.symbols(z)?;
        self.finish(header, symbols)
    }

    /// The symbols `encode_audio` would code, as [`image_symbols`](Self::image_symbols).
    pub fn audio_symbols(
        &self,
        audio: &PcmAudio,
        limits: &Limits,
    ) -> Result<(Vec<i32>, [usize; 3]), CodecError> {
        let (_, z) = self.analyse_audio_input(audio, limits)?;
        self.symbols(z)
    }

    /// Header and pre-companding latent of audio: per-channel mean removed, one gain for
    /// all channels (peak to ½), both stored in the header.
    fn analyse_audio_input(
        &self,
        audio: &PcmAudio,
        limits: &Limits,
    ) -> Result<(Header, Tensor<4>), CodecError> {
        self.expect(ModalityKind::Audio)?;
        let channels = audio.planes.len();
        let frames = audio.planes.first().map_or(0, Vec::len);
        check_audio(audio, channels, frames, limits)?;
        // Decoding clamps to [−1, 1], so louder float samples are clamped here too: that
        // changes nothing a decoder could give back, and keeps values near f32::MAX from
        // overflowing the normalisation below (a fuzz finding: docs/robustness.md).
        let clamped: Vec<Vec<f32>>;
        let planes = if audio.planes.iter().flatten().any(|v| v.abs() > 1.0) {
            clamped = audio
                .planes
                .iter()
                .map(|p| p.iter().map(|v| v.clamp(-1.0, 1.0)).collect())
                .collect();
            &clamped
        } else {
            &audio.planes
        };
        let means: Vec<f32> = planes
            .iter()
            .map(|p| (p.iter().map(|&v| v as f64).sum::<f64>() / frames as f64) as f32)
            .collect();
        let peak = planes
            .iter()
            .zip(&means)
            .flat_map(|(p, m)| p.iter().map(move |v| (v - m).abs()))
            .fold(0.0f32, f32::max);
        // A peak so small that its gain overflows is silence for every purpose.
        let gain = if peak > 0.0 && (0.5 / peak).is_finite() {
            0.5 / peak
        } else {
            1.0
        };
        let group = self.config.channels;
        let groups = channels.div_ceil(group);
        let stride = self.config.stride();
        let (left, right) = signal::padding(frames, stride);
        let padded_len = frames + left + right;
        let mut data = Vec::with_capacity(groups * group * padded_len);
        for g in 0..groups {
            for k in 0..group {
                let c = (g * group + k).min(channels - 1);
                let plane: Vec<f32> = planes[c].iter().map(|v| (v - means[c]) * gain).collect();
                let (p, _, _) = signal::pad_signals(&plane, 1, frames, stride);
                data.extend_from_slice(&p);
            }
        }
        let device = self.device();
        let x = Tensor::<3>::from_data(TensorData::new(data, [groups, group, padded_len]), &device);
        let z = self.codec().analyse_audio(x, self.config.levels); // [groups, L, 1, n]
        let [_, l, _, n] = z.dims();
        // Groups become latent channels of one `[1, groups·L, 1, n]` latent.
        let z = z.reshape([1, groups * l, 1, n]);
        let header = Header {
            version: FORMAT_VERSION,
            model_id: self.id,
            signal: SignalMeta::Audio(AudioMeta {
                sample_rate: audio.sample_rate,
                frames: frames as u64,
                channels: channels as u16,
                format: audio.format,
                pad_left: left as u32,
                gain,
                means,
            }),
            latent_shape: [(groups * l) as u32, 1, n as u32],
        };
        Ok((header, z))
    }

    /// Decodes `.wl` bytes made by this model into audio at the stored rate, channel
    /// count and length.
    pub fn decode_audio(&self, bytes: &[u8], limits: &Limits) -> Result<PcmAudio, CodecError> {
        let (header, y) = self.start(bytes, limits, ModalityKind::Audio)?;
        let SignalMeta::Audio(meta) = &header.signal else {
            unreachable!("start checked the modality")
        };
        let [lc, _, n] = header.latent_shape.map(|v| v as usize);
        let l = self.config.latent_dim;
        let groups = lc / l;
        let group = self.config.channels;
        let y = self
            .latent_tensor(y, header.latent_shape)
            .reshape([groups, l, 1, n]);
        let out = to_vec(self.codec().synthesise_audio_latent(y, &self.config))?; // [groups, group, N]
        let padded_len = n * self.config.stride();
        let channels = meta.channels as usize;
        let frames = meta.frames as usize;
        let left = meta.pad_left as usize;
        let mut planes = alloc::vec![alloc::vec![0.0f32; frames]; channels];
        let mut counts = alloc::vec![0u32; channels];
        for g in 0..groups {
            for k in 0..group {
                let c = (g * group + k).min(channels - 1);
                let src = &out[(g * group + k) * padded_len + left..][..frames];
                planes[c].iter_mut().zip(src).for_each(|(d, s)| *d += s);
                counts[c] += 1;
            }
        }
        let gain = meta.gain;
        for ((plane, &count), mean) in planes.iter_mut().zip(&counts).zip(&meta.means) {
            let scale = 1.0 / (count.max(1) as f32 * gain);
            plane
                .iter_mut()
                .for_each(|v| *v = (*v * scale + mean).clamp(-1.0, 1.0));
        }
        Ok(PcmAudio {
            sample_rate: meta.sample_rate,
            format: meta.format,
            planes,
        })
    }

    /// The integer symbols a `.wl` file holds, `[channels, height, width]` flattened
    /// (what `walloc latents` exports).
    pub fn latent_symbols(
        &self,
        bytes: &[u8],
        limits: &Limits,
    ) -> Result<(Header, Vec<i32>), CodecError> {
        let file = crate::container::read(bytes, limits)?;
        self.check_id(&file.header)?;
        let symbols = self.decode_symbols(&file)?;
        Ok((file.header, symbols))
    }

    /// Information content in bits of an image's coded symbols under the float density
    /// (what training minimises): the coded payload should be within a few percent of it.
    pub fn estimated_bits_image(&self, image: &RasterImage) -> Result<f64, CodecError> {
        let (header, padded, split) = self.image_input(image, &Limits::default())?;
        let packets = wpt_planes::forward_2d_planes(split, |c, r, out| padded.fill_row(c, r, out));
        let z = self.image_latent(&header, packets);
        let y = self.quantized(z);
        Ok(self.codec().density.bits(y).into_scalar::<f32>() as f64)
    }

    fn device(&self) -> Device {
        use burn::module::Module;
        self.codec()
            .devices()
            .into_iter()
            .next()
            .unwrap_or_else(Device::flex)
    }

    fn expect(&self, signal: ModalityKind) -> Result<(), CodecError> {
        if self.config.modality != signal {
            return Err(CodecError::WrongModality {
                model: self.config.modality,
                signal,
            });
        }
        Ok(())
    }

    fn check_id(&self, header: &Header) -> Result<(), CodecError> {
        if header.model_id != self.id {
            return Err(CodecError::WrongModel {
                needed: id_hex(&header.model_id),
                given: self.id_hex(),
            });
        }
        Ok(())
    }

    /// Companding and rounding (with the encoder's dead zone): the integer symbols and
    /// their `[channels, height, width]`.
    fn symbols(&self, z: Tensor<4>) -> Result<(Vec<i32>, [usize; 3]), CodecError> {
        let [_, c, h, w] = z.dims();
        let search = SymbolSearch::new(
            Companding::new(self.config.latent_bits),
            self.config.deadzone(),
        );
        let symbols = to_vec(z)?.into_iter().map(|v| search.symbol(v)).collect();
        Ok((symbols, [c, h, w]))
    }

    /// The companded latent rounded as the encoder rounds it (dead zone included).
    fn quantized(&self, z: Tensor<4>) -> Tensor<4> {
        quantize_deadzone(
            Companding::new(self.config.latent_bits).forward(z),
            self.config.deadzone(),
        )
    }

    /// Entropy coding and the container.
    fn finish(
        &self,
        header: Header,
        (symbols, shape): (Vec<i32>, [usize; 3]),
    ) -> Result<Vec<u8>, CodecError> {
        self.finish_symbols(header, Symbols::Wide(&symbols), shape)
    }

    fn finish_symbols(
        &self,
        header: Header,
        symbols: Symbols,
        [c, h, w]: [usize; 3],
    ) -> Result<Vec<u8>, CodecError> {
        let (tables, shape) = self.tables_for(c, h, w);
        let payload = latent_payload::encode_symbols(symbols, &tables, &shape)?;
        Ok(WlFile { header, payload }.to_bytes()?)
    }

    fn decode_symbols(&self, file: &WlFile) -> Result<Vec<i32>, CodecError> {
        let [c, h, w] = file.header.latent_shape.map(|v| v as usize);
        if c % self.config.latent_dim != 0 {
            return Err(CodecError::Input(format!(
                "the file's latent has {c} channels, the model codes {} per group",
                self.config.latent_dim
            )));
        }
        let (tables, shape) = self.tables_for(c, h, w);
        Ok(match file.header.version {
            1 => entropy::decode_planes(&file.payload, &tables, &shape)?,
            v => latent_payload::decode_version(&file.payload, &tables, &shape, v)?,
        })
    }

    /// Tables for a latent of `channels × height × width`: groups of the model's
    /// `latent_dim` channels repeat its tables.
    fn tables_for(
        &self,
        channels: usize,
        height: usize,
        width: usize,
    ) -> (
        alloc::borrow::Cow<'_, [crate::entropy::SymbolTable]>,
        entropy::PlaneShape,
    ) {
        let k = self.contexts;
        let own = self.tables.len() / k;
        // One group (every image, and audio with as many channels as the model) reads the
        // model's tables as they are: copying 2304 tables cost milliseconds per file.
        let tables = if channels == own {
            alloc::borrow::Cow::Borrowed(&self.tables[..])
        } else {
            (0..channels)
                .flat_map(|c| {
                    self.tables[(c % own) * k..(c % own + 1) * k]
                        .iter()
                        .cloned()
                })
                .collect()
        };
        let shape = entropy::PlaneShape {
            channels,
            height,
            width,
            contexts: k,
        };
        (tables, shape)
    }

    /// Container, model check, entropy decoding, inverse companding: the latent the
    /// decoder network reads, as planes of the header's latent shape.
    fn start(
        &self,
        bytes: &[u8],
        limits: &Limits,
        modality: ModalityKind,
    ) -> Result<(Header, Vec<f32>), CodecError> {
        let file = crate::container::read(bytes, limits)?;
        let signal = match file.header.signal {
            SignalMeta::Image(_) => ModalityKind::Image,
            SignalMeta::Audio(_) => ModalityKind::Audio,
        };
        if signal != modality {
            return Err(CodecError::WrongModality {
                model: modality,
                signal,
            });
        }
        self.check_id(&file.header)?;
        self.check_geometry(&file.header)?;
        let symbols = self.decode_symbols(&file)?;
        // The inverse companding of every symbol the tables allow, computed once (the
        // scalar twin of the tensor ops training uses, the same values), then looked up:
        // the same values as applying it to the whole latent, without some thirty passes
        // over it (a tenth of decoding).
        let m = self.config.max_symbol();
        let companding = Companding::new(self.config.latent_bits);
        let table: Vec<f32> = (-m..=m)
            .map(|s| companding.inverse_value(s as f32))
            .collect();
        // In place (same size and alignment): a 24-megapixel latent is 288 MB.
        let values = symbols
            .into_iter()
            .map(|s| {
                // The entropy decoder yields only symbols of its tables, which model
                // loading checked span exactly −m..=m.
                usize::try_from(i64::from(s) + i64::from(m))
                    .ok()
                    .and_then(|i| table.get(i).copied())
                    .ok_or_else(|| CodecError::Input(format!("latent symbol {s} outside ±{m}")))
            })
            .collect::<Result<Vec<f32>, _>>()?;
        Ok((file.header, values))
    }

    /// [`start`](Self::start)'s latent as a tensor `[1, L, h, w]`, for Burn's decoder.
    fn latent_tensor(&self, values: Vec<f32>, shape: [u32; 3]) -> Tensor<4> {
        let [c, h, w] = shape.map(|v| v as usize);
        Tensor::<4>::from_data(TensorData::new(values, [1, c, h, w]), &self.device())
    }

    /// The latent shape must be what this model makes of the stored signal size, or the
    /// crop after decoding would read out of bounds.
    fn check_geometry(&self, header: &Header) -> Result<(), CodecError> {
        let s = self.config.stride() as u64;
        let l = self.config.latent_dim as u64;
        let [c, h, w] = header.latent_shape.map(u64::from);
        let ok = match &header.signal {
            SignalMeta::Image(m) => {
                let (ph, pw) = (
                    u64::from(m.height).div_ceil(s),
                    u64::from(m.width).div_ceil(s),
                );
                c == l
                    && h == ph
                    && w == pw
                    && u64::from(m.pad_left) < s
                    && u64::from(m.pad_top) < s
                    && u64::from(m.pad_left) + u64::from(m.width) <= pw * s
                    && u64::from(m.pad_top) + u64::from(m.height) <= ph * s
            }
            SignalMeta::Audio(m) => {
                let groups = u64::from(m.channels).div_ceil(self.config.channels as u64);
                let n = m.frames.div_ceil(s);
                c == groups * l
                    && h == 1
                    && w == n
                    && u64::from(m.pad_left) < s
                    && u64::from(m.pad_left) + m.frames <= n * s
            }
        };
        if ok {
            Ok(())
        } else {
            Err(CodecError::Input(
                "the file's latent shape does not match its signal size for this model".into(),
            ))
        }
    }
}

fn to_vec<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, CodecError> {
    t.into_data()
        .try_into_vec::<f32>()
        .map_err(|e| CodecError::Input(format!("tensor readback failed: {e:?}")))
}

fn check_image(image: &RasterImage, limits: &Limits) -> Result<(), CodecError> {
    let (w, h) = (image.width as u64, image.height as u64);
    if w == 0 || h == 0 {
        return Err(CodecError::Input(
            "the image is empty (zero width or height)".into(),
        ));
    }
    if w * h > limits.max_pixels {
        return Err(CodecError::Input(format!(
            "the image has {w}×{h} = {} pixels, over the limit of {}",
            w * h,
            limits.max_pixels
        )));
    }
    if !(1..=4).contains(&image.channels) {
        return Err(CodecError::Input(format!(
            "unsupported image layout: {} channels",
            image.channels
        )));
    }
    if image.samples.len() as u64 != w * h * image.channels as u64 {
        return Err(CodecError::Input(
            "sample count does not match the image size".into(),
        ));
    }
    Ok(())
}

fn check_audio(
    audio: &PcmAudio,
    channels: usize,
    frames: usize,
    limits: &Limits,
) -> Result<(), CodecError> {
    if channels == 0 || frames == 0 {
        return Err(CodecError::Input(
            "the audio is empty (no channels or no samples)".into(),
        ));
    }
    if channels as u64 > limits.max_channels as u64 || frames as u64 > limits.max_frames {
        return Err(CodecError::Input(format!(
            "{channels} channels × {frames} frames is over the limits ({} channels, {} frames)",
            limits.max_channels, limits.max_frames
        )));
    }
    if audio.planes.iter().any(|p| p.len() != frames) {
        return Err(CodecError::Input("audio channels differ in length".into()));
    }
    if audio.sample_rate == 0 {
        return Err(CodecError::Input("the sample rate is zero".into()));
    }
    if audio.planes.iter().flatten().any(|v| !v.is_finite()) {
        return Err(CodecError::Input(
            "the audio holds NaN or infinite samples".into(),
        ));
    }
    Ok(())
}

/// Whether an image's transform runs on 16-bit fixed-point samples ([`crate::wpt_fixed`]):
/// where its levels keep every value inside 16 bits (all shipped models'). The filters
/// then take half the time of 32-bit floats, and their rounding moves a packet value by
/// a fraction of an 8-bit step: a symbol in a few hundred changes by one, at the same
/// rate and distortion (docs/performance.md).
fn fixed_point(split: Split) -> bool {
    split.levels <= crate::wpt_fixed::MAX_LEVELS
}

/// An image as the transform reads it: three planes (gray repeated, alpha dropped),
/// samples scaled to [−0.5, 0.5], reflect-padded to a multiple of the transform's stride
/// as [`signal::pad_planes`] pads, made a row at a time where the transform wants it
/// instead of as planes first (one pass over 4 MB fewer in a 768×512 encode).
struct PaddedRgb<'a> {
    image: &'a RasterImage,
    height: usize,
    width: usize,
    left: usize,
    top: usize,
    scale: f32,
}

impl<'a> PaddedRgb<'a> {
    fn new(image: &'a RasterImage, multiple: usize) -> Self {
        let (w, h) = (image.width as usize, image.height as usize);
        let (top, bottom) = signal::padding(h, multiple);
        let (left, right) = signal::padding(w, multiple);
        let width = w + left + right;
        PaddedRgb {
            image,
            height: h + top + bottom,
            width,
            left,
            top,
            scale: 1.0 / ((1u32 << image.bit_depth()) - 1) as f32,
        }
    }

    /// Row `row` of plane `plane` (R, G, B) into `out`, `width` long, in floats or in
    /// fixed point ([`Value`]).
    fn fill_row<V: Value>(&self, plane: usize, row: usize, out: &mut [V]) {
        let (w, ch) = (self.image.width as usize, self.image.channels as usize);
        let c = if ch >= 3 { plane } else { 0 };
        let y = signal::reflect_index(row as isize - self.top as isize, self.image.height as usize);
        let row = y * w * ch..(y + 1) * w * ch;
        match &self.image.samples {
            Samples::Eight(s) => self.scale_row(&s[row], c, out),
            Samples::Sixteen(s) => self.scale_row(&s[row], c, out),
        }
    }

    /// Channel `c` of an image row, padded and scaled, into `out`. The image's own columns
    /// are read pixel by pixel, and only the padding's few columns are reflected: gathered
    /// through a table of reflected columns with a bounds check each, the row had cost as
    /// much as a level of the transform.
    #[inline(always)]
    fn scale_row<T: Sample, V: Value>(&self, samples: &[T], c: usize, out: &mut [V]) {
        let ch = self.image.channels as usize;
        let (left, w) = (self.left, self.image.width as usize);
        assert!(c < ch && samples.len() == w * ch && out.len() == self.width);
        V::pick(samples, ch, c, self.scale, &mut out[left..left + w]);
        for x in (0..left).chain(left + w..self.width) {
            let from = signal::reflect_index(x as isize - left as isize, w);
            out[x] = V::of(samples[from * ch + c], self.scale);
        }
    }
}

/// What the transform's rows hold: floats in [−0.5, 0.5], or fixed point
/// ([`crate::wpt_fixed`]).
trait Value: Copy {
    /// [`Sample::pick`] into these values.
    fn pick<T: Sample>(samples: &[T], ch: usize, c: usize, scale: f32, out: &mut [Self]);
    /// One sample (`scale` = 1 / the largest sample).
    fn of<T: Sample>(sample: T, scale: f32) -> Self;
}

impl Value for f32 {
    #[inline(always)]
    fn pick<T: Sample>(samples: &[T], ch: usize, c: usize, scale: f32, out: &mut [f32]) {
        T::pick(samples, ch, c, scale, out)
    }
    #[inline(always)]
    fn of<T: Sample>(sample: T, scale: f32) -> f32 {
        scaled(sample, scale)
    }
}

impl Value for i16 {
    #[inline(always)]
    fn pick<T: Sample>(samples: &[T], ch: usize, c: usize, _: f32, out: &mut [i16]) {
        T::pick_fixed(samples, ch, c, out)
    }
    #[inline(always)]
    fn of<T: Sample>(sample: T, _: f32) -> i16 {
        sample.fixed()
    }
}

/// A sample scaled to [−0.5, 0.5] (`scale` = 1 / the largest sample).
#[inline(always)]
fn scaled<T: Into<f32>>(x: T, scale: f32) -> f32 {
    x.into() * scale - 0.5
}

/// An image sample type, with [`pick`] compiled for the widest vectors.
trait Sample: Copy + Into<f32> {
    fn pick(samples: &[Self], ch: usize, c: usize, scale: f32, out: &mut [f32]);
    /// The sample in fixed point ([`crate::wpt_fixed`]).
    fn fixed(self) -> i16;
    /// [`pick`](Self::pick) in fixed point.
    fn pick_fixed(samples: &[Self], ch: usize, c: usize, out: &mut [i16]);
}

impl Sample for u8 {
    fn pick(samples: &[u8], ch: usize, c: usize, scale: f32, out: &mut [f32]) {
        pick_eight(samples, ch, c, scale, out)
    }
    #[inline(always)]
    fn fixed(self) -> i16 {
        crate::wpt_fixed::from_eight(self)
    }
    fn pick_fixed(samples: &[u8], ch: usize, c: usize, out: &mut [i16]) {
        pick_eight_fixed(samples, ch, c, out)
    }
}

impl Sample for u16 {
    fn pick(samples: &[u16], ch: usize, c: usize, scale: f32, out: &mut [f32]) {
        pick_sixteen(samples, ch, c, scale, out)
    }
    #[inline(always)]
    fn fixed(self) -> i16 {
        crate::wpt_fixed::from_sixteen(self)
    }
    fn pick_fixed(samples: &[u16], ch: usize, c: usize, out: &mut [i16]) {
        pick_fixed_any(samples, ch, c, out)
    }
}

crate::cores::wide_vectors! {
    avx512;
    /// [`Sample::pick_fixed`] of 8-bit samples.
    fn pick_eight_fixed(samples: &[u8], ch: usize, c: usize, out: &mut [i16]) {
        pick_fixed_any(samples, ch, c, out)
    }
}

/// [`Sample::pick_fixed`] with the pixel's width a constant, as [`pick_any`].
#[inline(always)]
fn pick_fixed_any<T: Sample>(samples: &[T], ch: usize, c: usize, out: &mut [i16]) {
    match ch {
        1 => pick_fixed::<1, T>(samples, c, out),
        2 => pick_fixed::<2, T>(samples, c, out),
        3 => pick_fixed::<3, T>(samples, c, out),
        _ => pick_fixed::<4, T>(samples, c, out),
    }
}

/// `out[x]` = channel c of pixel x in fixed point, for pixels of `CH` samples.
#[inline(always)]
fn pick_fixed<const CH: usize, T: Sample>(samples: &[T], c: usize, out: &mut [i16]) {
    for (o, pixel) in out.iter_mut().zip(samples.chunks_exact(CH)) {
        *o = pixel[c].fixed();
    }
}

crate::cores::wide_vectors! {
    avx512;
    /// [`pick`] of 8-bit samples.
    fn pick_eight(samples: &[u8], ch: usize, c: usize, scale: f32, out: &mut [f32]) {
        pick_any(samples, ch, c, scale, out)
    }
}

crate::cores::wide_vectors! {
    avx512;
    /// [`pick`] of 16-bit samples.
    fn pick_sixteen(samples: &[u16], ch: usize, c: usize, scale: f32, out: &mut [f32]) {
        pick_any(samples, ch, c, scale, out)
    }
}

/// [`pick`] for pixels of `ch` samples, with the pixel's width a constant, so that the
/// loop steps through whole pixels without a multiplication per sample.
#[inline(always)]
fn pick_any<T: Copy + Into<f32>>(samples: &[T], ch: usize, c: usize, scale: f32, out: &mut [f32]) {
    match ch {
        1 => pick::<1, T>(samples, c, scale, out),
        2 => pick::<2, T>(samples, c, scale, out),
        3 => pick::<3, T>(samples, c, scale, out),
        _ => pick::<4, T>(samples, c, scale, out),
    }
}

/// `out[x] = scaled(channel c of pixel x)` for pixels of `CH` samples.
#[inline(always)]
fn pick<const CH: usize, T: Copy + Into<f32>>(
    samples: &[T],
    c: usize,
    scale: f32,
    out: &mut [f32],
) {
    for (o, pixel) in out.iter_mut().zip(samples.chunks_exact(CH)) {
        *o = scaled(pixel[c], scale);
    }
}

crate::cores::wide_vectors! {
    /// The image's window of three padded planes (`shape` = their height and width,
    /// `corner` = the window's left and top) → interleaved gray or RGB at the stored bit
    /// depth, clamped and rounded (compiled for AVX2 too, where rounding is an
    /// instruction, not a call to `roundf`).
    fn from_rgb_planes(
        planes: &[f32],
        shape: (usize, usize),
        corner: (usize, usize),
        meta: &ImageMeta,
    ) -> RasterImage {
        let max = ((1u32 << meta.bit_depth) - 1) as f32;
        let q = |v: f32| ((v + 0.5).clamp(0.0, 1.0) * max).round() as u16;
        let gray = meta.channels <= 2;
        let channels = if gray { 1 } else { 3 };
        let window = Window {
            shape,
            corner,
            size: (meta.width as usize, meta.height as usize),
        };
        // Every value is at most `max`, so an 8-bit image's fit in bytes.
        let samples = match meta.bit_depth {
            8 => Samples::Eight(interleave(planes, &window, gray, |v| q(v) as u8)),
            _ => Samples::Sixteen(interleave(planes, &window, gray, q)),
        };
        RasterImage {
            width: meta.width,
            height: meta.height,
            channels: channels as u8,
            samples,
        }
    }
}

/// A `size` = (width, height) window at `corner` = (left, top) of planes of `shape` =
/// (height, width).
struct Window {
    shape: (usize, usize),
    corner: (usize, usize),
    size: (usize, usize),
}

/// The pixels of `window` in three planes as interleaved gray (their mean) or RGB, each
/// value quantised by `q`.
#[inline(always)]
fn interleave<T>(planes: &[f32], window: &Window, gray: bool, q: impl Fn(f32) -> T) -> Vec<T> {
    let ((ph, pw), (left, top), (w, h)) = (window.shape, window.corner, window.size);
    let mut samples = Vec::with_capacity(if gray { w * h } else { 3 * w * h });
    for y in 0..h {
        let at = (top + y) * pw + left;
        let [r, g, b]: [&[f32]; 3] = core::array::from_fn(|c| &planes[c * ph * pw + at..][..w]);
        for x in 0..w {
            if gray {
                samples.push(q((r[x] + g[x] + b[x]) / 3.0));
            } else {
                samples.extend([q(r[x]), q(g[x]), q(b[x])]);
            }
        }
    }
    samples
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rows made one at a time equal planes made first and padded after, for gray,
    /// gray + alpha, RGB and RGBA at 8 and 16 bits, sizes that need no padding, some, and
    /// more than the image (a 1×1 image padded to 8×8).
    #[test]
    fn padded_planes_equal_planes_then_padding() {
        for (w, h, channels, bit_depth) in [
            (8u32, 8u32, 3u8, 8u8),
            (13, 5, 1, 8),
            (1, 1, 2, 16),
            (10, 17, 4, 16),
        ] {
            let n = (w * h) as usize * usize::from(channels);
            let values: Vec<u16> = (0..n)
                .map(|i| ((i * 7919) % (1usize << bit_depth)) as u16)
                .collect();
            let samples = match bit_depth {
                8 => Samples::Eight(values.iter().map(|&v| v as u8).collect()),
                _ => Samples::Sixteen(values.clone()),
            };
            let image = RasterImage {
                width: w,
                height: h,
                channels,
                samples,
            };
            let (w, h) = (w as usize, h as usize);
            let scale = 1.0 / ((1u32 << bit_depth) - 1) as f32;
            let mut planes = vec![0.0f32; 3 * w * h];
            for (i, px) in values.chunks_exact(channels as usize).enumerate() {
                for c in 0..3 {
                    let v = if channels >= 3 { px[c] } else { px[0] };
                    planes[c * w * h + i] = v as f32 * scale - 0.5;
                }
            }
            let padded = PaddedRgb::new(&image, 8);
            let (ph, pw) = (padded.height, padded.width);
            let mut rows = vec![0.0f32; 3 * ph * pw];
            for (r, out) in rows.chunks_exact_mut(pw).enumerate() {
                padded.fill_row(r / ph, r % ph, out);
            }
            assert_eq!(
                (rows, ph, pw, padded.left, padded.top),
                signal::pad_planes(&planes, 3, h, w, 8),
                "{w}×{h}, {channels} channels"
            );
            // The same in fixed point: (v/max − 0.5)·2040, rounded, in integers.
            let fixed = |v: u16| match bit_depth {
                8 => 8 * i64::from(v) - 1020,
                _ => (i64::from(v) * 4080 + 65535) / 131_070 - 1020,
            };
            let mut planes = vec![0.0f32; 3 * w * h];
            for (i, px) in values.chunks_exact(channels as usize).enumerate() {
                for c in 0..3 {
                    let v = if channels >= 3 { px[c] } else { px[0] };
                    planes[c * w * h + i] = fixed(v) as f32;
                }
            }
            let mut rows = vec![0i16; 3 * ph * pw];
            for (r, out) in rows.chunks_exact_mut(pw).enumerate() {
                padded.fill_row(r / ph, r % ph, out);
            }
            let rows: Vec<f32> = rows.iter().map(|&v| f32::from(v)).collect();
            assert_eq!(
                rows,
                signal::pad_planes(&planes, 3, h, w, 8).0,
                "{w}×{h}, {channels} channels, fixed point"
            );
        }
    }
}
