//! End-to-end: whoever else can write the cache dir (another local user of
//! a shared cache, or of a cache dir under /tmp) can at worst cause misses.
//! Nothing planted there is run, followed through a symlink, or makes a
//! zccache call create files outside the cache; see SECURITY.md.
//!
//! Tests that need a second user run as root and make one with `setpriv`;
//! without root they say that they skipped (`harness::skipped`).

use crate::harness::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SOURCE: &str = "int twice(int x) { return 2 * x; }\n";

struct Sandbox {
    _root: tempfile::TempDir,
    work: PathBuf,
    cache: PathBuf,
    /// Outside the cache and the build: nothing may appear here.
    outside: PathBuf,
}

impl Sandbox {
    fn new() -> Sandbox {
        let root = temp_dir();
        let work = root.path().join("work");
        let cache = root.path().join("cache");
        let outside = root.path().join("outside");
        for dir in [&work, &outside] {
            fs::create_dir_all(dir).unwrap();
        }
        fs::write(work.join("a.c"), SOURCE).unwrap();
        Sandbox {
            _root: root,
            work,
            cache,
            outside,
        }
    }

    /// `zccache args...` in the work dir, without the helper, `env` on top.
    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut command = isolated_command(zccache_bin(), args, &self.work, &self.cache);
        command.env("ZCCACHE_DAEMON", "0");
        for (name, value) in env {
            command.env(name, value);
        }
        command
    }

    /// Compiles a.c to a.o through the launcher; panics unless it succeeds
    /// within `limit`.
    fn compile(&self, env: &[(&str, &str)]) -> std::process::Output {
        let mut child = self
            .command(&["gcc", "-O1", "-c", "a.c", "-o", "a.o"], env)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("the compile hung on what was planted in the cache");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{output:?}");
        output
    }

    /// What gcc makes of a.c.
    fn reference(&self) -> Vec<u8> {
        let status = Command::new("gcc")
            .args(["-O1", "-c", "a.c", "-o", "ref.o"])
            .current_dir(&self.work)
            .status()
            .unwrap();
        assert!(status.success());
        let object = fs::read(self.work.join("ref.o")).unwrap();
        fs::remove_file(self.work.join("ref.o")).unwrap();
        object
    }

    /// Every file under `dir` of the cache (`v1/blobs`, `v1/records`).
    fn files_under(&self, dir: &str) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let mut todo = vec![self.cache.join(dir)];
        while let Some(dir) = todo.pop() {
            for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if entry.file_type().unwrap().is_dir() {
                    todo.push(path);
                } else {
                    found.push(path);
                }
            }
        }
        found
    }

    fn assert_outside_empty(&self) {
        let left: Vec<_> = fs::read_dir(&self.outside).unwrap().flatten().collect();
        assert!(left.is_empty(), "files created outside the cache: {left:?}");
    }
}

fn mkfifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt as _;
    let name = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
}

#[test]
fn hardlink_delivery_never_makes_an_output_a_symlink() {
    let sandbox = Sandbox::new();
    let env = [("ZCCACHE_HARDLINK", "1"), ("ZCCACHE_COMPRESSION", "0")];
    let object = sandbox.reference();
    sandbox.compile(&env);
    let blob = sandbox
        .files_under("v1/blobs")
        .into_iter()
        .find(|blob| fs::read(blob).unwrap() == object)
        .expect("the object's blob");
    // Same content, so a check of the content alone passes it.
    let planted = sandbox.outside.join("object");
    fs::copy(&blob, &planted).unwrap();
    fs::remove_file(&blob).unwrap();
    std::os::unix::fs::symlink(&planted, &blob).unwrap();
    fs::remove_file(sandbox.work.join("a.o")).unwrap();
    sandbox.compile(&env);
    let output = sandbox.work.join("a.o");
    assert!(
        fs::symlink_metadata(&output).unwrap().file_type().is_file(),
        "the output is a symlink out of the build"
    );
    assert_eq!(fs::read(&output).unwrap(), object);
}

