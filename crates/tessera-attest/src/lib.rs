//! Verifying the evidence a client gives that its device key cannot leave the hardware it was
//! made in. A pure crate: it parses and checks bytes, holds no TPM library and does no I/O; time
//! and randomness are the caller's.
//!
//! For a TPM 2.0 (see [`tpm`] and `docs/design/005-device-key-attestation.md`) the evidence is
//! checked in three steps, two round trips apart:
//!
//! 1. [`tpm::verify_endorsement`]: the endorsement key (EK) certificate chains to a
//!    manufacturer root the operator trusts; [`tpm::AttestationKey::parse`]: the attestation key
//!    (AK) the client names is a restricted, non-exportable TPM signing key.
//! 2. [`tpm::make_credential`]: a secret only the TPM holding that EK can recover, and only for
//!    that AK (`TPM2_MakeCredential` done in software).
//! 3. [`tpm::verify_certify`]: the client returned the secret (checked by the caller) and the AK
//!    certified the device key, whose attributes make it non-exportable, over the server's nonce.

pub mod tpm;

/// Why evidence was refused. Every variant names the structure and what was wrong with it, so
/// the message can go to the client and to the log as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttestError {
    /// The bytes do not parse as the structure they claim to be.
    #[error("{structure} is malformed: {detail}")]
    Malformed {
        /// Which structure (`TPMT_PUBLIC`, `TPMS_ATTEST`, …).
        structure: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// The structure parses but uses something Tessera does not accept (an algorithm, a curve).
    #[error("{structure}: {detail}")]
    Unsupported {
        /// Which structure.
        structure: &'static str,
        /// What is not supported.
        detail: String,
    },
    /// The endorsement key certificate does not chain to a trusted manufacturer root, or is not
    /// an EK certificate.
    #[error("endorsement key certificate: {0}")]
    Endorsement(String),
    /// A key's attributes allow what the evidence is meant to rule out.
    #[error("{key} {detail}")]
    Attributes {
        /// `attestation key` or `device key`.
        key: &'static str,
        /// What is wrong with the attributes.
        detail: String,
    },
    /// The attestation key's signature over the attestation does not verify.
    #[error("the attestation key's signature over the certification does not verify")]
    Signature,
    /// The attestation was made for another challenge.
    #[error(
        "the certification's qualifying data is not this challenge's nonce (replayed or for another challenge)"
    )]
    Nonce,
    /// The certified key is not the key presented.
    #[error("the certification is of another key: {0}")]
    KeyMismatch(String),
    /// The cryptographic library failed.
    #[error("the cryptographic operation failed")]
    Crypto,
}

/// This crate's result.
pub type Result<T> = std::result::Result<T, AttestError>;
