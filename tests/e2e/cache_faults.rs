//! End-to-end: the compiler cache never breaks a build. Each test builds
//! examples/cmake-project with `zccache build` while the cache (`ZCCACHE_DIR`)
//! is in a fault state — corrupt blobs, truncated records, a read-only or
//! full filesystem, a directory deleted mid-build, a cache path that is a
//! file, concurrent writers (also racing eviction), a tiny size limit, a
//! broken settings file — and checks that the build succeeds without a
//! panic and its products are byte-identical to a plain `ninja` build of the
//! same configuration (the executables also run).
//!
//! Every build dir of one test lives next to the reference dir in one temp
//! dir with a name of the same length; the project is built in Release (no
//! `-g`) with an `$ORIGIN` RPATH, so its products do not embed the build dir.
//!
//! The tmpfs tests need root (`mount`), as CI has; without it they say
//! that they were skipped (see `harness::skipped`).

use crate::harness::*;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// What `zccache build` prints when the cache fails it.
const WARNING: &str = "zccache: warning";

/// Runs `zccache args...` in `dir` with the cache in `cache`, a settings
/// search that cannot find the user's own file, and `env` on top.
fn zccache_with(dir: &Path, cache: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    env.iter()
        .fold(Env::new(cache), |with, (name, value)| {
            with.with(name, value)
        })
        .zccache(dir, args)
}

/// How many lines of the run's output are zccache warnings.
fn warning_count(output: &Output) -> usize {
    output
        .combined()
        .lines()
        .filter(|line| line.contains(WARNING))
        .count()
}

fn assert_warned(output: &Output) {
    assert!(
        warning_count(output) > 0,
        "expected a `{WARNING}` line: {}",
        output.describe()
    );
}

/// Every regular file under `dir` (recursively); empty when it is missing.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(kind) if kind.is_dir() => files.extend(files_under(&path)),
            Ok(kind) if kind.is_file() => files.push(path),
            _ => {}
        }
    }
    files
}

/// Sum of the sizes of the files under `dir`.
fn bytes_under(dir: &Path) -> u64 {
    files_under(dir)
        .iter()
        .filter_map(|path| fs::metadata(path).ok())
        .map(|meta| meta.len())
        .sum()
}

/// The project's steps the cache handles, as built by cmake for this
/// project: 8 compiles, `libgeom.a`, and links of `libtext.so`, `zcdemo`
/// and `zcdemo_tests`.
const COMPILES: i64 = 8;
const ARCHIVES: i64 = 1;
const LINKS: i64 = 3;

/// The example project with a reference build by real ninja; build dirs
/// for zccache are configured beside it on demand, each test with caches
/// of its own.
struct Reference {
    example: Example,
    products: BTreeMap<String, Vec<u8>>,
}

impl Reference {
    fn new() -> Self {
        let example = Example::new();
        let reference_dir = example.configure("nj", &[]);
        ninja(&reference_dir, &["-C", path_str(&reference_dir)]).assert_success();
        let products = example_build_products(&reference_dir);
        assert!(
            products.contains_key("zcdemo") && products.contains_key("libgeom.a"),
            "the reference build lacks products: {:?}",
            products.keys()
        );
        Reference { example, products }
    }

    /// A path in the test's temp dir (for caches and mount points).
    fn path(&self, name: &str) -> PathBuf {
        self.example.path(name)
    }

    /// A fresh, configured build dir; `name` has two characters like the
    /// reference dir's.
    fn configure(&self, name: &str) -> PathBuf {
        assert_eq!(name.len(), 2, "build dir names keep one length");
        self.example.configure(name, &[])
    }

    /// `zccache build -C dir extra...` with the cache in `cache`.
    fn build(&self, dir: &Path, cache: &Path, env: &[(&str, &str)], extra: &[&str]) -> Output {
        let mut args = vec!["build", "-C", path_str(dir)];
        args.extend_from_slice(extra);
        zccache_with(dir, cache, env, &args)
    }

    /// The build succeeded and `dir` holds exactly the reference products,
    /// whose executables run.
    /// A new build dir `name` against `cache`: every cacheable step hits,
    /// and the products equal plain ninja's.
    fn assert_fresh_dir_hits_everything(&self, name: &str, cache: &Path) {
        let before = Env::new(cache).stats();
        let dir = self.configure(name);
        let output = self.build(&dir, cache, &[], &[]);
        self.assert_correct(&dir, &output);
        assert_all_hits(&Env::new(cache).stats().grown_since(&before), &output);
    }

