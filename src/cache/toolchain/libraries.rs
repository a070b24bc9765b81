//! The dirs a link searches for libraries after its `-L` dirs: the
//! driver's own list and the linker's built-in `SEARCH_DIR`s. Memoized in
//! memory only.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::*;

impl Toolchains {
    /// Every dir a link by `tool` searches for libraries and startfiles,
    /// in order, after the `-L` dirs of its command line: for a compiler
    /// driver (`driver`), its own list (`-print-search-dirs`, which holds
    /// `LIBRARY_PATH` and the `-B` prefixes), then the linker's built-in
    /// `SEARCH_DIR`s (`ld --verbose`). `args`: the options that move them
    /// (see `system_search_args` in cache/absent.rs), run in `cwd`.
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
}
