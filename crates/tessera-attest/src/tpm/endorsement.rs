//! The endorsement key certificate: proof from the TPM's manufacturer that an EK lives in a
//! genuine TPM. It must chain to a root the operator trusts (webpki builds and checks the
//! path); its subject alternative name says who made the TPM, which model and which version
//! (TCG EK Credential Profile §3.2.9).

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use webpki::{EndEntityCert, KeyUsage};
use x509_parser::prelude::{FromDer as _, GeneralName, X509Certificate};

use crate::{AttestError, Result};

/// `tcg-kp-EKCertificate` (2.23.133.8.1), the EK certificate's extended key usage, as DER
/// OID content.
const EKU_EK_CERTIFICATE: &[u8] = &[0x67, 0x81, 0x05, 0x08, 0x01];
const TPM_MANUFACTURER: &str = "2.23.133.2.1";
const TPM_MODEL: &str = "2.23.133.2.2";
const TPM_VERSION: &str = "2.23.133.2.3";

/// The manufacturer roots (and intermediates) an operator trusts for EK certificates.
#[derive(Debug, Clone, Default)]
pub struct TrustedRoots {
    anchors: Vec<TrustAnchor<'static>>,
    intermediates: Vec<CertificateDer<'static>>,
}

impl TrustedRoots {
    /// Adds the root certificates in `pem` (one or more `CERTIFICATE` blocks).
    ///
    /// # Errors
    /// [`AttestError::Endorsement`] when the PEM has no certificate or one does not parse.
    pub fn add_roots_pem(&mut self, pem: &[u8]) -> Result<usize> {
        let certs = certificates(pem)?;
        for der in &certs {
            let anchor = webpki::anchor_from_trusted_cert(der)
                .map_err(|e| AttestError::Endorsement(format!("a root does not parse: {e}")))?;
            self.anchors.push(anchor.to_owned());
        }
        Ok(certs.len())
    }

    /// Adds intermediate CA certificates in `pem`, used to build paths to the roots.
    ///
    /// # Errors
    /// As [`TrustedRoots::add_roots_pem`].
    pub fn add_intermediates_pem(&mut self, pem: &[u8]) -> Result<usize> {
        let certs = certificates(pem)?;
        let n = certs.len();
        self.intermediates.extend(certs);
        Ok(n)
    }

    /// Whether no root is configured.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }
}

fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| AttestError::Endorsement(format!("PEM does not parse: {e}")))?;
    if certs.is_empty() {
        return Err(AttestError::Endorsement("no CERTIFICATE in the PEM".into()));
    }
    Ok(certs)
}

/// A verified endorsement key: its public key and what its certificate says about the TPM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endorsement {
    public_key_der: Vec<u8>,
    /// The TPM manufacturer's TCG vendor id, decoded to its letters where it is ASCII
    /// (`IFX`, `NTC`, `STM`), else as in the certificate (`id:00001014`).
    pub manufacturer: String,
    /// The TPM model.
    pub model: String,
    /// The TPM version (firmware), as the certificate gives it.
    pub version: String,
}

impl Endorsement {
    /// The EK's `SubjectPublicKeyInfo`, DER.
    #[must_use]
    pub fn public_key_der(&self) -> &[u8] {
        &self.public_key_der
    }

    #[cfg(test)]
    pub(crate) fn for_tests(public_key_der: Vec<u8>) -> Self {
        Self {
            public_key_der,
            manufacturer: "test".into(),
            model: "test".into(),
            version: "1".into(),
        }
    }
}

