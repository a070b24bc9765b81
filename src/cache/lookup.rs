//! Where keys meet the store: the two-level lookup (a manifest of entries,
//! each naming the files and absent places a result depends on, then the
//! result record) and why a lookup missed.

use std::path::PathBuf;

use super::absent::Names;
use super::key::Plan;
use super::probe::Expected;
use super::probe::INPUT_REBUILT;
use super::probe::Overlay;
use super::probe::no_overlay;
use crate::cache::Cache;
use crate::cache::records::{
    FileIdentity, LastSeen, Manifest, ManifestEntry, ResultRecord, decode,
};
use crate::cache::store::{Digest, Namespace, StoreError};

pub(super) enum Lookup {
    Hit(ResultRecord),
    Miss(String),
}

/// The short name of a miss reason, as counted in the statistics
/// (`miss.<slug>`) and reported by `zccache warm`.
pub fn miss_slug(reason: &str) -> &'static str {
    match reason {
        INPUT_REBUILT => "input_rebuilt",
        "new source" => "new_source",
        "source changed" => "source_changed",
        "flags changed" => "flags_changed",
        "compiler changed" => "compiler_changed",
        "environment changed" => "env_changed",
        "no entry" => "no_entry",
        "built in another directory" => "other_directory",
        "stored outputs are damaged" | "cache entry unreadable" => "damaged",
        _ if reason.ends_with(" appeared") => "header_appeared",
        _ => "header_changed",
    }
}

impl Cache {
    pub(super) fn lookup(&self, plan: &Plan) -> Lookup {
        self.lookup_with(plan, &no_overlay, &mut Vec::new())
    }

    /// The one place keys meet the store: a remote cache would be asked
    /// here when the local store has no manifest or result record.
    /// `assumed` receives the files a matching entry needed that the
    /// overlay says are still to be written.
    pub(super) fn lookup_with(
        &self,
        plan: &Plan,
        overlay: &Overlay<'_>,
        assumed: &mut Vec<PathBuf>,
    ) -> Lookup {
        let result_key = if plan.two_level {
            let manifest = match self.get_record::<Manifest>(Namespace::Manifest, &plan.key) {
                Ok(Some(manifest)) => manifest,
                Ok(None) => return Lookup::Miss(self.why_no_manifest(plan)),
                Err(err) => {
                    self.note_store_error("read", &err);
                    return Lookup::Miss("cache entry unreadable".into());
                }
            };
            let mut first_change = None;
            let mut found = None;
            for entry in &manifest.entries {
                let mut pending = Vec::new();
                match self.entry_matches(plan, entry, overlay, &mut pending) {
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
                    return Lookup::Miss(first_change.unwrap_or_else(|| "no entry".to_string()));
                }
            }
        } else {
            plan.key
        };
        match self.get_record::<ResultRecord>(Namespace::Result, &result_key) {
            Ok(Some(record)) if record.fits(plan.outputs.len()) => Lookup::Hit(record),
            Ok(_) => Lookup::Miss("no entry".into()),
            Err(err) => {
                self.note_store_error("read", &err);
                Lookup::Miss("cache entry unreadable".into())
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
    fn why_no_manifest(&self, plan: &Plan) -> String {
        let Some((seen_key, now)) = &plan.last_seen else {
            return "no entry".into();
        };
        match self.get_record::<LastSeen>(Namespace::Manifest, seen_key) {
            Ok(Some(before)) => {
                if before.tool != now.tool {
                    "compiler changed".into()
                } else if before.source != now.source {
                    "source changed".into()
                } else if before.args != now.args {
                    "flags changed".into()
                } else if before.env != now.env {
                    "environment changed".into()
                } else {
                    "no entry".into()
                }
            }
            _ => "new source".into(),
        }
    }

    fn entry_matches(
        &self,
        plan: &Plan,
        entry: &ManifestEntry,
        overlay: &Overlay<'_>,
        pending: &mut Vec<PathBuf>,
    ) -> Result<(), String> {
        if let Some(tied) = &entry.roots
            && !self.roots.serve(tied)
        {
            return Err("built in another directory".into());
        }
        let cwd = &plan.cwd;
        for (index, (path, hash)) in entry.files.iter().enumerate() {
            let path = cwd.join(self.roots.restore(path));
            match overlay(&path) {
                Some(Expected::Content(expected)) if expected == *hash => continue,
                Some(Expected::Content(_)) => return Err(format!("{} changed", path.display())),
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
                return Err(format!("{} changed", path.display()));
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
                Ok(Some(_)) => return Err(format!("{} changed", path.display())),
                _ => return Err(format!("{} is gone", path.display())),
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
                    return Err(format!("{} appeared", path.join(name).display()));
                }
            }
        }
        Ok(())
    }
}
