//! Model files: configuration, weights and integer entropy tables in one byte string,
//! named by a content hash that `.wl` files carry. Read from bytes, natively and in wasm.
//!
//! Layout (little-endian), described for users in docs/format.md:
//!
//! ```text
//! 0   8   magic "WLMODEL\0"
//! 8   1   model file version (2; version 1 files are still read)
//! 9   3   reserved, zero
//! 12  16  model id: the first 16 bytes of SHA-256 over everything from offset 28 on
//! 28  4   n: length of the configuration (JSON, UTF-8)
//! 32  n   configuration
//! ..  4   channel count C of the tables
//! ..  4   context count K (version 2 only; version 1 means K = 1)
//!     per channel, per context: i32 min_symbol, u32 count k, k frequencies (sum 2^16),
//!     each a u16 (version 2) or u32 (version 1)
//! ..  8   m: length of the weights (burnpack)
//! ..  m   weights
//! ```
//!
//! Decoders never rebuild the tables from floats: that is what makes decoding bit-exact
//! on every platform.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use burn::config::Config;
use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device};
use sha2::{Digest, Sha256};

use crate::codec::Codec;
use crate::config::{CodecConfig, ModalityKind};
use crate::container::{Limits, ModelId};
use crate::cpu_decoder::CpuDecoder;
use crate::cpu_encoder::CpuEncoder;
use crate::entropy::{ContextCounts, EntropyError, MAX_CONTEXTS, SymbolTable};

pub const MODEL_MAGIC: [u8; 8] = *b"WLMODEL\0";
pub const MODEL_VERSION: u8 = 2;
/// Bytes before the hashed content.
const HEAD: usize = 28;

/// A trained codec ready to encode and decode.
#[derive(Debug)]
pub struct Model {
    pub config: CodecConfig,
    /// The networks ([`codec`](Self::codec)): built when the model is read, or, for a
    /// model compiled into the program ([`from_trusted_bytes`](Self::from_trusted_bytes))
    /// or read for the CPU paths ([`from_owned_bytes`](Self::from_owned_bytes)), from
    /// `weights` on first use.
    codec: std::sync::OnceLock<Codec>,
    /// The weights (burnpack, a slice of the model file's bytes) and the device to load
    /// them on, while `codec` may still be unbuilt.
    weights: Option<(bytes::Bytes, Device)>,
    /// `contexts` tables per latent channel, channel-major.
    pub tables: Vec<SymbolTable>,
    /// Context buckets per channel (1: a plain factorized model).
    pub contexts: usize,
    pub id: ModelId,
    /// The image decoder laid out for [`CpuDecoder`], made on first use (encoding never
    /// needs it); `None` inside where the decoder is not one it computes.
    cpu_decoder: std::sync::OnceLock<Option<CpuDecoder>>,
    /// The image encoder laid out for [`CpuEncoder`], made on first use; `None` inside
    /// for audio models and encoders with hidden layers.
    cpu_encoder: std::sync::OnceLock<Option<CpuEncoder>>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    #[error("not a walloc model file (bad magic)")]
    BadMagic,
    #[error("model file version {0} is not supported (this walloc reads versions 1 and 2)")]
    UnsupportedVersion(u8),
    #[error("truncated model file: {0}")]
    Truncated(&'static str),
    #[error("model file is corrupted: its content does not match its id")]
    IdMismatch,
    #[error("model file has an invalid configuration: {0}")]
    Config(String),
    #[error("model file has invalid entropy tables: {0}")]
    Tables(String),
    #[error("model file has invalid weights: {0}")]
    Weights(String),
    #[error("model file has reserved header bytes set (written by a newer walloc?)")]
    Reserved,
    #[error("model file of {size} bytes is larger than the limit of {limit} bytes")]
    TooLarge { size: u64, limit: u64 },
}

/// Renumbers parameters 0, 1, 2, … in the module's traversal order.
struct CanonicalIds(u64);

impl burn::module::ModuleMapper for CanonicalIds {
    fn map_float<const D: usize>(
        &mut self,
        param: burn::module::Param<burn::tensor::Tensor<D>>,
    ) -> burn::module::Param<burn::tensor::Tensor<D>> {
        self.0 += 1;
        burn::module::Param::initialized(burn::module::ParamId::from(self.0), param.val())
    }
}

/// Pseudo-counts of the learned density in each context table: enough to shape a context
/// the training data rarely reached, too few to matter where it often did.
const PRIOR_WEIGHT: f64 = 16.0;

impl Model {
    /// Turns a trained codec into a model: the density's symbol probabilities become
    /// integer tables.
    pub fn export(config: CodecConfig, codec: Codec) -> Result<Self, ModelError> {
        Self::export_with_counts(config, codec, None)
    }

