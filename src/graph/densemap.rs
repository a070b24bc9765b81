//! A map from a dense id ([`FileId`](super::FileId),
//! [`StepId`](super::StepId)) to a value, stored as a vector indexed by the
//! id (as n2's `densemap.rs`). What a build keeps per step or per file lives
//! in one of these, so a step's table cannot be read with a file's id and
//! no caller writes `.index()`.

use std::marker::PhantomData;

/// An id that numbers its kind from 0 without gaps.
pub(crate) trait DenseId: Copy {
    fn index(self) -> usize;
    fn from_index(index: usize) -> Self;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DenseMap<K, V> {
    values: Vec<V>,
    key: PhantomData<fn(K)>,
}

impl<K, V> Default for DenseMap<K, V> {
    fn default() -> Self {
        DenseMap {
            values: Vec::new(),
            key: PhantomData,
        }
    }
}

impl<K: DenseId, V> DenseMap<K, V> {
    /// `len` entries, each `value`.
    pub(crate) fn with_len(len: usize, value: V) -> Self
    where
        V: Clone,
    {
        DenseMap {
            values: vec![value; len],
            key: PhantomData,
        }
    }

    /// The entry for `key`, or `None` when the map is shorter.
    pub(crate) fn get(&self, key: K) -> Option<&V> {
        self.values.get(key.index())
    }

    /// Makes room for `len` entries, new ones `value`; never shrinks.
    pub(crate) fn grow(&mut self, len: usize, value: V)
    where
        V: Clone,
    {
        if self.values.len() < len {
            self.values.resize(len, value);
        }
    }

    /// Every entry with its id, in id order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (K, &V)> {
        self.values
            .iter()
            .enumerate()
            .map(|(index, value)| (K::from_index(index), value))
    }

    /// The values in id order, for callers that index by number.
    pub(crate) fn into_vec(self) -> Vec<V> {
        self.values
    }
}

impl<K: DenseId, V> std::ops::Index<K> for DenseMap<K, V> {
    type Output = V;
    fn index(&self, key: K) -> &V {
        &self.values[key.index()]
    }
}

impl<K: DenseId, V> std::ops::IndexMut<K> for DenseMap<K, V> {
    fn index_mut(&mut self, key: K) -> &mut V {
        &mut self.values[key.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq)]
    struct Id(u32);

    impl DenseId for Id {
        fn index(self) -> usize {
            self.0 as usize
        }
        fn from_index(index: usize) -> Self {
            Id(index as u32)
        }
    }

    #[test]
    fn indexes_by_id_and_writes_through() {
        let mut map: DenseMap<Id, u8> = DenseMap::with_len(3, 0);
        map[Id(1)] = 7;
        assert_eq!(map[Id(1)], 7);
        assert_eq!(map.into_vec(), vec![0, 7, 0]);
    }

    #[test]
    fn get_past_the_end_is_none() {
        let map: DenseMap<Id, u8> = DenseMap::with_len(2, 1);
        assert_eq!(map.get(Id(1)), Some(&1));
        assert_eq!(map.get(Id(2)), None);
    }

    #[test]
    fn grow_fills_new_entries_and_never_shrinks() {
        let mut map: DenseMap<Id, u8> = DenseMap::with_len(1, 5);
        map.grow(3, 9);
        assert_eq!(map.clone().into_vec(), vec![5, 9, 9]);
        map.grow(1, 0);
        assert_eq!(map.into_vec(), vec![5, 9, 9]);
    }

    #[test]
    fn iter_pairs_each_value_with_its_id() {
        let mut map: DenseMap<Id, char> = DenseMap::with_len(2, 'a');
        map[Id(1)] = 'b';
        let pairs: Vec<(Id, char)> = map.iter().map(|(id, &c)| (id, c)).collect();
        assert_eq!(pairs, vec![(Id(0), 'a'), (Id(1), 'b')]);
    }

    #[test]
    #[should_panic]
    fn indexing_past_the_end_panics() {
        let map: DenseMap<Id, u8> = DenseMap::default();
        let _ = map[Id(0)];
    }
}
