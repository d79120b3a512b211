//! Key stores in real hardware: a software TPM (`swtpm`, started per test with its own state
//! and an EK certificate from its own local CA) and a PKCS#11 token (SoftHSM2, its own token
//! directory). `scripts/test` installs both; these tests run with the `tpm` and `pkcs11`
//! features.

#[cfg(feature = "pkcs11")]
mod pkcs11;
#[cfg(feature = "tpm")]
mod tpm;
