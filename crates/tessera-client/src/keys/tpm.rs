//! Device keys in a TPM 2.0, through the TSS2 ESAPI (`tss-esapi`).
//!
//! The device key is an ECDSA P-256 signing key created by the TPM under its storage root key
//! (a primary key of the owner hierarchy, re-derived from the same template at each start),
//! with `fixedTPM | fixedParent | sensitiveDataOrigin`: the TPM made the private key, will
//! not export it, and will not let it be duplicated. What is kept on disk
//! (`<dir>/<profile>/tpm-device-key.json`: the public area and the private part encrypted by
//! the storage key) is useless without this TPM. DPoP proofs are signed inside the TPM.
//!
//! Attestation ([`Attester`]): the EK certificate from the TPM's NV memory and a fresh
//! attestation key (a restricted ECDSA key under the EK) go to the IdP; its challenge is
//! opened with `TPM2_ActivateCredential`, which only this TPM can do, and the AK certifies
//! the device key with `TPM2_Certify` over the IdP's nonce. See
//! `docs/design/005-device-key-attestation.md`.

use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::sync::{Arc, Mutex};

use aws_lc_rs::digest;
use serde_json::{Value, json};
use tessera_jose::{Algorithm, KeyError, PublicJwk, Signer, b64};
use tss_esapi::abstraction::{AsymmetricAlgorithmSelection, ak, ek};
use tss_esapi::attributes::{ObjectAttributesBuilder, SessionAttributesBuilder};
use tss_esapi::constants::SessionType;
use tss_esapi::handles::{AuthHandle, KeyHandle, ObjectHandle};
use tss_esapi::interface_types::algorithm::SignatureSchemeAlgorithm;
use tss_esapi::interface_types::algorithm::{AsymmetricAlgorithm, HashingAlgorithm, PublicAlgorithm};
use tss_esapi::interface_types::ecc::EccCurve;
use tss_esapi::interface_types::key_bits::RsaKeyBits;
use tss_esapi::interface_types::resource_handles::Hierarchy;
use tss_esapi::interface_types::session_handles::{AuthSession, PolicySession};
use tss_esapi::structures::{
    Data, Digest, EccPoint, EccScheme, EncryptedSecret, HashScheme, HashcheckTicket, IdObject, Private,
    Public, PublicBuilder, PublicEccParametersBuilder, Signature, SignatureScheme, SymmetricDefinition,
    SymmetricDefinitionObject,
};
use tss_esapi::traits::{Marshall as _, UnMarshall as _};
use tss_esapi::tss2_esys::TPMT_TK_HASHCHECK;
use tss_esapi::{Context, TctiNameConf};

use super::software::write_private;
use super::{Attester, DeviceKey, HardwareKind, KeyProtection, KeyStore, check_profile};
use crate::ClientError;

const FILE: &str = "tpm-device-key.json";
const FORMAT: &str = "tessera-tpm2-device-key";

fn tpm(what: &str, e: &dyn std::fmt::Display) -> ClientError {
    ClientError::Keys(format!("TPM: {what}: {e}"))
}

/// Which TPM, and how to reach it.
#[derive(Debug, Clone)]
pub struct TpmConfig {
    /// A TCTI configuration as the TSS2 libraries take it: `device:/dev/tpmrm0` (the kernel's
    /// resource manager, the default), `swtpm:host=127.0.0.1,port=2321`, `tabrmd`.
    pub tcti: String,
    /// Intermediate CA certificates (DER) between the EK certificate and the manufacturer's
    /// root, when the IdP is not configured with them.
    pub ek_chain: Vec<Vec<u8>>,
}

impl Default for TpmConfig {
    fn default() -> Self {
        Self {
            tcti: "device:/dev/tpmrm0".into(),
            ek_chain: Vec::new(),
        }
    }
}

impl TpmConfig {
    /// The TCTI from `TESSERA_TPM_TCTI`, else the kernel's resource manager.
    #[must_use]
    pub fn from_env() -> Self {
        std::env::var("TESSERA_TPM_TCTI")
            .map(|tcti| Self {
                tcti,
                ..Self::default()
            })
            .unwrap_or_default()
    }
}

