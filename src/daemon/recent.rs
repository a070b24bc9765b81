//! The helper's open caches, one per build dir, bounded: a helper serving
//! many build dirs (a recursive make, a user going from project to
//! project) keeps only the most recently used, so its memory does not
//! grow with every build dir it has seen until it goes idle.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;

/// Values by path, at most `cap`, the least recently used first.
pub struct Recent<V> {
    cap: usize,
    by_path: IndexMap<PathBuf, V>,
}

impl<V> Recent<V> {
    pub fn new(cap: usize) -> Recent<V> {
        Recent {
            cap: cap.max(1),
            by_path: IndexMap::new(),
        }
    }

    /// The value for `path`, now the most recently used.
    pub fn get(&mut self, path: &Path) -> Option<&V> {
        let index = self.by_path.get_index_of(path)?;
        let last = self.by_path.len() - 1;
        self.by_path.move_index(index, last);
        self.by_path.get_index(last).map(|(_, value)| value)
    }

    /// Sets the value for `path`, the most recently used; gives back the
    /// values this drops: the one it replaces, and the least recently used
    /// past the cap.
    pub fn insert(&mut self, path: PathBuf, value: V) -> Vec<V> {
        let mut dropped: Vec<V> = self.by_path.shift_remove(&path).into_iter().collect();
        while self.by_path.len() >= self.cap {
            match self.by_path.shift_remove_index(0) {
                Some((_, oldest)) => dropped.push(oldest),
                None => break,
            }
        }
        self.by_path.insert(path, value);
        dropped
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_path.len()
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.by_path.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_most_recently_used_and_gives_back_what_it_drops() {
        let mut recent = Recent::new(3);
        let path = |n: u32| PathBuf::from(format!("/build/{n}"));
        for n in 0..3 {
            assert!(recent.insert(path(n), n).is_empty());
        }
        // 0 used again: 1 is now the least recently used.
        assert_eq!(recent.get(&path(0)), Some(&0));
        assert_eq!(recent.insert(path(3), 3), vec![1]);
        assert_eq!(recent.get(&path(1)), None);
        assert_eq!(recent.insert(path(0), 10), vec![0], "replaced");
        assert_eq!(recent.len(), 3);
        // Many more build dirs than the cap: never more than the cap.
        for n in 4..1000 {
            recent.insert(path(n), n);
            assert!(recent.len() <= 3);
        }
        let mut kept: Vec<u32> = recent.values().copied().collect();
        kept.sort();
        assert_eq!(kept, vec![997, 998, 999]);
    }
}
