//! The launcher's side: ask the helper to restore a call (or to store it
//! once the caller has run the tool), start it when there is none. Every
//! failure is [`Outcome::Alone`], and the caller works alone.

use std::io;
use std::os::fd::{FromRawFd as _, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::protocol::{Reply, Request, read_frame, write_frame};

/// Sending a request never waits long: the helper reads it at once.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// A reply waits for the restore (large link outputs take a while) or for
/// a sibling compile (the helper gives up on one after
/// [`crate::cache::HELPER_WAIT`]), but a helper that is stuck must not
/// hold up the build for long.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// What the helper did with a call.
pub enum Outcome {
    /// Outputs restored: print these and exit 0.
    Hit { stdout: Vec<u8>, stderr: Vec<u8> },
    /// Not cacheable: run the tool as it is.
    Uncacheable,
    /// A miss: run the tool with [`ToolRun::extra_args`] added, then
    /// [`ToolRun::report`] the run.
    Run(ToolRun),
    /// The caller must do the work itself.
    Alone,
}

/// A miss the helper will store once the caller has run the tool.
pub struct ToolRun {
    stream: UnixStream,
    /// Added to the tool's arguments (a private depfile, prefix maps).
    pub extra_args: Vec<String>,
}

impl ToolRun {
    /// Hands the run's result to the helper and waits (bounded) until it
    /// has read the outputs and depfiles, which the build may change once
    /// this call returns; it stores the result after, and its own lookups
    /// of the same step wait for that. Nothing is stored for a failed run.
    pub fn report(mut self, success: bool, stdout: &[u8], stderr: &[u8], elapsed: Duration) {
        let ran = Request::Ran {
            success,
            stdout: stdout.to_vec(),
            stderr: stderr.to_vec(),
            elapsed_us: u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
        };
        if write_frame(&mut self.stream, &ran).is_ok() {
            let _ = read_frame::<Reply>(&mut self.stream);
        }
    }
}

/// The helper this process would talk to: its fingerprint, the private
/// socket dir and the socket in it. `None` when either cannot be had.
fn helper_socket() -> Option<(super::Fingerprint, PathBuf, PathBuf)> {
    let fingerprint = super::fingerprint()?;
    let dir = super::socket_dir()?;
    let socket = super::socket_path(&dir, &fingerprint);
    Some((fingerprint, dir, socket))
}

/// Asks the helper for `argv` (resolved program first) run in `cwd`;
/// starts a helper when none is listening.
pub fn lookup(argv: &[String], cwd: &Path) -> Outcome {
    let Some((fingerprint, dir, socket)) = helper_socket() else {
        return Outcome::Alone;
    };
    let mut stream = match connect(&socket) {
        Ok(stream) => stream,
        Err(err) => {
            if matches!(
                err.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
            ) && live_helpers(&dir) < super::MAX_HELPERS
            {
                spawn_helper();
            }
            return Outcome::Alone;
        }
    };
    let request = Request::Lookup {
        fingerprint,
        cwd: cwd.as_os_str().as_bytes().to_vec(),
        argv: argv.to_vec(),
    };
    if write_frame(&mut stream, &request).is_err() {
        return Outcome::Alone;
    }
    match read_frame::<Reply>(&mut stream) {
        Ok(Reply::Hit { stdout, stderr }) => Outcome::Hit { stdout, stderr },
        Ok(Reply::Uncacheable) => Outcome::Uncacheable,
        Ok(Reply::Run { extra_args }) => Outcome::Run(ToolRun { stream, extra_args }),
        _ => Outcome::Alone,
    }
}

/// Hands a call's statistics to the helper without waiting for it;
/// false when there is none to take them (the caller then writes them).
pub fn count(cwd: &Path, stats: &crate::cache::stats::Stats, bytes_stored: u64) -> bool {
    let Some((fingerprint, _, socket)) = helper_socket() else {
        return false;
    };
    let Ok(mut stream) = connect(&socket) else {
        return false;
    };
    let request = Request::Count {
        fingerprint,
        cwd: cwd.as_os_str().as_bytes().to_vec(),
        counters: stats.counters.clone(),
        bytes_stored,
    };
    write_frame(&mut stream, &request).is_ok()
}

/// Asks every helper in this user's socket dir to write its pending
/// statistics, waiting (bounded) for each: `zccache stats` then counts
/// every call that has returned.
pub fn flush_all() {
    let Some(dir) = super::socket_dir() else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|ext| ext != "sock") {
            continue;
        }
        if let Ok(mut stream) = connect(&path)
            && write_frame(&mut stream, &Request::Flush).is_ok()
        {
            let _ = read_frame::<Reply>(&mut stream);
        }
    }
}

/// Helpers running in `dir`: each holds the lock file beside its socket
/// for its whole life.
fn live_helpers(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "lock"))
        .filter(|entry| {
            let Ok(file) = std::fs::File::open(entry.path()) else {
                return false;
            };
            let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
            // SAFETY: flock on an fd owned by `file`; a lock taken here is
            // released when `file` is closed at the end of this closure.
            unsafe { libc::flock(fd, libc::LOCK_SH | libc::LOCK_NB) != 0 }
        })
        .count()
}

/// Connects without ever blocking on a full listen queue, then sets the
/// timeouts every later read and write obeys.
fn connect(path: &Path) -> io::Result<UnixStream> {
    // SAFETY: plain socket creation; the fd is owned right away.
    let fd = unsafe {
        libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh socket nobody else owns.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: sockaddr_un is plain old data; all zeros is a valid value.
    let mut address: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    address.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_os_str().as_bytes();
    if bytes.len() >= address.sun_path.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "socket path too long",
        ));
    }
    for (slot, byte) in address.sun_path.iter_mut().zip(bytes) {
        *slot = *byte as libc::c_char;
    }
    // SAFETY: address is initialized and its size is passed with it.
    let rc = unsafe {
        libc::connect(
            fd,
            std::ptr::addr_of!(address).cast(),
            std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        // EAGAIN: the helper's queue is full; working alone is quicker.
        return Err(io::Error::last_os_error());
    }
    let stream = UnixStream::from(owned);
    stream.set_nonblocking(false)?;
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    Ok(stream)
}

/// Starts a helper in its own session, detached from this call's terminal,
/// output pipes and inherited descriptors (a make jobserver, a ninja
/// output pipe), with this call's environment. Several calls starting one
/// at once is fine: all but one exit at once.
fn spawn_helper() {
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut command = Command::new(exe);
    command
        .arg(super::SERVE_ARG)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .current_dir("/");
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(|| {
            libc::setsid();
            // Not inheriting anything beyond stdio: a descriptor kept open
            // for minutes would keep a build's pipe or jobserver alive.
            if libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) != 0 {
                for fd in 3..1024 {
                    libc::close(fd);
                }
            }
            Ok(())
        });
    }
    // The helper outlives this call; init reaps it.
    let _ = command.spawn();
}
