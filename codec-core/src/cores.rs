//! How many threads a piece of work is worth, and how they are started. walloc-core runs
//! everywhere on one thread; natively (never in wasm) its heaviest loops share their rows
//! or planes out among the cores, each part but the caller's on a thread of its own that
//! starts on another core, and each loop says how much work it has.

/// Threads worth using for `work` (values touched, or multiply-adds): one per core, but
/// only above 2^16, where a thread's start (tens of µs) is small beside the work.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn threads_for(work: usize) -> usize {
    if work < 1 << 16 {
        return 1;
    }
    cores()
}

/// The cores this process may use, found on first use and kept: the scheduler's
/// affinity and the container's CPU quota, a handful of system calls (50–80 µs here),
/// which a caller with a thread waiting on something else can pay there, off the path
/// to its first parallel step (`walloc encode` does, while the input is read). The
/// affinity read is the calling thread's, so the first call comes before this module
/// starts any thread ([`spawn_elsewhere`] makes it), as those may not run on their
/// caller's core: counted on one of them, it was one (a 5.5 ms `walloc encode` took 7.7).
#[cfg(not(target_arch = "wasm32"))]
pub fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// In wasm there is one core.
#[cfg(target_arch = "wasm32")]
pub fn cores() -> usize {
    1
}

/// In wasm there is one thread.
#[cfg(target_arch = "wasm32")]
pub(crate) fn threads_for(_work: usize) -> usize {
    1
}

/// Runs `f(i, part)` for every part, the i-th: natively part 0 on the calling thread and
/// the other parts beside it, two parts as [`join`] runs them (the second on the
/// [`helper`]), more each on a thread of its own started off the caller's core
/// ([`spawn_elsewhere`]); in order when there is one part, and always in wasm. Callers cut
/// their work into [`threads_for`] parts.
pub(crate) fn each_part<T: Send>(parts: impl IntoIterator<Item = T>, f: impl Fn(usize, T) + Sync) {
    let parts: alloc::vec::Vec<T> = parts.into_iter().collect();
    #[cfg(not(target_arch = "wasm32"))]
    if parts.len() > 1 {
        let f = &f;
        let mut parts = parts.into_iter().enumerate();
        let (_, first) = parts.next().expect("several parts");
        if parts.len() == 1 {
            let (i, second) = parts.next().expect("two parts");
            join(|| f(0, first), || f(i, second));
            return;
        }
        let mut others = Joined(alloc::vec::Vec::new());
        for (i, part) in parts {
            others.0.push(spawn_elsewhere(move || f(i, part)));
        }
        f(0, first);
        others.join();
        return;
    }
    for (i, part) in parts.into_iter().enumerate() {
        f(i, part);
    }
}

/// Runs `a` on the calling thread and `b` beside it, on the [`helper`] thread (or, where
/// it is busy, on a thread started off the caller's core: [`spawn_elsewhere`]), and
/// returns both results; a panic in `b` is passed on once both have finished. In wasm,
/// one after the other.
pub fn join<A, B: Send>(a: impl FnOnce() -> A, b: impl FnOnce() -> B + Send) -> (A, B) {
    #[cfg(not(target_arch = "wasm32"))]
    {
        let (mut b, mut out) = (Some(b), None);
        let job = || out = b.take().map(|b| b());
        // SAFETY: `running` is finished, or dropped while `a` unwinds, before `b` and
        // `out` go out of scope.
        if let Some(running) = unsafe { helper::start(job) } {
            let a = a();
            running.finish();
            return (a, out.expect("the helper ran the job"));
        }
        let b = b.take().expect("not run by the helper");
        let mut other = Joined(alloc::vec::Vec::new());
        other.0.push(spawn_elsewhere(b));
        let a = a();
        let b = other.join().pop().expect("one thread");
        (a, b)
    }
    #[cfg(target_arch = "wasm32")]
    {
        (a(), b())
    }
}

