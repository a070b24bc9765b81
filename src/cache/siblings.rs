//! What launcher mode knows of compiles of one source that differ only in
//! preprocessor flags (a library built static and shared), kept in the
//! memory of the process that serves the calls (the launcher's helper).
//!
//! Never in the cache: a sibling's arguments are run (with `-E`) to compare
//! its preprocessed text, and nothing read from the cache is ever run or
//! passed to a tool. What is remembered here came from this user's own
//! calls; a process that serves one call alone pairs nothing.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::in_flight::Claim;
use super::in_flight::InFlight;
use super::key::KeyedStep;
use super::lookup::Lookup;
use crate::cache::Cache;
use crate::cache::command::{Classification, Invocation, classify};
use crate::cache::records::{ResultRecord, encode};
use crate::cache::store::Namespace;
use crate::hash::Digest;

/// The sibling group of `invocation`, as its kind says.
fn group_of(invocation: &Invocation) -> Option<Digest> {
    invocation.kind().rules().sibling_group(invocation)
}

/// Groups remembered at most; past that the book starts over, so a helper
/// serving many build dirs for hours stays small.
const MAX_GROUPS: usize = 4096;

#[derive(Default)]
pub struct SiblingBook {
    /// The last compile of each group that led it.
    leaders: Mutex<HashMap<Digest, Arc<Invocation>>>,
    /// Groups whose leader compiles now: held until its result is stored.
    pub leading: InFlight,
}

impl SiblingBook {
    /// The group's last leader, if this process saw one.
    pub fn leader(&self, group: &Digest) -> Option<Arc<Invocation>> {
        self.lock().get(group).cloned()
    }

    /// Remembers `invocation` as the group's leader.
    pub fn lead(&self, group: Digest, invocation: &Invocation) {
        let mut leaders = self.lock();
        if leaders.len() >= MAX_GROUPS && !leaders.contains_key(&group) {
            leaders.clear();
        }
        if leaders
            .get(&group)
            .is_none_or(|known| **known != *invocation)
        {
            leaders.insert(group, Arc::new(invocation.clone()));
        }
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Digest, Arc<Invocation>>> {
        self.leaders.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What is known of other compiles of the same source whose arguments
/// differ only in preprocessor flags (a library built static and shared).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Siblings {
    /// The build graph has none.
    None,
    /// The build graph has some: the preprocessed text may find this
    /// compile's result even on a cold cache, a sibling waiting for another.
    InGraph,
    /// Nobody knows (launcher mode, one compile per call): the process
    /// serving the calls (the launcher's helper) remembers which compile of
    /// the group ran last, and a miss checks whether that one's result
    /// serves it too. Never the cache: see [`crate::cache::siblings`].
    AskCache,
}

/// How long a compile waits for a sibling's result before compiling itself.
pub const SIBLING_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

/// What asking for a sibling gave.
pub(super) enum Joined<'c> {
    Restored(ResultRecord),
    /// This compile leads its group: hold the claim until its result is
    /// stored.
    Leading(Claim<'c>),
    Alone,
}

impl Cache {
    /// Groups compiles of one source by one compiler whose arguments differ
    /// only in preprocessor flags (a library built static and shared):
    /// equal keys, `None` for anything else.
    pub fn compile_group(&self, command: &str, cwd: &Path) -> Option<Digest> {
        let Classification::Cacheable(invocation) = classify(command, cwd) else {
            return None;
        };
        group_of(&invocation)
    }

    /// Launcher mode's sibling search, among the compiles this process
    /// served (see [`crate::cache::siblings`]). A compile of the group
    /// holds the group's claim while it compiles; a compile that finds the
    /// claim free and no useful sibling leads: it holds the claim until its
    /// result is stored.
    pub(super) fn join_sibling(
        &self,
        invocation: &Invocation,
        keyed: &mut KeyedStep,
    ) -> Joined<'_> {
        let Some(group) = group_of(invocation) else {
            return Joined::Alone;
        };
        let book = &self.siblings;
        let claim = book.leading.claim(group, std::time::Duration::ZERO);
        if let Some(sibling) = book.leader(&group) {
            // Claimed by another: a compile of the group (maybe this very
            // one, run twice) is running now; its result is worth waiting for.
            let busy = claim.is_none();
            if (busy || *sibling != *invocation)
                && let Some(record) =
                    self.restore_from_sibling(invocation, keyed, &sibling, busy.then_some(&group))
            {
                return Joined::Restored(record);
            }
        }
        let Some(claim) = claim else {
            return Joined::Alone;
        };
        book.lead(group, invocation);
        Joined::Leading(claim)
    }

    /// Restores `sibling`'s result for `invocation` when both preprocess to
    /// the same text (their other arguments are equal, being one group),
    /// after waiting for the compile of `group` running now, if any. Its
    /// result is checked by the sibling's own lookup, with every header it
    /// read, so a sibling compiled before a header edit never serves.
    fn restore_from_sibling(
        &self,
        invocation: &Invocation,
        keyed: &mut KeyedStep,
        other: &Invocation,
        running: Option<&Digest>,
    ) -> Option<ResultRecord> {
        let wait = |group: &Digest| self.siblings.leading.wait_done(group, self.wait_limit);
        if *other == *invocation {
            // The same compile, running in another call: its result is
            // this one's.
            wait(running?).then_some(())?;
            let Lookup::Hit(record) = self.lookup(keyed) else {
                return None;
            };
            return self.restore(keyed, &record).ok().map(|()| record);
        }
        if group_of(other) != group_of(invocation) {
            return None;
        }
        let other_keyed = self.key_step(other).ok()?;
        // A finished sibling without a result (its compile failed, or its
        // source changed since): no preprocessor run is worth it.
        if running.is_none() && !matches!(self.lookup(&other_keyed), Lookup::Hit(_)) {
            return None;
        }
        let (own_key, other_key) = std::thread::scope(|scope| {
            let other_key = scope.spawn(|| self.preprocessed_key(other, &other_keyed));
            let own_key = self.preprocessed_key(invocation, keyed);
            (own_key, other_key.join().ok().flatten().map(|(key, _)| key))
        });
        let (own_key, seen) = own_key?;
        keyed.cpp_key = Some(own_key);
        keyed.time_macros = Some(seen);
        if other_key != Some(own_key) {
            return None;
        }
        if let Some(group) = running
            && !wait(group)
        {
            return None;
        }
        if let Some(record) = self.restore_preprocessed(invocation, keyed, &own_key) {
            return Some(record);
        }
        let Lookup::Hit(record) = self.lookup(&other_keyed) else {
            return None;
        };
        // Diagnostics may name what only the arguments hold (a macro
        // defined by -D): served by the text key only when it is exact.
        let exact = invocation.kind().rules().text_key_is_exact(invocation);
        let quiet = record.stdout.is_empty() && record.stderr.is_empty();
        if !(exact || quiet) {
            return None;
        }
        // Filed under the text's key, which this compile's manifest entry
        // then points at, like any result found by its preprocessed text.
        self.put(Namespace::Result, &own_key, &encode(&record)?)
            .ok()?;
        self.restore_preprocessed(invocation, keyed, &own_key)
    }
}
