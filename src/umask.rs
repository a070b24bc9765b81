//! The process's file mode creation mask, read without changing it.
//!
//! `umask(2)` can only be read by setting it; set and put back while another
//! thread creates a file, that file gets the wrong mode (the launcher's
//! helper opens caches on worker threads while others restore outputs).
//! So `main` probes it once, first thing, while the process has one thread
//! (see [`init`]: two system calls, where reading /proc would cost a
//! launcher call an open and a read); a process that did not (tests, other
//! users of the library) reads `/proc/self/status` (Linux 4.7+).

use std::sync::OnceLock;

static UMASK: OnceLock<u32> = OnceLock::new();

/// Reads the mask for [`current`]; call at the start of `main`, before any
/// thread is started.
pub fn init() {
    let _ = UMASK.get_or_init(probe_by_setting);
}

/// The process's umask, as it was when first asked for (nothing in zccache
/// changes it).
pub fn current() -> u32 {
    // Without /proc and without `init`: the usual mask, rather than a probe
    // that could race with another thread.
    *UMASK.get_or_init(|| from_proc().unwrap_or(0o022))
}

/// The `Umask:` line of /proc/self/status.
fn from_proc() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let value = status
        .lines()
        .find_map(|line| line.strip_prefix("Umask:"))?;
    u32::from_str_radix(value.trim(), 8).ok()
}

fn probe_by_setting() -> u32 {
    // SAFETY: umask only swaps the process's mask; it is set straight back,
    // and this runs while the process has a single thread.
    unsafe {
        let old = libc::umask(0o022);
        libc::umask(old);
        old as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proc_value_is_the_mask() {
        let read = from_proc().expect("/proc/self/status has a Umask line");
        assert_eq!(read, probe_by_setting());
        assert_eq!(current(), read);
    }
}
