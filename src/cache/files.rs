//! Content hashes of the files a cached step read (sources, headers,
//! objects, libraries), and the facts about their text that decide whether
//! a compile may be cached at all.
//!
//! One build asks for the same system headers thousands of times, so each
//! file is read once per process and then recognized by its stat; files
//! outside the build's roots (the toolchain's headers and libraries) are
//! trusted after the first look, as a build does not change them.
//!
//! Memos keep the facts between processes: the build dir keeps those of
//! the project's files (`.zccache_files`), the cache those of every other
//! file (the toolchain's headers and libraries), so the build after
//! `zccache warm` or another build, and a launcher call after another,
//! read no file whose stat is unchanged. A remembered file is always
//! stat-checked once before its facts are used, system headers included.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use memchr::memmem;
use serde::{Deserialize, Serialize};

use crate::hash::{Digest, FileStat};

/// What a cached step needs to know about one input file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileFacts {
    pub hash: Digest,
    /// Mentions `__DATE__` or `__TIME__` (pinned only by SOURCE_DATE_EPOCH).
    pub date_time: bool,
    /// Mentions `__TIMESTAMP__` (the file's mtime: never cacheable).
    pub timestamp: bool,
    /// May make the assembler read a file the depfile does not list
    /// (`.incbin`, `.include`): never cacheable.
    pub assembler_reads: bool,
    /// Has an `#include` (or `#include_next`, `#import`) not of the form
    /// `<…>`: one searched from this file's own dir first.
    pub quote_include: bool,
    /// Mentions `__has_include`: names it probes are inputs even when absent.
    pub has_include: bool,
    /// The pieces of time macro names it holds as identifiers, anywhere
    /// and outside comments, and whether it pastes tokens (see
    /// [`crate::cache::time_macros`]).
    pub time_pieces: u128,
    pub time_code_pieces: u128,
    pub pastes: bool,
}

/// Which comments a compile's source has (see
/// [`crate::cache::source_text`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CommentDialect {
    BlockAndLine,
    /// Strict C90: `//` is code.
    BlockOnly,
}

/// A source's facts and comment-blind hash (`None`: refused), with the
/// stat they were computed at.
type BlindHash = (FileStat, FileFacts, Option<Digest>);

/// Files changed less than this long ago may change again within one mtime
/// tick unnoticed; they are hashed again on each use.
const RACY_NS: i64 = 2_000_000_000;

#[derive(Default)]
pub struct FileHasher {
    known: Mutex<HashMap<PathBuf, (FileStat, FileFacts)>>,
    /// Sources' comment-blind hashes (see [`crate::cache::source_text`]).
    blind: Mutex<HashMap<(PathBuf, CommentDialect), BlindHash>>,
    /// Files under these prefixes may change during a build (they are the
    /// project's own), so their stat is checked on every use.
    volatile: Vec<String>,
    /// Facts an earlier process saved: used once the file's stat matches.
    remembered: Mutex<HashMap<PathBuf, (FileStat, FileFacts)>>,
    /// A project file was hashed since the memos were loaded.
    learned: AtomicBool,
    /// A file outside the project was hashed since then.
    learned_outside: AtomicBool,
    /// The memo of files outside the project, read on first need: a
    /// launcher call that hits needs none.
    outside_memo: Mutex<Option<PathBuf>>,
}

/// The on-disk memo: a version, then the two maps.
const MEMO_VERSION: u32 = 5;

#[derive(Serialize, Deserialize)]
struct Memo {
    version: u32,
    facts: Vec<(PathBuf, FileStat, FileFacts)>,
    blind: Vec<(PathBuf, CommentDialect, BlindHash)>,
}

impl FileHasher {
    pub fn new(volatile_roots: &[&str]) -> FileHasher {
        FileHasher {
            known: Mutex::new(HashMap::new()),
            blind: Mutex::new(HashMap::new()),
            volatile: volatile_roots.iter().map(|r| r.to_string()).collect(),
            remembered: Mutex::new(HashMap::new()),
            learned: AtomicBool::new(false),
            learned_outside: AtomicBool::new(false),
            outside_memo: Mutex::new(None),
        }
    }

    /// Reads the memo of files outside the project at `path` when a fact is
    /// first needed.
    pub fn load_outside_lazily(&self, path: PathBuf) {
        *self.outside_memo.lock().unwrap_or_else(|p| p.into_inner()) = Some(path);
    }

