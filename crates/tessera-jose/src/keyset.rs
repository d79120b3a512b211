//! A JSON Web Key Set: public keys parsed once and held, looked up by `kid` as a hint.

use serde::Deserialize;

use crate::alg::Algorithm;
use crate::jwk::{JwkError, PublicJwk};

/// A set of verification keys, each parsed once.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Vec<PublicJwk>,
    skipped: usize,
}

/// At most this many keys are tried for a token without a matching `kid`.
pub const MAX_CANDIDATES: usize = 8;

impl KeySet {
    /// A set holding `keys`.
    #[must_use]
    pub fn new(keys: Vec<PublicJwk>) -> Self {
        Self { keys, skipped: 0 }
    }

    /// Parses a JWKS document (`{"keys":[…]}`). Keys Tessera cannot verify with (other key
    /// types or curves, `use` other than `sig`) are skipped and counted in
    /// [`KeySet::skipped`]; a key with private members fails the whole set, because publishing
    /// one is a configuration error that must not go unnoticed.
    ///
    /// # Errors
    /// [`JwkError`] for malformed JSON, private members or bad key material.
    pub fn from_jwks(json: &[u8]) -> Result<Self, JwkError> {
        #[derive(Deserialize)]
        struct Doc {
            keys: Vec<serde_json::Value>,
        }
        let doc: Doc = serde_json::from_slice(json).map_err(|e| JwkError::Malformed(e.to_string()))?;
        let mut set = Self::default();
        for value in &doc.keys {
            match PublicJwk::from_value(value) {
                Ok(key) if key.usage().is_none_or(|u| u == "sig") => set.keys.push(key),
                Ok(_) | Err(JwkError::UnsupportedKeyType(_)) => set.skipped += 1,
                Err(e) => return Err(e),
            }
        }
        Ok(set)
    }

    /// The keys.
    #[must_use]
    pub fn keys(&self) -> &[PublicJwk] {
        &self.keys
    }

    /// How many keys of the source document were skipped as unusable.
    #[must_use]
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// Whether the set is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Adds a key.
    pub fn push(&mut self, key: PublicJwk) {
        self.keys.push(key);
    }

    /// The keys that may verify a token with this `kid` and `alg`. With a `kid`, only keys with
    /// that `kid`; without one, every key allowing `alg` (at most [`MAX_CANDIDATES`]). Either
    /// way the key must allow `alg`, whatever the token claims.
    pub fn candidates<'a, 'k>(
        &'a self,
        kid: Option<&'k str>,
        alg: Algorithm,
    ) -> impl Iterator<Item = &'a PublicJwk> + use<'a, 'k> {
        self.keys
            .iter()
            .filter(move |k| kid.is_none_or(|kid| k.kid() == Some(kid)) && k.allows(alg))
            .take(MAX_CANDIDATES)
    }

    /// The JWKS document for publishing.
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "keys": self.keys.iter().map(PublicJwk::to_json).collect::<Vec<_>>() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::SigningKey;

    #[test]
    fn parses_skips_and_looks_up() {
        let es = SigningKey::generate(Algorithm::Es256).unwrap().with_kid("es");
        let ed = SigningKey::generate(Algorithm::EdDsa).unwrap().with_kid("ed");
        let doc = serde_json::json!({"keys": [
            es.public_jwk().to_json(),
            ed.public_jwk().to_json(),
            {"kty":"EC","crv":"P-521","x":"AA","y":"AA"},
            {"kty":"oct"},
            {"kty":"OKP","crv":"Ed25519","x":ed.public_jwk().to_json()["x"], "use":"enc"},
        ]});
        let set = KeySet::from_jwks(doc.to_string().as_bytes()).unwrap();
        assert_eq!(set.keys().len(), 2);
        assert_eq!(set.skipped(), 3);
        assert_eq!(set.candidates(Some("es"), Algorithm::Es256).count(), 1);
        assert_eq!(
            set.candidates(Some("es"), Algorithm::EdDsa).count(),
            0,
            "kid cannot widen alg"
        );
        assert_eq!(set.candidates(None, Algorithm::EdDsa).count(), 1);
        assert_eq!(set.candidates(Some("nope"), Algorithm::Es256).count(), 0);
    }

    #[test]
    fn a_private_key_fails_the_set() {
        let key = SigningKey::generate(Algorithm::Es256).unwrap();
        let private: serde_json::Value = serde_json::from_str(&key.to_private_jwk().unwrap()).unwrap();
        let doc = serde_json::json!({"keys": [private]});
        assert_eq!(
            KeySet::from_jwks(doc.to_string().as_bytes()).unwrap_err(),
            JwkError::PrivateMember("d")
        );
        assert!(matches!(KeySet::from_jwks(b"{}"), Err(JwkError::Malformed(_))));
    }

    #[test]
    fn verify_with_set_uses_kid_as_a_hint_only() {
        let a = SigningKey::generate(Algorithm::Es256).unwrap().with_kid("a");
        let b = SigningKey::generate(Algorithm::Es256).unwrap().with_kid("b");
        let set = KeySet::new(vec![a.public_jwk().clone(), b.public_jwk().clone()]);
        let token = crate::jws::sign(&a, None, &serde_json::json!({})).unwrap();
        assert_eq!(
            crate::jws::decode(&token)
                .unwrap()
                .verify_with_set(&set)
                .unwrap()
                .kid(),
            Some("a")
        );
        // A token signed by `b` that claims kid "a" is still refused: the kid picks the key,
        // it does not vouch for the signature.
        let lying = crate::jws::sign_with_header(
            &b,
            &crate::jws::SignHeader {
                alg: Algorithm::Es256,
                typ: None,
                kid: Some("a"),
                jwk: None,
            },
            &serde_json::json!({}),
        )
        .unwrap();
        assert_eq!(
            crate::jws::decode(&lying)
                .unwrap()
                .verify_with_set(&set)
                .unwrap_err(),
            crate::jws::JwsError::BadSignature
        );
        let unknown = crate::jws::sign(
            &SigningKey::generate(Algorithm::Es256).unwrap().with_kid("z"),
            None,
            &1,
        )
        .unwrap();
        assert_eq!(
            crate::jws::decode(&unknown)
                .unwrap()
                .verify_with_set(&set)
                .unwrap_err(),
            crate::jws::JwsError::UnknownKey(Some("z".into()))
        );
    }
}
