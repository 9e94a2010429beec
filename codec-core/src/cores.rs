//! How many threads a piece of work is worth. walloc-core itself runs everywhere on one
//! thread; natively (never in wasm) its heaviest loops share their rows or planes out
//! among the cores with scoped threads, and each says how much work it has.

/// Threads worth using for `work` (values touched, or multiply-adds): one per core, but
/// only above 2^16, where a thread's start (tens of µs) is small beside the work.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn threads_for(work: usize) -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    if work < 1 << 16 {
        return 1;
    }
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// In wasm there is one thread.
#[cfg(target_arch = "wasm32")]
pub(crate) fn threads_for(_work: usize) -> usize {
    1
}

/// Runs `f(i, part)` for every part, the i-th: natively each on a scoped thread of its
/// own when there are several, in order otherwise (always, in wasm). Callers cut their
/// work into [`threads_for`] parts.
pub(crate) fn each_part<T: Send>(parts: impl IntoIterator<Item = T>, f: impl Fn(usize, T) + Sync) {
    let parts: alloc::vec::Vec<T> = parts.into_iter().collect();
    #[cfg(not(target_arch = "wasm32"))]
    if parts.len() > 1 {
        std::thread::scope(|s| {
            let f = &f;
            for (i, part) in parts.into_iter().enumerate() {
                s.spawn(move || f(i, part));
            }
        });
        return;
    }
    for (i, part) in parts.into_iter().enumerate() {
        f(i, part);
    }
}

/// Cuts `output` into units of `unit` values and hands each core an even run of them:
/// `f(first unit, its values)`. Every unit is computed the same way wherever it runs,
/// so the result does not depend on the thread count; in wasm it is one run.
pub(crate) fn in_parts<T: Send>(output: &mut [T], unit: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    let work = output.len();
    in_parts_of_work(output, unit, work, f)
}

/// [`in_parts`] where the threads are chosen for `work`, not for the number of values:
/// for items that each stand for much work (a transform's planes, say).
pub(crate) fn in_parts_of_work<T: Send>(
    output: &mut [T],
    unit: usize,
    work: usize,
    f: impl Fn(usize, &mut [T]) + Sync,
) {
    let units = output.len() / unit;
    let threads = threads_for(work).clamp(1, units.max(1));
    let per = units.div_ceil(threads).max(1);
    each_part(output.chunks_mut(per * unit), |i, part| f(i * per, part));
}

/// A buffer of `len` values that [`in_parts_of_work`] fills: each part is zeroed, then
/// handed to `f`, on the core that computes it. A buffer made whole first (`vec![0; len]`)
/// is zeroed on the calling thread alone, and that first touch of fresh memory is most of
/// its cost on this project's machine (about 0.2 ms per MB): the forward transform's
/// first buffer spent about 1 ms of a 15 ms `walloc encode` there, with one core idle.
pub(crate) fn filled_in_parts<T: Copy + Default + Send>(
    len: usize,
    unit: usize,
    work: usize,
    f: impl Fn(usize, &mut [T]) + Sync,
) -> alloc::vec::Vec<T> {
    let mut out = alloc::vec::Vec::with_capacity(len);
    in_parts_of_work(
        &mut out.spare_capacity_mut()[..len],
        unit,
        work,
        |first, part| f(first, zeroed(part)),
    );
    // SAFETY: the parts cover all `len` values, and each was written by `zeroed`.
    unsafe { out.set_len(len) };
    out
}

/// `part` with every value written (`T::default()`), as initialised values: for memory
/// first touched by the thread that goes on to compute it ([`filled_in_parts`]).
pub(crate) fn zeroed<T: Copy + Default>(part: &mut [core::mem::MaybeUninit<T>]) -> &mut [T] {
    for v in part.iter_mut() {
        v.write(T::default());
    }
    // SAFETY: every value was just written, and `MaybeUninit<T>` has `T`'s layout.
    unsafe { &mut *(part as *mut [core::mem::MaybeUninit<T>] as *mut [T]) }
}

/// Defines a function whose body is compiled twice, for the baseline and for AVX2, and
/// runs the AVX2 copy where the CPU has it: loops over floats then work on eight at a
/// time instead of four. Same operations (no fused multiply-add), same results. What the
/// body calls must be `#[inline(always)]` to be compiled for AVX2 with it. A whole
/// function, not a closure handed to an AVX2 frame: the optimiser did not inline such
/// closures (the wavelet loops and the decoder's transforms ran four-wide that way).
macro_rules! wide_vectors {
    ($(#[$meta:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                fn avx2($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU was just found to have AVX2.
                    return unsafe { avx2($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}
pub(crate) use wide_vectors;
