//! Where keys meet the store: the two-level lookup (a manifest of entries,
//! each naming the files and absent places a result depends on, then the
//! result record) and why a lookup missed.

use std::path::PathBuf;

use super::absent::Names;
use super::key::KeyedStep;
use super::probe::Expected;
use super::probe::Overlay;
use super::probe::no_overlay;
use crate::cache::Cache;
use crate::cache::records::{
    FileIdentity, LastSeen, Manifest, ManifestEntry, ResultRecord, decode,
};
use crate::cache::store::{Namespace, StoreError};
use crate::hash::Digest;

pub(super) enum Lookup {
    Hit(ResultRecord),
    Miss(MissReason),
}

/// Why a step is not restored from the cache: counted in the statistics as
/// `miss.<slug>` (see [`MissKind`]), printed in its words by `-d explain`
/// (its `Display`), and reported both ways by `zccache warm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MissReason {
    /// The source was never cached with this output.
    NewSource,
    /// What changed since this source was last cached.
    CompilerChanged,
    SourceChanged,
    FlagsChanged,
    EnvChanged,
    /// Nothing stored under the key (or what was stored is gone).
    NoEntry,
    /// The only entries are tied to another build dir or source root.
    OtherDirectory,
    /// The stored outputs could not be read back.
    OutputsDamaged,
    /// The manifest or result record could not be read.
    EntryUnreadable,
    /// `zccache warm`: an input is written by a step that will run first.
    InputRebuilt,
    /// A file an entry read has other content now.
    FileChanged(PathBuf),
    /// A file an entry read is gone.
    FileGone(PathBuf),
    /// A file appeared where an entry needs none (a shadowing header).
    FileAppeared(PathBuf),
}

impl MissReason {
    pub fn kind(&self) -> MissKind {
        match self {
            MissReason::NewSource => MissKind::NewSource,
            MissReason::CompilerChanged => MissKind::CompilerChanged,
            MissReason::SourceChanged => MissKind::SourceChanged,
            MissReason::FlagsChanged => MissKind::FlagsChanged,
            MissReason::EnvChanged => MissKind::EnvChanged,
            MissReason::NoEntry => MissKind::NoEntry,
            MissReason::OtherDirectory => MissKind::OtherDirectory,
            MissReason::OutputsDamaged | MissReason::EntryUnreadable => MissKind::Damaged,
            MissReason::InputRebuilt => MissKind::InputRebuilt,
            MissReason::FileChanged(_) | MissReason::FileGone(_) => MissKind::HeaderChanged,
            MissReason::FileAppeared(_) => MissKind::HeaderAppeared,
        }
    }

    /// The statistics' short name (`miss.<slug>`).
    pub fn slug(&self) -> &'static str {
        self.kind().slug()
    }
}

impl std::fmt::Display for MissReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MissReason::NewSource => f.write_str("new source"),
            MissReason::CompilerChanged => f.write_str("compiler changed"),
            MissReason::SourceChanged => f.write_str("source changed"),
            MissReason::FlagsChanged => f.write_str("flags changed"),
            MissReason::EnvChanged => f.write_str("environment changed"),
            MissReason::NoEntry => f.write_str("no entry"),
            MissReason::OtherDirectory => f.write_str("built in another directory"),
            MissReason::OutputsDamaged => f.write_str("stored outputs are damaged"),
            MissReason::EntryUnreadable => f.write_str("cache entry unreadable"),
            MissReason::InputRebuilt => f.write_str("input rebuilt"),
            MissReason::FileChanged(path) => write!(f, "{} changed", path.display()),
            MissReason::FileGone(path) => write!(f, "{} is gone", path.display()),
            MissReason::FileAppeared(path) => write!(f, "{} appeared", path.display()),
        }
    }
}

/// The reasons of misses as counted: one statistics name each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissKind {
    NewSource,
    CompilerChanged,
    SourceChanged,
    FlagsChanged,
    EnvChanged,
    NoEntry,
    OtherDirectory,
    Damaged,
    InputRebuilt,
    HeaderChanged,
    HeaderAppeared,
}

impl MissKind {
    pub const ALL: [MissKind; 11] = [
        MissKind::NewSource,
        MissKind::CompilerChanged,
        MissKind::SourceChanged,
        MissKind::FlagsChanged,
        MissKind::EnvChanged,
        MissKind::NoEntry,
        MissKind::OtherDirectory,
        MissKind::Damaged,
        MissKind::InputRebuilt,
        MissKind::HeaderChanged,
        MissKind::HeaderAppeared,
    ];

