//! `TPM2_Certify`: the attestation key's statement (`TPMS_ATTEST`) that an object with a given
//! Name is loaded in the same TPM, and its signature (`TPMT_SIGNATURE`).

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};

use super::public::{AttestationKey, ObjectAttributes, TpmPublic};
use super::wire::Reader;
use super::{ALG_ECDSA, ALG_SHA256, GENERATED_VALUE, ST_ATTEST_CERTIFY};
use crate::{AttestError, Result};

/// A parsed `TPMS_ATTEST` of type `TPM_ST_ATTEST_CERTIFY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certification {
    /// The signer's qualified name.
    pub qualified_signer: Vec<u8>,
    /// The caller's qualifying data: here, the server's nonce.
    pub extra_data: Vec<u8>,
    /// The TPM's firmware version (vendor-specific).
    pub firmware_version: u64,
    /// The certified object's Name.
    pub certified_name: Vec<u8>,
}

impl Certification {
    /// Parses a marshalled `TPMS_ATTEST`; anything but a certification is refused.
    ///
    /// # Errors
    /// [`AttestError::Malformed`] or [`AttestError::Unsupported`].
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes, "TPMS_ATTEST");
        let magic = r.u32("magic")?;
        if magic != GENERATED_VALUE {
            return Err(r.malformed(format!(
                "magic is 0x{magic:08x}, not TPM_GENERATED_VALUE: the TPM did not make it"
            )));
        }
        let kind = r.u16("type")?;
        if kind != ST_ATTEST_CERTIFY {
            return Err(AttestError::Unsupported {
                structure: "TPMS_ATTEST",
                detail: format!("type 0x{kind:04x} is not TPM_ST_ATTEST_CERTIFY"),
            });
        }
        let qualified_signer = r.sized("qualifiedSigner")?.to_vec();
        let extra_data = r.sized("extraData")?.to_vec();
        // TPMS_CLOCK_INFO: clock, resetCount, restartCount, safe.
        r.u64("clockInfo.clock")?;
        r.u32("clockInfo.resetCount")?;
        r.u32("clockInfo.restartCount")?;
        r.u8("clockInfo.safe")?;
        let firmware_version = r.u64("firmwareVersion")?;
        let certified_name = r.sized("attested.name")?.to_vec();
        r.sized("attested.qualifiedName")?;
        r.finish()?;
        Ok(Self {
            qualified_signer,
            extra_data,
            firmware_version,
            certified_name,
        })
    }
}

/// Parses an ECDSA-SHA256 `TPMT_SIGNATURE` into the fixed `R ‖ S` form.
fn ecdsa_signature(bytes: &[u8]) -> Result<[u8; 64]> {
    let mut r = Reader::new(bytes, "TPMT_SIGNATURE");
    let alg = r.u16("sigAlg")?;
    let hash = r.u16("hash")?;
    if alg != ALG_ECDSA || hash != ALG_SHA256 {
        return Err(AttestError::Unsupported {
            structure: "TPMT_SIGNATURE",
            detail: format!("0x{alg:04x} with hash 0x{hash:04x} is not ECDSA with SHA-256"),
        });
    }
    let mut fixed = [0; 64];
    for (i, what) in ["signatureR", "signatureS"].into_iter().enumerate() {
        let part = r.sized(what)?;
        if part.is_empty() || part.len() > 32 {
            return Err(r.malformed(format!("{what} is {} bytes, not 1 to 32", part.len())));
        }
        fixed[i * 32 + 32 - part.len()..(i + 1) * 32].copy_from_slice(part);
    }
    r.finish()?;
    Ok(fixed)
}

/// A device key the TPM vouched for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertifiedKey {
    /// Its public area.
    pub public: TpmPublic,
    /// The TPM's firmware version from the certification.
    pub firmware_version: u64,
}