    /// Like [`export`](Self::export), but with context tables fitted to `counts` (symbol
    /// counts of the training data's latents under this codec), the learned density
    /// serving as the prior of every context.
    pub fn export_with_counts(
        config: CodecConfig,
        codec: Codec,
        counts: Option<&ContextCounts>,
    ) -> Result<Self, ModelError> {
        // Parameter ids are random per process; numbering them in module order makes the
        // file (and so the model id) a function of the weights alone.
        let codec = codec.valid().map(&mut CanonicalIds(0));
        let max = config.max_symbol();
        let pmfs = codec.density.symbol_pmfs(max);
        let tables = match counts {
            None => pmfs
                .iter()
                .map(|pmf| SymbolTable::from_probabilities(-max, pmf))
                .collect::<Result<Vec<_>, _>>(),
            Some(counts) => {
                if counts.channels != config.latent_dim
                    || counts.min_symbol != -max
                    || counts.alphabet != (2 * max + 1) as usize
                {
                    return Err(ModelError::Tables(
                        "the symbol counts do not match the configuration".into(),
                    ));
                }
                counts.tables(&pmfs, PRIOR_WEIGHT)
            }
        }
        .map_err(|e| ModelError::Tables(e.to_string()))?;
        let mut model = Self {
            config,
            codec: codec.into(),
            weights: None,
            tables,
            contexts: counts.map_or(1, |c| c.contexts),
            id: [0; 16],
            cpu_decoder: Default::default(),
            cpu_encoder: Default::default(),
        };
        model.id = model_id(&model.content()?);
        Ok(model)
    }

