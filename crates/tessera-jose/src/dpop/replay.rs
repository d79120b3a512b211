//! Remembering proof ids (`jti`) for as long as the proof could still be accepted, so a proof
//! is accepted at most once.
//!
//! Ids are kept per *partition* (whose ids they are: a DPoP key, a client), each with a bound
//! of its own besides the cache's: a party that sends ids as fast as it can fills its own
//! partition, and is refused, while everyone else's ids are still recorded.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::clock::UnixTime;

/// The replay cache has no room left for ids that are still live (in the caller's partition or
/// in all); accepting more would mean forgetting ones that could be replayed, so the id is
/// refused instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("replay cache is full")]
pub struct ReplayCacheFull;

/// Records ids. Implementations must be atomic: of two concurrent calls with the same
/// partition and key, exactly one returns `Ok(true)`.
pub trait ReplayCache: Send + Sync {
    /// Records `key` in `partition` until `expires_at`. Returns `Ok(true)` if it was not already
    /// recorded (first use), `Ok(false)` if it was (a replay).
    ///
    /// # Errors
    /// [`ReplayCacheFull`] when the key cannot be recorded.
    fn first_use(
        &self,
        partition: &[u8],
        key: &[u8; 32],
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<bool, ReplayCacheFull>;
}

const SHARDS: usize = 16;

#[derive(Debug, Default)]
struct Shard {
    partitions: HashMap<[u8; 32], HashMap<[u8; 32], UnixTime>>,
    len: usize,
}

impl Shard {
    /// Forgets every expired id (and the partitions left empty).
    fn sweep(&mut self, now: UnixTime) {
        let mut len = 0;
        self.partitions.retain(|_, ids| {
            ids.retain(|_, until| *until >= now);
            len += ids.len();
            !ids.is_empty()
        });
        self.len = len;
    }
}

/// An in-memory [`ReplayCache`], sharded by partition to keep lock contention low. Entries
/// expire with the ids they protect; a full partition or shard sweeps its expired entries
/// before it refuses.
#[derive(Debug)]
pub struct MemoryReplayCache {
    shards: [Mutex<Shard>; SHARDS],
    per_shard: usize,
    per_partition: usize,
}

impl MemoryReplayCache {
    /// A cache holding at most about `capacity` live entries, any partition as many as fit.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self::with_partition_limit(capacity, usize::MAX)
    }

    /// A cache holding at most about `capacity` live entries, and at most `per_partition` of
    /// any one partition.
    #[must_use]
    pub fn with_partition_limit(capacity: usize, per_partition: usize) -> Self {
        Self {
            shards: std::array::from_fn(|_| Mutex::new(Shard::default())),
            per_shard: capacity.div_ceil(SHARDS).max(1),
            per_partition: per_partition.max(1),
        }
    }

    /// How many entries are held (live or not yet swept).
    #[must_use]
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().map_or(0, |m| m.len)).sum()
    }

    /// Whether nothing is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for MemoryReplayCache {
    /// Room for a million live ids (about 100 MB at most), at most ten thousand of one
    /// partition.
    fn default() -> Self {
        Self::with_partition_limit(1_000_000, 10_000)
    }
}

fn partition_key(partition: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, partition).as_ref());
    out
}

impl ReplayCache for MemoryReplayCache {
    fn first_use(
        &self,
        partition: &[u8],
        key: &[u8; 32],
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<bool, ReplayCacheFull> {
        let p = partition_key(partition);
        let shard = &self.shards[usize::from(p[0]) % SHARDS];
        // A poisoned lock only means another thread panicked mid-insert; the map is intact.
        let mut shard = shard.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let held = shard.partitions.get(&p).map_or(0, HashMap::len);
        if let Some(seen_until) = shard.partitions.get(&p).and_then(|ids| ids.get(key)) {
            if *seen_until >= now {
                return Ok(false);
            }
        } else if held >= self.per_partition || shard.len >= self.per_shard {
            shard.sweep(now);
            let held = shard.partitions.get(&p).map_or(0, HashMap::len);
            if held >= self.per_partition || shard.len >= self.per_shard {
                return Err(ReplayCacheFull);
            }
        }
        if shard
            .partitions
            .entry(p)
            .or_default()
            .insert(*key, expires_at)
            .is_none()
        {
            shard.len += 1;
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &[u8] = b"client";

    #[test]
    fn second_use_is_a_replay_until_expiry() {
        let cache = MemoryReplayCache::new(100);
        let k = [1u8; 32];
        assert_eq!(cache.first_use(P, &k, UnixTime(100), UnixTime(0)), Ok(true));
        assert_eq!(cache.first_use(P, &k, UnixTime(100), UnixTime(50)), Ok(false));
        assert_eq!(cache.first_use(P, &k, UnixTime(100), UnixTime(100)), Ok(false));
        // Past its expiry the entry no longer protects anything; reuse is allowed again (the
        // proof itself would already fail the iat window).
        assert_eq!(cache.first_use(P, &k, UnixTime(300), UnixTime(101)), Ok(true));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn the_same_id_in_another_partition_is_another_id() {
        let cache = MemoryReplayCache::new(100);
        assert_eq!(
            cache.first_use(b"a", &[1; 32], UnixTime(10), UnixTime(0)),
            Ok(true)
        );
        assert_eq!(
            cache.first_use(b"b", &[1; 32], UnixTime(10), UnixTime(0)),
            Ok(true)
        );
    }

    #[test]
    fn full_cache_sweeps_then_refuses() {
        let cache = MemoryReplayCache::new(SHARDS); // one entry per shard
        let (a, b) = ([0u8; 32], [1u8; 32]);
        assert_eq!(cache.first_use(P, &a, UnixTime(10), UnixTime(0)), Ok(true));
        assert_eq!(
            cache.first_use(P, &b, UnixTime(10), UnixTime(5)),
            Err(ReplayCacheFull)
        );
        // Once `a` expired, the sweep makes room.
        assert_eq!(cache.first_use(P, &b, UnixTime(30), UnixTime(11)), Ok(true));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn a_full_partition_refuses_only_its_own_ids() {
        let cache = MemoryReplayCache::with_partition_limit(10_000, 3);
        for i in 0..3u8 {
            assert_eq!(
                cache.first_use(b"flood", &[i; 32], UnixTime(100), UnixTime(0)),
                Ok(true)
            );
        }
        assert_eq!(
            cache.first_use(b"flood", &[9; 32], UnixTime(100), UnixTime(0)),
            Err(ReplayCacheFull)
        );
        assert_eq!(
            cache.first_use(b"flood", &[0; 32], UnixTime(100), UnixTime(1)),
            Ok(false),
            "replays still found"
        );
        assert_eq!(
            cache.first_use(b"other", &[9; 32], UnixTime(100), UnixTime(0)),
            Ok(true)
        );
        // The flood's ids expire, and its partition has room again.
        assert_eq!(
            cache.first_use(b"flood", &[9; 32], UnixTime(200), UnixTime(101)),
            Ok(true)
        );
    }

    #[test]
    fn concurrent_uses_have_one_winner() {
        let cache = std::sync::Arc::new(MemoryReplayCache::new(1000));
        let wins: usize = (0..8)
            .map(|_| {
                let c = cache.clone();
                std::thread::spawn(move || {
                    usize::from(c.first_use(P, &[9; 32], UnixTime(10), UnixTime(0)) == Ok(true))
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(wins, 1);
    }
}