    fn assert_correct(&self, dir: &Path, output: &Output) {
        output.assert_success();
        // A panic in a worker thread need not fail the build; it is still
        // the cache breaking.
        assert!(
            !output.combined().contains("panicked"),
            "zccache panicked: {}",
            output.describe()
        );
        assert_same_files(
            "the plain ninja build",
            &self.products,
            &format!("zccache's {}", dir.display()),
            &example_build_products(dir),
        );
        let tests = run_in(dir, dir.join("zcdemo_tests"), &[]);
        tests.assert_success();
        assert!(
            tests.stdout.contains("all checks passed"),
            "{}",
            tests.describe()
        );
        run_in(dir, dir.join("zcdemo"), &[]).assert_success();
    }
}

/// Asserts the cache served every cacheable step of one full build.
fn assert_all_hits(change: &Stats, output: &Output) {
    let context = || format!("stats delta {change:#?}\n{}", output.describe());
    for kind in ["compile", "archive", "link"] {
        assert_eq!(
            change.get(&format!("{kind}_misses")),
            0,
            "{kind} misses\n{}",
            context()
        );
    }
    assert_eq!(change.compile_hits(), COMPILES, "{}", context());
    assert_eq!(change.get("archive_hits"), ARCHIVES, "{}", context());
    assert_eq!(change.link_hits(), LINKS, "{}", context());
}

/// A tmpfs mounted for one test, unmounted when dropped (declare it after
/// the temp dir that holds the mount point, so it drops first).
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (mount's syntax, e.g. `64k`) on `dir`, or
    /// returns `None`, saying the test was skipped, when not root. As
    /// root (in CI) a failing mount fails the test.
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        fs::create_dir_all(dir).expect("create mount point");
        if !running_as_root() {
            skipped("mounting a tmpfs needs root");
            return None;
        }
        let output = run_in(
            Path::new("/"),
            "mount",
            &[
                "-t",
                "tmpfs",
                "-o",
                // A tmpfs is 1777 by default: a cache dir anyone can
                // write, which zccache refuses.
                &format!("size={size},mode=0700"),
                "tmpfs",
                path_str(dir),
            ],
        );
        output.assert_success();
        Some(Tmpfs {
            dir: dir.to_path_buf(),
        })
    }

    fn remount_read_only(&self) {
        run_in(
            Path::new("/"),
            "mount",
            &["-o", "remount,ro", path_str(&self.dir)],
        )
        .assert_success();
        assert!(
            fs::write(self.dir.join("probe"), b"x").is_err(),
            "the remounted tmpfs still accepts writes"
        );
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let output = run_in(Path::new("/"), "umount", &[path_str(&self.dir)]);
        if !output.success() {
            // Busy (a process still inside): detach it so the temp dir can go.
            let lazy = run_in(Path::new("/"), "umount", &["-l", path_str(&self.dir)]);
            if !lazy.success() {
                eprintln!("warning: cannot unmount {}", self.dir.display());
            }
        }
    }
}

#[test]
fn corrupt_blobs_are_detected_rebuilt_and_replaced() {
    let project = Reference::new();
    let cache = project.path("cache");
    let first = project.configure("b1");
    let cold = project.build(&first, &cache, &[], &[]);
    project.assert_correct(&first, &cold);

    let blobs = files_under(&cache.join("v1/blobs"));
    assert!(!blobs.is_empty(), "the cold build stored no blobs");
    for blob in &blobs {
        let mut content = fs::read(blob).expect("read blob");
        assert!(!content.is_empty(), "empty blob {}", blob.display());
        // One byte in the middle (the payload for all but the tiniest blobs)
        // and the last one.
        let middle = content.len() / 2;
        content[middle] ^= 0xff;
        let last = content.len() - 1;
        content[last] ^= 0x5a;
        fs::write(blob, content).expect("write blob");
    }

    let before = Env::new(&cache).stats();
    let second = project.configure("b2");
    let damaged = project.build(&second, &cache, &[], &[]);
    project.assert_correct(&second, &damaged);
    assert_warned(&damaged);
    let change = Env::new(&cache).stats().grown_since(&before);
    assert!(
        change.get("corrupt") + change.errors() > 0,
        "neither `corrupt` nor `errors` counted the damaged blobs: {change:#?}"
    );

    // The damaged blobs were replaced by the real runs: everything hits.
    project.assert_fresh_dir_hits_everything("b3", &cache);
}

