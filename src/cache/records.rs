//! What the cache stores about a step, besides the output blobs.
//!
//! Compiles and links are looked up in two steps, as ccache's direct and
//! depend modes do: a [`Manifest`], keyed by what is known before running
//! (tool, arguments, the source or explicit inputs), lists the sets of
//! further files (headers, libraries) earlier runs read, each with their
//! content hashes; the first set whose files all still have those hashes
//! names the [`ResultRecord`]. Archives have no hidden inputs and key
//! their result directly. Paths in records are normalized by
//! [`crate::cache::roots::Roots`].

use serde::{Deserialize, Serialize};

use crate::hash::Digest;

/// Bumped whenever a key's ingredients or a record's layout change, so old
/// entries simply stop matching.
pub const KEY_VERSION: &[u8] = b"zccache-key-v4\0";

/// Older sets beyond this are dropped: a source whose headers change often
/// would otherwise grow its manifest without end.
pub const MAX_MANIFEST_ENTRIES: usize = 16;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub entries: Vec<ManifestEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ManifestEntry {
    /// Files read besides the ones in the manifest's key, with the hashes
    /// they had.
    pub files: Vec<(String, Digest)>,
    /// For each of `files`, its identity when it was hashed (unless it had
    /// just changed): a file that still has it need not be read again,
    /// which is most of a launcher hit's work otherwise.
    pub identities: Vec<Option<FileIdentity>>,
    /// Files that did not exist and would have been read instead had they
    /// existed (a header in an earlier include dir): each dir once, with
    /// the names that must stay absent in it (see [`group_absent`]), so a
    /// lookup lists each dir once and a C++ compile's thousands of places
    /// do not each repeat their dir.
    pub absent: Vec<(String, Vec<String>)>,
    /// Set when an output embeds the build dir or the source root: the
    /// entry then serves only builds with the same root where one is
    /// given, (build dir, source root).
    pub roots: Option<TiedRoots>,
    pub result: Digest,
}

/// The build dir and source root an entry's outputs embed (`None`: that
/// root does not appear in them).
pub type TiedRoots = (Option<String>, Option<String>);

/// `places` (dir, name), sorted, grouped by dir.
pub fn group_absent(places: Vec<(String, String)>) -> Vec<(String, Vec<String>)> {
    let mut grouped: Vec<(String, Vec<String>)> = Vec::new();
    for (dir, name) in places {
        match grouped.last_mut() {
            Some((last, names)) if *last == dir => names.push(name),
            _ => grouped.push((dir, vec![name])),
        }
    }
    grouped
}

/// What a file's content hash is remembered by, as in the build state.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileIdentity {
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
}

impl FileIdentity {
    pub fn of(stat: &crate::hash::FileStat) -> FileIdentity {
        FileIdentity {
            ino: stat.ino,
            size: stat.size,
            mtime_ns: stat.mtime_ns,
            ctime_ns: stat.ctime_ns,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ResultRecord {
    /// One per output of the invocation, in its order.
    pub outputs: Vec<StoredOutput>,
    pub depfile: Option<StoredDepfile>,
    /// Normalized like paths when `normalized_text`.
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub normalized_text: bool,
    pub exit_code: i32,
    /// How long the real run took: the time a hit saves.
    pub duration_ms: u64,
}

impl ResultRecord {
    /// Whether this record can be the result of a step with `outputs`
    /// outputs: the cache stores only successful runs, one blob per output
    /// in the step's order. Any other record was not written by it, and is
    /// a miss rather than something to make sense of.
    pub fn fits(&self, outputs: usize) -> bool {
        self.outputs.len() == outputs && self.exit_code == 0
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StoredOutput {
    pub blob: Digest,
    pub size: u64,
    pub mode: u32,
}

/// A depfile is text naming paths, so it is stored normalized and written
/// back with this build's paths and target.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StoredDepfile {
    pub text: Vec<u8>,
    /// The target the text starts with, as the compiler wrote it.
    pub target: String,
}

/// What a source was last cached with, to tell why a later compile of it
/// missed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LastSeen {
    pub tool: Digest,
    pub args: Digest,
    pub source: Digest,
    pub env: Digest,
}

pub fn encode<T: Serialize>(value: &T) -> Option<Vec<u8>> {
    bincode::serialize(value).ok()
}

pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Option<T> {
    bincode::deserialize(bytes).ok()
}

/// Incremental key building with unambiguous field boundaries.
pub struct KeyHasher(blake3::Hasher);

impl KeyHasher {
    pub fn new(kind: &str) -> KeyHasher {
        let mut hasher = blake3::Hasher::new();
        hasher.update(KEY_VERSION);
        let mut key = KeyHasher(hasher);
        key.field(kind.as_bytes());
        key
    }

    pub fn field(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.update(&(bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
        self
    }

    pub fn text(&mut self, text: &str) -> &mut Self {
        self.field(text.as_bytes())
    }

    pub fn finish(&self) -> Digest {
        *self.0.finalize().as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_do_not_run_together() {
        let mut a = KeyHasher::new("k");
        a.text("ab").text("c");
        let mut b = KeyHasher::new("k");
        b.text("a").text("bc");
        assert_ne!(a.finish(), b.finish());
    }

    #[test]
    fn records_round_trip_and_garbage_is_rejected() {
        let manifest = Manifest {
            entries: vec![ManifestEntry {
                files: vec![("\u{1}S\u{1}/a.h".into(), [7; 32])],
                identities: vec![None],
                absent: group_absent(vec![
                    ("/usr/include".into(), "a.h".into()),
                    ("/usr/include".into(), "b.h".into()),
                    ("/usr/local/include".into(), "a.h".into()),
                ]),
                roots: None,
                result: [9; 32],
            }],
        };
        assert_eq!(
            manifest.entries[0].absent,
            [
                ("/usr/include".into(), vec!["a.h".into(), "b.h".into()]),
                ("/usr/local/include".into(), vec!["a.h".into()]),
            ]
        );
        let bytes = encode(&manifest).unwrap();
        assert_eq!(decode::<Manifest>(&bytes), Some(manifest));
        assert_eq!(decode::<Manifest>(&bytes[..bytes.len() / 2]), None);
    }
}
