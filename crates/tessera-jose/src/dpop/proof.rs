//! Making DPoP proofs (RFC 9449 §4.2), for clients.

use aws_lc_rs::digest;
use serde::Serialize;

use crate::b64;
use crate::clock::{Clock, UnixTime};
use crate::jws::{self, SignHeader};
use crate::random::{Random, random_id};
use crate::signing::{KeyError, Signer};

/// What a proof may carry beyond the method and URI.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProofOptions<'a> {
    /// The access token the request presents; its hash goes into `ath`.
    pub access_token: Option<&'a str>,
    /// The server's most recent `DPoP-Nonce`.
    pub nonce: Option<&'a str>,
    /// *Tessera extension*: a per-session key this proof's key vouches for; the token
    /// endpoint binds access tokens to it (see [`crate::dpop`]).
    pub session_jkt: Option<&'a str>,
}

#[derive(Serialize)]
struct Claims<'a> {
    jti: String,
    htm: &'a str,
    htu: &'a str,
    iat: UnixTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    ath: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tessera_session_jkt: Option<&'a str>,
}

/// `ath`: base64url(SHA-256(ASCII of the access token)).
#[must_use]
pub fn access_token_hash(access_token: &str) -> String {
    b64::encode(digest::digest(&digest::SHA256, access_token.as_bytes()))
}

/// Creates a DPoP proof for a request with method `htm` to `htu`. The query and fragment of
/// `htu` are dropped, as the specification requires.
///
/// # Errors
/// [`KeyError`] when signing fails or the random source fails.
pub fn create_proof(
    key: &(impl Signer + ?Sized),
    htm: &str,
    htu: &str,
    options: ProofOptions<'_>,
    clock: &dyn Clock,
    rng: &dyn Random,
) -> Result<String, KeyError> {
    let htu = htu.split(['?', '#']).next().unwrap_or(htu);
    let claims = Claims {
        jti: random_id::<16>(rng).map_err(|_| KeyError::Crypto)?,
        htm,
        htu,
        iat: clock.now().unix_time(),
        ath: options.access_token.map(access_token_hash),
        nonce: options.nonce,
        tessera_session_jkt: options.session_jkt,
    };
    let header = SignHeader {
        alg: key.algorithm(),
        typ: Some("dpop+jwt"),
        kid: None,
        jwk: Some(key.public_jwk()),
    };
    jws::sign_with_header(key, &header, &claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9449_ath_example() {
        // RFC 9449 §7.1: the access token and the `ath` of the proof that accompanies it.
        assert_eq!(
            access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }
}
