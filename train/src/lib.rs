//! walloc-train as a library: the data sets, the training loop, validation and export
//! that the `walloc-train` binary drives (and the tests call directly).

pub mod contexts;
pub mod data;
pub mod rng;
pub mod trainer;
pub mod validate;
