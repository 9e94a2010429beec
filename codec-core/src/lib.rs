//! walloc-core: the parts of the walloc codec that every front end shares.
//!
//! Everything here works from bytes in memory, with no file system, and on one thread in
//! wasm (threads share the heaviest loops natively, [`cores`]), so the same code runs in
//! the CLI, in training and in the browser (wasm32-unknown-unknown).

extern crate alloc;

pub mod bottleneck;
pub mod codec;
pub mod config;
pub mod container;
pub mod cores;
pub mod cpu_decoder;
pub mod cpu_encoder;
pub mod density;
pub mod entropy;
pub mod latent_payload;
mod matmul;
pub mod model_file;
pub mod nets;
pub mod pipeline;
pub mod signal;
pub mod wpt;
pub mod wpt_fixed;
pub mod wpt_planes;
