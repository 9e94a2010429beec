//! The static musl build's heap: talc's allocator on spans of huge pages.
//!
//! Why not musl's own allocator: it maps every block over 128 KiB fresh and unmaps it when
//! it is freed, so each large buffer (a 741×500 photo's raster, its symbols, the
//! transform's rings) faulted its memory in 4 KiB at a time, 1 340 page faults per encode
//! against the glibc build's 119 (docs/performance.md, twentieth session). talc keeps what
//! is freed for the next block, as glibc's heap does with [`super::tuning`]'s settings, and
//! gets its memory here ([`Spans`]): from one range of address space reserved at the first
//! allocation and made usable as the heap grows, at least [`SPAN`] bytes at a time,
//! untouched and advised for huge pages. Nothing is given back to the system: peak memory
//! is the heap's peak.
//!
//! Two things glibc did that talc alone would not:
//! - **Zeroed blocks from fresh memory are not written.** The system hands out zeroed
//!   pages; glibc's `calloc` knows which memory it never handed out and clears only the
//!   rest. Here each span remembers how far blocks have reached ([`Span::fresh`]), and a
//!   zeroed block beyond that mark has only its ends cleared, where talc keeps its own words
//!   about free memory. Clearing the transform's rings anyway wrote a megabyte per encode,
//!   page faults included, 5.3% of its samples.
//! - **The heap's last huge page is left to small pages.** talc writes the size of the
//!   free memory in the free memory's last word, the heap's: advised, that one word
//!   faulted in a whole huge page, 2 MiB cleared by the kernel for 8 bytes.

use std::alloc::{GlobalAlloc, Layout};
use std::ptr::NonNull;

use crate::tuning::{HUGE_PAGE, advise};

/// The least the heap grows by: an encode of a 768×512 photo fits in the first.
const SPAN: usize = 64 << 20;

/// How far from a fresh zeroed block's ends it is still cleared: talc's words about free
/// memory lie within a few words of a free gap's start and end, and a block carved from
/// fresh memory starts at a gap's start and may end at its end.
const EDGE: usize = 4096;

/// How many spans keep a fresh mark; later spans (over 30 GiB of heap) clear every zeroed
/// block.
const MARKED_SPANS: usize = 32;

/// talc behind a spin lock: talc takes `lock_api`'s locks, and parking_lot's, which park,
/// keep a table of parked threads that is itself allocated. walloc's two threads allocate
/// rarely and briefly; the longest wait is for the other's first touch of a huge page
/// inside talc (the kernel clears 2 MiB), which a sleeping waiter would wait for too.
pub struct SpanHeap(lock_api::Mutex<spin::Mutex<()>, talc::Talc<Spans>>);

impl SpanHeap {
    pub const fn new() -> Self {
        Self::reserving(RESERVE)
    }

    /// A heap that reserves `reserve` bytes of address space to grow in.
    const fn reserving(reserve: usize) -> Self {
        Self(lock_api::Mutex::new(talc::Talc::new(Spans::new(reserve))))
    }
}

/// A mapped span and its fresh mark: no block has reached `fresh..end`.
#[derive(Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    fresh: usize,
}

impl Span {
    const EMPTY: Self = Self {
        start: 0,
        end: 0,
        fresh: 0,
    };
}

/// talc's source of memory (its out-of-memory handler): one range of address space
/// reserved at the first allocation, made usable from its start as the heap grows, so that
/// the heap stays in one piece, whose free blocks merge as glibc's do; separate spans
/// where the range is used up or could not be reserved.
pub struct Spans {
    /// The reserved range; `None` before the first allocation or where reserving failed.
    grown: Option<Grown>,
    /// How much to reserve; zero once reserved (or tried).
    reserve: usize,
    spans: [Span; MARKED_SPANS],
    count: usize,
}

/// The reserved range `[start, limit)`, of which `[start, end)` is usable and talc's.
#[derive(Clone, Copy)]
struct Grown {
    start: usize,
    end: usize,
    limit: usize,
    /// The heap as talc last returned it (its words may sit a little inside the range).
    heap: talc::Span,
}

impl Spans {
    const fn new(reserve: usize) -> Self {
        Self {
            grown: None,
            reserve,
            spans: [Span::EMPTY; MARKED_SPANS],
            count: 0,
        }
    }

    /// Notes that `[at, at + len)` is handed out; returns whether none of it ever was, nor
    /// written but by talc.
    fn hand_out(&mut self, at: usize, len: usize) -> bool {
        let end = at + len;
        self.spans[..self.count]
            .iter_mut()
            .find(|s| s.start <= at && end <= s.end)
            .is_some_and(|s| {
                let fresh = at >= s.fresh;
                s.fresh = s.fresh.max(end);
                fresh
            })
    }

