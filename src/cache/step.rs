//! One cached step from start to end, as a typestate: [`Begun`] says
//! whether the outputs were restored or what to run, a [`Pending`] run is
//! captured into a [`Captured`] one, which is then stored. The stages it
//! goes through live beside it: [`super::key`], [`super::lookup`],
//! [`super::restore`], [`super::record`].

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::in_flight::Claim;
use super::key::KeyedStep;
use super::lookup::Lookup;
use super::lookup::{MissKind, MissReason};
use super::paths::lexical_normalize;
use super::record::CapturedFiles;
use super::siblings::Joined;
use super::siblings::Siblings;
use crate::cache::Cache;
use crate::cache::command::{Classification, Invocation, classify};
use crate::cache::store::StoreError;

/// A run of the real command, in the caller's own terms.
pub struct Ran<S> {
    pub status: S,
    pub success: bool,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

pub enum Executed<S> {
    /// Outputs restored; print these as the tool would have.
    Restored { stdout: Vec<u8>, stderr: Vec<u8> },
    /// The command ran; `note` says why the cache could not serve it.
    Ran { ran: Ran<S>, note: Option<String> },
}

/// What [`Cache::begin`] found.
pub enum Begun<'c> {
    /// Outputs restored; print these as the tool would have (exit status 0).
    Restored { stdout: Vec<u8>, stderr: Vec<u8> },
    /// Not cacheable (counted): run the command as it is.
    Uncacheable { reason: &'static str },
    /// A miss (counted): run [`Pending::command`], then complete it.
    Run(Box<Pending<'c>>),
}

/// A miss whose command is to run; [`Pending::complete`] stores its result.
/// Holds the claims that make siblings wait for this run's result, until
/// completed or dropped.
pub struct Pending<'c> {
    cache: &'c Cache,
    invocation: Invocation,
    keyed: KeyedStep,
    miss: MissReason,
    command: String,
    /// Wall clock before the run: inputs changed since are not trusted.
    started_ns: i64,
    _compiling: Option<Claim<'c>>,
    /// Held while this compile leads its group of siblings.
    _leading: Option<Claim<'c>>,
}

impl<'c> Pending<'c> {
    /// The command to run: the step's own, with the arguments the cache
    /// adds (a private depfile, prefix maps).
    pub fn command(&self) -> &str {
        &self.command
    }

    /// The arguments [`Pending::command`] adds to the tool's own.
    pub fn extra_args(&self) -> &[String] {
        &self.keyed.extra_args
    }

    /// Stores the result of the run when it succeeded; gives the run back
    /// with the note that says why the cache could not serve it.
    pub fn complete<S>(self, ran: Ran<S>, elapsed: std::time::Duration) -> (Ran<S>, String) {
        let note = self.note();
        (self.capture(ran, elapsed).store(), note)
    }

    /// Why the cache could not serve this run, as the build reports it.
    fn note(&self) -> String {
        // Named as the build names it: relative to the dir it runs in.
        let here = std::env::current_dir().unwrap_or_default();
        let output = self
            .keyed
            .outputs
            .first()
            .map(|o| o.strip_prefix(&here).unwrap_or(o).display().to_string())
            .unwrap_or_default();
        format!("cache miss for {output}: {}", self.miss)
    }

    /// Reads what the run left that the build may change once the step is
    /// reported done (outputs, depfiles), so [`Captured::store`] may come
    /// after that. Until it is stored, a lookup of the same step by this
    /// cache waits for it.
    pub fn capture<S>(self, ran: Ran<S>, elapsed: std::time::Duration) -> Captured<'c, S> {
        let cache = self.cache;
        let storing = cache.storing.claim(self.keyed.key, cache.wait_limit);
        let captured = if ran.success && !cache.read_only.load(std::sync::atomic::Ordering::Relaxed)
        {
            Some(cache.capture_files(&self.keyed))
        } else {
            None
        };
        Captured {
            pending: self,
            ran,
            elapsed,
            captured,
            _storing: storing,
        }
    }
}

/// A run whose files are read; [`Captured::store`] stores its result.
pub struct Captured<'c, S> {
    pending: Pending<'c>,
    ran: Ran<S>,
    elapsed: std::time::Duration,
    /// `None` when there is nothing to store (the run failed, or the cache
    /// is read-only).
    captured: Option<Result<CapturedFiles, Option<&'static str>>>,
    _storing: Option<Claim<'c>>,
}

