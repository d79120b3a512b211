//! `TPMT_PUBLIC`: a TPM object's public area, its attributes and its Name.

use aws_lc_rs::digest;

use super::wire::Reader;
use super::{ALG_ECC, ALG_ECDSA, ALG_NULL, ALG_RSA, ALG_SHA256, ECC_NIST_P256};
use crate::{AttestError, Result};

const STRUCTURE: &str = "TPMT_PUBLIC";

/// `TPMA_OBJECT`: what the TPM lets anyone do with an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectAttributes(pub u32);

impl ObjectAttributes {
    /// The object cannot leave this TPM.
    pub const FIXED_TPM: u32 = 1 << 1;
    /// The object cannot move to another parent.
    pub const FIXED_PARENT: u32 = 1 << 4;
    /// The TPM made the private part itself; it was never outside.
    pub const SENSITIVE_DATA_ORIGIN: u32 = 1 << 5;
    /// Signs or decrypts only what the TPM made itself (attestations).
    pub const RESTRICTED: u32 = 1 << 16;
    /// A decryption (or storage) key.
    pub const DECRYPT: u32 = 1 << 17;
    /// A signing key.
    pub const SIGN: u32 = 1 << 18;

    const NAMES: [(u32, &'static str); 6] = [
        (Self::FIXED_TPM, "fixedTPM"),
        (Self::FIXED_PARENT, "fixedParent"),
        (Self::SENSITIVE_DATA_ORIGIN, "sensitiveDataOrigin"),
        (Self::RESTRICTED, "restricted"),
        (Self::DECRYPT, "decrypt"),
        (Self::SIGN, "sign"),
    ];

    /// Whether every bit of `bits` is set.
    #[must_use]
    pub const fn has(self, bits: u32) -> bool {
        self.0 & bits == bits
    }

    /// Checks that `required` are set and `forbidden` are clear, naming what is wrong.
    pub(crate) fn check(self, key: &'static str, required: u32, forbidden: u32) -> Result<()> {
        let missing: Vec<&str> = Self::NAMES
            .iter()
            .filter(|(bit, _)| required & bit != 0 && self.0 & bit == 0)
            .map(|(_, name)| *name)
            .collect();
        let extra: Vec<&str> = Self::NAMES
            .iter()
            .filter(|(bit, _)| forbidden & bit != 0 && self.0 & bit != 0)
            .map(|(_, name)| *name)
            .collect();
        let mut problems = Vec::new();
        if !missing.is_empty() {
            problems.push(format!("lacks {}", missing.join(", ")));
        }
        if !extra.is_empty() {
            problems.push(format!("must not have {}", extra.join(", ")));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(AttestError::Attributes {
                key,
                detail: problems.join(" and "),
            })
        }
    }
}

/// A parsed `TPMT_PUBLIC` of an ECC P-256 key, with the bytes it was parsed from (its Name is
/// their hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpmPublic {
    bytes: Vec<u8>,
    /// The attributes.
    pub attributes: ObjectAttributes,
    /// The signing scheme and its hash, when the key has one (`TPM_ALG_NULL` leaves it to
    /// each signing command).
    pub scheme: Option<(u16, u16)>,
    /// The public point's x coordinate (32 bytes).
    pub x: [u8; 32],
    /// Its y coordinate.
    pub y: [u8; 32],
}

