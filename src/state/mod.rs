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

use crate::graph::{FileId, Graph, Step};
use crate::hash::{Digest, FileStat, HashCache};

pub const STATE_FILE_NAME: &str = ".zccache_state";
const MAGIC: &[u8; 16] = b"zccache-state\0\0\0";
const FORMAT_VERSION: u32 = 5;

/// A file with the content hash it had when the step last succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    pub file: FileId,
    pub hash: Digest,
}

/// What a step last succeeded with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRecord {
    /// blake3 of the command line (with rspfile content).
    pub command_hash: Digest,
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

#[cfg(test)]
pub fn command_hash(command_for_hash: &str) -> Digest {
    *blake3::hash(command_for_hash.as_bytes()).as_bytes()
}

/// [`command_hash`] of a step's [`Step::command_for_hash`], without
/// building that string.
pub fn step_command_hash(step: &Step) -> Digest {
    let mut hasher = blake3::Hasher::new();
    hasher.update(step.command.as_bytes());
    if step.rspfile.is_some() {
        hasher.update(b";rspfile=");
        hasher.update(step.rspfile_content.as_bytes());
    }
    *hasher.finalize().as_bytes()
}

/// The state of one build dir, with paths bound to the graph's files:
/// records and remembered hashes are indexed by [`FileId`], so the build
/// compares ids, never strings. Paths the manifest no longer mentions (old
/// depfile entries) are added to the graph as plain files when loading.
#[derive(Debug, Default)]
pub struct BuildState {
    /// Keyed by the step's first output.
    pub steps: HashMap<FileId, StepRecord>,
    pub hashes: HashCache,
    /// Whether anything differs from the file on disk; a no-op build
    /// writes nothing.
    changed: bool,
    /// Size and mtime of `.ninja_log` and `.ninja_deps` when this state
    /// was saved. While they match, ninja's view of every step is the one
    /// zccache left, and clean steps need no check against those files.
    pub ninja_files_stamp: [Option<(u64, i64)>; 2],
}

/// Size and mtime of a file, if it exists.
pub fn file_stamp(path: &Path) -> Option<(u64, i64)> {
    let stat = crate::hash::stat(&path.to_string_lossy()).ok().flatten()?;
    Some((stat.size, stat.mtime_ns))
}

/// The file layout: a path table, then records referring to it by index.
/// Hashes travel as byte strings (32 bytes each, concatenated) because
/// serde would otherwise encode every byte as its own element, which made
/// loading the state the slowest part of a no-op build.
#[derive(Serialize, Deserialize)]
struct OnDisk {
    paths: Vec<String>,
    steps: Vec<DiskRecord>,
    hashed_files: Vec<(u32, FileStat)>,
    #[serde(with = "serde_bytes")]
    file_hashes: Vec<u8>,
    ninja_files_stamp: [Option<(u64, i64)>; 2],
}

#[derive(Serialize, Deserialize)]
struct DiskRecord {
    first_output: u32,
    #[serde(with = "serde_bytes")]
    command_hash: Vec<u8>,
    inputs: Vec<u32>,
    discovered: u32,
    outputs: Vec<u32>,
    /// Input hashes, then output hashes.
    #[serde(with = "serde_bytes")]
    hashes: Vec<u8>,
    output_mtime_ns: i64,
    inputs_mtime_ns: i64,
}

