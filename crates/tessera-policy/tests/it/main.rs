//! Integration tests for tessera-policy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod conditions;
mod properties;
mod recipe;
mod support;
mod validation;