/// Device keys in a TPM, their blobs under `<dir>/<profile>/`.
#[derive(Debug, Clone)]
pub struct TpmKeyStore {
    dir: PathBuf,
    config: TpmConfig,
}

impl TpmKeyStore {
    /// A store keeping key blobs under `dir`, using the TPM `config` names.
    #[must_use]
    pub fn new(dir: impl Into<PathBuf>, config: TpmConfig) -> Self {
        Self {
            dir: dir.into(),
            config,
        }
    }
}

/// One open connection to the TPM, with the storage key and the device key loaded.
struct Tpm {
    context: Context,
    key: KeyHandle,
    /// The attestation key made by [`Attester::begin`], until `finish` uses it.
    ak: Option<(Private, Public)>,
}

impl Drop for Tpm {
    /// A TPM without a resource manager (a bare `swtpm`, `/dev/tpm0`) keeps loaded objects
    /// after the connection closes, and it has room for only three.
    fn drop(&mut self) {
        let _ = self.context.flush_context(ObjectHandle::from(self.key));
    }
}

/// A device key inside a TPM.
pub struct TpmKey {
    tpm: Mutex<Tpm>,
    public: PublicJwk,
    key_public: Public,
    ek_chain: Vec<Vec<u8>>,
}

impl std::fmt::Debug for TpmKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TpmKey")
            .field("jkt", self.public.thumbprint())
            .finish_non_exhaustive()
    }
}

fn srk_template() -> tss_esapi::Result<Public> {
    let attributes = ObjectAttributesBuilder::new()
        .with_fixed_tpm(true)
        .with_fixed_parent(true)
        .with_sensitive_data_origin(true)
        .with_user_with_auth(true)
        .with_no_da(true)
        .with_restricted(true)
        .with_decrypt(true)
        .build()?;
    PublicBuilder::new()
        .with_public_algorithm(PublicAlgorithm::Ecc)
        .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
        .with_object_attributes(attributes)
        .with_ecc_parameters(
            PublicEccParametersBuilder::new_restricted_decryption_key(
                SymmetricDefinitionObject::AES_128_CFB,
                EccCurve::NistP256,
            )
            .build()?,
        )
        .with_ecc_unique_identifier(EccPoint::default())
        .build()
}

fn device_key_template() -> tss_esapi::Result<Public> {
    let attributes = ObjectAttributesBuilder::new()
        .with_fixed_tpm(true)
        .with_fixed_parent(true)
        .with_sensitive_data_origin(true)
        .with_user_with_auth(true)
        .with_sign_encrypt(true)
        .with_decrypt(false)
        .with_restricted(false)
        .build()?;
    PublicBuilder::new()
        .with_public_algorithm(PublicAlgorithm::Ecc)
        .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
        .with_object_attributes(attributes)
        .with_ecc_parameters(
            PublicEccParametersBuilder::new_unrestricted_signing_key(
                EccScheme::EcDsa(HashScheme::new(HashingAlgorithm::Sha256)),
                EccCurve::NistP256,
            )
            .build()?,
        )
        .with_ecc_unique_identifier(EccPoint::default())
        .build()
}

/// The public JWK of a TPM ECC P-256 public area.
fn jwk_of(public: &Public) -> Result<PublicJwk, ClientError> {
    let Public::Ecc { unique, .. } = public else {
        return Err(ClientError::Keys("TPM: the device key is not an ECC key".into()));
    };
    let pad = |c: &[u8]| {
        let mut v = vec![0u8; 32usize.saturating_sub(c.len())];
        v.extend_from_slice(c);
        b64::encode(v)
    };
    let jwk = json!({
        "kty": "EC",
        "crv": "P-256",
        "x": pad(unique.x().value()),
        "y": pad(unique.y().value()),
    });
    PublicJwk::from_value(&jwk).map_err(|e| tpm("reading the device key's public part", &e))
}

