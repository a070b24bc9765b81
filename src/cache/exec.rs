//! One cached invocation: compute its key from the content of what the
//! tool reads, restore its outputs on a hit, or run it and store what it
//! made.
//!
//! The key never loosens what the tool sees: the tool's identity, every
//! argument in order (only the output and depfile names abstracted, and the
//! build dir and source root named by placeholders), the content of every
//! input, and the environment variables that change the result. Files a
//! compile or link reads that its arguments do not name (headers, default
//! libraries, startup files) come from the depfile of the real run (one is
//! requested privately when the build asked for none) and are checked on
//! each lookup, together with the include-search places where a new header
//! would have been found first.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::cache::Cache;
use crate::cache::command::{
    Classification, CompileArgs, Detail, Invocation, Language, ToolKind, classify,
};
use crate::cache::files::CommentDialect;
use crate::cache::records::{
    FileIdentity, KeyHasher, LastSeen, MAX_MANIFEST_ENTRIES, Manifest, ManifestEntry, ResultRecord,
    StoredDepfile, StoredOutput, decode, encode, group_absent,
};
use crate::cache::roots::Ties;
use crate::cache::shadows::HeaderSearch;
use crate::cache::store::{Digest, Namespace, StoreError};
use crate::cache::time_macros;
use crate::cache::toolchain::{Family, ToolIdentity};
use crate::hash::Hash;

/// Variables that change what a compiler produces or prints.
const COMPILE_ENV: &[&str] = &[
    "CPATH",
    "C_INCLUDE_PATH",
    "CPLUS_INCLUDE_PATH",
    "OBJC_INCLUDE_PATH",
    "OBJCPLUS_INCLUDE_PATH",
    "COMPILER_PATH",
    "GCC_EXEC_PREFIX",
    "GCC_COMPARE_DEBUG",
    "SOURCE_DATE_EPOCH",
    "CCC_OVERRIDE_OPTIONS",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "LC_MESSAGES",
    "GCC_COLORS",
];

/// Variables that change what an archiver or linker produces or prints.
const LINK_ENV: &[&str] = &[
    "LIBRARY_PATH",
    "LD_RUN_PATH",
    "COMPILER_PATH",
    "GCC_EXEC_PREFIX",
    "SOURCE_DATE_EPOCH",
    "ZERO_AR_DATE",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "LC_MESSAGES",
];

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
    plan: Plan,
    miss: String,
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
        &self.plan.extra_args
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
            .plan
            .outputs
            .first()
            .map(|o| o.strip_prefix(&here).unwrap_or(o).display().to_string())
            .unwrap_or_default();
        format!("cache miss for {output}: {}", self.miss)
    }

    /// Reads what the run left that the build may change once the step is
    /// reported done (outputs, depfiles), so [`Finished::store`] may come
    /// after that. Until it is stored, a lookup of the same step by this
    /// cache waits for it.
    pub fn capture<S>(self, ran: Ran<S>, elapsed: std::time::Duration) -> Finished<'c, S> {
        let cache = self.cache;
        let storing = cache.storing.claim(self.plan.key, cache.wait_limit);
        let captured = if ran.success && !cache.read_only.load(std::sync::atomic::Ordering::Relaxed)
        {
            Some(cache.capture_files(&self.plan))
        } else {
            None
        };
        Finished {
            pending: self,
            ran,
            elapsed,
            captured,
            _storing: storing,
        }
    }
}

/// A run whose files are read; [`Finished::store`] stores its result.
pub struct Finished<'c, S> {
    pending: Pending<'c>,
    ran: Ran<S>,
    elapsed: std::time::Duration,
    /// `None` when there is nothing to store (the run failed, or the cache
    /// is read-only).
    captured: Option<Result<Captured, Option<&'static str>>>,
    _storing: Option<Claim<'c>>,
}

impl<S> Finished<'_, S> {
    /// Stores the result of a successful run, or counts why it must not be
    /// cached; then lets lookups and siblings waiting for it go on. Gives
    /// the run back.
    pub fn store(self) -> Ran<S> {
        let Finished {
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
                    &mut pending.plan,
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

/// A run's outputs (content and mode, in the plan's order) and dependency
/// texts, as read right after it.
struct Captured {
    outputs: Vec<(CapturedOutput, u32)>,
    /// The depfile listing what the tool read (the build's or zccache's).
    dependencies: Option<String>,
    /// The depfile the build asked for, to restore on a hit.
    depfile: Option<Vec<u8>>,
}

/// One output as read right after the run.
enum CapturedOutput {
    /// Small enough to hold (see [`crate::cache::store::IN_MEMORY_LIMIT`]).
    Read(Vec<u8>),
    /// Too big to hold: already hashed and written in a temp file of the
    /// cache, and whether it names a root or has sections that may hide
    /// one (see [`Cache::store_result`]).
    Staged {
        blob: crate::cache::store::StagedBlob,
        ties: Ties,
    },
}

/// What is known of other compiles of the same source whose arguments
/// differ only in preprocessor flags (a library built static and shared).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Siblings {
    /// The build graph has none.
    None,
    /// The build graph has some: the preprocessed text may find this
    /// compile's result even on a cold cache, a sibling waiting for another.
    InGraph,
    /// Nobody knows (launcher mode, one compile per call): the process
    /// serving the calls (the launcher's helper) remembers which compile of
    /// the group ran last, and a miss checks whether that one's result
    /// serves it too. Never the cache: see [`crate::cache::siblings`].
    AskCache,
}

/// How long a compile waits for a sibling's result before compiling itself.
pub const SIBLING_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

/// What asking for a sibling gave.
enum Joined<'c> {
    Restored(ResultRecord),
    /// This compile leads its group: hold the claim until its result is
    /// stored.
    Leading(Claim<'c>),
    Alone,
}

/// What a probe knows of a file before the build that follows: the
/// content it will have (a step restored from the cache writes it), or
/// that a step still to run writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    Content(Hash),
    Pending,
}

/// Files whose content a probe takes from its caller rather than from the
/// disk (see [`Cache::probe`]); `None` means "as on disk now". Paths are
/// absolute and lexically normal.
pub type Overlay<'a> = dyn Fn(&Path) -> Option<Expected> + Sync + 'a;

fn no_overlay(_: &Path) -> Option<Expected> {
    None
}

/// A compile whose assembler may read a file no depfile lists (`.incbin`).
const ASSEMBLER_READS: &str = "incbin";

/// A plan that needs a file the overlay says is still to be written.
const INPUT_PENDING: &str = "input_pending";
/// The miss reason of such a plan.
const INPUT_REBUILT: &str = "input rebuilt";

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
        outputs: Vec<(PathBuf, Hash)>,
        assumed: Vec<PathBuf>,
    },
    /// The tool would run; `reason` in the words of `-d explain` (see
    /// [`miss_slug`] for its short name).
    Miss { key: Option<Digest>, reason: String },
    /// Not cached at all, with the `uncacheable.<reason>` statistics name.
    Uncacheable { reason: &'static str },
}

/// A dependency file zccache requests for itself.
#[derive(Debug, Clone, Copy)]
enum PrivateDeps {
    /// `-MD -MF FILE` for a compile.
    Compiler,
    /// `--dependency-file=FILE` for a link, through the driver or not.
    Linker { driver: bool },
}

/// What lookup and store of one invocation share.
struct Plan {
    kind: ToolKind,
    /// Where the tool runs; relative paths in records are relative to it.
    cwd: PathBuf,
    /// Manifest key (compile, link) or result key (archive).
    key: Digest,
    two_level: bool,
    /// Absolute paths, in the order of the result's outputs.
    outputs: Vec<PathBuf>,
    /// The depfile the build asked for, and the target it names.
    depfile: Option<(PathBuf, String)>,
    /// Files named in the key already; not repeated in manifest entries.
    keyed_inputs: HashSet<PathBuf>,
    /// Added to the tool's arguments when it runs (prefix maps, a private
    /// depfile or linker dependency file).
    extra_args: Vec<String>,
    /// The dependency file zccache asks the tool for when the build asked
    /// for none: requested only when the tool really runs.
    private_request: Option<PrivateDeps>,
    private_deps: Option<tempfile::TempPath>,
    last_seen: Option<(Digest, LastSeen)>,
    /// Facts of the compile's source, for the time and place macros.
    source_facts: Option<crate::cache::files::FileFacts>,
    /// When the key holds the source's comment-blind hash: its path and raw
    /// hash, which entries with diagnostics also require.
    raw_source: Option<(String, Hash)>,
    tool: Arc<ToolIdentity>,
    /// Prefix maps zccache adds (`path_remap`), also given to the
    /// preprocessor.
    remap_args: Vec<String>,
    /// The compile's key by preprocessed text, when it was computed.
    cpp_key: Option<Digest>,
    /// The content of files options name for the compiler to read.
    read_files: Digest,
    /// Whether the compile expands a date or time macro, when a
    /// preprocessor run has told already.
    time_macros: Option<time_macros::Seen>,
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
                let makes = invocation_outputs(&invocation);
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

    /// What [`Cache::execute`] would do with `invocation` now, without
    /// running, restoring or storing anything and without touching the
    /// statistics (`zccache warm`). `overlay` supplies the content of files
    /// that earlier steps will write (outputs of steps the cache will
    /// restore) or mark as pending (steps that will run).
    ///
    /// Keys are computed here (plan) and looked up in one place
    /// (`lookup_with`); the preprocessed-text fallback of a real build is
    /// not tried, as it would run the preprocessor, so a comment-only edit
    /// is reported as a miss the build may still turn into a hit.
    ///
    /// With a remote cache, `lookup_with` is where a missing local record
    /// would be fetched, and a `Hit` whose blobs the local store lacks
    /// (`Store::has_blob`) is where their download would start, so that the
    /// build finds everything local.
    pub fn probe(&self, invocation: &Invocation, overlay: &Overlay<'_>) -> Probe {
        let plan = match self.plan_with(invocation, overlay) {
            Ok(plan) => plan,
            Err(INPUT_PENDING) => {
                return Probe::Miss {
                    key: None,
                    reason: INPUT_REBUILT.to_string(),
                };
            }
            Err(reason) => return Probe::Uncacheable { reason },
        };
        let mut assumed = Vec::new();
        match self.lookup_with(&plan, overlay, &mut assumed) {
            Lookup::Hit(record) => {
                if let Some(gone) = record
                    .outputs
                    .iter()
                    .find(|stored| !self.store.has_blob(&stored.blob))
                {
                    tracing::debug!("blob {:?} of a probed entry is gone", gone.blob);
                    return Probe::Miss {
                        key: Some(plan.key),
                        reason: "no entry".to_string(),
                    };
                }
                Probe::Hit {
                    key: plan.key,
                    outputs: plan
                        .outputs
                        .iter()
                        .cloned()
                        .zip(record.outputs.iter().map(|stored| stored.blob))
                        .collect(),
                    assumed,
                }
            }
            Lookup::Miss(reason) => Probe::Miss {
                key: Some(plan.key),
                reason,
            },
        }
    }

