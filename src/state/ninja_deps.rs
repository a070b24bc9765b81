//! Ninja's `.ninja_deps`: the implicit dependencies that compilers reported
//! (through depfiles or `/showIncludes`) for each output, with the output's
//! mtime when they were recorded.
//!
//! # Format (version 4, written since ninja 1.10; checked against 1.11.1)
//!
//! The file starts with the 12 bytes `# ninjadeps\n` and a little-endian
//! `i32` version, 4. Records follow, each a little-endian `u32` header whose
//! high bit tells the kind and whose low 31 bits give the byte size of the
//! body that follows:
//!
//! * path record (high bit clear): the path's bytes, NUL-padded to a multiple
//!   of 4, then a `u32` checksum equal to `!id`. Paths get ids 0, 1, 2, ... in
//!   the order their records appear.
//! * deps record (high bit set): `i32` output id, the output's mtime as a
//!   64-bit value stored as two `u32` halves (low half first), then one `i32`
//!   id per input.
//!
//! A later deps record for the same output replaces the earlier one. Writers
//! only append, so a crash can leave a partial record at the end: readers
//! keep everything before it, and the file is cut back there before the next
//! append.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const SIGNATURE: &[u8] = b"# ninjadeps\n";
pub const WRITTEN_VERSION: i32 = 4;
const HEADER_LEN: usize = SIGNATURE.len() + 4;

/// Set in a record header for deps records.
const DEPS_RECORD_FLAG: u32 = 0x8000_0000;

/// Ninja never writes a record larger than this; a larger size means the
/// file is damaged from that point on.
const MAX_RECORD_SIZE: u32 = (1 << 19) - 1;

/// Ninja rewrites the file once it holds more than this many deps records
/// and more than [`COMPACTION_RATIO`] per distinct output; mirrored here.
const MIN_COMPACTION_RECORD_COUNT: usize = 1000;
const COMPACTION_RATIO: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum NinjaDepsError {
    #[error("cannot read deps log {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write deps log {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("deps log is not open for writing; call open_for_append first")]
    NotOpen,
    #[error("deps log would exceed ninja's limits: {0}")]
    TooLarge(String),
}

/// The recorded dependencies of one output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deps<'a> {
    /// The output's mtime when the deps were recorded (nanoseconds on
    /// Linux). Ninja treats the deps as stale once the output is newer.
    pub mtime_ns: i64,
    pub inputs: Vec<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct DepsRecord {
    mtime_ns: i64,
    input_ids: Vec<u32>,
}

/// The in-memory view of a `.ninja_deps`, optionally open for appending.
/// Appended records are buffered; [`close`](NinjaDeps::close) flushes them
/// and reports errors, dropping flushes them silently.
#[derive(Debug, Default)]
pub struct NinjaDeps {
    /// Path by id, in file order.
    paths: Vec<String>,
    ids: HashMap<String, u32>,
    /// Latest deps record by output id.
    deps: HashMap<u32, DepsRecord>,
    deps_record_count: usize,
    /// Length of the part of the file that parsed; anything after it is cut
    /// off before appending.
    valid_len: u64,
    load_warning: Option<String>,
    /// The file must be rewritten from scratch before appending.
    file_is_unusable: bool,
    writer: Option<DepsWriter>,
}

#[derive(Debug)]
struct DepsWriter {
    path: PathBuf,
    out: BufWriter<File>,
}

