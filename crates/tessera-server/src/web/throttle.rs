//! Sign-in throttling: failed attempts are counted per account and per client address over a
//! window; past the limit, further attempts are refused (even with the right password) until
//! the window passes. Counts live in this node's memory.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use moka::sync::Cache;

/// Failures allowed per account in a window.
pub const ACCOUNT_LIMIT: u32 = 5;
/// Failures allowed per client address in a window.
pub const ADDRESS_LIMIT: u32 = 20;
/// The window, and so the lockout.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

/// Failure counters.
#[derive(Debug, Clone)]
pub struct Throttle {
    accounts: Cache<String, Arc<AtomicU32>>,
    addresses: Cache<IpAddr, Arc<AtomicU32>>,
}

impl Default for Throttle {
    fn default() -> Self {
        Self {
            accounts: Cache::builder()
                .time_to_live(WINDOW)
                .max_capacity(100_000)
                .build(),
            addresses: Cache::builder()
                .time_to_live(WINDOW)
                .max_capacity(100_000)
                .build(),
        }
    }
}

impl Throttle {
    /// Whether another attempt for `username` from `ip` may be made.
    #[must_use]
    pub fn allows(&self, username: &str, ip: IpAddr) -> bool {
        let count = |c: Option<Arc<AtomicU32>>| c.map_or(0, |n| n.load(Ordering::Relaxed));
        count(self.accounts.get(&key(username))) < ACCOUNT_LIMIT
            && count(self.addresses.get(&ip)) < ADDRESS_LIMIT
    }

    /// Counts a failed attempt.
    pub fn failed(&self, username: &str, ip: IpAddr) {
        self.accounts
            .get_with(key(username), Arc::default)
            .fetch_add(1, Ordering::Relaxed);
        self.addresses
            .get_with(ip, Arc::default)
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Clears the account's count after a successful sign-in.
    pub fn succeeded(&self, username: &str) {
        self.accounts.invalidate(&key(username));
    }
}

fn key(username: &str) -> String {
    username.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_the_limit_and_success_resets_the_account() {
        let t = Throttle::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..ACCOUNT_LIMIT {
            assert!(t.allows("Alice", ip));
            t.failed("alice ", ip);
        }
        assert!(!t.allows("ALICE", ip), "the account is locked whatever the case");
        assert!(t.allows("bob", ip), "other accounts are not");
        t.succeeded("alice");
        assert!(t.allows("alice", ip));
    }

    #[test]
    fn an_address_spraying_many_accounts_is_stopped() {
        let t = Throttle::default();
        let ip: IpAddr = "192.0.2.2".parse().unwrap();
        for n in 0..ADDRESS_LIMIT {
            t.failed(&format!("user{n}"), ip);
        }
        assert!(!t.allows("fresh-account", ip));
        assert!(t.allows("fresh-account", "192.0.2.3".parse().unwrap()));
    }
}
