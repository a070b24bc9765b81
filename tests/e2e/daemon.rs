//! The launcher's helper process (src/daemon/) against real gcc: hits it
//! serves are byte-identical to the real compile and counted, and a build
//! never depends on it (killed, stale socket, refused directory, turned off).
//!
//! Each test has its own cache and its own XDG_RUNTIME_DIR, so its helpers
//! and sockets are its own; helpers it started are killed by pid at the end.

use crate::harness::workspace::alive;
use crate::harness::*;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A source with a warning, so replayed stderr is checked too.
const SOURCE: &str = "#include <stdio.h>\nint f(int x) { int unused; return x * 2; }\n\
                      int main(void) { printf(\"%d\\n\", f(21)); return 0; }\n";

/// A [`Workspace`] whose work dir holds `a.c`.
fn case() -> Workspace {
    let case = Workspace::new();
    fs::write(case.work.join("a.c"), SOURCE).unwrap();
    case
}

impl Workspace {
    /// `zccache gcc -Wall -c a.c -o a.o`: (exit code, stdout, stderr).
    fn compile(&self) -> (Option<i32>, Vec<u8>, Vec<u8>) {
        let out = self
            .command(zccache_bin(), &["gcc", "-Wall", "-c", "a.c", "-o", "a.o"])
            .output()
            .unwrap();
        (out.status.code(), out.stdout, out.stderr)
    }

    /// Removes a.o and compiles a.c again: exit 0, nothing on stdout,
    /// `warning` on stderr, and gcc's own object.
    fn assert_recompiles(&self, object: &[u8], warning: &[u8]) {
        fs::remove_file(self.work.join("a.o")).unwrap();
        assert_eq!(self.compile(), (Some(0), Vec::new(), warning.to_vec()));
        assert_eq!(fs::read(self.work.join("a.o")).unwrap(), object);
    }

    fn stats(&self) -> Stats {
        self.env.stats()
    }

