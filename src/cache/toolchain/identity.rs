//! A tool's identity: which files and probe answers define it (the gcc
//! driver's programs, clang's name and libraries, a binutils name and
//! version), hashed into one digest, and the memo entry that lets a later
//! use trust that digest while every file still stats the same and every
//! name lookup still finds the same program.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};

use crate::hash::FileStat;

use super::memo::{KeyHasher, Versioned};
use super::resolve::{
    candidates, has_relative_entry, parse_program_dirs, resolve_program, search_dirs, stat_file,
};
use super::*;

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

/// A bare program name the driver would look up at run time.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Lookup {
    name: String,
    dirs: Vec<PathBuf>,
    found: Option<PathBuf>,
}

#[derive(Serialize, Deserialize)]
pub(super) struct IdentityEntry {
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
pub(super) struct Checked {
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
pub(super) fn driver_programs(base: &[&str], choosing: &[String]) -> Vec<String> {
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
pub(super) fn family_from_name(name: &str) -> Family {
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

impl Toolchains {
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
}
