//! JOSE for Tessera: JSON Web Keys and thumbprints, JWS on AWS-LC, typed JWT validation, DPoP
//! proofs (RFC 9449), request objects (RFC 9101), and Security Event Tokens with subject identifiers (RFC 8417, RFC 9493,
//! OpenID SSF 1.0).
//!
//! A pure crate: no I/O, no async runtime. Time comes from a [`Clock`] and randomness from a
//! [`Random`], both injected, so every expiry and window is tested without sleeping.
//!
//! Keys are parsed once ([`PublicJwk`], [`KeySet`], [`SigningKey`]) and held; verifying a
//! signature afterwards does no parsing. Signing is ES256 or EdDSA; RS256/PS256 verify only.
//!
//! ```
//! use tessera_jose::{Algorithm, KeySet, SigningKey, jwt, ManualClock, UnixTime};
//!
//! let key = SigningKey::generate(Algorithm::Es256)?;
//! let claims = serde_json::json!({
//!     "iss": "https://idp.example", "sub": "alice", "aud": "https://api.example",
//!     "client_id": "app", "iat": 1_700_000_000, "exp": 1_700_003_600, "jti": "t1",
//! });
//! let token = tessera_jose::jws::sign(&key, Some("at+jwt"), &claims)?;
//!
//! let keys = KeySet::new(vec![key.public_jwk().clone()]);
//! let rules = jwt::Validation::new(jwt::TokenKind::AccessToken, "https://idp.example", "https://api.example");
//! let clock = ManualClock::new(UnixTime(1_700_000_100));
//! let verified = jwt::verify(&token, &keys, &rules, &clock)?;
//! assert_eq!(verified.registered.sub.as_deref(), Some("alice"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod alg;
pub mod b64;
pub mod clock;
pub mod dpop;
pub mod jwk;
pub mod jws;
pub mod jwt;
pub mod keyset;
pub mod random;
pub mod request_object;
pub mod set;
pub mod signing;
pub mod subject;

pub use alg::Algorithm;
pub use clock::{Clock, ManualClock, SystemClock, Timestamp, UnixTime};
pub use jwk::{Jkt, JwkError, PublicJwk};
pub use keyset::KeySet;
pub use random::{Random, SystemRandom};
pub use signing::{KeyError, Signer, SigningKey};
pub use subject::SubjectId;
