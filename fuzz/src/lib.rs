//! What the fuzz targets share: an allocator that aborts on any allocation larger than
//! the limits allow (so over-allocation is a crash libFuzzer records, even without a
//! sanitizer), the tiny test models, the limits the targets decode under, and fix-ups
//! that let mutated `.wl` files past their checksum.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::OnceCell;

use burn::tensor::Device;
use walloc_core::container::{self, Limits, SignalMeta};
use walloc_core::model_file::Model;

/// Largest single allocation any target may make. Under [`limits`] the largest buffers
/// (a 2^20-pixel image as f32 planes, 2^20 frames × 16 channels of audio, network
/// activations at latent resolution) stay far below this, so an allocation above it
/// means a size came from the input without a limit check.
pub const MAX_ALLOCATION: usize = 256 << 20;

/// System allocation, with an abort (a libFuzzer crash with the input saved) on any
/// request above [`MAX_ALLOCATION`]. libFuzzer's own `-malloc_limit_mb` needs a
/// sanitizer's allocator hooks; this works with `--sanitizer none` too.
pub struct LimitedAlloc;

fn too_large(size: usize) -> ! {
    // No allocation here: print with a fixed buffer, then abort.
    use std::io::Write;
    let mut buf = [0u8; 96];
    let mut cur = std::io::Cursor::new(&mut buf[..]);
    let _ = write!(cur, "fuzz: allocation of {size} bytes is over the limit\n");
    let n = cur.position() as usize;
    let _ = std::io::stderr().write_all(&buf[..n]);
    std::process::abort();
}

unsafe impl GlobalAlloc for LimitedAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > MAX_ALLOCATION {
            too_large(layout.size());
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > MAX_ALLOCATION {
            too_large(layout.size());
        }
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > MAX_ALLOCATION {
            too_large(new_size);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: LimitedAlloc = LimitedAlloc;

/// The limits the decoding targets run under: small enough that everything they allow
/// fits comfortably below [`MAX_ALLOCATION`] and decodes in well under a second.
pub fn limits() -> Limits {
    Limits {
        max_pixels: 1 << 20,
        max_frames: 1 << 20,
        max_channels: 16,
        max_latent_values: 1 << 20,
        max_payload_bytes: 1 << 24,
        max_model_bytes: 1 << 20,
    }
}

pub const TINY_IMAGE: &[u8] = include_bytes!("../../tests/data/models/tiny-image.wlm");
pub const TINY_AUDIO: &[u8] = include_bytes!("../../tests/data/models/tiny-audio.wlm");

thread_local! {
    static IMAGE_MODEL: OnceCell<&'static Model> = const { OnceCell::new() };
    static AUDIO_MODEL: OnceCell<&'static Model> = const { OnceCell::new() };
}

fn load(bytes: &[u8]) -> &'static Model {
    Box::leak(Box::new(
        Model::from_bytes(bytes, &Device::flex()).expect("the tiny test models load"),
    ))
}

/// The tiny image model (tests/data/models), loaded once per thread.
pub fn image_model() -> &'static Model {
    IMAGE_MODEL.with(|c| *c.get_or_init(|| load(TINY_IMAGE)))
}

/// The tiny audio model (tests/data/models), loaded once per thread.
pub fn audio_model() -> &'static Model {
    AUDIO_MODEL.with(|c| *c.get_or_init(|| load(TINY_AUDIO)))
}

/// Length of the header before the CRC, from the fields [`container::read_header`] read.
pub fn header_len(signal: &SignalMeta) -> usize {
    match signal {
        SignalMeta::Image(_) => 48 + 16,
        SignalMeta::Audio(m) => 48 + 24 + 4 * usize::from(m.channels),
    }
}

/// If `bytes` has a readable header: names `model`'s id (when given), sets the payload
/// length to what follows the CRC (rounded down to whole words) and rewrites the CRC, so
/// that mutations reach the entropy decoder and the networks instead of stopping at the
/// checksum. Returns whether it could.
pub fn fix_up(bytes: &mut Vec<u8>, model: Option<&Model>) -> bool {
    let Ok(header) = container::read_header(bytes, &Limits::unlimited()) else {
        return false;
    };
    let at = header_len(&header.signal);
    if bytes.len() < at + 4 {
        return false;
    }
    if let Some(m) = model {
        bytes[12..28].copy_from_slice(&m.id);
    }
    let payload = (bytes.len() - at - 4) / 4 * 4;
    bytes.truncate(at + 4 + payload);
    bytes[40..48].copy_from_slice(&(payload as u64).to_le_bytes());
    let mut h = crc32fast::Hasher::new();
    h.update(&bytes[..at]);
    h.update(&bytes[at + 4..]);
    let crc = h.finalize();
    bytes[at..at + 4].copy_from_slice(&crc.to_le_bytes());
    true
}
