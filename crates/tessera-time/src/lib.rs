//! Time in Tessera: one instant type, [`Timestamp`] (milliseconds since the Unix epoch), read
//! from one injected [`Clock`]. Everything that is compared (revocation "not before" instants,
//! token issue times, expiries, event times) is a `Timestamp`; whole seconds appear only where a
//! wire format demands them, as a JWT `NumericDate` ([`UnixTime`], RFC 7519 §2).
//!
//! Tests hold a [`ManualClock`] and move it by hand instead of sleeping.
//!
//! ```
//! use std::time::Duration;
//! use tessera_time::{Clock, ManualClock, Timestamp, UnixTime};
//!
//! let clock = ManualClock::new(Timestamp(1_700_000_000_250));
//! clock.advance(Duration::from_millis(800));
//! assert_eq!(clock.now(), Timestamp(1_700_000_001_050));
//! assert_eq!(clock.now().unix_time(), UnixTime(1_700_000_001));
//! ```

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An instant: milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The instant `ms` milliseconds later (saturating; `ms` may be negative).
    #[must_use]
    pub const fn plus_ms(self, ms: i64) -> Self {
        Self(self.0.saturating_add(ms))
    }

    /// The instant `d` later (saturating).
    #[must_use]
    pub fn plus(self, d: Duration) -> Self {
        self.plus_ms(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }

    /// The instant `d` earlier (saturating).
    #[must_use]
    pub fn minus(self, d: Duration) -> Self {
        Self(
            self.0
                .saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        )
    }

    /// The time from `earlier` to this instant; zero when `earlier` is later.
    #[must_use]
    pub fn since(self, earlier: Self) -> Duration {
        Duration::from_millis(u64::try_from(self.0.saturating_sub(earlier.0)).unwrap_or(0))
    }

    /// The whole second this instant falls in, as a JWT `NumericDate` (rounded down).
    #[must_use]
    pub const fn unix_time(self) -> UnixTime {
        UnixTime(self.0.div_euclid(1000))
    }

    /// Milliseconds since the epoch.
    #[must_use]
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// This instant in RFC 3339 form, UTC, to the millisecond where it has one
    /// (`2026-12-03T16:45:52.250Z`); empty for an instant outside years 1 to 9999.
    #[must_use]
    pub fn rfc3339(self) -> String {
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000)
            .ok()
            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
            .unwrap_or_default()
    }
}

impl From<UnixTime> for Timestamp {
    /// The first millisecond of that second.
    fn from(t: UnixTime) -> Self {
        Self(t.0.saturating_mul(1000))
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Seconds since the Unix epoch: a JWT `NumericDate` (RFC 7519 §2), whole seconds, as tokens
/// carry `iat`, `exp` and `nbf`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct UnixTime(pub i64);

impl UnixTime {
    /// The instant `secs` seconds later (saturating).
    #[must_use]
    pub const fn plus(self, secs: u64) -> Self {
        Self(self.0.saturating_add_unsigned(secs))
    }

    /// The instant `secs` seconds earlier (saturating).
    #[must_use]
    pub const fn minus(self, secs: u64) -> Self {
        Self(self.0.saturating_sub_unsigned(secs))
    }

    /// Seconds since the epoch.
    #[must_use]
    pub const fn as_secs(self) -> i64 {
        self.0
    }
}

impl std::fmt::Display for UnixTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// Now, to the millisecond.
    fn now(&self) -> Timestamp;
}

/// The operating system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        Timestamp(i64::try_from(ms).unwrap_or(i64::MAX))
    }
}

/// A clock that stands still until told to move: for tests and simulations.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock reading `at`.
    #[must_use]
    pub fn new(at: impl Into<Timestamp>) -> Self {
        Self(AtomicI64::new(at.into().0))
    }

    /// A clock reading the wall clock's time now, so that what it stamps is also accepted by
    /// parts of a test that read the wall clock.
    #[must_use]
    pub fn starting_now() -> Self {
        Self::new(SystemClock.now())
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    /// Sets the clock to `at`.
    pub fn set(&self, at: impl Into<Timestamp>) {
        self.0.store(at.into().0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(Timestamp(0).rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(Timestamp(1_790_000_000_123).rfc3339(), "2026-09-21T14:13:20.123Z");
        assert_eq!(Timestamp(1_796_316_352_250).rfc3339(), "2026-12-03T16:45:52.25Z");
        assert_eq!(Timestamp(i64::MAX).rfc3339(), "");
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(UnixTime(1_000));
        assert_eq!(clock.now(), Timestamp(1_000_000));
        clock.advance(Duration::from_secs(61));
        assert_eq!(clock.now(), Timestamp(1_061_000));
        clock.advance(Duration::from_millis(1));
        assert_eq!(clock.now(), Timestamp(1_061_001));
        clock.set(UnixTime(5));
        assert_eq!(clock.now().unix_time(), UnixTime(5));
    }

    #[test]
    fn seconds_round_down_also_before_the_epoch() {
        assert_eq!(Timestamp(1_999).unix_time(), UnixTime(1));
        assert_eq!(Timestamp(-1).unix_time(), UnixTime(-1));
    }

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(UnixTime(i64::MAX).plus(1), UnixTime(i64::MAX));
        assert_eq!(UnixTime(i64::MIN).minus(1), UnixTime(i64::MIN));
        assert_eq!(
            Timestamp(i64::MAX).plus(Duration::from_secs(1)),
            Timestamp(i64::MAX)
        );
        assert_eq!(Timestamp(5).since(Timestamp(9)), Duration::ZERO);
    }

    #[test]
    fn system_clock_is_after_2020_and_has_milliseconds() {
        let now = SystemClock.now();
        assert!(now > Timestamp(1_577_836_800_000));
        assert_eq!(Timestamp::from(now.unix_time()).0 / 1000, now.0 / 1000);
    }

    #[test]
    fn both_serialize_as_plain_numbers() {
        assert_eq!(serde_json::to_string(&Timestamp(12)).unwrap(), "12");
        assert_eq!(serde_json::to_string(&UnixTime(12)).unwrap(), "12");
    }
}