impl TpmPublic {
    /// Parses a marshalled `TPMT_PUBLIC` (no `TPM2B_PUBLIC` size in front). Only ECC P-256
    /// keys named with SHA-256 are accepted.
    ///
    /// # Errors
    /// [`AttestError::Malformed`] or [`AttestError::Unsupported`].
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes, STRUCTURE);
        let kind = r.u16("type")?;
        let name_alg = r.u16("nameAlg")?;
        let attributes = ObjectAttributes(r.u32("objectAttributes")?);
        r.sized("authPolicy")?;
        let unsupported = |detail: String| AttestError::Unsupported {
            structure: STRUCTURE,
            detail,
        };
        match kind {
            ALG_ECC => {}
            ALG_RSA => return Err(unsupported("RSA keys are not accepted; use ECC P-256".into())),
            other => return Err(unsupported(format!("key type 0x{other:04x} is not ECC"))),
        }
        if name_alg != ALG_SHA256 {
            return Err(unsupported(format!("nameAlg 0x{name_alg:04x} is not SHA-256")));
        }
        // TPMS_ECC_PARMS: symmetric, scheme, curveID, kdf.
        if r.u16("symmetric.algorithm")? != ALG_NULL {
            r.u16("symmetric.keyBits")?;
            r.u16("symmetric.mode")?;
        }
        let scheme = match r.u16("scheme.scheme")? {
            ALG_NULL => None,
            ALG_ECDSA => Some((ALG_ECDSA, r.u16("scheme.hashAlg")?)),
            other => {
                return Err(unsupported(format!("signing scheme 0x{other:04x} is not ECDSA")));
            }
        };
        let curve = r.u16("curveID")?;
        if curve != ECC_NIST_P256 {
            return Err(unsupported(format!("curve 0x{curve:04x} is not NIST P-256")));
        }
        if r.u16("kdf.scheme")? != ALG_NULL {
            r.u16("kdf.hashAlg")?;
        }
        let x = coordinate(&mut r, "unique.x")?;
        let y = coordinate(&mut r, "unique.y")?;
        r.finish()?;
        Ok(Self {
            bytes: bytes.to_vec(),
            attributes,
            scheme,
            x,
            y,
        })
    }

    /// The marshalled bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The object's Name: `nameAlg ‖ SHA-256(TPMT_PUBLIC)`.
    #[must_use]
    pub fn name(&self) -> Vec<u8> {
        let mut name = ALG_SHA256.to_be_bytes().to_vec();
        name.extend_from_slice(digest::digest(&digest::SHA256, &self.bytes).as_ref());
        name
    }

    /// The public point uncompressed (`04 ‖ x ‖ y`), as signature verification takes it.
    #[must_use]
    pub fn uncompressed_point(&self) -> [u8; 65] {
        let mut p = [0; 65];
        p[0] = 4;
        p[1..33].copy_from_slice(&self.x);
        p[33..].copy_from_slice(&self.y);
        p
    }
}

/// A P-256 coordinate: a `TPM2B_ECC_PARAMETER` of at most 32 bytes, left-padded.
fn coordinate(r: &mut Reader<'_>, what: &str) -> Result<[u8; 32]> {
    let bytes = r.sized(what)?;
    if bytes.len() > 32 || bytes.is_empty() {
        return Err(r.malformed(format!("{what} is {} bytes, not 1 to 32", bytes.len())));
    }
    let mut c = [0; 32];
    c[32 - bytes.len()..].copy_from_slice(bytes);
    Ok(c)
}

/// An attestation key: a restricted ECDSA P-256 signing key that cannot leave its TPM, so
/// whatever it signs was made by that TPM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationKey {
    public: TpmPublic,
}