impl NinjaDeps {
    /// Reads the deps log at `path`. A missing file is an empty log. A file
    /// with another signature or version is an empty log with a
    /// [`load_warning`](Self::load_warning); a damaged tail is dropped with a
    /// warning while the records before it are kept.
    pub fn load(path: &Path) -> Result<NinjaDeps, NinjaDepsError> {
        match fs::read(path) {
            Ok(bytes) => Ok(Self::parse(&bytes, path)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(NinjaDeps::default()),
            Err(source) => Err(NinjaDepsError::Read {
                path: path.to_owned(),
                source,
            }),
        }
    }

    fn parse(bytes: &[u8], path: &Path) -> NinjaDeps {
        let mut log = NinjaDeps::default();
        if bytes.is_empty() {
            return log;
        }
        let version = bytes
            .strip_prefix(SIGNATURE)
            .and_then(|rest| read_u32(rest, 0))
            .map(|version| version as i32);
        if version != Some(WRITTEN_VERSION) {
            log.file_is_unusable = true;
            log.load_warning = Some(format!(
                "{}: bad deps log signature or version (want v{WRITTEN_VERSION}); starting over",
                path.display()
            ));
            return log;
        }
        let mut offset = HEADER_LEN;
        while offset < bytes.len() {
            match log.parse_record(bytes, offset) {
                Ok(next) => offset = next,
                Err(problem) => {
                    log.load_warning = Some(format!(
                        "{}: {problem} at byte {offset}; keeping the records before it",
                        path.display()
                    ));
                    break;
                }
            }
        }
        log.valid_len = offset.min(bytes.len()) as u64;
        log
    }

    /// Parses the record at `offset`, returning where the next one starts.
    fn parse_record(&mut self, bytes: &[u8], offset: usize) -> Result<usize, &'static str> {
        let header = read_u32(bytes, offset).ok_or("truncated record header")?;
        let is_deps = header & DEPS_RECORD_FLAG != 0;
        let size = header & !DEPS_RECORD_FLAG;
        if size > MAX_RECORD_SIZE || !size.is_multiple_of(4) || size < 4 {
            return Err("bad record size");
        }
        let body_start = offset + 4;
        let body = bytes
            .get(body_start..body_start + size as usize)
            .ok_or("truncated record")?;
        let words: Vec<u32> = body
            .chunks_exact(4)
            .map(|word| u32::from_le_bytes([word[0], word[1], word[2], word[3]]))
            .collect();
        if is_deps {
            self.parse_deps_record(&words)?;
        } else {
            let checksum = *words.last().ok_or("path record too short")?;
            self.parse_path_record(body, checksum)?;
        }
        Ok(body_start + size as usize)
    }