fn open(tcti: &str) -> Result<(Context, KeyHandle), ClientError> {
    let conf = TctiNameConf::from_str(tcti).map_err(|e| tpm(&format!("TCTI {tcti:?}"), &e))?;
    let mut context = Context::new(conf).map_err(|e| tpm(&format!("opening {tcti}"), &e))?;
    let srk = context
        .execute_with_nullauth_session(|ctx| {
            ctx.create_primary(Hierarchy::Owner, srk_template()?, None, None, None, None)
        })
        .map_err(|e| tpm("creating the storage root key", &e))?
        .key_handle;
    Ok((context, srk))
}

impl KeyStore for TpmKeyStore {
    fn load_or_create(&self, profile: &str) -> Result<Arc<dyn DeviceKey>, ClientError> {
        check_profile(profile)?;
        let folder = self.dir.join(profile);
        let path = folder.join(FILE);
        let (mut context, srk) = open(&self.config.tcti)?;
        let (private, public) = match std::fs::read(&path) {
            Ok(bytes) => read_blob(&path, &bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let created = context
                    .execute_with_nullauth_session(|ctx| {
                        ctx.create(srk, device_key_template()?, None, None, None, None)
                    })
                    .map_err(|e| tpm("creating the device key", &e))?;
                write_blob(&folder, &path, &created.out_private, &created.out_public)?;
                (created.out_private, created.out_public)
            }
            Err(e) => return Err(ClientError::Keys(format!("reading {}: {e}", path.display()))),
        };
        let key = context
            .execute_with_nullauth_session(|ctx| ctx.load(srk, private, public.clone()))
            .map_err(|e| {
                tpm(
                    &format!(
                        "loading {} (made by another TPM, or the TPM was cleared)",
                        path.display()
                    ),
                    &e,
                )
            })?;
        context
            .flush_context(ObjectHandle::from(srk))
            .map_err(|e| tpm("releasing the storage root key", &e))?;
        Ok(Arc::new(TpmKey {
            public: jwk_of(&public)?,
            key_public: public,
            tpm: Mutex::new(Tpm {
                context,
                key,
                ak: None,
            }),
            ek_chain: self.config.ek_chain.clone(),
        }))
    }
}

fn read_blob(path: &Path, bytes: &[u8]) -> Result<(Private, Public), ClientError> {
    let bad = |what: &str| ClientError::Keys(format!("{}: {what}", path.display()));
    let v: Value = serde_json::from_slice(bytes).map_err(|_| bad("not JSON"))?;
    if v["format"] != FORMAT {
        return Err(bad("not a Tessera TPM key blob"));
    }
    let field = |name: &str| {
        v[name]
            .as_str()
            .and_then(|s| b64::decode(s).ok())
            .ok_or_else(|| bad(&format!("no {name}")))
    };
    let private = Private::try_from(field("private")?).map_err(|_| bad("the private part is malformed"))?;
    let public = Public::unmarshall(&field("public")?).map_err(|_| bad("the public part is malformed"))?;
    Ok((private, public))
}

fn write_blob(folder: &Path, path: &Path, private: &Private, public: &Public) -> Result<(), ClientError> {
    let public = public
        .marshall()
        .map_err(|e| tpm("encoding the public part", &e))?;
    let blob = json!({
        "format": FORMAT,
        "private": b64::encode(private.value()),
        "public": b64::encode(public),
    });
    let fail = |e: std::io::Error| ClientError::Keys(format!("writing {}: {e}", path.display()));
    std::fs::create_dir_all(folder).map_err(fail)?;
    write_private(folder, path, blob.to_string().as_bytes()).map_err(fail)
}

impl Signer for TpmKey {
    fn algorithm(&self) -> Algorithm {
        Algorithm::Es256
    }

