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
    /// Reserves an attempt for `username` from `ip`, counted as a failure from this moment, or
    /// `None` when the account or the address is at its limit. The reservation is taken before
    /// the slow verification and atomically, so concurrent guesses cannot all pass the check
    /// before any is counted: at most the limit of them are ever verified.
    #[must_use]
    pub fn reserve(&self, username: &str, ip: IpAddr) -> Option<Attempt> {
        let key = key(username);
        let account = self.accounts.get_with(key.clone(), Arc::default);
        if !take(&account, ACCOUNT_LIMIT) {
            return None;
        }
        let address = self.addresses.get_with(ip, Arc::default);
        if !take(&address, ADDRESS_LIMIT) {
            account.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Attempt {
            throttle: self.clone(),
            key,
            account,
            address,
        })
    }
}

/// One counter slot, if below `limit`.
fn take(counter: &AtomicU32, limit: u32) -> bool {
    counter
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < limit).then_some(n + 1)
        })
        .is_ok()
}

/// A reserved attempt: it stays counted as a failure unless [`Attempt::succeeded`] says
/// otherwise (so an attempt abandoned half-way counts, too).
#[derive(Debug)]
#[must_use = "an attempt counts as a failure unless it succeeded"]
pub struct Attempt {
    throttle: Throttle,
    key: String,
    account: Arc<AtomicU32>,
    address: Arc<AtomicU32>,
}

impl Attempt {
    /// The attempt succeeded: the account's failures are forgotten, and this attempt does not
    /// count against the address.
    pub fn succeeded(self) {
        self.throttle.accounts.invalidate(&self.key);
        give_back(&self.address);
    }

    /// The attempt was never judged (the server was too busy to verify it): it does not count.
    pub fn released(self) {
        give_back(&self.account);
        give_back(&self.address);
    }
}

fn give_back(counter: &AtomicU32) {
    let _ = counter.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
}

/// The key an account is counted under: the username as usernames compare.
fn key(username: &str) -> String {
    tessera_store::username_key(username)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_the_limit_and_success_resets_the_account() {
        let t = Throttle::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..ACCOUNT_LIMIT {
            drop(t.reserve("alice ", ip).unwrap());
        }
        assert!(
            t.reserve("ALICE", ip).is_none(),
            "the account is locked whatever the case"
        );
        assert!(t.reserve("ａｌｉｃｅ", ip).is_none(), "or the width");
        t.reserve("bob", ip).unwrap().succeeded();
        t.accounts.invalidate(&key("alice"));
        t.reserve("alice", ip).unwrap().succeeded();
    }

    #[test]
    fn reservations_are_counted_before_any_outcome() {
        let t = Throttle::default();
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        let held: Vec<Attempt> = (0..ACCOUNT_LIMIT)
            .filter_map(|_| t.reserve("carol", ip))
            .collect();
        assert_eq!(held.len(), ACCOUNT_LIMIT as usize);
        assert!(t.reserve("carol", ip).is_none(), "in flight counts");
    }

    #[test]
    fn an_address_spraying_many_accounts_is_stopped() {
        let t = Throttle::default();
        let ip: IpAddr = "192.0.2.2".parse().unwrap();
        for n in 0..ADDRESS_LIMIT {
            drop(t.reserve(&format!("user{n}"), ip).unwrap());
        }
        assert!(t.reserve("fresh-account", ip).is_none());
        assert!(t.reserve("fresh-account", "192.0.2.3".parse().unwrap()).is_some());
        assert_eq!(
            t.accounts
                .get(&key("fresh-account"))
                .unwrap()
                .load(Ordering::Relaxed),
            1,
            "the refused attempt gave its account slot back"
        );
    }
}