impl AttestationKey {
    /// Parses the AK's `TPMT_PUBLIC` and checks its attributes: `fixedTPM`, `fixedParent`,
    /// `sensitiveDataOrigin`, `restricted` and `sign` set, `decrypt` clear, scheme ECDSA with
    /// SHA-256.
    ///
    /// # Errors
    /// [`AttestError::Malformed`], [`AttestError::Unsupported`] or [`AttestError::Attributes`].
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let public = TpmPublic::parse(bytes)?;
        public.attributes.check(
            "attestation key",
            ObjectAttributes::FIXED_TPM
                | ObjectAttributes::FIXED_PARENT
                | ObjectAttributes::SENSITIVE_DATA_ORIGIN
                | ObjectAttributes::RESTRICTED
                | ObjectAttributes::SIGN,
            ObjectAttributes::DECRYPT,
        )?;
        if public.scheme != Some((ALG_ECDSA, ALG_SHA256)) {
            return Err(AttestError::Attributes {
                key: "attestation key",
                detail: "must have the scheme ECDSA with SHA-256".into(),
            });
        }
        Ok(Self { public })
    }

    /// The AK's Name, which `MakeCredential` binds the secret to.
    #[must_use]
    pub fn name(&self) -> Vec<u8> {
        self.public.name()
    }

    /// The public area.
    #[must_use]
    pub const fn public(&self) -> &TpmPublic {
        &self.public
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A marshalled ECC P-256 `TPMT_PUBLIC` with `attributes`, an optional ECDSA-SHA256 scheme,
    /// and the point (`x`, `y`).
    pub(crate) fn ecc_public(attributes: u32, ecdsa: bool, x: &[u8], y: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&ALG_ECC.to_be_bytes());
        b.extend_from_slice(&ALG_SHA256.to_be_bytes());
        b.extend_from_slice(&attributes.to_be_bytes());
        b.extend_from_slice(&0u16.to_be_bytes()); // authPolicy
        b.extend_from_slice(&ALG_NULL.to_be_bytes()); // symmetric
        if ecdsa {
            b.extend_from_slice(&ALG_ECDSA.to_be_bytes());
            b.extend_from_slice(&ALG_SHA256.to_be_bytes());
        } else {
            b.extend_from_slice(&ALG_NULL.to_be_bytes());
        }
        b.extend_from_slice(&ECC_NIST_P256.to_be_bytes());
        b.extend_from_slice(&ALG_NULL.to_be_bytes()); // kdf
        for c in [x, y] {
            b.extend_from_slice(&u16::try_from(c.len()).unwrap().to_be_bytes());
            b.extend_from_slice(c);
        }
        b
    }

    pub(crate) const AK_ATTRIBUTES: u32 = ObjectAttributes::FIXED_TPM
        | ObjectAttributes::FIXED_PARENT
        | ObjectAttributes::SENSITIVE_DATA_ORIGIN
        | ObjectAttributes::RESTRICTED
        | ObjectAttributes::SIGN
        | (1 << 6); // userWithAuth

    #[test]
    fn an_attestation_key_parses_and_is_named() {
        let bytes = ecc_public(AK_ATTRIBUTES, true, &[1; 32], &[2; 32]);
        let ak = AttestationKey::parse(&bytes).unwrap();
        let name = ak.name();
        assert_eq!(name.len(), 34);
        assert_eq!(&name[..2], &[0x00, 0x0B]);
        assert_eq!(ak.public().x, [1; 32]);
    }

    #[test]
    fn short_coordinates_are_left_padded() {
        let bytes = ecc_public(AK_ATTRIBUTES, true, &[1; 31], &[2; 32]);
        let public = TpmPublic::parse(&bytes).unwrap();
        assert_eq!(public.x[0], 0);
        assert_eq!(public.x[1], 1);
    }

    #[test]
    fn attestation_keys_that_could_leave_or_sign_anything_are_refused() {
        let cases = [
            (
                AK_ATTRIBUTES & !ObjectAttributes::FIXED_TPM,
                "attestation key lacks fixedTPM",
            ),
            (
                AK_ATTRIBUTES & !(ObjectAttributes::FIXED_PARENT | ObjectAttributes::SENSITIVE_DATA_ORIGIN),
                "attestation key lacks fixedParent, sensitiveDataOrigin",
            ),
            (
                AK_ATTRIBUTES & !ObjectAttributes::RESTRICTED,
                "attestation key lacks restricted",
            ),
            (
                AK_ATTRIBUTES | ObjectAttributes::DECRYPT,
                "attestation key must not have decrypt",
            ),
        ];
        for (attributes, message) in cases {
            let bytes = ecc_public(attributes, true, &[1; 32], &[2; 32]);
            assert_eq!(AttestationKey::parse(&bytes).unwrap_err().to_string(), message);
        }
        let no_scheme = ecc_public(AK_ATTRIBUTES, false, &[1; 32], &[2; 32]);
        assert!(matches!(
            AttestationKey::parse(&no_scheme),
            Err(AttestError::Attributes { .. })
        ));
    }

    #[test]
    fn other_key_types_and_truncations_are_refused() {
        let mut rsa = ecc_public(AK_ATTRIBUTES, true, &[1; 32], &[2; 32]);
        rsa[..2].copy_from_slice(&ALG_RSA.to_be_bytes());
        assert!(matches!(
            TpmPublic::parse(&rsa),
            Err(AttestError::Unsupported { .. })
        ));
        let bytes = ecc_public(AK_ATTRIBUTES, true, &[1; 32], &[2; 32]);
        for n in 0..bytes.len() {
            assert!(TpmPublic::parse(&bytes[..n]).is_err(), "{n} bytes parsed");
        }
        let mut long = bytes;
        long.push(0);
        assert!(TpmPublic::parse(&long).is_err());
        let wide = ecc_public(AK_ATTRIBUTES, true, &[1; 33], &[2; 32]);
        assert!(TpmPublic::parse(&wide).is_err());
    }
}
