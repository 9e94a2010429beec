//! The models `walloc` knows: the shipped ones, compiled into the binary so that it works
//! wherever it is run from, and any `--model FILE` the user names.

use std::collections::HashMap;
use std::path::Path;

use burn::tensor::Device;
use walloc_core::container::{Limits, ModelId};
use walloc_core::model_file::{Model, check_model_size, id_hex};

use crate::media::Kind;

/// A model compiled into the binary.
pub struct Shipped {
    pub name: &'static str,
    pub kind: Kind,
    /// 1 = smallest files.
    pub quality: u8,
    pub bytes: &'static [u8],
}

macro_rules! shipped {
    ($kind:ident, $file:literal, $quality:literal) => {
        Shipped {
            name: $file,
            kind: Kind::$kind,
            quality: $quality,
            bytes: include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../assets/models/",
                $file
            )),
        }
    };
}

/// The shipped models (assets/models; its README holds the model cards). A `static`, not
/// a `const`: a constant is copied into each place that uses it, and the binary held
/// every model's bytes twice (62 MB of read-only data for 31 MB of models).
pub static SHIPPED: &[Shipped] = &[
    shipped!(Image, "image-q1.wlm", 1),
    shipped!(Image, "image-q2.wlm", 2),
    shipped!(Image, "image-q3.wlm", 3),
    shipped!(Image, "image-q4.wlm", 4),
    shipped!(Audio, "audio-q1.wlm", 1),
    shipped!(Audio, "audio-q2.wlm", 2),
];

/// The model id stored in a model file's header (bytes 12..28), without loading it.
fn header_id(bytes: &[u8]) -> Option<ModelId> {
    bytes.get(12..28)?.try_into().ok()
}

/// Loads models on first use and keeps them for the rest of a batch.
#[derive(Default)]
pub struct Models {
    loaded: HashMap<ModelId, std::rc::Rc<Model>>,
    /// A user's `--model` file, if any.
    user: Option<std::rc::Rc<Model>>,
}

impl Models {
    /// The shipped models, and the model file at `path` if any: refused before it is read
    /// if it is larger than `limits.max_model_bytes`.
    pub fn with_user_file(path: Option<&Path>, limits: &Limits) -> Result<Self, String> {
        let mut m = Self::default();
        if let Some(path) = path {
            let at = |e: String| format!("{}: {e}", path.display());
            let size = std::fs::metadata(path)
                .map_err(|e| at(e.to_string()))?
                .len();
            check_model_size(size, limits)
                .map_err(|e| at(format!("{e} (see --max-model-bytes)")))?;
            let bytes = std::fs::read(path).map_err(|e| at(e.to_string()))?;
            // Checked as `from_bytes_limited` checks it, without networks the CPU paths
            // do not use.
            let model = Model::from_owned_bytes(bytes, &Device::flex(), limits)
                .map_err(|e| at(e.to_string()))?;
            m.user = Some(std::rc::Rc::new(model));
        }
        Ok(m)
    }

    fn load(&mut self, s: &Shipped) -> Result<std::rc::Rc<Model>, String> {
        let id = header_id(s.bytes).ok_or("a shipped model is damaged")?;
        if let Some(m) = self.loaded.get(&id) {
            return Ok(m.clone());
        }
        // The id check is the unit test below's job: every process would pay for it.
        let model = Model::from_trusted_bytes(s.bytes, &Device::flex())
            .map_err(|e| format!("shipped model {}: {e}", s.name))?;
        let model = std::rc::Rc::new(model);
        self.loaded.insert(id, model.clone());
        Ok(model)
    }

    /// The model to encode a `kind` signal with: the user's, or the shipped one at
    /// `quality` (default: the middle level).
    pub fn for_encoding(
        &mut self,
        kind: Kind,
        quality: Option<u8>,
    ) -> Result<std::rc::Rc<Model>, String> {
        if let Some(m) = &self.user {
            return Ok(m.clone());
        }
        let levels: Vec<&Shipped> = SHIPPED.iter().filter(|s| s.kind == kind).collect();
        if levels.is_empty() {
            return Err(format!(
                "this walloc has no built-in {} model; pass --model FILE (from walloc-train export)",
                match kind {
                    Kind::Image => "image",
                    Kind::Audio => "audio",
                }
            ));
        }
        let q = quality.unwrap_or_else(|| levels[levels.len() / 2].quality);
        let s = levels.iter().find(|s| s.quality == q).ok_or_else(|| {
            let qs: Vec<String> = levels.iter().map(|s| s.quality.to_string()).collect();
            format!("no quality level {q}: this walloc has {}", qs.join(", "))
        })?;
        self.load(s)
    }

    /// The model a `.wl` file names: the user's if its id matches, else a shipped one.
    pub fn for_decoding(&mut self, id: &ModelId) -> Result<std::rc::Rc<Model>, String> {
        if let Some(m) = &self.user {
            if &m.id == id {
                return Ok(m.clone());
            }
        }
        if let Some(s) = SHIPPED
            .iter()
            .find(|s| header_id(s.bytes).as_ref() == Some(id))
        {
            return self.load(s);
        }
        Err(format!(
            "encoded with model {}, which this walloc does not have{}; pass the model file with --model",
            id_hex(id),
            if self.user.is_some() {
                " (nor does --model)"
            } else {
                ""
            }
        ))
    }

    /// A name for the model with this id, for `info`.
    pub fn name_of(&self, id: &ModelId) -> Option<String> {
        if let Some(m) = &self.user {
            if &m.id == id {
                return Some(m.config.name.clone());
            }
        }
        SHIPPED
            .iter()
            .find(|s| header_id(s.bytes).as_ref() == Some(id))
            .map(|s| s.name.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each shipped model's bytes hash to the id in its header: `load` trusts it.
    #[test]
    fn shipped_models_carry_their_own_ids() {
        for s in SHIPPED {
            let model = Model::from_bytes(s.bytes, &Device::flex())
                .unwrap_or_else(|e| panic!("{}: {e}", s.name));
            assert_eq!(Some(model.id), header_id(s.bytes), "{}", s.name);
        }
    }
}
