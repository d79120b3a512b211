//! Device-key attestation at registration (`docs/design/005-device-key-attestation.md`).
//!
//! `POST /devices/attestation` takes a TPM's endorsement-key certificate and a fresh
//! attestation key (AK), checks the certificate chains to a manufacturer root the operator
//! trusts and the AK cannot leave the TPM, and answers with a credential only that TPM can
//! open for that AK (`MakeCredential`), plus a nonce. The challenge itself is sealed under the
//! key-encryption key, so any node can check the answer and none keeps state.
//!
//! `POST /devices` then carries the opened secret and the AK's `TPM2_Certify` of the device
//! key over the nonce. Verified, the device is `attested`; what the evidence showed (the
//! manufacturer, model and firmware) is kept with it. Every refusal says which check failed,
//! to the client and in the log.

use aws_lc_rs::constant_time;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tessera_attest::AttestError;
use tessera_attest::tpm::{self, AttestationKey};
use tessera_directory::FieldError;
use tessera_jose::dpop::ReplayCache as _;
use tessera_jose::jwk::KeyMaterial;
use tessera_jose::{PublicJwk, UnixTime, b64};
use tessera_store::{KeyAttestation, KeyProtection, UserId};

use crate::api::ApiError;
use crate::config::AttestationFailure;
use crate::state::AppState;

/// The associated data challenges are sealed with, so a sealed signing key is never mistaken
/// for one.
const SEALED_AS: &str = "tessera-device-attestation-challenge";
/// The replay cache's partition for used challenges (client ids never start with NUL).
const REPLAY_PARTITION: &[u8] = b"\0device-attestation";

/// `POST /devices/attestation`'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeRequest {
    /// `tpm2`.
    pub format: String,
    /// The EK certificate, DER, base64url.
    pub ek_certificate: String,
    /// Intermediate CA certificates, DER, base64url.
    #[serde(default)]
    pub ek_chain: Vec<String>,
    /// The AK's `TPMT_PUBLIC`, base64url.
    pub ak_public: String,
}

/// The `attestation` member of `POST /devices`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// `tpm2`.
    pub format: String,
    /// The challenge, as `POST /devices/attestation` returned it.
    pub challenge: String,
    /// The secret `TPM2_ActivateCredential` returned, base64url.
    pub credential: String,
    /// The device key's `TPMT_PUBLIC`, base64url.
    pub key_public: String,
    /// `TPM2_Certify`'s `TPMS_ATTEST`, base64url.
    pub certify_info: String,
    /// Its `TPMT_SIGNATURE`, base64url.
    pub signature: String,
}

/// What a challenge carries, sealed.
#[derive(Serialize, Deserialize)]
struct Challenge {
    id: String,
    sub: String,
    exp: u64,
    ak: String,
    secret: String,
    nonce: String,
    manufacturer: String,
    model: String,
    version: String,
    /// Why the EK certificate is not trusted, when `on_failure = "register_unattested"` let
    /// the challenge go out anyway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    endorsement_error: Option<String>,
}

/// Why evidence was refused: the check that failed, for the client and the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A TPM structure or certificate failed a check.
    #[error(transparent)]
    Evidence(#[from] AttestError),
    /// Not base64url, or an unknown format.
    #[error("{0}")]
    Malformed(String),
    /// The challenge is not one of Tessera's, is another user's, or has expired.
    #[error("{0}")]
    Challenge(String),
    /// The returned secret is not the credential's: the TPM that opened it is not the one
    /// whose EK certificate was sent, or the AK is not in it.
    #[error("the credential was not opened by the TPM of the endorsement key sent (wrong secret)")]
    Credential,
    /// Everything verified but the EK certificate's chain (challenges for untrusted TPMs are
    /// issued only to register them as unattested).
    #[error("{0}")]
    Untrusted(String),
    /// The challenge was answered before.
    #[error("this challenge was answered already; ask for a new one")]
    Replayed,
    /// The certified key is not the key that signed the request.
    #[error("the certified key is not the key that signed this request's DPoP proof")]
    KeyMismatch,
}

