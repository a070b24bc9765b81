//! The compiler cache: compile, archive and link steps restored from a
//! local content-addressed store instead of run, shared by every build dir
//! and by every zccache process on the machine.
//!
//! Data flows one way, stage by stage: [`command`] recognizes the tool in a
//! step's command and its kind, [`toolchain`] identifies the tool, [`key`]
//! computes the key from the content of everything the tool reads,
//! [`lookup`] finds an entry in the [`store`], [`restore`] delivers its
//! outputs, or the command runs and [`record`] stores what it made. [`step`]
//! holds a step's way through these stages; [`probe`] asks the same
//! question for `zccache warm` without running anything.

mod absent;
pub mod cli;
pub mod command;
pub mod config;
mod elf;
mod epoch;
pub mod files;
mod in_flight;
mod key;
pub(crate) mod lookup;
pub mod nofollow;
pub mod owner;
pub(crate) mod paths;
mod preprocessed;
pub(crate) mod probe;
mod record;
pub mod records;
mod restore;
pub mod roots;
pub mod shadows;
pub mod siblings;
pub mod source_text;
pub mod stats;
mod step;
pub mod store;
mod time_macros;
pub mod toolchain;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

pub use siblings::Siblings;
pub use step::{Begun, Executed, Ran};

use config::Settings;
use files::FileHasher;
use roots::Roots;
use stats::Stats;
use store::Store;
use toolchain::Toolchains;

/// How long the launcher's helper waits for a sibling compile: well within
/// the time its client waits for an answer.
pub const HELPER_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

/// An open cache for one build (or one launcher call).
pub struct Cache {
    settings: Settings,
    store: Store,
    toolchains: Toolchains,
    files: FileHasher,
    listings: absent::DirListings,
    in_flight: in_flight::InFlight,
    /// Keys of runs being stored (see [`step::Pending::capture`]).
    storing: in_flight::InFlight,
    /// Launcher mode's memory of sibling compiles.
    siblings: siblings::SiblingBook,
    /// How long a compile waits for a sibling compiling the same text.
    wait_limit: std::time::Duration,
    roots: Roots,
    path_env: Option<OsString>,
    umask: u32,
    stats: Mutex<Stats>,
    warned: AtomicBool,
    /// Set in the launcher's helper, whose stderr nobody sees: warnings
    /// wait here for the next reply to a call (see [`Cache::take_warnings`]).
    relayed: Option<Mutex<Vec<String>>>,
    /// After a write fails (read-only or full disk), later steps only read.
    read_only: AtomicBool,
    /// Where the build dir keeps the memo of its files' hashes, once known.
    files_memo: std::sync::OnceLock<PathBuf>,
    /// Where the cache keeps the memo of other files' hashes, once used.
    outside_memo: std::sync::OnceLock<PathBuf>,
    /// A directory of this user's alone (mode 0700, normally on tmpfs) for
    /// private depfiles, set by the launcher's helper; else they are temp
    /// files in the system temp dir.
    private_dir: std::sync::OnceLock<PathBuf>,
    /// Which compilers honour SOURCE_DATE_EPOCH (see [`epoch`]).
    epoch_answers: epoch::EpochAnswers,
}

/// The memo of the cache's file hashes in a build dir (see [`files`]).
pub const FILES_MEMO_NAME: &str = ".zccache_files";

/// The memo of other files' hashes (toolchain headers and libraries), in
/// the cache dir.
const OUTSIDE_MEMO_NAME: &str = "outside-files";

impl Cache {
    /// Opens the cache configured by the environment for a build in
    /// `build_dir` (absolute). `None` when it is disabled, or when it cannot
    /// be opened: then a warning is printed and the build runs uncached.
    pub fn open(build_dir: &Path) -> Option<Arc<Cache>> {
        Cache::open_with(build_dir, false)
    }

    /// [`Cache::open`] for a process that outlives builds (the launcher's
    /// helper): every file and directory it remembers is checked by stat on
    /// each use, as a build checks its own files, and tool identities are
    /// forgotten by [`Cache::revalidate`]. A build instead trusts files
    /// outside its build and source dirs not to change while it runs.
    pub fn open_revalidating(build_dir: &Path) -> Option<Arc<Cache>> {
        Cache::open_with(build_dir, true)
    }