    /// Groups compiles of one source by one compiler whose arguments differ
    /// only in preprocessor flags (a library built static and shared):
    /// equal keys, `None` for anything else.
    pub fn compile_group(&self, command: &str, cwd: &Path) -> Option<Digest> {
        let Classification::Cacheable(invocation) = classify(command, cwd) else {
            return None;
        };
        Self::group_of(&invocation)
    }

    fn group_of(invocation: &Invocation) -> Option<Digest> {
        let Detail::Compile(args) = &invocation.detail else {
            return None;
        };
        if args.macro_debug {
            return None;
        }
        let mut key = KeyHasher::new("group");
        key.text(&invocation.program)
            .text(&invocation.cwd.to_string_lossy())
            .text(&args.source);
        for (arg, preprocessor_only) in invocation
            .key_args
            .iter()
            .zip(&invocation.preprocessor_only)
        {
            if !preprocessor_only {
                key.text(arg);
            }
        }
        Some(key.finish())
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
        let kind = kind_name(invocation.kind);
        let mut plan = match self.plan(invocation) {
            Ok(plan) => plan,
            Err(reason) => {
                self.uncacheable(reason);
                return Begun::Uncacheable { reason };
            }
        };
        // A run of this very step whose result is being stored is worth
        // the wait (the helper stores after its client has returned).
        self.storing.wait_free(&plan.key, self.wait_limit);
        let miss = match self.lookup(&plan) {
            Lookup::Hit(record) => match self.restore(&plan, &record) {
                Ok(()) => return self.restored(kind, &record),
                // Evicted since the entry was written: an ordinary miss.
                Err(StoreError::NotFound { .. }) => "no entry".to_string(),
                Err(err) => {
                    self.note_store_error("restore", &err);
                    "stored outputs are damaged".to_string()
                }
            },
            Lookup::Miss(reason) => reason,
        };
        // Worth a preprocessor run: the source was cached before with other
        // content or other headers (a comment-only edit can still hit), or a
        // sibling step compiles it too.
        let seen_before = matches!(
            miss_slug(&miss),
            "source_changed" | "header_changed" | "header_appeared"
        );
        let mut compiling = None;
        let mut leading = None;
        if plan.kind == ToolKind::Compile && siblings == Siblings::AskCache {
            match self.join_sibling(invocation, &mut plan) {
                Joined::Restored(record) => {
                    self.count("preprocessed_hits", 1);
                    return self.restored(kind, &record);
                }
                Joined::Leading(claim) => leading = Some(claim),
                Joined::Alone => {}
            }
        }
        if plan.kind == ToolKind::Compile
            && plan.cpp_key.is_none()
            && (seen_before || siblings == Siblings::InGraph)
            && let Some((cpp_key, seen)) = self.preprocessed_key(invocation, &plan)
        {
            plan.time_macros = Some(seen);
            // A sibling compiling the same text right now will store it:
            // wait for it rather than compile twice.
            compiling = self.in_flight.claim(cpp_key, self.wait_limit);
            if let Some(record) = self.restore_preprocessed(invocation, &plan, &cpp_key) {
                self.count("preprocessed_hits", 1);
                return self.restored(kind, &record);
            }
            plan.cpp_key = Some(cpp_key);
        }
        self.count(&format!("{kind}_misses"), 1);
        self.count(&format!("miss.{}", miss_slug(&miss)), 1);
        if let Some(request) = plan.private_request
            && let Some(temp) = self.private_depfile()
        {
            let path = temp.to_string_lossy().to_string();
            match request {
                PrivateDeps::Compiler => {
                    plan.extra_args
                        .extend(["-MD".to_string(), "-MF".to_string(), path]);
                }
                PrivateDeps::Linker { driver: true } => {
                    plan.extra_args
                        .push(format!("-Wl,--dependency-file={path}"));
                }
                PrivateDeps::Linker { driver: false } => {
                    plan.extra_args.push(format!("--dependency-file={path}"));
                }
            }
            plan.private_deps = Some(temp);
        }
        let command = if plan.extra_args.is_empty() {
            command.to_string()
        } else {
            with_extra_args(invocation, &plan.extra_args)
        };
        // An output delivered by hardlink shares its bytes with the store:
        // a tool writing it in place would change the stored copy too.
        for output in &plan.outputs {
            if fs::metadata(output).is_ok_and(|m| std::os::unix::fs::MetadataExt::nlink(&m) > 1) {
                let _ = fs::remove_file(output);
            }
        }
        Begun::Run(Box::new(Pending {
            cache: self,
            invocation: invocation.clone(),
            plan,
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

    fn restored(&self, kind: &str, record: &ResultRecord) -> Begun<'_> {
        self.count(&format!("{kind}_hits"), 1);
        self.count("time_saved_ms", record.duration_ms);
        let text = |bytes: &[u8]| {
            if record.normalized_text {
                self.roots.restore_bytes(bytes)
            } else {
                bytes.to_vec()
            }
        };
        Begun::Restored {
            stdout: text(&record.stdout),
            stderr: text(&record.stderr),
        }
    }

    fn note_store_error(&self, what: &str, err: &StoreError) {
        if matches!(err, StoreError::Corrupt { .. }) {
            self.count("corrupt", 1);
        }
        self.warn(what, err);
    }

    fn plan(&self, invocation: &Invocation) -> Result<Plan, &'static str> {
        self.plan_with(invocation, &no_overlay)
    }

    fn plan_with(
        &self,
        invocation: &Invocation,
        overlay: &Overlay<'_>,
    ) -> Result<Plan, &'static str> {
        let choosing = crate::cache::toolchain::program_choosing_args(
            &invocation.expanded_args,
            &invocation.cwd,
        );
        let tool = self
            .toolchains
            .identify_with(
                &invocation.program,
                &invocation.cwd,
                self.path_env.as_deref(),
                &choosing,
            )
            .map_err(|err| {
                self.warn("toolchain", &err);
                "tool_not_identified"
            })?;
        match &invocation.detail {
            Detail::Compile(args) => {
                if matches!(
                    overlay(&invocation.cwd.join(&args.source)),
                    Some(Expected::Pending)
                ) {
                    // A source another step writes: its comment-blind hash
                    // and macro facts are known only once it exists.
                    return Err(INPUT_PENDING);
                }
                self.plan_compile(invocation, args, tool)
            }
            Detail::Archive(_) | Detail::Link(_) => {
                self.plan_archive_or_link(invocation, tool, overlay)
            }
        }
    }

    fn args_digest(&self, invocation: &Invocation, extra: &[String]) -> Digest {
        let mut key = KeyHasher::new("args");
        key.text(&self.roots.normalize(&invocation.cwd.to_string_lossy()));
        for arg in invocation.key_args.iter().chain(extra) {
            key.text(&self.roots.normalize(arg));
        }
        key.finish()
    }

    fn env_digest(names: &[&str]) -> Digest {
        let mut key = KeyHasher::new("env");
        for name in names {
            key.text(name);
            match std::env::var_os(name) {
                Some(value) => key.field(b"=").field(value.as_encoded_bytes()),
                None => key.field(b"unset"),
            };
        }
        key.finish()
    }

    fn plan_compile(
        &self,
        invocation: &Invocation,
        args: &CompileArgs,
        tool: Arc<ToolIdentity>,
    ) -> Result<Plan, &'static str> {
        let cwd = &invocation.cwd;
        // These make gcc write one more dependency file, which a hit would
        // not restore.
        if ["DEPENDENCIES_OUTPUT", "SUNPRO_DEPENDENCIES"]
            .iter()
            .any(|name| std::env::var_os(name).is_some())
        {
            return Err("dependency_env");
        }
        if args.records_command_line && tool.family != Family::Gcc {
            return Err("records_command_line");
        }
        if crate::cache::shadows::unmodelled_include_option(&invocation.expanded_args).is_some() {
            return Err("unmodelled_include_option");
        }
        let source = cwd.join(&args.source);
        // A comment-only edit keeps the key when nothing the compiler makes
        // can see comments; the raw content then still decides for results
        // with diagnostics (they quote source lines).
        let dialect = comment_dialect(invocation, args, &tool);
        let (facts, blind) = match self.files.source_facts(&source, dialect) {
            Ok(Some(found)) => found,
            _ => return Err("unreadable_source"),
        };
        if facts.timestamp {
            return Err("timestamp_macro");
        }
        if facts.assembler_reads {
            return Err(ASSEMBLER_READS);
        }
        let remap_args = if self.settings.path_remap {
            self.prefix_map_args(args)
        } else {
            Vec::new()
        };
        let extra_args = remap_args.clone();
        let args_digest = self.args_digest(invocation, &extra_args);
        let env_digest = Self::env_digest(COMPILE_ENV);
        let mut keyed_inputs = HashSet::from([source.clone()]);
        let read_files = self.read_files_digest(cwd, &args.read_files, &mut keyed_inputs)?;
        let mut key = KeyHasher::new("compile");
        key.field(&tool.digest)
            .text(args.language.as_x_arg())
            .field(&args_digest)
            .field(&blind.unwrap_or(facts.hash))
            .field(&env_digest)
            .field(&read_files);
        let key = key.finish();
        let output = cwd.join(&args.output);
        let depfile = args.depfile.as_ref().map(|d| {
            let target = args
                .dep_target
                .clone()
                .unwrap_or_else(|| args.output.clone());
            (cwd.join(d), target)
        });
        let private_request = depfile.is_none().then_some(PrivateDeps::Compiler);
        let mut seen_key = KeyHasher::new("last-seen");
        seen_key
            .text(&self.roots.normalize(&source.to_string_lossy()))
            .text(&self.roots.normalize(&output.to_string_lossy()));
        let last_seen = LastSeen {
            tool: tool.digest,
            args: args_digest,
            source: facts.hash,
            env: env_digest,
        };
        Ok(Plan {
            kind: ToolKind::Compile,
            cwd: cwd.clone(),
            key,
            two_level: true,
            outputs: vec![output],
            depfile,
            keyed_inputs,
            extra_args,
            private_request,
            private_deps: None,
            last_seen: Some((seen_key.finish(), last_seen)),
            source_facts: Some(facts),
            raw_source: blind.map(|_| (self.roots.normalize(&args.source), facts.hash)),
            tool,
            remap_args,
            cpp_key: None,
            read_files,
            time_macros: None,
        })
    }