    /// Waits (bounded) until `n` helpers are listening.
    fn wait_for_helpers(&self, n: usize) -> Vec<i32> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let pids = self.helper_pids();
            if pids.len() == n && self.socket_files("sock").len() == n {
                return pids;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} helper(s), found pids {pids:?} and sockets {:?}",
                self.socket_files("sock")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn kill(pid: i32) {
    // SAFETY: a pid read from a helper's lock file, started by this test.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
}

fn wait_until_dead(pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while alive(pid) {
        assert!(Instant::now() < deadline, "helper {pid} did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What gcc itself makes of a.c: (object, stderr).
fn reference(env: &Workspace) -> (Vec<u8>, Vec<u8>) {
    let out = env
        .command("gcc", &["-Wall", "-c", "a.c", "-o", "ref.o"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr).replace("ref.o", "a.o");
    (
        fs::read(env.work.join("ref.o")).unwrap(),
        stderr.into_bytes(),
    )
}

#[test]
fn hits_served_by_the_helper_are_byte_identical_and_counted() {
    let env = case();
    let (object, warning) = reference(&env);
    assert!(!warning.is_empty(), "the source is meant to warn");
    let first = env.compile();
    assert_eq!(first, (Some(0), Vec::new(), warning.clone()));
    env.wait_for_helpers(1);
    for _ in 0..3 {
        env.assert_recompiles(&object, &warning);
    }
    let stats = env.stats();
    assert_eq!(stats.field("compile_misses"), Some(1), "{stats:?}");
    assert_eq!(stats.field("compile_hits"), Some(3), "{stats:?}");
    assert_eq!(stats.field("helper_hits"), Some(3), "{stats:?}");
}

#[test]
fn variables_named_in_zccache_unset_env_reach_no_tool_and_start_no_helper() {
    let env = case().with("ZCCACHE_UNSET_ENV", "PER_CALL, DEPENDENCIES_OUTPUT");
    let (object, warning) = reference(&env);
    env.compile();
    env.wait_for_helpers(1);
    for i in 0..4 {
        fs::remove_file(env.work.join("a.o")).unwrap();
        let out = env
            .command(zccache_bin(), &["gcc", "-Wall", "-c", "a.c", "-o", "a.o"])
            .env("PER_CALL", i.to_string())
            // gcc would write a depfile where this names one.
            .env("DEPENDENCIES_OUTPUT", "deps.d")
            .output()
            .unwrap();
        assert_eq!((out.status.code(), out.stderr), (Some(0), warning.clone()));
        assert_eq!(fs::read(env.work.join("a.o")).unwrap(), object);
    }
    assert!(
        !env.work.join("deps.d").exists(),
        "gcc saw DEPENDENCIES_OUTPUT"
    );
    let stats = env.stats();
    assert_eq!(stats.field("helper_hits"), Some(4), "{stats:?}");
    assert_eq!(env.helper_pids().len(), 1);
}

#[test]
fn many_concurrent_calls_are_all_served_correctly() {
    let env = case();
    let (object, _) = reference(&env);
    env.compile();
    env.wait_for_helpers(1);
    std::thread::scope(|scope| {
        for i in 0..8 {
            let env = &env;
            let object = &object;
            scope.spawn(move || {
                let name = format!("o{i}.o");
                for _ in 0..5 {
                    let out = env
                        .command(zccache_bin(), &["gcc", "-Wall", "-c", "a.c", "-o", &name])
                        .output()
                        .unwrap();
                    assert!(out.status.success(), "{out:?}");
                    assert_eq!(&fs::read(env.work.join(&name)).unwrap(), object);
                }
            });
        }
    });
    let stats = env.stats();
    assert_eq!(
        stats.get("compile_hits") + stats["compile_misses"],
        41,
        "{stats:?}"
    );
}

#[test]
fn a_killed_helper_or_a_stale_socket_never_fails_a_call() {
    let env = case();
    let (object, warning) = reference(&env);
    env.compile();
    let pids = env.wait_for_helpers(1);
    kill(pids[0]);
    wait_until_dead(pids[0]);
    // The socket file stays behind with nobody listening.
    assert_eq!(env.socket_files("sock").len(), 1);
    env.assert_recompiles(&object, &warning);
    // That call started a new helper, which took the stale name over.
    let new_pids = env.wait_for_helpers(1);
    assert_ne!(new_pids, pids);
    kill(new_pids[0]);
    wait_until_dead(new_pids[0]);
    // A socket name taken by a plain file.
    let socket = env.socket_files("sock").remove(0);
    fs::remove_file(&socket).unwrap();
    fs::write(&socket, "not a socket").unwrap();
    env.assert_recompiles(&object, &warning);
    env.wait_for_helpers(1);
}

#[test]
fn a_helper_killed_while_calls_run_fails_none_of_them() {
    let env = case();
    let (object, _) = reference(&env);
    env.compile();
    env.wait_for_helpers(1);
    std::thread::scope(|scope| {
        let worker = scope.spawn(|| {
            for i in 0..30 {
                let name = format!("k{i}.o");
                let out = env
                    .command(zccache_bin(), &["gcc", "-Wall", "-c", "a.c", "-o", &name])
                    .output()
                    .unwrap();
                assert!(out.status.success(), "{out:?}");
                assert_eq!(fs::read(env.work.join(&name)).unwrap(), object);
            }
        });
        // Kill whichever helper is serving, a few times, while calls run.
        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(30));
            for pid in env.helper_pids() {
                kill(pid);
            }
        }
        worker.join().unwrap();
    });
}

#[test]
fn a_socket_dir_open_to_others_is_refused() {
    let env = case();
    let (object, _) = reference(&env);
    fs::create_dir_all(env.socket_dir()).unwrap();
    fs::set_permissions(env.socket_dir(), fs::Permissions::from_mode(0o755)).unwrap();
    for _ in 0..2 {
        let _ = fs::remove_file(env.work.join("a.o"));
        assert_eq!(env.compile().0, Some(0));
        assert_eq!(fs::read(env.work.join("a.o")).unwrap(), object);
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(env.socket_files("sock").is_empty());
    assert!(env.helper_pids().is_empty());
    let stats = env.stats();
    assert_eq!(stats.field("compile_hits"), Some(1), "{stats:?}");
    assert_eq!(stats.field("helper_hits"), None, "{stats:?}");
}

#[test]
fn turned_off_no_helper_starts_and_hits_still_work() {
    let env = case().with("ZCCACHE_DAEMON", "0");
    let (object, warning) = reference(&env);
    env.compile();
    env.assert_recompiles(&object, &warning);
    std::thread::sleep(Duration::from_millis(300));
    assert!(env.socket_files("sock").is_empty());
    let stats = env.stats();
    assert_eq!(stats.field("compile_hits"), Some(1), "{stats:?}");
    assert_eq!(stats.field("helper_hits"), None, "{stats:?}");
}

#[test]
fn an_idle_helper_exits_and_removes_its_socket() {
    let env = case().with("ZCCACHE_DAEMON_IDLE_SECS", "1");
    env.compile();
    let pids = env.wait_for_helpers(1);
    wait_until_dead(pids[0]);
    assert!(env.socket_files("sock").is_empty());
    assert!(env.socket_files("lock").is_empty());
}

#[test]
fn two_cache_dirs_get_two_helpers() {
    let env = case();
    env.compile();
    env.wait_for_helpers(1);
    let other_cache = env.env.cache.with_extension("other");
    let out = env
        .command(zccache_bin(), &["gcc", "-c", "a.c", "-o", "b.o"])
        .env("ZCCACHE_DIR", &other_cache)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    env.wait_for_helpers(2);
}

#[test]
fn a_header_changed_outside_the_build_dir_is_seen_by_the_helper() {
    let env = case();
    let include = env.work.parent().unwrap().join("inc");
    fs::create_dir_all(&include).unwrap();
    fs::write(include.join("h.h"), "#define VALUE 1\n").unwrap();
    fs::write(
        env.work.join("b.c"),
        "#include \"h.h\"\nint value(void) { return VALUE; }\n",
    )
    .unwrap();
    let compile = |output: &str, program: &std::path::Path| {
        let mut args = vec!["-c", "b.c", "-I../inc", "-o", output];
        if program == zccache_bin() {
            args.insert(0, "gcc");
        }
        let out = env.command(program, &args).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        fs::read(env.work.join(output)).unwrap()
    };
    let gcc = PathBuf::from("gcc");
    let first = compile("b.o", &zccache_bin());
    env.wait_for_helpers(1);
    assert_eq!(compile("b.o", &zccache_bin()), first);
    for value in ["2", "300"] {
        fs::write(include.join("h.h"), format!("#define VALUE {value}\n")).unwrap();
        let real = compile("ref.o", &gcc);
        assert_ne!(real, first);
        assert_eq!(compile("b.o", &zccache_bin()), real, "VALUE {value}");
    }
}

#[test]
fn an_environment_changing_per_call_starts_at_most_a_few_helpers() {
    let env = case();
    for i in 0..12 {
        let out = env
            .command(zccache_bin(), &["gcc", "-c", "a.c", "-o", "a.o"])
            .env("SOME_VARIABLE", i.to_string())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        // Each call's helper is up before the next call counts them.
        let deadline = Instant::now() + Duration::from_secs(20);
        while env.helper_pids().len() < (i + 1).min(8) {
            assert!(Instant::now() < deadline, "helper {i} did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(env.helper_pids().len(), 8);
}

#[test]
fn misses_and_uncacheable_calls_are_counted_through_the_helper() {
    let env = case();
    env.compile();
    env.wait_for_helpers(1);
    let source = env.work.join("a.c");
    let mut text = fs::read_to_string(&source).unwrap();
    text.push_str("int g(void) { return 3; }\n");
    fs::write(&source, text).unwrap();
    assert_eq!(env.compile().0, Some(0));
    let preprocessed = env
        .command(zccache_bin(), &["gcc", "-E", "a.c"])
        .output()
        .unwrap();
    assert!(preprocessed.status.success(), "{preprocessed:?}");
    assert!(String::from_utf8_lossy(&preprocessed.stdout).contains("int g(void)"));
    let stats = env.stats();
    assert_eq!(stats.field("compile_misses"), Some(2), "{stats:?}");
    assert_eq!(stats.field("uncacheable"), Some(1), "{stats:?}");
    assert!(stats.field("cache_size_bytes").is_some_and(|size| size > 0));
}

/// Runs `zccache gcc -Wall -c a.c -o a.o` with its stderr on a terminal
/// (`script` gives it a pseudo-terminal); returns what the terminal showed.
fn compile_on_a_terminal(env: &Workspace) -> String {
    let command = format!(
        "{} gcc -Wall -c a.c -o a.o",
        zccache_bin().to_string_lossy()
    );
    let out = env
        .command("script", &["-qec", &command, "/dev/null"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn diagnostics_are_coloured_on_a_terminal_and_never_replayed_elsewhere() {
    for helper in ["1", "0"] {
        let env = case().with("ZCCACHE_DAEMON", helper);
        let (_, plain) = reference(&env);
        let (code, _, stderr) = env.compile();
        assert_eq!((code, &stderr), (Some(0), &plain));
        if helper == "1" {
            env.wait_for_helpers(1);
        }
        for _ in 0..2 {
            let shown = compile_on_a_terminal(&env);
            assert!(
                shown.contains("\u{1b}["),
                "no colour on a terminal: {shown:?}"
            );
            assert!(shown.contains("unused variable"), "{shown:?}");
        }
        fs::remove_file(env.work.join("a.o")).unwrap();
        assert_eq!(env.compile(), (Some(0), Vec::new(), plain));
        let stats = env.stats();
        assert_eq!(stats.field("compile_misses"), Some(2), "{stats:?}");
        assert_eq!(stats.field("compile_hits"), Some(2), "{stats:?}");
    }
}

#[test]
fn another_zccache_binary_never_talks_to_this_helper() {
    let env = case();
    env.compile();
    env.wait_for_helpers(1);
    let copy = env.work.parent().unwrap().join("bin").join("zccache");
    fs::create_dir_all(copy.parent().unwrap()).unwrap();
    fs::copy(zccache_bin(), &copy).unwrap();
    fs::remove_file(env.work.join("a.o")).unwrap();
    let out = env
        .command(&copy, &["gcc", "-Wall", "-c", "a.c", "-o", "a.o"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    // Its own helper, under its own socket name.
    env.wait_for_helpers(2);
}

/// Replaces the helper by a fake server at its socket name that answers
/// each connection with `answer` (or nothing, holding it open when `None`).
fn fake_helper(env: &Workspace, answer: Option<&'static [u8]>) -> std::thread::JoinHandle<()> {
    let pids = env.wait_for_helpers(1);
    let socket = env.socket_files("sock").remove(0);
    kill(pids[0]);
    wait_until_dead(pids[0]);
    fs::remove_file(&socket).unwrap();
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(1) {
            let mut stream = stream.unwrap();
            if let Some(answer) = answer {
                use std::io::Write as _;
                let _ = stream.write_all(answer);
            }
            held.push(stream);
            // Holds the connection (never answers) past the client's timeout.
            std::thread::sleep(Duration::from_secs(15));
        }
    })
}

#[test]
fn a_helper_answering_garbage_or_nothing_costs_a_call_only_its_speed() {
    for answer in [Some(&b"\x04\0\0\0\xff\xff\xff\xff"[..]), None] {
        let env = case();
        let (object, warning) = reference(&env);
        env.compile();
        let _fake = fake_helper(&env, answer);
        fs::remove_file(env.work.join("a.o")).unwrap();
        let mut call = env
            .command(zccache_bin(), &["gcc", "-Wall", "-c", "a.c", "-o", "a.o"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The client gives up on a silent helper after its read timeout.
        let deadline = Instant::now() + Duration::from_secs(60);
        while call.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = call.kill();
                panic!("the call hung on a helper that never answers");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = call.wait_with_output().unwrap();
        assert_eq!(
            (out.status.code(), out.stdout, out.stderr),
            (Some(0), Vec::new(), warning)
        );
        assert_eq!(fs::read(env.work.join("a.o")).unwrap(), object);
    }
}

#[test]
fn a_miss_is_run_by_the_call_and_stored_by_the_helper() {
    let env = case();
    env.compile();
    env.wait_for_helpers(1);
    fs::write(
        env.work.join("a.c"),
        format!("{SOURCE}int g(void) {{ return 3; }}\n"),
    )
    .unwrap();
    let (object, warning) = reference(&env);
    assert_eq!(env.compile(), (Some(0), Vec::new(), warning.clone()));
    assert_eq!(fs::read(env.work.join("a.o")).unwrap(), object);
    // The helper stores after the call returned; its own lookups wait for
    // that, and `zccache stats` too.
    env.assert_recompiles(&object, &warning);
    let stats = env.stats();
    assert_eq!(stats.field("compile_misses"), Some(2), "{stats:?}");
    assert_eq!(stats.field("helper_hits"), Some(1), "{stats:?}");
    // A process without the helper finds the stored result too.
    fs::remove_file(env.work.join("a.o")).unwrap();
    let alone = env
        .command(zccache_bin(), &["gcc", "-Wall", "-c", "a.c", "-o", "a.o"])
        .env("ZCCACHE_DAEMON", "0")
        .output()
        .unwrap();
    assert_eq!(alone.status.code(), Some(0), "{alone:?}");
    assert_eq!(alone.stderr, warning);
    assert_eq!(fs::read(env.work.join("a.o")).unwrap(), object);
    let stats = env.stats();
    assert_eq!(stats.field("compile_hits"), Some(2), "{stats:?}");
    assert_eq!(stats.field("compile_misses"), Some(2), "{stats:?}");
}

/// The arguments of a compile gcc -O2 takes over a second on.
const SLOW_COMPILE: [&str; 6] = ["gcc", "-O2", "-c", "big.c", "-o", "big.o"];

/// Starts [`SLOW_COMPILE`] through the launcher once a helper serves it;
/// returns the helper's pid and the call, once gcc compiles for it.
fn start_slow_compile(env: &Workspace) -> (i32, std::process::Child) {
    env.compile();
    let pids = env.wait_for_helpers(1);
    let source: String = (0..600)
        .map(|i| {
            format!(
                "int f{i}(int x) {{ int s = 0; for (int i = 0; i < x; i++) \
                 s += (i * {i}) ^ (s >> 3); return s; }}\n"
            )
        })
        .collect();
    fs::write(env.work.join("big.c"), source).unwrap();
    let call = env.command(zccache_bin(), &SLOW_COMPILE).spawn().unwrap();
    // Not a fixed wait: on a loaded machine the call may not have reached
    // the helper yet, and a call killed before it counted its miss would
    // fail the counts below.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cc1_compiles(&env.work, "big.c") {
        assert!(Instant::now() < deadline, "gcc never started on big.c");
        std::thread::sleep(Duration::from_millis(10));
    }
    (pids[0], call)
}

/// Whether gcc's compiler proper (`cc1`) is running on `source` in `dir`
/// (named relative to `dir`, its working directory, or by its full path).
fn cc1_compiles(dir: &std::path::Path, source: &str) -> bool {
    let dir = dir.canonicalize().unwrap();
    let full = dir.join(source);
    let Ok(processes) = fs::read_dir("/proc") else {
        return false;
    };
    processes.flatten().any(|process| {
        let Ok(cmdline) = fs::read(process.path().join("cmdline")) else {
            return false;
        };
        let args: Vec<&[u8]> = cmdline.split(|&byte| byte == 0).collect();
        // Compiling, not preprocessing (`cc1 -E`) for the cache's key.
        let compiling = args
            .first()
            .is_some_and(|program| program.ends_with(b"cc1"))
            && !args.contains(&&b"-E"[..]);
        let in_dir = || fs::read_link(process.path().join("cwd")).is_ok_and(|cwd| cwd == dir);
        compiling
            && (args.contains(&full.as_os_str().as_encoded_bytes())
                || (args.contains(&source.as_bytes()) && in_dir()))
    })
}

/// big.o is the object gcc itself makes of big.c.
fn assert_slow_compile_made_gccs_object(env: &Workspace) {
    let reference = env
        .command("gcc", &["-O2", "-c", "big.c", "-o", "ref-big.o"])
        .output()
        .unwrap();
    assert!(reference.status.success(), "{reference:?}");
    assert_eq!(
        fs::read(env.work.join("big.o")).unwrap(),
        fs::read(env.work.join("ref-big.o")).unwrap()
    );
}

#[test]
fn a_call_killed_during_its_compile_stores_nothing_and_the_helper_serves_on() {
    let env = case();
    let (helper, mut call) = start_slow_compile(&env);
    call.kill().unwrap();
    call.wait().unwrap();
    assert_eq!(
        env.helper_pids(),
        [helper],
        "the helper survives its client"
    );
    let out = env.command(zccache_bin(), &SLOW_COMPILE).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_slow_compile_made_gccs_object(&env);
    let stats = env.stats();
    // a.c, the killed call and the one after it: nothing was stored.
    assert_eq!(stats.field("compile_misses"), Some(3), "{stats:?}");
    assert_eq!(stats.get("compile_hits"), 0, "{stats:?}");
    assert_eq!(env.helper_pids(), [helper]);
}

#[test]
fn a_helper_killed_while_its_caller_compiles_fails_nothing() {
    let env = case();
    let (helper, call) = start_slow_compile(&env);
    kill(helper);
    let out = call.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_slow_compile_made_gccs_object(&env);
}

#[test]
fn private_depfiles_live_in_the_socket_dir_only_while_a_call_compiles() {
    let env = case();
    // Left by a helper that died mid-compile (no process has this pid).
    fs::create_dir_all(env.socket_dir()).unwrap();
    fs::set_permissions(env.socket_dir(), fs::Permissions::from_mode(0o700)).unwrap();
    let orphan = env.socket_dir().join("deps-2147483646-0.d");
    fs::write(&orphan, "a.o: a.c\n").unwrap();
    env.compile();
    env.wait_for_helpers(1);
    assert!(
        !orphan.exists(),
        "a new helper removes depfiles of dead ones"
    );
    // A miss served by the helper, with no depfile asked for by the build.
    fs::write(
        env.work.join("a.c"),
        format!("{SOURCE}int h(void) {{ return 4; }}\n"),
    )
    .unwrap();
    assert_eq!(env.compile().0, Some(0));
    env.stats();
    assert!(
        env.socket_files("d").is_empty(),
        "{:?}",
        env.socket_files("d")
    );
    fs::remove_file(env.work.join("a.o")).unwrap();
    assert_eq!(env.compile().0, Some(0));
    let stats = env.stats();
    assert_eq!(stats.field("helper_hits"), Some(1), "{stats:?}");
}

fn thread_count(pid: i32) -> usize {
    fs::read_dir(format!("/proc/{pid}/task")).unwrap().count()
}

#[test]
fn more_misses_at_once_than_the_helper_has_threads_are_all_served() {
    let env = case();
    env.compile();
    let helper = env.wait_for_helpers(1)[0];
    let idle_threads = thread_count(helper);
    // More compiles at once than the helper's free workers and spares (24):
    // each waits for its tool outside the pool, so the pool must grow.
    const CALLS: usize = 30;
    for i in 0..CALLS {
        let source: String = (0..150)
            .map(|f| format!("int f{f}(int x) {{ int s = {i}; for (int k = 0; k < x; k++) s += k * {f} ^ (s >> 2); return s; }}\n"))
            .collect();
        fs::write(env.work.join(format!("s{i}.c")), source).unwrap();
    }
    let compile_all = || {
        let calls: Vec<_> = (0..CALLS)
            .map(|i| {
                let (source, object) = (format!("s{i}.c"), format!("s{i}.o"));
                env.command(zccache_bin(), &["gcc", "-O2", "-c", &source, "-o", &object])
                    .spawn()
                    .unwrap()
            })
            .collect();
        // The most threads the helper had while they ran.
        let mut most = 0;
        for mut call in calls {
            while call.try_wait().unwrap().is_none() {
                most = most.max(thread_count(helper));
                std::thread::sleep(Duration::from_millis(5));
            }
            assert!(call.wait().unwrap().success());
        }
        most
    };
    let most = compile_all();
    assert!(
        most > idle_threads,
        "the pool grew for the burst: {most} threads at most, {idle_threads} idle"
    );
    let stats = env.stats();
    assert_eq!(stats["compile_misses"], 1 + CALLS as i64, "{stats:?}");
    let helper_hits = stats.get("helper_hits");
    for i in 0..CALLS {
        fs::remove_file(env.work.join(format!("s{i}.o"))).unwrap();
    }
    compile_all();
    let stats = env.stats();
    assert_eq!(
        stats["compile_misses"],
        1 + CALLS as i64,
        "stored: {stats:?}"
    );
    assert_eq!(
        stats["helper_hits"] - helper_hits,
        CALLS as i64,
        "served by the helper: {stats:?}"
    );
    // Threads started for the burst end once they serve a call and are
    // not needed.
    for _ in 0..CALLS {
        env.compile();
    }
    assert_eq!(env.helper_pids(), [helper]);
    assert!(
        thread_count(helper) <= idle_threads,
        "{} threads after the burst, {idle_threads} before",
        thread_count(helper)
    );
}