    fn load_pending(&self) {
        let pending = self
            .outside_memo
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(path) = pending {
            self.load(&path);
        }
    }

    fn note_learned(&self, path: &Path, volatile: bool) {
        if volatile || self.is_volatile(path) {
            self.learned.store(true, Ordering::Relaxed);
        } else {
            self.learned_outside.store(true, Ordering::Relaxed);
        }
    }

    /// Takes in what [`FileHasher::save_project`] or
    /// [`FileHasher::save_outside`] wrote; a missing, unreadable or
    /// older memo is simply not used.
    pub fn load(&self, path: &Path) {
        let mut bytes = Vec::new();
        let read = super::nofollow::open_regular(path)
            .and_then(|mut file| io::Read::read_to_end(&mut file, &mut bytes));
        if read.is_err() {
            return;
        }
        let Ok(memo) = bincode::deserialize::<Memo>(&bytes) else {
            return;
        };
        if memo.version != MEMO_VERSION {
            return;
        }
        let mut remembered = self.remembered.lock().unwrap_or_else(|p| p.into_inner());
        remembered.extend(
            memo.facts
                .into_iter()
                .map(|(path, stat, facts)| (path, (stat, facts))),
        );
        // Comment-blind hashes are checked against the stat on every use.
        self.blind.lock().unwrap_or_else(|p| p.into_inner()).extend(
            memo.blind
                .into_iter()
                .map(|(path, dialect, known)| ((path, dialect), known)),
        );
    }

