//! JWS compact serialisation (RFC 7515) on AWS-LC.
//!
//! [`decode`] splits and parses a token without trusting anything in it; [`Jws::verify`]
//! checks the signature with a key the caller chose. The header rules that keep tokens honest
//! are enforced here, for every kind of token:
//! - `alg` must be one of [`Algorithm`]'s values: `none` and every HMAC are refused;
//! - `crit` is refused (Tessera understands no extension, RFC 7515 §4.1.11);
//! - `jku` and `x5u` are refused: keys are never fetched from a URL a token names;
//! - the key verifying a signature must allow the token's `alg` (no algorithm confusion).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::alg::Algorithm;
use crate::b64;
use crate::jwk::{JwkError, PublicJwk, RawJwk};
use crate::signing::{KeyError, Signer, SigningKey};

/// The longest compact JWS Tessera will look at. Real tokens are well under 8 KiB.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Why a JWS was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    /// Longer than [`MAX_TOKEN_LEN`].
    #[error("token longer than {MAX_TOKEN_LEN} bytes")]
    TooLong,
    /// Not three dot-separated base64url parts.
    #[error("not a compact JWS")]
    NotCompact,
    /// A part is not canonical base64url.
    #[error("the {0} is not base64url")]
    BadEncoding(&'static str),
    /// The header is not a JSON object of the expected shape.
    #[error("malformed header: {0}")]
    BadHeader(String),
    /// `alg` is absent or not allowed.
    #[error("algorithm {0:?} is not allowed")]
    AlgorithmNotAllowed(String),
    /// The token carries a `crit` header; no extension is understood.
    #[error("critical header extensions are not supported: {0:?}")]
    UnsupportedCritical(Vec<String>),
    /// The token names a key URL (`jku`/`x5u`); keys are never fetched from tokens.
    #[error("header {0:?} is not accepted; keys are never fetched from a token")]
    KeyUrlHeader(&'static str),
    /// An embedded `jwk` header failed to parse.
    #[error("embedded jwk: {0}")]
    BadEmbeddedKey(JwkError),
    /// The chosen key does not allow the token's algorithm.
    #[error("the key does not allow {0}")]
    AlgorithmNotAllowedForKey(Algorithm),
    /// No key in the set matched the token.
    #[error("no key matches kid {0:?}")]
    UnknownKey(Option<String>),
    /// The signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// The payload is not the JSON object expected.
    #[error("malformed payload: {0}")]
    BadPayload(String),
}

#[derive(Deserialize)]
struct RawHeader<'a> {
    #[serde(borrow)]
    alg: Option<Cow<'a, str>>,
    #[serde(borrow)]
    typ: Option<Cow<'a, str>>,
    kid: Option<String>,
    jwk: Option<RawJwk>,
    crit: Option<Vec<String>>,
    jku: Option<serde::de::IgnoredAny>,
    x5u: Option<serde::de::IgnoredAny>,
}

/// A parsed, checked JOSE header.
#[derive(Debug, Clone)]
pub struct Header {
    /// The signing algorithm.
    pub alg: Algorithm,
    /// The media type (`at+jwt`, `dpop+jwt`, …), as written.
    pub typ: Option<String>,
    /// The key id: a lookup hint only.
    pub kid: Option<String>,
    /// An embedded public key (DPoP).
    pub jwk: Option<PublicJwk>,
}

/// A decoded compact JWS whose signature has not been checked yet.
#[derive(Debug)]
pub struct Jws<'a> {
    header: Header,
    signing_input: &'a str,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

/// Splits and parses a compact JWS, checking the header rules. Nothing is trusted yet.
///
/// # Errors
/// [`JwsError`] for anything malformed or refused by the header rules.
pub fn decode(token: &str) -> Result<Jws<'_>, JwsError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwsError::TooLong);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(JwsError::NotCompact);
    };
    let header_json = b64::decode(h).map_err(|_| JwsError::BadEncoding("header"))?;
    let payload = b64::decode(p).map_err(|_| JwsError::BadEncoding("payload"))?;
    let signature = b64::decode(s).map_err(|_| JwsError::BadEncoding("signature"))?;
    let header = parse_header(&header_json)?;
    Ok(Jws {
        header,
        signing_input: &token[..h.len() + 1 + p.len()],
        payload,
        signature,
    })
}

