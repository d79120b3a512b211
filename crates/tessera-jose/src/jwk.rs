//! JSON Web Keys (RFC 7517/7518/8037) as *public* verification keys, and their RFC 7638
//! thumbprints.
//!
//! A [`PublicJwk`] is parsed once: its members are decoded and checked, the key is handed to
//! AWS-LC, which validates it (a P-256 point must lie on the curve) and keeps it in parsed
//! form, and its thumbprint is computed. Verifying a signature afterwards costs only the
//! signature check itself.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self as sig, ParsedPublicKey, VerificationAlgorithm};
use serde::Deserialize;

use crate::alg::Algorithm;
use crate::b64;

/// Why a JWK was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwkError {
    /// Not JSON, not an object, a member of the wrong type or a duplicated member.
    #[error("malformed JWK: {0}")]
    Malformed(String),
    /// A private or symmetric key member (`d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`, `k`) where a
    /// public key was expected.
    #[error("JWK carries the private member {0:?} where a public key is expected")]
    PrivateMember(&'static str),
    /// A `kty`/`crv` Tessera does not verify with.
    #[error("unsupported key type {0}")]
    UnsupportedKeyType(String),
    /// A required member is absent.
    #[error("JWK is missing the {0:?} member")]
    MissingMember(&'static str),
    /// A member is not canonical base64url or has the wrong length.
    #[error("JWK member {0:?} is not valid")]
    BadMember(&'static str),
    /// The key's `alg` is not one this key type can use.
    #[error("JWK declares alg {0:?}, which its key type cannot use")]
    AlgorithmMismatch(String),
    /// The key material itself was refused (a point off the curve, a small RSA modulus, …).
    #[error("the key was rejected: {0}")]
    Rejected(String),
}

/// An RFC 7638 JWK SHA-256 thumbprint, base64url: the `jkt` of DPoP and `cnf`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Jkt(String);

impl Jkt {
    /// The thumbprint text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn from_digest(d: &digest::Digest) -> Self {
        Self(b64::encode(d.as_ref()))
    }
}

impl fmt::Debug for Jkt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Jkt({})", self.0)
    }
}

impl fmt::Display for Jkt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Jkt {
    type Err = JwkError;

    /// Accepts exactly the base64url encoding of a SHA-256 digest (43 characters).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        b64::decode_array::<32>(s).map_err(|_| JwkError::BadMember("jkt"))?;
        Ok(Self(s.to_owned()))
    }
}

impl TryFrom<String> for Jkt {
    type Error = JwkError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Jkt> for String {
    fn from(j: Jkt) -> Self {
        j.0
    }
}

/// The members of a JWK as they arrive, before any checking. Duplicate members are refused by
/// serde; unknown members are ignored (RFC 7517 §4).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawJwk {
    kty: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    n: Option<String>,
    e: Option<String>,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    // Private and symmetric members: present only to be refused.
    d: Option<serde::de::IgnoredAny>,
    p: Option<serde::de::IgnoredAny>,
    q: Option<serde::de::IgnoredAny>,
    dp: Option<serde::de::IgnoredAny>,
    dq: Option<serde::de::IgnoredAny>,
    qi: Option<serde::de::IgnoredAny>,
    oth: Option<serde::de::IgnoredAny>,
    k: Option<serde::de::IgnoredAny>,
}

impl RawJwk {
    fn private_member(&self) -> Option<&'static str> {
        [
            ("d", self.d.is_some()),
            ("p", self.p.is_some()),
            ("q", self.q.is_some()),
            ("dp", self.dp.is_some()),
            ("dq", self.dq.is_some()),
            ("qi", self.qi.is_some()),
            ("oth", self.oth.is_some()),
            ("k", self.k.is_some()),
        ]
        .into_iter()
        .find_map(|(name, present)| present.then_some(name))
    }
}

/// The public key material.
#[derive(Clone, PartialEq, Eq)]
pub enum KeyMaterial {
    /// An EC P-256 point.
    P256 {
        /// The x coordinate, 32 bytes big-endian.
        x: [u8; 32],
        /// The y coordinate, 32 bytes big-endian.
        y: [u8; 32],
    },
    /// An Ed25519 public key (`kty` OKP, RFC 8037).
    Ed25519 {
        /// The 32-byte public key.
        x: [u8; 32],
    },
    /// An RSA public key, for verification only.
    Rsa {
        /// The modulus, big-endian, as given.
        n: Vec<u8>,
        /// The public exponent, big-endian, as given.
        e: Vec<u8>,
    },
}

