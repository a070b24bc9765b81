//! Interned paths: every distinct path is stored once, in one shared text
//! buffer, and named by a dense index. Looking a path up hashes it with
//! the parser's fast hasher and compares against the stored text, so no
//! path is ever duplicated as a map key, and dropping the table frees a
//! handful of large buffers instead of one allocation per path.

use std::hash::Hasher;

use hashbrown::HashTable;

use crate::ninja::fast_hash::FastHasher;

#[derive(Debug, Default, Clone)]
pub struct PathTable {
    /// All paths, back to back.
    text: String,
    /// `ends[i]` is where path `i` ends in `text`; it starts where path
    /// `i - 1` ends.
    ends: Vec<usize>,
    index: HashTable<u32>,
}

fn hash(path: &str) -> u64 {
    let mut hasher = FastHasher::default();
    hasher.write(path.as_bytes());
    hasher.finish()
}

fn slice<'a>(text: &'a str, ends: &[usize], id: u32) -> &'a str {
    let i = id as usize;
    let start = if i == 0 { 0 } else { ends[i - 1] };
    &text[start..ends[i]]
}

impl PathTable {
    /// Room for `paths` paths of `bytes` bytes in all, without regrowing.
    pub fn reserve(&mut self, paths: usize, bytes: usize) {
        self.text.reserve(bytes);
        self.ends.reserve(paths);
        let (text, ends) = (&self.text, &self.ends);
        self.index.reserve(paths, |&id| hash(slice(text, ends, id)));
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// The path with index `id`.
    pub fn get(&self, id: u32) -> &str {
        slice(&self.text, &self.ends, id)
    }

    pub fn lookup(&self, path: &str) -> Option<u32> {
        let (text, ends) = (&self.text, &self.ends);
        self.index
            .find(hash(path), |&id| slice(text, ends, id) == path)
            .copied()
    }

    /// The index of `path`, adding it if new; the flag tells whether it was.
    pub fn intern(&mut self, path: &str) -> (u32, bool) {
        let hash_value = hash(path);
        let (text, ends) = (&self.text, &self.ends);
        if let Some(&id) = self
            .index
            .find(hash_value, |&id| slice(text, ends, id) == path)
        {
            return (id, false);
        }
        let id = u32::try_from(self.ends.len()).expect("more than 2^32 paths");
        self.text.push_str(path);
        self.ends.push(self.text.len());
        let (text, ends) = (&self.text, &self.ends);
        self.index
            .insert_unique(hash_value, id, |&id| hash(slice(text, ends, id)));
        (id, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_each_path_once() {
        let mut table = PathTable::default();
        assert_eq!(table.intern("a/b"), (0, true));
        assert_eq!(table.intern(""), (1, true));
        assert_eq!(table.intern("a"), (2, true));
        assert_eq!(table.intern("a/b"), (0, false));
        assert_eq!(table.intern(""), (1, false));
        assert_eq!(table.get(0), "a/b");
        assert_eq!(table.get(1), "");
        assert_eq!(table.get(2), "a");
        assert_eq!(table.lookup("a"), Some(2));
        assert_eq!(table.lookup("b"), None);
        for i in 0..1000 {
            table.intern(&format!("p{i}"));
        }
        assert_eq!(table.lookup("p999"), Some(1002));
        assert_eq!(table.len(), 1003);
    }
}
