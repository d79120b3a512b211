//! Verifying DPoP proofs (RFC 9449 §4.3, and §7.1 at a resource server).

use std::borrow::Cow;

use aws_lc_rs::digest;
use serde::Deserialize;

use super::htu::normalize_htu;
use super::proof::access_token_hash;
use super::replay::ReplayCache;
use crate::alg::Algorithm;
use crate::clock::{Clock, UnixTime};
use crate::jwk::{Jkt, PublicJwk};
use crate::jws::{self, JwsError};
use crate::jwt::numeric_date;

/// Why a DPoP proof was refused. [`DpopError::error_code`] gives the OAuth error to answer with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DpopError {
    /// No `DPoP` header where one was required.
    #[error("no DPoP proof")]
    Missing,
    /// More than one `DPoP` header.
    #[error("more than one DPoP header")]
    MultipleHeaders,
    /// Not a well-formed JWS, or its header broke a JOSE rule.
    #[error("malformed proof: {0}")]
    Malformed(JwsError),
    /// `typ` is not `dpop+jwt`.
    #[error("typ must be dpop+jwt")]
    WrongType,
    /// `alg` is not allowed here.
    #[error("algorithm {0} is not allowed for DPoP")]
    AlgorithmNotAllowed(Algorithm),
    /// No `jwk` header.
    #[error("the proof has no jwk header")]
    MissingKey,
    /// The signature does not verify with the `jwk`.
    #[error("the proof's signature does not verify with its jwk")]
    BadSignature,
    /// A required claim is absent or has the wrong type.
    #[error("claim {0} is missing or malformed")]
    BadClaim(&'static str),
    /// `htm` is not the request method.
    #[error("htm does not match the request method")]
    HtmMismatch,
    /// `htu` is not the request URI.
    #[error("htu does not match the request URI")]
    HtuMismatch,
    /// `iat` is too far in the past or future.
    #[error("iat is outside the acceptable window")]
    IatOutOfWindow,
    /// A nonce is required and was not given (or is not a current one).
    #[error("a fresh DPoP nonce is required")]
    UseNonce,
    /// An access token came with the request but `ath` is absent.
    #[error("ath is required with an access token")]
    MissingAth,
    /// `ath` does not hash the presented access token.
    #[error("ath does not match the access token")]
    AthMismatch,
    /// The proof's key is not the key the token is bound to.
    #[error("the proof key does not match the token's cnf.jkt")]
    KeyMismatch,
    /// This proof was already used.
    #[error("the proof was already used (jti replay)")]
    Replayed,
    /// Proofs cannot be recorded right now: this key has as many unexpired proofs recorded as
    /// one key may, or the cache is full.
    #[error("too many unexpired proofs of this key are in use; make one proof per request")]
    ReplayCacheFull,
}

impl DpopError {
    /// The OAuth error code: `use_dpop_nonce` when a nonce is needed, otherwise
    /// `invalid_dpop_proof` (RFC 9449 §5, §7.1, §8).
    #[must_use]
    pub const fn error_code(&self) -> &'static str {
        match self {
            Self::UseNonce => "use_dpop_nonce",
            _ => "invalid_dpop_proof",
        }
    }
}

/// Validates server nonces (RFC 9449 §8–9): returns whether `nonce` is one the server issued and
/// still accepts.
pub trait NonceCheck: Send + Sync {
    /// Whether `nonce` is currently valid.
    fn is_valid(&self, nonce: &str, now: UnixTime) -> bool;
}

impl<F: Fn(&str, UnixTime) -> bool + Send + Sync> NonceCheck for F {
    fn is_valid(&self, nonce: &str, now: UnixTime) -> bool {
        self(nonce, now)
    }
}

/// Settings for proof verification.
#[derive(Debug, Clone)]
pub struct DpopConfig {
    /// Accepted algorithms; default ES256 and EdDSA.
    pub algorithms: Vec<Algorithm>,
    /// How old `iat` may be, in seconds; default 60.
    pub max_age: u64,
    /// How far `iat` may be in the future, in seconds (clock skew); default 60.
    pub future_skew: u64,
}

impl Default for DpopConfig {
    fn default() -> Self {
        Self {
            algorithms: Algorithm::DPOP.to_vec(),
            max_age: 60,
            future_skew: 60,
        }
    }
}

/// The request a proof claims to be for.
#[derive(Debug, Clone, Copy)]
pub struct DpopRequest<'a> {
    /// The values of every `DPoP` header on the request, in order.
    pub proofs: &'a [&'a str],
    /// The HTTP method.
    pub method: &'a str,
    /// The absolute request URI as the server knows it (`https://host/path?query`).
    pub uri: &'a str,
    /// The access token presented with the request, at a resource server.
    pub access_token: Option<&'a str>,
    /// The key thumbprint the access token (or refresh token) is bound to.
    pub bound_jkt: Option<&'a Jkt>,
    /// When set, the proof must carry a nonce this check accepts.
    pub nonce: Option<&'a dyn NonceCheck>,
}

impl std::fmt::Debug for dyn NonceCheck + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NonceCheck")
    }
}

/// A proof that passed every check.
#[derive(Debug, Clone)]
pub struct VerifiedProof {
    /// The proof's public key.
    pub jwk: PublicJwk,
    /// Its RFC 7638 thumbprint: what a token gets bound to (`cnf.jkt`).
    pub jkt: Jkt,
    /// The proof id.
    pub jti: String,
    /// When the proof was made.
    pub iat: UnixTime,
    /// *Tessera extension*: the thumbprint of a per-session key the proof's key vouches for
    /// (claim `tessera_session_jkt`), to which a token endpoint may bind access tokens while
    /// refresh tokens stay bound to the proof's key. See [`crate::dpop`].
    pub session_jkt: Option<Jkt>,
}