#[test]
fn records_and_blobs_swapped_for_fifos_are_misses_not_hangs() {
    let sandbox = Sandbox::new();
    let object = sandbox.reference();
    sandbox.compile(&[]);
    let planted = sandbox.outside.join("fifo");
    mkfifo(&planted);
    let files = [
        sandbox.files_under("v1/records"),
        sandbox.files_under("v1/blobs"),
    ]
    .concat();
    assert!(!files.is_empty());
    for file in files {
        fs::remove_file(&file).unwrap();
        std::os::unix::fs::symlink(&planted, &file).unwrap();
    }
    fs::remove_file(sandbox.work.join("a.o")).unwrap();
    sandbox.compile(&[]);
    assert_eq!(fs::read(sandbox.work.join("a.o")).unwrap(), object);
}

#[test]
fn lock_and_stats_files_planted_as_symlinks_create_nothing_outside() {
    let sandbox = Sandbox::new();
    fs::create_dir_all(&sandbox.cache).unwrap();
    for name in ["gc.lock", "stats.lock", "stats.json"] {
        std::os::unix::fs::symlink(sandbox.outside.join(name), sandbox.cache.join(name)).unwrap();
    }
    sandbox.compile(&[]);
    let gc = sandbox.command(&["gc"], &[]).output().unwrap();
    let stats = sandbox.command(&["stats"], &[]).output().unwrap();
    let _ = (gc, stats);
    sandbox.assert_outside_empty();
}