    fn public_jwk(&self) -> &PublicJwk {
        &self.public
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let fail = |e: &dyn std::fmt::Display| KeyError::Device(format!("TPM: signing: {e}"));
        let hash = digest::digest(&digest::SHA256, message);
        let digest = Digest::try_from(hash.as_ref()).map_err(|e| fail(&e))?;
        let mut tpm = self.tpm.lock().map_err(|_| fail(&"the TPM's lock is poisoned"))?;
        let key = tpm.key;
        let ticket = null_ticket().map_err(|e| fail(&e))?;
        let signature = tpm
            .context
            .execute_with_nullauth_session(|ctx| {
                ctx.sign(
                    key,
                    digest,
                    SignatureScheme::EcDsa {
                        hash_scheme: HashScheme::new(HashingAlgorithm::Sha256),
                    },
                    ticket,
                )
            })
            .map_err(|e| fail(&e))?;
        let Signature::EcDsa(ecc) = signature else {
            return Err(fail(&"the TPM answered with another kind of signature"));
        };
        let mut fixed = vec![0u8; 64];
        for (i, part) in [ecc.signature_r().value(), ecc.signature_s().value()]
            .into_iter()
            .enumerate()
        {
            if part.len() > 32 {
                return Err(fail(&"a signature part is longer than 32 bytes"));
            }
            fixed[i * 32 + 32 - part.len()..(i + 1) * 32].copy_from_slice(part);
        }
        Ok(fixed)
    }
}

/// "No ticket": the digest was not made by the TPM, which an unrestricted key accepts.
fn null_ticket() -> tss_esapi::Result<HashcheckTicket> {
    HashcheckTicket::try_from(TPMT_TK_HASHCHECK {
        tag: tss_esapi::constants::tss::TPM2_ST_HASHCHECK,
        hierarchy: tss_esapi::constants::tss::TPM2_RH_NULL,
        digest: Default::default(),
    })
}

impl DeviceKey for TpmKey {
    fn protection(&self) -> KeyProtection {
        KeyProtection::Hardware(HardwareKind::Tpm2)
    }

    fn attester(&self) -> Option<&dyn Attester> {
        Some(self)
    }
}

const EK: AsymmetricAlgorithmSelection = AsymmetricAlgorithmSelection::Rsa(RsaKeyBits::Rsa2048);

impl Attester for TpmKey {
    fn begin(&self) -> Result<Value, ClientError> {
        let mut guard = self
            .tpm
            .lock()
            .map_err(|_| ClientError::Keys("TPM: the lock is poisoned".into()))?;
        let context = &mut guard.context;
        let certificate = ek::retrieve_ek_pubcert(context, EK)
            .map_err(|e| tpm("reading the EK certificate from NV index 0x01c00002", &e))?;
        let ek = ek::create_ek_object(context, AsymmetricAlgorithm::Rsa, None)
            .map_err(|e| tpm("creating the endorsement key", &e))?;
        let made = ak::create_ak_2(
            context,
            ek,
            HashingAlgorithm::Sha256,
            AsymmetricAlgorithmSelection::Ecc(EccCurve::NistP256),
            SignatureSchemeAlgorithm::EcDsa,
            None,
            None,
        );
        context
            .flush_context(ObjectHandle::from(ek))
            .map_err(|e| tpm("releasing the endorsement key", &e))?;
        let made = made.map_err(|e| tpm("creating an attestation key", &e))?;
        let ak_public = made
            .out_public
            .marshall()
            .map_err(|e| tpm("encoding the attestation key", &e))?;
        guard.ak = Some((made.out_private, made.out_public));
        Ok(json!({
            "format": "tpm2",
            "ek_certificate": b64::encode(certificate),
            "ek_chain": self.ek_chain.iter().map(b64::encode).collect::<Vec<_>>(),
            "ak_public": b64::encode(ak_public),
        }))
    }