#[derive(Deserialize)]
struct ProofClaims<'a> {
    #[serde(borrow)]
    jti: Option<Cow<'a, str>>,
    #[serde(borrow)]
    htm: Option<Cow<'a, str>>,
    #[serde(borrow)]
    htu: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "numeric_date")]
    iat: Option<UnixTime>,
    #[serde(borrow)]
    ath: Option<Cow<'a, str>>,
    #[serde(borrow)]
    nonce: Option<Cow<'a, str>>,
    #[serde(borrow)]
    tessera_session_jkt: Option<Cow<'a, str>>,
}

/// Longest accepted `jti`; RFC 9449 suggests 96 bits of randomness, far less than this.
const MAX_JTI_LEN: usize = 256;

/// Verifies DPoP proofs and remembers their ids.
#[derive(Debug)]
pub struct DpopVerifier<R> {
    config: DpopConfig,
    replay: R,
}

impl<R: ReplayCache> DpopVerifier<R> {
    /// A verifier with `config` that records proof ids in `replay`.
    pub fn new(config: DpopConfig, replay: R) -> Self {
        Self { config, replay }
    }

    /// The settings.
    pub fn config(&self) -> &DpopConfig {
        &self.config
    }

    /// Checks the proof on `request`. The `jti` is recorded only once every other check passed,
    /// so a refused proof never uses up an id.
    ///
    /// # Errors
    /// The first [`DpopError`] found.
    pub fn verify(&self, request: &DpopRequest<'_>, clock: &dyn Clock) -> Result<VerifiedProof, DpopError> {
        let proof = match request.proofs {
            [] => return Err(DpopError::Missing),
            [one] => *one,
            _ => return Err(DpopError::MultipleHeaders),
        };
        let jws = jws::decode(proof).map_err(DpopError::Malformed)?;
        let header = jws.header();
        if !header
            .typ
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("dpop+jwt"))
        {
            return Err(DpopError::WrongType);
        }
        if !self.config.algorithms.contains(&header.alg) {
            return Err(DpopError::AlgorithmNotAllowed(header.alg));
        }
        let jwk = header.jwk.as_ref().ok_or(DpopError::MissingKey)?;
        // The jwk was parsed as a public key: private members were refused by `jws::decode`.
        jws.verify(jwk).map_err(|e| match e {
            JwsError::AlgorithmNotAllowedForKey(a) => DpopError::AlgorithmNotAllowed(a),
            _ => DpopError::BadSignature,
        })?;

        let claims: ProofClaims<'_> =
            serde_json::from_slice(jws.unverified_payload()).map_err(|_| DpopError::BadClaim("payload"))?;
        let jti = claims
            .jti
            .filter(|j| !j.is_empty() && j.len() <= MAX_JTI_LEN)
            .ok_or(DpopError::BadClaim("jti"))?;
        let htm = claims.htm.ok_or(DpopError::BadClaim("htm"))?;
        let htu = claims.htu.ok_or(DpopError::BadClaim("htu"))?;
        let iat = claims.iat.ok_or(DpopError::BadClaim("iat"))?;

        if htm != request.method {
            return Err(DpopError::HtmMismatch);
        }
        let want = normalize_htu(request.uri).map_err(|_| DpopError::HtuMismatch)?;
        if normalize_htu(&htu).map_err(|_| DpopError::BadClaim("htu"))? != want {
            return Err(DpopError::HtuMismatch);
        }
        if let Some(check) = request.nonce {
            match &claims.nonce {
                Some(n) if check.is_valid(n, clock.now().unix_time()) => {}
                _ => return Err(DpopError::UseNonce),
            }
        }
        let now = clock.now().unix_time();
        if iat < now.minus(self.config.max_age) || iat > now.plus(self.config.future_skew) {
            return Err(DpopError::IatOutOfWindow);
        }
        if let Some(token) = request.access_token {
            let ath = claims.ath.ok_or(DpopError::MissingAth)?;
            if ath != access_token_hash(token) {
                return Err(DpopError::AthMismatch);
            }
        }
        let jkt = jwk.thumbprint();
        if request.bound_jkt.is_some_and(|bound| bound != jkt) {
            return Err(DpopError::KeyMismatch);
        }
        let session_jkt = claims
            .tessera_session_jkt
            .map(|t| {
                t.parse::<Jkt>()
                    .map_err(|_| DpopError::BadClaim("tessera_session_jkt"))
            })
            .transpose()?;

        // The id is scoped to the key, so one client cannot burn another's ids, and the key's
        // ids are a partition of their own, so one key's flood of proofs fills only its own
        // share of the cache.
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(jkt.as_str().as_bytes());
        ctx.update(b".");
        ctx.update(jti.as_bytes());
        let mut key = [0u8; 32];
        key.copy_from_slice(ctx.finish().as_ref());
        // Keep the id until the proof could no longer pass the iat check.
        let expires = iat.plus(self.config.max_age);
        match self.replay.first_use(jkt.as_str().as_bytes(), &key, expires, now) {
            Ok(true) => {}
            Ok(false) => return Err(DpopError::Replayed),
            Err(_) => return Err(DpopError::ReplayCacheFull),
        }
        Ok(VerifiedProof {
            jwk: jwk.clone(),
            jkt: jkt.clone(),
            jti: jti.into_owned(),
            iat,
            session_jkt,
        })
    }
}
