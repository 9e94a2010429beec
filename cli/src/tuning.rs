//! The allocator tuned for walloc's few large buffers.
//!
//! By default glibc maps each large buffer fresh and hands it back to the kernel when it
//! is freed, so every layer and transform level faults its memory in again, 4 KiB at a
//! time: a third of a `walloc decode`'s time went to the kernel. Keeping freed memory and
//! transparent huge pages for the large buffers took `walloc encode` from 123 to 87 ms and
//! `walloc decode` from 174 to 155 ms on the project's machine (docs/performance.md).
//!
//! This was first done with glibc's tunables, which are read only when a process starts,
//! so `walloc` started itself a second time to set them: 1.4–1.8 ms of every command (6%
//! of an encode). The same settings are now made from inside the process: the
//! thresholds with `mallopt`, the huge pages by asking for them (`madvise`) on each large
//! block as it is allocated, before anything touches it.

#[cfg(not(all(target_os = "linux", target_env = "musl")))]
use std::alloc::{GlobalAlloc, Layout, System};

/// Freed memory is kept (not trimmed below 1 GiB), blocks up to 512 MiB come from the
/// heap, where a freed buffer is reused by the next one without faulting its pages in
/// again, and the heap's first [`HEAP_START`] bytes from its first huge page boundary on
/// get huge pages: grown once here and freed, which the trim threshold keeps, so that the
/// many small blocks (a model's 2304 tables) share huge pages too. Nothing is touched, so
/// nothing becomes resident.
///
/// Every thread allocates from that one heap (one arena): glibc would give the thread
/// that reads the input while the model loads an arena of its own, whose pages it faulted
/// in 4 KiB at a time (`walloc encode` median 18.5 → 17.1 ms, 60 interleaved rounds; a
/// decode's threads allocate a few large buffers each, and its time and peak memory did
/// not change). Call first thing in `main`, before any thread starts.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets the allocator's parameters; each block is freed as it
    // came (null is advised nowhere and freed as nothing), but the filler, which is
    // never freed and never written.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 512 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_ARENA_MAX, 1);
        // The heap starts at a random place inside a huge page, and the heap's part of
        // that huge page cannot be one: what landed there (up to 2 MiB, the first buffers
        // of every command) was faulted in 4 KiB at a time, some 300 faults of a 741×500
        // `walloc encode`'s 430 (median 6.37 → 5.82 ms, 150 interleaved rounds). A block
        // kept for the process's life fills it up to the first huge page boundary: only
        // the allocator's header at its start is written, so it costs address space, not
        // memory. (`black_box`: the optimiser removes a block that nothing reads, and a
        // block freed unread together with its allocation.)
        let first = core::hint::black_box(libc::malloc(HEAP_START));
        libc::free(first);
        if !first.is_null() {
            let start = first as usize;
            // Less the next block's header and the allocator's rounding, so that the next
            // block starts a few words past the boundary.
            let filler = (start.next_multiple_of(HUGE_PAGE) - start)
                .saturating_sub(4 * core::mem::size_of::<usize>());
            if filler > 0 {
                core::hint::black_box(libc::malloc(filler));
            }
        }
        let p = libc::malloc(HEAP_START);
        advise(p.cast(), HEAP_START);
        libc::free(p);
    }
}

/// The heap grown and advised at start: an encode of a 768×512 photo fits in it.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const HEAP_START: usize = 64 << 20;

/// The system allocator, with transparent huge pages asked for on every block of at
/// least one huge page: the kernel then fills it 2 MiB at a time instead of 4 KiB
/// (Debian's default `transparent_hugepage/enabled` is `madvise`: only asked-for memory).
#[cfg(not(all(target_os = "linux", target_env = "musl")))]
pub struct HugePages;

/// A huge page on x86-64 and aarch64 with 4 KiB pages; blocks smaller than this are left
/// alone.
pub const HUGE_PAGE: usize = 2 << 20;

/// Asks for huge pages on the whole huge pages inside `[ptr, ptr + len)`: a hint, so a
/// failure changes nothing but speed.
pub fn advise(ptr: *mut u8, len: usize) {
    #[cfg(target_os = "linux")]
    if !ptr.is_null() && len >= HUGE_PAGE {
        let start = (ptr as usize).next_multiple_of(HUGE_PAGE);
        let end = (ptr as usize + len) / HUGE_PAGE * HUGE_PAGE;
        if end > start {
            // SAFETY: the range lies inside a block this allocator just handed out, and
            // MADV_HUGEPAGE changes no contents.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (ptr, len);
}

// SAFETY: every call is passed to `System` unchanged; `advise` only adds a hint.
#[cfg(not(all(target_os = "linux", target_env = "musl")))]
unsafe impl GlobalAlloc for HugePages {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        advise(ptr, layout.size());
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // calloc does not write memory it just got from the kernel (already zero), so
        // the block's fresh pages are still untouched here.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        advise(ptr, layout.size());
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let ptr = unsafe { System.realloc(ptr, layout, new_size) };
        advise(ptr, new_size);
        ptr
    }
}

/// The global allocator: glibc's, advised for huge pages, or in the static musl build
/// talc's on spans of huge pages (cli/src/span_heap.rs).
#[cfg(not(all(target_os = "linux", target_env = "musl")))]
pub type Heap = HugePages;

#[cfg(all(target_os = "linux", target_env = "musl"))]
pub type Heap = crate::span_heap::SpanHeap;

/// The global allocator, ready to be a `static`.
pub const fn heap() -> Heap {
    #[cfg(not(all(target_os = "linux", target_env = "musl")))]
    return HugePages;
    #[cfg(all(target_os = "linux", target_env = "musl"))]
    return crate::span_heap::SpanHeap::new();
}
