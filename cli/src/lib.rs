//! The parts of the `walloc` command that make sense without it: reading images and WAV
//! files into the codec's types (also what the fuzz targets in fuzz/ feed hostile bytes)
//! and writing outputs through a temporary file. The binary is src/main.rs.

pub mod media;
