//! End-to-end: storing and restoring an output takes memory bounded
//! whatever the output's size (issue 15 #9). A compile whose object holds
//! a 256 MiB array is stored and restored, by `zccache build` itself and
//! by the launcher's helper; the peak resident size of the process that
//! stores and restores may not exceed that of a small compile's store by
//! more than `ALLOWANCE`.

use crate::harness::*;
use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

const BIG_MIB: usize = 256;
const ALLOWANCE_KIB: u64 = 64 * 1024;

/// One big output at a time: a small /tmp holds one with its restored copy.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A [`Workspace`] with a small and a big source and a manifest compiling
/// both.
fn case() -> Workspace {
    let case = Workspace::new();
    // A zero-filled array: gcc makes the object in a second with
    // little memory, and the cache stores it small.
    let big = format!("char big[{BIG_MIB} << 20] = {{1}};\n");
    let manifest = "rule cc\n  command = gcc -c $in -o $out\n\n\
                    build small.o: cc small.c\nbuild other.o: cc other.c\n\
                    build big.o: cc big.c\n";
    write_files(
        &case.work,
        &[
            ("build.ninja", manifest),
            ("small.c", "int small(void) { return 1; }\n"),
            ("other.c", "int other(void) { return 2; }\n"),
            ("big.c", &big),
        ],
    );
    case
}

impl Workspace {
    /// Runs `zccache args...`, which must succeed; gives the peak resident
    /// size of that process and its children, in KiB (ru_maxrss of wait4).
    fn peak_of(&self, args: &[&str]) -> u64 {
        let log = self.work.join("zccache.log");
        // Reaped by wait4 below, which gives its resource use.
        #[allow(clippy::zombie_processes)]
        let child = self
            .command(zccache_bin(), args)
            .stdin(Stdio::null())
            .stdout(fs::File::create(&log).unwrap())
            .stderr(fs::File::options().append(true).open(&log).unwrap())
            .spawn()
            .expect("run zccache");
        let mut status = 0;
        // SAFETY: zeroed rusage is a valid value to be overwritten.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: waits for our own child; both out-pointers are valid.
        let waited = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
        assert_eq!(waited, child.id() as i32, "wait4 failed");
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "zccache {} failed:\n{}",
            args.join(" "),
            fs::read_to_string(&log).unwrap_or_default()
        );
        usage.ru_maxrss as u64
    }

    fn stat(&self, name: &str) -> i64 {
        self.env.stats().get(name)
    }

    /// Pid of the one live helper, waited for (bounded).
    fn helper_pid(&self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let pids = self.helper_pids();
            if let [pid] = pids[..] {
                return pid;
            }
            assert!(Instant::now() < deadline, "no helper started: {pids:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// blake3 of a file, read in a stream.
fn digest(path: &Path) -> blake3::Hash {
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(fs::File::open(path).unwrap()).unwrap();
    hasher.finalize()
}

/// The helper's peak resident size so far, in KiB.
fn high_water_mark(pid: i32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|kib| kib.trim().parse().ok())
        .expect("VmHWM in /proc/PID/status")
}

fn assert_bounded(what: &str, peak: u64, small: u64) {
    eprintln!("{what}: peak {peak} KiB, a small store's {small} KiB");
    assert!(
        peak <= small + ALLOWANCE_KIB,
        "{what} of a {BIG_MIB} MiB output peaked at {} MiB resident, a small \
         compile's store at {} MiB: memory grows with the output",
        peak / 1024,
        small / 1024
    );
}

#[test]
fn a_build_stores_and_restores_a_big_output_in_bounded_memory() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let case = case();
    let small = case.peak_of(&["build", "small.o"]);
    let stored = case.peak_of(&["build", "big.o"]);
    let made = digest(&case.work.join("big.o"));
    fs::remove_file(case.work.join("big.o")).unwrap();
    let restored = case.peak_of(&["build", "big.o"]);
    assert_eq!(case.stat("compile_hits"), 1, "big.o was not restored");
    assert_eq!(digest(&case.work.join("big.o")), made);
    assert_bounded("storing", stored, small);
    assert_bounded("restoring", restored, small);
}

#[test]
fn the_helper_stores_and_restores_a_big_output_in_bounded_memory() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let case = case();
    let compile = |source: &str, object: &str| {
        let out = case
            .command(zccache_bin(), &["gcc", "-c", source, "-o", object])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    };
    // The first call starts the helper and works alone; the second is
    // stored by the helper.
    compile("small.c", "small.o");
    let pid = case.helper_pid();
    compile("other.c", "other.o");
    case.stat("compile_hits");
    let small = high_water_mark(pid);
    compile("big.c", "big.o");
    let made = digest(&case.work.join("big.o"));
    fs::remove_file(case.work.join("big.o")).unwrap();
    // The helper's lookup waits for its store of the same step.
    compile("big.c", "big.o");
    let peak = high_water_mark(pid);
    let hits = case.stat("helper_hits");
    // SAFETY: the helper this test started, by pid.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    assert_eq!(hits, 1, "big.o was not restored by the helper");
    assert_eq!(digest(&case.work.join("big.o")), made);
    assert_bounded("the helper storing and restoring", peak, small);
}
