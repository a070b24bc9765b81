//! The launcher's side: ask the helper to restore a call (or to store it
//! once the caller has run the tool), start it when there is none. Every
//! failure is [`Outcome::Alone`], and the caller works alone.

use std::io;
use std::os::fd::{FromRawFd as _, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::protocol::{Reply, Request, read_frame, write_frame};

/// Sending a request never waits long: the helper reads it at once.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// A healthy helper acknowledges a request as soon as a worker reads it; a
/// stopped or stuck one costs a call no more than this.
const ACCEPT_TIMEOUT: Duration = Duration::from_millis(300);
/// After a helper failed to acknowledge, calls leave it alone this long
/// (and start no other in its place).
const STUCK_PAUSE: Duration = Duration::from_secs(10);
/// A reply waits for the restore (large link outputs take a while) or for
/// a sibling compile (the helper gives up on one after
/// [`crate::cache::HELPER_WAIT`]), but a helper that is stuck must not
/// hold up the build for long.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// What the helper did with a call. Warnings the cache had for the call
/// are printed here already (stderr), as a call working alone would.
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
/// socket dir and the socket's name in it. `None` when either cannot be had.
fn helper_socket() -> Option<(super::Fingerprint, super::SocketDir, String)> {
    let fingerprint = super::fingerprint()?;
    let dir = super::socket_dir()?;
    let name = super::socket_name(&fingerprint);
    Some((fingerprint, dir, name))
}

/// Asks the helper for `argv` (resolved program first) run in `cwd`;
/// starts a helper when none is listening.
pub fn lookup(argv: &[String], cwd: &Path) -> Outcome {
    let Some((fingerprint, dir, name)) = helper_socket() else {
        return Outcome::Alone;
    };
    let socket = dir.at(&name);
    let stuck = dir.at(format!("{name}.stuck"));
    if paused(&stuck) {
        return Outcome::Alone;
    }
    let mut stream = match connect(&socket) {
        Ok(stream) => stream,
        Err(err) => {
            // Nothing listening at a socket (or a file, or nothing there)
            // means no helper: one is started, and takes the name over. A
            // dir there it could not take: starting one would only see it
            // exit, on every call.
            let absent = !std::fs::symlink_metadata(&socket).is_ok_and(|meta| meta.is_dir());
            if matches!(
                err.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
            ) && absent
                && live_helpers(&dir) < super::MAX_HELPERS
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
    let _ = stream.set_read_timeout(Some(ACCEPT_TIMEOUT));
    match read_frame::<Reply>(&mut stream) {
        Ok(Reply::Accepted) => {}
        Err(err)
            if matches!(
                err.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            pause(&stuck);
            return Outcome::Alone;
        }
        _ => return Outcome::Alone,
    }
    if stream.set_read_timeout(Some(READ_TIMEOUT)).is_err() {
        return Outcome::Alone;
    }
    let (outcome, warnings) = match read_frame::<Reply>(&mut stream) {
        Ok(Reply::Hit {
            stdout,
            stderr,
            warnings,
        }) => (Outcome::Hit { stdout, stderr }, warnings),
        Ok(Reply::Uncacheable { warnings }) => (Outcome::Uncacheable, warnings),
        Ok(Reply::Run {
            extra_args,
            warnings,
        }) if accepted_args(&extra_args, &dir.path, cwd) => {
            (Outcome::Run(ToolRun { stream, extra_args }), warnings)
        }
        _ => return Outcome::Alone,
    };
    for warning in warnings.iter().take(8) {
        print_warning(warning);
    }
    outcome
}

/// Prints a warning line the helper relayed, only if it is one of the
/// cache's own: one line of printable text.
fn print_warning(line: &str) {
    if line.starts_with("zccache: warning: ")
        && line.len() < 4096
        && line.chars().all(|c| !c.is_control())
    {
        eprintln!("{line}");
    }
}

/// Whether `extra` is what a helper adds to a tool's arguments, and
/// nothing else: a private depfile in the helper's own dir (`dir`), as the
/// compiler's `-MD -MF FILE` or the linker's `--dependency-file=FILE`, and
/// the prefix maps of the build in `cwd` (`path_remap`). A helper that
/// answers anything else is not served.
fn accepted_args(extra: &[String], dir: &Path, cwd: &Path) -> bool {
    let private = |path: &str| {
        let path = Path::new(path);
        path.parent() == Some(dir)
            && path
                .file_name()
                .and_then(|name| name.to_str())
                .and_then(|name| name.strip_prefix("deps-"))
                .and_then(|name| name.strip_suffix(".d"))
                .and_then(|name| name.split_once('-'))
                .is_some_and(|(pid, serial)| {
                    [pid, serial]
                        .iter()
                        .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                })
    };
    let mut maps = None;
    let mut rest = extra;
    while let Some(first) = rest.first() {
        if first == "-MD"
            && rest.get(1).is_some_and(|arg| arg == "-MF")
            && rest.get(2).is_some_and(|path| private(path))
        {
            rest = &rest[3..];
            continue;
        }
        let file = first
            .strip_prefix("-Wl,--dependency-file=")
            .or_else(|| first.strip_prefix("--dependency-file="));
        let ok = match file {
            Some(path) => private(path),
            None if first.starts_with("-ffile-prefix-map=") => {
                maps.get_or_insert_with(|| prefix_maps(cwd)).contains(first)
            }
            None => false,
        };
        if !ok {
            return false;
        }
        rest = &rest[1..];
    }
    true
}

/// The prefix maps the cache adds for a build in `cwd` (`path_remap`).
fn prefix_maps(cwd: &Path) -> Vec<String> {
    let roots = crate::cache::roots::Roots::detect(&crate::cache::roots::build_dir_around(cwd));
    let mut maps = vec![format!("-ffile-prefix-map={}=.", roots.build())];
    if let (Some(source), Some(relative)) = (roots.source(), roots.source_from_build()) {
        maps.push(format!("-ffile-prefix-map={source}={relative}"));
    }
    maps
}

/// Whether calls leave the helper alone for now (see [`STUCK_PAUSE`]).
fn paused(marker: &Path) -> bool {
    std::fs::symlink_metadata(marker)
        .ok()
        .and_then(|meta| meta.modified().ok())
        .and_then(|when| when.elapsed().ok())
        .is_some_and(|age| age < STUCK_PAUSE)
}

/// Makes calls leave the helper alone for a while.
fn pause(marker: &Path) {
    if let Ok(file) = crate::cache::nofollow::open_or_create(marker, 0o600) {
        let _ = file.set_modified(std::time::SystemTime::now());
    }
}

/// Hands a call's statistics to the helper without waiting for it;
/// false when there is none to take them (the caller then writes them).
pub fn count(cwd: &Path, stats: &crate::cache::stats::Stats, bytes_stored: u64) -> bool {
    let Some((fingerprint, dir, name)) = helper_socket() else {
        return false;
    };
    let Ok(mut stream) = connect(&dir.at(name)) else {
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
    let Ok(entries) = std::fs::read_dir(dir.here()) else {
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
fn live_helpers(dir: &super::SocketDir) -> usize {
    let Ok(entries) = std::fs::read_dir(dir.here()) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "lock"))
        .filter(|entry| {
            let Ok(file) = crate::cache::nofollow::open_regular(&entry.path()) else {
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
    // Only a helper of this user's: the dir is closed to others, and this
    // holds even if it were not.
    if !super::peer_is_me(&stream) {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "the socket belongs to another user",
        ));
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_private_depfile_and_the_build_prefix_maps_are_accepted() {
        let dir = Path::new("/run/user/0/zccache-0");
        let cwd = Path::new("/nonexistent/build");
        let args = |list: &[&str]| list.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        let depfile = "/run/user/0/zccache-0/deps-12-3.d";
        assert!(accepted_args(&[], dir, cwd));
        assert!(accepted_args(&args(&["-MD", "-MF", depfile]), dir, cwd));
        assert!(accepted_args(
            &args(&["-Wl,--dependency-file=/run/user/0/zccache-0/deps-1-1.d"]),
            dir,
            cwd
        ));
        assert!(accepted_args(
            &args(&["-ffile-prefix-map=/nonexistent/build=."]),
            dir,
            cwd
        ));
        for bad in [
            &["-B/evil/"][..],
            &["-MD", "-MF", "/tmp/deps-1-1.d"],
            &["-MD", "-MF", "/run/user/0/zccache-0/x.d"],
            &["-MD", "-MF", "/run/user/0/zccache-0/sub/deps-1-1.d"],
            &["-MD", "-MF", depfile, "-include", "/etc/passwd"],
            &["-ffile-prefix-map=/=/evil"],
            &["--dependency-file=/etc/shadow"],
        ] {
            assert!(!accepted_args(&args(bad), dir, cwd), "{bad:?}");
        }
    }
}
