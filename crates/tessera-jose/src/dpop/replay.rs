//! Remembering proof ids (`jti`) for as long as the proof could still be accepted, so a proof
//! is accepted at most once.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::clock::UnixTime;

/// The replay cache has no room left for proofs that are still live; accepting more would mean
/// forgetting ones that could be replayed, so the proof is refused instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("replay cache is full")]
pub struct ReplayCacheFull;

/// Records proof identifiers. Implementations must be atomic: of two concurrent calls with the
/// same key, exactly one returns `Ok(true)`.
pub trait ReplayCache: Send + Sync {
    /// Records `key` until `expires_at`. Returns `Ok(true)` if it was not already recorded
    /// (first use), `Ok(false)` if it was (a replay).
    ///
    /// # Errors
    /// [`ReplayCacheFull`] when the key cannot be recorded.
    fn first_use(&self, key: &[u8; 32], expires_at: UnixTime, now: UnixTime)
    -> Result<bool, ReplayCacheFull>;
}

const SHARDS: usize = 16;

/// An in-memory [`ReplayCache`], sharded to keep lock contention low. Entries expire with the
/// proofs they protect; a shard sweeps its expired entries when it reaches its capacity.
#[derive(Debug)]
pub struct MemoryReplayCache {
    shards: [Mutex<HashMap<[u8; 32], UnixTime>>; SHARDS],
    per_shard: usize,
}

impl MemoryReplayCache {
    /// A cache holding at most about `capacity` live entries.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
            per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    /// How many entries are held (live or not yet swept).
    #[must_use]
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().map_or(0, |m| m.len())).sum()
    }

    /// Whether nothing is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for MemoryReplayCache {
    /// Room for a million live proofs (about 60 MB at most).
    fn default() -> Self {
        Self::new(1_000_000)
    }
}

impl ReplayCache for MemoryReplayCache {
    fn first_use(
        &self,
        key: &[u8; 32],
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<bool, ReplayCacheFull> {
        let shard = &self.shards[usize::from(key[0]) % SHARDS];
        // A poisoned lock only means another thread panicked mid-insert; the map is intact.
        let mut map = shard.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(seen_until) = map.get(key)
            && *seen_until >= now
        {
            return Ok(false);
        }
        if map.len() >= self.per_shard && !map.contains_key(key) {
            map.retain(|_, until| *until >= now);
            if map.len() >= self.per_shard {
                return Err(ReplayCacheFull);
            }
        }
        map.insert(*key, expires_at);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_use_is_a_replay_until_expiry() {
        let cache = MemoryReplayCache::new(100);
        let k = [1u8; 32];
        assert_eq!(cache.first_use(&k, UnixTime(100), UnixTime(0)), Ok(true));
        assert_eq!(cache.first_use(&k, UnixTime(100), UnixTime(50)), Ok(false));
        assert_eq!(cache.first_use(&k, UnixTime(100), UnixTime(100)), Ok(false));
        // Past its expiry the entry no longer protects anything; reuse is allowed again (the
        // proof itself would already fail the iat window).
        assert_eq!(cache.first_use(&k, UnixTime(300), UnixTime(101)), Ok(true));
    }

    #[test]
    fn full_cache_sweeps_then_refuses() {
        let cache = MemoryReplayCache::new(SHARDS); // one entry per shard
        let a = [0u8; 32];
        let mut b = [0u8; 32];
        b[0] = SHARDS as u8; // same shard as `a`
        b[1] = 1;
        assert_eq!(cache.first_use(&a, UnixTime(10), UnixTime(0)), Ok(true));
        assert_eq!(
            cache.first_use(&b, UnixTime(10), UnixTime(5)),
            Err(ReplayCacheFull)
        );
        // Once `a` expired, the sweep makes room.
        assert_eq!(cache.first_use(&b, UnixTime(30), UnixTime(11)), Ok(true));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn concurrent_uses_have_one_winner() {
        let cache = std::sync::Arc::new(MemoryReplayCache::new(1000));
        let wins: usize = (0..8)
            .map(|_| {
                let c = cache.clone();
                std::thread::spawn(move || {
                    usize::from(c.first_use(&[9; 32], UnixTime(10), UnixTime(0)) == Ok(true))
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(wins, 1);
    }
}