/// Lets the [`helper`] thread sleep now instead of checking for a next job: for a caller
/// whose last parallel step is done (a command about to end). A process ending while a
/// thread checks in a `sched_yield` loop ended 0.1 ms later than with it asleep (a C
/// program); in a whole 741×500 `walloc encode` the gain was within the noise (5.05 →
/// 5.03 ms, fresh copies). The next step wakes it as usual. Nothing where no helper was
/// started.
pub fn rest() {
    #[cfg(not(target_arch = "wasm32"))]
    helper::rest();
}

/// Starts the [`helper`] thread now rather than at the first parallel step, for a
/// command that will have one: the thread's start, and the CPU's features read while it
/// waits, then go beside what the caller does meanwhile (a command's arguments parsed)
/// instead of before the step's first half. A 741×500 `walloc encode`'s two halves,
/// the model's load and the input's read, began 0.13 ms after the step did, while the
/// helper was started. Nothing in wasm.
pub fn start_helper() {
    #[cfg(not(target_arch = "wasm32"))]
    helper::start_now();
}

/// Threads that may borrow from the frame that started them: all joined before that
/// frame is left, by [`Joined::join`] or, while unwinding, by the drop.
#[cfg(not(target_arch = "wasm32"))]
struct Joined<T>(alloc::vec::Vec<std::thread::JoinHandle<T>>);