    /// Writes the memo of the project's files (atomically) when this
    /// process hashed any.
    pub fn save_project(&self, path: &Path) -> io::Result<()> {
        if !self.learned.load(Ordering::Relaxed) {
            return Ok(());
        }
        let known = self.lock().clone();
        // Sources this process used are in `known` with their current
        // stat; any other entry is kept only while its file is unchanged,
        // so the memo never keeps deleted or edited files.
        let blind = self
            .blind
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|((path, _), (stat, _, _))| match known.get(path) {
                Some((current, _)) => current == stat,
                None => still_at(path, stat),
            })
            .map(|((path, dialect), known)| (path.clone(), *dialect, *known))
            .collect();
        self.write_memo(path, known, |file| self.is_volatile(file), blind)
    }

    /// Writes the memo of files outside the project (atomically) when this
    /// process hashed any; entries another process added meanwhile may be
    /// lost, which only costs a read later.
    pub fn save_outside(&self, path: &Path) -> io::Result<()> {
        if !self.learned_outside.load(Ordering::Relaxed) {
            return Ok(());
        }
        self.load_pending();
        let known = self.lock().clone();
        self.write_memo(path, known, |file| !self.is_volatile(file), Vec::new())
    }

    /// `known` (what this process used), plus remembered entries it did not
    /// use whose file is unchanged, limited to the files `keep` takes.
    fn write_memo(
        &self,
        path: &Path,
        known: HashMap<PathBuf, (FileStat, FileFacts)>,
        keep: impl Fn(&Path) -> bool,
        blind: Vec<(PathBuf, CommentDialect, BlindHash)>,
    ) -> io::Result<()> {
        let mut facts = known;
        facts.retain(|file, _| keep(file));
        let remembered = self.remembered.lock().unwrap_or_else(|p| p.into_inner());
        for (file, (stat, file_facts)) in remembered.iter() {
            if !facts.contains_key(file) && keep(file) && still_at(file, stat) {
                facts.insert(file.clone(), (*stat, *file_facts));
            }
        }
        drop(remembered);
        let memo = Memo {
            version: MEMO_VERSION,
            facts: facts
                .into_iter()
                .map(|(path, (stat, facts))| (path, stat, facts))
                .collect(),
            blind,
        };
        let bytes = bincode::serialize(&memo).map_err(io::Error::other)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir)?;
        let mut temp = tempfile::NamedTempFile::new_in(dir)?;
        io::Write::write_all(&mut temp, &bytes)?;
        temp.persist(path).map_err(|err| err.error)?;
        Ok(())
    }

    fn is_volatile(&self, path: &Path) -> bool {
        let text = path.to_string_lossy();
        self.volatile
            .iter()
            .any(|root| text.starts_with(root.as_str()))
    }

    /// The file's facts, `Ok(None)` when it does not exist.
    pub fn facts(&self, path: &Path) -> io::Result<Option<FileFacts>> {
        let volatile = self.is_volatile(path);
        if !volatile && let Some((_, facts)) = self.lock().get(path) {
            return Ok(Some(*facts));
        }
        let Some(stat) = stat(path)? else {
            return Ok(None);
        };
        self.facts_with(path, stat, volatile).map(Some)
    }

    /// The facts of the file `path` whose stat the caller just took.
    pub fn facts_at(&self, path: &Path, stat: FileStat) -> io::Result<FileFacts> {
        self.facts_with(path, stat, self.is_volatile(path))
    }

    fn facts_with(&self, path: &Path, stat: FileStat, volatile: bool) -> io::Result<FileFacts> {
        if let Some((known_stat, facts)) = self.lock().get(path)
            && *known_stat == stat
        {
            return Ok(*facts);
        }
        self.load_pending();
        let remembered = self
            .remembered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(path)
            .filter(|(known_stat, _)| *known_stat == stat)
            .map(|&(_, facts)| facts);
        if let Some(facts) = remembered {
            self.lock().insert(path.to_path_buf(), (stat, facts));
            return Ok(facts);
        }
        self.note_learned(path, volatile);
        let facts = if stat.not_regular {
            FileFacts {
                hash: crate::hash::hash_file(&path.to_string_lossy(), &stat)?,
                date_time: false,
                timestamp: false,
                assembler_reads: false,
                quote_include: false,
                has_include: false,
                time_pieces: 0,
                time_code_pieces: 0,
                pastes: false,
            }
        } else {
            scan(&fs::read(path)?)
        };
        if !is_racy(&stat) {
            self.lock().insert(path.to_path_buf(), (stat, facts));
        }
        Ok(facts)
    }

    /// The facts of a file outside the project seen before by this process,
    /// without any system call (see the module doc).
    pub fn known(&self, path: &Path) -> Option<FileFacts> {
        if self.is_volatile(path) {
            return None;
        }
        self.lock().get(path).map(|(_, facts)| *facts)
    }

    /// A source's facts and, when `dialect` says how to find its comments,
    /// its comment-blind hash, from one read.
    pub fn source_facts(
        &self,
        path: &Path,
        dialect: Option<CommentDialect>,
    ) -> io::Result<Option<(FileFacts, Option<Digest>)>> {
        let Some(dialect) = dialect else {
            return Ok(self.facts(path)?.map(|facts| (facts, None)));
        };
        let Some(stat) = stat(path)? else {
            return Ok(None);
        };
        let memo_key = (path.to_path_buf(), dialect);
        let known = self
            .blind
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&memo_key)
            .filter(|(known, _, _)| *known == stat)
            .map(|&(_, facts, blind)| (facts, blind));
        if let Some(known) = known {
            return Ok(Some(known));
        }
        if stat.not_regular {
            return Ok(self.facts(path)?.map(|facts| (facts, None)));
        }
        self.note_learned(path, false);
        let content = fs::read(path)?;
        let facts = scan(&content);
        let blind = match dialect {
            CommentDialect::BlockAndLine => crate::cache::source_text::comment_blind_hash(&content),
            CommentDialect::BlockOnly => {
                crate::cache::source_text::comment_blind_hash_c90(&content)
            }
        };
        if !is_racy(&stat) {
            self.lock().insert(path.to_path_buf(), (stat, facts));
            self.blind
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(memo_key, (stat, facts, blind));
        }
        Ok(Some((facts, blind)))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, (FileStat, FileFacts)>> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn stat(path: &Path) -> io::Result<Option<FileStat>> {
    crate::hash::stat(&path.to_string_lossy())
}

/// Whether the file at `path` still has the stat `stat`.
fn still_at(path: &Path, stat: &FileStat) -> bool {
    matches!(self::stat(path), Ok(Some(current)) if current == *stat)
}

/// Whether `stat` may still change without its times showing it.
pub fn is_racy(stat: &FileStat) -> bool {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(i64::MAX);
    now - stat.mtime_ns.max(stat.ctime_ns) < RACY_NS
}

