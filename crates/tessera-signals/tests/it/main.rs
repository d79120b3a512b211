//! Integration tests for tessera-signals.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod events;
mod streams;
