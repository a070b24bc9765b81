//! `zccache warm`'s question: what would the cache do with this step now,
//! given the files earlier steps will write (the overlay), without running,
//! restoring or counting anything.

use std::path::{Path, PathBuf};

use super::lookup::{Lookup, MissReason};
use crate::cache::Cache;
use crate::cache::command::Invocation;
use crate::hash::Digest;

/// What a probe knows of a file before the build that follows: the
/// content it will have (a step restored from the cache writes it), or
/// that a step still to run writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    Content(Digest),
    Pending,
}

/// Files whose content a probe takes from its caller rather than from the
/// disk (see [`Cache::probe`]); `None` means "as on disk now". Paths are
/// absolute and lexically normal.
pub type Overlay<'a> = dyn Fn(&Path) -> Option<Expected> + Sync + 'a;

pub(super) fn no_overlay(_: &Path) -> Option<Expected> {
    None
}

/// A step whose key needs a file the overlay says is still to be written.
pub(super) const INPUT_PENDING: &str = "input_pending";

/// What the cache would do with one invocation (see [`Cache::probe`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// The outputs would be restored. `outputs` pairs each output (absolute)
    /// with its content hash: the store names a blob by the blake3 of its
    /// uncompressed content, the same hash [`crate::hash`] and
    /// [`crate::cache::files`] compute for a file, so it stands for the file
    /// before it exists. `assumed`: files the matching entry read that the
    /// overlay says are still to be written (generated headers); the hit
    /// holds if they come out as before.
    Hit {
        key: Digest,
        outputs: Vec<(PathBuf, Digest)>,
        assumed: Vec<PathBuf>,
    },
    /// The tool would run, for `reason`.
    Miss {
        key: Option<Digest>,
        reason: MissReason,
    },
    /// Not cached at all, with the `uncacheable.<reason>` statistics name.
    Uncacheable { reason: &'static str },
}

impl Cache {
    /// What [`Cache::execute`] would do with `invocation` now, without
    /// running, restoring or storing anything and without touching the
    /// statistics (`zccache warm`). `overlay` supplies the content of files
    /// that earlier steps will write (outputs of steps the cache will
    /// restore) or mark as pending (steps that will run).
    ///
    /// Keys are computed here (`key_step_with`) and looked up in one place
    /// (`lookup_with`); the preprocessed-text fallback of a real build is
    /// not tried, as it would run the preprocessor, so a comment-only edit
    /// is reported as a miss the build may still turn into a hit.
    ///
    /// With a remote cache, `lookup_with` is where a missing local record
    /// would be fetched, and a `Hit` whose blobs the local store lacks
    /// (`Store::has_blob`) is where their download would start, so that the
    /// build finds everything local.
    pub fn probe(&self, invocation: &Invocation, overlay: &Overlay<'_>) -> Probe {
        let keyed = match self.key_step_with(invocation, overlay) {
            Ok(keyed) => keyed,
            Err(INPUT_PENDING) => {
                return Probe::Miss {
                    key: None,
                    reason: MissReason::InputRebuilt,
                };
            }
            Err(reason) => return Probe::Uncacheable { reason },
        };
        let mut assumed = Vec::new();
        match self.lookup_with(&keyed, overlay, &mut assumed) {
            Lookup::Hit(record) => {
                if let Some(gone) = record
                    .outputs
                    .iter()
                    .find(|stored| !self.store.has_blob(&stored.blob))
                {
                    tracing::debug!("blob {:?} of a probed entry is gone", gone.blob);
                    return Probe::Miss {
                        key: Some(keyed.key),
                        reason: MissReason::NoEntry,
                    };
                }
                Probe::Hit {
                    key: keyed.key,
                    outputs: keyed
                        .outputs
                        .iter()
                        .cloned()
                        .zip(record.outputs.iter().map(|stored| stored.blob))
                        .collect(),
                    assumed,
                }
            }
            Lookup::Miss(reason) => Probe::Miss {
                key: Some(keyed.key),
                reason,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::sync::Arc;

    use crate::cache::siblings::Siblings;
    use crate::cache::step::{Executed, Ran};

    fn test_cache(cache_dir: &Path, build_dir: &Path) -> Arc<Cache> {
        let settings = crate::cache::config::Settings {
            dir: cache_dir.to_path_buf(),
            max_size: crate::cache::config::DEFAULT_MAX_SIZE,
            compression: true,
            path_remap: false,
            disable: false,
            hardlink: false,
            shared: false,
            config_file: None,
        };
        Cache::with_settings(settings, build_dir).unwrap()
    }

    fn run_for_real(command: &str, cwd: &Path) -> Ran<bool> {
        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(cwd)
            .output()
            .unwrap();
        Ran {
            status: output.status.success(),
            success: output.status.success(),
            stdout: output.stdout,
            stderr: output.stderr,
        }
    }

    #[test]
    fn a_probe_finds_a_stored_archive_through_the_overlay_and_counts_nothing() {
        let temp = tempfile::tempdir().unwrap();
        let build = temp.path().join("build");
        fs::create_dir_all(&build).unwrap();
        fs::write(build.join("a.o"), "object a").unwrap();
        fs::write(build.join("b.o"), "object b").unwrap();
        let cache = test_cache(&temp.path().join("cache"), &build);
        let command = "ar qc lib.a a.o b.o";
        let invocation = cache
            .prepare(command, &build, &[build.join("lib.a")])
            .expect("an archive is cacheable");
        let none = |_: &Path| None;
        let stats_before = format!("{:?}", cache.stats.lock().unwrap());
        assert!(matches!(
            cache.probe(&invocation, &none),
            Probe::Miss { .. }
        ));
        assert_eq!(format!("{:?}", cache.stats.lock().unwrap()), stats_before);

        let executed = cache.execute(&invocation, command, Siblings::None, |cmd| {
            run_for_real(cmd, &build)
        });
        assert!(matches!(
            executed,
            Executed::Ran {
                ran: Ran { success: true, .. },
                ..
            }
        ));
        let archive = fs::read(build.join("lib.a")).unwrap();
        fs::remove_file(build.join("lib.a")).unwrap();
        let stats_before = format!("{:?}", cache.stats.lock().unwrap());
        match cache.probe(&invocation, &none) {
            Probe::Hit {
                outputs, assumed, ..
            } => {
                // The blob's name is the content hash the file will have.
                assert_eq!(
                    outputs,
                    vec![(build.join("lib.a"), *blake3::hash(&archive).as_bytes())]
                );
                assert!(assumed.is_empty());
            }
            other => panic!("expected a hit, got {other:?}"),
        }
        assert!(!build.join("lib.a").exists(), "a probe restored the output");
        assert_eq!(format!("{:?}", cache.stats.lock().unwrap()), stats_before);

        // A member not written yet: its expected content decides.
        let a = build.join("a.o");
        let a_hash = *blake3::hash(b"object a").as_bytes();
        fs::remove_file(&a).unwrap();
        let expected = |path: &Path| (path == a).then_some(Expected::Content(a_hash));
        assert!(matches!(
            cache.probe(&invocation, &expected),
            Probe::Hit { .. }
        ));
        let pending = |path: &Path| (path == a).then_some(Expected::Pending);
        match cache.probe(&invocation, &pending) {
            Probe::Miss { reason, .. } => assert_eq!(reason, MissReason::InputRebuilt),
            other => panic!("expected a miss, got {other:?}"),
        }
        let other = |path: &Path| (path == a).then_some(Expected::Content([7; 32]));
        assert!(matches!(
            cache.probe(&invocation, &other),
            Probe::Miss { .. }
        ));
    }
}
