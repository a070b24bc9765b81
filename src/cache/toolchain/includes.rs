//! A compiler's default include search list (`-E -v`), for the options
//! that move it, memoized like identities and trusted while every listed
//! dir still exists and every skipped one still does not.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};

use super::memo::{KeyHasher, Versioned};
use super::*;

#[derive(Serialize, Deserialize)]
pub(super) struct IncludeEntry {
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

/// Keeps the options that change a compiler's default include list, with
/// their values. Path values must be absolute: the probe does not run in
/// the step's directory.
pub(super) fn include_affecting_args(args: &[String]) -> Result<Vec<String>, String> {
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
pub(super) fn parse_include_search(stderr: &[u8]) -> Option<(IncludeSearch, Vec<PathBuf>)> {
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

impl Toolchains {
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
}
