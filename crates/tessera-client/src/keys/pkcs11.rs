//! Device keys on a PKCS#11 token (an HSM, a smart card, a YubiKey's PIV applet, SoftHSM2),
//! through `cryptoki`. The token's module is loaded at run time, so nothing is linked.
//!
//! The key is an EC P-256 key pair generated on the token with `CKA_SENSITIVE` true and
//! `CKA_EXTRACTABLE` false: the token signs (`CKM_ECDSA` over the SHA-256 digest) and never
//! hands out the private key. It is found again by its label, `tessera-device-<profile>`.
//! PKCS#11 has no standard key attestation, so the IdP records such a key as unattested
//! hardware.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use aws_lc_rs::digest;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use serde_json::json;
use tessera_jose::{Algorithm, KeyError, PublicJwk, Signer, b64};

use super::{DeviceKey, HardwareKind, KeyProtection, KeyStore, check_profile};
use crate::ClientError;

/// DER of the named curve prime256v1 (1.2.840.10045.3.1.7), as `CKA_EC_PARAMS` takes it.
const P256_PARAMS: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// Where the token's user PIN comes from. It is never logged or kept beyond the login.
#[derive(Clone)]
pub enum Pkcs11Pin {
    /// Read from this environment variable at each login.
    Env(String),
    /// Asked of the application (a prompt, a keychain).
    Callback(Arc<dyn Fn() -> String + Send + Sync>),
}

impl std::fmt::Debug for Pkcs11Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Env(var) => write!(f, "Pkcs11Pin::Env({var:?})"),
            Self::Callback(_) => f.write_str("Pkcs11Pin::Callback"),
        }
    }
}

impl Pkcs11Pin {
    fn get(&self) -> Result<AuthPin, ClientError> {
        match self {
            Self::Env(var) => std::env::var(var)
                .map(|p| AuthPin::new(p.into()))
                .map_err(|_| ClientError::Keys(format!("PKCS#11: set the token's PIN in {var}"))),
            Self::Callback(ask) => Ok(AuthPin::new(ask().into())),
        }
    }
}

/// Keys on the token labelled `token_label` of the module at `module`.
#[derive(Debug, Clone)]
pub struct Pkcs11KeyStore {
    module: PathBuf,
    token_label: String,
    pin: Pkcs11Pin,
}

impl Pkcs11KeyStore {
    /// A store on the token labelled `token_label` of the PKCS#11 module `module` (for
    /// SoftHSM2, `/usr/lib/softhsm/libsofthsm2.so`).
    #[must_use]
    pub fn new(module: impl Into<PathBuf>, token_label: &str, pin: Pkcs11Pin) -> Self {
        Self {
            module: module.into(),
            token_label: token_label.to_owned(),
            pin,
        }
    }
}

fn p11(what: &str, e: &dyn std::fmt::Display) -> ClientError {
    ClientError::Keys(format!("PKCS#11: {what}: {e}"))
}

/// A device key on a PKCS#11 token.
pub struct Pkcs11Key {
    session: Mutex<Session>,
    key: ObjectHandle,
    public: PublicJwk,
}

impl std::fmt::Debug for Pkcs11Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Key")
            .field("jkt", self.public.thumbprint())
            .finish_non_exhaustive()
    }
}