    /// The content of the files options name for the compiler to read
    /// (`-specs=`, sanitizer lists...; see [`CompileArgs::read_files`]),
    /// which join `keyed`. A spec file may `%include` another, which is
    /// not followed: such a compile is not cached.
    fn read_files_digest(
        &self,
        cwd: &Path,
        files: &[String],
        keyed: &mut HashSet<PathBuf>,
    ) -> Result<Digest, &'static str> {
        let mut key = KeyHasher::new("read-files");
        for file in files {
            let path = cwd.join(file);
            key.text(&self.roots.normalize(file));
            match fs::read(&path) {
                Ok(content) if memchr::memmem::find(&content, b"%include").is_some() => {
                    return Err("specs_include");
                }
                Ok(content) => {
                    key.field(blake3::hash(&content).as_bytes());
                    keyed.insert(path);
                }
                // Searched elsewhere (a spec file in the toolchain's dirs)
                // or an error the compile reports.
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                    key.field(b"absent");
                }
                Err(_) => return Err("unreadable_input"),
            }
        }
        Ok(key.finish())
    }

    /// `-ffile-prefix-map` for the build dir and the source root (when the
    /// build does not map them already), so `-g` objects do not embed them.
    fn prefix_map_args(&self, args: &CompileArgs) -> Vec<String> {
        let mapped = |root: &str| {
            args.prefix_maps
                .iter()
                .any(|map| map.debug && map.macros && is_under(root, &map.old))
        };
        let mut extra = Vec::new();
        if let (Some(source), Some(relative)) =
            (self.roots.source(), self.roots.source_from_build())
            && !mapped(source)
        {
            extra.push(format!("-ffile-prefix-map={source}={relative}"));
        }
        if !mapped(self.roots.build()) {
            extra.push(format!("-ffile-prefix-map={}=.", self.roots.build()));
        }
        extra
    }

    fn plan_archive_or_link(
        &self,
        invocation: &Invocation,
        tool: Arc<ToolIdentity>,
        overlay: &Overlay<'_>,
    ) -> Result<Plan, &'static str> {
        let cwd = &invocation.cwd;
        let mut key = KeyHasher::new(kind_name(invocation.kind));
        key.field(&tool.digest)
            .field(&self.args_digest(invocation, &[]))
            .field(&Self::env_digest(LINK_ENV));
        let (inputs, output, two_level) = match &invocation.detail {
            Detail::Archive(archive) => {
                if archive.reads_existing {
                    match self.files.facts(&cwd.join(&archive.archive)) {
                        Ok(Some(facts)) => key.field(&facts.hash),
                        Ok(None) => key.field(b"no existing archive"),
                        Err(_) => return Err("unreadable_input"),
                    };
                }
                if let Some(ranlib) = &invocation.ranlib {
                    let program = ranlib.first().ok_or("other_commands")?;
                    let identity = self
                        .toolchains
                        .identify(program, cwd, self.path_env.as_deref())
                        .map_err(|_| "tool_not_identified")?;
                    key.field(&identity.digest);
                    for arg in &ranlib[1..] {
                        key.text(&self.roots.normalize(arg));
                    }
                }
                (&archive.members, &archive.archive, false)
            }
            Detail::Link(link) => {
                if !link.dependency_file_ok {
                    return Err("unsupported_linker");
                }
                (&link.inputs, &link.output, true)
            }
            Detail::Compile(_) => return Err("other_outputs"),
        };
        let mut keyed_inputs = HashSet::new();
        for input in inputs {
            let path = cwd.join(input);
            match overlay(&path) {
                Some(Expected::Content(hash)) => {
                    key.field(&hash);
                    keyed_inputs.insert(path);
                    continue;
                }
                Some(Expected::Pending) => return Err(INPUT_PENDING),
                None => {}
            }
            match self.files.facts(&path) {
                Ok(Some(facts)) => key.field(&facts.hash),
                _ => return Err("unreadable_input"),
            };
            keyed_inputs.insert(path);
        }
        let private_request = match &invocation.detail {
            Detail::Link(link) => Some(PrivateDeps::Linker {
                driver: link.driver,
            }),
            _ => None,
        };
        Ok(Plan {
            kind: invocation.kind,
            cwd: cwd.clone(),
            key: key.finish(),
            two_level,
            outputs: vec![cwd.join(output)],
            depfile: None,
            keyed_inputs,
            extra_args: Vec::new(),
            private_request,
            private_deps: None,
            last_seen: None,
            source_facts: None,
            raw_source: None,
            tool,
            remap_args: Vec::new(),
            cpp_key: None,
            read_files: [0; 32],
            time_macros: None,
        })
    }

    fn lookup(&self, plan: &Plan) -> Lookup {
        self.lookup_with(plan, &no_overlay, &mut Vec::new())
    }

    /// The one place keys meet the store: a remote cache would be asked
    /// here when the local store has no manifest or result record.
    /// `assumed` receives the files a matching entry needed that the
    /// overlay says are still to be written.
    fn lookup_with(
        &self,
        plan: &Plan,
        overlay: &Overlay<'_>,
        assumed: &mut Vec<PathBuf>,
    ) -> Lookup {
        let result_key = if plan.two_level {
            let manifest = match self.get_record::<Manifest>(Namespace::Manifest, &plan.key) {
                Ok(Some(manifest)) => manifest,
                Ok(None) => return Lookup::Miss(self.why_no_manifest(plan)),
                Err(err) => {
                    self.note_store_error("read", &err);
                    return Lookup::Miss("cache entry unreadable".into());
                }
            };
            let mut first_change = None;
            let mut found = None;
            for entry in &manifest.entries {
                let mut pending = Vec::new();
                match self.entry_matches(plan, entry, overlay, &mut pending) {
                    Ok(()) => {
                        found = Some(entry.result);
                        *assumed = pending;
                        break;
                    }
                    Err(change) => {
                        first_change.get_or_insert(change);
                    }
                }
            }
            match found {
                Some(result) => result,
                None => {
                    return Lookup::Miss(first_change.unwrap_or_else(|| "no entry".to_string()));
                }
            }
        } else {
            plan.key
        };
        match self.get_record::<ResultRecord>(Namespace::Result, &result_key) {
            Ok(Some(record)) if record.fits(plan.outputs.len()) => Lookup::Hit(record),
            Ok(_) => Lookup::Miss("no entry".into()),
            Err(err) => {
                self.note_store_error("read", &err);
                Lookup::Miss("cache entry unreadable".into())
            }
        }
    }

    fn get_record<T: serde::de::DeserializeOwned>(
        &self,
        namespace: Namespace,
        key: &Digest,
    ) -> Result<Option<T>, StoreError> {
        let Some(bytes) = self.store.get_record(namespace, key)? else {
            return Ok(None);
        };
        match decode::<T>(&bytes) {
            Some(value) => Ok(Some(value)),
            // An older layout under the same version: a miss, rewritten on store.
            None => Ok(None),
        }
    }

    /// Says what changed since this source was last cached.
    fn why_no_manifest(&self, plan: &Plan) -> String {
        let Some((seen_key, now)) = &plan.last_seen else {
            return "no entry".into();
        };
        match self.get_record::<LastSeen>(Namespace::Manifest, seen_key) {
            Ok(Some(before)) => {
                if before.tool != now.tool {
                    "compiler changed".into()
                } else if before.source != now.source {
                    "source changed".into()
                } else if before.args != now.args {
                    "flags changed".into()
                } else if before.env != now.env {
                    "environment changed".into()
                } else {
                    "no entry".into()
                }
            }
            _ => "new source".into(),
        }
    }

    fn entry_matches(
        &self,
        plan: &Plan,
        entry: &ManifestEntry,
        overlay: &Overlay<'_>,
        pending: &mut Vec<PathBuf>,
    ) -> Result<(), String> {
        if let Some(tied) = &entry.roots
            && !self.roots.serve(tied)
        {
            return Err("built in another directory".into());
        }
        let cwd = &plan.cwd;
        for (index, (path, hash)) in entry.files.iter().enumerate() {
            let path = cwd.join(self.roots.restore(path));
            match overlay(&path) {
                Some(Expected::Content(expected)) if expected == *hash => continue,
                Some(Expected::Content(_)) => return Err(format!("{} changed", path.display())),
                Some(Expected::Pending) => {
                    pending.push(path);
                    continue;
                }
                None => {}
            }
            if let Some(facts) = self.files.known(&path) {
                if facts.hash == *hash {
                    continue;
                }
                return Err(format!("{} changed", path.display()));
            }
            if let Some(Some(identity)) = entry.identities.get(index)
                && let Ok(Some(stat)) = crate::hash::stat(&path.to_string_lossy())
                && !stat.not_regular
                && FileIdentity::of(&stat) == *identity
            {
                continue;
            }
            match self.files.facts(&path) {
                Ok(Some(facts)) if facts.hash == *hash => {}
                Ok(Some(_)) => return Err(format!("{} changed", path.display())),
                _ => return Err(format!("{} is gone", path.display())),
            }
        }
        // One listing (one stat at most) per dir.
        for (dir, names) in &entry.absent {
            let path = cwd.join(self.roots.restore(dir));
            let listing: Option<Names> = self.listings.listing(&path);
            for name in names {
                let first = name.split('/').next().unwrap_or(name);
                let may_exist = listing.as_ref().is_none_or(|names| names.contains(first));
                if may_exist && path.join(name).exists() {
                    return Err(format!("{} appeared", path.join(name).display()));
                }
            }
        }
        Ok(())
    }

    fn restore(&self, plan: &Plan, record: &ResultRecord) -> Result<(), StoreError> {
        for (stored, dest) in record.outputs.iter().zip(&plan.outputs) {
            let mode = if stored.mode & 0o111 != 0 {
                0o777
            } else {
                0o666
            } & !self.umask;
            // Objects are only ever read by later steps; archives and
            // executables may be changed in place (ar q, strip, patchelf),
            // which would change the stored copy through a hardlink.
            let allow_hardlink = plan.kind == ToolKind::Compile;
            let written = self
                .store
                .restore_blob(&stored.blob, dest, mode, allow_hardlink)?;
            self.count("bytes_restored", written);
        }
        if let (Some((path, target)), Some(depfile)) = (&plan.depfile, &record.depfile) {
            let mut text = self.roots.restore_bytes(&depfile.text);
            let stored_target = self.roots.restore(&depfile.target);
            if stored_target != *target
                && let Some(rest) = text.strip_prefix(stored_target.as_bytes())
            {
                let mut renamed = target.as_bytes().to_vec();
                renamed.extend_from_slice(rest);
                text = renamed;
            }
            // In place, as the compiler writes it: the build reads it only
            // after the step.
            fs::write(path, &text).map_err(|source| StoreError::Io {
                context: format!("writing {}", path.display()),
                source,
            })?;
        }
        Ok(())
    }

    /// What a run left that the build may change or delete as soon as the
    /// step is over (ninja reads and deletes depfiles; a later step may
    /// rewrite an output in place): read before the step is reported done.
    fn capture_files(&self, plan: &Plan) -> Result<Captured, Option<&'static str>> {
        let mut outputs = Vec::with_capacity(plan.outputs.len());
        let mut budget = crate::cache::store::IN_MEMORY_LIMIT;
        for path in &plan.outputs {
            let mut file = fs::File::open(path).map_err(|_| Some("output_missing"))?;
            let meta = file.metadata().map_err(|_| Some("output_missing"))?;
            let output = if meta.len() <= budget {
                budget -= meta.len();
                let mut content = Vec::with_capacity(meta.len() as usize);
                std::io::Read::read_to_end(&mut file, &mut content)
                    .map_err(|_| Some("output_missing"))?;
                CapturedOutput::Read(content)
            } else {
                self.stage_output(&file, path)?
            };
            outputs.push((output, meta.permissions().mode()));
        }
        let dependencies = if plan.two_level {
            let deps_path = match (&plan.private_deps, &plan.depfile) {
                (Some(private), _) => private.to_path_buf(),
                (None, Some((depfile, _))) => depfile.clone(),
                (None, None) => return Err(Some("no_dependency_file")),
            };
            Some(fs::read_to_string(deps_path).map_err(|_| Some("no_dependency_file"))?)
        } else {
            None
        };
        let depfile = match &plan.depfile {
            Some((path, _)) => Some(fs::read(path).map_err(|_| Some("no_dependency_file"))?),
            None => None,
        };
        Ok(Captured {
            outputs,
            dependencies,
            depfile,
        })
    }

    /// Writes an output too big to hold to a temp file of the cache, in
    /// one pass that also looks for the roots in it.
    fn stage_output(
        &self,
        file: &fs::File,
        path: &Path,
    ) -> Result<CapturedOutput, Option<&'static str>> {
        let mut seen = self.roots.seen_in_pieces();
        match self
            .store
            .stage_blob(file, path, &mut |piece| seen.feed(piece))
        {
            Ok(blob) => Ok(CapturedOutput::Staged {
                blob,
                // Compressed sections may hold the roots unseen (`-gz`).
                ties: if crate::cache::elf::file_has_compressed_sections(file) {
                    Ties::BOTH
                } else {
                    seen.found()
                },
            }),
            Err(StoreError::Changed { .. }) => Err(Some("output_changed")),
            Err(err) => {
                self.write_failed(&err);
                Err(None)
            }
        }
    }

    /// Stores a successful run from what [`Cache::capture_files`] read.
    /// `Err(Some(reason))`: the result must not be cached (counted as
    /// uncacheable); `Err(None)`: the store failed (already warned).
    fn store_result<S>(
        &self,
        invocation: &Invocation,
        plan: &mut Plan,
        ran: &Ran<S>,
        elapsed: std::time::Duration,
        started_ns: i64,
        captured: Captured,
    ) -> Result<(), Option<&'static str>> {
        // The key holds the content hashed before the run (or, for files
        // found in the depfile, after it): a file written meanwhile may not
        // be what the tool read.
        if plan
            .keyed_inputs
            .iter()
            .any(|path| modified_since(path, started_ns))
        {
            return Err(Some("input_changed_during_step"));
        }
        let mut dependencies = Dependencies::default();
        // Roots the stored text cannot name by placeholder tie the entry.
        let mut ties = if self.roots.plain() {
            Ties::default()
        } else {
            Ties::BOTH
        };
        if let Some(text) = &captured.dependencies {
            let full;
            let text = match &invocation.detail {
                // The build's -MMD depfile names no system header: those
                // are inputs too, so a preprocessor run lists them all.
                Detail::Compile(args) if args.user_deps_only => {
                    full = self
                        .all_dependencies(invocation, plan)
                        .ok_or(Some("no_dependency_file"))?;
                    &full
                }
                _ => text,
            };
            dependencies = self.read_dependencies(invocation, plan, text, started_ns)?;
        }
        // Only a paste can hide a time macro from the files' scan (and
        // arguments can name one: `-DSTAMP=__TIME__`).
        if let Detail::Compile(args) = &invocation.detail
            && !matches!(
                args.language,
                Language::Asm | Language::PreprocessedC | Language::PreprocessedCxx
            )
            && (plan.time_macros.is_some() || may_hide_time_macro(&dependencies, invocation, args))
        {
            match self.time_macros(invocation, plan).map_err(Some)? {
                time_macros::Seen::Nothing => {}
                time_macros::Seen::DateTime if self.epoch_pins_time_macros(&plan.tool) => {}
                time_macros::Seen::DateTime => return Err(Some("date_time_macros")),
                time_macros::Seen::Timestamp => return Err(Some("timestamp_macro")),
            }
        }
        let mut outputs = Vec::with_capacity(plan.outputs.len());
        for (output, mode) in captured.outputs {
            let write_failed = |err| {
                self.write_failed(&err);
                None
            };
            let (blob, size) = match output {
                CapturedOutput::Read(content) => {
                    // Compressed sections may hold the roots unseen (`-gz`).
                    ties = ties.union(if crate::cache::elf::has_compressed_sections(&content) {
                        Ties::BOTH
                    } else {
                        self.roots.appearing_in(&content)
                    });
                    let blob = self.store.put_blob(&content).map_err(write_failed)?;
                    (blob, content.len() as u64)
                }
                CapturedOutput::Staged { blob, ties: seen } => {
                    ties = ties.union(seen);
                    let (digest, size) = (*blob.digest(), blob.size());
                    self.store.commit_staged(blob).map_err(write_failed)?;
                    (digest, size)
                }
            };
            outputs.push(StoredOutput { blob, size, mode });
        }
        let depfile = match (&plan.depfile, captured.depfile) {
            (Some((_, target)), Some(text)) => match self.roots.normalize_bytes(&text) {
                Some(text) => Some(StoredDepfile {
                    text,
                    target: self.roots.normalize(target),
                }),
                None => {
                    ties = Ties::BOTH;
                    Some(StoredDepfile {
                        text,
                        target: target.clone(),
                    })
                }
            },
            _ => None,
        };
        if let Some(raw_source) = &plan.raw_source
            && !(ran.stdout.is_empty() && ran.stderr.is_empty())
        {
            dependencies.files.push(raw_source.clone());
            dependencies.identities.push(None);
        }
        let (stdout, stderr, normalized_text) = match (
            self.roots.normalize_bytes(&ran.stdout),
            self.roots.normalize_bytes(&ran.stderr),
        ) {
            (Some(out), Some(err)) => (out, err, true),
            _ => {
                ties = Ties::BOTH;
                (ran.stdout.clone(), ran.stderr.clone(), false)
            }
        };
        let record = ResultRecord {
            outputs,
            depfile,
            stdout,
            stderr,
            normalized_text,
            exit_code: 0,
            duration_ms: elapsed.as_millis() as u64,
        };
        let roots = self.roots.tied(ties);
        let result_key = if plan.two_level {
            let mut key = KeyHasher::new("result");
            key.field(&plan.key);
            for (path, hash) in &dependencies.files {
                key.text(path).field(hash);
            }
            for (dir, name) in &dependencies.absent {
                key.text(dir).text(name);
            }
            if let Some((build, source)) = &roots {
                for root in [build, source] {
                    key.field(&[u8::from(root.is_some())])
                        .text(root.as_deref().unwrap_or(""));
                }
            }
            key.finish()
        } else {
            plan.key
        };
        let bytes = encode(&record).ok_or(Some("unencodable"))?;
        self.put(Namespace::Result, &result_key, &bytes)?;
        if plan.two_level {
            self.add_manifest_entry(
                plan,
                ManifestEntry {
                    files: dependencies.files,
                    identities: dependencies.identities,
                    absent: group_absent(dependencies.absent),
                    roots: roots.clone(),
                    result: result_key,
                },
            )?;
        }
        // Diagnostics quote lines and columns, which the text key keeps
        // only when it holds the exact sources (under debug info).
        let exact_text_key = matches!(&invocation.detail, Detail::Compile(args) if args.debug);
        let diagnostics = !(ran.stdout.is_empty() && ran.stderr.is_empty());
        if let (Some(cpp_key), None) = (plan.cpp_key, &roots)
            && (exact_text_key || !diagnostics)
        {
            self.put(Namespace::Result, &cpp_key, &bytes)?;
        }
        if let Some((seen_key, seen)) = &plan.last_seen
            && let Some(bytes) = encode(seen)
        {
            self.put(Namespace::Manifest, seen_key, &bytes)?;
        }
        Ok(())
    }

    /// The files a compile or link read besides those in its key, with
    /// their hashes, and where a shadowing header would have been found.
    fn read_dependencies(
        &self,
        invocation: &Invocation,
        plan: &Plan,
        text: &str,
        started_ns: i64,
    ) -> Result<Dependencies, Option<&'static str>> {
        let deps = crate::run::depfile::parse(text)
            .map_err(|_| Some("bad_dependency_file"))?
            .inputs;
        let mut entry_files = Vec::new();
        let mut identities = Vec::new();
        let mut date_time = plan.source_facts.is_some_and(|f| f.date_time);
        let mut time_pieces = plan.source_facts.map_or(0, |f| f.time_pieces);
        let mut time_code_pieces = plan.source_facts.map_or(0, |f| f.time_code_pieces);
        let mut pastes = plan.source_facts.is_some_and(|f| f.pastes);
        let mut seen = HashSet::new();
        // Every file read, as a full normal path, with its facts: the
        // compile's source first.
        let mut read = Vec::new();
        if let (Detail::Compile(args), Some(facts)) = (&invocation.detail, plan.source_facts) {
            read.push((join_text(&plan.cwd, &args.source), facts));
        }
        for dep in &deps {
            let path = plan.cwd.join(dep);
            if plan.keyed_inputs.contains(&path) || !seen.insert(path.clone()) {
                continue;
            }
            let stat = crate::hash::stat(&path.to_string_lossy())
                .ok()
                .flatten()
                .ok_or(Some("input_vanished"))?;
            if changed_since(&stat, started_ns) {
                return Err(Some("input_changed_during_step"));
            }
            let facts = match self.files.facts_at(&path, stat) {
                Ok(facts) => facts,
                _ => return Err(Some("input_vanished")),
            };
            if plan.kind == ToolKind::Compile {
                if facts.timestamp {
                    return Err(Some("timestamp_macro"));
                }
                if facts.assembler_reads {
                    return Err(Some(ASSEMBLER_READS));
                }
                date_time |= facts.date_time;
                time_pieces |= facts.time_pieces;
                time_code_pieces |= facts.time_code_pieces;
                pastes |= facts.pastes;
            }
            entry_files.push((self.roots.normalize(dep), facts.hash));
            read.push((join_text(&plan.cwd, dep), facts));
            let settled = !stat.not_regular && !crate::cache::files::is_racy(&stat);
            identities.push(settled.then(|| FileIdentity::of(&stat)));
        }
        if date_time && !self.epoch_pins_time_macros(&plan.tool) {
            return Err(Some("date_time_macros"));
        }
        let mut dependencies = Dependencies {
            files: entry_files,
            identities,
            absent: Vec::new(),
            time_pieces,
            time_code_pieces,
            pastes,
        };
        dependencies.absent = match &invocation.detail {
            Detail::Compile(args) => {
                self.absent_headers(invocation, args, plan, &read, &mut dependencies)?
            }
            Detail::Link(link) => self.absent_libraries(invocation, plan, link.driver, &deps)?,
            Detail::Archive(_) => Vec::new(),
        };
        Ok(dependencies)
    }

    /// Whether `__DATE__` and `__TIME__` are pinned for this compile:
    /// SOURCE_DATE_EPOCH is set and the compiler was seen to honour it
    /// (asked once per tool, the answer kept in the cache).
    fn epoch_pins_time_macros(&self, tool: &ToolIdentity) -> bool {
        if std::env::var_os("SOURCE_DATE_EPOCH").is_none() {
            return false;
        }
        if let Some(known) = self.epoch_answers.known(tool) {
            return known;
        }
        let mut key = KeyHasher::new("honours-source-date-epoch");
        key.field(&tool.digest);
        let key = key.finish();
        let stored = self
            .get_record::<bool>(Namespace::Manifest, &key)
            .ok()
            .flatten();
        let honours = stored.unwrap_or_else(|| {
            let honours = crate::cache::epoch::probe(tool);
            if let Some(bytes) = encode(&honours) {
                let _ = self.put(Namespace::Manifest, &key, &bytes);
            }
            honours
        });
        self.epoch_answers.remember(tool, honours);
        honours
    }

    fn add_manifest_entry(
        &self,
        plan: &Plan,
        entry: ManifestEntry,
    ) -> Result<(), Option<&'static str>> {
        let mut manifest = self
            .get_record::<Manifest>(Namespace::Manifest, &plan.key)
            .ok()
            .flatten()
            .unwrap_or_default();
        manifest.entries.retain(|e| e.result != entry.result);
        manifest.entries.insert(0, entry);
        manifest.entries.truncate(MAX_MANIFEST_ENTRIES);
        let bytes = encode(&manifest).ok_or(Some("unencodable"))?;
        self.put(Namespace::Manifest, &plan.key, &bytes)
    }

    /// The compile's arguments for a preprocessor run that writes nothing
    /// but its output: no `-c`, output or dependency options (also taken
    /// out of `-Wp,` lists, whose other items stay).
    fn preprocessor_args(invocation: &Invocation) -> Option<Vec<String>> {
        let expanded = &invocation.expanded_args;
        let keyed = &invocation.key_args;
        if expanded.len() != keyed.len() {
            return None;
        }
        let is_placeholder = |k: &str| {
            k.contains("<output>") || k.contains("<depfile>") || k.contains("<deptarget>")
        };
        let mut cpp_args = Vec::with_capacity(expanded.len());
        let mut skip_next = false;
        for (index, arg) in expanded.iter().enumerate() {
            if std::mem::take(&mut skip_next) {
                continue;
            }
            let next_is_placeholder = keyed.get(index + 1).is_some_and(|k| is_placeholder(k));
            if next_is_placeholder && matches!(arg.as_str(), "-o" | "-MF" | "-MT" | "-MQ") {
                skip_next = true;
                continue;
            }
            if let Some(items) = arg.strip_prefix("-Wp,") {
                let mut kept = Vec::new();
                let mut items = items.split(',');
                while let Some(item) = items.next() {
                    match item {
                        "-MD" | "-MMD" | "-MF" | "-MT" | "-MQ" => {
                            items.next();
                        }
                        "-M" | "-MM" | "-MP" | "-MG" => {}
                        _ => kept.push(item),
                    }
                }
                if !kept.is_empty() {
                    cpp_args.push(format!("-Wp,{}", kept.join(",")));
                }
                continue;
            }
            // `-w` would silence the date-time check, and a warning made an
            // error (one in a system header, reported for the check) would
            // stop it; neither changes the text.
            if is_placeholder(&keyed[index])
                || matches!(
                    arg.as_str(),
                    "-c" | "-MD" | "-MMD" | "-MP" | "-w" | "-pedantic-errors"
                )
                || arg.starts_with("-Werror")
            {
                continue;
            }
            cpp_args.push(arg.clone());
        }
        Some(cpp_args)
    }

    /// Runs the compile's preprocessor with `extra` arguments, in its dir.
    fn preprocess(
        invocation: &Invocation,
        plan: &Plan,
        extra: &[&str],
    ) -> Option<std::process::Output> {
        let cpp_args = Self::preprocessor_args(invocation)?;
        std::process::Command::new(&plan.tool.invoked)
            .args(&cpp_args)
            .args(&plan.remap_args)
            .arg("-E")
            .args(extra)
            .current_dir(&plan.cwd)
            .stdin(std::process::Stdio::null())
            .output()
            .ok()
    }

    /// Whether the compile expands a date or time macro, however spelled
    /// (see [`crate::cache::time_macros`]): from the preprocessor run of
    /// the text key when there was one, else from a run of its own. `Err`
    /// when that run fails: never cached then.
    fn time_macros(
        &self,
        invocation: &Invocation,
        plan: &Plan,
    ) -> Result<time_macros::Seen, &'static str> {
        if let Some(seen) = plan.time_macros {
            return Ok(seen);
        }
        let mut extra = time_macros::CHECK_ARGS.to_vec();
        extra.extend(["-o", "/dev/null"]);
        match Self::preprocess(invocation, plan, &extra) {
            Some(output) if output.status.success() => Ok(time_macros::seen(&output.stderr)),
            _ => Err("time_macro_check_failed"),
        }
    }

    /// The key of a compile by its preprocessed text: arguments that only
    /// steer the preprocessor are left out, as their effect is in the text.
    /// With debug info, which holds columns (and, with clang, each source's
    /// MD5), the exact content of every file the text came from is keyed
    /// too: the text alone does not keep spacing or comments. `None` when
    /// the preprocessor cannot be run. Also says whether the text expands
    /// a date or time macro.
    fn preprocessed_key(
        &self,
        invocation: &Invocation,
        plan: &Plan,
    ) -> Option<(Digest, time_macros::Seen)> {
        let Detail::Compile(args) = &invocation.detail else {
            return None;
        };
        if args.macro_debug {
            return None;
        }
        let output = Self::preprocess(invocation, plan, time_macros::CHECK_ARGS)?;
        if !output.status.success() {
            return None;
        }
        let seen = time_macros::seen(&output.stderr);
        let keyed = &invocation.key_args;
        let mut key = KeyHasher::new("preprocessed");
        key.field(&plan.tool.digest)
            .text(args.language.as_x_arg())
            .text(&self.roots.normalize(&plan.cwd.to_string_lossy()));
        for (arg, preprocessor_only) in keyed.iter().zip(&invocation.preprocessor_only) {
            if !preprocessor_only {
                key.text(&self.roots.normalize(arg));
            }
        }
        for arg in &plan.remap_args {
            key.text(&self.roots.normalize(arg));
        }
        if args.debug {
            key.text("exact sources");
            for file in line_marker_files(&output.stdout)? {
                let path = plan.cwd.join(&file);
                let facts = self.files.facts(&path).ok()??;
                key.text(&self.roots.normalize(&file)).field(&facts.hash);
            }
        }
        let text = self
            .roots
            .normalize_bytes(&output.stdout)
            .unwrap_or(output.stdout);
        key.field(blake3::hash(&text).as_bytes())
            .field(&output.stderr)
            .field(&Self::env_digest(COMPILE_ENV))
            .field(&plan.read_files);
        Some((key.finish(), seen))
    }

    /// Every file a compile reads, as a depfile's text, from a run of its
    /// preprocessor with `-M` (which, unlike `-MMD`, names system headers).
    fn all_dependencies(&self, invocation: &Invocation, plan: &Plan) -> Option<String> {
        let output = Self::preprocess(invocation, plan, &["-M"])?;
        if !output.status.success() {
            return None;
        }
        String::from_utf8(output.stdout).ok()
    }

    /// Restores a compile found by its preprocessed text, and remembers it
    /// under its direct key so the next lookup needs no preprocessor.
    fn restore_preprocessed(
        &self,
        invocation: &Invocation,
        plan: &Plan,
        cpp_key: &Digest,
    ) -> Option<ResultRecord> {
        let record = match self.get_record::<ResultRecord>(Namespace::Result, cpp_key) {
            Ok(Some(record)) if record.fits(plan.outputs.len()) => record,
            _ => return None,
        };
        match self.restore(plan, &record) {
            Ok(()) => {}
            Err(StoreError::NotFound { .. }) => return None,
            Err(err) => {
                self.note_store_error("restore", &err);
                return None;
            }
        }
        let user_deps_only =
            matches!(&invocation.detail, Detail::Compile(args) if args.user_deps_only);
        let text = match &plan.depfile {
            Some(_) if user_deps_only => self.all_dependencies(invocation, plan),
            Some((depfile, _)) => fs::read_to_string(depfile).ok(),
            None => None,
        };
        if let Some(text) = text
            && let Ok(dependencies) = self.read_dependencies(invocation, plan, &text, i64::MAX)
        {
            let entry = ManifestEntry {
                files: dependencies.files,
                identities: dependencies.identities,
                absent: group_absent(dependencies.absent),
                roots: None,
                result: *cpp_key,
            };
            let _ = self.add_manifest_entry(plan, entry);
        }
        Some(record)
    }

    /// Launcher mode's sibling search, among the compiles this process
    /// served (see [`crate::cache::siblings`]). A compile of the group
    /// holds the group's claim while it compiles; a compile that finds the
    /// claim free and no useful sibling leads: it holds the claim until its
    /// result is stored.
    fn join_sibling(&self, invocation: &Invocation, plan: &mut Plan) -> Joined<'_> {
        let Some(group) = Self::group_of(invocation) else {
            return Joined::Alone;
        };
        let book = &self.siblings;
        let claim = book.leading.claim(group, std::time::Duration::ZERO);
        if let Some(sibling) = book.leader(&group) {
            // Claimed by another: a compile of the group (maybe this very
            // one, run twice) is running now; its result is worth waiting for.
            let busy = claim.is_none();
            if (busy || *sibling != *invocation)
                && let Some(record) =
                    self.restore_from_sibling(invocation, plan, &sibling, busy.then_some(&group))
            {
                return Joined::Restored(record);
            }
        }
        let Some(claim) = claim else {
            return Joined::Alone;
        };
        book.lead(group, invocation);
        Joined::Leading(claim)
    }

    /// Restores `sibling`'s result for `invocation` when both preprocess to
    /// the same text (their other arguments are equal, being one group),
    /// after waiting for the compile of `group` running now, if any. Its
    /// result is checked by the sibling's own lookup, with every header it
    /// read, so a sibling compiled before a header edit never serves.
    fn restore_from_sibling(
        &self,
        invocation: &Invocation,
        plan: &mut Plan,
        other: &Invocation,
        running: Option<&Digest>,
    ) -> Option<ResultRecord> {
        let wait = |group: &Digest| self.siblings.leading.wait_done(group, self.wait_limit);
        if *other == *invocation {
            // The same compile, running in another call: its result is
            // this one's.
            wait(running?).then_some(())?;
            let Lookup::Hit(record) = self.lookup(plan) else {
                return None;
            };
            return self.restore(plan, &record).ok().map(|()| record);
        }
        if Self::group_of(other) != Self::group_of(invocation) {
            return None;
        }
        let other_plan = self.plan(other).ok()?;
        // A finished sibling without a result (its compile failed, or its
        // source changed since): no preprocessor run is worth it.
        if running.is_none() && !matches!(self.lookup(&other_plan), Lookup::Hit(_)) {
            return None;
        }
        let (own_key, other_key) = std::thread::scope(|scope| {
            let other_key = scope.spawn(|| self.preprocessed_key(other, &other_plan));
            let own_key = self.preprocessed_key(invocation, plan);
            (own_key, other_key.join().ok().flatten().map(|(key, _)| key))
        });
        let (own_key, seen) = own_key?;
        plan.cpp_key = Some(own_key);
        plan.time_macros = Some(seen);
        if other_key != Some(own_key) {
            return None;
        }
        if let Some(group) = running
            && !wait(group)
        {
            return None;
        }
        if let Some(record) = self.restore_preprocessed(invocation, plan, &own_key) {
            return Some(record);
        }
        let Lookup::Hit(record) = self.lookup(&other_plan) else {
            return None;
        };
        // Diagnostics may name what only the arguments hold (a macro
        // defined by -D): served by the text key only when it is exact.
        let exact = matches!(&invocation.detail, Detail::Compile(args) if args.debug);
        let quiet = record.stdout.is_empty() && record.stderr.is_empty();
        if !(exact || quiet) {
            return None;
        }
        // Filed under the text's key, which this compile's manifest entry
        // then points at, like any result found by its preprocessed text.
        self.put(Namespace::Result, &own_key, &encode(&record)?)
            .ok()?;
        self.restore_preprocessed(invocation, plan, &own_key)
    }

    fn put(
        &self,
        namespace: Namespace,
        key: &Digest,
        bytes: &[u8],
    ) -> Result<(), Option<&'static str>> {
        self.store
            .put_record(namespace, key, bytes)
            .map_err(|err| match err {
                StoreError::RecordTooLarge { .. } => Some("record_too_large"),
                err => {
                    self.write_failed(&err);
                    None
                }
            })
    }

    fn write_failed(&self, err: &StoreError) {
        self.read_only
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.warn("write", err);
    }

    /// The places where a header would have been found before the one the
    /// compile read, had it existed (see [`crate::cache::shadows`]), and
    /// those `__has_include` probed: the absent ones, and the files found
    /// there (with their hashes, added to `files`).
    fn absent_headers(
        &self,
        invocation: &Invocation,
        args: &CompileArgs,
        plan: &Plan,
        read: &[(String, crate::cache::files::FileFacts)],
        files: &mut Dependencies,
    ) -> Result<Vec<(String, String)>, Option<&'static str>> {
        let cwd = &invocation.cwd;
        let system = if args.nostdinc {
            None
        } else {
            let relevant = system_search_args(&invocation.expanded_args);
            // Without the compiler's own dirs, a header from one would
            // seem found outside every search dir.
            Some(
                self.toolchains
                    .system_include_dirs(&plan.tool, args.language.as_x_arg(), &relevant)
                    .map_err(|_| Some("include_dirs_unknown"))?,
            )
        };
        let env_steers = crate::cache::toolchain::STEERING_ENV
            .iter()
            .any(|name| name.ends_with("PATH") && std::env::var_os(name).is_some());
        let search = HeaderSearch::new(cwd, args, system.as_deref(), env_steers);
        let dir_of = |full: &str| full.rsplit_once('/').map(|(dir, _)| dir.to_string());
        let mut includers: Vec<String> = Vec::new();
        for (full, facts) in read {
            if facts.quote_include
                && let Some(dir) = dir_of(full)
                && !includers.contains(&dir)
            {
                includers.push(dir);
            }
        }
        let mut absent: HashSet<(String, String)> = HashSet::new();
        // Each dir is listed (or its listing checked by stat) once per call.
        let mut listings: HashMap<String, Option<Names>> = HashMap::new();
        let mut is_absent = |dir: &str, name: &str| {
            let first = name.split('/').next().unwrap_or(name);
            let may_exist = listings
                .entry(dir.to_string())
                .or_insert_with(|| self.listings.listing(Path::new(dir)))
                .as_ref()
                .is_none_or(|names| names.contains(first));
            !may_exist || fs::symlink_metadata(Path::new(dir).join(name)).is_err()
        };
        // The source (first) is named, not searched for.
        for (full, _) in read.iter().skip(1) {
            for (dir, name) in search.places_before(full, &includers) {
                let place = (dir.to_string(), name.to_string());
                if !absent.contains(&place) && is_absent(dir, name) {
                    absent.insert(place);
                }
            }
        }
        for (full, facts) in read {
            if !facts.has_include {
                continue;
            }
            let text = fs::read(full).map_err(|_| Some("input_vanished"))?;
            let probes = crate::cache::shadows::has_include_probes(&text)
                .ok_or(Some("has_include_macro"))?;
            let own_dir = dir_of(full).unwrap_or_default();
            for probe in probes {
                let beside = probe.quoted.then_some(&own_dir);
                for dir in beside.into_iter().chain(search.dirs()) {
                    let path = Path::new(dir).join(&probe.name);
                    if is_absent(dir, &probe.name) {
                        absent.insert((dir.clone(), probe.name.clone()));
                        continue;
                    }
                    let Ok(Some(stat)) = crate::hash::stat(&path.to_string_lossy()) else {
                        return Err(Some("input_vanished"));
                    };
                    let normal = self.roots.normalize(&path.to_string_lossy());
                    if stat.not_regular || files.files.iter().any(|(p, _)| *p == normal) {
                        continue;
                    }
                    let facts = self
                        .files
                        .facts_at(&path, stat)
                        .map_err(|_| Some("input_vanished"))?;
                    let settled = !crate::cache::files::is_racy(&stat);
                    files.files.push((normal, facts.hash));
                    files
                        .identities
                        .push(settled.then(|| FileIdentity::of(&stat)));
                }
            }
        }
        let mut normalized_dirs: HashMap<String, String> = HashMap::new();
        let mut absent: Vec<(String, String)> = absent
            .into_iter()
            .map(|(dir, name)| {
                let dir = normalized_dirs
                    .entry(dir)
                    .or_insert_with_key(|dir| self.roots.normalize(dir));
                (dir.clone(), name)
            })
            .collect();
        absent.sort();
        Ok(absent)
    }
}