    /// The bytes after the id: configuration, tables, weights.
    fn content(&self) -> Result<Vec<u8>, ModelError> {
        let config = burn::config::config_to_json(&self.config).into_bytes();
        let weights = self
            .codec()
            .clone()
            .into_record()
            .into_bytes()
            .map_err(|e| ModelError::Weights(alloc::format!("{e:?}")))?;
        let mut out = Vec::new();
        out.extend_from_slice(&(config.len() as u32).to_le_bytes());
        out.extend_from_slice(&config);
        out.extend_from_slice(&(self.config.latent_dim as u32).to_le_bytes());
        out.extend_from_slice(&(self.contexts as u32).to_le_bytes());
        for t in &self.tables {
            out.extend_from_slice(&t.min_symbol().to_le_bytes());
            out.extend_from_slice(&(t.len() as u32).to_le_bytes());
            for f in t.frequencies() {
                // Every frequency is below 2^16: each of at least 3 symbols has one ≥ 1.
                out.extend_from_slice(&(f as u16).to_le_bytes());
            }
        }
        out.extend_from_slice(&(weights.len() as u64).to_le_bytes());
        out.extend_from_slice(&weights);
        Ok(out)
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>, ModelError> {
        let content = self.content()?;
        let mut out = Vec::with_capacity(HEAD + content.len());
        out.extend_from_slice(&MODEL_MAGIC);
        out.push(MODEL_VERSION);
        out.extend_from_slice(&[0; 3]);
        out.extend_from_slice(&model_id(&content));
        out.extend_from_slice(&content);
        Ok(out)
    }

    /// Reads a model file, checking its id, configuration, tables and weights, under the
    /// default limits ([`from_bytes_limited`](Self::from_bytes_limited)).
    pub fn from_bytes(bytes: &[u8], device: &Device) -> Result<Self, ModelError> {
        Self::from_bytes_limited(bytes, device, &Limits::default())
    }

    /// Reads a model file no larger than `limits.max_model_bytes`, checking its id,
    /// configuration, tables and weights before the model is used.
    pub fn from_bytes_limited(
        bytes: &[u8],
        device: &Device,
        limits: &Limits,
    ) -> Result<Self, ModelError> {
        let (model, weights) = Self::read(bytes, limits, Trust::Check, |min, freqs| {
            SymbolTable::from_frequency_iter(min, crate::entropy::sixteen_bits(freqs))
        })?;
        let codec = load_codec(&model.config, weights, device)?;
        model
            .codec
            .set(codec)
            .expect("a model read has no networks yet");
        Ok(model)
    }

    /// Reads model bytes compiled into a program, whose ids, tables and weights its tests
    /// check with [`from_bytes`](Self::from_bytes). The header and configuration are
    /// checked as there, the tables only for fitting in the file ([`Trust::BuiltIn`]); the
    /// id is taken from the header instead of recomputed (a SHA-256 of the whole file,
    /// 3 ms of a 4 MB model), and the networks are built from the weights in place, on
    /// first use: an image encode reads only the encoder's projection from them
    /// ([`cpu_encoder`](Self::cpu_encoder)) and never builds the decoder. Both were paid
    /// by every `walloc` process. So were all the cumulative tables (1.5–3 ms for
    /// image-q3's 2304): each is now made where it is first used, and its frequencies are
    /// read only then ([`SymbolTable::from_trusted_frequencies`]).
    pub fn from_trusted_bytes(bytes: &'static [u8], device: &Device) -> Result<Self, ModelError> {
        let (mut model, weights) = Self::read(
            bytes,
            &Limits::default(),
            Trust::BuiltIn,
            SymbolTable::from_trusted_frequencies,
        )?;
        model.weights = Some((bytes::Bytes::from_static(weights), device.clone()));
        Ok(model)
    }

    /// Reads a model file as [`from_bytes_limited`](Self::from_bytes_limited) checks it,
    /// keeping its bytes, for the CPU paths: the tables are made from them on first use
    /// and the networks are not built where the CPU encoder and decoder apply (every
    /// image model they can compute, whose layers they read from the weights and check
    /// here). In a browser, where a page's first model load runs code as it is first
    /// compiled, this and the id hashed in pieces (`model_id`) took that load from
    /// ≈ 240 ms to ≈ 40 (docs/performance.md). Other models (audio, decoders with
    /// attention) are loaded whole, as `from_bytes` does.
    /// [`codec`](Self::codec) still builds the networks when asked, and panics if weights
    /// that neither CPU path reads are damaged: read a model to train with `from_bytes`.
    pub fn from_owned_bytes(
        bytes: Vec<u8>,
        device: &Device,
        limits: &Limits,
    ) -> Result<Self, ModelError> {
        let whole = bytes::Bytes::from(bytes);
        let (mut model, weights) = Self::read(&whole, limits, Trust::Check, |min, freqs| {
            SymbolTable::from_shared_frequencies(min, whole.slice_ref(freqs))
        })?;
        let weights = whole.slice_ref(weights);
        model.weights = Some((weights.clone(), device.clone()));
        let cpu_paths = model.config.modality == ModalityKind::Image
            && model.cpu_decoder().is_some()
            && model.cpu_encoder().is_some();
        if !cpu_paths {
            let codec = load_codec(&model.config, &weights, device)?;
            model
                .codec
                .set(codec)
                .expect("a model read has no networks yet");
        }
        Ok(model)
    }

    /// The header, configuration and tables of `bytes`, and the weights they end with,
    /// not yet loaded into networks. `table(min, frequencies)` makes a table from a
    /// version 2 file's 16-bit little-endian frequencies.
    fn read<'a>(
        bytes: &'a [u8],
        limits: &Limits,
        trust: Trust,
        table: impl Fn(i32, &'a [u8]) -> Result<SymbolTable, EntropyError>,
    ) -> Result<(Self, &'a [u8]), ModelError> {
        check_model_size(bytes.len() as u64, limits)?;
        if bytes.len() < HEAD {
            return Err(if bytes.starts_with(&MODEL_MAGIC[..bytes.len().min(8)]) {
                ModelError::Truncated("header")
            } else {
                ModelError::BadMagic
            });
        }
        if bytes[..8] != MODEL_MAGIC {
            return Err(ModelError::BadMagic);
        }
        let version = bytes[8];
        if version != 1 && version != MODEL_VERSION {
            return Err(ModelError::UnsupportedVersion(version));
        }
        if bytes[9..12] != [0; 3] {
            return Err(ModelError::Reserved);
        }
        let id: ModelId = bytes[12..28].try_into().expect("16 bytes");
        let content = &bytes[HEAD..];
        if trust == Trust::Check && model_id(content) != id {
            return Err(ModelError::IdMismatch);
        }
        let mut r = Reader { bytes: content };
        let config_len = r.u32("configuration length")? as usize;
        let config_bytes = r.take(config_len, "configuration")?;
        let config = CodecConfig::load_binary(config_bytes)
            .map_err(|e| ModelError::Config(e.to_string()))?;
        config.validate().map_err(ModelError::Config)?;
        let channels = r.u32("table count")? as usize;
        if channels != config.latent_dim {
            return Err(ModelError::Tables(alloc::format!(
                "{channels} tables for {} latent channels",
                config.latent_dim
            )));
        }
        let contexts = if version == 1 {
            1
        } else {
            r.u32("context count")? as usize
        };
        if !(1..=MAX_CONTEXTS).contains(&contexts) {
            return Err(ModelError::Tables(alloc::format!(
                "{contexts} contexts per channel (1..={MAX_CONTEXTS} allowed)"
            )));
        }
        let alphabet = (2 * config.max_symbol() + 1) as usize;
        let mut tables = Vec::with_capacity(channels * contexts);
        if trust == Trust::BuiltIn && version != 1 {
            // Every table has the same size (checked below when read otherwise): sliced
            // without reading each one's header, so that only the tables an encode uses
            // are ever touched. Reading the 2304 headers of image-q3, which lie between
            // its 1.2 MB of frequencies, faulted in every page of them.
            let size = 8 + 2 * alphabet;
            let all = r.take(size * channels * contexts, "table")?;
            for one in all.chunks_exact(size) {
                let table = table(-config.max_symbol(), &one[8..]);
                tables.push(table.map_err(|e| ModelError::Tables(e.to_string()))?);
            }
        }
        while tables.len() < channels * contexts {
            let min = r.u32("table")? as i32;
            let k = r.u32("table")? as usize;
            if k != alphabet || min != -config.max_symbol() {
                return Err(ModelError::Tables(alloc::format!(
                    "a table covers {k} symbols from {min}, the configuration needs {alphabet} from {}",
                    -config.max_symbol()
                )));
            }
            // One slice per table, not a checked read per frequency, and the table built
            // from it in place: a model holds thousands of tables.
            let table = if version == 1 {
                let bytes = r.take(4 * k, "table")?;
                SymbolTable::from_frequency_iter(
                    min,
                    bytes
                        .chunks_exact(4)
                        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                )
            } else {
                table(min, r.take(2 * k, "table")?)
            };
            tables.push(table.map_err(|e| ModelError::Tables(e.to_string()))?);
        }
        let weights_len = r.u64("weights length")?;
        let weights = r.take(
            usize::try_from(weights_len).map_err(|_| ModelError::Truncated("weights"))?,
            "weights",
        )?;
        let model = Self {
            config,
            codec: Default::default(),
            weights: None,
            tables,
            contexts,
            id,
            cpu_decoder: Default::default(),
            cpu_encoder: Default::default(),
        };
        Ok((model, weights))
    }

    /// The networks. A built-in model's are built here the first time (the weights were
    /// checked by its tests, so a failure is a damaged program and panics).
    pub fn codec(&self) -> &Codec {
        self.codec.get_or_init(|| {
            let (weights, device) = self
                .weights
                .as_ref()
                .expect("a model without networks keeps its weights");
            load_codec(&self.config, weights, device)
                .expect("a built-in model's weights load (its tests check them)")
        })
    }

    /// The networks, taken out of the model (to train them further).
    pub fn into_codec(self) -> Codec {
        self.codec();
        self.codec.into_inner().expect("built just above")
    }

    /// The decoder network as [`CpuDecoder`] computes it, where it applies. Its weights
    /// are the codec's as they were at the first call: read from the model's weights
    /// where the networks have not been built (decoding builds none).
    pub fn cpu_decoder(&self) -> Option<&CpuDecoder> {
        self.cpu_decoder
            .get_or_init(|| match (self.codec.get(), &self.weights) {
                (None, Some((weights, _))) => CpuDecoder::from_pack(shared(weights), &self.config),
                _ => CpuDecoder::new(&self.codec().decoder, &self.config),
            })
            .as_ref()
    }

    /// The image encoder as [`CpuEncoder`] computes it, where it applies (weights as at
    /// the first call).
    pub fn cpu_encoder(&self) -> Option<&CpuEncoder> {
        self.cpu_encoder
            .get_or_init(|| match self.config.modality {
                ModalityKind::Image => match (self.codec.get(), &self.weights) {
                    (None, Some((weights, _))) => {
                        CpuEncoder::from_pack(shared(weights), &self.config)
                    }
                    _ => CpuEncoder::new(&self.codec().encoder, &self.config),
                },
                ModalityKind::Audio => None,
            })
            .as_ref()
    }

    /// The id as 32 lowercase hex digits, as messages and `walloc info` show it.
    pub fn id_hex(&self) -> String {
        id_hex(&self.id)
    }
}

/// The networks of `config` with the weights of a burnpack, copied first: Burn reads a
/// tensor's floats where they lie, so they must be aligned, and neither a model file's
/// weights nor bytes compiled into a program need be.
fn load_codec(config: &CodecConfig, weights: &[u8], device: &Device) -> Result<Codec, ModelError> {
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(weights.to_vec()))
        .map_err(|e| ModelError::Weights(alloc::format!("{e:?}")))?;
    Codec::new(config, device)
        .try_load_record(record)
        .map_err(|e| ModelError::Weights(alloc::format!("{e:?}")))
}

/// A model's weights, shared where they lie instead of copied (a built-in image model's
/// are 2.9 MB), for reading byte by byte: they need not be aligned for their floats.
fn shared(weights: &bytes::Bytes) -> Bytes {
    Bytes::from_shared(weights.clone(), burn::tensor::AllocationProperty::Other)
}

/// The model size limit on its own, for front ends that can see a file's size before
/// reading it.
pub fn check_model_size(size: u64, limits: &Limits) -> Result<(), ModelError> {
    if size > limits.max_model_bytes {
        return Err(ModelError::TooLarge {
            size,
            limit: limits.max_model_bytes,
        });
    }
    Ok(())
}

pub fn id_hex(id: &ModelId) -> String {
    id.iter().map(|b| alloc::format!("{b:02x}")).collect()
}

/// The first 16 bytes of the content's SHA-256, hashed 64 KiB per call: a browser runs a
/// function first as quickly compiled code and swaps in optimised code only between
/// calls, so one call over a whole 4 MB model ran slow code throughout (≈ 150 ms of a
/// page's first model load; the same digest either way).
fn model_id(content: &[u8]) -> ModelId {
    let mut hasher = Sha256::new();
    for piece in content.chunks(64 << 10) {
        hasher.update(piece);
    }
    hasher.finalize()[..16].try_into().expect("16 of 32 bytes")
}

/// How much of a model file is read before it is used.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Trust {
    /// Everything: a file from outside the program.
    Check,
    /// A model compiled into the program, which its tests read with [`Trust::Check`]:
    /// its id is taken from its header, and the headers of its tables are not read.
    BuiltIn,
}

/// A bounds-checked little-endian reader.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ModelError> {
        if n > self.bytes.len() {
            return Err(ModelError::Truncated(what));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, ModelError> {
        Ok(u32::from_le_bytes(
            self.take(4, what)?.try_into().expect("4"),
        ))
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, ModelError> {
        Ok(u64::from_le_bytes(
            self.take(8, what)?.try_into().expect("8"),
        ))
    }
}
