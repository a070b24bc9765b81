//! What the kinds' absent places share (the places that must stay empty
//! for an entry to hold, see `StepKind::absent_places`): the directory
//! listings that make checking them cheap, and the arguments that move a
//! compiler's default search dirs.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::cache::Cache;

/// Arguments that change a compiler's default include search.
pub(super) fn system_search_args(args: &[String]) -> Vec<String> {
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

impl Cache {}

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