impl Refusal {
    fn into_api(self, during: &str) -> ApiError {
        ApiError::Invalid(
            format!("attestation refused {during}: {self}"),
            vec![FieldError::new("attestation", self.to_string())],
        )
    }
}

fn decode(name: &str, value: &str) -> Result<Vec<u8>, Refusal> {
    b64::decode(value).map_err(|_| Refusal::Malformed(format!("{name} is not base64url")))
}

fn format_is_tpm2(format: &str) -> Result<(), Refusal> {
    if format == "tpm2" {
        Ok(())
    } else {
        Err(Refusal::Malformed(format!(
            "format {format:?} is not one Tessera verifies; use \"tpm2\""
        )))
    }
}

/// Answers `POST /devices/attestation` for `user`.
///
/// # Errors
/// `400 invalid_request` naming the check that failed.
pub fn challenge(state: &AppState, user: &UserId, request: &ChallengeRequest) -> Result<Value, ApiError> {
    make_challenge(state, user, request).map_err(|e| {
        tracing::warn!(user = %user.0, error = %e, "device attestation challenge refused");
        e.into_api("at the challenge")
    })
}

fn make_challenge(state: &AppState, user: &UserId, request: &ChallengeRequest) -> Result<Value, Refusal> {
    format_is_tpm2(&request.format)?;
    let certificate = decode("ek_certificate", &request.ek_certificate)?;
    let chain = request
        .ek_chain
        .iter()
        .map(|c| decode("ek_chain", c))
        .collect::<Result<Vec<_>, _>>()?;
    let ak_public = decode("ak_public", &request.ak_public)?;
    let now = state.unix_time().0;
    let verified = tpm::verify_endorsement(
        &certificate,
        &chain,
        &state.config.devices.attestation.trusted,
        now.try_into().unwrap_or(0),
    );
    // Registering untrusted TPMs as unattested still runs the activation: the AK must at least
    // be in the TPM of the EK sent.
    let (endorsement, endorsement_error) = match verified {
        Ok(e) => (e, None),
        Err(e) if state.config.devices.attestation.on_failure == AttestationFailure::RegisterUnattested => (
            tpm::read_endorsement_unverified(&certificate)?,
            Some(e.to_string()),
        ),
        Err(e) => return Err(e.into()),
    };
    let ak = AttestationKey::parse(&ak_public)?;
    let random = |n: usize| {
        let mut b = vec![0u8; n];
        state
            .rng
            .fill(&mut b)
            .map(|()| b)
            .map_err(|_| Refusal::Malformed("no randomness".into()))
    };
    let secret = random(32)?;
    let nonce = random(32)?;
    let mut seed = [0u8; 32];
    seed.copy_from_slice(&random(32)?);
    let credential = tpm::make_credential(&endorsement, &ak.name(), &secret, &seed)?;
    let seconds = state.config.devices.attestation.challenge_seconds;
    let sealed = Challenge {
        id: b64::encode(random(16)?),
        sub: user.0.clone(),
        exp: u64::try_from(now).unwrap_or(0) + seconds,
        ak: request.ak_public.clone(),
        secret: b64::encode(&secret),
        nonce: b64::encode(&nonce),
        manufacturer: endorsement.manufacturer,
        model: endorsement.model,
        version: endorsement.version,
        endorsement_error,
    };
    let text = serde_json::to_string(&sealed).map_err(|e| Refusal::Malformed(e.to_string()))?;
    let challenge = state
        .keys
        .sealing()
        .seal(SEALED_AS, &text)
        .map_err(|e| Refusal::Malformed(e.to_string()))?;
    Ok(json!({
        "format": "tpm2",
        "challenge": challenge,
        "credential_blob": b64::encode(&credential.id_object),
        "encrypted_secret": b64::encode(&credential.encrypted_secret),
        "nonce": b64::encode(&nonce),
        "expires_in": seconds,
    }))
}