/// A private dir for the launcher's helper sockets (XDG_RUNTIME_DIR).
fn runtime_dir(parent: &Path) -> PathBuf {
    let runtime = parent.join("run");
    fs::create_dir_all(&runtime).unwrap();
    fs::set_permissions(
        &runtime,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    runtime
}

/// Pids of the helpers listening in `runtime`, waiting (bounded) for one.
fn wait_for_helper(runtime: &Path) -> Vec<i32> {
    // SAFETY: getuid has no preconditions.
    let dir = runtime.join(format!("zccache-{}", unsafe { libc::getuid() }));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let pids: Vec<i32> = fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|e| e == "sock"))
            .filter_map(|sock| fs::read_to_string(sock.with_extension("lock")).ok())
            .filter_map(|pid| pid.trim().parse().ok())
            .collect();
        if !pids.is_empty() {
            return pids;
        }
        assert!(Instant::now() < deadline, "no helper started");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn kill_all(pids: &[i32]) {
    for pid in pids {
        // SAFETY: pids of helpers this test started.
        unsafe { libc::kill(*pid, libc::SIGKILL) };
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    // SAFETY: signal 0 only asks whether the process exists.
    while pids.iter().any(|pid| unsafe { libc::kill(*pid, 0) } == 0) {
        assert!(Instant::now() < deadline, "helpers {pids:?} did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_relative_cache_dir_is_the_same_dir_for_the_call_and_its_helper() {
    let sandbox = Sandbox::new();
    let runtime = runtime_dir(sandbox.outside.parent().unwrap());
    // The helper runs in `/`: a relative name would be a dir there.
    let name = format!("zccache-e2e-relative-{}", std::process::id());
    let env = [
        ("ZCCACHE_DIR", name.as_str()),
        ("ZCCACHE_DAEMON", "1"),
        ("XDG_RUNTIME_DIR", runtime.to_str().unwrap()),
    ];
    let object = sandbox.reference();
    sandbox.compile(&env);
    let helpers = wait_for_helper(&runtime);
    fs::remove_file(sandbox.work.join("a.o")).unwrap();
    sandbox.compile(&env);
    let stats = sandbox
        .command(&["stats", "--json"], &env)
        .output()
        .unwrap();
    kill_all(&helpers);
    let in_root = Path::new("/").join(&name);
    let stray = in_root.exists();
    let _ = fs::remove_dir_all(&in_root);
    assert!(!stray, "the helper used {}", in_root.display());
    assert_eq!(fs::read(sandbox.work.join("a.o")).unwrap(), object);
    let stats = Stats::parse(&String::from_utf8_lossy(&stats.stdout)).unwrap();
    assert_eq!(stats.compile_hits(), 1, "{stats:?}");
    assert!(sandbox.work.join(&name).join("stats.json").exists());
}

/// Whether this test runs as root (needed to act as a second user).
fn is_root() -> bool {
    let root = running_as_root();
    if !root {
        skipped("needs root to act as a second user");
    }
    root
}

/// Compiles through a cache dir that must be refused: one warning, gcc's
/// object, nothing written into the cache.
fn assert_refused(sandbox: &Sandbox, env: &[(&str, &str)]) {
    let object = sandbox.reference();
    let before = sandbox.files_under("");
    for _ in 0..2 {
        let _ = fs::remove_file(sandbox.work.join("a.o"));
        let output = sandbox.compile(env);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            stderr.matches("zccache: warning: cache not used").count(),
            1,
            "{stderr}"
        );
        assert_eq!(fs::read(sandbox.work.join("a.o")).unwrap(), object);
    }
    assert_eq!(
        sandbox.files_under(""),
        before,
        "the refused cache was written"
    );
}

#[test]
fn a_cache_dir_others_can_write_is_refused_unless_shared() {
    use std::os::unix::fs::PermissionsExt as _;
    let sandbox = Sandbox::new();
    fs::create_dir_all(&sandbox.cache).unwrap();
    fs::set_permissions(&sandbox.cache, fs::Permissions::from_mode(0o777)).unwrap();
    assert_refused(&sandbox, &[]);
    // Opted in, group-writable is how a shared cache is meant to be.
    fs::set_permissions(&sandbox.cache, fs::Permissions::from_mode(0o2770)).unwrap();
    sandbox.compile(&[("ZCCACHE_SHARED", "1")]);
    let _ = fs::remove_file(sandbox.work.join("a.o"));
    let output = sandbox.compile(&[("ZCCACHE_SHARED", "1")]);
    assert!(output.stderr.is_empty(), "{output:?}");
    let shared_dirs = sandbox
        .files_under("v1")
        .iter()
        .map(|file| file.parent().unwrap().to_path_buf())
        .all(|dir| fs::metadata(dir).unwrap().permissions().mode() & 0o7777 == 0o2770);
    assert!(
        shared_dirs,
        "dirs of a shared cache are group-writable, setgid"
    );
}

#[test]
fn a_new_cache_dir_is_closed_to_other_users() {
    use std::os::unix::fs::PermissionsExt as _;
    let sandbox = Sandbox::new();
    sandbox.compile(&[]);
    let mode = fs::metadata(&sandbox.cache).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
}

#[test]
fn a_cache_dir_of_another_user_is_refused_unless_shared() {
    if !is_root() {
        return;
    }
    let sandbox = Sandbox::new();
    fs::create_dir_all(&sandbox.cache).unwrap();
    std::os::unix::fs::chown(&sandbox.cache, Some(65534), Some(65534)).unwrap();
    assert_refused(&sandbox, &[]);
}

#[test]
fn stats_gc_and_clear_refuse_a_cache_dir_others_can_write() {
    use std::os::unix::fs::PermissionsExt as _;
    let sandbox = Sandbox::new();
    sandbox.compile(&[]);
    fs::set_permissions(&sandbox.cache, fs::Permissions::from_mode(0o777)).unwrap();
    let before = sandbox.files_under("");
    for admin in [&["stats"][..], &["gc"], &["clear"]] {
        let output = sandbox.command(admin, &[]).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success() && stderr.contains("writable by other users"),
            "zccache {admin:?}: {output:?}"
        );
    }
    assert_eq!(
        sandbox.files_under(""),
        before,
        "a refused cache was changed"
    );
    // Shared on purpose, group-writable only: cleared.
    fs::set_permissions(&sandbox.cache, fs::Permissions::from_mode(0o2770)).unwrap();
    let output = sandbox
        .command(&["clear"], &[("ZCCACHE_SHARED", "1")])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(sandbox.files_under("v1").is_empty());
}

/// Starts a helper for `sandbox` with its sockets in `runtime`, kills it,
/// and gives the socket path it left behind.
fn dead_helper_socket(sandbox: &Sandbox, runtime: &Path) -> PathBuf {
    timed_helper_call(sandbox, runtime);
    let helpers = wait_for_helper(runtime);
    kill_all(&helpers);
    // SAFETY: getuid has no preconditions.
    let dir = runtime.join(format!("zccache-{}", unsafe { libc::getuid() }));
    fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|e| e == "sock"))
        .unwrap()
}