#[test]
fn truncated_records_are_misses_not_failures() {
    let project = Reference::new();
    let cache = project.path("cache");
    let first = project.configure("b1");
    let cold = project.build(&first, &cache, &[], &[]);
    project.assert_correct(&first, &cold);

    let mut truncated = 0;
    for namespace in ["results", "manifests"] {
        for record in files_under(&cache.join("v1/records").join(namespace)) {
            let length = fs::metadata(&record).expect("stat record").len();
            fs::OpenOptions::new()
                .write(true)
                .open(&record)
                .and_then(|file| file.set_len(length / 2))
                .unwrap_or_else(|e| panic!("truncate {}: {e}", record.display()));
            truncated += 1;
        }
    }
    assert!(truncated > 0, "the cold build stored no records");

    let second = project.configure("b2");
    let damaged = project.build(&second, &cache, &[], &[]);
    project.assert_correct(&second, &damaged);

    // The damaged records were rewritten by the real runs.
    project.assert_fresh_dir_hits_everything("b3", &cache);
}

#[test]
fn read_only_cache_warns_once_and_builds() {
    let project = Reference::new();
    let cache = project.path("cache");
    let Some(mount) = Tmpfs::mount(&cache, "64m") else {
        return;
    };
    // Populate with part of the project only, so the full build below has
    // both hits to read and misses it cannot store.
    let first = project.configure("b1");
    project
        .build(&first, &cache, &[], &["geom"])
        .assert_success();
    assert!(
        !files_under(&cache.join("v1/blobs")).is_empty(),
        "the populating build stored no blobs"
    );
    mount.remount_read_only();

    let second = project.configure("b2");
    let output = project.build(&second, &cache, &[], &[]);
    project.assert_correct(&second, &output);
    assert_eq!(
        warning_count(&output),
        1,
        "expected exactly one `{WARNING}` line: {}",
        output.describe()
    );
}

#[test]
fn full_cache_filesystem_warns_and_builds() {
    let project = Reference::new();
    let cache = project.path("cache");
    // Far less than the project's outputs need: every file takes a 4 KiB
    // page of a tmpfs, and the project stores dozens of them.
    let Some(_mount) = Tmpfs::mount(&cache, "64k") else {
        return;
    };
    let first = project.configure("b1");
    let output = project.build(&first, &cache, &[], &[]);
    project.assert_correct(&first, &output);
    assert_warned(&output);

    // With the disk still full, a second build dir builds too.
    let second = project.configure("b2");
    let again = project.build(&second, &cache, &[], &[]);
    project.assert_correct(&second, &again);
}

