//! The identity of the compiler, archiver or linker behind a build step.
//!
//! A cached result may only be reused by the same tool, and "the same
//! tool" is more than the driver binary: gcc runs `cc1`, `as`, `collect2`
//! and `ld` found through its own search dirs and PATH, clang keeps its
//! code in shared libraries and picks its driver mode from its name, and
//! any of these can be upgraded alone. So an identity is a blake3 digest
//! over every file and probe answer that defines the behaviour.
//!
//! Computing it means running the tool a dozen times and hashing tens of
//! megabytes, and launcher mode starts one zccache process per compiler
//! call, so identities are remembered twice: in memory for the life of
//! this process, and on disk across processes. A disk entry lists the
//! stat identity (device, inode, size, mtime, ctime) of every file that
//! went into the digest and is trusted only while all of them still stat
//! the same, so replacing `cc1` alone invalidates it.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::hash::FileStat;

/// A blake3 digest.
pub type Digest = [u8; 32];

/// What kind of tool a binary is; decides which probes define it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Family {
    Gcc,
    Clang,
    Ar,
    Ranlib,
    Ld,
    Unknown,
}

/// One identified tool.
#[derive(Debug, Clone)]
pub struct ToolIdentity {
    /// Absolute path of the binary with every symlink resolved (e.g.
    /// `/usr/bin/cc` → `/usr/bin/gcc-12`): the file whose content is hashed.
    #[cfg(test)]
    pub resolved: PathBuf,
    /// Absolute path where the PATH search found the program, symlinks
    /// kept. Probes run this path, not `resolved`, because gcc finds its
    /// install prefix from argv[0], and clang and llvm-ar take their driver
    /// mode and target from the name they were called by.
    pub invoked: PathBuf,
    pub family: Family,
    /// blake3 over everything that defines the tool's behaviour. Equal
    /// digests ⇒ same tool.
    pub digest: Digest,
    /// First line of `--version`, for messages.
    #[cfg(test)]
    pub version: String,
}

/// A compiler's default include search list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncludeSearch {
    /// Searched for `#include "…"` only (after the including file's dir).
    pub quote: Vec<PathBuf>,
    /// Searched for both `#include <…>` and `#include "…"`.
    pub bracket: Vec<PathBuf>,
}

/// Why a tool could not be identified; the caller then runs the step
/// uncached.
#[derive(thiserror::Error, Debug)]
pub enum ToolchainError {
    #[error("{program}: not found ({detail})")]
    NotFound { program: String, detail: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("probing `{} {args}`: {detail}", tool.display())]
    Probe {
        tool: PathBuf,
        args: String,
        detail: String,
    },
}

fn io_error(context: impl Into<String>) -> impl FnOnce(io::Error) -> ToolchainError {
    let context = context.into();
    move |source| ToolchainError::Io { context, source }
}

/// Bump when the digest recipe or an entry's layout changes, so entries
/// written by an older zccache are never trusted.
const FORMAT: u32 = 1;

/// The search path `/bin/sh` (dash) uses when PATH is unset.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Environment variables that change which programs the gcc driver runs or
/// which include dirs it lists. Probes inherit this process's environment,
/// so disk entries are keyed by these values too.
pub const STEERING_ENV: &[&str] = &[
    "GCC_EXEC_PREFIX",
    "COMPILER_PATH",
    "CPATH",
    "C_INCLUDE_PATH",
    "CPLUS_INCLUDE_PATH",
    "OBJC_INCLUDE_PATH",
    "OBJCPLUS_INCLUDE_PATH",
    "SDKROOT",
];

/// Programs the gcc driver runs (`cc1*` compile, `as` assembles,
/// `collect2`/`ld`/`lto-wrapper`/`lto1` link); each one's content is part
/// of the identity.
const GCC_PROGRAMS: &[&str] = &[
    "cc1",
    "cc1plus",
    "cc1obj",
    "as",
    "ld",
    "collect2",
    "lto-wrapper",
    "lto1",
];

#[derive(Hash, PartialEq, Eq)]
struct MemoKey {
    program: String,
    /// Only when the resolution depends on it.
    cwd: Option<PathBuf>,
    path_env: Option<OsString>,
    /// See [`program_choosing_args`].
    choosing: Vec<String>,
}

#[derive(Hash, PartialEq, Eq)]
struct IncludeKey {
    digest: Digest,
    invoked: PathBuf,
    x_lang: String,
    args: Vec<String>,
}

/// Identities and include lists, memoized in memory and optionally on disk.
/// A tool's digest, the arguments that move its library dirs, and its dir.
type LibraryKey = (Digest, Vec<String>, PathBuf);

pub struct Toolchains {
    disk_dir: Option<PathBuf>,
    /// The cache dir `disk_dir` is below, when it is: entries are then
    /// reached through no symlink below it (see [`super::nofollow`]).
    disk_root: Option<PathBuf>,
    tools: Mutex<HashMap<MemoKey, Arc<ToolIdentity>>>,
    includes: Mutex<HashMap<IncludeKey, Arc<IncludeSearch>>>,
    /// Identities checked in this process, by disk key; kept by
    /// [`Toolchains::forget`], as each use checks them by stat. Only a
    /// process that forgets (the launcher's helper) keeps them: what makes
    /// the next check cheap costs a one-shot process more than it saves.
    checked: Mutex<HashMap<Digest, Arc<Checked>>>,
    /// Include lists read in this process, by disk key, kept the same way:
    /// each use checks their dirs by stat rather than reading the entry.
    checked_includes: Mutex<HashMap<Digest, Arc<IncludeEntry>>>,
    /// Library search lists, by tool digest, arguments and dir. The
    /// environment that steers them is one per process (the helper serves
    /// one environment), and the digest follows the tool's files.
    library_dirs: Mutex<HashMap<LibraryKey, Arc<Vec<PathBuf>>>>,
    forgets: std::sync::atomic::AtomicBool,
    /// How many tool processes this instance started: lets tests tell a
    /// disk hit from a fresh probe.
    probes_run: AtomicUsize,
}

impl Toolchains {
    /// `disk_dir`: a directory where identities are cached across processes
    /// (e.g. `<cache>/v1/toolchains`), or None. It is created on first write.
    pub fn new(disk_dir: Option<PathBuf>) -> Toolchains {
        Toolchains {
            disk_dir,
            disk_root: None,
            tools: Mutex::new(HashMap::new()),
            includes: Mutex::new(HashMap::new()),
            checked: Mutex::new(HashMap::new()),
            checked_includes: Mutex::new(HashMap::new()),
            library_dirs: Mutex::new(HashMap::new()),
            forgets: std::sync::atomic::AtomicBool::new(false),
            probes_run: AtomicUsize::new(0),
        }
    }

    /// Drops what is memoized in memory (the disk cache stays and is
    /// revalidated on its next read; identities already checked here are
    /// checked again by stat).
    pub fn forget(&self) {
        self.forgets.store(true, Ordering::Relaxed);
        lock(&self.tools).clear();
        lock(&self.includes).clear();
    }

    /// Resolves `program` as a shell would (contains '/' → relative to
    /// `cwd`; else search `path_env`, the PATH value, or the shell's default
    /// when None) and identifies it.
    pub fn identify(
        &self,
        program: &str,
        cwd: &Path,
        path_env: Option<&OsStr>,
    ) -> Result<Arc<ToolIdentity>, ToolchainError> {
        self.identify_with(program, cwd, path_env, &[])
    }

    /// [`Toolchains::identify`] for a step whose options change which
    /// programs the driver runs (`choosing`, from [`program_choosing_args`]):
    /// the programs are found as that step's driver finds them.
    pub fn identify_with(
        &self,
        program: &str,
        cwd: &Path,
        path_env: Option<&OsStr>,
        choosing: &[String],
    ) -> Result<Arc<ToolIdentity>, ToolchainError> {
        let depends_on_cwd = if program.contains('/') {
            !program.starts_with('/')
        } else {
            path_env.is_some_and(has_relative_entry)
        };
        let key = MemoKey {
            program: program.to_owned(),
            cwd: depends_on_cwd.then(|| cwd.to_path_buf()),
            path_env: path_env.map(OsStr::to_os_string),
            choosing: choosing.to_vec(),
        };
        if let Some(found) = lock(&self.tools).get(&key) {
            return Ok(Arc::clone(found));
        }
        let path_value = path_env.unwrap_or(OsStr::new(DEFAULT_PATH));
        let invoked = resolve_program(program, cwd, path_value)?;
        let resolved = fs::canonicalize(&invoked)
            .map_err(io_error(format!("resolving {}", invoked.display())))?;
        let identity = Arc::new(self.identify_resolved(invoked, resolved, path_value, choosing)?);
        lock(&self.tools).insert(key, Arc::clone(&identity));
        Ok(identity)
    }