/// A launcher call in `sandbox`'s work dir with the helper on, its sockets
/// in `runtime`: how long it took, and its output.
fn timed_helper_call(sandbox: &Sandbox, runtime: &Path) -> (Duration, std::process::Output) {
    let env = [
        ("ZCCACHE_DAEMON", "1"),
        ("XDG_RUNTIME_DIR", runtime.to_str().unwrap()),
    ];
    let _ = fs::remove_file(sandbox.work.join("a.o"));
    let started = Instant::now();
    let output = sandbox.compile(&env);
    (started.elapsed(), output)
}

/// A helper that accepts no request (SIGSTOP) is given up on after a short
/// wait, which the call marks with a `.stuck` file beside the socket; later
/// calls see the mark and never connect. Checked without timing the calls
/// (the machine may be loaded): a call that connected and waited again
/// would renew the mark's mtime, which the test set itself.
#[test]
fn a_stopped_helper_is_given_up_on_and_then_left_alone() {
    let sandbox = Sandbox::new();
    let runtime = runtime_dir(sandbox.outside.parent().unwrap());
    let object = sandbox.reference();
    timed_helper_call(&sandbox, &runtime);
    let helpers = wait_for_helper(&runtime);
    for pid in &helpers {
        // SAFETY: a helper this test started.
        unsafe { libc::kill(*pid, libc::SIGSTOP) };
    }
    let (first, _) = timed_helper_call(&sandbox, &runtime);
    // SAFETY: getuid has no preconditions.
    let dir = runtime.join(format!("zccache-{}", unsafe { libc::getuid() }));
    let marks: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "stuck"))
        .collect();
    assert_eq!(marks.len(), 1, "the first call marks the helper: {marks:?}");
    let marked =
        filetime::FileTime::from_unix_time(filetime::FileTime::now().unix_seconds() - 2, 0);
    filetime::set_file_mtime(&marks[0], marked).unwrap();
    timed_helper_call(&sandbox, &runtime);
    let mark_after =
        filetime::FileTime::from_last_modification_time(&fs::metadata(&marks[0]).unwrap());
    kill_all(&helpers);
    assert_eq!(fs::read(sandbox.work.join("a.o")).unwrap(), object);
    // Not a timing of the call: it tells the accept timeout (0.3 s) from
    // the read timeout (30 s) a call without it would have waited.
    assert!(first < Duration::from_secs(15), "first call took {first:?}");
    assert_eq!(
        mark_after, marked,
        "the second call waited on the stopped helper"
    );
}