fn hash_at(bytes: &[u8], index: usize) -> Option<Digest> {
    bytes.get(index * 32..index * 32 + 32)?.try_into().ok()
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

    /// Marks the state as needing a save.
    pub fn mark_changed(&mut self) {
        self.changed = true;
    }

    pub fn is_changed(&self) -> bool {
        self.changed || self.hashes.is_changed()
    }

    pub fn insert(&mut self, first_output: FileId, record: StepRecord) {
        self.steps.insert(first_output, record);
        self.changed = true;
    }

    pub fn remove(&mut self, first_output: FileId) -> Option<StepRecord> {
        let removed = self.steps.remove(&first_output);
        self.changed |= removed.is_some();
        removed
    }

    /// Loads the state, binding its paths to `graph`. A missing file is an
    /// empty state; an unreadable or corrupt one is an empty state plus an
    /// error to report.
    pub fn load(path: &Path, graph: &mut Graph) -> (BuildState, Option<StateError>) {
        match Self::try_load(path, graph) {
            Ok(state) => (state, None),
            Err(err) => {
                let state = BuildState {
                    changed: true,
                    ..BuildState::default()
                };
                (state, Some(err))
            }
        }
    }

    fn try_load(path: &Path, graph: &mut Graph) -> Result<BuildState, StateError> {
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Ok(BuildState::default());
            }
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
        let disk: OnDisk = bincode::deserialize(payload).map_err(|_| corrupt())?;
        // The raw bytes are as large as everything built from them.
        drop(bytes);
        let files: Vec<FileId> = disk.paths.iter().map(|p| graph.file_id(p)).collect();
        let file = |index: u32| files.get(index as usize).copied().ok_or_else(corrupt);
        let bind = |ids: &[u32], hashes: &[u8], first: usize| {
            ids.iter()
                .enumerate()
                .map(|(i, &index)| {
                    Ok(Recorded {
                        file: file(index)?,
                        hash: hash_at(hashes, first + i).ok_or_else(corrupt)?,
                    })
                })
                .collect::<Result<Vec<Recorded>, StateError>>()
        };
        let mut steps = HashMap::with_capacity(disk.steps.len());
        for record in &disk.steps {
            let inputs = bind(&record.inputs, &record.hashes, 0)?;
            if record.discovered as usize > inputs.len() {
                return Err(corrupt());
            }
            steps.insert(
                file(record.first_output)?,
                StepRecord {
                    command_hash: hash_at(&record.command_hash, 0).ok_or_else(corrupt)?,
                    inputs,
                    discovered: record.discovered as usize,
                    outputs: bind(&record.outputs, &record.hashes, record.inputs.len())?,
                    output_mtime_ns: record.output_mtime_ns,
                    inputs_mtime_ns: record.inputs_mtime_ns,
                },
            );
        }
        let mut hashes = HashCache::with_files(graph.files.len());
        for (i, &(index, stat)) in disk.hashed_files.iter().enumerate() {
            let hash = hash_at(&disk.file_hashes, i).ok_or_else(corrupt)?;
            hashes.restore(file(index)?, stat, hash);
        }
        Ok(BuildState {
            steps,
            hashes,
            changed: false,
            ninja_files_stamp: disk.ninja_files_stamp,
        })
    }

    /// Writes the state atomically when it changed: a temporary file in the
    /// same directory, then renamed over the old one.
    pub fn save(&mut self, path: &Path, graph: &Graph) -> Result<(), StateError> {
        if !self.is_changed() {
            return Ok(());
        }
        let io_err = |source| StateError::Io {
            path: path.to_path_buf(),
            source,
        };
        // Steps gone from the manifest lose their records once their
        // output is gone too (until then it may be another manifest's of
        // this build dir, as with CMake's Ninja Multi-Config, and ninja's
        // log keeps it likewise), and the path table keeps only files
        // something still refers to, so the file does not grow with every
        // header ever deleted.
        self.steps.retain(|first, _| {
            graph.file(*first).producer.is_some()
                || Path::new(graph.path(*first)).symlink_metadata().is_ok()
        });
        let mut referenced = vec![false; graph.files.len()];
        for step in &graph.steps {
            for &file in step.ins.iter().chain(&step.outs).chain(&step.validations) {
                referenced[file.index()] = true;
            }
        }
        for (first, record) in &self.steps {
            referenced[first.index()] = true;
            for r in record.inputs.iter().chain(&record.outputs) {
                referenced[r.file.index()] = true;
            }
        }
        let mut new_index = vec![u32::MAX; graph.files.len()];
        let mut paths = Vec::with_capacity(graph.files.len());
        for index in 0..graph.files.len() {
            if referenced[index] {
                new_index[index] = paths.len() as u32;
                paths.push(graph.path(FileId(index as u32)).to_string());
            }
        }
        let id = |file: FileId| new_index[file.index()];
        let mut hashed_files = Vec::new();
        let mut file_hashes = Vec::new();
        for (file, stat, hash) in self.hashes.entries() {
            if referenced.get(file.index()).copied().unwrap_or(false) {
                hashed_files.push((id(file), stat));
                file_hashes.extend_from_slice(&hash);
            }
        }
        let disk = OnDisk {
            paths,
            steps: self
                .steps
                .iter()
                .map(|(first, record)| DiskRecord {
                    first_output: id(*first),
                    command_hash: record.command_hash.to_vec(),
                    inputs: record.inputs.iter().map(|r| id(r.file)).collect(),
                    discovered: record.discovered as u32,
                    outputs: record.outputs.iter().map(|r| id(r.file)).collect(),
                    hashes: record
                        .inputs
                        .iter()
                        .chain(&record.outputs)
                        .flat_map(|r| r.hash)
                        .collect(),
                    output_mtime_ns: record.output_mtime_ns,
                    inputs_mtime_ns: record.inputs_mtime_ns,
                })
                .collect(),
            hashed_files,
            file_hashes,
            ninja_files_stamp: self.ninja_files_stamp,
        };
        let payload =
            bincode::serialize(&disk).map_err(|err| io_err(io::Error::other(err.to_string())))?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(io_err)?;
        let mut temp = temp_file_beside(path).map_err(io_err)?;
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
        // No fsync, as ninja does none for its logs: the rename keeps other
        // zccache processes from seeing a torn file, and if a power loss
        // leaves an empty or partial one, its checksum fails and the next
        // build starts from an empty state (adopting from ninja's logs)
        // rather than trusting it. An fsync would cost every build that did
        // work, for durability the build does not need.
        temp.persist(path).map_err(|err| io_err(err.error))?;
        self.changed = false;
        self.hashes.mark_saved();
        Ok(())
    }
}

