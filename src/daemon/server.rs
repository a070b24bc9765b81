//! The helper process: accepts one connection per launcher call, each
//! served on its own thread, restores hits through a fresh cache, and
//! writes statistics after replying.

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::os::unix::ffi::OsStringExt as _;
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Fingerprint;
use super::protocol::{Reply, Request, read_frame, write_frame};
use crate::cache::Cache;
use crate::cache::command::{Classification, classify_argv};

/// How often counts of served calls are added to the cache's statistics
/// (at most this much is lost when the helper is killed).
const FLUSH_INTERVAL: Duration = Duration::from_millis(250);

/// Requests served at once; more wait in the listen queue for a moment.
const WORKERS: usize = 16;

/// How long `Flush` waits for the requests that arrived before it.
const FLUSH_WAIT: Duration = Duration::from_secs(2);

/// How long a connection may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

struct Helper {
    fingerprint: Fingerprint,
    /// One open cache per build root, reused while its settings and roots
    /// stay what they were (checked on each request).
    caches: Mutex<HashMap<PathBuf, Arc<Cache>>>,
    /// Caches replaced since statistics were last written.
    unflushed: Mutex<Vec<Arc<Cache>>>,
    /// One statistics writer at a time, so `Flush` returns after every
    /// earlier update is on disk.
    flushing: Mutex<()>,
    /// Connections accepted and not yet handled, by arrival number.
    in_flight: Mutex<BTreeSet<u64>>,
    accepted: AtomicU64,
    last_request: Mutex<Instant>,
}

/// Runs the helper until it has been idle for the configured time; the
/// exit code of `zccache --zccache-internal-daemon`.
pub fn main() -> i32 {
    match serve() {
        Ok(()) => 0,
        Err(err) => {
            // Stderr is /dev/null when started by a client; this is for
            // someone running it by hand.
            eprintln!("zccache: helper: {err}");
            1
        }
    }
}

fn serve() -> io::Result<()> {
    let fingerprint = super::fingerprint().ok_or_else(|| io::Error::other("no fingerprint"))?;
    let dir = super::socket_dir().ok_or_else(|| io::Error::other("no private socket dir"))?;
    let socket = super::socket_path(&dir, &fingerprint);
    // Held for the helper's life (released by the kernel even on kill -9):
    // whoever holds it owns the socket name, so a second helper started by
    // a concurrent client leaves at once, and a socket file found without
    // the lock held is stale.
    let lock_path = socket.with_extension("lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)?;
    // SAFETY: flock on an fd this function owns.
    if unsafe {
        libc::flock(
            std::os::fd::AsRawFd::as_raw_fd(&lock),
            libc::LOCK_EX | libc::LOCK_NB,
        )
    } != 0
    {
        return Ok(());
    }
    // Who serves this socket, for people and tests that need to stop it.
    {
        use std::io::Write as _;
        let mut lock = &lock;
        let _ = lock.set_len(0);
        let _ = writeln!(lock, "{}", std::process::id());
    }
    let _ = std::fs::remove_file(&socket);
    let listener = UnixListener::bind(&socket)?;
    let socket_inode = std::fs::symlink_metadata(&socket)?.ino();
    let helper = Arc::new(Helper {
        fingerprint,
        caches: Mutex::new(HashMap::new()),
        unflushed: Mutex::new(Vec::new()),
        flushing: Mutex::new(()),
        in_flight: Mutex::new(BTreeSet::new()),
        accepted: AtomicU64::new(0),
        last_request: Mutex::new(Instant::now()),
    });
    {
        let helper = Arc::clone(&helper);
        let socket = socket.clone();
        let lock_path = lock_path.clone();
        std::thread::spawn(move || watch_idle(&helper, &socket, socket_inode, &lock_path));
    }
    {
        // Statistics are written in batches, off the clients' path: each
        // write is a locked read-modify-write of stats.json and a new inode.
        let helper = Arc::clone(&helper);
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(FLUSH_INTERVAL);
                helper.flush();
            }
        });
    }
    // Workers take turns accepting (leader/followers): a connection wakes
    // one thread, which serves it while the next one accepts, with no
    // thread started per call. Numbering connections while holding the
    // turn keeps their arrival order, which `Flush` relies on.
    let listener = Arc::new(listener);
    let turn = Arc::new(Mutex::new(()));
    let mut workers = Vec::new();
    for _ in 0..WORKERS {
        let (helper, listener, turn) = (
            Arc::clone(&helper),
            Arc::clone(&listener),
            Arc::clone(&turn),
        );
        let worker = std::thread::Builder::new().spawn(move || {
            loop {
                let (stream, seq) = {
                    let _turn = lock_ignoring_poison(&turn);
                    let Ok((stream, _)) = listener.accept() else {
                        // Out of descriptors, say: do not spin.
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    };
                    let seq = helper.accepted.fetch_add(1, Ordering::SeqCst);
                    lock_ignoring_poison(&helper.in_flight).insert(seq);
                    *lock_ignoring_poison(&helper.last_request) = Instant::now();
                    (stream, seq)
                };
                helper.handle(stream, seq);
                lock_ignoring_poison(&helper.in_flight).remove(&seq);
            }
        });
        if let Ok(worker) = worker {
            workers.push(worker);
        }
    }
    if workers.is_empty() {
        return Err(io::Error::other("cannot start any worker thread"));
    }
    // The workers never return; the idle watcher ends the process.
    for worker in workers {
        let _ = worker.join();
    }
    drop(lock);
    Ok(())
}

