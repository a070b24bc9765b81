//! A long-lived per-user helper that serves launcher calls, so a hit costs
//! one process start and one round trip instead of opening the cache, and
//! a miss costs two round trips around the compile.
//!
//! The first launcher call that finds no live helper starts one (detached,
//! in its own session) and does its own work alone, as every call does
//! whenever the helper is absent, stale, killed, slow or speaks another
//! protocol: the helper is an optimization, never a dependency.
//!
//! One helper serves one *fingerprint*: this zccache binary, the user, the
//! umask and every environment variable (less a few that only describe the
//! calling make, see [`IGNORED_ENV`]; a variable the user wants ignored is
//! removed from the environment first, see src/unset_env.rs). A helper is started by a client
//! with the client's own environment and serves only clients whose
//! fingerprint equals its own, so the environment the cache reads (the
//! compiler variables, PATH, the ZCCACHE_* settings, the cache dir) is the
//! client's by construction; a client with another environment talks to
//! another helper. The helper keeps one cache per build dir open across
//! requests (the most recently used [`server::OPEN_CACHES`] of them), but
//! revalidates as a new process would: settings and build
//! roots read again, tool identities checked against their files again,
//! every remembered file and directory checked by stat. What it saves: the
//! client opening the cache, the re-reading and re-hashing of files whose
//! stat did not change, and the statistics update, which it writes in
//! batches off the clients' path.
//!
//! On a miss the helper does the cache's side too: it answers with the
//! arguments to add (a private depfile, named in the private socket dir),
//! the client runs the compiler itself (as its child: its stdin, terminal,
//! jobserver and environment) and sends back what it printed and whether
//! it succeeded, on the same connection. The helper reads the outputs and
//! depfiles, answers, and then stores the result with the header hashes and
//! directory listings it holds in memory; its lookups of the same step wait
//! for that store. A client that dies before reporting closes the
//! connection, and nothing is stored.
//!
//! The socket lives in a private directory (`$XDG_RUNTIME_DIR/zccache-UID`,
//! else `/tmp/zccache-UID`, mode 0700, owned by the user: anything else is
//! refused), checked on an open descriptor and reached only through it;
//! both ends check that the other is this user (`SO_PEERCRED`), and a
//! client adds to the tool's arguments only what the protocol defines (a
//! private depfile in that dir, the build's prefix maps). A helper that
//! does not acknowledge a request at once (stopped, stuck) is left alone
//! for a while. Warnings the cache has while serving a call are sent back
//! to it. `ZCCACHE_DAEMON=0` turns the helper off, and it exits after
//! `ZCCACHE_DAEMON_IDLE_SECS` (default 600) seconds without a request.

pub mod client;
pub mod protocol;
pub mod recent;
pub mod server;

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

/// The hidden first argument that makes zccache run as the helper.
pub const SERVE_ARG: &str = "--zccache-internal-daemon";

/// Set to `0` to never use the helper.
pub const DISABLE_ENV: &str = "ZCCACHE_DAEMON";

/// Seconds without a request after which the helper exits.
pub const IDLE_ENV: &str = "ZCCACHE_DAEMON_IDLE_SECS";
const DEFAULT_IDLE_SECS: u64 = 600;

/// Variables that describe the calling make or shell, not the compile, and
/// that the cache never reads: a recursive make must not need one helper
/// per level.
pub const IGNORED_ENV: &[&str] = &[
    "MAKEFLAGS",
    "MFLAGS",
    "MAKELEVEL",
    "MAKEOVERRIDES",
    "MAKE_TERMOUT",
    "MAKE_TERMERR",
    "PWD",
    "OLDPWD",
    "SHLVL",
    "_",
];

/// No more helpers than this per user: a build whose environment changes
/// from call to call must not leave a process behind per call.
pub const MAX_HELPERS: usize = 8;

/// Whether launcher calls may use the helper: not when turned off, nor
/// when the cache itself is (a helper would only answer "miss").
pub fn enabled() -> bool {
    let cache_disabled = std::env::var("ZCCACHE_DISABLE")
        .ok()
        .and_then(|value| crate::cache::config::parse_bool(&value))
        .unwrap_or(false);
    !cache_disabled && std::env::var_os(DISABLE_ENV).is_none_or(|value| value != "0")
}

pub fn idle_timeout() -> std::time::Duration {
    let secs = std::env::var(IDLE_ENV)
        .ok()
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(DEFAULT_IDLE_SECS);
    std::time::Duration::from_secs(secs)
}

/// What a client and its helper must share; see the module comment.
pub type Fingerprint = [u8; 32];

