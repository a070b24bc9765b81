//! The places that must stay empty for an entry to hold: where a header
//! or library would have been found first, had it existed, and the
//! directory listings that make checking them cheap.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::key::KeyedStep;
use super::paths::join_text;
use super::record::Dependencies;
use crate::cache::Cache;
use crate::cache::command::{CompileArgs, Invocation};
use crate::cache::records::FileIdentity;
use crate::cache::shadows::HeaderSearch;

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

impl Cache {
    /// The places where a header would have been found before the one the
    /// compile read, had it existed (see [`crate::cache::shadows`]), and
    /// those `__has_include` probed: the absent ones, and the files found
    /// there (with their hashes, added to `files`).
    pub(super) fn absent_headers(
        &self,
        invocation: &Invocation,
        args: &CompileArgs,
        keyed: &KeyedStep,
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
                    .system_include_dirs(&keyed.tool, args.language.as_x_arg(), &relevant)
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

    /// The places where a library or startfile the link read would have
    /// been found first, had it existed: the dirs searched before the one
    /// it came from, in the order the linker searches them (`-L` dirs,
    /// then, through a compiler driver, `LIBRARY_PATH` and the driver's
    /// own dirs, then the linker's built-in ones; see
    /// [`crate::cache::toolchain::Toolchains::library_search_dirs`]).
    pub(super) fn absent_libraries(
        &self,
        invocation: &Invocation,
        keyed: &KeyedStep,
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
            .library_search_dirs(&keyed.tool, driver, &relevant, cwd)
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
            .filter(|dep| !keyed.keyed_inputs.contains(&cwd.join(dep)))
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

#[cfg(test)]
mod tests {
    use super::*;

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
