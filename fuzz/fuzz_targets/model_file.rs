//! Model files (`walloc --model FILE`, the browser's): mutated tiny models, with the
//! content hash fixed up so that mutations reach the configuration, tables and weights,
//! load or give a typed error, without allocating what the file's size cannot justify.
#![no_main]

use burn::tensor::Device;
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};
use walloc_core::container::Limits;
use walloc_core::model_file::Model;

fuzz_target!(|data: &[u8]| {
    let _ = Model::from_bytes(data, &Device::flex());
    if data.len() < 28 {
        return;
    }
    let mut fixed = data.to_vec();
    let id = Sha256::digest(&fixed[28..]);
    fixed[12..28].copy_from_slice(&id[..16]);
    let _ = Model::from_bytes(&fixed, &Device::flex());
    // As the browser and `--model` read it: what decoding reads lazily is checked here.
    let _ = Model::from_owned_bytes(fixed, &Device::flex(), &Limits::default());
});
