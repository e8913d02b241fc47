//! The hash maps and sets the macro keeps: std's, with a simpler hasher.
//!
//! Their keys are the macro's own (value ids, block ids, variable names), never attacker
//! controlled, so SipHash's flood resistance buys nothing here; what it costs does show, most
//! in a debug build of the macro (which is how `cargo build` builds proc macros), where a
//! long function's expansion spent a sixth of its time hashing.

use std::hash::{BuildHasherDefault, Hasher};

pub type HashMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<Mixer>>;
pub type HashSet<T> = std::collections::HashSet<T, BuildHasherDefault<Mixer>>;

/// A multiply-rotate hasher (the scheme of rustc's FxHash): one multiply per word written.
#[derive(Default, Clone, Copy)]
pub struct Mixer(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl Mixer {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for Mixer {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        // A product's high bits depend on all of its factors' bits, its low bits only on their
        // low bits; the table picks buckets with the low bits, so the high ones are turned down.
        self.0.rotate_left(26)
    }
}

#[cfg(test)]
mod tests {
    use std::hash::{BuildHasher, BuildHasherDefault, Hash};

    use super::Mixer;

    /// How many distinct hashes `keys` have, and how many distinct buckets of 1024 they fall
    /// in (the table takes a bucket from the low bits).
    fn distinct_hashes<T: Hash>(keys: &[T]) -> (usize, usize) {
        let build = BuildHasherDefault::<Mixer>::default();
        let mut hashes: Vec<u64> = keys.iter().map(|k| build.hash_one(k)).collect();
        hashes.sort_unstable();
        hashes.dedup();
        let mut buckets: Vec<u64> = hashes.iter().map(|h| h & 1023).collect();
        buckets.sort_unstable();
        buckets.dedup();
        (hashes.len(), buckets.len())
    }

    /// `n` keys thrown at random into 1024 buckets fill about `1024 (1 - e^(-n/1024))` of them:
    /// 880 for 2000 keys, 395 for 500, with a spread of about a dozen.
    fn spread_well(keys: usize, buckets: usize) -> bool {
        let expected = 1024.0 * (1.0 - (-(keys as f64) / 1024.0).exp());
        buckets as f64 > expected - 60.0
    }

    #[test]
    fn the_macros_keys_hash_apart() {
        // Generated names sharing a prefix, names longer than a word, and value ids with flags.
        let names: Vec<String> = (0..2000).map(|i| format!("v{i}")).collect();
        let long: Vec<String> = (0..500)
            .map(|i| format!("__accumulated_value_{i}"))
            .collect();
        let ids: Vec<(u32, bool)> = (0..1000).flat_map(|i| [(i, false), (i, true)]).collect();
        for (what, (hashes, buckets), n) in [
            ("short names", distinct_hashes(&names), names.len()),
            ("long names", distinct_hashes(&long), long.len()),
            ("ids", distinct_hashes(&ids), ids.len()),
        ] {
            assert_eq!(hashes, n, "{what}: equal hashes");
            assert!(
                spread_well(n, buckets),
                "{what}: {n} keys in {buckets} buckets"
            );
        }
    }
}
