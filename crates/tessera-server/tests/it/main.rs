//! The server over HTTP, in-process (`tower::ServiceExt::oneshot`, no sockets).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod account;
mod admin;
mod authorize;
mod browser;
mod config;
mod console;
mod device_flow;
mod devices;
mod flow;
mod hardening;
mod introspect;
mod location;
mod metrics;
mod nodes;
mod openapi;
mod par;
mod resource_indicators;
mod revocation;
mod ssf;
mod support;
mod token;
mod token_exchange;
mod wellknown;