    fn identify_resolved(
        &self,
        invoked: PathBuf,
        resolved: PathBuf,
        path_value: &OsStr,
        choosing: &[String],
    ) -> Result<ToolIdentity, ToolchainError> {
        let disk_key = {
            let mut h = KeyHasher::new(b"identity");
            h.path(&invoked)
                .path(&resolved)
                .bytes(path_value.as_bytes());
            for arg in choosing {
                h.bytes(arg.as_bytes());
            }
            h.steering_env();
            h.finish()
        };
        let checked = lock(&self.checked).get(&disk_key).cloned();
        if let Some(checked) = checked
            && checked.entry.invoked == invoked
            && checked.entry.resolved == resolved
            && checked.is_current()
        {
            return Ok(checked.entry.identity());
        }
        let entry = match self.read_entry::<IdentityEntry>(&disk_key) {
            Some(entry) if entry.is_current(&invoked, &resolved, path_value) => entry,
            _ => {
                let entry = self.probe_identity(invoked, resolved, path_value, choosing)?;
                if !entry.files.iter().any(|(_, stat)| stat.is_racy_now()) {
                    self.write_entry(&disk_key, &entry);
                }
                entry
            }
        };
        let identity = entry.identity();
        if self.forgets.load(Ordering::Relaxed)
            && let Some(checked) = Checked::new(entry, path_value)
        {
            lock(&self.checked).insert(disk_key, Arc::new(checked));
        }
        Ok(identity)
    }

    /// Runs the probes and hashes the files that define the tool.
    fn probe_identity(
        &self,
        invoked: PathBuf,
        resolved: PathBuf,
        path_value: &OsStr,
        choosing: &[String],
    ) -> Result<IdentityEntry, ToolchainError> {
        let version_text = self
            .probe_each(&invoked, choosing, &["--version"], path_value)?
            .pop()
            .unwrap_or_default();
        let version = version_text.lines().next().unwrap_or("").trim().to_owned();
        let name = invoked
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let family = detect_family(&version_text, &name);

        let mut digest = KeyHasher::new(b"tool");
        digest.bytes(&FORMAT.to_le_bytes());
        digest.bytes(format!("{family:?}").as_bytes());
        let mut files = Vec::new();
        let mut lookups = Vec::new();
        let binary = hash_component(&resolved)?;
        digest.bytes(b"binary").bytes(&binary.1);
        files.push((resolved.clone(), binary.0));

        match family {
            Family::Gcc => {
                let programs = driver_programs(GCC_PROGRAMS, choosing);
                let mut args: Vec<String> = vec!["-dumpversion".into(), "-dumpmachine".into()];
                args.extend(programs.iter().map(|p| format!("-print-prog-name={p}")));
                args.push("-print-search-dirs".into());
                let answers = self.probe_each(&invoked, choosing, &args, path_value)?;
                let (facts, rest) = answers.split_at(2);
                let (found_programs, search_dirs) = rest.split_at(programs.len());
                for (arg, answer) in args.iter().zip(facts) {
                    digest.bytes(arg.as_bytes()).bytes(answer.trim().as_bytes());
                }
                let program_dirs = parse_program_dirs(search_dirs.first().map_or("", |s| s));
                for (name, answer) in programs.iter().zip(found_programs) {
                    let found = self.locate(answer.trim(), &program_dirs, path_value, &mut lookups);
                    add_component(&mut digest, &mut files, name, found.as_deref())?;
                }
                let subdirs = [
                    format!("{}/{}", facts[1].trim(), facts[0].trim()),
                    facts[1].trim().to_owned(),
                ];
                prefix_lookups(choosing, &programs, &subdirs, path_value, &mut lookups);
            }
            Family::Clang => {
                // The driver mode (clang++, clang-cpp) and the target of a
                // prefixed name come from argv[0].
                digest.bytes(b"name").bytes(name.as_bytes());
                digest.bytes(b"version").bytes(version_text.as_bytes());
                let programs = driver_programs(&["ld", "as"], choosing);
                let args: Vec<String> = programs
                    .iter()
                    .map(|p| format!("-print-prog-name={p}"))
                    .collect();
                let answers = self.probe_each(&invoked, choosing, &args, path_value)?;
                for (arg, answer) in args.iter().zip(&answers) {
                    let found = self.locate(answer.trim(), &[], path_value, &mut lookups);
                    add_component(&mut digest, &mut files, arg, found.as_deref())?;
                }
                if choosing.iter().any(|arg| arg == "-B") {
                    // clang tries `<triple>-<name>` before `<name>` in each prefix.
                    let machine =
                        self.probe_each(&invoked, choosing, &["-dumpmachine"], path_value)?;
                    let triple = machine.first().map_or("", |m| m.trim());
                    let names: Vec<String> = programs
                        .iter()
                        .flat_map(|p| [format!("{triple}-{p}"), p.clone()])
                        .collect();
                    prefix_lookups(choosing, &names, &[], path_value, &mut lookups);
                }
                for lib in self.llvm_libraries(&resolved) {
                    add_component(&mut digest, &mut files, "library", Some(&lib))?;
                }
            }
            Family::Ar | Family::Ranlib | Family::Ld | Family::Unknown => {
                // llvm-ar is also llvm-ranlib, lld is ld.lld or ld64.lld:
                // the name picks the behaviour.
                digest.bytes(b"name").bytes(name.as_bytes());
                digest.bytes(b"version").bytes(version.as_bytes());
            }
        }
        Ok(IdentityEntry {
            format: FORMAT,
            invoked,
            resolved,
            family,
            digest: digest.finish(),
            version,
            files,
            lookups,
        })
    }

    /// The absolute path of a program the driver reported: as is when it
    /// has a '/', else searched like gcc does (its program dirs, then
    /// PATH), remembering the search so a disk entry can repeat it.
    fn locate(
        &self,
        answer: &str,
        program_dirs: &[PathBuf],
        path_value: &OsStr,
        lookups: &mut Vec<Lookup>,
    ) -> Option<PathBuf> {
        if answer.is_empty() {
            return None;
        }
        if answer.contains('/') {
            return Some(PathBuf::from(answer));
        }
        let found = search_dirs(answer, program_dirs, path_value);
        lookups.push(Lookup {
            name: answer.to_owned(),
            dirs: program_dirs.to_vec(),
            found: found.clone(),
        });
        found
    }