    fn parse_path_record(&mut self, body: &[u8], checksum: u32) -> Result<(), &'static str> {
        let id = self.paths.len() as u32;
        if checksum != !id {
            return Err("path record checksum mismatch");
        }
        let padded = &body[..body.len() - 4];
        let unpadded_len =
            padded.len() - padded.iter().rev().take(3).take_while(|&&b| b == 0).count();
        let path = String::from_utf8_lossy(&padded[..unpadded_len]).into_owned();
        if path.is_empty() {
            return Err("empty path record");
        }
        self.ids.insert(path.clone(), id);
        self.paths.push(path);
        Ok(())
    }

    fn parse_deps_record(&mut self, words: &[u32]) -> Result<(), &'static str> {
        let [output_id, mtime_low, mtime_high, input_ids @ ..] = words else {
            return Err("deps record too short");
        };
        let known = |id: &u32| (*id as usize) < self.paths.len();
        if !known(output_id) || !input_ids.iter().all(known) {
            return Err("deps record refers to an unknown path id");
        }
        let mtime_ns = ((u64::from(*mtime_high) << 32) | u64::from(*mtime_low)) as i64;
        self.deps.insert(
            *output_id,
            DepsRecord {
                mtime_ns,
                input_ids: input_ids.to_vec(),
            },
        );
        self.deps_record_count += 1;
        Ok(())
    }

    /// Why (part of) the file on disk was ignored, if it was.
    pub fn load_warning(&self) -> Option<&str> {
        self.load_warning.as_deref()
    }

    /// The latest recorded deps of `output`.
    pub fn get(&self, output: &str) -> Option<Deps<'_>> {
        let record = self.deps.get(self.ids.get(output)?)?;
        Some(Deps {
            mtime_ns: record.mtime_ns,
            inputs: record
                .input_ids
                .iter()
                .map(|&id| self.paths[id as usize].as_str())
                .collect(),
        })
    }

    /// Outputs that have deps recorded, in path-id order.
    pub fn outputs(&self) -> Vec<&str> {
        let mut ids: Vec<u32> = self.deps.keys().copied().collect();
        ids.sort_unstable();
        ids.iter()
            .map(|&id| self.paths[id as usize].as_str())
            .collect()
    }

    /// Whether the file holds so many superseded records that it should be
    /// rewritten (same thresholds as ninja).
    pub fn needs_recompaction(&self) -> bool {
        self.deps_record_count > MIN_COMPACTION_RECORD_COUNT
            && self.deps_record_count > self.deps.len() * COMPACTION_RATIO
    }

    /// Opens `path` for appending records: cuts off a damaged tail, or
    /// starts the file over when it was missing or unusable.
    pub fn open_for_append(&mut self, path: &Path) -> Result<(), NinjaDepsError> {
        self.close()?;
        let write_error = |source| NinjaDepsError::Write {
            path: path.to_owned(),
            source,
        };
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(write_error)?;
        if self.file_is_unusable || self.valid_len < HEADER_LEN as u64 {
            // Ids restart with the file: forget what the old one held.
            *self = NinjaDeps::default();
        }
        file.set_len(self.valid_len).map_err(write_error)?;
        file.seek(SeekFrom::End(0)).map_err(write_error)?;
        let mut out = BufWriter::new(file);
        if self.valid_len == 0 {
            write_header(&mut out).map_err(write_error)?;
            self.valid_len = HEADER_LEN as u64;
        }
        self.writer = Some(DepsWriter {
            path: path.to_owned(),
            out,
        });
        Ok(())
    }

    /// Records that `output`, whose mtime is now `mtime_ns`, depends on
    /// `inputs`. Appends path records for paths not seen before and a deps
    /// record, unless the same deps are already recorded. Writes are
    /// buffered until [`close`](Self::close) or drop.
    pub fn record(
        &mut self,
        output: &str,
        mtime_ns: i64,
        inputs: &[&str],
    ) -> Result<(), NinjaDepsError> {
        if self.writer.is_none() {
            return Err(NinjaDepsError::NotOpen);
        }
        if inputs.len() > (MAX_RECORD_SIZE as usize / 4) - 3 {
            return Err(NinjaDepsError::TooLarge(format!(
                "{output} has {} inputs",
                inputs.len()
            )));
        }
        if let Some(existing) = self.get(output)
            && existing.mtime_ns == mtime_ns
            && existing.inputs == inputs
        {
            return Ok(());
        }
        let output_id = self.id_for(output)?;
        let input_ids = inputs
            .iter()
            .map(|input| self.id_for(input))
            .collect::<Result<Vec<_>, _>>()?;
        let record = DepsRecord {
            mtime_ns,
            input_ids,
        };
        let writer = self.writer.as_mut().ok_or(NinjaDepsError::NotOpen)?;
        write_deps_record(&mut writer.out, output_id, &record).map_err(|source| {
            NinjaDepsError::Write {
                path: writer.path.clone(),
                source,
            }
        })?;
        self.deps.insert(output_id, record);
        self.deps_record_count += 1;
        Ok(())
    }

    /// The id of `path`, appending a path record when it is new.
    fn id_for(&mut self, path: &str) -> Result<u32, NinjaDepsError> {
        if let Some(&id) = self.ids.get(path) {
            return Ok(id);
        }
        if path.is_empty() || path.len() > MAX_RECORD_SIZE as usize - 8 {
            return Err(NinjaDepsError::TooLarge(format!(
                "path of {} bytes",
                path.len()
            )));
        }
        let writer = self.writer.as_mut().ok_or(NinjaDepsError::NotOpen)?;
        let id = self.paths.len() as u32;
        write_path_record(&mut writer.out, path, id).map_err(|source| NinjaDepsError::Write {
            path: writer.path.clone(),
            source,
        })?;
        self.ids.insert(path.to_owned(), id);
        self.paths.push(path.to_owned());
        Ok(id)
    }

    /// Flushes and closes the append handle, if open.
    pub fn close(&mut self) -> Result<(), NinjaDepsError> {
        if let Some(mut writer) = self.writer.take() {
            let write_error = |source| NinjaDepsError::Write {
                path: writer.path.clone(),
                source,
            };
            writer.out.flush().map_err(write_error)?;
            // Everything written so far is intact; the next append continues
            // from here.
            self.valid_len = writer
                .out
                .get_mut()
                .stream_position()
                .map_err(write_error)?;
        }
        Ok(())
    }

    /// Rewrites the log at `path` with only the latest deps of each output
    /// for which `keep` is true (ninja's `-t recompact` keeps outputs still
    /// built with deps in the manifest), renumbering paths so that unused
    /// ones disappear. The file is replaced atomically; an open append
    /// handle is reopened on the new file.
    pub fn recompact(
        &mut self,
        path: &Path,
        keep: impl Fn(&str) -> bool,
    ) -> Result<(), NinjaDepsError> {
        let was_open = self.writer.is_some();
        self.close()?;
        let write_error = |source| NinjaDepsError::Write {
            path: path.to_owned(),
            source,
        };
        let temp = super::temp_file_beside(path).map_err(write_error)?;

        let mut compacted = NinjaDeps {
            writer: Some(DepsWriter {
                path: path.to_owned(),
                out: BufWriter::new(temp.reopen().map_err(write_error)?),
            }),
            ..NinjaDeps::default()
        };
        if let Some(writer) = compacted.writer.as_mut() {
            write_header(&mut writer.out).map_err(write_error)?;
        }
        for output in self.outputs() {
            if !keep(output) {
                continue;
            }
            if let Some(deps) = self.get(output) {
                compacted.record(output, deps.mtime_ns, &deps.inputs)?;
            }
        }
        compacted.close()?;
        temp.as_file().sync_all().map_err(write_error)?;
        temp.persist(path)
            .map_err(|error| write_error(error.error))?;

        *self = compacted;
        if was_open {
            self.open_for_append(path)?;
        }
        Ok(())
    }
}

