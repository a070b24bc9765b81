//! What launcher mode knows of compiles of one source that differ only in
//! preprocessor flags (a library built static and shared), kept in the
//! memory of the process that serves the calls (the launcher's helper).
//!
//! Never in the cache: a sibling's arguments are run (with `-E`) to compare
//! its preprocessed text, and nothing read from the cache is ever run or
//! passed to a tool. What is remembered here came from this user's own
//! calls; a process that serves one call alone pairs nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::command::Invocation;
use super::exec::InFlight;
use super::store::Digest;

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

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Digest, Arc<Invocation>>> {
        self.leaders.lock().unwrap_or_else(|p| p.into_inner())
    }
}