/// Hashes `content` and looks for the macros that tie an object to the
/// time or place it was compiled.
pub fn scan(content: &[u8]) -> FileFacts {
    let mentions = |needle: &[u8]| memmem::find(content, needle).is_some();
    let has_underscores = mentions(b"__");
    let tokens = crate::cache::time_macros::tokens(content);
    FileFacts {
        hash: *blake3::hash(content).as_bytes(),
        date_time: tokens.date_time
            || (has_underscores && (mentions(b"__DATE__") || mentions(b"__TIME__"))),
        timestamp: tokens.timestamp || (has_underscores && mentions(b"__TIMESTAMP__")),
        assembler_reads: assembler_reads(content),
        quote_include: has_quote_include(content),
        has_include: has_underscores && mentions(b"__has_include"),
        time_pieces: tokens.pieces,
        time_code_pieces: tokens.code_pieces,
        pastes: tokens.pastes,
    }
}

/// Whether `content` may hold an assembler directive that reads a file
/// (`.incbin "blob"`, `.include "x.s"`), in an assembly source or in inline
/// assembly: the depfile never lists such a file, so its content cannot be
/// keyed. Assembler directives ignore case. `incbin` is looked for anywhere,
/// `.include` only before a blank, a quote or an escape (C++'s `.IncludeDirs` is a
/// member). As ccache does, a directive spelled through string
/// concatenation or an assembler macro is not seen.
fn assembler_reads(content: &[u8]) -> bool {
    fn at(content: &[u8], start: usize, word: &[u8]) -> bool {
        content
            .get(start..start + word.len())
            .is_some_and(|found| found.eq_ignore_ascii_case(word))
    }
    // Anchored on the rarer letter of each word: `b` of incbin, `.` of .include.
    let incbin =
        memchr::memchr2_iter(b'b', b'B', content).any(|b| b >= 3 && at(content, b - 3, b"incbin"));
    incbin
        || memchr::memchr_iter(b'.', content).any(|dot| {
            at(content, dot, b".include")
                && matches!(content.get(dot + 8), Some(b' ' | b'\t' | b'"' | b'\\'))
        })
}