/// Exits once idle for the configured time, or when the socket file is
/// gone or replaced (nobody could reach this helper any more).
fn watch_idle(helper: &Helper, socket: &Path, socket_inode: u64, lock_path: &Path) {
    let idle_limit = super::idle_timeout();
    let tick = idle_limit.clamp(Duration::from_millis(100), Duration::from_secs(1));
    loop {
        std::thread::sleep(tick);
        let ours = std::fs::symlink_metadata(socket).is_ok_and(|m| m.ino() == socket_inode);
        let idle = lock_ignoring_poison(&helper.last_request).elapsed() >= idle_limit
            && lock_ignoring_poison(&helper.in_flight).is_empty();
        if !ours || idle {
            if ours {
                // Lock file too, else every cache dir or environment ever
                // served leaves one behind. A helper starting right now
                // either failed to take the lock already or takes a new file.
                let _ = std::fs::remove_file(socket);
                let _ = std::fs::remove_file(lock_path);
            }
            helper.flush();
            std::process::exit(0);
        }
    }
}

impl Helper {
    fn handle(&self, mut stream: UnixStream, seq: u64) {
        let _ = stream.set_read_timeout(Some(REQUEST_TIMEOUT));
        let _ = stream.set_write_timeout(Some(REQUEST_TIMEOUT));
        let Ok(request) = read_frame::<Request>(&mut stream) else {
            return;
        };
        match request {
            Request::Flush => {
                // Counts sent before this request (a call's last act before
                // it exits) must be in: wait for earlier connections.
                let deadline = Instant::now() + FLUSH_WAIT;
                while lock_ignoring_poison(&self.in_flight)
                    .first()
                    .is_some_and(|first| *first < seq)
                    && Instant::now() < deadline
                {
                    std::thread::sleep(Duration::from_millis(1));
                }
                self.flush();
                let _ = write_frame(&mut stream, &Reply::Flushed);
            }
            Request::Count {
                fingerprint,
                cwd,
                counters,
                bytes_stored,
            } => {
                let cwd = PathBuf::from(std::ffi::OsString::from_vec(cwd));
                if fingerprint == self.fingerprint
                    && cwd.is_absolute()
                    && let Some(cache) = self.cache_for(&crate::launcher::build_root(&cwd))
                {
                    let counts = crate::cache::stats::Stats { counters };
                    cache.add_counts(&counts, bytes_stored);
                }
            }
            Request::Lookup {
                fingerprint,
                cwd,
                argv,
            } => {
                let reply = if fingerprint == self.fingerprint {
                    self.lookup(PathBuf::from(std::ffi::OsString::from_vec(cwd)), &argv)
                } else {
                    Reply::Refused
                };
                // A client gone meanwhile (killed, timed out) costs nothing:
                // the outputs are in place either way.
                let _ = write_frame(&mut stream, &reply);
            }
        }
    }

    fn lookup(&self, cwd: PathBuf, argv: &[String]) -> Reply {
        if !cwd.is_absolute() {
            return Reply::Miss;
        }
        let Classification::Cacheable(invocation) = classify_argv(argv, &cwd) else {
            return Reply::Miss;
        };
        let Some(cache) = self.cache_for(&crate::launcher::build_root(&cwd)) else {
            return Reply::Miss;
        };
        let restored = cache.restore_if_cached(&invocation);
        match restored {
            Some((stdout, stderr)) => {
                cache.count("helper_hits", 1);
                Reply::Hit { stdout, stderr }
            }
            None => Reply::Miss,
        }
    }

    /// The open cache for `root`, as a new process would open it: settings
    /// read again, build and source roots detected again (a reconfigured
    /// build dir gets a new cache), tool identities checked again.
    fn cache_for(&self, root: &Path) -> Option<Arc<Cache>> {
        let settings = crate::cache::config::Settings::load().ok()?;
        let roots = crate::cache::roots::Roots::detect(root);
        let mut caches = lock_ignoring_poison(&self.caches);
        if let Some(cache) = caches.get(root)
            && *cache.settings() == settings
            && *cache.roots() == roots
        {
            cache.revalidate();
            return Some(Arc::clone(cache));
        }
        let cache = Cache::open_revalidating(root)?;
        if let Some(old) = caches.insert(root.to_path_buf(), Arc::clone(&cache)) {
            lock_ignoring_poison(&self.unflushed).push(old);
        }
        Some(cache)
    }

    /// Adds every pending count to the cache's statistics.
    fn flush(&self) {
        let _one_writer = lock_ignoring_poison(&self.flushing);
        let mut pending = std::mem::take(&mut *lock_ignoring_poison(&self.unflushed));
        pending.extend(lock_ignoring_poison(&self.caches).values().cloned());
        for cache in pending {
            cache.finish();
        }
    }
}

fn lock_ignoring_poison<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
