//! The helper process: accepts one connection per launcher call, served by
//! one of a pool of worker threads; restores hits, tells misses how to run
//! the tool and stores what the run made, and writes statistics after
//! replying.

use std::collections::BTreeSet;
use std::io;
use std::os::unix::ffi::OsStringExt as _;
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Fingerprint;
use super::protocol::{Reply, Request, read_frame, write_frame};
use super::recent::Recent;
use crate::cache::command::{Classification, classify_argv};
use crate::cache::{Begun, Cache, Siblings};

/// How often counts of served calls are added to the cache's statistics
/// (at most this much is lost when the helper is killed).
const FLUSH_INTERVAL: Duration = Duration::from_millis(250);

/// Requests served at once, at least; more wait in the listen queue for a
/// moment. Workers whose calls wait for their tool do not count.
const WORKERS: usize = 16;

/// Workers kept beyond [`WORKERS`], so that calls waiting for their tools
/// take them before a new thread must be started (a build with up to this
/// many compiles at once starts none).
const SPARE_WORKERS: usize = 8;

/// How long `Flush` waits for the requests that arrived before it.
const FLUSH_WAIT: Duration = Duration::from_secs(2);

/// How long a connection may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a client's tool run may take before its result is no longer
/// awaited (a client that dies closes the connection long before).
const TOOL_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// Build dirs whose caches the helper keeps open: each holds what it
/// learnt of the build's files; one dropped is opened again when needed,
/// at the cost of hashing its files again.
pub const OPEN_CACHES: usize = 64;

