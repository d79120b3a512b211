//! DPoP: OAuth 2.0 Demonstrating Proof of Possession (RFC 9449).
//!
//! - [`create_proof`] makes a proof for a request (the client side).
//! - [`DpopVerifier`] checks one, with every rule of RFC 9449 §4.3 and, at a resource server,
//!   §7.1: exactly one header; a well-formed JWS; `typ` `dpop+jwt`; an allow-listed asymmetric
//!   `alg`; a public `jwk` that verifies the signature; `htm` and `htu` matching the request;
//!   `iat` inside the window; a server nonce when one is demanded; `ath` and the `cnf.jkt`
//!   binding when an access token comes with it; and a `jti` not seen before. Each failure is
//!   its own [`DpopError`] variant, which tells the caller the exact OAuth error code.
//!
//! *Tessera extension, session keys.* A key in a TPM signs slowly (tens of milliseconds), so a
//! client whose device key is in hardware makes a second, software key for the session, kept in
//! memory only, and names its thumbprint in the claim `tessera_session_jkt` of the proofs its
//! device key makes at the token endpoint. The token endpoint binds the access tokens to that
//! key (`cnf.jkt`) and the refresh token to the device key: every refresh still needs the
//! hardware. APIs see ordinary DPoP-bound tokens. Servers that do not know the claim ignore it
//! (RFC 9449 allows extra claims), and clients that do not send it get plain single-key DPoP.

mod htu;
mod proof;
mod replay;
mod verify;

pub use htu::{HtuError, normalize_htu};
pub use proof::{ProofOptions, access_token_hash, create_proof};
pub use replay::{MemoryReplayCache, ReplayCache, ReplayCacheFull};
pub use verify::{DpopConfig, DpopError, DpopRequest, DpopVerifier, NonceCheck, VerifiedProof};