    /// Notes a span of the heap that starts fresh, or the reserved range's span grown.
    fn note(&mut self, start: usize, end: usize) {
        if let Some(s) = self.spans[..self.count]
            .iter_mut()
            .find(|s| s.start == start)
        {
            s.end = end;
        } else if self.count < MARKED_SPANS {
            self.spans[self.count] = Span {
                start,
                end,
                fresh: start,
            };
            self.count += 1;
        }
    }
}

/// The address range reserved for the heap at its first allocation (64 GiB; half as much
/// as many times as needed where `ulimit -v` refuses it): address space only, made usable
/// (and charged to the process) a part at a time as the heap grows.
const RESERVE: usize = 64 << 30;

impl talc::OomHandler for Spans {
    fn handle_oom(talc: &mut talc::Talc<Self>, layout: Layout) -> Result<(), ()> {
        // Room for the block, its alignment and talc's own words, in whole huge pages.
        let need = layout
            .size()
            .checked_add(layout.align() + HUGE_PAGE)
            .ok_or(())?
            .next_multiple_of(HUGE_PAGE)
            .max(SPAN);
        let spans = &mut talc.oom_handler;
        if spans.reserve > 0 {
            // Less where the address space is limited (`ulimit -v`): half as much each
            // time, down to a span.
            let mut size = core::mem::take(&mut spans.reserve);
            spans.grown = loop {
                if let Some(start) = reserve(size) {
                    break Some(Grown {
                        start,
                        end: start,
                        limit: start + size,
                        heap: talc::Span::empty(),
                    });
                }
                size /= 2;
                if size < SPAN {
                    break None;
                }
            };
        }
        if let Some(g) = spans.grown {
            let end = g.end.checked_add(need).filter(|&end| end <= g.limit);
            if let Some(end) = end.filter(|&end| commit(g.end, end - g.end)) {
                // The old last huge page advised too, though talc's word has made small
                // pages of it already.
                advise_but_last(g.end.saturating_sub(HUGE_PAGE).max(g.start), end);
                let span = talc::Span::new(g.start as *mut u8, end as *mut u8);
                // SAFETY: the range is mapped, writable, and used by nothing but talc; the
                // old heap is the one talc returned, which the new one contains.
                let heap = unsafe {
                    if g.heap.is_empty() {
                        talc.claim(span)?
                    } else {
                        talc.extend(g.heap, span)
                    }
                };
                let spans = &mut talc.oom_handler;
                spans.grown = Some(Grown { end, heap, ..g });
                spans.note(g.start, end);
                return Ok(());
            }
        }
        let start = map(need, libc::PROT_READ | libc::PROT_WRITE, 0).ok_or(())?;
        advise_but_last(start, start + need);
        // SAFETY: the span is mapped, writable, and used by nothing but talc.
        unsafe { talc.claim(talc::Span::from_base_size(start as *mut u8, need)) }?;
        talc.oom_handler.note(start, start + need);
        Ok(())
    }
}

/// Reserves `size` bytes of address space on a huge page boundary, not yet usable.
fn reserve(size: usize) -> Option<usize> {
    map(size, libc::PROT_NONE, libc::MAP_NORESERVE)
}

/// Makes `[at, at + len)` of the reserved range usable; whether it could.
fn commit(at: usize, len: usize) -> bool {
    // SAFETY: the range lies in the reservation, which nothing else uses.
    unsafe {
        libc::mprotect(
            at as *mut libc::c_void,
            len,
            libc::PROT_READ | libc::PROT_WRITE,
        ) == 0
    }
}

/// Advises huge pages for `[from, end)` but its last huge page (module docs).
fn advise_but_last(from: usize, end: usize) {
    advise(from as *mut u8, end - HUGE_PAGE - from);
}

/// Maps `size` bytes of fresh memory starting on a huge page boundary, with protection
/// `prot` and the extra `flags`.
fn map(size: usize, prot: libc::c_int, flags: libc::c_int) -> Option<usize> {
    let len = size.checked_add(HUGE_PAGE)?;
    // SAFETY: a fresh private anonymous mapping, of which only the unused head and tail
    // are unmapped again.
    unsafe {
        let map = libc::mmap(
            core::ptr::null_mut(),
            len,
            prot,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | flags,
            -1,
            0,
        );
        if map == libc::MAP_FAILED {
            return None;
        }
        let map = map as usize;
        let start = map.next_multiple_of(HUGE_PAGE);
        if start > map {
            libc::munmap(map as *mut libc::c_void, start - map);
        }
        let tail = map + len - (start + size);
        if tail > 0 {
            libc::munmap((start + size) as *mut libc::c_void, tail);
        }
        Some(start)
    }
}

/// A block from talc, and whether it is fresh ([`Spans::hand_out`]); `None` where there
/// is no memory for it.
///
/// # Safety
/// `layout` is not empty.
unsafe fn take(talc: &mut talc::Talc<Spans>, layout: Layout) -> Option<(*mut u8, bool)> {
    // SAFETY: the caller's promise.
    let p = unsafe { talc.malloc(layout) }.ok()?.as_ptr();
    Some((p, talc.oom_handler.hand_out(p as usize, layout.size())))
}