#[cfg(not(target_arch = "wasm32"))]
impl<T> Joined<T> {
    /// Waits for every thread and returns their results, or passes on the first panic
    /// among them once all have finished.
    fn join(mut self) -> alloc::vec::Vec<T> {
        let (mut out, mut panic) = (alloc::vec::Vec::new(), None);
        for handle in self.0.drain(..) {
            match handle.join() {
                Ok(v) => out.push(v),
                Err(p) => drop(panic.get_or_insert(p)),
            }
        }
        if let Some(p) = panic {
            std::panic::resume_unwind(p);
        }
        out
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl<T> Drop for Joined<T> {
    fn drop(&mut self) {
        for handle in self.0.drain(..) {
            let _ = handle.join();
        }
    }
}

/// Starts `f` on a new thread that may run on any of the process's cores but the
/// caller's.
///
/// Why: on this project's 2-core Linux VM (kernel 6.18) a new thread starts on its
/// parent's core. Mostly it is queued there, and while the parent keeps that core busy
/// the idle one often leaves it waiting for a millisecond or more, as long as a whole
/// parallel step: two 1 ms halves of a job ran one after the other in six trials of eight
/// (2.2 ms), and side by side (1.2 ms) once the child's affinity left out the parent's
/// core. Sometimes it runs at once instead, and then the parent waits for it. So the
/// affinity is set twice: by the parent on the queued thread, and by the thread itself
/// as its first act; the parent itself is never moved. Where it cannot be set, the
/// thread runs wherever the scheduler puts it.
///
/// The caller must join the thread before anything `f` borrows goes away: every caller
/// pushes the handle into a [`Joined`] at once.
#[cfg(not(target_arch = "wasm32"))]
fn spawn_elsewhere<'a, T: Send + 'a>(
    f: impl FnOnce() -> T + Send + 'a,
) -> std::thread::JoinHandle<T> {
    // Counted before any thread is kept off a core, so on a thread that may use them all
    // ([`cores`]).
    cores();
    #[cfg(target_os = "linux")]
    let elsewhere = affinity::all_but_this_core();
    let start = move || {
        #[cfg(target_os = "linux")]
        if let Some(cores) = &elsewhere {
            affinity::set(None, cores);
        }
        f()
    };
    // SAFETY: the handle goes straight into a `Joined`, which joins it before the
    // borrows in `f` end, on return and on unwinding alike.
    let handle = unsafe { std::thread::Builder::new().spawn_unchecked(start) }
        .expect("the system could not start a thread");
    #[cfg(target_os = "linux")]
    if let Some(cores) = &elsewhere {
        use std::os::unix::thread::JoinHandleExt;
        // std's handle is an integer; musl's `pthread_t` is a pointer.
        affinity::set(Some(handle.as_pthread_t() as libc::pthread_t), cores);
    }
    handle
}

/// Thread affinity through the C library (Linux).
#[cfg(target_os = "linux")]
mod affinity {
    /// A set of cores, as the system calls take it.
    #[derive(Clone, Copy)]
    pub(super) struct Cores(libc::cpu_set_t);

    /// The cores the calling thread may run on.
    fn this_thread() -> Option<Cores> {
        // SAFETY: an all-zero `cpu_set_t` is the empty set, and the call writes only it.
        unsafe {
            let mut mask: libc::cpu_set_t = core::mem::zeroed();
            (libc::sched_getaffinity(0, size_of_val(&mask), &mut mask) == 0).then_some(Cores(mask))
        }
    }

    /// The process's allowed cores less the calling thread's, where that leaves any.
    pub(super) fn all_but_this_core() -> Option<Cores> {
        let Cores(mut mask) = this_thread()?;
        // SAFETY: plain calls on a valid set.
        unsafe {
            // A core past the set's 1024 is left alone (the macros would index past it).
            let here = usize::try_from(libc::sched_getcpu()).ok()?;
            if here >= 8 * size_of_val(&mask) {
                return None;
            }
            libc::CPU_CLR(here, &mut mask);
            (libc::CPU_COUNT(&mask) > 0).then_some(Cores(mask))
        }
    }

    /// How many cores the calling thread may run on (0 where that cannot be read).
    #[cfg(test)]
    pub(super) fn allowed() -> usize {
        // SAFETY: a plain count of a valid set.
        this_thread().map_or(0, |Cores(mask)| unsafe { libc::CPU_COUNT(&mask) } as usize)
    }

    /// Restricts `thread` (the calling thread where `None`) to `cores`; a failure leaves
    /// it where it was allowed before.
    pub(super) fn set(thread: Option<libc::pthread_t>, cores: &Cores) {
        // SAFETY: the mask is a valid set; a `thread` given is running or not yet
        // joined (its handle is held), so its `pthread_t` is valid.
        unsafe {
            let size = size_of_val(&cores.0);
            match thread {
                Some(t) => libc::pthread_setaffinity_np(t, size, &cores.0),
                None => libc::sched_setaffinity(0, size, &cores.0),
            };
        }
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
///
/// A function may take one type parameter (`fn f<T: Bound>(...)`), as the entropy
/// coder's passes over symbols of either width do.
///
/// Written `wide_vectors! { avx512; fn ... }`, the body is compiled a third time, for
/// AVX-512, which runs where the CPU has it. Only for the functions measured faster so
/// (on this project's Zen 4 machine the rows' wavelet transform and the symbol search
/// took 13–16% less time; the columns' transform was no faster there, but on the later
/// Intel Xeon VM it took a 741×500 `walloc encode` from 5.89 to 5.80 ms, 400 shuffled
/// rounds; the decoder's synthesis was slower on Zen 4, and the entropy coder's contexts
/// on both), not across the board, and for the input rows' scaling, which it took from
/// the baseline build.
macro_rules! wide_vectors {
    (avx512; $($rest:tt)*) => {
        $crate::cores::wide_vectors!(@with [avx512] $($rest)*);
    };
    ($(#[$meta:meta])* $vis:vis fn $($rest:tt)*) => {
        $crate::cores::wide_vectors!(@with [] $(#[$meta])* $vis fn $($rest)*);
    };
    (@with [$($widest:ident)?] $(#[$meta:meta])* $vis:vis fn $name:ident $(<$g:ident: $bound:path>)? ($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name $(<$g: $bound>)? ($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body $(<$g: $bound>)? ($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                $crate::cores::wide_vectors!(@$($widest)? [$($g: $bound)?] ($($arg: $ty),*) $(-> $ret)?);
                #[target_feature(enable = "avx2")]
                fn avx2 $(<$g: $bound>)? ($($arg: $ty),*) $(-> $ret)? {
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
    // Without `avx512;`: no third copy.
    (@ [$($g:ident: $bound:path)?] ($($arg:ident: $ty:ty),*) $(-> $ret:ty)?) => {};
    (@avx512 [$($g:ident: $bound:path)?] ($($arg:ident: $ty:ty),*) $(-> $ret:ty)?) => {
        #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2")]
        fn avx512 $(<$g: $bound>)? ($($arg: $ty),*) $(-> $ret)? {
            body($($arg),*)
        }
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512dq")
        {
            // SAFETY: the CPU was just found to have these AVX-512 sets.
            return unsafe { avx512($($arg),*) };
        }
    };
}
pub(crate) use wide_vectors;

/// One thread kept for the process's parallel steps ([`join`], and [`each_part`] of two
/// parts): started on first use off the caller's core ([`spawn_elsewhere`]), it runs a
/// job, then waits for the next, checking for [`SPIN`] before it sleeps.
///
/// Why: a thread started per step cost its caller about 50 µs (the thread's stack, its
/// affinity) and began its part some 90 µs after the caller's, three times in a 741×500
/// `walloc encode`, more in a decode; a job handed to the waiting helper starts within
/// microseconds. Shuffled rounds on this project's 2-core VM: a 741×500 encode 5.82 →
/// 5.47 ms, its decode 47.8 → 46.4 ms (docs/performance.md).
///
/// One job at a time: a step that finds the helper busy (a step inside the helper's own
/// job, or two threads' steps at once) starts a thread as before. The waits check with
/// `yield_now`, not a busy spin, so that where both sides share one core the other runs.
/// Their checks cost CPU time, not wall time: the decode's 70 ms of CPU became 75 (with
/// 2 ms of checks before sleeping, 84).
#[cfg(not(target_arch = "wasm32"))]
mod helper {
    use alloc::boxed::Box;
    use core::cell::UnsafeCell;
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    use std::thread::Thread;
    use std::time::{Duration, Instant};

    /// The helper's states: no job; a job being handed over; a job to run or running;
    /// its end, until the caller has read it.
    const IDLE: u32 = 0;
    const CLAIMED: u32 = 1;
    const POSTED: u32 = 2;
    const DONE: u32 = 3;

    /// How long a waiting side checks before it sleeps: longer than most serial gaps
    /// between an encode's parallel steps (0.05–0.15 ms). 2 ms was no faster.
    const SPIN: Duration = Duration::from_micros(300);

    /// Set by [`rest`], cleared by the next job's [`start`]: the helper sleeps at once.
    static RESTING: AtomicBool = AtomicBool::new(false);

    pub(super) fn rest() {
        RESTING.store(true, Ordering::Relaxed);
    }

    type Job = Box<dyn FnOnce() + Send>;

    struct Helper {
        state: AtomicU32,
        /// The job, put by its caller between CLAIMED and POSTED, taken by the helper.
        job: UnsafeCell<Option<Job>>,
        /// The job's panic, put by the helper before DONE, taken by the caller.
        panic: UnsafeCell<Option<Box<dyn core::any::Any + Send>>>,
        /// The caller, to wake at DONE.
        caller: UnsafeCell<Option<Thread>>,
        thread: Thread,
    }

    // SAFETY: the cells are touched only by the side the state gives them to: the
    // caller from CLAIMED to POSTED and from DONE to IDLE, the helper from POSTED to
    // DONE, each hand-over a release store seen by an acquire load.
    unsafe impl Sync for Helper {}

    /// The helper, started on first use; `None` where it could not be.
    fn helper() -> Option<&'static Helper> {
        static HELPER: OnceLock<Option<&'static Helper>> = OnceLock::new();
        *HELPER.get_or_init(|| {
            let (tx, rx) = std::sync::mpsc::channel::<&'static Helper>();
            let handle = super::spawn_elsewhere(move || {
                if let Ok(helper) = rx.recv() {
                    serve(helper);
                }
            });
            let helper: &'static Helper = Box::leak(Box::new(Helper {
                state: AtomicU32::new(IDLE),
                job: UnsafeCell::new(None),
                panic: UnsafeCell::new(None),
                caller: UnsafeCell::new(None),
                thread: handle.thread().clone(),
            }));
            tx.send(helper).ok()?;
            // Detached: it serves until the process ends.
            drop(handle);
            Some(helper)
        })
    }

    /// Returns once `state` is `want`: checked for [`SPIN`] (unless `may_rest` and
    /// [`rest`] was called), yielding the core between checks, then between sleeps (the
    /// other side unparks this thread).
    fn wait(state: &AtomicU32, want: u32, may_rest: bool) {
        let start = Instant::now();
        while state.load(Ordering::Acquire) != want {
            if start.elapsed() < SPIN && !(may_rest && RESTING.load(Ordering::Relaxed)) {
                std::thread::yield_now();
            } else {
                std::thread::park();
            }
        }
    }

    pub(super) fn start_now() {
        helper();
    }

    fn serve(helper: &'static Helper) -> ! {
        // Read once per process, and by the first job's caller otherwise (54 µs of
        // `CPUID`s on this project's VM, where each one leaves the guest).
        #[cfg(target_arch = "x86_64")]
        let _ = std::arch::is_x86_feature_detected!("avx2");
        loop {
            wait(&helper.state, POSTED, true);
            // SAFETY: POSTED gives the cells to this thread until DONE.
            let job = unsafe { (*helper.job.get()).take() };
            let result =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.map(|j| j())));
            // SAFETY: as above.
            let caller = unsafe {
                *helper.panic.get() = result.err();
                (*helper.caller.get()).take()
            };
            helper.state.store(DONE, Ordering::Release);
            if let Some(caller) = caller {
                caller.unpark();
            }
        }
    }

    /// A job the helper runs, which may borrow from its caller's frame: [`finish`]
    /// (Self::finish), or the drop while that frame unwinds, waits for the job's end.
    pub(super) struct Running {
        helper: &'static Helper,
    }

    impl Running {
        /// Waits for the job's end and passes on its panic.
        pub(super) fn finish(self) {
            let panic = self.end();
            core::mem::forget(self);
            if let Some(p) = panic {
                std::panic::resume_unwind(p);
            }
        }

        /// Waits for the job's end, frees the helper, and gives the job's panic.
        fn end(&self) -> Option<Box<dyn core::any::Any + Send>> {
            wait(&self.helper.state, DONE, false);
            // SAFETY: DONE gives the cells back to the caller until IDLE.
            let panic = unsafe { (*self.helper.panic.get()).take() };
            self.helper.state.store(IDLE, Ordering::Release);
            panic
        }
    }

    impl Drop for Running {
        /// While the caller unwinds from a panic of its own, the job's is dropped.
        fn drop(&mut self) {
            drop(self.end());
        }
    }

    /// Hands `job` to the helper, or gives `None` (and drops `job` unrun) where the helper
    /// is busy or could not be started.
    ///
    /// # Safety
    /// What `job` borrows must outlive the [`Running`] returned, which must not be
    /// forgotten: it is what waits for the job's end (as [`super::Joined`] joins).
    pub(super) unsafe fn start<'a>(job: impl FnOnce() + Send + 'a) -> Option<Running> {
        let helper = helper()?;
        helper
            .state
            .compare_exchange(IDLE, CLAIMED, Ordering::Acquire, Ordering::Relaxed)
            .ok()?;
        RESTING.store(false, Ordering::Relaxed);
        let job: Box<dyn FnOnce() + Send + 'a> = Box::new(job);
        // SAFETY: the caller keeps what the job borrows until the job has ended.
        let job: Job = unsafe { core::mem::transmute(job) };
        // SAFETY: CLAIMED gives the cells to this thread until POSTED.
        unsafe {
            *helper.job.get() = Some(job);
            *helper.caller.get() = Some(std::thread::current());
        }
        helper.state.store(POSTED, Ordering::Release);
        helper.thread.unpark();
        Some(Running { helper })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn every_part_runs_once_with_its_index() {
        for n in [1, 2, 3, 7] {
            let seen: alloc::vec::Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
            each_part((0..n).map(|i| i * 10), |i, part| {
                assert_eq!(part, i * 10);
                seen[i].fetch_add(1, Ordering::SeqCst);
            });
            assert!(
                seen.iter().all(|c| c.load(Ordering::SeqCst) == 1),
                "{n} parts"
            );
        }
    }

    #[test]
    fn join_returns_both_results_and_borrows_from_the_caller() {
        let data = alloc::vec![1u64, 2, 3, 4];
        let (a, b) = join(
            || data[..2].iter().sum::<u64>(),
            || data[2..].iter().sum::<u64>(),
        );
        assert_eq!((a, b), (3, 7));
    }

    #[test]
    fn a_panic_on_another_thread_reaches_the_caller_after_every_part_ends() {
        let finished = AtomicUsize::new(0);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            each_part(0..3, |i, _| {
                if i == 2 {
                    panic!("part two");
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
                finished.fetch_add(1, Ordering::SeqCst);
            })
        }));
        let message = *caught.unwrap_err().downcast::<&str>().unwrap();
        assert_eq!(message, "part two");
        assert_eq!(finished.load(Ordering::SeqCst), 2);
        let caught = std::panic::catch_unwind(|| join(|| 1, || -> u8 { panic!("other") }));
        assert_eq!(*caught.unwrap_err().downcast::<&str>().unwrap(), "other");
    }

    /// The thread `join` ran its second job on, for each of `n` joins in a row.
    #[cfg(not(target_arch = "wasm32"))]
    fn second_job_threads(n: usize) -> alloc::vec::Vec<std::thread::ThreadId> {
        let caller = std::thread::current().id();
        (0..n)
            .map(|i| {
                let (a, (b, id)) = join(|| i, || (i + 1, std::thread::current().id()));
                assert_eq!((a, b), (i, i + 1));
                assert_ne!(id, caller, "the second job ran beside the caller");
                id
            })
            .collect()
    }

    #[test]
    #[cfg(not(target_arch = "wasm32"))]
    fn joins_in_a_row_reuse_one_helper_thread() {
        // Other tests hold the helper now and then (they run in parallel, some for tens
        // of milliseconds), and a join that finds it busy starts a thread: so runs of 20
        // joins are tried until one shares a thread among most of its joins.
        for _ in 0..100 {
            let ids = second_job_threads(20);
            let most = ids
                .iter()
                .map(|id| ids.iter().filter(|&other| other == id).count())
                .max()
                .unwrap_or(0);
            if most >= 10 {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("no run of 20 joins shared a thread among 10 of them");
    }

    /// A helper sent to sleep by `rest` still takes the next join's second job.
    #[test]
    #[cfg(not(target_arch = "wasm32"))]
    fn joins_after_rest_still_run_beside_the_caller() {
        for _ in 0..5 {
            rest();
            std::thread::sleep(std::time::Duration::from_millis(1));
            assert_eq!(second_job_threads(2).len(), 2);
        }
    }

    #[test]
    #[cfg(not(target_arch = "wasm32"))]
    fn joins_inside_joins_and_on_several_threads_at_once_all_run() {
        // The inner join finds the helper busy with the outer job's second half.
        let (a, (b, c)) = join(|| 1, || join(|| 2, || 3));
        assert_eq!((a, b, c), (1, 2, 3));
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| second_job_threads(50));
            }
        });
    }

