//! JWS algorithms Tessera knows. Signing is ES256 or EdDSA only; RS256 and PS256 are accepted
//! for verification of other issuers' tokens. `none`, every HMAC algorithm and everything else
//! is refused at parse time, so no code path can be talked into them.

use std::fmt;
use std::str::FromStr;

/// A JWS `alg` value (RFC 7518 §3.1, RFC 8037 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// ECDSA with P-256 and SHA-256; the signature is the 64-byte `R || S`.
    Es256,
    /// Ed25519 (RFC 8037).
    EdDsa,
    /// RSASSA-PKCS1-v1_5 with SHA-256; verification only.
    Rs256,
    /// RSASSA-PSS with SHA-256; verification only.
    Ps256,
}

/// An `alg` value Tessera refuses; carries the value for the error message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("algorithm {0:?} is not allowed")]
pub struct UnsupportedAlgorithm(pub String);

impl Algorithm {
    /// The registered name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
            Self::Rs256 => "RS256",
            Self::Ps256 => "PS256",
        }
    }

    /// Whether Tessera can sign with it (ES256, EdDSA).
    #[must_use]
    pub const fn can_sign(self) -> bool {
        matches!(self, Self::Es256 | Self::EdDsa)
    }

    /// The algorithms DPoP proofs may use at Tessera, as advertised in
    /// `dpop_signing_alg_values_supported`.
    pub const DPOP: &'static [Self] = &[Self::Es256, Self::EdDsa];
}

impl FromStr for Algorithm {
    type Err = UnsupportedAlgorithm;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Names are case-sensitive (RFC 7515 §4.1.1): "es256" is not ES256.
        match s {
            "ES256" => Ok(Self::Es256),
            "EdDSA" => Ok(Self::EdDsa),
            "RS256" => Ok(Self::Rs256),
            "PS256" => Ok(Self::Ps256),
            other => Err(UnsupportedAlgorithm(other.to_owned())),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Algorithm {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Algorithm {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_none_hmac_and_case_variants() {
        for bad in [
            "none", "None", "HS256", "HS512", "es256", "ES384", "RS512", "", "EDDSA",
        ] {
            assert_eq!(
                bad.parse::<Algorithm>(),
                Err(UnsupportedAlgorithm(bad.into())),
                "{bad}"
            );
        }
    }

    #[test]
    fn names_round_trip() {
        for alg in [
            Algorithm::Es256,
            Algorithm::EdDsa,
            Algorithm::Rs256,
            Algorithm::Ps256,
        ] {
            assert_eq!(alg.as_str().parse::<Algorithm>(), Ok(alg));
        }
        assert!(!Algorithm::Rs256.can_sign());
    }
}