impl KeyStore for Pkcs11KeyStore {
    fn load_or_create(&self, profile: &str) -> Result<Arc<dyn DeviceKey>, ClientError> {
        check_profile(profile)?;
        let label = format!("tessera-device-{profile}");
        let module =
            Pkcs11::new(&self.module).map_err(|e| p11(&format!("loading {}", self.module.display()), &e))?;
        match module.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(())
            | Err(cryptoki::error::Error::Pkcs11(cryptoki::error::RvError::CryptokiAlreadyInitialized, _)) => {
            }
            Err(e) => return Err(p11("initializing the module", &e)),
        }
        let slot = module
            .get_slots_with_token()
            .map_err(|e| p11("listing slots", &e))?
            .into_iter()
            .find(|s| {
                module
                    .get_token_info(*s)
                    .is_ok_and(|t| t.label() == self.token_label)
            })
            .ok_or_else(|| ClientError::Keys(format!("PKCS#11: no token labelled {:?}", self.token_label)))?;
        let session = module
            .open_rw_session(slot)
            .map_err(|e| p11("opening a session", &e))?;
        match session.login(UserType::User, Some(&self.pin.get()?)) {
            Ok(())
            | Err(cryptoki::error::Error::Pkcs11(cryptoki::error::RvError::UserAlreadyLoggedIn, _)) => {}
            Err(e) => return Err(p11("logging in (is the PIN right?)", &e)),
        }
        let find = |class| {
            session
                .find_objects(&[
                    Attribute::Class(class),
                    Attribute::Label(label.clone().into_bytes()),
                ])
                .map_err(|e| p11("finding the key", &e))
        };
        let (private, public) = match (
            find(ObjectClass::PRIVATE_KEY)?.first(),
            find(ObjectClass::PUBLIC_KEY)?.first(),
        ) {
            (Some(private), Some(public)) => (*private, *public),
            _ => generate(&session, &label)?,
        };
        let point = session
            .get_attributes(public, &[AttributeType::EcPoint])
            .map_err(|e| p11("reading the public key", &e))?;
        let Some(Attribute::EcPoint(point)) = point.into_iter().next() else {
            return Err(ClientError::Keys(
                "PKCS#11: the public key has no EC point".into(),
            ));
        };
        Ok(Arc::new(Pkcs11Key {
            public: jwk_of_point(&point)?,
            key: private,
            session: Mutex::new(session),
        }))
    }
}

fn generate(session: &Session, label: &str) -> Result<(ObjectHandle, ObjectHandle), ClientError> {
    let id = label.as_bytes().to_vec();
    let public = [
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::KeyType(KeyType::EC),
        Attribute::EcParams(P256_PARAMS.to_vec()),
        Attribute::Verify(true),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(id.clone()),
    ];
    let private = [
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(id),
    ];
    let (public, private) = session
        .generate_key_pair(&Mechanism::EccKeyPairGen, &public, &private)
        .map_err(|e| p11("generating the key on the token", &e))?;
    Ok((private, public))
}

/// `CKA_EC_POINT` is the uncompressed point `04 ‖ x ‖ y`, wrapped in a DER OCTET STRING by
/// most tokens (bare by a few).
fn jwk_of_point(point: &[u8]) -> Result<PublicJwk, ClientError> {
    let bare = match point {
        [0x04, 0x41, rest @ ..] if rest.len() == 65 => rest,
        [0x04, ..] if point.len() == 65 => point,
        _ => {
            return Err(ClientError::Keys(
                "PKCS#11: the public key is not a P-256 point".into(),
            ));
        }
    };
    let jwk = json!({
        "kty": "EC",
        "crv": "P-256",
        "x": b64::encode(&bare[1..33]),
        "y": b64::encode(&bare[33..]),
    });
    PublicJwk::from_value(&jwk).map_err(|e| p11("reading the public key", &e))
}

impl Signer for Pkcs11Key {
    fn algorithm(&self) -> Algorithm {
        Algorithm::Es256
    }

    fn public_jwk(&self) -> &PublicJwk {
        &self.public
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let hash = digest::digest(&digest::SHA256, message);
        let session = self
            .session
            .lock()
            .map_err(|_| KeyError::Device("PKCS#11: the session's lock is poisoned".into()))?;
        let signature = session
            .sign(&Mechanism::Ecdsa, self.key, hash.as_ref())
            .map_err(|e| KeyError::Device(format!("PKCS#11: signing: {e}")))?;
        if signature.len() != 64 {
            return Err(KeyError::Device(format!(
                "PKCS#11: the token returned a {}-byte signature, not 64",
                signature.len()
            )));
        }
        Ok(signature)
    }
}

impl DeviceKey for Pkcs11Key {
    fn protection(&self) -> KeyProtection {
        KeyProtection::Hardware(HardwareKind::Pkcs11)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec_points_are_read_wrapped_or_bare() {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let bare = pair.public_key().as_ref().to_vec();
        let mut wrapped = vec![0x04, 0x41];
        wrapped.extend_from_slice(&bare);
        assert_eq!(jwk_of_point(&bare).unwrap(), jwk_of_point(&wrapped).unwrap());
        assert!(jwk_of_point(&bare[..64]).is_err());
        let mut off_curve = bare;
        off_curve[64] ^= 1;
        assert!(
            jwk_of_point(&off_curve).is_err(),
            "a point not on the curve is refused"
        );
    }

    #[test]
    fn the_pin_is_never_printed() {
        let pin = Pkcs11Pin::Callback(Arc::new(|| "1234".into()));
        assert!(!format!("{pin:?}").contains("1234"));
    }
}
