//! `POST /device_authorization` (RFC 8628 §3.1–3.2): a device without a browser (a CLI, a TV, a
//! kiosk) asks to sign a user in. It gets a `device_code` to poll the token endpoint with and a
//! `user_code` for the user to enter at `/device` on a machine with a browser.
//!
//! The device authenticates as at the token endpoint (a public client by its `client_id`). A
//! DPoP proof sent here binds the device code to its key: only a poll proved by the same key
//! gets the tokens, which are bound to it. The user code is eight letters from an alphabet
//! without vowels or look-alikes (`BCDFGHJKLMNPQRSTVWXZ`, about 34 bits, §6.1), shown as
//! `WDJB-MJHT`; the verification page throttles guesses.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Extensions, HeaderMap};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tessera_directory::GrantType;
use tessera_store::{NewDeviceAuthorization, StoreError};

use super::client_auth;
use super::form::Form;
use crate::error::OAuthError;
use crate::state::AppState;

/// Where users enter the code.
pub const VERIFICATION_PATH: &str = "/device";
/// How long the codes live.
pub const LIFETIME_SECONDS: i64 = 600;
/// The least time between polls, to begin with.
pub const INTERVAL_SECONDS: i64 = 5;
/// The user code's alphabet: consonants that read and type unambiguously (RFC 8628 §6.1).
const ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// The user code's length, in letters.
const USER_CODE_LETTERS: usize = 8;

/// What the device asked for, kept with the codes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceRequest {
    /// Granted scopes, space-separated.
    pub scope: String,
    /// The resource (RFC 8707) the tokens are for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The client declared `cp1` (or is registered CAE-capable).
    #[serde(default)]
    pub cp1: bool,
    /// The address the device asked from.
    pub ip: std::net::IpAddr,
    /// The DPoP key the device proved, which must prove its polls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jkt: Option<String>,
}

/// `POST /device_authorization`
pub async fn device_authorization(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    extensions: Extensions,
    body: Bytes,
) -> Response {
    let ip = crate::http::client_ip(&extensions);
    let answer = serve(&state, &headers, ip, &body)
        .await
        .map(|body| crate::http::no_store(axum::Json(body).into_response()));
    super::dpop_nonce::answer(&state, "device_authorization", answer)
}

async fn serve(
    state: &AppState,
    headers: &HeaderMap,
    ip: std::net::IpAddr,
    body: &[u8],
) -> Result<serde_json::Value, OAuthError> {
    let form = Form::parse(headers, body)?;
    let client = client_auth::authenticate(state, headers, &form).await?;
    let app = &client.app;
    if !GrantType::DeviceCode.allowed_for(app) {
        return Err(OAuthError::unauthorized_client(
            "this client may not use the device authorization grant",
        ));
    }
    let mut allowed = app.scopes.clone();
    allowed.extend(super::authorize::OIDC_SCOPES.iter().map(|s| (*s).to_owned()));
    let scope = super::client_credentials::granted_scopes(&allowed, form.get("scope"))
        .map_err(|_| OAuthError::invalid_scope("the client may not request one of these scopes"))?;
    let resource = form
        .one_resource()?
        .map(super::client_credentials::check_resource)
        .transpose()
        .map_err(|_| OAuthError::invalid_target("resource must be an absolute URI without a fragment"))?;
    let cp1 = match form.get("claims") {
        None => false,
        Some(c) => super::authorize::parse_claims(c).map_err(OAuthError::invalid_request)?,
    } || app.cae_capable;
    let jkt = super::proof_key(state, headers, "/device_authorization").await?;
    if jkt.is_none() && app.require_dpop {
        return Err(OAuthError::invalid_dpop_proof(
            "this client must send a DPoP proof",
        ));
    }
    let request = DeviceRequest {
        scope,
        resource,
        cp1,
        ip,
        jkt: jkt.map(|j| j.as_str().to_owned()),
    };
    let device_code =
        tessera_jose::random::random_id::<32>(state.rng.as_ref()).map_err(OAuthError::server_error)?;
    let now = state.now();
    // A user code is unique while it lives; a collision (one in billions) draws again.
    let mut attempts = 0;
    let user_code = loop {
        let code = new_user_code(state)?;
        let stored = state
            .store
            .insert_device_authorization(&NewDeviceAuthorization {
                hash: super::token_hash(&device_code),
                user_code: code.clone(),
                client_id: app.id.clone(),
                request: serde_json::to_value(&request).map_err(OAuthError::server_error)?,
                created_at: now,
                expires_at: now.plus_ms(LIFETIME_SECONDS * 1000),
                interval_ms: INTERVAL_SECONDS * 1000,
            })
            .await;
        match stored {
            Ok(()) => break code,
            Err(StoreError::Conflict(_)) if attempts < 3 => attempts += 1,
            Err(e) => return Err(e.into()),
        }
    };
    let shown = display(&user_code);
    let verification_uri = state.endpoint(VERIFICATION_PATH);
    Ok(json!({
        "device_code": device_code,
        "user_code": shown,
        "verification_uri": verification_uri,
        "verification_uri_complete": format!("{verification_uri}?user_code={shown}"),
        "expires_in": LIFETIME_SECONDS,
        "interval": INTERVAL_SECONDS,
    }))
}

/// A fresh user code, normalised (no separator).
fn new_user_code(state: &AppState) -> Result<String, OAuthError> {
    let mut code = String::with_capacity(USER_CODE_LETTERS);
    while code.len() < USER_CODE_LETTERS {
        let mut bytes = [0u8; 16];
        state.rng.fill(&mut bytes).map_err(OAuthError::server_error)?;
        // 240 is the largest multiple of 20 a byte holds: no letter is likelier than another.
        for b in bytes.into_iter().filter(|b| *b < 240) {
            if code.len() < USER_CODE_LETTERS {
                code.push(char::from(ALPHABET[usize::from(b % 20)]));
            }
        }
    }
    Ok(code)
}

/// The user code as people read it: `WDJB-MJHT`.
#[must_use]
pub fn display(code: &str) -> String {
    match (code.get(..4), code.get(4..)) {
        (Some(a), Some(b)) if !b.is_empty() => format!("{a}-{b}"),
        _ => code.to_owned(),
    }
}

/// A user code as typed, normalised: letters only, upper case (§6.1: case and separators
/// do not matter). `None` when it cannot be one of Tessera's.
#[must_use]
pub fn normalise(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == USER_CODE_LETTERS && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_read_and_type_forgivingly() {
        assert_eq!(display("WDJBMJHT"), "WDJB-MJHT");
        for typed in ["WDJB-MJHT", "wdjb-mjht", " wdjbmjht ", "WDJB MJHT"] {
            assert_eq!(normalise(typed).as_deref(), Some("WDJBMJHT"), "{typed:?}");
        }
        for bad in [
            "",
            "WDJB-MJH",
            "WDJB-MJHTX",
            "AEIO-UAEI",
            "WDJB_MJHT",
            "WDJB-MJH1",
        ] {
            assert_eq!(normalise(bad), None, "{bad:?}");
        }
    }
}