impl KeyMaterial {
    /// The algorithms this key type can verify.
    #[must_use]
    pub fn algorithms(&self) -> &'static [Algorithm] {
        match self {
            Self::P256 { .. } => &[Algorithm::Es256],
            Self::Ed25519 { .. } => &[Algorithm::EdDsa],
            Self::Rsa { .. } => &[Algorithm::Rs256, Algorithm::Ps256],
        }
    }

    /// The RFC 7638 canonical JSON: required members only, in lexicographic order, no
    /// whitespace. Every value is base64url or a fixed name, so none needs escaping.
    #[must_use]
    pub fn thumbprint_input(&self) -> String {
        match self {
            Self::P256 { x, y } => format!(
                r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
                b64::encode(x),
                b64::encode(y)
            ),
            Self::Ed25519 { x } => {
                format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, b64::encode(x))
            }
            Self::Rsa { n, e } => format!(
                r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
                b64::encode(e),
                b64::encode(n)
            ),
        }
    }

    /// The RFC 7638 SHA-256 thumbprint.
    #[must_use]
    pub fn thumbprint(&self) -> Jkt {
        Jkt::from_digest(&digest::digest(
            &digest::SHA256,
            self.thumbprint_input().as_bytes(),
        ))
    }
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::P256 { .. } => f.write_str("P256"),
            Self::Ed25519 { .. } => f.write_str("Ed25519"),
            Self::Rsa { n, .. } => write!(f, "Rsa({} bits)", significant_bits(n)),
        }
    }
}

/// A public verification key, parsed and validated once.
#[derive(Clone)]
pub struct PublicJwk {
    material: KeyMaterial,
    kid: Option<String>,
    alg: Option<Algorithm>,
    usage: Option<String>,
    jkt: Jkt,
    verifiers: Arc<[(Algorithm, ParsedPublicKey)]>,
}

impl fmt::Debug for PublicJwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicJwk")
            .field("material", &self.material)
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("jkt", &self.jkt)
            .finish_non_exhaustive()
    }
}

impl PartialEq for PublicJwk {
    fn eq(&self, other: &Self) -> bool {
        self.material == other.material && self.kid == other.kid && self.alg == other.alg
    }
}

/// The smallest RSA modulus Tessera accepts, in bits.
pub const MIN_RSA_BITS: usize = 2048;

impl PublicJwk {
    /// Parses a public JWK from JSON text.
    ///
    /// # Errors
    /// [`JwkError`] for malformed JSON, private members, unsupported types or bad key material.
    pub fn from_json(json: &[u8]) -> Result<Self, JwkError> {
        let raw: RawJwk = serde_json::from_slice(json).map_err(|e| JwkError::Malformed(e.to_string()))?;
        Self::from_raw(raw)
    }

    /// Parses a public JWK from a JSON value.
    ///
    /// # Errors
    /// As [`PublicJwk::from_json`].
    pub fn from_value(value: &serde_json::Value) -> Result<Self, JwkError> {
        let raw = RawJwk::deserialize(value).map_err(|e| JwkError::Malformed(e.to_string()))?;
        Self::from_raw(raw)
    }

