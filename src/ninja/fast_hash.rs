//! A small, fast, non-cryptographic hasher for the parser's string maps.
//!
//! Manifests are trusted local input, so resistance to hash flooding (what
//! std's SipHash pays for) buys nothing, while hashing every path of a
//! 100k-edge manifest a few times shows up in load time.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Multiply-rotate hashing over 8-byte words (the "Fx" scheme).
#[derive(Debug, Default, Clone, Copy)]
pub struct FastHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;
const FINISH_MULTIPLIER: u64 = 0x9e_37_79_b9_7f_4a_7c_15;

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }

    fn finish(&self) -> u64 {
        // The multiply only carries entropy upwards, but hashbrown picks
        // buckets from the low bits: fold the high bits back down.
        let h = self.hash;
        (h ^ (h >> 32)).wrapping_mul(FINISH_MULTIPLIER) ^ (h >> 29)
    }
}

pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinguishes_prefixes_and_lengths() {
        let mut map: FastMap<String, u32> = FastMap::default();
        for (i, key) in ["", "a", "a\0", "abcdefgh", "abcdefghi", "abcdefgh\0"]
            .iter()
            .enumerate()
        {
            map.insert(key.to_string(), i as u32);
        }
        assert_eq!(map.len(), 6);
        assert_eq!(map.get("abcdefghi"), Some(&4));
    }
}