    /// The LLVM and clang shared libraries a clang binary loads: on
    /// distributions that link clang dynamically they hold the compiler,
    /// and the binary itself is a small stub. Found with `ldd`; a static
    /// binary or a system without `ldd` simply has none.
    fn llvm_libraries(&self, binary: &Path) -> Vec<PathBuf> {
        self.probes_run.fetch_add(1, Ordering::Relaxed);
        let output = Command::new("ldd")
            .arg(binary)
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output();
        let Ok(output) = output else {
            return Vec::new();
        };
        if !output.status.success() {
            return Vec::new();
        }
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| {
                let (name, rest) = line.trim().split_once(" => ")?;
                if !(name.starts_with("libLLVM") || name.starts_with("libclang")) {
                    return None;
                }
                let path = rest.split(" (").next()?.trim();
                path.starts_with('/').then(|| PathBuf::from(path))
            })
            .collect()
    }

    /// The directories the compiler searches for `#include "…"` and
    /// `#include <…>` by default for a language (`x_lang` as given to
    /// `-x`). `extra_args` may be the step's whole argument list: only the
    /// options that change the default list are kept (--sysroot, -isysroot,
    /// --target/-target, -m32/-m64/-mx32, -nostdinc, -nostdinc++, -stdlib=,
    /// --gcc-toolchain=, -B). Memoized in memory and on disk like
    /// identities; a disk entry is trusted while every listed directory
    /// still exists and every one the compiler skipped as nonexistent
    /// still does not.
    pub fn system_include_dirs(
        &self,
        tool: &ToolIdentity,
        x_lang: &str,
        extra_args: &[String],
    ) -> Result<Arc<IncludeSearch>, ToolchainError> {
        let args = include_affecting_args(extra_args).map_err(|detail| ToolchainError::Probe {
            tool: tool.invoked.clone(),
            args: extra_args.join(" "),
            detail,
        })?;
        let key = IncludeKey {
            digest: tool.digest,
            invoked: tool.invoked.clone(),
            x_lang: x_lang.to_owned(),
            args,
        };
        if let Some(found) = lock(&self.includes).get(&key) {
            return Ok(Arc::clone(found));
        }
        let disk_key = {
            let mut h = KeyHasher::new(b"includes");
            h.bytes(&key.digest)
                .path(&key.invoked)
                .bytes(x_lang.as_bytes());
            for arg in &key.args {
                h.bytes(arg.as_bytes());
            }
            h.steering_env();
            h.finish()
        };
        let checked = lock(&self.checked_includes).get(&disk_key).cloned();
        let entry = match checked.filter(|entry| entry.is_current()) {
            Some(entry) => entry,
            None => Arc::new(self.read_or_probe_includes(tool, x_lang, &key, &disk_key)?),
        };
        let search = Arc::new(entry.search.clone());
        if self.forgets.load(Ordering::Relaxed) {
            lock(&self.checked_includes).insert(disk_key, entry);
        }
        lock(&self.includes).insert(key, Arc::clone(&search));
        Ok(search)
    }

    /// The include list of `key` from its disk entry when still current,
    /// else from the compiler (written to disk for the next process).
    fn read_or_probe_includes(
        &self,
        tool: &ToolIdentity,
        x_lang: &str,
        key: &IncludeKey,
        disk_key: &Digest,
    ) -> Result<IncludeEntry, ToolchainError> {
        Ok(match self.read_entry::<IncludeEntry>(disk_key) {
            Some(entry) if entry.is_current() => entry,
            _ => {
                let mut probe_args = vec!["-x".to_owned(), x_lang.to_owned()];
                probe_args.extend(key.args.iter().cloned());
                probe_args.extend(["-E", "-v", "-"].map(String::from));
                let path_value = std::env::var_os("PATH");
                let path_value = path_value.as_deref().unwrap_or(OsStr::new(DEFAULT_PATH));
                let output = self.run(&tool.invoked, &probe_args, path_value)?;
                let (search, missing) =
                    parse_include_search(&output.stderr).ok_or_else(|| ToolchainError::Probe {
                        tool: tool.invoked.clone(),
                        args: probe_args.join(" "),
                        detail: "no include search list in the output of -v".into(),
                    })?;
                let dirs = search
                    .quote
                    .iter()
                    .chain(&search.bracket)
                    .map(|d| (d.clone(), true))
                    .chain(missing.into_iter().map(|d| (d, false)))
                    .collect();
                let entry = IncludeEntry {
                    format: FORMAT,
                    search,
                    dirs,
                };
                if entry.is_current() {
                    self.write_entry(disk_key, &entry);
                }
                entry
            }
        })
    }

    /// Runs each probe (`prefix` and one argument each) in parallel: the
    /// gcc driver answers only the first `-print-*` option of a command line.
    fn probe_each<S: AsRef<str> + Sync>(
        &self,
        tool: &Path,
        prefix: &[String],
        args: &[S],
        path_value: &OsStr,
    ) -> Result<Vec<String>, ToolchainError> {
        std::thread::scope(|scope| {
            let handles: Vec<_> = args
                .iter()
                .map(|arg| {
                    scope.spawn(move || {
                        let mut all: Vec<&str> = prefix.iter().map(String::as_str).collect();
                        all.push(arg.as_ref());
                        self.probe(tool, &all, path_value)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(ToolchainError::Probe {
                            tool: tool.to_path_buf(),
                            args: String::new(),
                            detail: "probe thread panicked".into(),
                        })
                    })
                })
                .collect()
        })
    }

    /// The standard output of one successful probe.
    fn probe(
        &self,
        tool: &Path,
        args: &[&str],
        path_value: &OsStr,
    ) -> Result<String, ToolchainError> {
        let output = self.run(tool, args, path_value)?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Runs the tool with no stdin and the C locale (so its messages are
    /// the ones we parse); a non-zero exit is an error.
    /// Every dir a link by `tool` searches for libraries and startfiles,
    /// in order, after the `-L` dirs of its command line: for a compiler
    /// driver (`driver`), its own list (`-print-search-dirs`, which holds
    /// `LIBRARY_PATH` and the `-B` prefixes), then the linker's built-in
    /// `SEARCH_DIR`s (`ld --verbose`). `args`: the options that move them
    /// (see `system_search_args` in exec), run in `cwd`.
    pub fn library_search_dirs(
        &self,
        tool: &ToolIdentity,
        driver: bool,
        args: &[String],
        cwd: &Path,
    ) -> Result<Arc<Vec<PathBuf>>, ToolchainError> {
        let key = (tool.digest, args.to_vec(), cwd.to_path_buf());
        if let Some(found) = lock(&self.library_dirs).get(&key) {
            return Ok(Arc::clone(found));
        }
        let path_value = std::env::var_os("PATH");
        let path_value = path_value.as_deref().unwrap_or(OsStr::new(DEFAULT_PATH));
        let with = |extra: &str| {
            let mut all = args.to_vec();
            all.push(extra.to_owned());
            all
        };
        let mut dirs = Vec::new();
        let linker = if driver {
            let output = self.run_in(
                &tool.invoked,
                &with("-print-search-dirs"),
                path_value,
                Some(cwd),
            )?;
            let text = String::from_utf8_lossy(&output.stdout);
            let list = text
                .lines()
                .find_map(|line| line.strip_prefix("libraries: "))
                .ok_or_else(|| ToolchainError::Probe {
                    tool: tool.invoked.clone(),
                    args: "-print-search-dirs".into(),
                    detail: "no libraries line".into(),
                })?;
            let list = list.strip_prefix('=').unwrap_or(list);
            dirs.extend(list.split(':').filter(|d| !d.is_empty()).map(PathBuf::from));
            let output = self.run_in(
                &tool.invoked,
                &with("-print-prog-name=ld"),
                path_value,
                Some(cwd),
            )?;
            PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
        } else {
            tool.invoked.clone()
        };
        let sysroot = args.iter().find_map(|arg| arg.strip_prefix("--sysroot="));
        // lld has no built-in dirs, and says so by failing.
        let verbose = self.run_in(&linker, &["--verbose"], path_value, Some(cwd));
        let text = verbose
            .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
            .unwrap_or_default();
        for found in text.split("SEARCH_DIR(\"").skip(1) {
            let Some((dir, _)) = found.split_once('"') else {
                continue;
            };
            let plain = dir.strip_prefix('=').unwrap_or(dir);
            if let Some(sysroot) = sysroot {
                dirs.push(Path::new(sysroot).join(plain.trim_start_matches('/')));
            }
            dirs.push(PathBuf::from(plain));
        }
        let dirs = Arc::new(dirs);
        lock(&self.library_dirs).insert(key, Arc::clone(&dirs));
        Ok(dirs)
    }

    fn run<S: AsRef<OsStr>>(
        &self,
        tool: &Path,
        args: &[S],
        path_value: &OsStr,
    ) -> Result<std::process::Output, ToolchainError> {
        self.run_in(tool, args, path_value, None)
    }

    fn run_in<S: AsRef<OsStr>>(
        &self,
        tool: &Path,
        args: &[S],
        path_value: &OsStr,
        cwd: Option<&Path>,
    ) -> Result<std::process::Output, ToolchainError> {
        self.probes_run.fetch_add(1, Ordering::Relaxed);
        let shown = || {
            args.iter()
                .map(|a| a.as_ref().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let mut command = Command::new(tool);
        if let Some(cwd) = cwd {
            command.current_dir(cwd);
        }
        let output = command
            .args(args)
            .env("LC_ALL", "C")
            .env("PATH", path_value)
            .stdin(Stdio::null())
            .output()
            .map_err(|err| ToolchainError::Probe {
                tool: tool.to_path_buf(),
                args: shown(),
                detail: format!("cannot run: {err}"),
            })?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let excerpt: String = stderr.trim().chars().take(300).collect();
            return Err(ToolchainError::Probe {
                tool: tool.to_path_buf(),
                args: shown(),
                detail: format!("{}: {excerpt}", output.status),
            });
        }
        Ok(output)
    }

    /// Keeps the disk entries in `dir`, below the cache dir `root`.
    pub fn beneath(root: PathBuf, dir: PathBuf) -> Toolchains {
        Toolchains {
            disk_root: Some(root),
            ..Toolchains::new(Some(dir))
        }
    }

    fn entry_name(key: &Digest) -> String {
        format!("{}.json", blake3::Hash::from(*key).to_hex())
    }

    /// Where entries are read and written: the disk dir, through its
    /// descriptor when below the cache dir (made there when `make`).
    fn entry_dir(
        &self,
        make: bool,
    ) -> Option<io::Result<(PathBuf, Option<super::nofollow::OpenDir>)>> {
        let dir = self.disk_dir.as_ref()?;
        let Some(root) = &self.disk_root else {
            if make && let Err(err) = fs::create_dir_all(dir) {
                return Some(Err(err));
            }
            return Some(Ok((dir.clone(), None)));
        };
        let opened = if make {
            super::nofollow::make_dir_beneath(root, dir, 0o777, false)
        } else {
            super::nofollow::dir_beneath(root, dir)
        }?;
        Some(opened.map(|held| (held.path(), Some(held))))
    }

    fn entry_path(&self, key: &Digest) -> Option<PathBuf> {
        let dir = self.disk_dir.as_ref()?;
        Some(dir.join(Self::entry_name(key)))
    }

    /// A disk entry, or None when absent, unreadable, damaged or from
    /// another format (it will be rewritten).
    fn read_entry<T: for<'de> Deserialize<'de> + Versioned>(&self, key: &Digest) -> Option<T> {
        let (dir, _held) = self.entry_dir(false)?.ok()?;
        let mut file = super::nofollow::open_regular(&dir.join(Self::entry_name(key))).ok()?;
        let mut text = Vec::new();
        file.read_to_end(&mut text).ok()?;
        let entry: T = serde_json::from_slice(&text).ok()?;
        (entry.format() == FORMAT).then_some(entry)
    }

    /// Writes atomically (temp file + rename in the same dir) so a
    /// concurrent reader sees the old entry or the new one. Failing to
    /// write only costs a probe next time, so it is logged, not returned.
    fn write_entry<T: Serialize>(&self, key: &Digest, entry: &T) {
        let Some(path) = self.entry_path(key) else {
            return;
        };
        let result = (|| -> Result<(), Box<dyn std::error::Error>> {
            let text = serde_json::to_vec(entry)?;
            let Some(opened) = self.entry_dir(true) else {
                return Ok(());
            };
            let (dir, _held) = opened?;
            let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(&dir)?;
            io::Write::write_all(&mut tmp, &text)?;
            // Readable by the group of a shared cache (temp files are 0600);
            // a private cache dir is closed to others anyway.
            tmp.as_file()
                .set_permissions(std::os::unix::fs::PermissionsExt::from_mode(
                    super::owner::SHARED_FILE_MODE,
                ))?;
            tmp.persist(dir.join(Self::entry_name(key)))?;
            Ok(())
        })();
        if let Err(err) = result {
            tracing::debug!("not caching toolchain entry {}: {err}", path.display());
        }
    }

    #[cfg(test)]
    fn probes_run(&self) -> usize {
        self.probes_run.load(Ordering::Relaxed)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave a HashMap of finished
    // answers inconsistent, so a poisoned memo is still good.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

trait Versioned {
    fn format(&self) -> u32;
}

/// A bare program name the driver would look up at run time.
#[derive(Debug, Serialize, Deserialize)]
struct Lookup {
    name: String,
    dirs: Vec<PathBuf>,
    found: Option<PathBuf>,
}

#[derive(Serialize, Deserialize)]
struct IdentityEntry {
    format: u32,
    invoked: PathBuf,
    resolved: PathBuf,
    family: Family,
    digest: Digest,
    version: String,
    /// Every file hashed into the digest, as it was when hashed.
    files: Vec<(PathBuf, FileStat)>,
    /// Name lookups whose answer went into the digest; repeated on use,
    /// since a new `as` earlier in PATH changes the tool.
    lookups: Vec<Lookup>,
}

impl Versioned for IdentityEntry {
    fn format(&self) -> u32 {
        self.format
    }
}

impl IdentityEntry {
    fn identity(&self) -> ToolIdentity {
        ToolIdentity {
            #[cfg(test)]
            resolved: self.resolved.clone(),
            invoked: self.invoked.clone(),
            family: self.family,
            digest: self.digest,
            #[cfg(test)]
            version: self.version.clone(),
        }
    }

    fn is_current(&self, invoked: &Path, resolved: &Path, path_value: &OsStr) -> bool {
        self.invoked == invoked
            && self.resolved == resolved
            && self.files_unchanged()
            && self
                .lookups
                .iter()
                .all(|l| search_dirs(&l.name, &l.dirs, path_value) == l.found)
    }

    /// Whether every file hashed into the digest still stats the same.
    fn files_unchanged(&self) -> bool {
        self.files
            .iter()
            .all(|(path, stat)| stat_file(path).ok().as_ref() == Some(stat))
    }
}

/// An identity found current in this process, with what lets the next
/// check repeat its name lookups by a few stats: every dir a lookup searched
/// without finding the name there (a name created in a dir changes the
/// dir's mtime), and every name passed over that exists (a chmod or a
/// symlink's new target changes what `stat` gives, not the dir).
struct Checked {
    entry: IdentityEntry,
    /// Each path with its stat then (`None`: did not exist).
    searched: Vec<(PathBuf, Option<FileStat>)>,
}

impl Checked {
    /// `None` when a stat is too recent to tell a later change from it.
    fn new(entry: IdentityEntry, path_value: &OsStr) -> Option<Checked> {
        let mut searched: Vec<(PathBuf, Option<FileStat>)> = Vec::new();
        for lookup in &entry.lookups {
            for candidate in candidates(&lookup.name, &lookup.dirs, path_value) {
                if Some(&candidate) == lookup.found.as_ref() {
                    break;
                }
                let path = if fs::symlink_metadata(&candidate).is_ok() {
                    candidate
                } else {
                    candidate.parent()?.to_path_buf()
                };
                if searched.iter().any(|(seen, _)| *seen == path) {
                    continue;
                }
                let stat = stat_file(&path).ok();
                if stat.is_some_and(|stat| stat.is_racy_now()) {
                    return None;
                }
                searched.push((path, stat));
            }
        }
        Some(Checked { entry, searched })
    }

    fn is_current(&self) -> bool {
        self.entry.files_unchanged()
            && self
                .searched
                .iter()
                .all(|(path, stat)| stat_file(path).ok() == *stat)
    }
}

#[derive(Serialize, Deserialize)]
struct IncludeEntry {
    format: u32,
    search: IncludeSearch,
    /// Each listed dir (true) and each dir the compiler skipped because it
    /// did not exist (false): creating or removing one changes the list.
    dirs: Vec<(PathBuf, bool)>,
}

impl Versioned for IncludeEntry {
    fn format(&self) -> u32 {
        self.format
    }
}

impl IncludeEntry {
    fn is_current(&self) -> bool {
        self.dirs
            .iter()
            .all(|(dir, exists)| dir.is_dir() == *exists)
    }
}

/// Length-prefixed fields into blake3, so ("ab","c") ≠ ("a","bc").
struct KeyHasher(blake3::Hasher);

impl KeyHasher {
    fn new(domain: &[u8]) -> KeyHasher {
        let mut h = KeyHasher(blake3::Hasher::new());
        h.bytes(b"zccache toolchain").bytes(domain);
        h
    }
    fn bytes(&mut self, bytes: &[u8]) -> &mut KeyHasher {
        self.0.update(&(bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
        self
    }
    fn path(&mut self, path: &Path) -> &mut KeyHasher {
        self.bytes(path.as_os_str().as_bytes())
    }
    fn steering_env(&mut self) -> &mut KeyHasher {
        for name in STEERING_ENV {
            match std::env::var_os(name) {
                Some(value) => self.bytes(b"set").bytes(value.as_bytes()),
                None => self.bytes(b"unset"),
            };
        }
        self
    }
    fn finish(&self) -> Digest {
        *self.0.finalize().as_bytes()
    }
}

/// Hashes one program the tool runs into the digest (or records that
/// there is none) and remembers its stat for disk entries.
fn add_component(
    digest: &mut KeyHasher,
    files: &mut Vec<(PathBuf, FileStat)>,
    label: &str,
    path: Option<&Path>,
) -> Result<(), ToolchainError> {
    digest.bytes(label.as_bytes());
    match path {
        Some(path) if path.is_file() => {
            let (stat, hash) = hash_component(path)?;
            digest.bytes(b"file").bytes(&hash);
            files.push((path.to_path_buf(), stat));
        }
        _ => {
            digest.bytes(b"absent");
        }
    }
    Ok(())
}

/// A step's options that change which programs its compiler driver runs
/// (`-B`/`--prefix`, `--gcc-toolchain`, `-target`/`--target=`, `-fuse-ld=`,
/// `--ld-path=`), normalized (`-B DIR`, `--target=T`, ...) with relative
/// paths made absolute against `cwd`, in order. Empty for most steps.
pub fn program_choosing_args(args: &[String], cwd: &Path) -> Vec<String> {
    let absolute = |value: &str| {
        if value.starts_with('/') {
            value.to_owned()
        } else {
            format!("{}/{value}", cwd.display())
        }
    };
    let mut kept = Vec::new();
    let mut args = args.iter().map(String::as_str);
    while let Some(arg) = args.next() {
        if matches!(arg, "-B" | "--prefix") {
            let value = args.next().unwrap_or("");
            kept.extend(["-B".to_owned(), absolute(value)]);
        } else if let Some(value) = arg.strip_prefix("--prefix=").or(arg.strip_prefix("-B")) {
            kept.extend(["-B".to_owned(), absolute(value)]);
        } else if arg == "--gcc-toolchain" {
            let value = args.next().unwrap_or("");
            kept.push(format!("--gcc-toolchain={}", absolute(value)));
        } else if let Some(value) = arg.strip_prefix("--gcc-toolchain=") {
            kept.push(format!("--gcc-toolchain={}", absolute(value)));
        } else if arg == "-target" {
            kept.push(format!("--target={}", args.next().unwrap_or("")));
        } else if arg.starts_with("--target=") {
            kept.push(arg.to_owned());
        } else if let Some(value) = arg.strip_prefix("-fuse-ld=") {
            let value = if value.contains('/') {
                absolute(value)
            } else {
                value.to_owned()
            };
            kept.push(format!("-fuse-ld={value}"));
        } else if let Some(value) = arg.strip_prefix("--ld-path=") {
            kept.push(format!("--ld-path={}", absolute(value)));
        }
    }
    kept
}

/// `base`, and the linker a `-fuse-ld=`/`--ld-path=` in `choosing` picks
/// (`ld.NAME`, or the path given).
fn driver_programs(base: &[&str], choosing: &[String]) -> Vec<String> {
    let mut programs: Vec<String> = base.iter().map(|p| (*p).to_owned()).collect();
    for arg in choosing {
        if let Some(value) = arg.strip_prefix("-fuse-ld=") {
            programs.push(if value.contains('/') {
                value.to_owned()
            } else {
                format!("ld.{value}")
            });
        } else if let Some(value) = arg.strip_prefix("--ld-path=") {
            programs.push(value.to_owned());
        }
    }
    programs
}

/// Records, for each `-B` prefix in `choosing`, where the driver would
/// look for each of `names` (in the prefix, and in each of `subdirs` of
/// it), so that a program created there later, ahead of the one found,
/// makes the identity stale.
fn prefix_lookups(
    choosing: &[String],
    names: &[String],
    subdirs: &[String],
    path_value: &OsStr,
    lookups: &mut Vec<Lookup>,
) {
    let prefixes = choosing
        .windows(2)
        .filter(|pair| pair[0] == "-B")
        .map(|pair| pair[1].as_str());
    for prefix in prefixes {
        for name in names.iter().filter(|name| !name.contains('/')) {
            let mut places: Vec<PathBuf> = Vec::new();
            if prefix.ends_with('/') || Path::new(prefix).is_dir() {
                places.push(Path::new(prefix).join(name));
                places.extend(
                    subdirs
                        .iter()
                        .map(|sub| Path::new(prefix).join(sub).join(name)),
                );
            } else {
                // Not a dir: the driver glues the name onto the prefix.
                places.push(PathBuf::from(format!("{prefix}{name}")));
            }
            for place in places {
                let (Some(dir), Some(file)) = (place.parent(), place.file_name()) else {
                    continue;
                };
                let file = file.to_string_lossy().into_owned();
                let dirs = vec![dir.to_path_buf()];
                let found = search_dirs(&file, &dirs, path_value);
                lookups.push(Lookup {
                    name: file,
                    dirs,
                    found,
                });
            }
        }
    }
}

/// Stats, then hashes: if the file changes in between, the recorded stat
/// no longer matches and the disk entry is not trusted.
fn hash_component(path: &Path) -> Result<(FileStat, Digest), ToolchainError> {
    let context = || format!("hashing {}", path.display());
    let stat = stat_file(path).map_err(io_error(context()))?;
    let mut file = fs::File::open(path).map_err(io_error(context()))?;
    let mut hasher = blake3::Hasher::new();
    hasher
        .update_reader(&mut file)
        .map_err(io_error(context()))?;
    Ok((stat, *hasher.finalize().as_bytes()))
}

fn stat_file(path: &Path) -> io::Result<FileStat> {
    Ok(FileStat::from_metadata(&fs::metadata(path)?))
}

fn has_relative_entry(path_env: &OsStr) -> bool {
    path_env
        .as_bytes()
        .split(|&b| b == b':')
        .any(|dir| !dir.starts_with(b"/"))
}

fn is_executable_file(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Finds `program` the way `/bin/sh` does: a name with '/' is a path
/// (relative to `cwd`), any other is looked up in PATH, where an empty or
/// relative entry is relative to `cwd`.
fn resolve_program(
    program: &str,
    cwd: &Path,
    path_value: &OsStr,
) -> Result<PathBuf, ToolchainError> {
    if program.is_empty() {
        return Err(ToolchainError::NotFound {
            program: String::new(),
            detail: "empty program name".into(),
        });
    }
    if program.contains('/') {
        let path: PathBuf = cwd.join(program).components().collect();
        if is_executable_file(&path) {
            return Ok(path);
        }
        return Err(ToolchainError::NotFound {
            program: program.to_owned(),
            detail: format!("{} is not an executable file", path.display()),
        });
    }
    for dir in path_value.as_bytes().split(|&b| b == b':') {
        let dir = Path::new(OsStr::from_bytes(dir));
        let candidate: PathBuf = cwd.join(dir).join(program).components().collect();
        if is_executable_file(&candidate) {
            return Ok(candidate);
        }
    }
    Err(ToolchainError::NotFound {
        program: program.to_owned(),
        detail: format!("not in PATH={}", path_value.to_string_lossy()),
    })
}

/// The first executable `name` in `dirs`, then in PATH (absolute entries
/// only: the driver's cwd is the step's, which a disk entry cannot know).
fn search_dirs(name: &str, dirs: &[PathBuf], path_value: &OsStr) -> Option<PathBuf> {
    candidates(name, dirs, path_value).find(|candidate| is_executable_file(candidate))
}

/// Where [`search_dirs`] looks for `name`, in order.
fn candidates<'a>(
    name: &'a str,
    dirs: &'a [PathBuf],
    path_value: &'a OsStr,
) -> impl Iterator<Item = PathBuf> + 'a {
    let path_dirs = path_value
        .as_bytes()
        .split(|&b| b == b':')
        .filter(|d| d.starts_with(b"/"))
        .map(|d| Path::new(OsStr::from_bytes(d)));
    dirs.iter()
        .map(PathBuf::as_path)
        .chain(path_dirs)
        .map(move |dir| dir.join(name))
}

/// The `programs:` line of `gcc -print-search-dirs`; a leading '=' marks a
/// sysroot-relative entry and is dropped.
fn parse_program_dirs(output: &str) -> Vec<PathBuf> {
    output
        .lines()
        .find_map(|line| line.strip_prefix("programs:"))
        .map(|dirs| {
            dirs.trim()
                .split(':')
                .map(|d| d.strip_prefix('=').unwrap_or(d))
                .filter(|d| !d.is_empty())
                .map(PathBuf::from)
                .collect()
        })
        .unwrap_or_default()
}

/// Tells gcc from clang from binutils by what `--version` says (macOS's
/// `gcc` is clang, `cc` may be either), falling back to the name.
fn detect_family(version_text: &str, name: &str) -> Family {
    let first = version_text.lines().next().unwrap_or("");
    if version_text.contains("clang version") {
        return Family::Clang;
    }
    if first.starts_with("GNU ar ") {
        return Family::Ar;
    }
    if first.starts_with("GNU ranlib ") {
        return Family::Ranlib;
    }
    if first.starts_with("GNU ld ") || first.starts_with("GNU gold ") || first.contains("LLD ") {
        return Family::Ld;
    }
    match family_from_name(name) {
        Family::Unknown if version_text.contains("Free Software Foundation") => Family::Gcc,
        family => family,
    }
}

/// From a name like `x86_64-linux-gnu-gcc-12`, `clang++-14`, `llvm-ar`.
fn family_from_name(name: &str) -> Family {
    // Drop a version suffix: gcc-12, clang++-14, ld.lld-15.
    let base = match name.rsplit_once('-') {
        Some((head, tail)) if tail.chars().all(|c| c.is_ascii_digit() || c == '.') => head,
        _ => name,
    };
    let tool = base.rsplit('-').next().unwrap_or(base);
    match tool {
        "clang" | "clang++" | "cpp" if base.contains("clang") => Family::Clang,
        "gcc" | "g++" | "cc" | "c++" => Family::Gcc,
        "ar" => Family::Ar,
        "ranlib" => Family::Ranlib,
        "ld" | "ld.bfd" | "ld.gold" | "ld.lld" | "lld" | "ld64.lld" => Family::Ld,
        _ => Family::Unknown,
    }
}

/// Keeps the options that change a compiler's default include list, with
/// their values. Path values must be absolute: the probe does not run in
/// the step's directory.
fn include_affecting_args(args: &[String]) -> Result<Vec<String>, String> {
    const SEPARATE_PATH: &[&str] = &["--sysroot", "-isysroot", "-B", "--gcc-toolchain"];
    const JOINED_PATH: &[&str] = &["--sysroot=", "--gcc-toolchain=", "-isysroot", "-B"];
    const SEPARATE: &[&str] = &["-target", "--target"];
    const EXACT: &[&str] = &["-m32", "-m64", "-mx32", "-nostdinc", "-nostdinc++"];
    const JOINED: &[&str] = &["--target=", "-stdlib="];

    let check = |option: &str, value: &str| {
        if value.starts_with('/') {
            Ok(())
        } else {
            Err(format!(
                "{option} {value}: a relative path cannot be probed outside the step's directory"
            ))
        }
    };
    let mut kept = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let arg = arg.as_str();
        if SEPARATE_PATH.contains(&arg) {
            let value = args.next().map(String::as_str).unwrap_or("");
            check(arg, value)?;
            kept.extend([arg.to_owned(), value.to_owned()]);
        } else if SEPARATE.contains(&arg) {
            let value = args.next().map(String::as_str).unwrap_or("");
            kept.extend([arg.to_owned(), value.to_owned()]);
        } else if EXACT.contains(&arg) || JOINED.iter().any(|p| arg.starts_with(p)) {
            kept.push(arg.to_owned());
        } else if let Some(prefix) = JOINED_PATH.iter().find(|p| arg.starts_with(**p)) {
            check(prefix, &arg[prefix.len()..])?;
            kept.push(arg.to_owned());
        }
    }
    Ok(kept)
}

/// Parses the search list that `-E -v` prints on stderr (gcc and clang use
/// the same words under LC_ALL=C). Returns the list and the directories
/// skipped as nonexistent, or None if the list is missing.
fn parse_include_search(stderr: &[u8]) -> Option<(IncludeSearch, Vec<PathBuf>)> {
    enum Section {
        Before,
        Quote,
        Bracket,
    }
    let text = String::from_utf8_lossy(stderr);
    let mut section = Section::Before;
    let mut search = IncludeSearch {
        quote: Vec::new(),
        bracket: Vec::new(),
    };
    let mut missing = Vec::new();
    for line in text.lines() {
        if let Some(dir) = line
            .strip_prefix("ignoring nonexistent directory \"")
            .and_then(|rest| rest.strip_suffix('"'))
        {
            missing.push(PathBuf::from(dir));
            continue;
        }
        match line {
            // Either header is left out when its list is empty
            // (`-nostdinc`: gcc omits the quote one, clang the bracket one).
            "#include \"...\" search starts here:" => section = Section::Quote,
            "#include <...> search starts here:" => section = Section::Bracket,
            "End of search list." => {
                return (!matches!(section, Section::Before)).then_some((search, missing));
            }
            _ => {
                let Some(dir) = line.strip_prefix(' ') else {
                    continue;
                };
                let dir = dir.strip_suffix(" (framework directory)").unwrap_or(dir);
                match section {
                    Section::Before => {}
                    Section::Quote => search.quote.push(PathBuf::from(dir)),
                    Section::Bracket => search.bracket.push(PathBuf::from(dir)),
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::Duration;

    fn system_path() -> OsString {
        OsString::from("/usr/local/bin:/usr/bin:/bin")
    }

    fn identify(tc: &Toolchains, program: &str) -> Arc<ToolIdentity> {
        match tc.identify(program, Path::new("/"), Some(&system_path())) {
            Ok(identity) => identity,
            Err(err) => panic!("identify {program}: {err}"),
        }
    }

    /// Waits until files just written are no longer "racy", so their
    /// identities may be written to disk.
    fn settle() {
        std::thread::sleep(Duration::from_millis(80));
    }

    fn write_script(path: &Path, text: &str) {
        fs::write(path, text).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// A gcc look-alike whose cc1 and as are files in `dir`, so a test can
    /// change one of them.
    fn fake_gcc(dir: &Path) -> PathBuf {
        let d = dir.display();
        write_script(&dir.join("cc1"), "#!/bin/sh\necho cc1 v1\n");
        write_script(&dir.join("as"), "#!/bin/sh\necho as v1\n");
        let gcc = dir.join("gcc");
        write_script(
            &gcc,
            &format!(
                "#!/bin/sh\ncase \"$1\" in\n\
                 --version) echo 'gcc (Fake) 1.0'; echo 'Copyright (C) Free Software Foundation';;\n\
                 -dumpversion) echo 1;;\n\
                 -dumpmachine) echo x86_64-fake-linux;;\n\
                 -print-prog-name=cc1) echo {d}/cc1;;\n\
                 -print-prog-name=*) echo \"${{1#-print-prog-name=}}\";;\n\
                 -print-search-dirs) echo 'install: {d}/'; echo 'programs: ={d}/';;\n\
                 *) exit 1;;\nesac\n"
            ),
        );
        gcc
    }

    #[test]
    fn gcc_gxx_and_clang_differ() {
        let tc = Toolchains::new(None);
        let gcc = identify(&tc, "gcc");
        let gxx = identify(&tc, "g++");
        let clang = identify(&tc, "clang");
        let clangxx = identify(&tc, "clang++");
        assert_eq!(gcc.family, Family::Gcc);
        assert_eq!(gxx.family, Family::Gcc);
        assert_eq!(clang.family, Family::Clang);
        assert_eq!(clangxx.family, Family::Clang);
        assert!(gcc.version.contains("gcc"), "{}", gcc.version);
        let digests = [gcc.digest, gxx.digest, clang.digest, clangxx.digest];
        for (i, a) in digests.iter().enumerate() {
            for b in &digests[i + 1..] {
                assert_ne!(a, b);
            }
        }
        // clang++ is the same binary as clang: only the name differs.
        assert_eq!(clang.resolved, clangxx.resolved);
    }

    #[test]
    fn cc_and_gcc_are_the_same_tool() {
        let tc = Toolchains::new(None);
        let cc = identify(&tc, "cc");
        let gcc = identify(&tc, "gcc");
        assert_eq!(cc.invoked, Path::new("/usr/bin/cc"));
        assert_eq!(gcc.invoked, Path::new("/usr/bin/gcc"));
        assert_eq!(cc.resolved, gcc.resolved);
        assert_eq!(cc.resolved, fs::canonicalize("/usr/bin/gcc").unwrap());
        assert_ne!(cc.resolved, cc.invoked, "cc is a symlink here");
        assert_eq!(cc.digest, gcc.digest);
        // Spelled as a path, it is still the same tool.
        let by_path = tc
            .identify("../usr/bin/gcc", Path::new("/etc"), None)
            .unwrap();
        assert_eq!(by_path.digest, gcc.digest);
    }

    #[test]
    fn binutils_are_identified() {
        let tc = Toolchains::new(None);
        let ar = identify(&tc, "ar");
        let ranlib = identify(&tc, "ranlib");
        let ld = identify(&tc, "ld");
        assert_eq!(ar.family, Family::Ar);
        assert_eq!(ranlib.family, Family::Ranlib);
        assert_eq!(ld.family, Family::Ld);
        assert!(ar.version.starts_with("GNU ar"), "{}", ar.version);
        assert_ne!(ar.digest, ranlib.digest);
        assert_ne!(ar.digest, ld.digest);
    }

    #[test]
    fn memo_returns_the_same_identity_without_probing() {
        let tc = Toolchains::new(None);
        let first = identify(&tc, "ar");
        let probes = tc.probes_run();
        assert!(probes > 0);
        let second = identify(&tc, "ar");
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(tc.probes_run(), probes);
    }

    #[test]
    fn modified_copy_changes_digest_also_through_disk_cache() {
        let tmp = tempfile::tempdir().unwrap();
        let bin = tmp.path().join("bin");
        let disk = tmp.path().join("toolchains");
        fs::create_dir(&bin).unwrap();
        let tool = bin.join("ar");
        fs::copy("/usr/bin/ar", &tool).unwrap();
        let path = OsString::from(bin.as_os_str());
        settle();

        let first = Toolchains::new(Some(disk.clone()));
        let original = first.identify("ar", tmp.path(), Some(&path)).unwrap();
        assert_eq!(original.resolved, tool);
        assert_eq!(fs::read_dir(&disk).unwrap().count(), 1, "entry written");
        let real = identify(&first, "ar");
        assert_eq!(real.digest, original.digest, "same content, same name");

        let fresh = Toolchains::new(Some(disk.clone()));
        let from_disk = fresh.identify("ar", tmp.path(), Some(&path)).unwrap();
        assert_eq!(fresh.probes_run(), 0, "answered from disk");
        assert_eq!(from_disk.digest, original.digest);
        assert_eq!(from_disk.version, original.version);

        fs::OpenOptions::new()
            .append(true)
            .open(&tool)
            .unwrap()
            .write_all(b"\0")
            .unwrap();
        let fresh = Toolchains::new(Some(disk.clone()));
        let modified = fresh.identify("ar", tmp.path(), Some(&path)).unwrap();
        assert!(fresh.probes_run() > 0, "stale entry not trusted");
        assert_ne!(modified.digest, original.digest);
    }

    #[test]
    fn changing_a_program_gcc_runs_invalidates_the_disk_entry() {
        let tmp = tempfile::tempdir().unwrap();
        let disk = tmp.path().join("toolchains");
        let gcc = fake_gcc(tmp.path());
        let program = gcc.to_str().unwrap();
        let path = OsString::from("/nonexistent");
        settle();

        let original = Toolchains::new(Some(disk.clone()))
            .identify(program, tmp.path(), Some(&path))
            .unwrap();
        assert_eq!(original.family, Family::Gcc);

        let fresh = Toolchains::new(Some(disk.clone()));
        let again = fresh.identify(program, tmp.path(), Some(&path)).unwrap();
        assert_eq!(fresh.probes_run(), 0);
        assert_eq!(again.digest, original.digest);

        // Upgrading cc1 alone changes the tool.
        write_script(&tmp.path().join("cc1"), "#!/bin/sh\necho cc1 v2\n");
        let fresh = Toolchains::new(Some(disk.clone()));
        let new_cc1 = fresh.identify(program, tmp.path(), Some(&path)).unwrap();
        assert!(fresh.probes_run() > 0);
        assert_ne!(new_cc1.digest, original.digest);

        // `as` is a bare name: found in gcc's program dir. Another `as`
        // there changes the tool; so does one appearing earlier in PATH
        // once the program dir has none.
        settle();
        let base = Toolchains::new(Some(disk.clone()))
            .identify(program, tmp.path(), Some(&path))
            .unwrap();
        fs::remove_file(tmp.path().join("as")).unwrap();
        let other = tmp.path().join("other");
        fs::create_dir(&other).unwrap();
        write_script(&other.join("as"), "#!/bin/sh\necho other as\n");
        let no_as = Toolchains::new(Some(disk.clone()))
            .identify(program, tmp.path(), Some(&path))
            .unwrap();
        assert_ne!(no_as.digest, base.digest);
        let other_path = other.into_os_string();
        let fresh = Toolchains::new(Some(disk.clone()));
        let other_as = fresh
            .identify(program, tmp.path(), Some(&other_path))
            .unwrap();
        assert_ne!(other_as.digest, no_as.digest);
        assert_ne!(other_as.digest, base.digest);

        // Every file still stats the same, but the search for `as` now
        // ends earlier: the entry must not be trusted.
        settle();
        let stored = Toolchains::new(Some(disk.clone()))
            .identify(program, tmp.path(), Some(&other_path))
            .unwrap();
        write_script(&tmp.path().join("as"), "#!/bin/sh\necho as v3\n");
        let fresh = Toolchains::new(Some(disk.clone()));
        let shadowed = fresh
            .identify(program, tmp.path(), Some(&other_path))
            .unwrap();
        assert!(fresh.probes_run() > 0);
        assert_ne!(shadowed.digest, stored.digest);
    }

    #[test]
    fn a_checked_identity_is_rechecked_by_stat_after_forget() {
        let tmp = tempfile::tempdir().unwrap();
        let gcc = fake_gcc(tmp.path());
        let program = gcc.to_str().unwrap();
        // `as` is found in PATH, after gcc's program dir.
        fs::remove_file(tmp.path().join("as")).unwrap();
        let other = tmp.path().join("other");
        fs::create_dir(&other).unwrap();
        write_script(&other.join("as"), "#!/bin/sh\necho other as\n");
        let path = other.into_os_string();
        settle();
        let tc = Toolchains::new(None);
        // As the launcher's helper does before every call.
        tc.forget();
        let first = tc.identify(program, tmp.path(), Some(&path)).unwrap();
        let probes = tc.probes_run();
        tc.forget();
        let again = tc.identify(program, tmp.path(), Some(&path)).unwrap();
        assert_eq!(tc.probes_run(), probes, "checked by stat, not probed");
        assert_eq!(again.digest, first.digest);

        // A file named `as` appears in gcc's program dir, not executable:
        // the search result stays, but the dir changed, so it is checked.
        let shadow = tmp.path().join("as");
        fs::write(&shadow, "#!/bin/sh\necho as v2\n").unwrap();
        tc.forget();
        let not_executable = tc.identify(program, tmp.path(), Some(&path)).unwrap();
        assert_eq!(not_executable.digest, first.digest);
        // Made executable, it shadows PATH's `as`: the dir's stat is the
        // same, the file's is not.
        settle();
        tc.forget();
        tc.identify(program, tmp.path(), Some(&path)).unwrap();
        fs::set_permissions(&shadow, fs::Permissions::from_mode(0o755)).unwrap();
        tc.forget();
        let shadowed = tc.identify(program, tmp.path(), Some(&path)).unwrap();
        assert_ne!(shadowed.digest, first.digest);
    }

    #[test]
    fn damaged_disk_entry_is_ignored_and_rewritten() {
        let tmp = tempfile::tempdir().unwrap();
        let disk = tmp.path().join("toolchains");
        let original = identify(&Toolchains::new(Some(disk.clone())), "ar");
        let entries: Vec<_> = fs::read_dir(&disk)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(entries.len(), 1);
        let good = fs::read(&entries[0]).unwrap();
        fs::write(&entries[0], &good[..good.len() / 2]).unwrap();

        let fresh = Toolchains::new(Some(disk.clone()));
        assert_eq!(identify(&fresh, "ar").digest, original.digest);
        assert!(fresh.probes_run() > 0);
        assert_eq!(fs::read(&entries[0]).unwrap(), good, "rewritten");
        let after = Toolchains::new(Some(disk.clone()));
        identify(&after, "ar");
        assert_eq!(after.probes_run(), 0);
    }

    #[test]
    fn earlier_path_entry_changes_resolution() {
        let tmp = tempfile::tempdir().unwrap();
        let fake = tmp.path().join("gcc");
        fake_gcc(tmp.path());
        let tc = Toolchains::new(None);
        let real = identify(&tc, "gcc");
        let mut path = OsString::from(tmp.path().as_os_str());
        path.push(":");
        path.push(system_path());
        let shadowed = tc.identify("gcc", Path::new("/"), Some(&path)).unwrap();
        assert_eq!(shadowed.invoked, fake);
        assert_ne!(shadowed.digest, real.digest);

        // A relative PATH entry is relative to the step's directory.
        let relative = OsString::from(".:/usr/bin");
        let here = tc.identify("gcc", tmp.path(), Some(&relative)).unwrap();
        assert_eq!(here.invoked, fake);
        let elsewhere = tc.identify("gcc", Path::new("/"), Some(&relative)).unwrap();
        assert_eq!(elsewhere.digest, real.digest);
    }

    #[test]
    fn not_found_is_an_error() {
        let tc = Toolchains::new(None);
        let tmp = tempfile::tempdir().unwrap();
        let err = tc
            .identify("no-such-compiler-zz", tmp.path(), Some(&system_path()))
            .unwrap_err();
        assert!(matches!(err, ToolchainError::NotFound { .. }), "{err}");
        let err = tc.identify("./missing/gcc", tmp.path(), None).unwrap_err();
        assert!(matches!(err, ToolchainError::NotFound { .. }), "{err}");
        // Present but not executable.
        fs::write(tmp.path().join("gcc"), "not a program").unwrap();
        let err = tc.identify("./gcc", tmp.path(), None).unwrap_err();
        assert!(matches!(err, ToolchainError::NotFound { .. }), "{err}");
        assert!(tc.identify("", tmp.path(), None).is_err());
    }

    #[test]
    fn failing_probe_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let tool = tmp.path().join("gcc");
        write_script(&tool, "#!/bin/sh\necho broken >&2\nexit 3\n");
        let err = Toolchains::new(None)
            .identify("./gcc", tmp.path(), None)
            .unwrap_err();
        match err {
            ToolchainError::Probe { detail, .. } => assert!(detail.contains("broken"), "{detail}"),
            other => panic!("expected a probe error, got {other}"),
        }
    }

    #[test]
    fn system_include_dirs_for_c_and_cxx() {
        let tmp = tempfile::tempdir().unwrap();
        let disk = tmp.path().join("toolchains");
        for compiler in ["gcc", "clang"] {
            let tc = Toolchains::new(Some(disk.clone()));
            let tool = identify(&tc, compiler);
            let c = tc.system_include_dirs(&tool, "c", &[]).unwrap();
            let cxx = tc.system_include_dirs(&tool, "c++", &[]).unwrap();
            assert!(c.bracket.contains(&PathBuf::from("/usr/include")), "{c:?}");
            assert!(
                cxx.bracket.contains(&PathBuf::from("/usr/include")),
                "{cxx:?}"
            );
            assert_ne!(c, cxx, "{compiler}");
            assert!(cxx.bracket.len() > c.bracket.len());
            assert!(c.quote.is_empty());

            let probes = tc.probes_run();
            let again = tc.system_include_dirs(&tool, "c", &[]).unwrap();
            assert!(Arc::ptr_eq(&c, &again));
            // Unrelated arguments do not matter; -nostdinc does.
            let args: Vec<String> = ["-O2", "-Ifoo", "-DX", "-c", "a.c"]
                .map(String::from)
                .into();
            let same = tc.system_include_dirs(&tool, "c", &args).unwrap();
            assert!(Arc::ptr_eq(&c, &same));
            assert_eq!(tc.probes_run(), probes);
            let bare = tc
                .system_include_dirs(&tool, "c", &["-nostdinc".to_owned()])
                .unwrap();
            assert!(
                !bare.bracket.contains(&PathBuf::from("/usr/include")),
                "{bare:?}"
            );

            let fresh = Toolchains::new(Some(disk.clone()));
            let from_disk = fresh.system_include_dirs(&tool, "c++", &[]).unwrap();
            assert_eq!(fresh.probes_run(), 0);
            assert_eq!(from_disk, cxx);
        }
    }

    #[test]
    fn an_include_list_kept_after_forget_is_rechecked_by_stat() {
        let tmp = tempfile::tempdir().unwrap();
        let sysroot = tmp.path().join("root");
        fs::create_dir_all(sysroot.join("usr/include")).unwrap();
        let args = [format!("--sysroot={}", sysroot.display())];
        let tc = Toolchains::new(None);
        // As the launcher's helper does before every call.
        tc.forget();
        let gcc = identify(&tc, "gcc");
        let first = tc.system_include_dirs(&gcc, "c", &args).unwrap();
        let local = sysroot.join("usr/local/include");
        assert!(!first.bracket.contains(&local), "{first:?}");
        let probes = tc.probes_run();
        tc.forget();
        let kept = tc.system_include_dirs(&gcc, "c", &args).unwrap();
        assert_eq!(kept, first);
        assert_eq!(tc.probes_run(), probes, "kept, checked by stat");
        // A dir gcc skipped as missing now exists: it is searched.
        fs::create_dir_all(&local).unwrap();
        tc.forget();
        let again = tc.system_include_dirs(&gcc, "c", &args).unwrap();
        assert!(tc.probes_run() > probes, "probed again");
        assert!(again.bracket.contains(&local), "{again:?}");
    }

    #[test]
    fn include_probe_errors() {
        let tc = Toolchains::new(None);
        let gcc = identify(&tc, "gcc");
        let err = tc
            .system_include_dirs(&gcc, "no-such-language", &[])
            .unwrap_err();
        assert!(matches!(err, ToolchainError::Probe { .. }), "{err}");
        let err = tc
            .system_include_dirs(&gcc, "c", &["--sysroot=rel/dir".to_owned()])
            .unwrap_err();
        assert!(matches!(err, ToolchainError::Probe { .. }), "{err}");
    }

    #[test]
    fn include_affecting_args_keeps_only_what_matters() {
        let args: Vec<String> = [
            "-O2",
            "--sysroot",
            "/sr",
            "-I/x",
            "-target",
            "arm-none-eabi",
            "-m32",
            "-o",
            "a.o",
            "-stdlib=libc++",
            "-B/opt/b",
            "-isysroot/sdk",
            "-nostdinc++",
            "--target=x",
            "--gcc-toolchain=/gt",
            "-mavx",
        ]
        .map(String::from)
        .into();
        let kept = include_affecting_args(&args).unwrap();
        assert_eq!(
            kept,
            [
                "--sysroot",
                "/sr",
                "-target",
                "arm-none-eabi",
                "-m32",
                "-stdlib=libc++",
                "-B/opt/b",
                "-isysroot/sdk",
                "-nostdinc++",
                "--target=x",
                "--gcc-toolchain=/gt",
            ]
        );
        assert!(include_affecting_args(&["-B".to_owned(), "rel".to_owned()]).is_err());
    }

    #[test]
    fn program_choosing_args_are_normalized_and_absolute() {
        let args: Vec<String> = [
            "-O2",
            "-B",
            "tools/",
            "--prefix=/p/",
            "-Bx-",
            "-target",
            "arm-none-eabi",
            "--gcc-toolchain",
            "gcc",
            "-fuse-ld=lld",
            "-fuse-ld=bin/ld",
            "--ld-path=/l",
            "-I",
            "inc",
            "-c",
            "a.c",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            program_choosing_args(&args, Path::new("/w")),
            [
                "-B",
                "/w/tools/",
                "-B",
                "/p/",
                "-B",
                "/w/x-",
                "--target=arm-none-eabi",
                "--gcc-toolchain=/w/gcc",
                "-fuse-ld=lld",
                "-fuse-ld=/w/bin/ld",
                "--ld-path=/l",
            ]
        );
        assert!(program_choosing_args(&["-O2".to_owned()], Path::new("/w")).is_empty());
        assert_eq!(
            driver_programs(
                &["as"],
                &["-fuse-ld=lld".to_owned(), "--ld-path=/l".to_owned()]
            ),
            ["as", "ld.lld", "/l"]
        );
    }

    #[test]
    fn parses_search_list() {
        let text = b"ignoring nonexistent directory \"/no/such\"\n\
            #include \"...\" search starts here:\n /q\n\
            #include <...> search starts here:\n /a\n /b/Frameworks (framework directory)\n\
            End of search list.\n";
        let (search, missing) = parse_include_search(text).unwrap();
        assert_eq!(search.quote, [PathBuf::from("/q")]);
        assert_eq!(
            search.bracket,
            [PathBuf::from("/a"), PathBuf::from("/b/Frameworks")]
        );
        assert_eq!(missing, [PathBuf::from("/no/such")]);
        assert!(parse_include_search(b"#include <...> search starts here:\n /a\n").is_none());
        assert!(parse_include_search(b"clang -cc1 version 14\nEnd of search list.\n").is_none());
        let (only_quote, _) =
            parse_include_search(b"#include \"...\" search starts here:\nEnd of search list.\n")
                .unwrap();
        assert!(only_quote.quote.is_empty() && only_quote.bracket.is_empty());
    }

    #[test]
    fn family_from_names() {
        assert_eq!(family_from_name("x86_64-linux-gnu-gcc-12"), Family::Gcc);
        assert_eq!(family_from_name("clang++-14"), Family::Clang);
        assert_eq!(family_from_name("cc"), Family::Gcc);
        assert_eq!(family_from_name("gcc-ar-12"), Family::Ar);
        assert_eq!(family_from_name("llvm-ar"), Family::Ar);
        assert_eq!(family_from_name("ld.lld"), Family::Ld);
        assert_eq!(family_from_name("arm-none-eabi-ranlib"), Family::Ranlib);
        assert_eq!(family_from_name("python3"), Family::Unknown);
        assert_eq!(family_from_name("cpp"), Family::Unknown);
    }

    /// Prints what identification costs; run by hand with
    /// `cargo test --lib cache::toolchain::tests::timing -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn timing() {
        use std::time::Instant;
        let path = system_path();
        for program in ["gcc", "clang", "ar"] {
            let tmp = tempfile::tempdir().unwrap();
            let disk = tmp.path().join("toolchains");
            let tc = Toolchains::new(Some(disk.clone()));
            let start = Instant::now();
            tc.identify(program, Path::new("/"), Some(&path)).unwrap();
            let cold = start.elapsed();
            let start = Instant::now();
            for _ in 0..1000 {
                tc.identify(program, Path::new("/"), Some(&path)).unwrap();
            }
            let memo = start.elapsed() / 1000;
            let start = Instant::now();
            for _ in 0..100 {
                Toolchains::new(Some(disk.clone()))
                    .identify(program, Path::new("/"), Some(&path))
                    .unwrap();
            }
            let warm_disk = start.elapsed() / 100;
            println!("{program}: cold {cold:?}, warm disk {warm_disk:?}, warm memo {memo:?}");
        }
    }
}
