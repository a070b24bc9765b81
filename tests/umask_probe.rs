//! Reading the umask never changes it, even for a moment: files another
//! thread creates meanwhile get the mode the umask gives (the launcher's
//! helper opens caches on worker threads while others restore outputs).
//! Its own test binary, as it sets the process's umask.

use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::sync::atomic::{AtomicBool, Ordering};

#[test]
fn files_made_while_the_umask_is_read_keep_their_mode() {
    // SAFETY: this binary's only test; no other thread exists yet.
    unsafe { libc::umask(0o077) };
    let dir = tempfile::tempdir().unwrap();
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                assert_eq!(zccache::umask::current(), 0o077);
            }
        });
        for n in 0..20_000 {
            let path = dir.path().join(format!("f{}", n % 64));
            let _ = std::fs::remove_file(&path);
            let file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o666)
                .open(&path)
                .unwrap();
            let mode = file.metadata().unwrap().permissions().mode() & 0o777;
            if mode != 0o600 {
                done.store(true, Ordering::Relaxed);
                panic!("a file made while the umask was read got mode {mode:o}");
            }
        }
        done.store(true, Ordering::Relaxed);
    });
}
