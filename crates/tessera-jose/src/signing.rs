//! Private signing keys: ES256 (P-256) and EdDSA (Ed25519). Tessera never signs with RSA.
//!
//! A [`SigningKey`] is loaded once and held; its `Debug` never shows key material, and the
//! private JWK it exports is wiped from memory when dropped.

use std::fmt;

use aws_lc_rs::encoding::AsBigEndian;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::alg::Algorithm;
use crate::b64;
use crate::jwk::{Jkt, JwkError, KeyMaterial, PublicJwk};

impl Signer for SigningKey {
    fn algorithm(&self) -> Algorithm {
        Self::algorithm(self)
    }

    fn public_jwk(&self) -> &PublicJwk {
        Self::public_jwk(self)
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        Self::sign(self, message)
    }
}

/// Why a private key could not be loaded or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Tessera signs only with ES256 and EdDSA.
    #[error("Tessera cannot sign with {0}; use ES256 or EdDSA")]
    CannotSign(Algorithm),
    /// The bytes are not a PKCS#8 P-256 or Ed25519 private key.
    #[error("not a PKCS#8 P-256 or Ed25519 private key")]
    BadPkcs8,
    /// The private JWK is malformed or its parts do not belong together.
    #[error("invalid private JWK: {0}")]
    BadPrivateJwk(String),
    /// The public half failed to parse.
    #[error(transparent)]
    Public(#[from] JwkError),
    /// The cryptographic library refused to generate or sign.
    #[error("the cryptographic operation failed")]
    Crypto,
    /// A key held outside this process (TPM, PKCS#11 token) could not sign.
    #[error("the key store could not sign: {0}")]
    Device(String),
}

enum Inner {
    Es256(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// Whatever holds a private key and can sign with it: a [`SigningKey`] in this process's
/// memory, or a key that never leaves a TPM, a PKCS#11 token or a secure enclave. JWS and DPoP
/// proofs are made through this trait, so they do not care where the key is.
pub trait Signer {
    /// The JWS algorithm the key signs with.
    fn algorithm(&self) -> Algorithm;
    /// The public JWK.
    fn public_jwk(&self) -> &PublicJwk;
    /// Signs `message` in the algorithm's JWS form (for ES256 the 64-byte `R || S`).
    ///
    /// # Errors
    /// [`KeyError::Crypto`] (or a more precise variant) when the key cannot sign.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError>;
}

/// A private key Tessera signs with, plus its public JWK.
pub struct SigningKey {
    inner: Inner,
    public: PublicJwk,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.algorithm())
            .field("kid", &self.public.kid())
            .field("jkt", self.public.thumbprint())
            .field("private", &"[redacted]")
            .finish()
    }
}