    fn finish(&self, challenge: &Value) -> Result<Value, ClientError> {
        let bad =
            |name: &str| ClientError::Keys(format!("the IdP's attestation challenge has no valid {name}"));
        let field = |name: &str| {
            challenge[name]
                .as_str()
                .and_then(|s| b64::decode(s).ok())
                .ok_or_else(|| bad(name))
        };
        let token = challenge["challenge"].as_str().ok_or_else(|| bad("challenge"))?;
        let blob = IdObject::try_from(field("credential_blob")?).map_err(|_| bad("credential_blob"))?;
        let secret =
            EncryptedSecret::try_from(field("encrypted_secret")?).map_err(|_| bad("encrypted_secret"))?;
        let nonce = Data::try_from(field("nonce")?).map_err(|_| bad("nonce"))?;

        let mut guard = self
            .tpm
            .lock()
            .map_err(|_| ClientError::Keys("TPM: the lock is poisoned".into()))?;
        let tpm_state = &mut *guard;
        let (ak_private, ak_public) = tpm_state
            .ak
            .take()
            .ok_or_else(|| ClientError::Keys("TPM: finish before begin".into()))?;
        let key = tpm_state.key;
        let context = &mut tpm_state.context;
        let ek = ek::create_ek_object(context, AsymmetricAlgorithm::Rsa, None)
            .map_err(|e| tpm("creating the endorsement key", &e))?;
        let result = (|| {
            let ak = ak::load_ak(context, ek, None, ak_private, ak_public)
                .map_err(|e| tpm("loading the attestation key", &e))?;
            let activated = activate(context, ak, ek, blob, secret);
            let certified = activated.and_then(|credential| {
                context.set_sessions((Some(AuthSession::Password), Some(AuthSession::Password), None));
                let certified = context
                    .certify(ObjectHandle::from(key), ak, nonce, SignatureScheme::Null)
                    .map_err(|e| tpm("certifying the device key", &e));
                context.clear_sessions();
                certified.map(|c| (credential, c))
            });
            let _ = context.flush_context(ObjectHandle::from(ak));
            certified
        })();
        let _ = context.flush_context(ObjectHandle::from(ek));
        let (credential, (info, signature)) = result?;
        let encode = |r: tss_esapi::Result<Vec<u8>>| r.map(b64::encode).map_err(|e| tpm("encoding", &e));
        Ok(json!({
            "format": "tpm2",
            "challenge": token,
            "credential": b64::encode(credential.value()),
            "key_public": encode(self.key_public.marshall())?,
            "certify_info": encode(info.marshall())?,
            "signature": encode(signature.marshall())?,
        }))
    }
}

/// `TPM2_ActivateCredential`: the AK's auth by an HMAC session, the EK's by its policy
/// (`PolicySecret` of the endorsement hierarchy).
fn activate(
    context: &mut Context,
    ak: KeyHandle,
    ek: KeyHandle,
    blob: IdObject,
    secret: EncryptedSecret,
) -> Result<Digest, ClientError> {
    let fail = |e: tss_esapi::Error| {
        tpm(
            "activating the credential (the challenge was made for another TPM or key)",
            &e,
        )
    };
    let (attributes, mask) = SessionAttributesBuilder::new().build();
    let mut session = |kind| -> Result<AuthSession, ClientError> {
        let s = context
            .start_auth_session(
                None,
                None,
                None,
                kind,
                SymmetricDefinition::AES_128_CFB,
                HashingAlgorithm::Sha256,
            )
            .map_err(fail)?
            .ok_or_else(|| ClientError::Keys("TPM: no session".into()))?;
        context
            .tr_sess_set_attributes(s, attributes, mask)
            .map_err(fail)?;
        Ok(s)
    };
    let hmac = session(SessionType::Hmac)?;
    let policy = session(SessionType::Policy)?;
    let result = (|| {
        let policy_session = PolicySession::try_from(policy).map_err(fail)?;
        context
            .execute_with_session(Some(hmac), |ctx| {
                ctx.policy_secret(
                    policy_session,
                    AuthHandle::Endorsement,
                    Default::default(),
                    Default::default(),
                    Default::default(),
                    None,
                )
            })
            .map_err(fail)?;
        context.set_sessions((Some(hmac), Some(policy), None));
        let activated = context.activate_credential(ak, ek, blob, secret).map_err(fail);
        context.clear_sessions();
        activated
    })();
    for s in [hmac, policy] {
        let _ = context.flush_context(ObjectHandle::from(tss_esapi::handles::SessionHandle::from(s)));
    }
    result
}
