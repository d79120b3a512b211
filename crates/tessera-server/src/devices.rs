//! `POST /devices` and `GET /devices`: a signed-in user's client registers the device it runs
//! on by proving possession of the device's key with a DPoP proof (RFC 9449) made by that key,
//! and lists the user's devices. The registered key is what token protection binds sign-in
//! sessions to.
//!
//! The request carries the user's access token. When that token is DPoP-bound, its proof is the
//! proof of possession and the bound key is the one registered; with a Bearer token, a `DPoP`
//! header made by the device key (with `ath` for the token) proves it.
//!
//! A client whose key is in a TPM first asks `POST /devices/attestation` for a challenge and
//! sends its evidence as `attestation` (see [`crate::attestation`]); the device is then
//! `attested`. A client may declare `key_protection: "hardware"` without evidence (a PKCS#11
//! token): it is recorded as unattested hardware, and policy can tell the difference.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tessera_directory::{DeviceSpec, InitiatingEntity};
use tessera_jose::dpop::DpopRequest;
use tessera_store::{Compliance, Device, DeviceStatus, KeyAttestation, KeyProtection, TrustType, UserId};

use crate::api::{ApiError, JsonBody, List, created, ok};
use crate::attestation::{self, ChallengeRequest, Evidence};
use crate::error::OAuthError;
use crate::oauth::bearer::{self, Presented};
use crate::state::AppState;

const PATH: &str = "/devices";

/// A registered device as the APIs show it (never its public key: `jkt` names it).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Device)]
pub(crate) struct DeviceView {
    /// The device's id.
    id: String,
    /// The user it belongs to.
    user_id: String,
    /// A name for people.
    display_name: String,
    /// As the client reported it: `windows`, `macOS`, `linux`, `iOS` or `android`.
    platform: String,
    /// As the client reported it.
    os_version: Option<String>,
    /// How the device is known.
    trust_type: TrustType,
    /// Whether it is marked compliant.
    compliance: Compliance,
    /// A disabled device no longer satisfies token protection.
    status: DeviceStatus,
    /// RFC 7638 thumbprint of the device key.
    jkt: String,
    /// Where the device key lives: attested when Tessera verified TPM evidence at registration.
    key_protection: KeyProtection,
    /// What the evidence showed, or why it failed.
    key_attestation: Option<KeyAttestation>,
    /// When it was registered (RFC 3339).
    #[schema(format = DateTime)]
    created_at: String,
    /// When a token was last issued for it (RFC 3339).
    #[schema(format = DateTime)]
    last_seen_at: Option<String>,
}

impl From<&Device> for DeviceView {
    fn from(d: &Device) -> Self {
        Self {
            id: d.id.clone(),
            user_id: d.user_id.0.clone(),
            display_name: d.display_name.clone(),
            platform: d.platform.clone(),
            os_version: d.os_version.clone(),
            trust_type: d.trust_type,
            compliance: d.compliance,
            status: d.status,
            jkt: d.jkt.clone(),
            key_protection: d.key_protection,
            key_attestation: d.key_attestation.clone(),
            created_at: d.created_at.rfc3339(),
            last_seen_at: d.last_seen_at.map(tessera_store::Timestamp::rfc3339),
        }
    }
}

/// The user behind a user's token; a client's own token (client credentials) has none.
fn user_of(presented: &Presented) -> Result<UserId, ApiError> {
    if presented.session().is_none() {
        return Err(ApiError::Forbidden(
            "devices are registered with a user's token, not a client's".into(),
        ));
    }
    Ok(UserId(presented.subject.clone()))
}

/// Where the client says its key is, when it sends no evidence.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Declared {
    Software,
    Hardware,
}

/// `POST /devices`' body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    display_name: String,
    platform: String,
    #[serde(default)]
    os_version: Option<String>,
    #[serde(default)]
    key_protection: Option<Declared>,
    #[serde(default)]
    attestation: Option<Evidence>,
}

/// `POST /devices/attestation`: a challenge for a TPM-held key's evidence.
pub async fn attestation_challenge(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    JsonBody(request): JsonBody<ChallengeRequest>,
) -> Result<Response, ApiError> {
    let presented = bearer::authenticate(&state, &Method::POST, "/devices/attestation", &headers).await?;
    let user = user_of(&presented)?;
    Ok(ok(attestation::challenge(&state, &user, &request)?))
}

/// `POST /devices`
pub async fn register(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    JsonBody(registration): JsonBody<Registration>,
) -> Result<Response, ApiError> {
    let presented = bearer::authenticate(&state, &Method::POST, PATH, &headers).await?;
    let user = user_of(&presented)?;
    let spec = DeviceSpec {
        display_name: registration.display_name,
        platform: registration.platform,
        os_version: registration.os_version,
    };
    let key = match presented.proof {
        Some(proof) => proof.jwk,
        None => {
            let proofs = crate::oauth::dpop_proofs(&headers);
            if proofs.is_empty() {
                return Err(
                    OAuthError::invalid_dpop_proof("send a DPoP proof made with the device's key").into(),
                );
            }
            let uri = state.endpoint(PATH);
            let request = DpopRequest {
                proofs: &proofs,
                method: "POST",
                uri: &uri,
                access_token: Some(&presented.token),
                bound_jkt: None,
                nonce: None,
            };
            state.verify_dpop(&request).await.map_err(OAuthError::from)?.jwk
        }
    };
    let (protection, shown) = match (&registration.attestation, registration.key_protection) {
        (Some(evidence), _) => {
            let (protection, shown) = attestation::verify(&state, &user, evidence, &key)?;
            (protection, Some(shown))
        }
        (None, Some(Declared::Hardware)) => (KeyProtection::Hardware, None),
        (None, Some(Declared::Software) | None) => (KeyProtection::Software, None),
    };
    let device = state
        .directory(InitiatingEntity::User)
        .register_device(
            &user,
            &spec,
            &key,
            (protection, shown),
            state.config.devices.max_per_user,
        )
        .await?;
    tracing::info!(
        user = %user.0, device = %device.id, jkt = %device.jkt,
        key_protection = device.key_protection.as_str(), "device registered"
    );
    Ok(created(
        &format!("{PATH}/{}", device.id),
        DeviceView::from(&device),
    ))
}

/// `GET /devices`: the caller's devices.
pub async fn list(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let presented = bearer::authenticate(&state, &Method::GET, PATH, &headers).await?;
    let user = user_of(&presented)?;
    let devices = state.store.devices_of(&user).await?;
    Ok(ok(List {
        items: devices.iter().map(DeviceView::from).collect(),
    }))
}