#[test]
fn a_dir_at_the_socket_name_starts_no_helper() {
    let sandbox = Sandbox::new();
    let runtime = runtime_dir(sandbox.outside.parent().unwrap());
    let socket = dead_helper_socket(&sandbox, &runtime);
    let dir = socket.parent().unwrap().to_path_buf();
    std::thread::sleep(Duration::from_millis(100));
    fs::remove_file(&socket).unwrap();
    fs::create_dir(&socket).unwrap();
    for _ in 0..3 {
        timed_helper_call(&sandbox, &runtime);
    }
    std::thread::sleep(Duration::from_millis(300));
    // Helpers started hold their lock for life; none may be alive.
    let alive = fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|entry| entry.path().extension().is_some_and(|e| e == "lock"))
        .filter_map(|lock| {
            fs::read_to_string(lock.path())
                .ok()?
                .trim()
                .parse::<i32>()
                .ok()
        })
        // SAFETY: signal 0 only asks whether the process exists.
        .filter(|pid| unsafe { libc::kill(*pid, 0) } == 0)
        .count();
    let started = fs::read_dir(&dir).unwrap().count();
    assert_eq!(alive, 0);
    // The dir, and the lock of the helper killed above: no new lock files.
    assert!(started <= 2, "helpers were started: {started} entries");
}

/// A bincode frame of the protocol before the helper's answers were
/// checked: `Reply::Hit { stdout, stderr }` (variant 0) or
/// `Reply::Run { extra_args }` (variant 1). Today's client reads neither as
/// an answer it accepts.
fn old_frame(variant: u32, fields: &[&[&[u8]]]) -> Vec<u8> {
    let mut body = variant.to_le_bytes().to_vec();
    for field in fields {
        // A field is a byte string or a list of strings: both length-prefixed.
        if field.len() == 1 {
            body.extend((field[0].len() as u64).to_le_bytes());
            body.extend(field[0]);
        } else {
            body.extend((field.len() as u64 - 1).to_le_bytes());
            for item in &field[1..] {
                body.extend((item.len() as u64).to_le_bytes());
                body.extend(*item);
            }
        }
    }
    let mut frame = (body.len() as u32).to_le_bytes().to_vec();
    frame.extend(body);
    frame
}