fn parse_header(json: &[u8]) -> Result<Header, JwsError> {
    let raw: RawHeader<'_> = serde_json::from_slice(json).map_err(|e| JwsError::BadHeader(e.to_string()))?;
    let alg = raw
        .alg
        .ok_or_else(|| JwsError::AlgorithmNotAllowed(String::new()))?;
    let alg: Algorithm = alg
        .parse()
        .map_err(|_| JwsError::AlgorithmNotAllowed(alg.into_owned()))?;
    if let Some(crit) = raw.crit {
        return Err(JwsError::UnsupportedCritical(crit));
    }
    if raw.jku.is_some() {
        return Err(JwsError::KeyUrlHeader("jku"));
    }
    if raw.x5u.is_some() {
        return Err(JwsError::KeyUrlHeader("x5u"));
    }
    let jwk = raw
        .jwk
        .map(PublicJwk::from_raw)
        .transpose()
        .map_err(JwsError::BadEmbeddedKey)?;
    Ok(Header {
        alg,
        typ: raw.typ.map(Cow::into_owned),
        kid: raw.kid,
        jwk,
    })
}

impl Jws<'_> {
    /// The checked header.
    #[must_use]
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The payload bytes. Untrusted until [`Jws::verify`] succeeds.
    #[must_use]
    pub fn unverified_payload(&self) -> &[u8] {
        &self.payload
    }

    /// Verifies the signature with `key`, which must allow the header's `alg`.
    ///
    /// # Errors
    /// [`JwsError::AlgorithmNotAllowedForKey`] or [`JwsError::BadSignature`].
    pub fn verify(&self, key: &PublicJwk) -> Result<(), JwsError> {
        key.verify(self.header.alg, self.signing_input.as_bytes(), &self.signature)
    }

    /// Verifies against a key set: `kid` narrows the candidates, then each candidate that
    /// allows the algorithm is tried. Returns the key that verified.
    ///
    /// # Errors
    /// [`JwsError::UnknownKey`] when no key fits the `kid`/`alg`, [`JwsError::BadSignature`]
    /// when none verifies.
    pub fn verify_with_set<'k>(&self, keys: &'k crate::keyset::KeySet) -> Result<&'k PublicJwk, JwsError> {
        let mut tried = false;
        for key in keys.candidates(self.header.kid.as_deref(), self.header.alg) {
            tried = true;
            if self.verify(key).is_ok() {
                return Ok(key);
            }
        }
        Err(if tried {
            JwsError::BadSignature
        } else {
            JwsError::UnknownKey(self.header.kid.clone())
        })
    }

    /// Consumes the token, returning its payload. Call only after verifying.
    #[must_use]
    pub fn into_payload(self) -> Vec<u8> {
        self.payload
    }
}

/// The header Tessera writes when signing.
#[derive(Debug, Clone, Serialize)]
pub struct SignHeader<'a> {
    /// Set from the key.
    pub alg: Algorithm,
    /// The media type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub typ: Option<&'a str>,
    /// The key id, from the key when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<&'a str>,
    /// The public key, for DPoP proofs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwk: Option<&'a PublicJwk>,
}

/// Signs `claims` as a compact JWS with `typ`, the key's `alg` and `kid`.
///
/// # Errors
/// [`KeyError`] when signing or serialisation fails.
pub fn sign<T: Serialize + ?Sized>(
    key: &SigningKey,
    typ: Option<&str>,
    claims: &T,
) -> Result<String, KeyError> {
    let header = SignHeader {
        alg: key.algorithm(),
        typ,
        kid: key.kid(),
        jwk: None,
    };
    sign_with_header(key, &header, claims)
}