// SAFETY: every block comes from talc, which hands out each byte to one block at a time;
// `alloc_zeroed` clears all of a block but what the system zeroed and no one has written.
unsafe impl GlobalAlloc for SpanHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: GlobalAlloc's callers ask for no empty block.
        unsafe { take(&mut self.0.lock(), layout) }.map_or(core::ptr::null_mut(), |(p, _)| p)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        let Some((p, fresh)) = (unsafe { take(&mut self.0.lock(), layout) }) else {
            return core::ptr::null_mut();
        };
        let n = layout.size();
        // SAFETY: the block is the caller's, `n` bytes from `p`.
        unsafe {
            if fresh && n > 2 * EDGE {
                p.write_bytes(0, EDGE);
                p.add(n - EDGE).write_bytes(0, EDGE);
            } else {
                p.write_bytes(0, n);
            }
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this heap with `layout` (GlobalAlloc's contract).
        unsafe { self.0.lock().free(NonNull::new_unchecked(ptr), layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY (all blocks below): `ptr` came from this heap with `layout`, and
        // `new_size` is not zero (GlobalAlloc's contract).
        let old = unsafe { NonNull::new_unchecked(ptr) };
        let mut talc = self.0.lock();
        if new_size <= layout.size() {
            unsafe { talc.shrink(old, layout, new_size) };
            return ptr;
        }
        if let Ok(p) = unsafe { talc.grow_in_place(old, layout, new_size) } {
            talc.oom_handler.hand_out(p.as_ptr() as usize, new_size);
            return p.as_ptr();
        }
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let Some((new, _)) = (unsafe { take(&mut talc, new_layout) }) else {
            return core::ptr::null_mut();
        };
        // The copy without the lock: the other thread may allocate meanwhile.
        drop(talc);
        unsafe { new.copy_from_nonoverlapping(ptr, layout.size()) };
        unsafe { self.0.lock().free(old, layout) };
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Zeroed blocks come back zero whatever was freed before them, fresh or reused, small
    /// or spanning huge pages, through shrinking and growing blocks; and no two live blocks
    /// overlap (each is filled with its own byte and checked before it is freed). With room
    /// to grow in one range, and with a range that a block larger than it sends to a span
    /// of its own.
    #[test]
    fn zeroed_blocks_are_zero_and_blocks_stay_apart() {
        mixed_blocks(&SpanHeap::new());
        mixed_blocks(&SpanHeap::reserving(SPAN));
    }

    fn mixed_blocks(heap: &SpanHeap) {
        let mut live: Vec<(*mut u8, Layout, u8)> = Vec::new();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |m: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % m as u64) as usize
        };
        let check = |p: *mut u8, n: usize, byte: u8| {
            // SAFETY: a live block of `n` bytes.
            let block = unsafe { core::slice::from_raw_parts(p, n) };
            assert!(block.iter().all(|&b| b == byte), "a block was overwritten");
        };
        for round in 0..2000 {
            // One block larger than a span, which maps a second one.
            let size = match next(4) {
                _ if round == 1000 => SPAN + 1,
                0 => 1 + next(64),
                1 => 1 + next(8192),
                2 => 1 + next(1 << 20),
                _ => 1 + next(3 << 20),
            };
            let align = 1 << next(7);
            let layout = Layout::from_size_align(size, align).unwrap();
            let byte = (round % 251 + 1) as u8;
            match next(5) {
                0 | 1 => {
                    // SAFETY: a non-empty layout.
                    let p = unsafe { heap.alloc_zeroed(layout) };
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0);
                    check(p, size, 0);
                    unsafe { p.write_bytes(byte, size) };
                    live.push((p, layout, byte));
                }
                2 => {
                    let p = unsafe { heap.alloc(layout) };
                    assert!(!p.is_null());
                    unsafe { p.write_bytes(byte, size) };
                    live.push((p, layout, byte));
                }
                3 if !live.is_empty() => {
                    let (p, old, b) = live.swap_remove(next(live.len()));
                    // SAFETY: a live block of this heap; a non-zero size.
                    let q = unsafe { heap.realloc(p, old, size) };
                    assert!(!q.is_null());
                    check(q, size.min(old.size()), b);
                    unsafe { q.write_bytes(byte, size) };
                    live.push((q, Layout::from_size_align(size, old.align()).unwrap(), byte));
                }
                _ if !live.is_empty() => {
                    let (p, layout, b) = live.swap_remove(next(live.len()));
                    check(p, layout.size(), b);
                    unsafe { heap.dealloc(p, layout) };
                }
                _ => {}
            }
            if live.len() > 40 {
                let (p, layout, b) = live.swap_remove(0);
                check(p, layout.size(), b);
                unsafe { heap.dealloc(p, layout) };
            }
        }
        for (p, layout, b) in live {
            check(p, layout.size(), b);
            unsafe { heap.dealloc(p, layout) };
        }
    }
}