/// Checks the evidence of `POST /devices` for `user`'s key `jwk` (proved by the request's
/// DPoP proof). Returns the protection to record and what the evidence showed.
///
/// # Errors
/// `400 invalid_request` naming the check that failed, unless `[devices.attestation]
/// on_failure = "register_unattested"`, when the device is recorded as unattested hardware
/// with the reason.
pub fn verify(
    state: &AppState,
    user: &UserId,
    evidence: &Evidence,
    jwk: &PublicJwk,
) -> Result<(KeyProtection, KeyAttestation), ApiError> {
    match check(state, user, evidence, jwk) {
        Ok(shown) => {
            tracing::info!(user = %user.0, jkt = %jwk.thumbprint(), attestation = ?shown, "device key attested");
            Ok((KeyProtection::Attested, shown))
        }
        Err(e) => {
            tracing::warn!(user = %user.0, jkt = %jwk.thumbprint(), error = %e, "device attestation refused");
            match state.config.devices.attestation.on_failure {
                AttestationFailure::Refuse => Err(e.into_api("at registration")),
                AttestationFailure::RegisterUnattested => Ok((
                    KeyProtection::Hardware,
                    KeyAttestation {
                        format: evidence.format.clone(),
                        error: Some(e.to_string()),
                        ..KeyAttestation::default()
                    },
                )),
            }
        }
    }
}

fn check(
    state: &AppState,
    user: &UserId,
    evidence: &Evidence,
    jwk: &PublicJwk,
) -> Result<KeyAttestation, Refusal> {
    format_is_tpm2(&evidence.format)?;
    let opened = state
        .keys
        .sealing()
        .open(SEALED_AS, &evidence.challenge)
        .map_err(|_| Refusal::Challenge("the challenge is not one this Tessera made".into()))?;
    let challenge: Challenge = serde_json::from_str(&opened)
        .map_err(|_| Refusal::Challenge("the challenge is not one this Tessera made".into()))?;
    let now = state.unix_time();
    if challenge.sub != user.0 {
        return Err(Refusal::Challenge(
            "the challenge was made for another user".into(),
        ));
    }
    if u64::try_from(now.0).unwrap_or(u64::MAX) >= challenge.exp {
        return Err(Refusal::Challenge(
            "the challenge has expired; ask for a new one".into(),
        ));
    }
    let secret = decode("challenge secret", &challenge.secret)?;
    let returned = decode("credential", &evidence.credential)?;
    if constant_time::verify_slices_are_equal(&secret, &returned).is_err() {
        return Err(Refusal::Credential);
    }
    let ak = AttestationKey::parse(&decode("challenge ak", &challenge.ak)?)?;
    let certified = tpm::verify_certify(
        &ak,
        &decode("key_public", &evidence.key_public)?,
        &decode("certify_info", &evidence.certify_info)?,
        &decode("signature", &evidence.signature)?,
        &decode("challenge nonce", &challenge.nonce)?,
    )?;
    let KeyMaterial::P256 { x, y } = jwk.material() else {
        return Err(Refusal::KeyMismatch);
    };
    if *x != certified.public.x || *y != certified.public.y {
        return Err(Refusal::KeyMismatch);
    }
    // Last, so a refused answer can be corrected and sent again; an accepted one only once.
    let mut id = [0u8; 32];
    id.copy_from_slice(
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, challenge.id.as_bytes()).as_ref(),
    );
    let expires = UnixTime(i64::try_from(challenge.exp).unwrap_or(i64::MAX));
    match state.assertion_ids.first_use(REPLAY_PARTITION, &id, expires, now) {
        Ok(true) => {}
        Ok(false) | Err(_) => return Err(Refusal::Replayed),
    }
    if let Some(untrusted) = challenge.endorsement_error {
        return Err(Refusal::Untrusted(untrusted));
    }
    Ok(KeyAttestation {
        format: "tpm2".into(),
        manufacturer: Some(challenge.manufacturer),
        model: Some(challenge.model),
        version: Some(challenge.version),
        firmware: Some(format!("{:#x}", certified.firmware_version)),
        verified_at: Some(now.0),
        error: None,
    })
}
