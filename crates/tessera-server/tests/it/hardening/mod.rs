//! Regression tests of the hardening review: one module per finding, each test naming the item
//! it covers. Every test here failed before its fix.

mod connections;
mod files;
mod lows;
mod replay_caches;
mod sessions;
mod sign_in;
mod ssrf;
mod transmitters;
