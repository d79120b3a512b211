//! Integration tests for tessera-jose: spec vectors and hostile-input tables.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod dpop;
mod jwt;
mod properties;
mod set;
mod vectors;