    /// The short name counted as `miss.<slug>` and reported by `zccache warm`.
    pub fn slug(self) -> &'static str {
        self.names().0
    }

    /// The kind as a count of things, as `zccache warm` sums up misses:
    /// `1 changed header`, `2 changed headers`.
    pub fn counted(self, count: usize) -> &'static str {
        let (_, one, many) = self.names();
        if count == 1 { one } else { many }
    }

    /// The slug, then the words for one and for many.
    fn names(self) -> (&'static str, &'static str, &'static str) {
        match self {
            MissKind::NewSource => ("new_source", "new source", "new sources"),
            MissKind::SourceChanged => ("source_changed", "changed source", "changed sources"),
            MissKind::HeaderChanged => ("header_changed", "changed header", "changed headers"),
            MissKind::HeaderAppeared => (
                "header_appeared",
                "new shadowing header",
                "new shadowing headers",
            ),
            MissKind::FlagsChanged => ("flags_changed", "changed flags", "changed flags"),
            MissKind::CompilerChanged => {
                ("compiler_changed", "changed compiler", "changed compiler")
            }
            MissKind::EnvChanged => ("env_changed", "changed environment", "changed environment"),
            MissKind::InputRebuilt => ("input_rebuilt", "input rebuilt", "inputs rebuilt"),
            MissKind::OtherDirectory => (
                "other_directory",
                "built in another dir",
                "built in another dir",
            ),
            MissKind::NoEntry => ("no_entry", "not in cache", "not in cache"),
            MissKind::Damaged => ("damaged", "damaged entry", "damaged entries"),
        }
    }

    /// The kind a slug names.
    pub fn from_slug(slug: &str) -> Option<MissKind> {
        MissKind::ALL.into_iter().find(|kind| kind.slug() == slug)
    }
}

impl Cache {
    pub(super) fn lookup(&self, keyed: &KeyedStep) -> Lookup {
        self.lookup_with(keyed, &no_overlay, &mut Vec::new())
    }

    /// The one place keys meet the store: a remote cache would be asked
    /// here when the local store has no manifest or result record.
    /// `assumed` receives the files a matching entry needed that the
    /// overlay says are still to be written.
    pub(super) fn lookup_with(
        &self,
        keyed: &KeyedStep,
        overlay: &Overlay<'_>,
        assumed: &mut Vec<PathBuf>,
    ) -> Lookup {
        let result_key = if keyed.two_level {
            let manifest = match self.get_record::<Manifest>(Namespace::Manifest, &keyed.key) {
                Ok(Some(manifest)) => manifest,
                Ok(None) => return Lookup::Miss(self.why_no_manifest(keyed)),
                Err(err) => {
                    self.note_store_error("read", &err);
                    return Lookup::Miss(MissReason::EntryUnreadable);
                }
            };
            let mut first_change = None;
            let mut found = None;
            for entry in &manifest.entries {
                let mut pending = Vec::new();
                match self.entry_matches(keyed, entry, overlay, &mut pending) {
                    Ok(()) => {
                        found = Some(entry.result);
                        *assumed = pending;
                        break;
                    }
                    Err(change) => {
                        first_change.get_or_insert(change);
                    }
                }
            }
            match found {
                Some(result) => result,
                None => {
                    return Lookup::Miss(first_change.unwrap_or(MissReason::NoEntry));
                }
            }
        } else {
            keyed.key
        };
        match self.get_record::<ResultRecord>(Namespace::Result, &result_key) {
            Ok(Some(record)) if record.fits(keyed.outputs.len()) => Lookup::Hit(record),
            Ok(_) => Lookup::Miss(MissReason::NoEntry),
            Err(err) => {
                self.note_store_error("read", &err);
                Lookup::Miss(MissReason::EntryUnreadable)
            }
        }
    }

    pub(super) fn get_record<T: serde::de::DeserializeOwned>(
        &self,
        namespace: Namespace,
        key: &Digest,
    ) -> Result<Option<T>, StoreError> {
        let Some(bytes) = self.store.get_record(namespace, key)? else {
            return Ok(None);
        };
        match decode::<T>(&bytes) {
            Some(value) => Ok(Some(value)),
            // An older layout under the same version: a miss, rewritten on store.
            None => Ok(None),
        }
    }