    /// Builds a key from checked material.
    ///
    /// # Errors
    /// [`JwkError::Rejected`] when AWS-LC refuses the key, [`JwkError::AlgorithmMismatch`] when
    /// `alg` does not fit the key type.
    pub fn from_material(
        material: KeyMaterial,
        kid: Option<String>,
        alg: Option<Algorithm>,
    ) -> Result<Self, JwkError> {
        if let Some(alg) = alg
            && !material.algorithms().contains(&alg)
        {
            return Err(JwkError::AlgorithmMismatch(alg.as_str().to_owned()));
        }
        let verifiers = match &material {
            KeyMaterial::P256 { x, y } => {
                let mut point = [0u8; 65];
                point[0] = 0x04;
                point[1..33].copy_from_slice(x);
                point[33..].copy_from_slice(y);
                vec![(Algorithm::Es256, parse(&sig::ECDSA_P256_SHA256_FIXED, &point)?)]
            }
            KeyMaterial::Ed25519 { x } => vec![(Algorithm::EdDsa, parse(&sig::ED25519, x)?)],
            KeyMaterial::Rsa { n, e } => {
                if significant_bits(n) < MIN_RSA_BITS {
                    return Err(JwkError::Rejected(format!(
                        "RSA modulus shorter than {MIN_RSA_BITS} bits"
                    )));
                }
                let der = rsa_public_key_der(n, e);
                let mut v = Vec::with_capacity(2);
                for a in material.algorithms() {
                    if alg.is_none_or(|only| only == *a) {
                        let vk: &'static dyn VerificationAlgorithm = match a {
                            Algorithm::Ps256 => &sig::RSA_PSS_2048_8192_SHA256,
                            _ => &sig::RSA_PKCS1_2048_8192_SHA256,
                        };
                        v.push((*a, parse(vk, &der)?));
                    }
                }
                v
            }
        };
        let jkt = material.thumbprint();
        Ok(Self {
            material,
            kid,
            alg,
            usage: None,
            jkt,
            verifiers: verifiers.into(),
        })
    }

    pub(crate) fn from_raw(raw: RawJwk) -> Result<Self, JwkError> {
        if let Some(member) = raw.private_member() {
            return Err(JwkError::PrivateMember(member));
        }
        let kty = raw.kty.as_deref().ok_or(JwkError::MissingMember("kty"))?;
        let material = match kty {
            "EC" => {
                let crv = raw.crv.as_deref().ok_or(JwkError::MissingMember("crv"))?;
                if crv != "P-256" {
                    return Err(JwkError::UnsupportedKeyType(format!("EC {crv}")));
                }
                KeyMaterial::P256 {
                    x: member32(raw.x.as_deref(), "x")?,
                    y: member32(raw.y.as_deref(), "y")?,
                }
            }
            "OKP" => {
                let crv = raw.crv.as_deref().ok_or(JwkError::MissingMember("crv"))?;
                if crv != "Ed25519" {
                    return Err(JwkError::UnsupportedKeyType(format!("OKP {crv}")));
                }
                KeyMaterial::Ed25519 {
                    x: member32(raw.x.as_deref(), "x")?,
                }
            }
            "RSA" => {
                let n = raw.n.as_deref().ok_or(JwkError::MissingMember("n"))?;
                let e = raw.e.as_deref().ok_or(JwkError::MissingMember("e"))?;
                let n = b64::decode(n).map_err(|_| JwkError::BadMember("n"))?;
                let e = b64::decode(e).map_err(|_| JwkError::BadMember("e"))?;
                if n.is_empty() || e.is_empty() || e.len() > 8 {
                    return Err(JwkError::BadMember(if n.is_empty() { "n" } else { "e" }));
                }
                KeyMaterial::Rsa { n, e }
            }
            other => return Err(JwkError::UnsupportedKeyType(other.to_owned())),
        };
        let alg = match raw.alg.as_deref() {
            None => None,
            Some(a) => Some(a.parse().map_err(|_| JwkError::AlgorithmMismatch(a.to_owned()))?),
        };
        let mut key = Self::from_material(material, raw.kid, alg)?;
        key.usage = raw.usage;
        Ok(key)
    }

    /// The key material.
    #[must_use]
    pub fn material(&self) -> &KeyMaterial {
        &self.material
    }

    /// The `kid`, if any. A lookup hint, never a proof of anything.
    #[must_use]
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The `alg` the key is restricted to, if it declares one.
    #[must_use]
    pub fn alg(&self) -> Option<Algorithm> {
        self.alg
    }

    /// The `use` member, if any (`sig`, `enc`).
    #[must_use]
    pub fn usage(&self) -> Option<&str> {
        self.usage.as_deref()
    }

    /// The RFC 7638 thumbprint, computed once at parse time.
    #[must_use]
    pub fn thumbprint(&self) -> &Jkt {
        &self.jkt
    }

    /// Returns a copy that carries `kid`.
    #[must_use]
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// Whether this key may verify signatures made with `alg`: the key type must support it,
    /// and a key that declares an `alg` allows only that one.
    #[must_use]
    pub fn allows(&self, alg: Algorithm) -> bool {
        self.verifiers.iter().any(|(a, _)| *a == alg)
    }

    /// Verifies `signature` over `message` with `alg`.
    ///
    /// # Errors
    /// [`crate::jws::JwsError::AlgorithmNotAllowedForKey`] when the key does not allow `alg`,
    /// [`crate::jws::JwsError::BadSignature`] when the signature does not verify.
    pub fn verify(
        &self,
        alg: Algorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), crate::jws::JwsError> {
        let (_, key) = self
            .verifiers
            .iter()
            .find(|(a, _)| *a == alg)
            .ok_or(crate::jws::JwsError::AlgorithmNotAllowedForKey(alg))?;
        key.verify_sig(message, signature)
            .map_err(|_| crate::jws::JwsError::BadSignature)
    }

    /// The public JWK as JSON: key members plus `kid`, `alg` and `use` when set.
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        let mut put = |k: &str, v: String| {
            map.insert(k.to_owned(), serde_json::Value::String(v));
        };
        match &self.material {
            KeyMaterial::P256 { x, y } => {
                put("kty", "EC".into());
                put("crv", "P-256".into());
                put("x", b64::encode(x));
                put("y", b64::encode(y));
            }
            KeyMaterial::Ed25519 { x } => {
                put("kty", "OKP".into());
                put("crv", "Ed25519".into());
                put("x", b64::encode(x));
            }
            KeyMaterial::Rsa { n, e } => {
                put("kty", "RSA".into());
                put("n", b64::encode(n));
                put("e", b64::encode(e));
            }
        }
        if let Some(kid) = &self.kid {
            put("kid", kid.clone());
        }
        if let Some(alg) = self.alg {
            put("alg", alg.as_str().to_owned());
        }
        if let Some(usage) = &self.usage {
            put("use", usage.clone());
        }
        serde_json::Value::Object(map)
    }
}

