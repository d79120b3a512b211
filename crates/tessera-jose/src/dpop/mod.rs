//! DPoP: OAuth 2.0 Demonstrating Proof of Possession (RFC 9449).
//!
//! - [`create_proof`] makes a proof for a request (the client side).
//! - [`DpopVerifier`] checks one, with every rule of RFC 9449 §4.3 and, at a resource server,
//!   §7.1: exactly one header; a well-formed JWS; `typ` `dpop+jwt`; an allow-listed asymmetric
//!   `alg`; a public `jwk` that verifies the signature; `htm` and `htu` matching the request;
//!   `iat` inside the window; a server nonce when one is demanded; `ath` and the `cnf.jkt`
//!   binding when an access token comes with it; and a `jti` not seen before. Each failure is
//!   its own [`DpopError`] variant, which tells the caller the exact OAuth error code.

mod htu;
mod proof;
mod replay;
mod verify;

pub use htu::{HtuError, normalize_htu};
pub use proof::{ProofOptions, access_token_hash, create_proof};
pub use replay::{MemoryReplayCache, ReplayCache, ReplayCacheFull};
pub use verify::{DpopConfig, DpopError, DpopRequest, DpopVerifier, NonceCheck, VerifiedProof};