/// This process's fingerprint. `None` when the running binary cannot be
/// identified.
pub fn fingerprint() -> Option<Fingerprint> {
    let exe = std::env::current_exe().ok()?;
    let meta = std::fs::metadata(&exe).ok()?;
    let mut hasher = FingerprintHasher::new();
    hasher.update(b"zccache-daemon-1\0");
    hasher.update(exe.as_os_str().as_bytes());
    for n in [
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime() as u64,
        meta.mtime_nsec() as u64,
        u64::from(uid()),
        u64::from(crate::umask::current()),
    ] {
        hasher.update(&n.to_le_bytes());
    }
    let mut vars: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(name, _)| !IGNORED_ENV.iter().any(|ignored| name == *ignored))
        .collect();
    vars.sort();
    for (name, value) in vars {
        // Length-prefixed, so no two environments hash alike.
        for part in [name.as_bytes(), value.as_bytes()] {
            hasher.update(&(part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
    }
    Some(hasher.finish())
}

/// Four differently salted SipHashes (std's), for the 32 bytes of a
/// fingerprint. Not blake3: every call computes a fingerprint, and blake3's
/// first use in a process costs tens of microseconds of CPU feature
/// detection (each `cpuid` traps to the hypervisor in a VM). The
/// fingerprint tells one user's environments apart in that user's private
/// socket dir; it guards against accidents, not attackers.
struct FingerprintHasher([std::hash::DefaultHasher; 4]);

impl FingerprintHasher {
    fn new() -> FingerprintHasher {
        FingerprintHasher(std::array::from_fn(|salt| {
            let mut hasher = std::hash::DefaultHasher::new();
            std::hash::Hasher::write_u64(&mut hasher, salt as u64);
            hasher
        }))
    }

    fn update(&mut self, bytes: &[u8]) {
        for hasher in &mut self.0 {
            std::hash::Hasher::write(hasher, bytes);
        }
    }

    fn finish(&self) -> Fingerprint {
        let mut out = [0; 32];
        for (chunk, hasher) in out.chunks_exact_mut(8).zip(&self.0) {
            chunk.copy_from_slice(&std::hash::Hasher::finish(hasher).to_le_bytes());
        }
        out
    }
}

fn uid() -> u32 {
    // SAFETY: getuid cannot fail and has no side effects.
    unsafe { libc::getuid() }
}

/// The user's private socket directory, held open: checked once through
/// its descriptor and then only reached through it, so nobody who can
/// rename things in its parent (an `XDG_RUNTIME_DIR` another account owns)
/// can swap it between the check and the use.
pub struct SocketDir {
    /// The dir's real path, for names handed to other processes (private
    /// depfiles the client's compiler writes).
    pub path: PathBuf,
    fd: std::os::fd::OwnedFd,
}

impl SocketDir {
    /// `name` in the dir, reached through the open descriptor.
    pub fn at(&self, name: impl AsRef<Path>) -> PathBuf {
        use std::os::fd::AsRawFd as _;
        PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd())).join(name)
    }

    /// The dir itself, through the descriptor.
    pub fn here(&self) -> PathBuf {
        self.at("")
    }
}

/// The user's private socket directory, created if missing. `None` when it
/// is not a directory owned by this user and closed to everyone else.
pub fn socket_dir() -> Option<SocketDir> {
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute())
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    let dir = base.join(format!("zccache-{}", uid()));
    if let Some(open) = open_private_dir(&dir) {
        return Some(open);
    }
    if std::fs::symlink_metadata(&dir).is_err() {
        use std::os::unix::fs::DirBuilderExt as _;
        // Racing another client is fine: whoever made it, it is checked below.
        let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
    }
    open_private_dir(&dir)
}

/// Opens `dir` if it is a real directory (not a symlink), owned by this
/// user, with no access for group or others, as checked on the open
/// descriptor itself.
fn open_private_dir(dir: &Path) -> Option<SocketDir> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(dir)
        .ok()?;
    let meta = file.metadata().ok()?;
    let private = meta.file_type().is_dir() && meta.uid() == uid() && meta.mode() & 0o077 == 0;
    // Reached through /proc/self/fd: without /proc, no helper.
    (private && Path::new("/proc/self/fd").is_dir()).then(|| SocketDir {
        path: dir.to_path_buf(),
        fd: file.into(),
    })
}

#[cfg(test)]
fn private_dir(dir: &Path) -> bool {
    open_private_dir(dir).is_some()
}

/// The uid of the process at the other end of a connected socket.
pub fn peer_uid(stream: &std::os::unix::net::UnixStream) -> Option<u32> {
    use std::os::fd::AsRawFd as _;
    let mut cred = libc::ucred {
        pid: 0,
        uid: u32::MAX,
        gid: u32::MAX,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cred`, which is
    // that large, on a descriptor `stream` owns.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            std::ptr::addr_of_mut!(cred).cast(),
            &mut len,
        )
    };
    (rc == 0 && len as usize == std::mem::size_of::<libc::ucred>()).then_some(cred.uid)
}

/// Whether the peer of `stream` is this user.
pub fn peer_is_me(stream: &std::os::unix::net::UnixStream) -> bool {
    peer_uid(stream) == Some(uid())
}

/// The name of the socket of the helper serving `fingerprint`.
pub fn socket_name(fingerprint: &Fingerprint) -> String {
    let name: String = fingerprint[..12]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("{name}.sock")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn only_a_private_directory_of_this_user_is_accepted() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("d");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(private_dir(&dir));
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(!private_dir(&dir));
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let link = base.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        assert!(!private_dir(&link), "a symlink could point anywhere");
        assert!(!private_dir(&base.path().join("missing")));
    }

    #[test]
    fn socket_names_differ_by_fingerprint_and_fit_a_socket_address() {
        let a = socket_name(&[1; 32]);
        let b = socket_name(&[2; 32]);
        assert_ne!(a, b);
        assert!(format!("/proc/self/fd/1000000/{a}").len() < 100);
    }
}
