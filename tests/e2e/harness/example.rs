//! examples/cmake-project copied into a temp dir, with a private cache
//! beside it and build dirs configured there on demand: the project most
//! tests build, the same way each time.

use std::path::{Path, PathBuf};

use super::env::Env;
use super::{cmake_configure, copy_example_project, temp_dir};

pub struct Example {
    temp: tempfile::TempDir,
    pub source: PathBuf,
    /// The private cache (`cache` in the temp dir) and its environment.
    pub env: Env,
}

impl Example {
    pub fn new() -> Example {
        let temp = temp_dir();
        let source = copy_example_project(temp.path());
        let env = Env::new(temp.path().join("cache"));
        Example { temp, source, env }
    }

    /// The temp dir that holds the source, the cache and the build dirs.
    pub fn root(&self) -> &Path {
        self.temp.path()
    }

    /// `name` in the temp dir.
    pub fn path(&self, name: &str) -> PathBuf {
        self.temp.path().join(name)
    }

    /// Configures build dir `name` (Release unless `extra` says otherwise).
    pub fn configure(&self, name: &str, extra: &[&str]) -> PathBuf {
        let dir = self.path(name);
        cmake_configure(&self.source, &dir, extra);
        dir
    }
}
