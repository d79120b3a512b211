//! A bound on concurrent password verifications. Each argon2id verification takes 19 MiB and a
//! core for tens of milliseconds, and anyone can ask for one by posting the sign-in form, so
//! without a bound a flood of logins takes the server's memory. At most `permits` run at once;
//! a few more wait briefly in a queue of bounded length; the rest are told to come back
//! (`503` with `Retry-After`) at once. Everything else the server does is unaffected.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use crate::config::SignInConfig;

/// argon2id's memory per verification with Tessera's parameters (the crate's defaults:
/// m = 19456 KiB).
pub const MIB_PER_CHECK: u64 = 19;

/// The server is verifying as many passwords as it allows: try again in a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many sign-ins at once; try again in a moment")]
pub struct Busy;

/// The bound.
#[derive(Debug)]
pub struct PasswordChecks {
    permits: Arc<Semaphore>,
    size: usize,
    waiting: AtomicUsize,
    max_waiting: usize,
    queue: Duration,
    running: AtomicUsize,
    peak: AtomicUsize,
}

impl PasswordChecks {
    /// Sized by `config` (`0` permits: one per core, fewer if memory is short).
    #[must_use]
    pub fn new(config: &SignInConfig) -> Self {
        let size = match config.max_concurrent_password_checks {
            0 => automatic_size(),
            n => n as usize,
        };
        Self {
            permits: Arc::new(Semaphore::new(size)),
            size,
            waiting: AtomicUsize::new(0),
            max_waiting: config.max_queued_password_checks as usize,
            queue: Duration::from_millis(config.password_check_queue_ms),
            running: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    }

    /// How many verifications may run at once.
    #[must_use]
    pub fn size(&self) -> usize {
        self.size
    }

    /// The most that ever ran at once.
    #[must_use]
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// Whether `password` matches the argon2id hash `stored`, verified on a blocking thread
    /// once a permit is free.
    ///
    /// # Errors
    /// [`Busy`] when the queue is full, or no permit came free within the queue time.
    pub async fn verify(&self, stored: String, password: Zeroizing<String>) -> Result<bool, Busy> {
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
                    self.waiting.fetch_sub(1, Ordering::AcqRel);
                    return Err(Busy);
                }
                let waited = tokio::time::timeout(self.queue, self.permits.clone().acquire_owned()).await;
                self.waiting.fetch_sub(1, Ordering::AcqRel);
                match waited {
                    Ok(Ok(permit)) => permit,
                    _ => return Err(Busy),
                }
            }
        };
        let running = self.running.fetch_add(1, Ordering::AcqRel) + 1;
        self.peak.fetch_max(running, Ordering::AcqRel);
        let verified = tokio::task::spawn_blocking(move || {
            let ok = tessera_directory::secrets::verify_password(&stored, &password);
            drop(permit);
            ok
        })
        .await
        .unwrap_or(false);
        self.running.fetch_sub(1, Ordering::AcqRel);
        Ok(verified)
    }
}

/// One verification per core, and no more than a quarter of the machine's memory in them.
fn automatic_size() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let by_memory = total_memory_mib().map_or(usize::MAX, |mib| {
        usize::try_from(mib / 4 / MIB_PER_CHECK)
            .unwrap_or(usize::MAX)
            .max(1)
    });
    cores.min(by_memory).max(1)
}

/// The machine's memory, from `/proc/meminfo` where there is one.
fn total_memory_mib() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn checks(permits: u32, queue_ms: u64, max_waiting: u32) -> Arc<PasswordChecks> {
        Arc::new(PasswordChecks::new(&SignInConfig {
            max_concurrent_password_checks: permits,
            password_check_queue_ms: queue_ms,
            max_queued_password_checks: max_waiting,
        }))
    }

    #[tokio::test]
    async fn at_most_the_permits_run_and_the_rest_are_told_to_wait() {
        let hash = tessera_directory::secrets::hash_password("right").unwrap();
        let checks = checks(2, 0, 0);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..12 {
            let (checks, hash) = (checks.clone(), hash.clone());
            tasks.spawn(async move { checks.verify(hash, Zeroizing::new("wrong".into())).await });
        }
        let results = tasks.join_all().await;
        assert!(checks.peak() <= 2, "peak {}", checks.peak());
        assert!(results.contains(&Err(Busy)), "{results:?}");
        assert!(results.contains(&Ok(false)), "{results:?}");
        assert_eq!(
            checks.verify(hash, Zeroizing::new("right".into())).await,
            Ok(true)
        );
    }

    #[test]
    fn the_automatic_size_is_at_least_one() {
        assert!(automatic_size() >= 1);
    }
}