/// Checks that `ak` signed `certify_info` (with `signature`), that the certification is over
/// `nonce`, that it names the key whose public area is `key_public`, and that this key is a
/// non-exportable general signing key: `fixedTPM`, `fixedParent` (so no duplication),
/// `sensitiveDataOrigin` and `sign` set, `decrypt` and `restricted` clear.
///
/// # Errors
/// [`AttestError::Signature`], [`AttestError::Nonce`], [`AttestError::KeyMismatch`],
/// [`AttestError::Attributes`], or a parse error.
pub fn verify_certify(
    ak: &AttestationKey,
    key_public: &[u8],
    certify_info: &[u8],
    signature: &[u8],
    nonce: &[u8],
) -> Result<CertifiedKey> {
    let fixed = ecdsa_signature(signature)?;
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, ak.public().uncompressed_point())
        .verify(certify_info, &fixed)
        .map_err(|_| AttestError::Signature)?;
    let certification = Certification::parse(certify_info)?;
    if certification.extra_data != nonce {
        return Err(AttestError::Nonce);
    }
    let public = TpmPublic::parse(key_public)?;
    if certification.certified_name != public.name() {
        return Err(AttestError::KeyMismatch(
            "the certified Name is not the Name of the public area sent".into(),
        ));
    }
    public.attributes.check(
        "device key",
        ObjectAttributes::FIXED_TPM
            | ObjectAttributes::FIXED_PARENT
            | ObjectAttributes::SENSITIVE_DATA_ORIGIN
            | ObjectAttributes::SIGN,
        ObjectAttributes::DECRYPT | ObjectAttributes::RESTRICTED,
    )?;
    Ok(CertifiedKey {
        public,
        firmware_version: certification.firmware_version,
    })
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};

    use super::*;
    use crate::tpm::public::tests::{AK_ATTRIBUTES, ecc_public};

    const KEY_ATTRIBUTES: u32 = ObjectAttributes::FIXED_TPM
        | ObjectAttributes::FIXED_PARENT
        | ObjectAttributes::SENSITIVE_DATA_ORIGIN
        | ObjectAttributes::SIGN
        | (1 << 6);

    struct Fixture {
        ak_pair: EcdsaKeyPair,
        ak: AttestationKey,
        key_public: Vec<u8>,
    }

    fn point(pair: &EcdsaKeyPair) -> (Vec<u8>, Vec<u8>) {
        let p = pair.public_key().as_ref();
        (p[1..33].to_vec(), p[33..].to_vec())
    }

    fn fixture(key_attributes: u32) -> Fixture {
        let ak_pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let (x, y) = point(&ak_pair);
        let ak = AttestationKey::parse(&ecc_public(AK_ATTRIBUTES, true, &x, &y)).unwrap();
        let key_pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let (x, y) = point(&key_pair);
        Fixture {
            ak_pair,
            ak,
            key_public: ecc_public(key_attributes, false, &x, &y),
        }
    }

    fn certify_info(magic: u32, kind: u16, nonce: &[u8], name: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&magic.to_be_bytes());
        b.extend_from_slice(&kind.to_be_bytes());
        b.extend_from_slice(&[0, 2, 0xAA, 0xBB]); // qualifiedSigner
        b.extend_from_slice(&u16::try_from(nonce.len()).unwrap().to_be_bytes());
        b.extend_from_slice(nonce);
        b.extend_from_slice(&[0; 17]); // clockInfo
        b.extend_from_slice(&0x2019_1023_u64.to_be_bytes());
        b.extend_from_slice(&u16::try_from(name.len()).unwrap().to_be_bytes());
        b.extend_from_slice(name);
        b.extend_from_slice(&[0, 0]); // qualifiedName
        b
    }

    fn tpm_signature(pair: &EcdsaKeyPair, message: &[u8]) -> Vec<u8> {
        let sig = pair.sign(&SystemRandom::new(), message).unwrap();
        let sig = sig.as_ref();
        let mut b = Vec::new();
        b.extend_from_slice(&ALG_ECDSA.to_be_bytes());
        b.extend_from_slice(&ALG_SHA256.to_be_bytes());
        for part in [&sig[..32], &sig[32..]] {
            b.extend_from_slice(&[0, 32]);
            b.extend_from_slice(part);
        }
        b
    }

    fn name_of(public: &[u8]) -> Vec<u8> {
        TpmPublic::parse(public).unwrap().name()
    }

    #[test]
    fn a_certified_key_verifies() {
        let f = fixture(KEY_ATTRIBUTES);
        let info = certify_info(
            GENERATED_VALUE,
            ST_ATTEST_CERTIFY,
            b"nonce",
            &name_of(&f.key_public),
        );
        let sig = tpm_signature(&f.ak_pair, &info);
        let key = verify_certify(&f.ak, &f.key_public, &info, &sig, b"nonce").unwrap();
        assert_eq!(key.firmware_version, 0x2019_1023);
    }

    #[test]
    fn forged_replayed_and_mismatched_certifications_are_refused() {
        let f = fixture(KEY_ATTRIBUTES);
        let name = name_of(&f.key_public);
        let good = certify_info(GENERATED_VALUE, ST_ATTEST_CERTIFY, b"nonce", &name);
        let other = fixture(KEY_ATTRIBUTES);

        // Signed by a key that is not the AK.
        let forged = tpm_signature(&other.ak_pair, &good);
        assert_eq!(
            verify_certify(&f.ak, &f.key_public, &good, &forged, b"nonce"),
            Err(AttestError::Signature)
        );
        // Changed after signing.
        let sig = tpm_signature(&f.ak_pair, &good);
        let mut tampered = good.clone();
        *tampered.last_mut().unwrap() = 1;
        assert_eq!(
            verify_certify(&f.ak, &f.key_public, &tampered, &sig, b"nonce"),
            Err(AttestError::Signature)
        );
        // Made for an earlier challenge.
        assert_eq!(
            verify_certify(&f.ak, &f.key_public, &good, &sig, b"fresh"),
            Err(AttestError::Nonce)
        );
        // Of another key than the one presented.
        assert!(matches!(
            verify_certify(&f.ak, &other.key_public, &good, &sig, b"nonce"),
            Err(AttestError::KeyMismatch(_))
        ));
        // Not made by a TPM (an AK signs only what starts with TPM_GENERATED_VALUE).
        let outside = certify_info(0x1234_5678, ST_ATTEST_CERTIFY, b"nonce", &name);
        let sig = tpm_signature(&f.ak_pair, &outside);
        assert!(matches!(
            verify_certify(&f.ak, &f.key_public, &outside, &sig, b"nonce"),
            Err(AttestError::Malformed { .. })
        ));
        // A quote, not a certification.
        let quote = certify_info(GENERATED_VALUE, 0x8018, b"nonce", &name);
        let sig = tpm_signature(&f.ak_pair, &quote);
        assert!(matches!(
            verify_certify(&f.ak, &f.key_public, &quote, &sig, b"nonce"),
            Err(AttestError::Unsupported { .. })
        ));
    }

    #[test]
    fn exportable_or_restricted_device_keys_are_refused() {
        let cases = [
            (
                KEY_ATTRIBUTES & !ObjectAttributes::FIXED_TPM,
                "device key lacks fixedTPM",
            ),
            (
                KEY_ATTRIBUTES & !ObjectAttributes::FIXED_PARENT,
                "device key lacks fixedParent",
            ),
            (
                KEY_ATTRIBUTES & !ObjectAttributes::SENSITIVE_DATA_ORIGIN,
                "device key lacks sensitiveDataOrigin",
            ),
            (
                KEY_ATTRIBUTES | ObjectAttributes::RESTRICTED,
                "device key must not have restricted",
            ),
            (
                KEY_ATTRIBUTES | ObjectAttributes::DECRYPT,
                "device key must not have decrypt",
            ),
        ];
        for (attributes, message) in cases {
            let f = fixture(attributes);
            let info = certify_info(GENERATED_VALUE, ST_ATTEST_CERTIFY, b"n", &name_of(&f.key_public));
            let sig = tpm_signature(&f.ak_pair, &info);
            let e = verify_certify(&f.ak, &f.key_public, &info, &sig, b"n").unwrap_err();
            assert_eq!(e.to_string(), message);
        }
    }

    #[test]
    fn signatures_of_other_schemes_are_refused() {
        let f = fixture(KEY_ATTRIBUTES);
        let info = certify_info(GENERATED_VALUE, ST_ATTEST_CERTIFY, b"n", &name_of(&f.key_public));
        let mut sig = tpm_signature(&f.ak_pair, &info);
        sig[..2].copy_from_slice(&0x0014u16.to_be_bytes()); // RSASSA
        assert!(matches!(
            verify_certify(&f.ak, &f.key_public, &info, &sig, b"n"),
            Err(AttestError::Unsupported { .. })
        ));
        assert!(verify_certify(&f.ak, &f.key_public, &info, &sig[..10], b"n").is_err());
    }
}