/// Checks that `certificate` (DER) is an EK certificate chaining to one of `roots`, with
/// `chain` (DER) as extra intermediates, valid at `now` (seconds since the epoch).
///
/// # Errors
/// [`AttestError::Endorsement`] saying why.
pub fn verify_endorsement(
    certificate: &[u8],
    chain: &[Vec<u8>],
    roots: &TrustedRoots,
    now: u64,
) -> Result<Endorsement> {
    if roots.is_empty() {
        return Err(AttestError::Endorsement(
            "no manufacturer root is trusted; configure [devices.attestation] tpm_roots".into(),
        ));
    }
    let der = CertificateDer::from(certificate);
    let cert = EndEntityCert::try_from(&der)
        .map_err(|e| AttestError::Endorsement(format!("does not parse: {e}")))?;
    let mut intermediates: Vec<CertificateDer<'_>> =
        chain.iter().map(|c| CertificateDer::from(c.as_slice())).collect();
    intermediates.extend(roots.intermediates.iter().cloned());
    cert.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &roots.anchors,
        &intermediates,
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(now)),
        KeyUsage::required_if_present(EKU_EK_CERTIFICATE),
        None,
        None,
    )
    .map_err(|e| AttestError::Endorsement(format!("does not chain to a trusted manufacturer root: {e}")))?;

    read_endorsement_unverified(certificate)
}

/// Reads an EK certificate's public key and what it says about the TPM *without* checking its
/// chain: for a server that registers devices of manufacturers it does not trust as unattested
/// hardware, and still wants credential activation to prove the AK is in that EK's TPM.
///
/// # Errors
/// [`AttestError::Endorsement`] when the certificate does not parse or names no manufacturer.
pub fn read_endorsement_unverified(certificate: &[u8]) -> Result<Endorsement> {
    let (_, parsed) = X509Certificate::from_der(certificate)
        .map_err(|e| AttestError::Endorsement(format!("does not parse: {e}")))?;
    let public_key_der = parsed.public_key().raw.to_vec();
    let (mut manufacturer, mut model, mut version) = (None, None, None);
    if let Ok(Some(san)) = parsed.subject_alternative_name() {
        for name in &san.value.general_names {
            let GeneralName::DirectoryName(dn) = name else {
                continue;
            };
            for attr in dn.iter_attributes() {
                let value = attr.as_str().ok().map(str::to_owned);
                match attr.attr_type().to_id_string().as_str() {
                    TPM_MANUFACTURER => manufacturer = value,
                    TPM_MODEL => model = value,
                    TPM_VERSION => version = value,
                    _ => {}
                }
            }
        }
    }
    let manufacturer = manufacturer.ok_or_else(|| {
        AttestError::Endorsement("names no TPM manufacturer (subject alternative name 2.23.133.2.1)".into())
    })?;
    Ok(Endorsement {
        public_key_der,
        manufacturer: vendor_name(&manufacturer),
        model: model.unwrap_or_default(),
        version: version.unwrap_or_default(),
    })
}

/// `id:49465800` → `IFX`: TCG vendor ids are four ASCII letters padded with zeros; others are
/// shown as they are.
fn vendor_name(id: &str) -> String {
    let Some(hex) = id.strip_prefix("id:") else {
        return id.to_owned();
    };
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| hex.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect();
    match bytes {
        Some(b) if b.len() == 4 && b[0].is_ascii_uppercase() => {
            let letters: String = b
                .iter()
                .take_while(|c| **c != 0)
                .map(|c| char::from(*c))
                .collect();
            if letters.chars().all(|c| c.is_ascii_alphanumeric()) {
                letters
            } else {
                id.to_owned()
            }
        }
        _ => id.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_ids_are_decoded_where_they_are_letters() {
        assert_eq!(vendor_name("id:49465800"), "IFX");
        assert_eq!(vendor_name("id:4E544300"), "NTC");
        assert_eq!(vendor_name("id:00001014"), "id:00001014");
        assert_eq!(vendor_name("IBM"), "IBM");
        assert_eq!(vendor_name("id:4"), "id:4");
    }

    #[test]
    fn nothing_is_trusted_without_a_root() {
        let e = verify_endorsement(b"\x30\x00", &[], &TrustedRoots::default(), 0).unwrap_err();
        assert!(e.to_string().contains("tpm_roots"), "{e}");
        let mut roots = TrustedRoots::default();
        assert!(roots.add_roots_pem(b"not pem").is_err());
    }
}