fn read_u32(bytes: &[u8], offset: usize) -> Option<u32> {
    let word = bytes.get(offset..offset + 4)?;
    Some(u32::from_le_bytes([word[0], word[1], word[2], word[3]]))
}

fn write_header(out: &mut impl Write) -> io::Result<()> {
    out.write_all(SIGNATURE)?;
    out.write_all(&WRITTEN_VERSION.to_le_bytes())
}

fn write_path_record(out: &mut impl Write, path: &str, id: u32) -> io::Result<()> {
    let padding = (4 - path.len() % 4) % 4;
    let size = (path.len() + padding + 4) as u32;
    out.write_all(&size.to_le_bytes())?;
    out.write_all(path.as_bytes())?;
    out.write_all(&[0u8; 3][..padding])?;
    out.write_all(&(!id).to_le_bytes())
}

fn write_deps_record(out: &mut impl Write, output_id: u32, record: &DepsRecord) -> io::Result<()> {
    let size = (4 * (3 + record.input_ids.len())) as u32;
    let mtime = record.mtime_ns as u64;
    out.write_all(&(size | DEPS_RECORD_FLAG).to_le_bytes())?;
    out.write_all(&output_id.to_le_bytes())?;
    out.write_all(&(mtime as u32).to_le_bytes())?;
    out.write_all(&((mtime >> 32) as u32).to_le_bytes())?;
    for id in &record.input_ids {
        out.write_all(&id.to_le_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::ninja_log::{self, LogEntry, NinjaLog};

    /// `.ninja_deps` written by ninja 1.11.1 after `gcc -MD` compiled a
    /// main.c including "inc dir/my hdr.h" (a 16-byte path: no padding) and
    /// "b.h" (padded).
    const NINJA_1_11_DEPS: &[u8] = b"# ninjadeps\x0a\x04\x00\x00\x00\x0c\x00\x00\x00main.o\x00\x00\xff\xff\xff\xff\x0c\x00\x00\x00main.c\x00\x00\xfe\xff\xff\xff \x00\x00\x00/usr/include/stdc-predef.h\x00\x00\xfd\xff\xff\xff\x14\x00\x00\x00inc dir/my hdr.h\xfc\xff\xff\xff\x08\x00\x00\x00b.h\x00\xfb\xff\xff\xff\x1c\x00\x00\x80\x00\x00\x00\x00\xebO\xa1\x0c\xb1A\xeb\x18\x01\x00\x00\x00\x02\x00\x00\x00\x03\x00\x00\x00\x04\x00\x00\x00";
    const NINJA_1_11_MTIME: i64 = 1_795_601_105_114_189_803;

    fn parse(bytes: &[u8]) -> NinjaDeps {
        NinjaDeps::parse(bytes, Path::new(".ninja_deps"))
    }

    #[test]
    fn reads_a_file_ninja_wrote() {
        let deps = parse(NINJA_1_11_DEPS);
        assert_eq!(deps.load_warning(), None);
        assert_eq!(
            deps.get("main.o"),
            Some(Deps {
                mtime_ns: NINJA_1_11_MTIME,
                inputs: vec![
                    "main.c",
                    "/usr/include/stdc-predef.h",
                    "inc dir/my hdr.h",
                    "b.h"
                ],
            })
        );
        assert_eq!(deps.get("main.c"), None);
        assert_eq!(deps.outputs(), ["main.o"]);
    }

    #[test]
    fn truncated_tail_keeps_earlier_records() {
        // Cut inside the deps record: all paths survive, the deps do not.
        let cut = &NINJA_1_11_DEPS[..NINJA_1_11_DEPS.len() - 3];
        let deps = parse(cut);
        assert_eq!(deps.get("main.o"), None);
        assert_eq!(deps.paths.len(), 5);
        assert!(deps.load_warning().is_some());
        assert_eq!(deps.valid_len, (NINJA_1_11_DEPS.len() - 32) as u64);
        // Every prefix parses without panicking.
        for len in 0..NINJA_1_11_DEPS.len() {
            parse(&NINJA_1_11_DEPS[..len]);
        }
    }

    #[test]
    fn corrupt_or_foreign_files_are_reported_not_fatal() {
        let mut wrong_version = NINJA_1_11_DEPS.to_vec();
        wrong_version[12] = 3;
        let mut bad_checksum = NINJA_1_11_DEPS.to_vec();
        bad_checksum[0x1c] = 0;
        let mut bad_id = NINJA_1_11_DEPS.to_vec();
        let last = bad_id.len() - 4;
        bad_id[last] = 99;
        for bytes in [
            b"garbage".as_slice(),
            &wrong_version,
            &bad_checksum,
            &bad_id,
        ] {
            let deps = parse(bytes);
            assert!(deps.load_warning().is_some());
            assert_eq!(deps.get("main.o"), None);
        }
    }

    #[test]
    fn appends_reload_and_recompact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".ninja_deps");
        fs::write(&path, NINJA_1_11_DEPS).unwrap();

        let mut deps = NinjaDeps::load(&path).unwrap();
        deps.open_for_append(&path).unwrap();
        deps.record("main.o", 7, &["main.c", "new header.h"])
            .unwrap();
        deps.record("other.o", 8, &["b.h", "abcd"]).unwrap();
        deps.record("gone.o", 9, &["gone.h"]).unwrap();
        deps.close().unwrap();
        let length_after_appends = fs::metadata(&path).unwrap().len();

        // Unchanged deps are not written again.
        deps.open_for_append(&path).unwrap();
        deps.record("other.o", 8, &["b.h", "abcd"]).unwrap();
        deps.close().unwrap();
        assert_eq!(fs::metadata(&path).unwrap().len(), length_after_appends);

        let reloaded = NinjaDeps::load(&path).unwrap();
        assert_eq!(reloaded.load_warning(), None);
        assert_eq!(
            reloaded.get("main.o").unwrap().inputs,
            ["main.c", "new header.h"]
        );
        assert_eq!(reloaded.get("other.o").unwrap().mtime_ns, 8);

        let mut compacted = reloaded;
        compacted
            .recompact(&path, |output| output != "gone.o")
            .unwrap();
        assert!(fs::metadata(&path).unwrap().len() < length_after_appends);
        let reloaded = NinjaDeps::load(&path).unwrap();
        assert_eq!(reloaded.outputs(), ["main.o", "other.o"]);
        assert_eq!(reloaded.get("gone.o"), None);
        assert!(!reloaded.ids.contains_key("gone.h"));
        assert_eq!(reloaded.get("other.o").unwrap().inputs, ["b.h", "abcd"]);
    }

    #[test]
    fn appending_cuts_off_a_damaged_tail_and_replaces_foreign_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".ninja_deps");
        fs::write(&path, &NINJA_1_11_DEPS[..NINJA_1_11_DEPS.len() - 3]).unwrap();
        let mut deps = NinjaDeps::load(&path).unwrap();
        deps.open_for_append(&path).unwrap();
        deps.record("main.o", 1, &["b.h"]).unwrap();
        deps.close().unwrap();
        let reloaded = NinjaDeps::load(&path).unwrap();
        assert_eq!(reloaded.load_warning(), None);
        assert_eq!(reloaded.get("main.o").unwrap().inputs, ["b.h"]);

        fs::write(&path, b"# ninjadeps\n\x03\0\0\0junk").unwrap();
        let mut deps = NinjaDeps::load(&path).unwrap();
        deps.open_for_append(&path).unwrap();
        deps.record("x.o", 1, &["x.c"]).unwrap();
        drop(deps);
        let reloaded = NinjaDeps::load(&path).unwrap();
        assert_eq!(reloaded.load_warning(), None);
        assert_eq!(reloaded.get("x.o").unwrap().inputs, ["x.c"]);
    }

    #[test]
    fn record_requires_an_open_file() {
        let mut deps = NinjaDeps::default();
        assert!(matches!(
            deps.record("a", 1, &[]),
            Err(NinjaDepsError::NotOpen)
        ));
    }

    // ---- interoperability with the real ninja (installed by the test command) ----

    use crate::state::real_ninja::run_ninja;

    /// A rule that writes a gcc-style depfile naming `hdr.h` without needing
    /// a compiler.
    const MANIFEST: &str = "rule cc\n\
        \x20 command = printf '%s: %s hdr.h\\n' $out $in > $out.d && cp $in $out\n\
        \x20 depfile = $out.d\n\
        \x20 deps = gcc\n\
        build out.o: cc in.c\n";
    const COMMAND: &str = "printf '%s: %s hdr.h\\n' out.o in.c > out.o.d && cp in.c out.o";

    fn project() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("build.ninja"), MANIFEST).unwrap();
        fs::write(dir.path().join("in.c"), "x").unwrap();
        fs::write(dir.path().join("hdr.h"), "y").unwrap();
        dir
    }

    #[test]
    fn reads_deps_real_ninja_recorded() {
        let dir = project();
        run_ninja(dir.path(), &[]);
        let deps = NinjaDeps::load(&dir.path().join(".ninja_deps")).unwrap();
        assert_eq!(deps.load_warning(), None);
        let recorded = deps.get("out.o").unwrap();
        assert_eq!(recorded.inputs, ["in.c", "hdr.h"]);
        let out_mtime = ninja_log::mtime_ns_or_zero(&dir.path().join("out.o")).unwrap();
        assert_eq!(recorded.mtime_ns, out_mtime);
        // The hash of the command ninja ran matches ours, escapes included.
        let log = NinjaLog::load(&dir.path().join(".ninja_log")).unwrap();
        assert_eq!(
            log.get("out.o").unwrap().command_hash,
            ninja_log::hash_command(COMMAND)
        );
    }

    #[test]
    fn real_ninja_accepts_deps_zccache_wrote() {
        let dir = project();
        run_ninja(dir.path(), &["--version"]);
        // Do the build step by hand and record it the way zccache would.
        fs::copy(dir.path().join("in.c"), dir.path().join("out.o")).unwrap();
        let out_mtime = ninja_log::mtime_ns_or_zero(&dir.path().join("out.o")).unwrap();
        let log_path = dir.path().join(".ninja_log");
        let mut log = NinjaLog::load(&log_path).unwrap();
        let mut writer = log.open_writer(&log_path).unwrap();
        let entry = LogEntry {
            start_ms: 0,
            end_ms: 1,
            mtime_ns: out_mtime,
            command_hash: ninja_log::hash_command(COMMAND),
        };
        log.record(&mut writer, "out.o", entry).unwrap();
        drop(writer);
        let deps_path = dir.path().join(".ninja_deps");
        let mut deps = NinjaDeps::load(&deps_path).unwrap();
        deps.open_for_append(&deps_path).unwrap();
        deps.record("out.o", out_mtime, &["in.c", "hdr.h"]).unwrap();
        deps.close().unwrap();

        let shown = run_ninja(dir.path(), &["-t", "deps"]);
        assert_eq!(
            shown,
            format!("out.o: #deps 2, deps mtime {out_mtime} (VALID)\n    in.c\n    hdr.h\n\n")
        );
        let explain = run_ninja(dir.path(), &["-n", "-d", "explain"]);
        assert_eq!(explain, "ninja: no work to do.\n");

        // Ninja consults our record: a newer header makes out.o dirty.
        let later = out_mtime + 1;
        let later = filetime::FileTime::from_unix_time(
            later / 1_000_000_000,
            (later % 1_000_000_000) as u32,
        );
        filetime::set_file_mtime(dir.path().join("hdr.h"), later).unwrap();
        let explain = run_ninja(dir.path(), &["-n"]);
        assert!(explain.contains("cp in.c out.o"), "{explain}");

        // Ninja appends its own records after ours; we read them back.
        run_ninja(dir.path(), &[]);
        let deps = NinjaDeps::load(&deps_path).unwrap();
        assert_eq!(deps.load_warning(), None);
        let new_mtime = ninja_log::mtime_ns_or_zero(&dir.path().join("out.o")).unwrap();
        assert_eq!(deps.get("out.o").unwrap().mtime_ns, new_mtime);

        // And a recompacted file still satisfies ninja.
        let mut deps = deps;
        deps.recompact(&deps_path, |_| true).unwrap();
        let explain = run_ninja(dir.path(), &["-n", "-d", "explain"]);
        assert_eq!(explain, "ninja: no work to do.\n");
    }
}