impl serde::Serialize for PublicJwk {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> Deserialize<'de> for PublicJwk {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawJwk::deserialize(d)?;
        Self::from_raw(raw).map_err(serde::de::Error::custom)
    }
}

fn parse(alg: &'static dyn VerificationAlgorithm, bytes: &[u8]) -> Result<ParsedPublicKey, JwkError> {
    ParsedPublicKey::new(alg, bytes).map_err(|e| JwkError::Rejected(e.to_string()))
}

fn member32(value: Option<&str>, name: &'static str) -> Result<[u8; 32], JwkError> {
    let value = value.ok_or(JwkError::MissingMember(name))?;
    b64::decode_array::<32>(value).map_err(|_| JwkError::BadMember(name))
}

fn significant_bits(bytes: &[u8]) -> usize {
    match bytes.iter().position(|b| *b != 0) {
        None => 0,
        Some(i) => (bytes.len() - i - 1) * 8 + (8 - bytes[i].leading_zeros() as usize),
    }
}

/// DER of PKCS#1 `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`.
fn rsa_public_key_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    fn integer(out: &mut Vec<u8>, bytes: &[u8]) {
        let start = bytes
            .iter()
            .position(|b| *b != 0)
            .unwrap_or(bytes.len().saturating_sub(1));
        let bytes = &bytes[start..];
        let pad = bytes.first().is_some_and(|b| b & 0x80 != 0);
        out.push(0x02);
        length(out, bytes.len() + usize::from(pad));
        if pad {
            out.push(0);
        }
        out.extend_from_slice(bytes);
    }
    fn length(out: &mut Vec<u8>, len: usize) {
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let be = len.to_be_bytes();
            let skip = be.iter().position(|b| *b != 0).unwrap_or(be.len() - 1);
            out.push(0x80 | (be.len() - skip) as u8);
            out.extend_from_slice(&be[skip..]);
        }
    }
    let mut body = Vec::with_capacity(n.len() + e.len() + 16);
    integer(&mut body, n);
    integer(&mut body, e);
    let mut out = Vec::with_capacity(body.len() + 8);
    out.push(0x30);
    length(&mut out, body.len());
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7638 §3.1: the example RSA key and its thumbprint.
    const RFC7638_KEY: &str = r#"{
      "kty": "RSA",
      "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
      "e": "AQAB",
      "alg": "RS256",
      "kid": "2011-04-29"
    }"#;

    #[test]
    fn rfc7638_thumbprint_example() {
        let key = PublicJwk::from_json(RFC7638_KEY.as_bytes()).unwrap();
        assert_eq!(
            key.thumbprint().as_str(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        assert_eq!(key.kid(), Some("2011-04-29"));
        assert!(key.allows(Algorithm::Rs256));
        assert!(
            !key.allows(Algorithm::Ps256),
            "a key with alg RS256 allows only RS256"
        );
    }

    #[test]
    fn rfc8037_ed25519_thumbprint_example() {
        // RFC 8037 Appendix A.3.
        let key = PublicJwk::from_json(
            br#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#,
        )
        .unwrap();
        assert_eq!(
            key.thumbprint().as_str(),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn thumbprint_ignores_optional_members_and_order() {
        let a = PublicJwk::from_json(
            br#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#,
        )
        .unwrap();
        let b = PublicJwk::from_json(
            br#"{"x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","use":"sig","kid":"k","crv":"Ed25519","kty":"OKP"}"#,
        )
        .unwrap();
        assert_eq!(a.thumbprint(), b.thumbprint());
    }

    #[test]
    fn refuses_every_private_member() {
        let base = r#""kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo""#;
        for member in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            let json = format!(r#"{{{base},"{member}":"AAAA"}}"#);
            assert_eq!(
                PublicJwk::from_json(json.as_bytes()).unwrap_err(),
                JwkError::PrivateMember(member),
                "{member}"
            );
        }
    }

    #[test]
    fn negative_table() {
        let x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
        let cases: &[(&str, JwkError)] = &[
            ("[]", JwkError::Malformed(String::new())),
            (r#"{"kty":"OKP","kty":"EC"}"#, JwkError::Malformed(String::new())),
            (r#"{"crv":"Ed25519"}"#, JwkError::MissingMember("kty")),
            (r#"{"kty":"oct","k":"AAAA"}"#, JwkError::PrivateMember("k")),
            (r#"{"kty":"oct"}"#, JwkError::UnsupportedKeyType("oct".into())),
            (
                r#"{"kty":"EC","crv":"P-384","x":"","y":""}"#,
                JwkError::UnsupportedKeyType("EC P-384".into()),
            ),
            (
                r#"{"kty":"OKP","crv":"X25519","x":""}"#,
                JwkError::UnsupportedKeyType("OKP X25519".into()),
            ),
            (r#"{"kty":"OKP","crv":"Ed25519"}"#, JwkError::MissingMember("x")),
            (
                r#"{"kty":"OKP","crv":"Ed25519","x":"AAAA"}"#,
                JwkError::BadMember("x"),
            ),
            (
                r#"{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}"#,
                JwkError::BadMember("x"),
            ),
            (
                r#"{"kty":"RSA","n":"AQAB","e":"AQAB"}"#,
                JwkError::Rejected(String::new()),
            ),
        ];
        for (json, want) in cases {
            let got = PublicJwk::from_json(json.as_bytes()).unwrap_err();
            assert_eq!(
                std::mem::discriminant(&got),
                std::mem::discriminant(want),
                "{json}: {got}"
            );
            if !matches!(want, JwkError::Malformed(_) | JwkError::Rejected(_)) {
                assert_eq!(&got, want, "{json}");
            }
        }
        let mismatch = format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","alg":"ES256"}}"#);
        assert_eq!(
            PublicJwk::from_json(mismatch.as_bytes()).unwrap_err(),
            JwkError::AlgorithmMismatch("ES256".into())
        );
        let none = format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","alg":"none"}}"#);
        assert_eq!(
            PublicJwk::from_json(none.as_bytes()).unwrap_err(),
            JwkError::AlgorithmMismatch("none".into())
        );
    }

    #[test]
    fn refuses_a_p256_point_off_the_curve() {
        let x = b64::encode([1u8; 32]);
        let y = b64::encode([2u8; 32]);
        let json = format!(r#"{{"kty":"EC","crv":"P-256","x":"{x}","y":"{y}"}}"#);
        assert!(matches!(
            PublicJwk::from_json(json.as_bytes()),
            Err(JwkError::Rejected(_))
        ));
    }

    #[test]
    fn jkt_parsing_is_strict() {
        assert!(
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
                .parse::<Jkt>()
                .is_ok()
        );
        assert!(
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9X"
                .parse::<Jkt>()
                .is_err()
        );
        assert!(
            "NzbLsXh8uDCcd+6MNwXF4W/7noWXFZAfHkxZsRGC9Xs"
                .parse::<Jkt>()
                .is_err()
        );
    }

    #[test]
    fn der_integer_encoding() {
        assert_eq!(
            rsa_public_key_der(&[0x80], &[1, 0, 1]),
            [0x30, 9, 2, 2, 0, 0x80, 2, 3, 1, 0, 1]
        );
        assert_eq!(
            rsa_public_key_der(&[0, 0, 0x7f], &[3]),
            [0x30, 6, 2, 1, 0x7f, 2, 1, 3]
        );
    }
}
