//! The JS surface: thin wrappers over the crate's Rust functions (wasm32 only).

use std::cell::RefCell;

use walloc_core::container::SampleFormat;
use walloc_core::model_file::Model;
use wasm_bindgen::prelude::*;

use crate::{
    Field, browser_limits, decode_audio_planes, decode_image_rgba, latent_symbols, load_model,
    read_info, warm_up,
};

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs when the module is instantiated: panics are recorded for [`last_panic`].
#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        LAST_PANIC.with(|p| *p.borrow_mut() = Some(info.to_string()));
    }));
}

/// What the last panic said, if the module trapped (a bug: please report it). The
/// instance is unusable after a trap; load the module again.
#[wasm_bindgen(js_name = lastPanic)]
pub fn last_panic() -> Option<String> {
    LAST_PANIC.with(|p| p.borrow().clone())
}

fn js_error(message: String) -> JsError {
    JsError::new(&message)
}

fn set(object: &js_sys::Object, key: &str, value: &JsValue) {
    js_sys::Reflect::set(object, &JsValue::from_str(key), value)
        .expect("setting a property of a plain object cannot fail");
}

/// The header of a `.wl` file as `walloc info --json` gives it (snake_case keys: bytes,
/// model_id, modality, width, height, bpp, sample_rate, seconds, kbps, …). Throws for a
/// damaged file.
#[wasm_bindgen]
pub fn info(wl: &[u8]) -> Result<js_sys::Object, JsError> {
    let fields = read_info(wl, &browser_limits()).map_err(js_error)?;
    let object = js_sys::Object::new();
    for (key, field) in fields {
        let value = match field {
            Field::Number(x) => JsValue::from_f64(x),
            Field::Text(s) => JsValue::from_str(&s),
            Field::Numbers(xs) => xs
                .into_iter()
                .map(JsValue::from_f64)
                .collect::<js_sys::Array>()
                .into(),
        };
        set(&object, key, &value);
    }
    Ok(object)
}

/// A loaded model file.
#[wasm_bindgen]
pub struct WallocModel {
    model: Model,
}

#[wasm_bindgen]
impl WallocModel {
    /// Reads a model file (`.wlm`), checking its id, its tables and the weights decoding
    /// reads ([`load_model`]); an image model builds no networks.
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(bytes: Vec<u8>) -> Result<WallocModel, JsError> {
        Ok(WallocModel {
            model: load_model(bytes).map_err(js_error)?,
        })
    }

    /// The model id, 32 hex digits, as `.wl` headers (`info().model_id`) name it.
    #[wasm_bindgen(getter)]
    pub fn id(&self) -> String {
        self.model.id_hex()
    }

    /// The configuration's name (a preset or the trainer's name for it).
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.model.config.name.clone()
    }

    /// "image" or "audio".
    #[wasm_bindgen(getter)]
    pub fn modality(&self) -> String {
        match self.model.config.modality {
            walloc_core::config::ModalityKind::Image => "image".into(),
            walloc_core::config::ModalityKind::Audio => "audio".into(),
        }
    }

    /// Decodes an image: `{ width, height, rgba: Uint8ClampedArray, channels, bit_depth }`
    /// (`rgba` fits `new ImageData(rgba, width, height)`).
    #[wasm_bindgen(js_name = decodeImage)]
    pub fn decode_image(&self, wl: &[u8]) -> Result<js_sys::Object, JsError> {
        let image = decode_image_rgba(&self.model, wl, &browser_limits()).map_err(js_error)?;
        let object = js_sys::Object::new();
        set(&object, "width", &image.width.into());
        set(&object, "height", &image.height.into());
        set(
            &object,
            "rgba",
            &js_sys::Uint8ClampedArray::from(image.rgba.as_slice()).into(),
        );
        set(&object, "channels", &image.channels.into());
        set(&object, "bit_depth", &image.bit_depth.into());
        Ok(object)
    }

    /// Decodes audio: `{ sample_rate, frames, channels: [Float32Array, …], sample_format }`,
    /// samples in [−1, 1].
    #[wasm_bindgen(js_name = decodeAudio)]
    pub fn decode_audio(&self, wl: &[u8]) -> Result<js_sys::Object, JsError> {
        let audio = decode_audio_planes(&self.model, wl, &browser_limits()).map_err(js_error)?;
        let object = js_sys::Object::new();
        let frames = audio.planes.first().map_or(0, Vec::len);
        set(&object, "sample_rate", &audio.sample_rate.into());
        set(&object, "frames", &(frames as f64).into());
        let channels: js_sys::Array = audio
            .planes
            .iter()
            .map(|p| JsValue::from(js_sys::Float32Array::from(p.as_slice())))
            .collect();
        set(&object, "channels", &channels.into());
        let format = match audio.format {
            SampleFormat::Int(bits) => format!("Int({bits})"),
            SampleFormat::Float32 => "Float32".into(),
        };
        set(&object, "sample_format", &format.into());
        Ok(object)
    }

    /// Decodes a small signal of its own and throws it away ([`warm_up`]): run it while
    /// the page waits for the user, and the first file decodes about as fast as later ones.
    #[wasm_bindgen(js_name = warmUp)]
    pub fn warm_up(&self) -> Result<(), JsError> {
        warm_up(&self.model).map_err(js_error)
    }

    /// The integer latent symbols, `[channels, height, width]` flattened.
    #[wasm_bindgen(js_name = latentSymbols)]
    pub fn latent_symbols(&self, wl: &[u8]) -> Result<js_sys::Int32Array, JsError> {
        let symbols = latent_symbols(&self.model, wl, &browser_limits()).map_err(js_error)?;
        Ok(js_sys::Int32Array::from(symbols.as_slice()))
    }
}