#[test]
fn cache_dir_deleted_during_the_build() {
    let project = Reference::new();
    let cache = project.path("cache");
    let dir = project.configure("b1");

    let stop = Arc::new(AtomicBool::new(false));
    let deletions = Arc::new(AtomicU64::new(0));
    let deleter = {
        let (stop, deletions, cache) = (stop.clone(), deletions.clone(), cache.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                if cache.exists() && fs::remove_dir_all(&cache).is_ok() {
                    deletions.fetch_add(1, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let output = project.build(&dir, &cache, &[], &["-j1"]);
    stop.store(true, Ordering::SeqCst);
    deleter.join().expect("deleter thread");
    project.assert_correct(&dir, &output);
    assert!(
        deletions.load(Ordering::SeqCst) > 0,
        "the cache dir was never created during the build, so never deleted: {}",
        output.describe()
    );
}

#[test]
fn four_concurrent_builds_share_one_cache() {
    let project = Reference::new();
    let cache = project.path("cache");
    let dirs: Vec<PathBuf> = ["b1", "b2", "b3", "b4"]
        .iter()
        .map(|name| project.configure(name))
        .collect();

    let outputs: Vec<Output> = std::thread::scope(|scope| {
        let handles: Vec<_> = dirs
            .iter()
            .map(|dir| {
                let (project, cache) = (&project, &cache);
                scope.spawn(move || project.build(dir, cache, &[], &[]))
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("build thread"))
            .collect()
    });
    for (dir, output) in dirs.iter().zip(&outputs) {
        project.assert_correct(dir, output);
    }

    project.assert_fresh_dir_hits_everything("b5", &cache);
}

#[test]
fn eviction_keeps_the_cache_under_its_size_limit() {
    let project = Reference::new();

    // How much the project needs without a limit; the limit is a third.
    let unlimited = project.path("big-cache");
    let first = project.configure("b1");
    project.assert_correct(&first, &project.build(&first, &unlimited, &[], &[]));
    let needed = bytes_under(&unlimited.join("v1"));
    assert!(needed > 0, "the unlimited cache stored nothing");
    let max = needed / 3;
    let max_text = max.to_string();
    let env = [("ZCCACHE_MAX_SIZE", max_text.as_str())];

    let cache = project.path("cache");
    let second = project.configure("b2");
    let output = project.build(&second, &cache, &env, &[]);
    project.assert_correct(&second, &output);

    let gc = zccache_with(&second, &cache, &env, &["gc"]);
    gc.assert_success();
    let on_disk = bytes_under(&cache.join("v1"));
    assert!(
        on_disk <= max,
        "{on_disk} bytes under v1/ after gc, limit {max} (needed {needed})\n{}",
        gc.describe()
    );
    let output = zccache_with(&second, &cache, &env, &["stats", "--json"]);
    let stats = Stats::of(&output);
    let reported = stats.field("cache_size_bytes");
    assert!(
        reported.is_some_and(|size| u64::try_from(size).is_ok_and(|size| size <= max)),
        "cache_size_bytes {reported:?} > limit {max}: {}",
        output.describe()
    );
    assert_eq!(
        stats.field("max_size_bytes"),
        i64::try_from(max).ok(),
        "ZCCACHE_MAX_SIZE was not applied: {}",
        output.describe()
    );

    // Whatever survived eviction (records whose blobs went, or the reverse)
    // still gives a correct build.
    let third = project.configure("b3");
    let output = project.build(&third, &cache, &env, &[]);
    project.assert_correct(&third, &output);
}

#[test]
fn broken_settings_file_warns_but_builds() {
    let project = Reference::new();
    let cache = project.path("cache");
    fs::create_dir_all(&cache).expect("create cache dir");
    let settings = cache.join("zccache.toml");
    fs::write(&settings, "max_size = \"10G\"\ncompression = [tru\n").expect("write settings");

    let dir = project.configure("b1");
    let output = project.build(&dir, &cache, &[], &[]);
    project.assert_correct(&dir, &output);
    assert_warned(&output);

    let stats = zccache_with(&dir, &cache, &[], &["stats"]);
    assert_eq!(stats.code, Some(1), "{}", stats.describe());
    assert!(
        stats.combined().contains(path_str(&settings)),
        "the error does not name {}: {}",
        settings.display(),
        stats.describe()
    );
}

#[test]
fn cache_dir_that_is_a_file_warns_and_builds() {
    let project = Reference::new();
    let cache = project.path("cache");
    fs::write(&cache, "not a directory\n").expect("write file");
    let dir = project.configure("b1");
    let output = project.build(&dir, &cache, &[], &[]);
    project.assert_correct(&dir, &output);
    assert_warned(&output);
    assert_eq!(
        fs::read_to_string(&cache).expect("read file"),
        "not a directory\n",
        "zccache replaced the file it was given as its cache dir"
    );
}

#[test]
fn concurrent_builds_while_eviction_deletes_what_they_restore() {
    let project = Reference::new();
    let cache = project.path("cache");
    // Populated without a limit, so the builds below start with hits.
    let first = project.configure("b1");
    project.assert_correct(&first, &project.build(&first, &cache, &[], &[]));
    let max = (bytes_under(&cache.join("v1")) / 3).to_string();
    let env = [("ZCCACHE_MAX_SIZE", max.as_str())];

    let dirs: Vec<PathBuf> = ["b2", "b3", "b4", "b5"]
        .iter()
        .map(|name| project.configure(name))
        .collect();
    let outputs: Vec<Output> = std::thread::scope(|scope| {
        let handles: Vec<_> = dirs
            .iter()
            .map(|dir| {
                let (project, cache, env) = (&project, &cache, &env);
                scope.spawn(move || project.build(dir, cache, env, &[]))
            })
            .collect();
        // Explicit gcs race with the builds' own.
        for _ in 0..5 {
            zccache_with(&first, &cache, &env, &["gc"]).assert_success();
        }
        handles
            .into_iter()
            .map(|handle| handle.join().expect("build thread"))
            .collect()
    });
    for (dir, output) in dirs.iter().zip(&outputs) {
        project.assert_correct(dir, output);
    }
}