impl<S> Captured<'_, S> {
    /// Stores the result of a successful run, or counts why it must not be
    /// cached; then lets lookups and siblings waiting for it go on. Gives
    /// the run back.
    pub fn store(self) -> Ran<S> {
        let Captured {
            mut pending,
            ran,
            elapsed,
            captured,
            _storing,
        } = self;
        let cache = pending.cache;
        let stored = captured.map(|captured| {
            captured.and_then(|captured| {
                cache.store_result(
                    &pending.invocation,
                    &mut pending.keyed,
                    &ran,
                    elapsed,
                    pending.started_ns,
                    captured,
                )
            })
        });
        if let Some(Err(Some(reason))) = stored {
            cache.uncacheable(reason);
        }
        ran
    }
}

fn wall_clock_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// The step's command with `extra` appended to the tool's arguments.
fn with_extra_args(invocation: &Invocation, extra: &[String]) -> String {
    let mut argv = Vec::with_capacity(invocation.args.len() + extra.len() + 1);
    argv.push(invocation.program.as_str());
    argv.extend(invocation.args.iter().map(String::as_str));
    argv.extend(extra.iter().map(String::as_str));
    let tool = shlex::try_join(argv).unwrap_or_default();
    let mut segments = invocation.segments.clone();
    if let Some(segment) = segments.get_mut(invocation.tool_segment) {
        *segment = tool;
    }
    segments.join(" && ")
}

impl Cache {
    /// Recognizes a build step's command. `None` when the step is not a
    /// cacheable compile, archive or link, or declares outputs the tool
    /// does not make (counted when it is a tool used in an uncacheable way).
    pub fn prepare(
        &self,
        command: &str,
        cwd: &Path,
        declared_outputs: &[PathBuf],
    ) -> Option<Invocation> {
        match classify(command, cwd) {
            Classification::Cacheable(invocation) => {
                let makes = invocation.kind().rules().outputs(&invocation);
                let covered = declared_outputs.iter().all(|declared| {
                    makes
                        .iter()
                        .any(|made| lexical_normalize(made) == lexical_normalize(declared))
                });
                if covered {
                    Some(invocation)
                } else {
                    self.uncacheable("other_outputs");
                    None
                }
            }
            Classification::Uncacheable { reason, .. } => {
                self.uncacheable(reason);
                None
            }
            Classification::NotATool => None,
        }
    }

    fn uncacheable(&self, reason: &str) {
        self.count("uncacheable", 1);
        self.count(&format!("uncacheable.{reason}"), 1);
    }

    /// Restores `invocation`'s outputs from the cache, or runs `command`
    /// (the step's shell command, the invocation's source) through `run`
    /// and stores the result when it succeeded.
    ///
    /// `siblings`: what is known of compiles of the same source that differ
    /// only in preprocessor flags.
    pub fn execute<S>(
        &self,
        invocation: &Invocation,
        command: &str,
        siblings: Siblings,
        run: impl FnOnce(&str) -> Ran<S>,
    ) -> Executed<S> {
        match self.begin(invocation, command, siblings) {
            Begun::Restored { stdout, stderr } => Executed::Restored { stdout, stderr },
            Begun::Uncacheable { reason } => Executed::Ran {
                ran: run(command),
                note: Some(format!("not cached: {reason}")),
            },
            Begun::Run(pending) => {
                let started = Instant::now();
                let ran = run(pending.command());
                let (ran, note) = pending.complete(ran, started.elapsed());
                Executed::Ran {
                    ran,
                    note: Some(note),
                }
            }
        }
    }