    /// Forgets tool identities and include lists, so the next use checks
    /// them against the files that define them, as a new process would.
    pub fn revalidate(&self) {
        self.toolchains.forget();
    }

    pub fn roots(&self) -> &Roots {
        &self.roots
    }

    fn open_with(build_dir: &Path, revalidate_everything: bool) -> Option<Arc<Cache>> {
        let settings = match Settings::load() {
            Ok(settings) => settings,
            Err(err) => {
                eprintln!("zccache: warning: cache disabled: {err}");
                return None;
            }
        };
        if settings.disable {
            return None;
        }
        if let Err(why) = owner::prepare(&settings.dir, settings.shared) {
            eprintln!("zccache: warning: cache not used: {why}");
            return None;
        }
        match Cache::assemble(settings, build_dir, revalidate_everything) {
            Ok(cache) => Some(cache),
            Err(err) => {
                eprintln!("zccache: warning: cache disabled: {err}");
                None
            }
        }
    }

    /// Opens the cache `settings` describe for a build in `build_dir`
    /// (absolute), whatever the environment says.
    #[cfg(test)]
    pub fn with_settings(
        settings: Settings,
        build_dir: &Path,
    ) -> Result<Arc<Cache>, store::StoreError> {
        Cache::assemble(settings, build_dir, false)
    }