/// Whether `content` has an include directive whose operand is not `<…>`
/// (a quoted name, or a macro that may expand to one). A directive's `#`
/// starts its line (after blanks or a comment); the word in a comment (`#included`, `\\#include`)
/// rarely does, and only costs a few more places to check when it does.
fn has_quote_include(content: &[u8]) -> bool {
    let blank = |b: u8| matches!(b, b' ' | b'\t' | b'\\' | b'\r' | b'\n');
    let starts_line = |hash: usize| {
        let before = content[..hash]
            .iter()
            .rev()
            .find(|&&b| !matches!(b, b' ' | b'\t'));
        // `/* … */ #include` is a directive too.
        matches!(before, None | Some(b'\n' | b'/'))
    };
    [&b"include"[..], b"import"].iter().any(|keyword| {
        memmem::find_iter(content, keyword).any(|at| {
            let hash = content[..at].iter().rposition(|&b| !blank(b));
            if !hash.is_some_and(|hash| content[hash] == b'#' && starts_line(hash)) {
                return false;
            }
            let mut rest = &content[at + keyword.len()..];
            if let Some(tail) = rest.strip_prefix(b"_next") {
                rest = tail;
            }
            rest.iter().find(|&&b| !blank(b)) != Some(&b'<')
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_for_time_and_place_macros() {
        let facts = scan(b"const char *d = __DATE__; int x = __LINE__;");
        assert!(facts.date_time && !facts.timestamp);
        let facts = scan(b"puts(__FILE__); puts(__TIMESTAMP__);");
        assert!(!facts.date_time && facts.timestamp);
        assert!(!scan(b"int main() { return 0; }").date_time);
    }

    #[test]
    fn finds_assembler_directives_that_read_files() {
        assert!(scan(b"__asm__(\".incbin \\\"blob.bin\\\"\");").assembler_reads);
        assert!(scan(b"  .INCBIN \"x\"\n").assembler_reads);
        assert!(scan(b"\t.include \"macros.s\"\n").assembler_reads);
        assert!(scan(b"asm(\".include\\t\\\"m.s\\\"\");").assembler_reads);
        assert!(!scan(b"#include <stdio.h>\nint b;").assembler_reads);
        assert!(!scan(b"return Buffers[i].IncludeLoc;").assembler_reads);
        assert!(!scan(b"bin inc b").assembler_reads);
    }

    #[test]
    fn scans_for_includes_searched_beside_the_file_and_has_include() {
        assert!(!scan(b"#include <a.h>\n# include_next <b.h>\n/* included */").quote_include);
        assert!(!scan(b"/* You should \\#include this, #include \"x\" */").quote_include);
        assert!(scan(b"#include \"a.h\"\n").quote_include);
        assert!(scan(b"  #  include_next\t\"a.h\"").quote_include);
        assert!(scan(b"#include HEADER\n").quote_include);
        assert!(scan(b"#import \"a.h\"\n").quote_include);
        assert!(scan(b"int x;\r\n/* c */ #include \"a.h\"\n").quote_include);
        assert!(!scan(b"#if defined(X)\n#endif\n").has_include);
        assert!(scan(b"#if __has_include(<a.h>)\n#endif\n").has_include);
    }

    #[test]
    fn a_saved_memo_spares_reading_unchanged_files_and_never_hides_a_change() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("a.c");
        let header = dir.path().join("a.h");
        fs::write(&source, "int a; // note\n").unwrap();
        fs::write(&header, "int h;\n").unwrap();
        let old = filetime::FileTime::from_unix_time(1_600_000_000, 0);
        for path in [&source, &header] {
            filetime::set_file_mtime(path, old).unwrap();
        }
        // Setting the mtime set the ctime to now: wait out the racy window.
        std::thread::sleep(std::time::Duration::from_nanos(
            RACY_NS as u64 + 100_000_000,
        ));
        let memo = dir.path().join(".zccache_files");
        let outside = dir.path().join("cache/outside");
        // The header is outside the project: trusted unstat'ed within one
        // process, but not across processes.
        let project = source.to_string_lossy().to_string();
        let first = FileHasher::new(&[&project]);
        let header_facts = first.facts(&header).unwrap().unwrap();
        let source_facts = first
            .source_facts(&source, Some(CommentDialect::BlockAndLine))
            .unwrap()
            .unwrap();
        first.save_project(&memo).unwrap();
        first.save_outside(&outside).unwrap();

        let second = FileHasher::new(&[&project]);
        second.load(&memo);
        second.load_outside_lazily(outside.clone());
        assert_eq!(second.facts(&header).unwrap(), Some(header_facts));
        let again = second
            .source_facts(&source, Some(CommentDialect::BlockAndLine))
            .unwrap();
        assert_eq!(again, Some(source_facts));
        assert!(!second.learned.load(Ordering::Relaxed), "read a file again");
        assert!(
            !second.learned_outside.load(Ordering::Relaxed),
            "read a file again"
        );
        assert!(outside.exists() && memo.exists());

        // A file a process did not use leaves the memo once it is gone.
        fs::remove_file(&header).unwrap();
        let unused = FileHasher::new(&[&project]);
        unused.load_outside_lazily(outside.clone());
        unused.learned_outside.store(true, Ordering::Relaxed);
        unused.save_outside(&outside).unwrap();
        let pruned = FileHasher::new(&[&project]);
        pruned.load(&outside);
        assert!(pruned.remembered.lock().unwrap().is_empty());
        fs::write(&header, "int h;\n").unwrap();
        filetime::set_file_mtime(&header, old).unwrap();

        let third = FileHasher::new(&[&project]);
        third.load(&memo);
        third.load_outside_lazily(outside.clone());
        fs::write(&header, "int h2;\n").unwrap();
        filetime::set_file_mtime(&header, old).unwrap();
        let changed = third.facts(&header).unwrap().unwrap();
        assert_eq!(changed.hash, *blake3::hash(b"int h2;\n").as_bytes());
    }

    #[test]
    fn notices_changes_in_volatile_files_and_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_string_lossy().to_string();
        let hasher = FileHasher::new(&[&root]);
        let path = dir.path().join("a.h");
        assert_eq!(hasher.facts(&path).unwrap(), None);
        fs::write(&path, "one").unwrap();
        let first = hasher.facts(&path).unwrap().unwrap();
        fs::write(&path, "two!").unwrap();
        let second = hasher.facts(&path).unwrap().unwrap();
        assert_ne!(first.hash, second.hash);
        assert_eq!(second.hash, *blake3::hash(b"two!").as_bytes());
    }
}