/// Signs `claims` with an explicit header (its `alg` is overwritten with the key's).
///
/// # Errors
/// [`KeyError`] when signing or serialisation fails.
pub fn sign_with_header<T: Serialize + ?Sized>(
    key: &(impl Signer + ?Sized),
    header: &SignHeader<'_>,
    claims: &T,
) -> Result<String, KeyError> {
    let header = SignHeader {
        alg: key.algorithm(),
        ..header.clone()
    };
    let header = serde_json::to_vec(&header).map_err(|_| KeyError::Crypto)?;
    let payload = serde_json::to_vec(claims).map_err(|_| KeyError::Crypto)?;
    let mut token = b64::encode(header);
    token.push('.');
    token.push_str(&b64::encode(payload));
    let signature = key.sign(token.as_bytes())?;
    token.push('.');
    token.push_str(&b64::encode(signature));
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token_with_header(header: &str, key: &SigningKey) -> String {
        let mut t = format!("{}.{}", b64::encode(header), b64::encode(b"{}"));
        let sig = key.sign(t.as_bytes()).unwrap();
        t.push('.');
        t.push_str(&b64::encode(sig));
        t
    }

    #[test]
    fn sign_then_verify() {
        let key = SigningKey::generate(Algorithm::Es256).unwrap();
        let token = sign(&key, Some("at+jwt"), &serde_json::json!({"a": 1})).unwrap();
        let jws = decode(&token).unwrap();
        assert_eq!(jws.header().typ.as_deref(), Some("at+jwt"));
        assert_eq!(jws.header().kid.as_deref(), key.kid());
        jws.verify(key.public_jwk()).unwrap();
        assert_eq!(jws.into_payload(), br#"{"a":1}"#);
    }

    #[test]
    fn header_rules_negative_table() {
        let key = SigningKey::generate(Algorithm::Es256).unwrap();
        let cases: &[(&str, JwsError)] = &[
            (r#"{"alg":"none"}"#, JwsError::AlgorithmNotAllowed("none".into())),
            (
                r#"{"alg":"HS256"}"#,
                JwsError::AlgorithmNotAllowed("HS256".into()),
            ),
            (r#"{"typ":"JWT"}"#, JwsError::AlgorithmNotAllowed(String::new())),
            (
                r#"{"alg":"ES256","crit":["exp"],"exp":1}"#,
                JwsError::UnsupportedCritical(vec!["exp".into()]),
            ),
            (
                r#"{"alg":"ES256","crit":[]}"#,
                JwsError::UnsupportedCritical(vec![]),
            ),
            (
                r#"{"alg":"ES256","jku":"https://evil.example/jwks"}"#,
                JwsError::KeyUrlHeader("jku"),
            ),
            (
                r#"{"alg":"ES256","x5u":"https://evil.example/cert"}"#,
                JwsError::KeyUrlHeader("x5u"),
            ),
        ];
        for (header, want) in cases {
            let token = token_with_header(header, &key);
            assert_eq!(decode(&token).unwrap_err(), *want, "{header}");
        }
        for header in [r#"{"alg":"ES256","alg":"ES256"}"#, "[]", r#"{"alg":1}"#, "{"] {
            let token = token_with_header(header, &key);
            assert!(
                matches!(decode(&token).unwrap_err(), JwsError::BadHeader(_)),
                "{header}"
            );
        }
    }

    #[test]
    fn structure_negative_table() {
        let key = SigningKey::generate(Algorithm::Es256).unwrap();
        let good = sign(&key, None, &serde_json::json!({})).unwrap();
        let (h, rest) = good.split_once('.').unwrap();
        let (p, s) = rest.split_once('.').unwrap();
        assert_eq!(decode("").unwrap_err(), JwsError::NotCompact);
        assert_eq!(decode(&format!("{h}.{p}")).unwrap_err(), JwsError::NotCompact);
        assert_eq!(decode(&format!("{good}.")).unwrap_err(), JwsError::NotCompact);
        assert_eq!(
            decode(&format!("{h}=.{p}.{s}")).unwrap_err(),
            JwsError::BadEncoding("header")
        );
        assert_eq!(
            decode(&format!("{h}.{p}+.{s}")).unwrap_err(),
            JwsError::BadEncoding("payload")
        );
        assert_eq!(
            decode(&format!("{h}.{p}.{s}=")).unwrap_err(),
            JwsError::BadEncoding("signature")
        );
        assert_eq!(
            decode(&"a".repeat(MAX_TOKEN_LEN + 1)).unwrap_err(),
            JwsError::TooLong
        );
    }

    #[test]
    fn tampering_and_algorithm_confusion_fail() {
        let es = SigningKey::generate(Algorithm::Es256).unwrap();
        let ed = SigningKey::generate(Algorithm::EdDsa).unwrap();
        let token = sign(&es, None, &serde_json::json!({"sub": "alice"})).unwrap();
        // Another key of the same type: bad signature.
        let other = SigningKey::generate(Algorithm::Es256).unwrap();
        assert_eq!(
            decode(&token).unwrap().verify(other.public_jwk()),
            Err(JwsError::BadSignature)
        );
        // A key of another type: the algorithm is refused before any crypto.
        assert_eq!(
            decode(&token).unwrap().verify(ed.public_jwk()),
            Err(JwsError::AlgorithmNotAllowedForKey(Algorithm::Es256))
        );
        // Payload swapped under the same signature.
        let (h, rest) = token.split_once('.').unwrap();
        let (_, s) = rest.split_once('.').unwrap();
        let forged = format!("{h}.{}.{s}", b64::encode(br#"{"sub":"mallory"}"#));
        assert_eq!(
            decode(&forged).unwrap().verify(es.public_jwk()),
            Err(JwsError::BadSignature)
        );
        // A DER-encoded or truncated ECDSA signature is not the fixed 64-byte form.
        let truncated = format!(
            "{h}.{}.{}",
            rest.split_once('.').unwrap().0,
            b64::encode([0u8; 63])
        );
        assert_eq!(
            decode(&truncated).unwrap().verify(es.public_jwk()),
            Err(JwsError::BadSignature)
        );
    }
}