    /// The first half of [`Cache::execute`]: restores `invocation`'s
    /// outputs when the cache holds them, else says what to run. A
    /// [`Pending`] run is stored by [`Pending::complete`]; dropping it
    /// stores nothing. The launcher's helper answers a call with this half
    /// and completes it when the call has run the tool.
    pub fn begin(&self, invocation: &Invocation, command: &str, siblings: Siblings) -> Begun<'_> {
        let rules = invocation.kind().rules();
        let kind = rules.name();
        let mut keyed = match self.key_step(invocation) {
            Ok(keyed) => keyed,
            Err(reason) => {
                self.uncacheable(reason);
                return Begun::Uncacheable { reason };
            }
        };
        // A run of this very step whose result is being stored is worth
        // the wait (the helper stores after its client has returned).
        self.storing.wait_free(&keyed.key, self.wait_limit);
        let miss = match self.lookup(&keyed) {
            Lookup::Hit(record) => match self.restore(&keyed, &record) {
                Ok(()) => return self.restored(kind, &record),
                // Evicted since the entry was written: an ordinary miss.
                Err(StoreError::NotFound { .. }) => MissReason::NoEntry,
                Err(err) => {
                    self.note_store_error("restore", &err);
                    MissReason::OutputsDamaged
                }
            },
            Lookup::Miss(reason) => reason,
        };
        // Worth a preprocessor run: the source was cached before with other
        // content or other headers (a comment-only edit can still hit), or a
        // sibling step compiles it too.
        let seen_before = matches!(
            miss.kind(),
            MissKind::SourceChanged | MissKind::HeaderChanged | MissKind::HeaderAppeared
        );
        let mut compiling = None;
        let mut leading = None;
        if rules.has_text_key() && siblings == Siblings::AskCache {
            match self.join_sibling(invocation, &mut keyed) {
                Joined::Restored(record) => {
                    self.count("preprocessed_hits", 1);
                    return self.restored(kind, &record);
                }
                Joined::Leading(claim) => leading = Some(claim),
                Joined::Alone => {}
            }
        }
        if rules.has_text_key()
            && keyed.cpp_key.is_none()
            && (seen_before || siblings == Siblings::InGraph)
            && let Some((cpp_key, seen)) = self.preprocessed_key(invocation, &keyed)
        {
            keyed.time_macros = Some(seen);
            // A sibling compiling the same text right now will store it:
            // wait for it rather than compile twice.
            compiling = self.in_flight.claim(cpp_key, self.wait_limit);
            if let Some(record) = self.restore_preprocessed(invocation, &keyed, &cpp_key) {
                self.count("preprocessed_hits", 1);
                return self.restored(kind, &record);
            }
            keyed.cpp_key = Some(cpp_key);
        }
        self.count(&format!("{kind}_misses"), 1);
        self.count(&format!("miss.{}", miss.slug()), 1);
        if rules.needs_private_depfile(invocation)
            && let Some(temp) = self.private_depfile()
        {
            let path = temp.to_string_lossy().to_string();
            keyed
                .extra_args
                .extend(rules.private_depfile_args(invocation, &path));
            keyed.private_deps = Some(temp);
        }
        let command = if keyed.extra_args.is_empty() {
            command.to_string()
        } else {
            with_extra_args(invocation, &keyed.extra_args)
        };
        // An output delivered by hardlink shares its bytes with the store:
        // a tool writing it in place would change the stored copy too.
        for output in &keyed.outputs {
            if fs::metadata(output).is_ok_and(|m| std::os::unix::fs::MetadataExt::nlink(&m) > 1) {
                let _ = fs::remove_file(output);
            }
        }
        Begun::Run(Box::new(Pending {
            cache: self,
            invocation: invocation.clone(),
            keyed,
            miss,
            command,
            started_ns: wall_clock_ns(),
            _compiling: compiling,
            _leading: leading,
        }))
    }

    /// A new path for a depfile zccache asks the tool for, deleted when
    /// dropped.
    fn private_depfile(&self) -> Option<tempfile::TempPath> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        if let Some(dir) = self.private_dir.get() {
            let serial = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let path = dir.join(format!("deps-{}-{serial}.d", std::process::id()));
            // Left by a process of the same pid before: never read as new.
            let _ = fs::remove_file(&path);
            return tempfile::TempPath::try_from_path(path).ok();
        }
        tempfile::Builder::new()
            .prefix("zccache-deps-")
            .suffix(".d")
            .tempfile()
            .ok()
            .map(tempfile::NamedTempFile::into_temp_path)
    }

    pub(super) fn note_store_error(&self, what: &str, err: &StoreError) {
        if matches!(err, StoreError::Corrupt { .. }) {
            self.count("corrupt", 1);
        }
        self.warn(what, err);
    }
}
