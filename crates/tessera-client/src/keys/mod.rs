//! Where a device's private key lives. The key is the device's identity: it signs every DPoP
//! proof, it is what the IdP registers, and token protection binds sessions to it. It never
//! leaves its store except to sign, and for hardware stores not even then.
//!
//! | store | feature | protection | attestation |
//! |---|---|---|---|
//! | [`SoftwareFileKeyStore`], [`SoftwareMemoryKeyStore`] | – | software | – |
//! | `TpmKeyStore` | `tpm` | hardware (TPM 2.0) | `TPM2_Certify` by an AK activated against the EK |
//! | `Pkcs11KeyStore` | `pkcs11` | hardware (PKCS#11 token) | – (unattested) |

use std::fmt;
use std::sync::Arc;

use tessera_jose::{Jkt, Signer};

use crate::ClientError;

#[cfg(feature = "pkcs11")]
mod pkcs11;
mod software;
#[cfg(feature = "tpm")]
mod swtpm;
#[cfg(feature = "tpm")]
mod tpm;

#[cfg(feature = "pkcs11")]
pub use pkcs11::{Pkcs11KeyStore, Pkcs11Pin};
pub use software::{SoftwareFileKeyStore, SoftwareKey, SoftwareMemoryKeyStore};
#[cfg(feature = "tpm")]
pub use swtpm::SoftwareTpm;
#[cfg(feature = "tpm")]
pub use tpm::{TpmConfig, TpmKeyStore};

/// How well a device key is protected, as the client knows it. The IdP believes `Hardware`
/// only when attestation evidence proves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyProtection {
    /// The private key is bytes in this process (a file, memory).
    Software,
    /// The private key is inside hardware that signs without revealing it.
    Hardware(HardwareKind),
}

/// Which hardware.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HardwareKind {
    /// A TPM 2.0.
    Tpm2,
    /// A PKCS#11 token (HSM, smart card, YubiKey PIV, SoftHSM2).
    Pkcs11,
}

impl KeyProtection {
    /// How the client declares it when registering: `software` or `hardware`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Software => "software",
            Self::Hardware(_) => "hardware",
        }
    }
}

/// A device's key, wherever it lives.
pub trait DeviceKey: Signer + Send + Sync + fmt::Debug {
    /// Where the key lives.
    fn protection(&self) -> KeyProtection;

    /// The key's RFC 7638 thumbprint.
    fn thumbprint(&self) -> &Jkt {
        self.public_jwk().thumbprint()
    }

    /// The store's attestation, when it can prove to the IdP where the key lives.
    fn attester(&self) -> Option<&dyn Attester> {
        None
    }
}

/// Proves to the IdP that a device key cannot leave its hardware, in two round trips
/// (`POST /devices/attestation`, then the evidence in `POST /devices`). The messages are JSON
/// so each store speaks its own format (`"format": "tpm2"`).
pub trait Attester: Send + Sync {
    /// What the IdP needs to make a challenge (for a TPM: the EK certificate and a fresh
    /// attestation key).
    ///
    /// # Errors
    /// [`ClientError::Keys`] when the hardware cannot do it.
    fn begin(&self) -> Result<serde_json::Value, ClientError>;

    /// The evidence answering the IdP's `challenge`.
    ///
    /// # Errors
    /// [`ClientError::Keys`] when the hardware cannot answer (for a TPM: the challenge was
    /// made for another TPM).
    fn finish(&self, challenge: &serde_json::Value) -> Result<serde_json::Value, ClientError>;
}

/// Keeps one device key per profile.
pub trait KeyStore: Send + Sync {
    /// The profile's key, created (ES256) and kept on first use.
    ///
    /// # Errors
    /// [`ClientError::Keys`] when the key cannot be read, created or kept.
    fn load_or_create(&self, profile: &str) -> Result<Arc<dyn DeviceKey>, ClientError>;
}

/// A profile names a folder or a token object: letters, digits, `-`, `_` and `.`, not first.
pub(crate) fn check_profile(profile: &str) -> Result<(), ClientError> {
    let valid = !profile.is_empty()
        && profile.len() <= 64
        && profile
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !profile.starts_with('.');
    if valid {
        Ok(())
    } else {
        Err(ClientError::Keys(format!(
            "profile {profile:?}: use up to 64 letters, digits, '-', '_' and '.'"
        )))
    }
}