impl Cache {
    /// The places where a library or startfile the link read would have
    /// been found first, had it existed: the dirs searched before the one
    /// it came from, in the order the linker searches them (`-L` dirs,
    /// then, through a compiler driver, `LIBRARY_PATH` and the driver's
    /// own dirs, then the linker's built-in ones; see
    /// [`crate::cache::toolchain::Toolchains::library_search_dirs`]).
    fn absent_libraries(
        &self,
        invocation: &Invocation,
        plan: &Plan,
        driver: bool,
        deps: &[String],
    ) -> Result<Vec<(String, String)>, Option<&'static str>> {
        let cwd = &invocation.cwd;
        let mut search: Vec<String> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let mut linker_args: Vec<&str> = Vec::new();
        let mut args = invocation.expanded_args.iter();
        while let Some(arg) = args.next() {
            match arg.strip_prefix("-Wl,") {
                Some(list) => linker_args.extend(list.split(',')),
                None if arg == "-Xlinker" => linker_args.extend(args.next().map(String::as_str)),
                None => linker_args.push(arg),
            }
        }
        let mut args = linker_args.into_iter();
        while let Some(arg) = args.next() {
            if arg == "-L" || arg == "--library-path" {
                search.extend(args.next().map(|dir| join_text(cwd, dir)));
            } else if let Some(dir) = arg
                .strip_prefix("--library-path=")
                .or_else(|| arg.strip_prefix("-L"))
            {
                search.push(join_text(cwd, dir));
            } else if arg == "-l" || arg == "--library" {
                names.extend(args.next().map(str::to_string));
            } else if let Some(name) = arg
                .strip_prefix("--library=")
                .or_else(|| arg.strip_prefix("-l"))
            {
                names.push(name.to_string());
            }
        }
        let relevant = system_search_args(&invocation.expanded_args);
        let builtin = self
            .toolchains
            .library_search_dirs(&plan.tool, driver, &relevant, cwd)
            .map_err(|_| Some("library_dirs_unknown"))?;
        search.extend(
            builtin
                .iter()
                .map(|dir| join_text(cwd, &dir.to_string_lossy())),
        );
        let last: HashMap<&str, usize> = search
            .iter()
            .enumerate()
            .map(|(at, dir)| (dir.as_str(), at))
            .collect();
        // What a file of this name may have been looked up as: `-lNAME`
        // tries libNAME.so, then libNAME.a, in each dir.
        let looked_up_as = |file: &str| -> Vec<String> {
            let stem = file
                .strip_prefix("lib")
                .and_then(|rest| rest.strip_suffix(".so").or_else(|| rest.strip_suffix(".a")));
            match stem {
                Some(stem) => vec![format!("lib{stem}.so"), format!("lib{stem}.a")],
                None => vec![file.to_string()],
            }
        };
        let mut absent: HashSet<(String, String)> = HashSet::new();
        let mut note = |dir: &str, candidate: &str| {
            let place = (dir.to_string(), candidate.to_string());
            if !absent.contains(&place) && !Path::new(dir).join(candidate).exists() {
                absent.insert(place);
            }
        };
        let read: Vec<String> = deps
            .iter()
            .filter(|dep| !plan.keyed_inputs.contains(&cwd.join(dep)))
            .map(|dep| join_text(cwd, dep))
            .collect();
        for full in &read {
            let Some((dir, file)) = full.rsplit_once('/') else {
                continue;
            };
            let Some(&at) = last.get(dir) else {
                continue;
            };
            let candidates = looked_up_as(file);
            for earlier in &search[..at] {
                for candidate in &candidates {
                    note(earlier, candidate);
                }
            }
            // In one dir the shared library wins over the archive.
            if file.ends_with(".a") {
                note(dir, &candidates[0]);
            }
        }
        // A `-l` library found outside every search dir (a sysroot the
        // list spells otherwise): every dir counts as earlier.
        for name in &names {
            let candidates = match name.strip_prefix(':') {
                Some(file) => vec![file.to_string()],
                None => vec![format!("lib{name}.so"), format!("lib{name}.a")],
            };
            let found_outside = read.iter().any(|full| {
                full.rsplit_once('/').is_some_and(|(dir, file)| {
                    candidates.iter().any(|c| c == file) && !last.contains_key(dir)
                })
            });
            if found_outside {
                for dir in &search {
                    for candidate in &candidates {
                        note(dir, candidate);
                    }
                }
            }
        }
        let mut absent: Vec<(String, String)> = absent
            .into_iter()
            .map(|(dir, name)| (self.roots.normalize(&dir), name))
            .collect();
        absent.sort();
        Ok(absent)
    }
}

