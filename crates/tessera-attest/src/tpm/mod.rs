//! TPM 2.0 attestation, as TPM 2.0 Part 1 §24 (credential protection) and Part 2 (structures)
//! define it. Structures travel in their TPM marshalled form (big-endian, `TPM2B_*` as a 16-bit
//! size and the bytes); a client gets them from its TSS (`Tss2_MU_*_Marshal`).

mod attest;
mod credential;
mod endorsement;
mod public;
mod wire;

pub use attest::{Certification, CertifiedKey, verify_certify};
pub use credential::{Credential, make_credential};
pub use endorsement::{Endorsement, TrustedRoots, read_endorsement_unverified, verify_endorsement};
pub use public::{AttestationKey, ObjectAttributes, TpmPublic};

/// `TPM_ALG_SHA256`.
pub const ALG_SHA256: u16 = 0x000B;
/// `TPM_ALG_NULL`.
pub const ALG_NULL: u16 = 0x0010;
/// `TPM_ALG_ECC`.
pub const ALG_ECC: u16 = 0x0023;
/// `TPM_ALG_RSA`.
pub const ALG_RSA: u16 = 0x0001;
/// `TPM_ALG_ECDSA`.
pub const ALG_ECDSA: u16 = 0x0018;
/// `TPM_ECC_NIST_P256`.
pub const ECC_NIST_P256: u16 = 0x0003;
/// `TPM_GENERATED_VALUE`: the magic that starts every structure the TPM signs itself.
pub const GENERATED_VALUE: u32 = 0xff54_4347;
/// `TPM_ST_ATTEST_CERTIFY`.
pub const ST_ATTEST_CERTIFY: u16 = 0x8017;
