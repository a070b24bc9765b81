//! What each step last ran with, saved between builds.
//!
//! zccache's own state is one versioned file, `.zccache_state`, next to
//! `.ninja_log` (under `builddir`). It holds, per step (keyed by its first
//! output), the hash of the command line and the content hash of every input
//! and output at the time the step last succeeded, plus the dependencies its
//! depfile reported; and the [`HashCache`] of file identities. It is written
//! to a temporary file and renamed into place, so a crash leaves either the
//! old or the new state, and it ends with a blake3 checksum so truncation or
//! corruption is detected and treated as an empty state.
//!
//! Ninja's own `.ninja_log` and `.ninja_deps` are kept valid beside it (see
//! the `ninja_log` and `ninja_deps` modules) so users can switch tools.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub mod ninja_deps;
pub mod ninja_files;
pub mod ninja_log;

use crate::hash::{Hash, HashCache};

pub const STATE_FILE_NAME: &str = ".zccache_state";
const MAGIC: &[u8; 16] = b"zccache-state\0\0\0";
const FORMAT_VERSION: u32 = 1;

/// A path with the content hash it had when the step last succeeded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    pub path: String,
    pub hash: Hash,
}

/// What a step last succeeded with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    /// blake3 of the command line (with rspfile content).
    pub command_hash: Hash,
    /// Explicit and implicit inputs from the manifest, then discovered
    /// dependencies, each with its content hash.
    pub inputs: Vec<Recorded>,
    /// How many of `inputs` (from the end) came from the depfile or
    /// /showIncludes output.
    pub discovered: usize,
    pub outputs: Vec<Recorded>,
    /// mtime of the first output right after the step, to tell whether
    /// another tool (ninja) rebuilt it since.
    pub output_mtime_ns: i64,
    /// Newest mtime among the manifest inputs when the step last ran.
    /// Generator steps (CMake's re-run) also rerun when an input was merely
    /// touched: `touch CMakeLists.txt` is how users force a re-configure.
    pub inputs_mtime_ns: i64,
}

impl StepRecord {
    pub fn discovered_inputs(&self) -> &[Recorded] {
        &self.inputs[self.inputs.len() - self.discovered..]
    }
    pub fn manifest_inputs(&self) -> &[Recorded] {
        &self.inputs[..self.inputs.len() - self.discovered]
    }
}

pub fn command_hash(command_for_hash: &str) -> Hash {
    *blake3::hash(command_for_hash.as_bytes()).as_bytes()
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct BuildState {
    /// Keyed by the step's first output path.
    pub steps: HashMap<String, StepRecord>,
    pub hashes: HashCache,
}

/// Why a state file could not be used; the build goes on with an empty
/// state after reporting it once.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: not a zccache state file, or truncated; starting from an empty state")]
    Corrupt { path: PathBuf },
    #[error(
        "{path}: state format version {found} is not {FORMAT_VERSION}; starting from an empty state"
    )]
    Version { path: PathBuf, found: u32 },
}

impl BuildState {
    pub fn path_in(dir: &Path) -> PathBuf {
        dir.join(STATE_FILE_NAME)
    }

    /// Loads the state; a missing file is an empty state, an unreadable or
    /// corrupt one is an empty state plus an error to report.
    pub fn load(path: &Path) -> (BuildState, Option<StateError>) {
        match Self::try_load(path) {
            Ok(state) => (state, None),
            Err(err) => (BuildState::default(), Some(err)),
        }
    }

    fn try_load(path: &Path) -> Result<BuildState, StateError> {
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(BuildState::default()),
            Err(source) => {
                return Err(StateError::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let corrupt = || StateError::Corrupt {
            path: path.to_path_buf(),
        };
        let header = MAGIC.len() + 4;
        if bytes.len() < header + 32 || &bytes[..MAGIC.len()] != MAGIC {
            return Err(corrupt());
        }
        let version = u32::from_le_bytes(
            bytes[MAGIC.len()..header]
                .try_into()
                .map_err(|_| corrupt())?,
        );
        if version != FORMAT_VERSION {
            return Err(StateError::Version {
                path: path.to_path_buf(),
                found: version,
            });
        }
        let (payload, checksum) = bytes[header..].split_at(bytes.len() - header - 32);
        if blake3::hash(payload).as_bytes() != checksum {
            return Err(corrupt());
        }
        bincode::deserialize(payload).map_err(|_| corrupt())
    }

    /// Writes the state atomically: a temporary file in the same directory,
    /// fsynced, then renamed over the old one.
    pub fn save(&self, path: &Path) -> Result<(), StateError> {
        let io_err = |source| StateError::Io {
            path: path.to_path_buf(),
            source,
        };
        let payload =
            bincode::serialize(self).map_err(|err| io_err(io::Error::other(err.to_string())))?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(io_err)?;
        let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(io_err)?;
        let mut writer = io::BufWriter::new(temp.as_file_mut());
        writer.write_all(MAGIC).map_err(io_err)?;
        writer
            .write_all(&FORMAT_VERSION.to_le_bytes())
            .map_err(io_err)?;
        writer.write_all(&payload).map_err(io_err)?;
        writer
            .write_all(blake3::hash(&payload).as_bytes())
            .map_err(io_err)?;
        writer.flush().map_err(io_err)?;
        drop(writer);
        temp.as_file().sync_data().map_err(io_err)?;
        temp.persist(path).map_err(|err| io_err(err.error))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> BuildState {
        let mut state = BuildState::default();
        state.steps.insert(
            "a.o".to_string(),
            StepRecord {
                command_hash: command_hash("cc -c a.c"),
                inputs: vec![
                    Recorded {
                        path: "a.c".into(),
                        hash: [1; 32],
                    },
                    Recorded {
                        path: "a.h".into(),
                        hash: [2; 32],
                    },
                ],
                discovered: 1,
                outputs: vec![Recorded {
                    path: "a.o".into(),
                    hash: [3; 32],
                }],
                output_mtime_ns: 42,
                inputs_mtime_ns: 41,
            },
        );
        state
    }

    #[test]
    fn round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = BuildState::path_in(dir.path());
        sample().save(&path).unwrap();
        let (loaded, err) = BuildState::load(&path);
        assert!(err.is_none());
        assert_eq!(loaded.steps, sample().steps);
        assert_eq!(loaded.steps["a.o"].discovered_inputs()[0].path, "a.h");
    }

    #[test]
    fn truncated_or_garbage_state_is_empty_with_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = BuildState::path_in(dir.path());
        sample().save(&path).unwrap();
        let bytes = fs::read(&path).unwrap();
        for len in [0, 5, 20, bytes.len() / 2, bytes.len() - 1] {
            fs::write(&path, &bytes[..len]).unwrap();
            let (state, err) = BuildState::load(&path);
            assert!(state.steps.is_empty());
            assert!(len == 0 || err.is_some(), "len {len}");
        }
        let mut flipped = bytes.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0xff;
        fs::write(&path, &flipped).unwrap();
        assert!(BuildState::load(&path).1.is_some());
    }

    #[test]
    fn missing_state_is_empty_without_error() {
        let (state, err) = BuildState::load(Path::new("/nonexistent/zccache/state"));
        assert!(state.steps.is_empty());
        assert!(err.is_none());
    }
}
