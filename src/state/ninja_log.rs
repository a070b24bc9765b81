//! Ninja's `.ninja_log`: which command last built each output, when, and the
//! output's mtime afterwards.
//!
//! zccache reads and writes this file so that a build directory can be driven
//! by ninja and zccache in turn without either one rebuilding everything.
//!
//! # Format
//!
//! A text file: a header line `# ninja log vN`, then one line per built output
//! (`start_ms \t end_ms \t mtime \t output \t command_hash`, the hash in
//! lowercase hex without leading zeros, the mtime in the platform's native
//! timestamp unit: nanoseconds on Linux). Later lines for the same output
//! supersede earlier ones; the file is only ever appended to, except when it
//! is recompacted.
//!
//! # Versions
//!
//! * ninja 1.10 and 1.11 write `v5`. They discard logs older than v4, read v4
//!   (whole command lines) and rewrite it as v5, and accept any *newer*
//!   version number with the v5 line layout, because they only check a lower
//!   bound (checked: ninja 1.11.1 appends to a v6 log zccache wrote).
//! * ninja 1.12 writes `v6` and discards anything older ("too old"): v6
//!   changed nothing in the line layout, the bump only marked that the mtime
//!   field had become a high-resolution timestamp (ninja PR #2240).
//! * ninja 1.13 writes and reads only `v7`, whose command hash is rapidhash
//!   instead of MurmurHash64A; its hashes cannot be compared with ours.
//!
//! So zccache writes `v6` with the shared v5/v6 layout, which both 1.11 and
//! 1.12 load without discarding, and reads v5 and v6.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The version number written in the header of logs zccache creates.
pub const WRITTEN_VERSION: u32 = 6;

/// Versions whose lines have the layout and hash function zccache uses.
const READABLE_VERSIONS: std::ops::RangeInclusive<u32> = 5..=6;

const HEADER_PREFIX: &str = "# ninja log v";

/// Seed ninja passes to MurmurHash64A for command hashes (v5, v6).
const COMMAND_HASH_SEED: u64 = 0xDECA_FBAD_DECA_FBAD;

/// Ninja rewrites its log once it holds more than this many lines and more
/// than [`COMPACTION_RATIO`] lines per distinct output; zccache mirrors that
/// so neither tool lets the file grow without bound.
const MIN_COMPACTION_ENTRY_COUNT: usize = 100;
const COMPACTION_RATIO: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum NinjaLogError {
    #[error("cannot read build log {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write build log {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot stat output {output} for restat: {source}")]
    Stat { output: String, source: io::Error },
}

/// What the log remembers about the last build of one output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogEntry {
    /// Milliseconds since the start of the build that ran the command.
    pub start_ms: u32,
    pub end_ms: u32,
    /// The output's mtime after the command ran (nanoseconds since the epoch
    /// on Linux; 0 when the output did not exist).
    pub mtime_ns: i64,
    /// [`hash_command`] of the command line that produced the output.
    pub command_hash: u64,
}

/// An entry plus the position of its line, so rewrites keep the order in
/// which outputs were built (tools such as ninjatracing rely on it to find
/// where the last build starts).
#[derive(Debug, Clone, Copy)]
struct Recorded {
    entry: LogEntry,
    line_number: u64,
}

/// The in-memory view of a `.ninja_log`: the latest entry for each output.
#[derive(Debug, Default)]
pub struct NinjaLog {
    entries: HashMap<String, Recorded>,
    /// Entry lines read from the file, including superseded ones.
    total_lines: usize,
    next_line_number: u64,
    /// Why the file on disk was not usable, if it was not.
    load_warning: Option<String>,
    /// The file on disk must be replaced rather than appended to.
    file_is_unusable: bool,
    /// The file on disk has an older header than [`WRITTEN_VERSION`] with
    /// the same line layout; it is upgraded in place before appending.
    header_is_outdated: bool,
}

/// MurmurHash64A of the command line, as ninja 1.10–1.12 store it.
pub fn hash_command(command: &str) -> u64 {
    murmur2::murmur64a(command.as_bytes(), COMMAND_HASH_SEED)
}