    fn assemble(
        settings: Settings,
        build_dir: &Path,
        revalidate_everything: bool,
    ) -> Result<Arc<Cache>, store::StoreError> {
        let store = Store::open(&settings)?;
        let roots = Roots::detect(build_dir);
        let mut volatile = vec![roots.build().to_string()];
        if let Some(source) = roots.source() {
            volatile.push(source.to_string());
        }
        if revalidate_everything {
            // Every path starts with the empty prefix.
            volatile = vec![String::new()];
        }
        let volatile: Vec<&str> = volatile.iter().map(String::as_str).collect();
        let toolchains = Toolchains::new(Some(Store::open(&settings)?));
        Ok(Arc::new(Cache {
            files: FileHasher::new(&volatile),
            listings: absent::DirListings::new(&volatile),
            in_flight: in_flight::InFlight::default(),
            storing: in_flight::InFlight::default(),
            siblings: siblings::SiblingBook::default(),
            // The launcher's helper waits on its client's behalf, and a
            // client gives up on a helper that answers too late.
            wait_limit: if revalidate_everything {
                HELPER_WAIT
            } else {
                siblings::SIBLING_WAIT
            },
            toolchains,
            roots,
            path_env: std::env::var_os("PATH"),
            umask: crate::umask::current(),
            stats: Mutex::new(Stats::default()),
            warned: AtomicBool::new(false),
            relayed: revalidate_everything.then(|| Mutex::new(Vec::new())),
            read_only: AtomicBool::new(false),
            files_memo: std::sync::OnceLock::new(),
            private_dir: std::sync::OnceLock::new(),
            outside_memo: std::sync::OnceLock::new(),
            epoch_answers: epoch::EpochAnswers::default(),
            store,
            settings,
        }))
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub(crate) fn count(&self, name: &str, n: u64) {
        self.stats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .add(name, n);
    }

    /// Prints one warning per process about the cache not working; the step
    /// then runs for real.
    pub(crate) fn warn(&self, what: &str, err: &dyn std::fmt::Display) {
        self.count("errors", 1);
        self.count(&format!("error.{what}"), 1);
        let line = format!(
            "zccache: warning: cache {what}: {err}; steps the cache cannot serve run for real"
        );
        if let Some(relayed) = &self.relayed {
            let mut relayed = relayed.lock().unwrap_or_else(|p| p.into_inner());
            if relayed.len() < 8 && !relayed.contains(&line) {
                relayed.push(line);
            }
            return;
        }
        if !self.warned.swap(true, Ordering::Relaxed) {
            eprintln!("{line}");
        }
    }

    /// The warnings a process serving calls (the launcher's helper) has
    /// not passed on yet, for the call it answers now to print: one line
    /// each, as the call would have printed working alone. A warning of a
    /// store done after its call returned goes to the next call.
    pub fn take_warnings(&self) -> Vec<String> {
        self.relayed
            .as_ref()
            .map(|relayed| std::mem::take(&mut *relayed.lock().unwrap_or_else(|p| p.into_inner())))
            .unwrap_or_default()
    }

    /// Reads the hashes of the project's files an earlier zccache process
    /// left in `build_dir`, and of other files (system headers) in the
    /// cache, and saves this one's there on [`Cache::finish`], so an
    /// unchanged file is not read again by the next build.
    pub fn remember_files_in(&self, build_dir: &Path) {
        let path = build_dir.join(FILES_MEMO_NAME);
        self.files.load(&path);
        let _ = self.files_memo.set(path);
        self.remember_outside_files();
    }

    /// Puts private depfiles in `dir`, which must be closed to other users:
    /// names there need no exclusive creation, so the tool creates them.
    pub fn keep_private_files_in(&self, dir: PathBuf) {
        let _ = self.private_dir.set(dir);
    }

    /// The memo of files outside the project only (see
    /// [`Cache::remember_files_in`]), for a launcher call; read when first
    /// needed, which a hit never is.
    pub fn remember_outside_files(&self) {
        let path = self.store.root().join(OUTSIDE_MEMO_NAME);
        self.files.load_outside_lazily(path.clone());
        let _ = self.outside_memo.set(path);
    }

    /// Saves the memos of file hashes (see [`Cache::remember_files_in`]).
    pub fn save_files_memo(&self) {
        if let Some(path) = self.files_memo.get()
            && let Err(err) = self.files.save_project(path)
        {
            tracing::debug!("cannot save {}: {err}", path.display());
        }
        if let Some(path) = self.outside_memo.get()
            && let Err(err) = self.files.save_outside(path)
        {
            tracing::debug!("cannot save {}: {err}", path.display());
        }
    }

    /// Takes this process's counters and the bytes it stored, which
    /// [`Cache::finish`] would have added to the statistics, for another
    /// process (the launcher's helper) to add with [`Cache::add_counts`].
    pub fn take_counts(&self) -> (Stats, u64) {
        let delta = std::mem::take(&mut *self.stats.lock().unwrap_or_else(|p| p.into_inner()));
        (delta, self.store.take_unflushed_bytes())
    }

    /// Adds counters and stored bytes taken from another cache of the same
    /// dir; [`Cache::finish`] writes them with this process's own.
    pub fn add_counts(&self, counts: &Stats, bytes_stored: u64) {
        self.stats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .merge(counts);
        self.store.note_unflushed_bytes(bytes_stored);
    }

    /// Adds this process's counters to the cache's statistics and evicts
    /// old entries if the cache grew past its size limit.
    pub fn finish(&self) {
        self.save_files_memo();
        let delta = std::mem::take(&mut *self.stats.lock().unwrap_or_else(|p| p.into_inner()));
        if delta.is_empty() && self.store.bytes_written() == 0 {
            return;
        }
        if let Err(err) = stats::flush(&self.store, &delta, self.settings.max_size) {
            tracing::debug!("cannot update cache statistics: {err}");
        }
    }
}

/// The cache of one zccache run, opened on first use: a build with
/// nothing to run never reads the settings or touches the store.
#[derive(Default)]
pub struct CacheSlot {
    cache: std::sync::OnceLock<Option<Arc<Cache>>>,
}

impl CacheSlot {
    pub fn get(&self) -> Option<&Arc<Cache>> {
        self.cache
            .get_or_init(|| {
                let dir = working_dir().ok()?;
                let cache = Cache::open(&dir)?;
                cache.remember_files_in(&dir);
                Some(cache)
            })
            .as_ref()
    }

    /// Flushes statistics if the cache was used.
    pub fn finish(&self) {
        if let Some(Some(cache)) = self.cache.get() {
            cache.finish();
        }
    }
}

/// The working directory as compilers name it: `$PWD` when it is absolute
/// and names the same directory (gcc's and LLVM's `getpwd`, which give
/// DW_AT_comp_dir, take it then, so a dir reached through a symlink is
/// named by the link), else the real path.
pub fn working_dir() -> std::io::Result<PathBuf> {
    use std::os::unix::fs::MetadataExt as _;
    let real = std::env::current_dir()?;
    let logical = std::env::var_os("PWD")
        .map(PathBuf::from)
        .filter(|pwd| pwd.is_absolute() && *pwd != real)
        .filter(
            |pwd| match (std::fs::metadata(pwd), std::fs::metadata(".")) {
                (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
                _ => false,
            },
        );
    Ok(logical.unwrap_or(real))
}