    #[test]
    #[cfg(not(target_arch = "wasm32"))]
    fn a_panic_on_either_side_of_a_join_waits_for_the_other_and_frees_the_helper() {
        for caller_panics in [false, true] {
            let finished = AtomicUsize::new(0);
            let slow = || {
                std::thread::sleep(std::time::Duration::from_millis(20));
                finished.fetch_add(1, Ordering::SeqCst);
            };
            let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                if caller_panics {
                    join(|| panic!("caller"), slow);
                } else {
                    join(slow, || panic!("helper"));
                }
            }));
            let message = *caught.unwrap_err().downcast::<&str>().unwrap();
            assert_eq!(message, if caller_panics { "caller" } else { "helper" });
            assert_eq!(
                finished.load(Ordering::SeqCst),
                1,
                "the other side ended first"
            );
        }
        assert_eq!(second_job_threads(3).len(), 3);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn the_other_parts_may_run_anywhere_but_the_callers_core() {
        let cores = affinity::allowed();
        let seen: alloc::vec::Vec<AtomicUsize> = (0..3).map(|_| AtomicUsize::new(0)).collect();
        each_part(0..3, |i, _| {
            seen[i].store(affinity::allowed(), Ordering::SeqCst)
        });
        assert_eq!(
            seen[0].load(Ordering::SeqCst),
            cores,
            "the caller stays where it was allowed"
        );
        for part in &seen[1..] {
            assert_eq!(part.load(Ordering::SeqCst), cores.saturating_sub(1).max(1));
        }
    }
}