/// Files read besides the keyed ones, with hashes and identities, and the
/// places that must stay without a header or library.
#[derive(Default)]
struct Dependencies {
    files: Vec<(String, Hash)>,
    identities: Vec<Option<FileIdentity>>,
    absent: Vec<(String, String)>,
    /// The pieces of time macro names the files read hold (anywhere, and
    /// outside comments), and whether one pastes (see
    /// [`time_macros::tokens`]).
    time_pieces: u128,
    time_code_pieces: u128,
    pastes: bool,
}

enum Lookup {
    Hit(ResultRecord),
    Miss(String),
}

/// How comments can be told apart from code for this compile, or `None`
/// when its outputs may depend on what comments say (see
/// [`crate::cache::source_text::comment_blind_hash`] for the cases).
fn comment_dialect(
    invocation: &Invocation,
    args: &CompileArgs,
    tool: &ToolIdentity,
) -> Option<CommentDialect> {
    let c_family = matches!(
        args.language,
        Language::C | Language::Cxx | Language::ObjC | Language::ObjCxx
    );
    let plain_c = matches!(args.language, Language::C | Language::ObjC);
    let options = preprocessor_options(invocation);
    let sees_comments = options.iter().any(|&option| {
        matches!(
            option,
            "-traditional" | "-traditional-cpp" | "-fparse-all-comments" | "-C" | "-CC"
        )
    });
    if !c_family || sees_comments || (tool.family == Family::Clang && args.debug) {
        return None;
    }
    // The last -std wins; -ansi is C90 for C. In C90 `//` is not a comment.
    let c90 = plain_c
        && options.iter().rev().find_map(|&option| match option {
            "-std=c89" | "-std=c90" | "-std=iso9899:1990" | "-std=iso9899:199409" | "-ansi" => {
                Some(true)
            }
            _ if option.starts_with("-std=") => Some(false),
            _ => None,
        }) == Some(true);
    Some(if c90 {
        CommentDialect::BlockOnly
    } else {
        CommentDialect::BlockAndLine
    })
}