struct Helper {
    fingerprint: Fingerprint,
    /// The private socket dir, which also holds private depfiles.
    dir: super::SocketDir,
    /// One open cache per build root, reused while its settings and roots
    /// stay what they were (checked on each request); the most recently
    /// used [`OPEN_CACHES`] only.
    caches: Mutex<Recent<Arc<Cache>>>,
    /// Caches replaced or dropped since statistics were last written.
    unflushed: Mutex<Vec<Arc<Cache>>>,
    /// One statistics writer at a time, so `Flush` returns after every
    /// earlier update is on disk.
    flushing: Mutex<()>,
    /// Connections accepted and not yet handled, by arrival number.
    in_flight: Mutex<BTreeSet<u64>>,
    accepted: AtomicU64,
    /// Clients running their tool, whose results are still to store.
    running: AtomicUsize,
    /// Results of returned calls being stored.
    storing: AtomicUsize,
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
    let socket = dir.at(super::socket_name(&fingerprint));
    // Held for the helper's life (released by the kernel even on kill -9):
    // whoever holds it owns the socket name, so a second helper started by
    // a concurrent client leaves at once, and a socket file found without
    // the lock held is stale.
    let lock_path = socket.with_extension("lock");
    let lock = crate::cache::nofollow::open_or_create(&lock_path, 0o600)?;
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
    remove_orphaned_depfiles(&dir.here());
    // A stale socket or a file goes; a dir stays, and binding fails.
    let _ = std::fs::remove_file(&socket);
    let listener = UnixListener::bind(&socket)?;
    let socket_inode = std::fs::symlink_metadata(&socket)?.ino();
    let helper = Arc::new(Helper {
        fingerprint,
        dir,
        caches: Mutex::new(Recent::new(OPEN_CACHES)),
        unflushed: Mutex::new(Vec::new()),
        flushing: Mutex::new(()),
        in_flight: Mutex::new(BTreeSet::new()),
        accepted: AtomicU64::new(0),
        running: AtomicUsize::new(0),
        storing: AtomicUsize::new(0),
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
    // thread started per call (a miss's worker waits for the client's tool
    // outside the turn; a new worker is started only when too few are left
    // to take it). Numbering connections while holding the turn keeps their
    // arrival order, which `Flush` relies on.
    let pool = Pool {
        helper,
        listener: Arc::new(listener),
        turn: Arc::new(Mutex::new(())),
        workers: Arc::new(AtomicUsize::new(0)),
    };
    let started = (0..WORKERS + SPARE_WORKERS)
        .filter(|_| pool.add_worker())
        .count();
    if started == 0 {
        return Err(io::Error::other("cannot start any worker thread"));
    }
    // The idle watcher ends the process; the lock is held until then.
    let _lock = lock;
    loop {
        std::thread::park();
    }
}

/// The accepting workers; see [`serve`].
#[derive(Clone)]
struct Pool {
    helper: Arc<Helper>,
    listener: Arc<UnixListener>,
    turn: Arc<Mutex<()>>,
    /// Worker threads alive.
    workers: Arc<AtomicUsize>,
}

impl Pool {
    /// Starts one more worker; false when no thread can be started.
    fn add_worker(&self) -> bool {
        let pool = self.clone();
        self.workers.fetch_add(1, Ordering::SeqCst);
        let started = std::thread::Builder::new()
            .spawn(move || pool.work())
            .is_ok();
        if !started {
            self.workers.fetch_sub(1, Ordering::SeqCst);
        }
        started
    }

    /// Workers free to take a connection: not waiting for a client's tool.
    fn free_workers(&self) -> usize {
        let running = self.helper.running.load(Ordering::SeqCst);
        self.workers.load(Ordering::SeqCst).saturating_sub(running)
    }

    /// Called by a worker about to wait for a client's tool (counted in
    /// `running` already): starts another when fewer than [`WORKERS`] are
    /// left free.
    fn keep_workers_free(&self) {
        if self.free_workers() < WORKERS {
            self.add_worker();
        }
    }

    /// Whether this worker ends: true when more than [`WORKERS`] plus the
    /// spares are free without it (the tools they were started for are done).
    fn leave_if_surplus(&self) -> bool {
        let running = self.helper.running.load(Ordering::SeqCst);
        self.workers
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |workers| {
                (workers.saturating_sub(running) > WORKERS + SPARE_WORKERS).then(|| workers - 1)
            })
            .is_ok()
    }

    /// Serves connections for the helper's life, or until there are more
    /// workers than the calls need.
    fn work(&self) {
        let helper = &self.helper;
        loop {
            let (stream, seq) = {
                let _turn = lock_ignoring_poison(&self.turn);
                let Ok((stream, _)) = self.listener.accept() else {
                    // Out of descriptors, say: do not spin.
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                // Only this user's own calls (the dir is closed to others;
                // this holds even if it were not).
                if !super::peer_is_me(&stream) {
                    continue;
                }
                let seq = helper.accepted.fetch_add(1, Ordering::SeqCst);
                lock_ignoring_poison(&helper.in_flight).insert(seq);
                *lock_ignoring_poison(&helper.last_request) = Instant::now();
                (stream, seq)
            };
            helper.handle(stream, seq, self);
            lock_ignoring_poison(&helper.in_flight).remove(&seq);
            if self.leave_if_surplus() {
                return;
            }
        }
    }
}

/// Removes private depfiles (`deps-PID-N.d`) left by helpers that died
/// while a call compiled.
fn remove_orphaned_depfiles(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|name| name.strip_prefix("deps-"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        // SAFETY: signal 0 only asks whether the process exists.
        if unsafe { libc::kill(pid, 0) } != 0 {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Exits once idle for the configured time, or when the socket file is
/// gone or replaced (nobody could reach this helper any more).
fn watch_idle(helper: &Helper, socket: &Path, socket_inode: u64, lock_path: &Path) {
    let idle_limit = super::idle_timeout();
    let tick = idle_limit.clamp(Duration::from_millis(100), Duration::from_secs(1));
    loop {
        std::thread::sleep(tick);
        let ours = std::fs::symlink_metadata(socket).is_ok_and(|m| m.ino() == socket_inode);
        let busy = !lock_ignoring_poison(&helper.in_flight).is_empty()
            || helper.running.load(Ordering::SeqCst) > 0;
        let idle = lock_ignoring_poison(&helper.last_request).elapsed() >= idle_limit;
        if !busy && (!ours || idle) {
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
    fn handle(&self, mut stream: UnixStream, seq: u64, pool: &Pool) {
        let _ = stream.set_read_timeout(Some(REQUEST_TIMEOUT));
        let _ = stream.set_write_timeout(Some(REQUEST_TIMEOUT));
        let Ok(request) = read_frame::<Request>(&mut stream) else {
            return;
        };
        match request {
            Request::Flush => {
                // Counts sent before this request (a call's last act before
                // it exits) must be in: wait for earlier connections, and
                // for results of returned calls still being stored.
                let deadline = Instant::now() + FLUSH_WAIT;
                while (lock_ignoring_poison(&self.in_flight)
                    .first()
                    .is_some_and(|first| *first < seq)
                    || self.storing.load(Ordering::SeqCst) > 0)
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
                    && let Some(cache) =
                        self.cache_for(&crate::cache::roots::build_dir_around(&cwd))
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
                if fingerprint != self.fingerprint {
                    let _ = write_frame(&mut stream, &Reply::Refused);
                    return;
                }
                if write_frame(&mut stream, &Reply::Accepted).is_err() {
                    return;
                }
                let cwd = PathBuf::from(std::ffi::OsString::from_vec(cwd));
                self.lookup(&mut stream, seq, &cwd, &argv, pool);
            }
            // Only ever sent after `Reply::Run`, on that connection.
            Request::Ran { .. } => {}
        }
    }

    /// Answers a call: restores it, or tells the client how to run the
    /// tool and stores what the run made. A client gone meanwhile (killed,
    /// timed out) costs nothing: outputs restored are in place either way,
    /// and a run never reported stores nothing.
    fn lookup(&self, stream: &mut UnixStream, seq: u64, cwd: &Path, argv: &[String], pool: &Pool) {
        let found = cwd
            .is_absolute()
            .then(|| classify_argv(argv, cwd))
            .and_then(|classified| match classified {
                Classification::Cacheable(invocation) => Some(invocation),
                _ => None,
            })
            .and_then(|invocation| {
                let cache = self.cache_for(&crate::cache::roots::build_dir_around(cwd))?;
                let command = shlex::try_join(argv.iter().map(String::as_str)).ok()?;
                Some((cache, invocation, command))
            });
        let Some((cache, invocation, command)) = found else {
            let _ = write_frame(stream, &Reply::Miss);
            return;
        };
        let pending = match cache.begin(&invocation, &command, Siblings::AskCache) {
            Begun::Restored { stdout, stderr } => {
                cache.count("helper_hits", 1);
                let warnings = cache.take_warnings();
                let _ = write_frame(
                    stream,
                    &Reply::Hit {
                        stdout,
                        stderr,
                        warnings,
                    },
                );
                return;
            }
            Begun::Uncacheable { .. } => {
                let warnings = cache.take_warnings();
                let _ = write_frame(stream, &Reply::Uncacheable { warnings });
                return;
            }
            Begun::Run(pending) => pending,
        };
        let run = Reply::Run {
            extra_args: pending.extra_args().to_vec(),
            warnings: cache.take_warnings(),
        };
        if write_frame(stream, &run).is_err() {
            return;
        }
        // The tool runs for as long as it takes: this thread waits for it
        // outside the turn (another is started if too few are left free),
        // and the call no longer holds up `Flush`.
        self.running.fetch_add(1, Ordering::SeqCst);
        lock_ignoring_poison(&self.in_flight).remove(&seq);
        pool.keep_workers_free();
        let _ = stream.set_read_timeout(Some(TOOL_TIMEOUT));
        if let Ok(Request::Ran {
            success,
            stdout,
            stderr,
            elapsed_us,
        }) = read_frame::<Request>(stream)
        {
            let ran = crate::cache::Ran {
                status: (),
                success,
                stdout,
                stderr,
            };
            // The client returns as soon as the outputs and depfiles are
            // read; the result is stored after, off its path. Lookups of the
            // same step wait for it, and `Flush` for every store.
            let finished = pending.capture(ran, Duration::from_micros(elapsed_us));
            self.storing.fetch_add(1, Ordering::SeqCst);
            let _ = write_frame(stream, &Reply::Stored);
            finished.store();
            self.storing.fetch_sub(1, Ordering::SeqCst);
        }
        *lock_ignoring_poison(&self.last_request) = Instant::now();
        self.running.fetch_sub(1, Ordering::SeqCst);
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
        cache.keep_private_files_in(self.dir.path.clone());
        let dropped = caches.insert(root.to_path_buf(), Arc::clone(&cache));
        lock_ignoring_poison(&self.unflushed).extend(dropped);
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