impl NinjaLog {
    /// Reads the log at `path`. A missing file is an empty log; a file of
    /// another version or without a header is an empty log with a
    /// [`load_warning`](Self::load_warning), and the next writer replaces it.
    pub fn load(path: &Path) -> Result<NinjaLog, NinjaLogError> {
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Ok(NinjaLog::default());
            }
            Err(source) => {
                return Err(NinjaLogError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        Ok(Self::parse(&bytes, path))
    }

    fn parse(bytes: &[u8], path: &Path) -> NinjaLog {
        let mut log = NinjaLog::default();
        if bytes.is_empty() {
            return log;
        }
        let mut lines = bytes.split(|&byte| byte == b'\n');
        let header = lines.next().unwrap_or_default();
        match parse_header(header) {
            Some(version) if READABLE_VERSIONS.contains(&version) => {
                log.header_is_outdated = version < WRITTEN_VERSION;
            }
            found => {
                let what = match found {
                    Some(version) => format!("version {version}"),
                    None => "no version header".to_owned(),
                };
                log.discard(format!(
                    "{}: build log has {what}, zccache reads v{}..v{}; starting over",
                    path.display(),
                    READABLE_VERSIONS.start(),
                    READABLE_VERSIONS.end()
                ));
                return log;
            }
        }
        // A line without its newline is one a crashed writer left half done;
        // `split` yields it last, and it is dropped like any malformed line.
        let ends_with_newline = bytes.last() == Some(&b'\n');
        let mut lines = lines.peekable();
        while let Some(line) = lines.next() {
            let is_last = lines.peek().is_none();
            if is_last && !ends_with_newline {
                break;
            }
            if let Some((output, entry)) = parse_entry_line(line) {
                log.total_lines += 1;
                log.insert(output.to_owned(), entry);
            }
        }
        log
    }

    fn discard(&mut self, warning: String) {
        self.entries.clear();
        self.total_lines = 0;
        self.load_warning = Some(warning);
        self.file_is_unusable = true;
    }

    fn insert(&mut self, output: String, entry: LogEntry) {
        let line_number = self.next_line_number;
        self.next_line_number += 1;
        self.entries.insert(output, Recorded { entry, line_number });
    }

    /// Why the file on disk was ignored, if it was.
    pub fn load_warning(&self) -> Option<&str> {
        self.load_warning.as_deref()
    }

    pub fn get(&self, output: &str) -> Option<&LogEntry> {
        self.entries.get(output).map(|recorded| &recorded.entry)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Outputs and their entries, in the order they were last recorded.
    pub fn entries(&self) -> Vec<(&str, &LogEntry)> {
        let mut ordered: Vec<_> = self.entries.iter().collect();
        ordered.sort_by_key(|(_, recorded)| recorded.line_number);
        ordered
            .into_iter()
            .map(|(output, recorded)| (output.as_str(), &recorded.entry))
            .collect()
    }

    /// Whether the file holds so many superseded lines that it should be
    /// rewritten (same thresholds as ninja).
    pub fn needs_recompaction(&self) -> bool {
        self.total_lines > MIN_COMPACTION_ENTRY_COUNT
            && self.total_lines > self.entries.len() * COMPACTION_RATIO
    }

    /// Opens `path` for appending. Creates it with a header when missing or
    /// empty, and replaces it when [`load`](Self::load) found it unusable.
    /// A v5 header (ninja 1.10, 1.11) becomes v6 so that ninja 1.12 keeps
    /// the file too; the lines need no change.
    pub fn open_writer(&mut self, path: &Path) -> Result<NinjaLogWriter, NinjaLogError> {
        if self.header_is_outdated && !self.file_is_unusable {
            rewrite_header_in_place(path).map_err(|source| NinjaLogError::Write {
                path: path.to_owned(),
                source,
            })?;
        }
        let writer = NinjaLogWriter::open(path, self.file_is_unusable)?;
        self.file_is_unusable = false;
        self.header_is_outdated = false;
        Ok(writer)
    }

    /// Records an entry in memory and appends it through `writer`.
    pub fn record(
        &mut self,
        writer: &mut NinjaLogWriter,
        output: &str,
        entry: LogEntry,
    ) -> Result<(), NinjaLogError> {
        writer.append(output, &entry)?;
        self.total_lines += 1;
        self.insert(output.to_owned(), entry);
        Ok(())
    }

    /// Rewrites the log at `path` with one line per output, keeping only the
    /// outputs for which `keep` is true (ninja's `-t recompact` keeps outputs
    /// still in the manifest). The file is replaced atomically.
    pub fn recompact(
        &mut self,
        path: &Path,
        keep: impl Fn(&str) -> bool,
    ) -> Result<(), NinjaLogError> {
        self.entries.retain(|output, _| keep(output));
        self.write_atomically(path)
    }

    /// Ninja's `-t restat`: re-reads the mtime of each recorded output (or of
    /// those in `only`, when given) relative to `build_dir`, then rewrites
    /// the log atomically. A missing output gets mtime 0, as in ninja.
    pub fn restat(
        &mut self,
        path: &Path,
        build_dir: &Path,
        only: Option<&[&str]>,
    ) -> Result<(), NinjaLogError> {
        for (output, recorded) in self.entries.iter_mut() {
            if let Some(only) = only
                && !only.contains(&output.as_str())
            {
                continue;
            }
            recorded.entry.mtime_ns =
                mtime_ns_or_zero(&build_dir.join(output)).map_err(|source| {
                    NinjaLogError::Stat {
                        output: output.clone(),
                        source,
                    }
                })?;
        }
        self.write_atomically(path)
    }

    fn write_atomically(&mut self, path: &Path) -> Result<(), NinjaLogError> {
        let write_error = |source| NinjaLogError::Write {
            path: path.to_owned(),
            source,
        };
        let temp = super::temp_file_beside(path).map_err(write_error)?;
        let mut out = BufWriter::new(temp);
        write_header(&mut out).map_err(write_error)?;
        for (output, entry) in self.entries() {
            write_entry(&mut out, output, entry).map_err(write_error)?;
        }
        let temp = out
            .into_inner()
            .map_err(|error| write_error(error.into_error()))?;
        temp.as_file().sync_all().map_err(write_error)?;
        temp.persist(path)
            .map_err(|error| write_error(error.error))?;
        self.total_lines = self.entries.len();
        self.file_is_unusable = false;
        self.header_is_outdated = false;
        Ok(())
    }
}

/// Returns the version in a `# ninja log vN` header line.
fn parse_header(line: &[u8]) -> Option<u32> {
    let line = std::str::from_utf8(line).ok()?.trim_end_matches('\r');
    line.strip_prefix(HEADER_PREFIX)?.parse().ok()
}

/// Parses one entry line; malformed lines yield `None` and are skipped, which
/// at worst makes the affected output look unbuilt.
fn parse_entry_line(line: &[u8]) -> Option<(&str, LogEntry)> {
    let line = std::str::from_utf8(line).ok()?.trim_end_matches('\r');
    let mut fields = line.splitn(4, '\t');
    let start_ms = fields.next()?.parse().ok()?;
    let end_ms = fields.next()?.parse().ok()?;
    let mtime_ns = fields.next()?.parse().ok()?;
    // The hash is the last field; splitting from the right keeps an output
    // path intact whatever it contains.
    let (output, hash) = fields.next()?.rsplit_once('\t')?;
    let command_hash = u64::from_str_radix(hash, 16).ok()?;
    Some((
        output,
        LogEntry {
            start_ms,
            end_ms,
            mtime_ns,
            command_hash,
        },
    ))
}

/// Replaces a readable older header with the current one. Both are
/// `# ninja log v` plus one digit, so the bytes overwrite each other exactly
/// and no line moves.
fn rewrite_header_in_place(path: &Path) -> io::Result<()> {
    let header = format!("{HEADER_PREFIX}{WRITTEN_VERSION}");
    // Not opened in append mode: that would send the write to the end.
    let mut file = OpenOptions::new().write(true).open(path)?;
    file.write_all(header.as_bytes())?;
    file.sync_data()
}

fn write_header(out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "{HEADER_PREFIX}{WRITTEN_VERSION}")
}

fn write_entry(out: &mut impl Write, output: &str, entry: &LogEntry) -> io::Result<()> {
    writeln!(
        out,
        "{}\t{}\t{}\t{}\t{:x}",
        entry.start_ms, entry.end_ms, entry.mtime_ns, output, entry.command_hash
    )
}

/// The mtime of `path` in nanoseconds since the epoch, as ninja records it;
/// 0 when the file does not exist.
pub fn mtime_ns_or_zero(path: &Path) -> io::Result<i64> {
    match fs::metadata(path) {
        Ok(metadata) => {
            let mtime = filetime::FileTime::from_last_modification_time(&metadata);
            Ok(mtime.unix_seconds() * 1_000_000_000 + i64::from(mtime.nanoseconds()))
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(error) => Err(error),
    }
}

/// Appends entries to a `.ninja_log`. Writes are buffered; they reach the
/// file on [`flush`](Self::flush) or when the writer is dropped.
pub struct NinjaLogWriter {
    path: PathBuf,
    out: BufWriter<File>,
}

impl NinjaLogWriter {
    fn open(path: &Path, replace_existing: bool) -> Result<Self, NinjaLogError> {
        let write_error = |source| NinjaLogError::Write {
            path: path.to_owned(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(write_error)?;
        if replace_existing {
            file.set_len(0).map_err(write_error)?;
        }
        let length = file.seek(SeekFrom::End(0)).map_err(write_error)?;
        let mut out = BufWriter::new(file);
        if length == 0 {
            write_header(&mut out).map_err(write_error)?;
        } else if !ends_with_newline(out.get_mut(), length).map_err(write_error)? {
            // A crashed writer left half a line; end it so our first entry
            // is not glued onto it.
            out.write_all(b"\n").map_err(write_error)?;
        }
        Ok(NinjaLogWriter {
            path: path.to_owned(),
            out,
        })
    }

    pub fn append(&mut self, output: &str, entry: &LogEntry) -> Result<(), NinjaLogError> {
        write_entry(&mut self.out, output, entry).map_err(|source| NinjaLogError::Write {
            path: self.path.clone(),
            source,
        })
    }

    pub fn flush(&mut self) -> Result<(), NinjaLogError> {
        self.out.flush().map_err(|source| NinjaLogError::Write {
            path: self.path.clone(),
            source,
        })
    }
}

fn ends_with_newline(file: &mut File, length: u64) -> io::Result<bool> {
    file.seek(SeekFrom::Start(length - 1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    file.seek(SeekFrom::End(0))?;
    Ok(last[0] == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `.ninja_log` written by ninja 1.11.1 for `gcc -MD -MF main.o.d
    /// -I"inc dir" -c main.c -o main.o` and a link step.
    const NINJA_1_11_LOG: &str = "# ninja log v5\n\
        0\t17\t1795601105114189803\tmain.o\tfe56840d8ca1d090\n\
        17\t41\t1795601105137752207\tapp\tf14676d426ce47f1\n";

    fn log_from(text: &str) -> NinjaLog {
        NinjaLog::parse(text.as_bytes(), Path::new(".ninja_log"))
    }

    #[test]
    fn hash_matches_the_one_ninja_recorded() {
        let log = log_from(NINJA_1_11_LOG);
        let entry = log.get("main.o").expect("main.o is in the log");
        assert_eq!(
            hash_command(r#"gcc -MD -MF main.o.d -I"inc dir" -c main.c -o main.o"#),
            entry.command_hash
        );
        assert_eq!(entry.mtime_ns, 1_795_601_105_114_189_803);
        assert_eq!((entry.start_ms, entry.end_ms), (0, 17));
        assert_eq!(log.load_warning(), None);
    }

    #[test]
    fn later_lines_supersede_earlier_ones() {
        let log = log_from("# ninja log v6\n1\t2\t3\ta\t10\n4\t5\t6\tb\t20\n7\t8\t9\ta\t30\n");
        assert_eq!(log.get("a").map(|e| e.command_hash), Some(0x30));
        let order: Vec<_> = log.entries().into_iter().map(|(o, _)| o).collect();
        assert_eq!(order, ["b", "a"]);
    }

    #[test]
    fn outputs_may_contain_spaces_and_crlf_is_tolerated() {
        let log = log_from("# ninja log v5\r\n1\t2\t3\tdir with space/a b.o\tff\r\n");
        assert_eq!(
            log.get("dir with space/a b.o").map(|e| e.command_hash),
            Some(0xff)
        );
    }

    #[test]
    fn unknown_versions_and_garbage_are_discarded_with_a_warning() {
        for text in [
            "# ninja log v4\n1\t2\t3\ta\tcmd\n",
            "# ninja log v7\n1\t2\t3\ta\tff\n",
            "\0\0\0garbage",
            "1\t2\t3\ta\tff\n",
        ] {
            let log = log_from(text);
            assert!(log.is_empty(), "{text:?}");
            assert!(log.load_warning().is_some(), "{text:?}");
        }
    }

    #[test]
    fn malformed_and_half_written_lines_are_skipped() {
        let log = log_from("# ninja log v6\nnot a line\n1\t2\t3\tok\tff\n4\t5\t6\thalf\tf");
        assert_eq!(log.len(), 1);
        assert!(log.get("half").is_none());
    }

    #[test]
    fn missing_file_is_an_empty_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = NinjaLog::load(&dir.path().join(".ninja_log")).unwrap();
        assert!(log.is_empty());
        assert_eq!(log.load_warning(), None);
    }

    #[test]
    fn writer_creates_header_appends_and_replaces_unusable_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".ninja_log");
        let entry = LogEntry {
            start_ms: 1,
            end_ms: 2,
            mtime_ns: 3,
            command_hash: 0xabc,
        };

        let mut log = NinjaLog::load(&path).unwrap();
        let mut writer = log.open_writer(&path).unwrap();
        log.record(&mut writer, "a", entry).unwrap();
        drop(writer);
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "# ninja log v6\n1\t2\t3\ta\tabc\n"
        );

        // A half-written line gets terminated before the next append.
        fs::write(&path, "# ninja log v6\n1\t2\t3\ta\tabc\n9\t9").unwrap();
        let mut log = NinjaLog::load(&path).unwrap();
        let mut writer = log.open_writer(&path).unwrap();
        log.record(&mut writer, "b", entry).unwrap();
        writer.flush().unwrap();
        let reloaded = NinjaLog::load(&path).unwrap();
        assert!(reloaded.get("a").is_some() && reloaded.get("b").is_some());

        // A file of another version is replaced, not appended to.
        fs::write(&path, "# ninja log v7\n1\t2\t3\told\tabc\n").unwrap();
        let mut log = NinjaLog::load(&path).unwrap();
        assert!(log.load_warning().is_some());
        let mut writer = log.open_writer(&path).unwrap();
        log.record(&mut writer, "new", entry).unwrap();
        drop(writer);
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "# ninja log v6\n1\t2\t3\tnew\tabc\n"
        );
    }

    #[test]
    fn appending_upgrades_a_v5_header_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".ninja_log");
        fs::write(&path, NINJA_1_11_LOG).unwrap();
        let mut log = NinjaLog::load(&path).unwrap();
        let writer = log.open_writer(&path).unwrap();
        drop(writer);
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            NINJA_1_11_LOG.replacen("v5", "v6", 1)
        );
    }