/// Runs the real ninja in the interoperability tests of this module's
/// submodules (the test command installs it).
#[cfg(test)]
pub(crate) mod real_ninja {
    use std::path::Path;
    use std::process::Command;

    const NINJA: &str = "/usr/bin/ninja";

    /// Runs ninja in `dir`, asserting success; returns its stdout.
    pub fn run_ninja(dir: &Path, args: &[&str]) -> String {
        assert!(
            Path::new(NINJA).exists(),
            "{NINJA} is missing: scripts/test.sh installs ninja-build"
        );
        let output = Command::new(NINJA)
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run ninja");
        assert!(output.status.success(), "ninja {args:?} failed: {output:?}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

/// A temporary file next to `path`, to be renamed over it, with the mode a
/// new file gets (0666 less the umask) as ninja's logs have, rather than
/// tempfile's private 0600.
pub fn temp_file_beside(path: &Path) -> io::Result<tempfile::NamedTempFile> {
    use std::os::unix::fs::PermissionsExt;
    let dir = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    tempfile::Builder::new()
        .permissions(fs::Permissions::from_mode(0o666))
        .tempfile_in(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `a.o` built from `a.c`; `a.h` only known through the record.
    fn graph() -> Graph {
        compile_graph(crate::ninja::DepsKind::None)
    }

    /// `a.o` compiled from `a.c` by `cc -c a.c`, recording `deps`; the
    /// fixture of the build-memory tests here and in the submodules.
    pub(super) fn compile_graph(deps: crate::ninja::DepsKind) -> Graph {
        let build = crate::ninja::Build {
            rule: "cc".into(),
            outs: vec!["a.o".into()],
            explicit_outs: 1,
            ins: vec!["a.c".into()],
            explicit_ins: 1,
            command: "cc -c a.c".into(),
            deps,
            ..Default::default()
        };
        Graph::from_manifest(crate::ninja::Manifest {
            builds: vec![build],
            ..Default::default()
        })
    }

    fn sample(graph: &mut Graph) -> BuildState {
        let mut state = BuildState::default();
        let (c, h, o) = (
            graph.file_id("a.c"),
            graph.file_id("a.h"),
            graph.file_id("a.o"),
        );
        state.insert(
            o,
            StepRecord {
                command_hash: command_hash("cc -c a.c"),
                inputs: vec![
                    Recorded {
                        file: c,
                        hash: [1; 32],
                    },
                    Recorded {
                        file: h,
                        hash: [2; 32],
                    },
                ],
                discovered: 1,
                outputs: vec![Recorded {
                    file: o,
                    hash: [3; 32],
                }],
                output_mtime_ns: 42,
                inputs_mtime_ns: 41,
            },
        );
        state
    }

    #[test]
    fn round_trips_through_another_graph() {
        let dir = tempfile::tempdir().unwrap();
        let path = BuildState::path_in(dir.path());
        let mut first = graph();
        sample(&mut first).save(&path, &first).unwrap();
        // A graph that lists files in another order binds the same paths.
        let mut second = Graph::default();
        second.file_id("zzz");
        second.file_id("a.h");
        let (loaded, err) = BuildState::load(&path, &mut second);
        assert!(err.is_none());
        let o = second.lookup("a.o").unwrap();
        let record = &loaded.steps[&o];
        assert_eq!(second.path(record.discovered_inputs()[0].file), "a.h");
        assert_eq!(record.inputs_mtime_ns, 41);
        assert!(!loaded.is_changed());
    }

    #[test]
    fn truncated_or_garbage_state_is_empty_with_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = BuildState::path_in(dir.path());
        let mut g = graph();
        sample(&mut g).save(&path, &g).unwrap();
        let bytes = fs::read(&path).unwrap();
        for len in [0, 5, 20, bytes.len() / 2, bytes.len() - 1] {
            fs::write(&path, &bytes[..len]).unwrap();
            let (state, err) = BuildState::load(&path, &mut graph());
            assert!(state.steps.is_empty());
            assert!(err.is_some(), "len {len}");
        }
        let mut flipped = bytes.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0xff;
        fs::write(&path, &flipped).unwrap();
        assert!(BuildState::load(&path, &mut graph()).1.is_some());
    }

    #[test]
    fn step_command_hash_matches_the_command_ninja_hashes() {
        let mut g = graph();
        let step = &mut g.steps[0];
        assert_eq!(
            step_command_hash(step),
            command_hash(&step.command_for_hash())
        );
        step.rspfile = Some("a.rsp".into());
        step.rspfile_content = "a.c b.c".into();
        assert_eq!(
            step_command_hash(step),
            command_hash(&step.command_for_hash())
        );
    }

    #[test]
    fn missing_state_is_empty_without_error() {
        let (state, err) = BuildState::load(Path::new("/nonexistent/zccache/state"), &mut graph());
        assert!(state.steps.is_empty());
        assert!(err.is_none());
    }
}
