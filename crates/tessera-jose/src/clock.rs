//! Time, injected: every expiry, leeway and replay window asks a [`Clock`], so tests move
//! time by hand instead of sleeping. The types are `tessera-time`'s, shared with the store and
//! the server: one clock, one instant type.

pub use tessera_time::{Clock, ManualClock, SystemClock, Timestamp, UnixTime};