/// Whether a time macro may be expanded that the files' scan did not
/// see: the arguments name one (`-DSTAMP=__TIME__`), or the files and
/// arguments hold a paste and pieces it could join into one (outside the
/// files' comments where the compile reads them as comments).
fn may_hide_time_macro(files: &Dependencies, invocation: &Invocation, args: &CompileArgs) -> bool {
    let in_args = time_macros::tokens(invocation.expanded_args.join("\n").as_bytes());
    let reading = time_macros::Reading::of(args.language, &preprocessor_options(invocation));
    let Some(file_pieces) = reading.pieces(files.time_pieces, files.time_code_pieces) else {
        return true;
    };
    let pastes = files.pastes || in_args.pastes;
    in_args.date_time
        || in_args.timestamp
        || (pastes && time_macros::may_build_a_name(file_pieces | in_args.pieces))
}

/// The options a compile's preprocessor sees: its arguments, with
/// `-Wp,A,B` and `-Xpreprocessor A` opened.
fn preprocessor_options(invocation: &Invocation) -> Vec<&str> {
    let mut options: Vec<&str> = Vec::new();
    let mut expanded = invocation.expanded_args.iter();
    while let Some(arg) = expanded.next() {
        if let Some(list) = arg.strip_prefix("-Wp,") {
            options.extend(list.split(','));
        } else if arg == "-Xpreprocessor" {
            options.extend(expanded.next().map(String::as_str));
        } else {
            options.push(arg);
        }
    }
    options
}

