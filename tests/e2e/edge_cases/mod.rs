//! Edge cases of `zccache build` compared with real ninja 1.11.1: damaged
//! bookkeeping, switching between the two executors in one build dir,
//! content-based dirty checking, failures, interruption, the jobserver,
//! pools, response files, dyndep, very large graphs, unusual paths, tools
//! and exit codes. Exit codes and interruption, which ninja 1.13 changed,
//! are compared with real ninja 1.13 ([`ninja_1_13`]).
//!
//! Where ninja and zccache may legitimately differ (zccache skips steps whose
//! inputs only got a new timestamp), the test checks zccache alone and then
//! asks ninja whether it agrees that the tree is up to date, because
//! zccache promises to keep ninja's view of the build dir in sync.
//!
//! Tests that expose a zccache bug stay here, correct against ninja, marked
//! `#[ignore = "bug: ..."]`.

use crate::harness::twin::{Runs, Twin};
use crate::harness::*;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod bookkeeping;
mod dirty;
mod limits;
mod scheduling;

/// Twin directories in /dev/shm when it exists: creating thousands of
/// files costs seconds on this machine's disk and milliseconds in memory.
fn twin_in_memory(files: &[(&str, &str)]) -> Twin {
    let shm = Path::new("/dev/shm");
    let temp = if shm.is_dir() {
        tempfile::Builder::new()
            .prefix("zccache-e2e-")
            .tempdir_in(shm)
            .expect("create temp dir in /dev/shm")
    } else {
        temp_dir()
    };
    Twin::new_in(temp, files)
}

fn steps(descriptions: &[&str]) -> Vec<String> {
    let mut steps: Vec<String> = descriptions.iter().map(|s| s.to_string()).collect();
    steps.sort();
    steps
}

/// Lines of a run's output that are warnings (either program's prefix).
fn warnings(output: &Output) -> Vec<String> {
    normalized_lines(&output.combined())
        .into_iter()
        .filter(|line| line.starts_with("warning: "))
        .collect()
}

/// Asserts that real ninja, run in `dir`, agrees there is nothing to do:
/// zccache must leave ninja's logs describing what it built.
fn assert_ninja_agrees_up_to_date(dir: &Path) {
    let output = ninja(dir, &["-n"]);
    assert!(
        output.reports_no_work() && warnings(&output).is_empty(),
        "ninja disagrees that zccache's tree is up to date: {}",
        output.describe()
    );
}

/// Deterministic junk (xorshift), so a failure reproduces byte for byte.
fn garbage(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Overwrites `path` with `content` without the helper's mtime wait: the
/// files damaged here are bookkeeping, never inputs.
fn clobber(path: &Path, content: &[u8]) {
    fs::write(path, content).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Deletes zccache's own state (there is none when reference mode ran
/// ninja instead).
fn remove_zccache_state(dir: &Path) {
    let path = dir.join(".zccache_state");
    if !reference_mode() || path.exists() {
        fs::remove_file(&path).unwrap_or_else(|e| panic!("remove {}: {e}", path.display()));
    }
}

fn write_after_tick(path: &Path, content: &str) {
    edit_file(path, |_| content.to_string());
}

const COPY_CHAIN: &str = "rule cp\n  command = cp $in $out\n\
     build mid: cp in\n\
     build out: cp mid\n";

/// A step whose dyndep file, built first, adds an input and an output.
const DYNDEP_MANIFEST: &str = "rule gen_dd\n  \
       command = printf 'ninja_dyndep_version = 1\\nbuild out | out.extra: dyndep | dep.txt\\n' > $out\n  \
       description = DD $out\n\
     rule make_out\n  \
       command = cat $in dep.txt > $out && cp dep.txt out.extra\n  \
       description = MAKE $out\n\
     build out.dd: gen_dd\n\
     build out: make_out in || out.dd\n  \
       dyndep = out.dd\n";