    /// Says what changed since this source was last cached.
    fn why_no_manifest(&self, keyed: &KeyedStep) -> MissReason {
        let Some((seen_key, now)) = &keyed.last_seen else {
            return MissReason::NoEntry;
        };
        match self.get_record::<LastSeen>(Namespace::Manifest, seen_key) {
            Ok(Some(before)) => {
                if before.tool != now.tool {
                    MissReason::CompilerChanged
                } else if before.source != now.source {
                    MissReason::SourceChanged
                } else if before.args != now.args {
                    MissReason::FlagsChanged
                } else if before.env != now.env {
                    MissReason::EnvChanged
                } else {
                    MissReason::NoEntry
                }
            }
            _ => MissReason::NewSource,
        }
    }

    fn entry_matches(
        &self,
        keyed: &KeyedStep,
        entry: &ManifestEntry,
        overlay: &Overlay<'_>,
        pending: &mut Vec<PathBuf>,
    ) -> Result<(), MissReason> {
        if let Some(tied) = &entry.roots
            && !self.roots.serve(tied)
        {
            return Err(MissReason::OtherDirectory);
        }
        let cwd = &keyed.cwd;
        for (index, (path, hash)) in entry.files.iter().enumerate() {
            let path = cwd.join(self.roots.restore(path));
            match overlay(&path) {
                Some(Expected::Content(expected)) if expected == *hash => continue,
                Some(Expected::Content(_)) => return Err(MissReason::FileChanged(path)),
                Some(Expected::Pending) => {
                    pending.push(path);
                    continue;
                }
                None => {}
            }
            if let Some(facts) = self.files.known(&path) {
                if facts.hash == *hash {
                    continue;
                }
                return Err(MissReason::FileChanged(path));
            }
            if let Some(Some(identity)) = entry.identities.get(index)
                && let Ok(Some(stat)) = crate::hash::stat(&path.to_string_lossy())
                && !stat.not_regular
                && FileIdentity::of(&stat) == *identity
            {
                continue;
            }
            match self.files.facts(&path) {
                Ok(Some(facts)) if facts.hash == *hash => {}
                Ok(Some(_)) => return Err(MissReason::FileChanged(path)),
                _ => return Err(MissReason::FileGone(path)),
            }
        }
        // One listing (one stat at most) per dir.
        for (dir, names) in &entry.absent {
            let path = cwd.join(self.roots.restore(dir));
            let listing: Option<Names> = self.listings.listing(&path);
            for name in names {
                let first = name.split('/').next().unwrap_or(name);
                let may_exist = listing.as_ref().is_none_or(|names| names.contains(first));
                if may_exist && path.join(name).exists() {
                    return Err(MissReason::FileAppeared(path.join(name)));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reason_has_its_slug_and_words() {
        let path = || PathBuf::from("/p/a.h");
        let cases = [
            (MissReason::NewSource, "new_source", "new source"),
            (
                MissReason::CompilerChanged,
                "compiler_changed",
                "compiler changed",
            ),
            (
                MissReason::SourceChanged,
                "source_changed",
                "source changed",
            ),
            (MissReason::FlagsChanged, "flags_changed", "flags changed"),
            (MissReason::EnvChanged, "env_changed", "environment changed"),
            (MissReason::NoEntry, "no_entry", "no entry"),
            (
                MissReason::OtherDirectory,
                "other_directory",
                "built in another directory",
            ),
            (
                MissReason::OutputsDamaged,
                "damaged",
                "stored outputs are damaged",
            ),
            (
                MissReason::EntryUnreadable,
                "damaged",
                "cache entry unreadable",
            ),
            (MissReason::InputRebuilt, "input_rebuilt", "input rebuilt"),
            (
                MissReason::FileChanged(path()),
                "header_changed",
                "/p/a.h changed",
            ),
            (
                MissReason::FileGone(path()),
                "header_changed",
                "/p/a.h is gone",
            ),
            (
                MissReason::FileAppeared(path()),
                "header_appeared",
                "/p/a.h appeared",
            ),
        ];
        for (reason, slug, text) in cases {
            assert_eq!((reason.slug(), reason.to_string().as_str()), (slug, text));
            assert_eq!(MissKind::from_slug(slug), Some(reason.kind()));
        }
        assert_eq!(
            MissKind::from_slug("header_changed").map(|k| k.counted(2)),
            Some("changed headers")
        );
    }
}
