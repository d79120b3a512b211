//! The conformance suite: every test runs against both backends. PostgreSQL is real
//! (`TESSERA_TEST_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/test`); each test
//! gets its own schema, dropped when the test passes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod conformance;
mod directory;
mod fixture;
mod opening;
