//! `zccache watch` against a real CMake (Ninja generator) project: it
//! rebuilds after source and header edits, reports a compile error and
//! stays up, regenerates build.ninja after a CMakeLists.txt change, and
//! stops cleanly on SIGINT with the state saved.
//!
//! Every wait polls with a deadline; the watch process is killed when a
//! test ends, even when an assertion fails.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Example, isolated_command, zccache_bin};

const DEADLINE: Duration = Duration::from_secs(30);

/// A running `zccache watch` whose output goes to files; killed on drop.
struct Watch {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Watch {
    fn start(root: &Path, cache: &Path) -> Watch {
        Watch::start_with(root, cache, &[])
    }

    fn start_with(root: &Path, cache: &Path, env: &[(&str, &str)]) -> Watch {
        let stdout = root.join("watch.out");
        let stderr = root.join("watch.err");
        let child = isolated_command(zccache_bin(), &["watch", "-C", "build"], root, cache)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(fs::File::create(&stdout).expect("stdout file"))
            .stderr(fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("start zccache watch");
        Watch {
            child,
            stdout,
            stderr,
        }
    }

    fn output(&self) -> String {
        let out = fs::read_to_string(&self.stdout).unwrap_or_default();
        let err = fs::read_to_string(&self.stderr).unwrap_or_default();
        format!("{out}{err}")
    }

    /// Waits until `done` holds, failing with the watch output after the
    /// deadline or when the process exited.
    fn wait_until(&mut self, what: &str, mut done: impl FnMut(&Watch) -> bool) {
        let start = Instant::now();
        loop {
            if done(self) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "watch exited ({status}) while waiting for {what}:\n{}",
                    self.output()
                );
            }
            if start.elapsed() > DEADLINE {
                panic!("timed out waiting for {what}:\n{}", self.output());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the watch has printed `count` "waiting for changes" lines.
    /// Sends SIGINT and waits (bounded) for watch to exit.
    fn interrupt(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill only sends a signal to our own child.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "watch did not stop:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_rounds(&mut self, count: usize) {
        self.wait_until(&format!("round {count}"), |watch| {
            watch
                .output()
                .matches("[watch] waiting for changes")
                .count()
                >= count
        });
    }
}

impl Drop for Watch {
    /// SIGINT first, so watch stops the steps it runs (a SIGKILL would
    /// leave them running on); SIGKILL if it has not exited after a while.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: kill only sends a signal to our own child.
            unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The example project with build dir `build` configured.
fn project() -> Example {
    let project = Example::new();
    project.configure("build", &[]);
    project
}

fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_default()
}

fn append(path: &Path, text: &str) {
    let mut content = fs::read_to_string(path).expect("read source");
    content.push_str(text);
    fs::write(path, content).expect("write source");
}

/// Saves the way editors do: a temporary file renamed over the original.
fn save_by_rename(path: &Path, content: &str) {
    let temp = path.with_extension("swp-zccache");
    fs::write(&temp, content).expect("write temp");
    fs::rename(&temp, path).expect("rename over");
}

#[test]
fn edits_errors_and_cmake_changes_are_rebuilt_while_watching() {
    let p = project();
    let mut watch = Watch::start(p.root(), &p.env.cache);
    watch.wait_rounds(1);
    let exe = p.path("build").join("zcdemo");
    let built = read(&exe);
    assert!(
        !built.is_empty(),
        "first round built nothing:\n{}",
        watch.output()
    );

    // 1. A source edit, saved through a rename.
    let main = p.source.join("app/main.cpp");
    let original = fs::read_to_string(&main).expect("main.cpp");
    let edited = original.replace("box %s area %.1f", "box %s area=%.1f");
    assert_ne!(edited, original);
    save_by_rename(&main, &edited);
    watch.wait_until("zcdemo rebuilt after a source edit", |_| {
        read(&exe) != built
    });
    watch.wait_rounds(2);
    let after_source = read(&exe);

    // 2. A header edit reaches the executable through main.cpp.
    // Inside the include guard: main.cpp includes shapes.h twice.
    let header = p.source.join("include/geom/shapes.h");
    let text = fs::read_to_string(&header).expect("shapes.h");
    let guard_end = text.rfind("#endif").expect("include guard");
    let tagged = format!(
        "{}static const char zcdemo_watch_tag[] __attribute__((used)) = \"header edit\";\n{}",
        &text[..guard_end],
        &text[guard_end..]
    );
    fs::write(&header, tagged).expect("edit shapes.h");
    watch.wait_until("zcdemo rebuilt after a header edit", |_| {
        read(&exe) != after_source
    });
    watch.wait_rounds(3);

    // 3. A compile error is reported and watch stays up; the fix rebuilds.
    fs::write(&main, format!("{edited}\nint broken(\n")).expect("break main.cpp");
    watch.wait_until("the compile error reported", |w| {
        w.output()
            .contains("[watch] FAILED: CMakeFiles/zcdemo.dir/app/main.cpp.o")
    });
    watch.wait_rounds(4);
    assert!(watch.child.try_wait().expect("try_wait").is_none());
    assert!(
        watch.output().contains("int broken("),
        "step output missing:\n{}",
        watch.output()
    );
    let before_fix = read(&exe);
    let fixed = edited.replace("box %s area=%.1f", "box %s area: %.1f");
    fs::write(&main, &fixed).expect("fix main.cpp");
    watch.wait_until("zcdemo rebuilt after the fix", |_| read(&exe) != before_fix);
    watch.wait_rounds(5);

    // 4. CMakeLists.txt: build.ninja regenerated, and watching goes on.
    let manifest = p.path("build").join("build.ninja");
    let manifest_before = read(&manifest);
    let manifest_mtime = fs::metadata(&manifest)
        .and_then(|m| m.modified())
        .expect("mtime");
    // The new source exists before CMake looks for it.
    fs::write(
        p.source.join("app/extra.c"),
        "int main(void) { return 0; }\n",
    )
    .expect("extra.c");
    append(
        &p.source.join("CMakeLists.txt"),
        "\nadd_executable(zcdemo_extra app/extra.c)\n",
    );
    watch.wait_until("build.ninja regenerated", |_| {
        fs::metadata(&manifest).and_then(|m| m.modified()).ok() != Some(manifest_mtime)
            && read(&manifest) != manifest_before
    });
    let extra = p.path("build").join("zcdemo_extra");
    watch.wait_until("the new target built", |_| extra.exists());
    // Whether or not a round is still running, the edit below is seen:
    // its directory was watched all along.
    let before_last = read(&exe);
    save_by_rename(&main, &original);
    watch.wait_until("zcdemo rebuilt after the reload", |_| {
        read(&exe) != before_last
    });
}

#[test]
fn polling_sees_edits_too() {
    let p = project();
    let mut watch = Watch::start_with(p.root(), &p.env.cache, &[("ZCCACHE_WATCH_POLL", "1")]);
    watch.wait_rounds(1);
    assert!(
        watch.output().contains(", polling)..."),
        "{}",
        watch.output()
    );
    let exe = p.path("build").join("zcdemo");
    let built = read(&exe);
    let main = p.source.join("app/main.cpp");
    let original = fs::read_to_string(&main).expect("main.cpp");
    save_by_rename(
        &main,
        &original.replace("box %s area %.1f", "box %s area~%.1f"),
    );
    watch.wait_until("zcdemo rebuilt while polling", |_| read(&exe) != built);
}

#[test]
fn sigint_stops_watch_cleanly_with_the_state_saved() {
    let p = project();
    let mut watch = Watch::start(p.root(), &p.env.cache);
    watch.wait_rounds(1);
    append(
        &p.source.join("src/geom/vec.c"),
        "\nint zcdemo_watch_extra(void) { return 7; }\n",
    );
    watch.wait_rounds(2);

    let status = watch.interrupt();
    assert_eq!(status.code(), Some(0), "{}", watch.output());
    assert!(
        watch.output().contains("[watch] stopped"),
        "{}",
        watch.output()
    );

    let after = isolated_command(
        zccache_bin(),
        &["build", "-C", "build"],
        p.root(),
        &p.env.cache,
    )
    .output()
    .expect("zccache build");
    let stdout = String::from_utf8_lossy(&after.stdout);
    assert!(after.status.success(), "{stdout}");
    assert!(
        stdout.contains("no work to do"),
        "build after watch had work:\n{stdout}"
    );
}

#[test]
fn sigint_during_a_round_interrupts_it_like_a_build() {
    let temp = tempfile::tempdir().expect("temp dir");
    let root = temp.path();
    let build = root.join("build");
    fs::create_dir_all(&build).expect("build dir");
    fs::write(
        build.join("build.ninja"),
        "rule slow\n  command = touch started && sleep 60 && cp $in $out\n  description = SLOW $out\n\
         build out.txt: slow in.txt\n",
    )
    .expect("build.ninja");
    fs::write(build.join("in.txt"), "one\n").expect("in.txt");
    let mut watch = Watch::start(root, &root.join("cache"));
    // Status lines go out when a step ends (stdout is not a terminal):
    // the step says itself that it started.
    let started = build.join("started");
    watch.wait_until("the slow step started", |_| started.exists());

    let status = watch.interrupt();
    assert_eq!(status.code(), Some(130), "{}", watch.output());
    assert!(
        watch.output().contains("interrupted by user"),
        "{}",
        watch.output()
    );
    assert!(!build.join("out.txt").exists());
}