/// The files named by the line markers of preprocessed text (`# 1 "a.h" 1`),
/// each once, in order, without the compiler's own (`<built-in>`,
/// `<command-line>`). `None` when a name cannot be read back.
fn line_marker_files(text: &[u8]) -> Option<Vec<String>> {
    let mut files: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    for line in text.split(|&b| b == b'\n') {
        let Some(rest) = line.strip_prefix(b"# ") else {
            continue;
        };
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let Some(quoted) = rest[digits..].strip_prefix(b" \"") else {
            continue;
        };
        if digits == 0 {
            continue;
        }
        let mut name = Vec::new();
        let mut bytes = quoted.iter().copied();
        loop {
            match bytes.next()? {
                b'"' => break,
                b'\\' => {
                    let first = bytes.next()?;
                    if (b'0'..=b'7').contains(&first) {
                        // Other bytes are written as three octal digits.
                        let mut value = u32::from(first - b'0');
                        for _ in 0..2 {
                            let digit = bytes.next()?;
                            if !(b'0'..=b'7').contains(&digit) {
                                return None;
                            }
                            value = value * 8 + u32::from(digit - b'0');
                        }
                        name.push(u8::try_from(value).ok()?);
                    } else {
                        name.push(first);
                    }
                }
                other => name.push(other),
            }
        }
        if name.starts_with(b"<") {
            continue;
        }
        let name = String::from_utf8(name).ok()?;
        if seen.insert(name.clone()) {
            files.push(name);
        }
    }
    Some(files)
}

fn wall_clock_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Whether `path` was written at or after `since_ns` (or is gone).
fn modified_since(path: &Path, since_ns: i64) -> bool {
    match crate::hash::stat(&path.to_string_lossy()) {
        Ok(Some(stat)) => changed_since(&stat, since_ns),
        _ => true,
    }
}

/// Whether a file with `stat` was written at or after `since_ns`. On file
/// systems with whole-second times, a write in the same second counts.
fn changed_since(stat: &crate::hash::FileStat, since_ns: i64) -> bool {
    const SECOND: i64 = 1_000_000_000;
    let newest = stat.mtime_ns.max(stat.ctime_ns);
    let coarse = stat.mtime_ns % SECOND == 0 && stat.ctime_ns % SECOND == 0;
    let threshold = if coarse { since_ns - SECOND } else { since_ns };
    newest >= threshold
}

fn kind_name(kind: ToolKind) -> &'static str {
    match kind {
        ToolKind::Compile => "compile",
        ToolKind::Archive => "archive",
        ToolKind::Link => "link",
    }
}