/// Replaces the helper of `sandbox` by a fake one that answers every
/// connection with `reply`, run by `as_user` (a uid) or by this user; gives
/// the fake's process, to kill.
fn fake_helper(
    sandbox: &Sandbox,
    runtime: &Path,
    reply: &[u8],
    as_user: Option<u32>,
) -> std::process::Child {
    let socket = dead_helper_socket(sandbox, runtime);
    // Somewhere the other user can make a socket.
    let spot = tempfile::Builder::new()
        .prefix("zccache-fake-")
        .tempdir()
        .unwrap();
    fs::set_permissions(
        spot.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let fake = spot.path().join("fake.sock");
    let reply_file = spot.path().join("reply");
    fs::write(&reply_file, reply).unwrap();
    fs::set_permissions(
        &reply_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let server = "use IO::Socket::UNIX; \
        my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Local => $ARGV[0], Listen => 16) or die $!; \
        open my $f, '<', $ARGV[1] or die; binmode $f; local $/; my $r = <$f>; \
        while (my $c = $s->accept) { my $b; sysread($c, $b, 65536); print $c $r; close $c }";
    let mut command = match as_user {
        Some(uid) => {
            let mut command = Command::new("setpriv");
            command.args([
                format!("--reuid={uid}"),
                format!("--regid={uid}"),
                "--clear-groups".to_string(),
                "perl".to_string(),
            ]);
            command
        }
        None => Command::new("perl"),
    };
    let child = command
        .args(["-e", server])
        .arg(&fake)
        .arg(&reply_file)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !fake.exists() {
        assert!(Instant::now() < deadline, "the fake helper did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    fs::remove_file(&socket).unwrap();
    fs::rename(&fake, &socket).unwrap();
    std::mem::forget(spot);
    child
}

#[test]
fn a_helper_of_another_user_is_never_asked() {
    if !is_root() {
        return;
    }
    let sandbox = Sandbox::new();
    let runtime = runtime_dir(sandbox.outside.parent().unwrap());
    let object = sandbox.reference();
    let hit = old_frame(0, &[&[b"PWNED\n"], &[b""]]);
    let mut fake = fake_helper(&sandbox, &runtime, &hit, Some(65534));
    let (_, output) = timed_helper_call(&sandbox, &runtime);
    let _ = fake.kill();
    let _ = fake.wait();
    assert!(!String::from_utf8_lossy(&output.stdout).contains("PWNED"));
    assert_eq!(fs::read(sandbox.work.join("a.o")).unwrap(), object);
}

#[test]
fn a_helper_answering_tool_arguments_is_not_served() {
    let sandbox = Sandbox::new();
    let runtime = runtime_dir(sandbox.outside.parent().unwrap());
    let object = sandbox.reference();
    // gcc -B DIR runs DIR/as.
    let evil = sandbox.outside.join("evil");
    fs::create_dir_all(&evil).unwrap();
    let ran = sandbox.outside.join("ran");
    fs::write(
        evil.join("as"),
        format!("#!/bin/sh\ntouch {}\nexec as \"$@\"\n", ran.display()),
    )
    .unwrap();
    fs::set_permissions(
        evil.join("as"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let evil_dir = format!("{}/", evil.display());
    let run = old_frame(1, &[&[b"", b"-B", evil_dir.as_bytes()]]);
    let mut fake = fake_helper(&sandbox, &runtime, &run, None);
    let (_, output) = timed_helper_call(&sandbox, &runtime);
    let _ = fake.kill();
    let _ = fake.wait();
    assert!(output.status.success());
    assert!(!ran.exists(), "the compiler ran the helper's -B dir");
    assert_eq!(fs::read(sandbox.work.join("a.o")).unwrap(), object);
}

#[test]
fn a_warning_of_the_helper_reaches_the_call() {
    let sandbox = Sandbox::new();
    let runtime = runtime_dir(sandbox.outside.parent().unwrap());
    let object = sandbox.reference();
    timed_helper_call(&sandbox, &runtime);
    let helpers = wait_for_helper(&runtime);
    for blob in sandbox.files_under("v1/blobs") {
        fs::write(blob, b"damaged").unwrap();
    }
    let (_, output) = timed_helper_call(&sandbox, &runtime);
    kill_all(&helpers);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.matches("zccache: warning: cache").count(),
        1,
        "{stderr}"
    );
    assert_eq!(fs::read(sandbox.work.join("a.o")).unwrap(), object);
}

#[test]
fn a_cache_dir_swapped_for_a_symlink_gets_no_file_written_through_it() {
    let sandbox = Sandbox::new();
    sandbox.compile(&[]);
    // Every fan-out dir of the records points outside the cache.
    for namespace in fs::read_dir(sandbox.cache.join("v1/records"))
        .unwrap()
        .flatten()
    {
        for fan_out in fs::read_dir(namespace.path()).unwrap().flatten() {
            fs::remove_dir_all(fan_out.path()).unwrap();
            std::os::unix::fs::symlink(&sandbox.outside, fan_out.path()).unwrap();
        }
    }
    let object = sandbox.reference();
    fs::remove_file(sandbox.work.join("a.o")).unwrap();
    sandbox.compile(&[]);
    assert_eq!(fs::read(sandbox.work.join("a.o")).unwrap(), object);
    sandbox.assert_outside_empty();
}

#[test]
fn nothing_is_made_through_a_symlink_planted_in_the_cache() {
    let sandbox = Sandbox::new();
    sandbox.compile(&[]);
    // The records tree (the tools' memo included) and the dir the memo
    // was kept in before it became records lead outside: storing must make
    // nothing there.
    for dir in ["v1/records", "v1/toolchains"] {
        let dir = sandbox.cache.join(dir);
        if dir.exists() {
            fs::remove_dir_all(&dir).unwrap();
        }
        std::os::unix::fs::symlink(&sandbox.outside, &dir).unwrap();
    }
    let object = sandbox.reference();
    fs::remove_file(sandbox.work.join("a.o")).unwrap();
    sandbox.compile(&[]);
    assert_eq!(fs::read(sandbox.work.join("a.o")).unwrap(), object);
    sandbox.assert_outside_empty();
}

/// Rewrites every result record of the sandbox's cache as whoever can
/// write the cache could: `edit`ed, under a header that verifies.
fn rewrite_results(sandbox: &Sandbox, edit: &dyn Fn(&mut zccache::records::ResultRecord)) {
    use zccache::records::{ResultRecord, decode, encode};
    let mut rewritten = 0;
    for path in sandbox.files_under("v1/records/results") {
        let bytes = fs::read(&path).unwrap();
        let Some(mut record) = decode::<ResultRecord>(&bytes[48..]) else {
            continue;
        };
        edit(&mut record);
        let payload = encode(&record).unwrap();
        let mut file = b"ZCRC".to_vec();
        file.extend_from_slice(&1u32.to_le_bytes());
        file.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        file.extend_from_slice(blake3::hash(&payload).as_bytes());
        file.extend_from_slice(&payload);
        fs::write(&path, file).unwrap();
        rewritten += 1;
    }
    assert!(rewritten > 0, "no result record to rewrite");
}

#[test]
fn a_record_is_replayed_byte_exact_only_when_it_fits_the_step() {
    let sandbox = Sandbox::new();
    let object = sandbox.reference();
    sandbox.compile(&[]);
    let records: Vec<(PathBuf, Vec<u8>)> = sandbox
        .files_under("v1/records")
        .into_iter()
        .map(|path| {
            let bytes = fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    let put_back = || {
        for (path, bytes) in &records {
            fs::write(path, bytes).unwrap();
        }
    };
    let recompile = || {
        fs::remove_file(sandbox.work.join("a.o")).unwrap();
        let output = sandbox.compile(&[]);
        assert_eq!(fs::read(sandbox.work.join("a.o")).unwrap(), object);
        output
    };
    // Terminal escapes and shell syntax: written out as they are, which
    // is what replay promises, and nothing more is made of them.
    let stderr = b"\x1b]0;title\x07\x1b[2J\x1b[31mwarning\x1b[0m $(touch pwned) `touch pwned`\n";
    let stdout = b"\x1b[1mout\x1b[0m\r\x08\n";
    let crafted = |record: &mut zccache::records::ResultRecord| {
        record.stderr = stderr.to_vec();
        record.stdout = stdout.to_vec();
    };
    rewrite_results(&sandbox, &crafted);
    let replayed = recompile();
    assert_eq!(replayed.stderr, stderr.to_vec());
    assert_eq!(replayed.stdout, stdout.to_vec());
    assert!(!sandbox.work.join("pwned").exists());

    // A record that cannot be the result of this step (more or fewer
    // outputs, a failed run) is a miss: gcc runs, its own (empty) output
    // is printed, not the record's.
    type Edit = fn(&mut zccache::records::ResultRecord);
    let disagreeing: [(&str, Edit); 3] = [
        ("an output too many", |record| {
            record.outputs.push(record.outputs[0].clone())
        }),
        ("no output", |record| record.outputs.clear()),
        ("a failed run", |record| record.exit_code = 1),
    ];
    for (what, edit) in disagreeing {
        put_back();
        rewrite_results(&sandbox, &|record| {
            crafted(record);
            edit(record);
        });
        let ran = recompile();
        assert!(
            ran.stderr.is_empty() && ran.stdout.is_empty(),
            "a record with {what} was replayed: {ran:?}"
        );
    }

    // A blob that is not what the record names: a miss, one warning.
    put_back();
    for blob in sandbox.files_under("v1/blobs") {
        let other = zstd::encode_all(&b"not the object"[..], 1).unwrap();
        fs::write(&blob, other).unwrap();
    }
    let ran = recompile();
    let warnings = String::from_utf8_lossy(&ran.stderr).to_string();
    assert_eq!(warnings.lines().count(), 1, "{warnings}");
    assert!(
        warnings.starts_with("zccache: warning:") && warnings.contains("does not match"),
        "{warnings}"
    );
}
