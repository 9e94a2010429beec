//! glibc's allocator tuned for walloc's few large buffers.
//!
//! By default glibc maps each large buffer fresh and hands it back to the kernel when it
//! is freed, so every layer and transform level faults its memory in again, 4 KiB at a
//! time: a third of a `walloc decode`'s time went to the kernel. Transparent huge pages
//! for the heap and keeping freed memory (glibc tunables) took `walloc encode` from 123 to
//! 87 ms and `walloc decode` from 174 to 155 ms on the project's machine
//! (docs/performance.md). Tunables are read
//! only when a process starts, so `walloc` starts itself again with them, once: a
//! `GLIBC_TUNABLES` already in the environment, even empty, is left as it is (and is how
//! to opt out). Other C libraries ignore the variable.

/// Huge pages for malloc'd memory; nothing mapped apart or trimmed below 512 MiB / 1 GiB.
pub const TUNABLES: &str = "glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=536870912:glibc.malloc.trim_threshold=1073741824";

/// Replaces this process with itself, the tunables set, unless they are set already or
/// this is not Linux with glibc. Returns only where it does nothing (or exec fails, when
/// walloc simply runs untuned).
pub fn restart_tuned() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;
        if std::env::var_os("GLIBC_TUNABLES").is_some() {
            return;
        }
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        let mut args = std::env::args_os();
        let mut command = std::process::Command::new(exe);
        if let Some(arg0) = args.next() {
            command.arg0(arg0);
        }
        let _failed = command.args(args).env("GLIBC_TUNABLES", TUNABLES).exec();
    }
}

/// The environment for a program walloc runs (`eval`'s peers): without walloc's own
/// tunables, so that their timings are their own.
pub fn untuned(command: &mut std::process::Command) -> &mut std::process::Command {
    if std::env::var_os("GLIBC_TUNABLES").is_some_and(|v| v == TUNABLES) {
        command.env_remove("GLIBC_TUNABLES");
    }
    command
}