/// The short name of a miss reason, as counted in the statistics
/// (`miss.<slug>`) and reported by `zccache warm`.
pub fn miss_slug(reason: &str) -> &'static str {
    match reason {
        INPUT_REBUILT => "input_rebuilt",
        "new source" => "new_source",
        "source changed" => "source_changed",
        "flags changed" => "flags_changed",
        "compiler changed" => "compiler_changed",
        "environment changed" => "env_changed",
        "no entry" => "no_entry",
        "built in another directory" => "other_directory",
        "stored outputs are damaged" | "cache entry unreadable" => "damaged",
        _ if reason.ends_with(" appeared") => "header_appeared",
        _ => "header_changed",
    }
}

/// The outputs an invocation writes, absolute.
fn invocation_outputs(invocation: &Invocation) -> Vec<PathBuf> {
    let cwd = &invocation.cwd;
    match &invocation.detail {
        Detail::Compile(args) => {
            let mut outputs = vec![cwd.join(&args.output)];
            if let Some(depfile) = &args.depfile {
                outputs.push(cwd.join(depfile));
            }
            outputs
        }
        Detail::Archive(archive) => vec![cwd.join(&archive.archive)],
        Detail::Link(link) => vec![cwd.join(&link.output)],
    }
}

/// `a/./b/../c` → `a/c`, without touching the filesystem.
pub fn lexical_normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// `path` made absolute against `cwd`, with `.` and `..` resolved
/// lexically, so an include dir a compiler prints as `/usr/bin/../include`
/// matches the header paths its depfile names.
pub(crate) fn join_text(cwd: &Path, path: &str) -> String {
    lexical_normalize(&cwd.join(path))
        .to_string_lossy()
        .trim_end_matches('/')
        .to_string()
}

/// The path of `full` below `dir` ("bits/types.h" of
/// "/usr/include/bits/types.h" in "/usr/include"); `None` when `full` is
/// not strictly inside `dir`.
pub(crate) fn name_in<'a>(full: &'a str, dir: &str) -> Option<&'a str> {
    full.strip_prefix(dir)?
        .strip_prefix('/')
        .filter(|name| !name.is_empty())
}

fn is_under(path: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    !prefix.is_empty()
        && (path == prefix
            || (path.starts_with(prefix) && path.as_bytes().get(prefix.len()) == Some(&b'/')))
}

/// Arguments that change a compiler's default include search.
fn system_search_args(args: &[String]) -> Vec<String> {
    let mut relevant = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let takes_value = matches!(arg.as_str(), "-target" | "-isysroot" | "--sysroot" | "-B");
        let joined = [
            "--sysroot=",
            "-isysroot",
            "--target=",
            "-stdlib=",
            "--gcc-toolchain=",
            "-B",
        ]
        .iter()
        .any(|prefix| arg.starts_with(prefix) && arg.len() > prefix.len());
        let flag = matches!(
            arg.as_str(),
            "-m32" | "-m64" | "-mx32" | "-nostdinc" | "-nostdinc++"
        );
        if takes_value {
            relevant.push(arg.clone());
            if let Some(value) = iter.next() {
                relevant.push(value.clone());
            }
        } else if joined || flag {
            relevant.push(arg.clone());
        }
    }
    relevant
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

/// Keys being computed by a thread of this process right now.
#[derive(Default)]
pub struct InFlight {
    keys: Mutex<HashSet<Digest>>,
    done: std::sync::Condvar,
}

/// Holds a key of [`InFlight`]; dropping it wakes the waiters.
pub struct Claim<'a> {
    in_flight: &'a InFlight,
    key: Digest,
}

impl InFlight {
    /// Waits until no other thread holds `key`, then holds it; `None` when
    /// another still holds it after `limit` (the caller then goes ahead
    /// without waiting any longer).
    pub fn claim(&self, key: Digest, limit: std::time::Duration) -> Option<Claim<'_>> {
        let mut keys = self.wait_until_free(&key, limit)?;
        keys.insert(key);
        Some(Claim {
            in_flight: self,
            key,
        })
    }

    /// Waits (at most `limit`) until no thread holds `key`; false when one
    /// still does.
    pub fn wait_done(&self, key: &Digest, limit: std::time::Duration) -> bool {
        self.wait_until_free(key, limit).is_some()
    }

    /// Waits (at most `limit`) until no thread holds `key`.
    pub fn wait_free(&self, key: &Digest, limit: std::time::Duration) {
        let _ = self.wait_until_free(key, limit);
    }

    /// The held keys once `key` is not among them; `None` after `limit`.
    fn wait_until_free(
        &self,
        key: &Digest,
        limit: std::time::Duration,
    ) -> Option<std::sync::MutexGuard<'_, HashSet<Digest>>> {
        let deadline = Instant::now() + limit;
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        while keys.contains(key) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            keys = self
                .done
                .wait_timeout(keys, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        Some(keys)
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.in_flight
            .keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
        self.in_flight.done.notify_all();
    }
}

/// Directory listings, so "no header of this name in that dir" costs one
/// stat of the dir (or nothing, outside the project) rather than one per
/// name.
/// The names in one directory.
pub type Names = Arc<HashSet<String>>;

/// A dir's names, and the stat they were read at (for dirs that may change).
type Listing = (Option<crate::hash::FileStat>, Names);

pub struct DirListings {
    known: Mutex<HashMap<PathBuf, Listing>>,
    volatile: Vec<String>,
}

impl DirListings {
    pub fn new(volatile_roots: &[&str]) -> DirListings {
        DirListings {
            known: Mutex::new(HashMap::new()),
            volatile: volatile_roots.iter().map(|r| r.to_string()).collect(),
        }
    }

    /// The names in `dir` (empty if it does not exist); `None` when it
    /// cannot be read.
    pub fn listing(&self, dir: &Path) -> Option<Arc<HashSet<String>>> {
        let text = dir.to_string_lossy();
        let volatile = self
            .volatile
            .iter()
            .any(|root| text.starts_with(root.as_str()));
        let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        let stat = if volatile {
            crate::hash::stat(&text).ok()?
        } else {
            None
        };
        if let Some((seen_stat, listing)) = known.get(dir)
            && (!volatile || *seen_stat == stat)
        {
            return Some(Arc::clone(listing));
        }
        drop(known);
        let names: HashSet<String> = match fs::read_dir(dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect(),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => HashSet::new(),
            Err(_) => return None,
        };
        let listing = Arc::new(names);
        let stat = if volatile { stat } else { None };
        self.known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(dir.to_path_buf(), (stat, Arc::clone(&listing)));
        Some(listing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            Probe::Miss { reason, .. } => assert_eq!(miss_slug(&reason), "input_rebuilt"),
            other => panic!("expected a miss, got {other:?}"),
        }
        let other = |path: &Path| (path == a).then_some(Expected::Content([7; 32]));
        assert!(matches!(
            cache.probe(&invocation, &other),
            Probe::Miss { .. }
        ));
    }

    #[test]
    fn line_markers_name_each_source_once() {
        let text = b"# 0 \"a.c\"\n# 0 \"<built-in>\"\n# 1 \"<command-line>\"\n\
                     # 1 \"inc/x y.h\" 1\nint x;\n# 2 \"a.c\" 2\n\
                     # 1 \"q\\\"\\\\\\303\\251.h\" 1\n#pragma once\n";
        assert_eq!(
            line_marker_files(text).unwrap(),
            ["a.c", "inc/x y.h", "q\"\\\u{e9}.h"]
        );
        assert_eq!(line_marker_files(b"# 1 \"a.c\\").as_deref(), None);
    }

    #[test]
    fn paths_are_joined_and_resolved_lexically() {
        let cwd = Path::new("/b/build");
        assert_eq!(join_text(cwd, "../src/a.h"), "/b/src/a.h");
        assert_eq!(
            join_text(cwd, "/usr/bin/../lib/gcc/x/12/../../../../include/c++/12/"),
            "/usr/include/c++/12"
        );
        assert_eq!(join_text(cwd, "./gen/t.h"), "/b/build/gen/t.h");
    }

    #[test]
    fn prefixes_match_whole_components() {
        assert!(is_under("/p/src/a.c", "/p/src"));
        assert!(is_under("/p/src", "/p/src/"));
        assert!(!is_under("/p/srcx/a.c", "/p/src"));
        assert!(!is_under("/p/src", ""));
        assert_eq!(
            name_in("/usr/include/bits/a.h", "/usr/include"),
            Some("bits/a.h")
        );
        assert_eq!(name_in("/usr/includex/a.h", "/usr/include"), None);
        assert_eq!(name_in("/usr/include/", "/usr/include"), None);
        assert_eq!(name_in("/usr/include", "/usr/include"), None);
    }

    #[test]
    fn keeps_only_arguments_that_move_the_system_include_dirs() {
        let args: Vec<String> = [
            "-O2",
            "--sysroot=/s",
            "-target",
            "arm",
            "-m32",
            "-Iinc",
            "-B",
            "/b",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            system_search_args(&args),
            ["--sysroot=/s", "-target", "arm", "-m32", "-B", "/b"]
        );
    }

    #[test]
    fn a_claim_waits_for_the_holder() {
        let in_flight = Arc::new(InFlight::default());
        let order = Arc::new(Mutex::new(Vec::new()));
        let forever = std::time::Duration::from_secs(600);
        let first = in_flight.claim([1; 32], forever);
        let waiter = {
            let in_flight = Arc::clone(&in_flight);
            let order = Arc::clone(&order);
            std::thread::spawn(move || {
                let _second = in_flight.claim([1; 32], forever);
                order.lock().unwrap().push("second");
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        order.lock().unwrap().push("first");
        drop(first);
        waiter.join().unwrap();
        assert_eq!(*order.lock().unwrap(), ["first", "second"]);
        // Another key never waits.
        let _other = in_flight.claim([2; 32], forever);
        // A holder that never lets go is given up on.
        let _held = in_flight.claim([3; 32], forever);
        let short = std::time::Duration::from_millis(20);
        assert!(in_flight.claim([3; 32], short).is_none());
    }

    #[test]
    fn a_directory_listing_notices_new_names_in_project_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_string_lossy().to_string();
        let listings = DirListings::new(&[&root]);
        assert!(!listings.listing(dir.path()).unwrap().contains("a.h"));
        std::fs::write(dir.path().join("a.h"), "").unwrap();
        assert!(listings.listing(dir.path()).unwrap().contains("a.h"));
        let missing = dir.path().join("missing");
        assert!(listings.listing(&missing).unwrap().is_empty());
    }
}