impl SigningKey {
    /// Generates a fresh key. Its `kid` is its thumbprint.
    ///
    /// # Errors
    /// [`KeyError::CannotSign`] for algorithms other than ES256/EdDSA.
    pub fn generate(alg: Algorithm) -> Result<Self, KeyError> {
        let rng = SystemRandom::new();
        let pkcs8 = match alg {
            Algorithm::Es256 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(|_| KeyError::Crypto)?,
            Algorithm::EdDsa => Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| KeyError::Crypto)?,
            other => return Err(KeyError::CannotSign(other)),
        };
        let key = Self::from_pkcs8(pkcs8.as_ref())?;
        let kid = key.thumbprint().to_string();
        Ok(key.with_kid(kid))
    }

    /// Loads a PKCS#8 (DER) P-256 or Ed25519 private key.
    ///
    /// # Errors
    /// [`KeyError::BadPkcs8`] when the bytes are neither.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, KeyError> {
        if let Ok(pair) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der) {
            return Self::from_inner(Inner::Es256(pair));
        }
        if let Ok(pair) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
            return Self::from_inner(Inner::Ed25519(pair));
        }
        Err(KeyError::BadPkcs8)
    }

    /// Loads a private JWK (`EC` P-256 with `d`, or `OKP` Ed25519 with `d`). The public members
    /// must match the private scalar.
    ///
    /// # Errors
    /// [`KeyError::BadPrivateJwk`] when it is malformed or inconsistent.
    pub fn from_private_jwk(json: &[u8]) -> Result<Self, KeyError> {
        #[derive(Deserialize)]
        struct Raw {
            kty: String,
            crv: String,
            x: String,
            y: Option<String>,
            d: String,
            kid: Option<String>,
        }
        let bad = |m: &str| KeyError::BadPrivateJwk(m.to_owned());
        let raw: Raw = serde_json::from_slice(json).map_err(|e| KeyError::BadPrivateJwk(e.to_string()))?;
        let d_text = Zeroizing::new(raw.d);
        let d = Zeroizing::new(b64::decode(d_text.as_bytes()).map_err(|_| bad("d is not base64url"))?);
        let x = b64::decode(&raw.x).map_err(|_| bad("x is not base64url"))?;
        let inner = match (raw.kty.as_str(), raw.crv.as_str()) {
            ("EC", "P-256") => {
                let y = raw.y.as_deref().ok_or_else(|| bad("y is missing"))?;
                let y = b64::decode(y).map_err(|_| bad("y is not base64url"))?;
                if d.len() != 32 || x.len() != 32 || y.len() != 32 {
                    return Err(bad("P-256 members must be 32 bytes"));
                }
                let mut point = Vec::with_capacity(65);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                let pair = EcdsaKeyPair::from_private_key_and_public_key(
                    &ECDSA_P256_SHA256_FIXED_SIGNING,
                    &d,
                    &point,
                )
                .map_err(|_| bad("d does not belong to x and y"))?;
                Inner::Es256(pair)
            }
            ("OKP", "Ed25519") => {
                let pair = Ed25519KeyPair::from_seed_and_public_key(&d, &x)
                    .map_err(|_| bad("d does not belong to x"))?;
                Inner::Ed25519(pair)
            }
            (kty, crv) => {
                return Err(KeyError::BadPrivateJwk(format!("unsupported key {kty} {crv}")));
            }
        };
        let key = Self::from_inner(inner)?;
        Ok(match raw.kid {
            Some(kid) => key.with_kid(kid),
            None => key,
        })
    }

    fn from_inner(inner: Inner) -> Result<Self, KeyError> {
        let (material, alg) = match &inner {
            Inner::Es256(pair) => {
                let point = pair.public_key().as_ref();
                let (mut x, mut y) = ([0u8; 32], [0u8; 32]);
                if point.len() != 65 {
                    return Err(KeyError::Crypto);
                }
                x.copy_from_slice(&point[1..33]);
                y.copy_from_slice(&point[33..]);
                (KeyMaterial::P256 { x, y }, Algorithm::Es256)
            }
            Inner::Ed25519(pair) => {
                let x: [u8; 32] = pair
                    .public_key()
                    .as_ref()
                    .try_into()
                    .map_err(|_| KeyError::Crypto)?;
                (KeyMaterial::Ed25519 { x }, Algorithm::EdDsa)
            }
        };
        let public = PublicJwk::from_material(material, None, Some(alg))?;
        Ok(Self { inner, public })
    }

    /// Returns the key with `kid` set on its public JWK.
    #[must_use]
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.public = self.public.with_kid(kid);
        self
    }

    /// The signing algorithm.
    #[must_use]
    pub const fn algorithm(&self) -> Algorithm {
        match self.inner {
            Inner::Es256(_) => Algorithm::Es256,
            Inner::Ed25519(_) => Algorithm::EdDsa,
        }
    }

    /// The public JWK (with `kid` and `alg`).
    #[must_use]
    pub const fn public_jwk(&self) -> &PublicJwk {
        &self.public
    }

    /// The `kid`, if set.
    #[must_use]
    pub fn kid(&self) -> Option<&str> {
        self.public.kid()
    }

    /// The RFC 7638 thumbprint of the public key.
    #[must_use]
    pub fn thumbprint(&self) -> &Jkt {
        self.public.thumbprint()
    }

    /// Signs `message`: a 64-byte `R || S` for ES256, 64 bytes for Ed25519.
    ///
    /// # Errors
    /// [`KeyError::Crypto`] if the library fails.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.inner {
            // AWS-LC draws the ECDSA nonce from its own generator; the argument is unused.
            Inner::Es256(pair) => pair
                .sign(&SystemRandom::new(), message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| KeyError::Crypto),
            Inner::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }

    /// The private key as PKCS#8 DER, wiped when dropped.
    ///
    /// # Errors
    /// [`KeyError::Crypto`] if the library cannot serialise it.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let doc = match &self.inner {
            Inner::Es256(pair) => pair.to_pkcs8v1().map_err(|_| KeyError::Crypto)?,
            Inner::Ed25519(pair) => pair.to_pkcs8v1().map_err(|_| KeyError::Crypto)?,
        };
        Ok(Zeroizing::new(doc.as_ref().to_vec()))
    }

    /// The private JWK (public members, `d`, `kid`, `alg`), as JSON text wiped when dropped.
    ///
    /// # Errors
    /// [`KeyError::Crypto`] if the library cannot export the private scalar.
    pub fn to_private_jwk(&self) -> Result<Zeroizing<String>, KeyError> {
        let d = Zeroizing::new(match &self.inner {
            Inner::Es256(pair) => {
                let be = pair.private_key().as_be_bytes().map_err(|_| KeyError::Crypto)?;
                b64::encode(be.as_ref())
            }
            Inner::Ed25519(pair) => {
                let seed = pair.seed().map_err(|_| KeyError::Crypto)?;
                let be = seed.as_be_bytes().map_err(|_| KeyError::Crypto)?;
                b64::encode(be.as_ref())
            }
        });
        let mut value = self.public.to_json();
        if let serde_json::Value::Object(map) = &mut value {
            map.insert("d".into(), serde_json::Value::String(d.to_string()));
        }
        let text = Zeroizing::new(serde_json::to_string_pretty(&value).map_err(|_| KeyError::Crypto)?);
        // The Value held a copy of `d`; overwrite it before the map is dropped.
        if let serde_json::Value::Object(map) = &mut value
            && let Some(serde_json::Value::String(s)) = map.get_mut("d")
        {
            zeroize::Zeroize::zeroize(s);
        }
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_sign_verify_for_both_algorithms() {
        for alg in [Algorithm::Es256, Algorithm::EdDsa] {
            let key = SigningKey::generate(alg).unwrap();
            assert_eq!(key.algorithm(), alg);
            assert_eq!(key.kid(), Some(key.thumbprint().as_str()));
            let sig = key.sign(b"hello").unwrap();
            assert_eq!(sig.len(), 64);
            key.public_jwk().verify(alg, b"hello", &sig).unwrap();
            assert!(key.public_jwk().verify(alg, b"hellO", &sig).is_err());
        }
        assert_eq!(
            SigningKey::generate(Algorithm::Rs256).unwrap_err(),
            KeyError::CannotSign(Algorithm::Rs256)
        );
    }

    #[test]
    fn private_jwk_and_pkcs8_round_trip() {
        for alg in [Algorithm::Es256, Algorithm::EdDsa] {
            let key = SigningKey::generate(alg).unwrap();
            let jwk = key.to_private_jwk().unwrap();
            let back = SigningKey::from_private_jwk(jwk.as_bytes()).unwrap();
            assert_eq!(back.thumbprint(), key.thumbprint());
            assert_eq!(back.kid(), key.kid());
            let sig = back.sign(b"m").unwrap();
            key.public_jwk().verify(alg, b"m", &sig).unwrap();

            let der = key.to_pkcs8_der().unwrap();
            let again = SigningKey::from_pkcs8(&der).unwrap();
            assert_eq!(again.thumbprint(), key.thumbprint());
        }
    }

    #[test]
    fn public_jwk_of_a_private_key_has_no_private_members() {
        let key = SigningKey::generate(Algorithm::Es256).unwrap();
        let public = serde_json::to_vec(key.public_jwk()).unwrap();
        assert!(PublicJwk::from_json(&public).is_ok());
        let private = key.to_private_jwk().unwrap();
        assert_eq!(
            PublicJwk::from_json(private.as_bytes()).unwrap_err(),
            JwkError::PrivateMember("d")
        );
    }

    #[test]
    fn refuses_mismatched_private_jwk() {
        let a = SigningKey::generate(Algorithm::EdDsa).unwrap();
        let b = SigningKey::generate(Algorithm::EdDsa).unwrap();
        let mut mixed: serde_json::Value = serde_json::from_str(&a.to_private_jwk().unwrap()).unwrap();
        let other: serde_json::Value = serde_json::from_str(&b.to_private_jwk().unwrap()).unwrap();
        mixed["x"] = other["x"].clone();
        let err = SigningKey::from_private_jwk(mixed.to_string().as_bytes()).unwrap_err();
        assert!(matches!(err, KeyError::BadPrivateJwk(_)), "{err}");
        assert_eq!(
            SigningKey::from_pkcs8(b"not der").unwrap_err(),
            KeyError::BadPkcs8
        );
    }

    #[test]
    fn debug_redacts_the_private_key() {
        let key = SigningKey::generate(Algorithm::Es256).unwrap();
        let jwk = key.to_private_jwk().unwrap();
        let d: serde_json::Value = serde_json::from_str(&jwk).unwrap();
        let shown = format!("{key:?}");
        assert!(shown.contains("[redacted]"));
        assert!(!shown.contains(d["d"].as_str().unwrap()));
    }
}