    #[test]
    fn recompact_keeps_latest_live_entries_in_build_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".ninja_log");
        fs::write(
            &path,
            "# ninja log v5\n1\t2\t3\ta\t1\n1\t2\t3\tgone\t2\n1\t2\t3\tb\t3\n4\t5\t6\ta\t4\n",
        )
        .unwrap();
        let mut log = NinjaLog::load(&path).unwrap();
        log.recompact(&path, |output| output != "gone").unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "# ninja log v6\n1\t2\t3\tb\t3\n4\t5\t6\ta\t4\n"
        );
    }

    #[test]
    fn restat_records_current_mtimes_of_selected_outputs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".ninja_log");
        fs::write(dir.path().join("a"), "").unwrap();
        let mtime = filetime::FileTime::from_unix_time(1_700_000_000, 123);
        filetime::set_file_mtime(dir.path().join("a"), mtime).unwrap();
        fs::write(
            &path,
            "# ninja log v6\n1\t2\t3\ta\t1\n1\t2\t3\tmissing\t2\n1\t2\t3\tc\t3\n",
        )
        .unwrap();
        let mut log = NinjaLog::load(&path).unwrap();
        log.restat(&path, dir.path(), Some(&["a", "missing"]))
            .unwrap();
        let log = NinjaLog::load(&path).unwrap();
        assert_eq!(log.get("a").unwrap().mtime_ns, 1_700_000_000_000_000_123);
        assert_eq!(log.get("missing").unwrap().mtime_ns, 0);
        assert_eq!(log.get("c").unwrap().mtime_ns, 3);
    }

    #[test]
    fn compaction_threshold_follows_ninja() {
        let mut text = String::from("# ninja log v6\n");
        for i in 0..101 {
            text.push_str(&format!("{i}\t{i}\t0\tsame\tff\n"));
        }
        assert!(log_from(&text).needs_recompaction());
        assert!(!log_from(NINJA_1_11_LOG).needs_recompaction());
    }

    // ---- interoperability with the real ninja (installed by the test command) ----

    use crate::state::real_ninja::run_ninja;

    const COPY_MANIFEST: &str = "rule copy\n  command = cp $in $out\n\
        build out$ one.txt: copy in.txt\nbuild out2.txt: copy in.txt\n";

    fn copy_project() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("build.ninja"), COPY_MANIFEST).unwrap();
        fs::write(dir.path().join("in.txt"), "x").unwrap();
        dir
    }

    #[test]
    fn reads_what_real_ninja_wrote() {
        let dir = copy_project();
        run_ninja(dir.path(), &[]);
        let log = NinjaLog::load(&dir.path().join(".ninja_log")).unwrap();
        assert_eq!(log.load_warning(), None);
        let entry = log.get("out one.txt").unwrap();
        assert_eq!(entry.command_hash, hash_command("cp in.txt 'out one.txt'"));
        assert_eq!(
            entry.mtime_ns,
            mtime_ns_or_zero(&dir.path().join("out one.txt")).unwrap()
        );
        // Upgrading ninja's v5 header keeps the build up to date for ninja.
        let mut log = log;
        drop(log.open_writer(&dir.path().join(".ninja_log")).unwrap());
        let explain = run_ninja(dir.path(), &["-n", "-d", "explain"]);
        assert_eq!(explain, "ninja: no work to do.\n");
    }

    #[test]
    fn real_ninja_accepts_a_log_zccache_wrote() {
        let dir = copy_project();
        run_ninja(dir.path(), &["--version"]);
        // Build the outputs without ninja, then record them as zccache would.
        let path = dir.path().join(".ninja_log");
        let mut log = NinjaLog::load(&path).unwrap();
        let mut writer = log.open_writer(&path).unwrap();
        // Ninja quotes paths containing spaces when it expands `$out`.
        for (output, command) in [
            ("out one.txt", "cp in.txt 'out one.txt'"),
            ("out2.txt", "cp in.txt out2.txt"),
        ] {
            fs::copy(dir.path().join("in.txt"), dir.path().join(output)).unwrap();
            let entry = LogEntry {
                start_ms: 0,
                end_ms: 5,
                mtime_ns: mtime_ns_or_zero(&dir.path().join(output)).unwrap(),
                command_hash: hash_command(command),
            };
            log.record(&mut writer, output, entry).unwrap();
        }
        drop(writer);
        let explain = run_ninja(dir.path(), &["-n", "-d", "explain"]);
        assert_eq!(explain, "ninja: no work to do.\n");

        // Ninja appends to our v6 log instead of discarding it.
        // Set the mtime explicitly: the filesystem clock is coarser than a
        // nanosecond, so a plain write could tie with the outputs' mtimes.
        fs::write(dir.path().join("in.txt"), "changed").unwrap();
        let newer = mtime_ns_or_zero(&dir.path().join("out2.txt")).unwrap() + 1;
        let newer = filetime::FileTime::from_unix_time(
            newer / 1_000_000_000,
            (newer % 1_000_000_000) as u32,
        );
        filetime::set_file_mtime(dir.path().join("in.txt"), newer).unwrap();
        run_ninja(dir.path(), &["out2.txt"]);
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# ninja log v6\n"), "{text}");
        assert_eq!(text.lines().count(), 4, "{text}");

        let mut log = NinjaLog::load(&path).unwrap();
        log.recompact(&path, |_| true).unwrap();
        let explain = run_ninja(dir.path(), &["-n", "-d", "explain", "out2.txt"]);
        assert_eq!(explain, "ninja: no work to do.\n");
    }
}
