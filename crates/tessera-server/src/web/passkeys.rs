//! Passkeys (WebAuthn, by `webauthn-rs`): signing in without a password, or as the second
//! factor after one. Registration is on the account page ([`super::account`]).
//!
//! The relying party is the issuer: its host is the RP ID and its origin the only origin
//! accepted. WebAuthn does not allow an IP address as RP ID, so with an issuer such as
//! `http://127.0.0.1:8080` passkeys are off (the pages say so); `http://localhost:8080` or a
//! domain name turns them on.
//!
//! A ceremony's state (its challenge and the credentials allowed) travels in a signed cookie
//! that lives five minutes, so any node can finish what another started.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tessera_jose::jws;
use tessera_store::{MfaKind, MfaMethod, User, UserId, UserStatus};
use webauthn_rs::prelude::{Passkey, PasskeyAuthentication, PublicKeyCredential, Url, Uuid};
use webauthn_rs::{Webauthn, WebauthnBuilder};

use super::{pages, session};
use crate::oauth::authorize::AuthRequest;
use crate::state::AppState;

/// How long a ceremony may take.
pub const CEREMONY_SECONDS: i64 = 300;
const COOKIE: &str = "tessera_passkey";
const TYP: &str = "tessera-passkey+jwt";

/// The relying party for `issuer`, or `None` when its host cannot be an RP ID.
#[must_use]
pub fn relying_party(issuer: &str) -> Option<Webauthn> {
    let origin = Url::parse(issuer).ok()?;
    let host = origin.host()?;
    let url::Host::Domain(rp_id) = host else {
        return None;
    };
    let rp_id = rp_id.to_owned();
    WebauthnBuilder::new(&rp_id, &origin)
        .ok()?
        .rp_name("Tessera")
        .allow_any_port(false)
        .build()
        .ok()
}

/// The WebAuthn user handle for a user: stable, and revealing nothing of the user id.
#[must_use]
pub fn user_handle(user: &UserId) -> Uuid {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, user.0.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest.as_ref()[..16]);
    Uuid::from_bytes(bytes)
}

/// A user's registered passkeys, with their methods.
#[must_use]
pub fn passkeys_of(methods: &[MfaMethod]) -> Vec<(String, Passkey)> {
    methods
        .iter()
        .filter(|m| m.kind == MfaKind::Passkey)
        .filter_map(|m| Some((m.id.clone(), serde_json::from_str(m.secret.expose()).ok()?)))
        .collect()
}

/// A ceremony in progress, as its signed cookie says.
#[derive(Debug, Serialize, Deserialize)]
pub struct Ceremony {
    /// The user.
    pub sub: String,
    /// `passwordless`, `second-factor` or `register`.
    pub mode: String,
    /// webauthn-rs's state.
    pub state: Value,
    /// Expiry (seconds).
    pub exp: i64,
}

/// The cookie carrying a ceremony, on `path`.
///
/// # Errors
/// `None` when signing fails.
pub fn ceremony_cookie(state: &AppState, ceremony: &Ceremony, path: &str) -> Option<HeaderValue> {
    let value = jws::sign(state.keys.active(), Some(TYP), ceremony).ok()?;
    let secure = if state.config.issuer.starts_with("https:") {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path={path}; HttpOnly; SameSite=Strict; Max-Age={CEREMONY_SECONDS}{secure}"
    ))
    .ok()
}

/// The ceremony the request's cookie carries, if signed by us and not expired.
#[must_use]
pub fn read_ceremony(state: &AppState, headers: &HeaderMap) -> Option<Ceremony> {
    let c: Ceremony = super::signed::read(state, super::cookie(headers, COOKIE)?, TYP)?;
    (c.exp > state.unix_time().as_secs()).then_some(c)
}

/// `503` for a store failure while reading passkeys: logged, never "there is no passkey".
fn unavailable(e: &tessera_store::StoreError) -> Response {
    tracing::error!(%e, "the store failed while reading passkeys");
    refused(
        StatusCode::SERVICE_UNAVAILABLE,
        "Passkeys are unavailable just now. Try again shortly.",
    )
}

/// A JSON error for the page's script to show.
pub fn refused(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({"error": "passkey_refused", "error_description": message})),
    )
        .into_response()
}

/// A JSON request of the passkey endpoints: each carries the page's CSRF token.
pub trait Posted: serde::de::DeserializeOwned {
    /// The CSRF token it carries.
    fn csrf(&self) -> &str;
}

/// The relying party and a passkey endpoint's JSON request, or the refusal: passkeys off, the
/// body not what was expected (`malformed` says so), or a CSRF token that is not the page's.
///
/// # Errors
/// The response to send instead.
pub fn accept<'s, T: Posted>(
    state: &'s AppState,
    headers: &HeaderMap,
    body: &[u8],
    malformed: &str,
) -> Result<(T, &'s Webauthn), Box<Response>> {
    let Some(rp) = state.passkeys.as_ref() else {
        return Err(Box::new(refused(
            StatusCode::NOT_FOUND,
            "Passkeys are not available on this server.",
        )));
    };
    let Ok(posted) = serde_json::from_slice::<T>(body) else {
        return Err(Box::new(refused(StatusCode::BAD_REQUEST, malformed)));
    };
    if !pages::csrf_ok(headers, Some(posted.csrf())) {
        return Err(Box::new(refused(
            StatusCode::FORBIDDEN,
            "The page expired. Reload it and try again.",
        )));
    }
    Ok((posted, rp))
}

#[derive(Debug, Deserialize)]
struct OptionsRequest {
    csrf: String,
    request: String,
    #[serde(default)]
    username: Option<String>,
}

async fn user_for(state: &AppState, username: &str) -> Option<User> {
    state
        .store
        .user_by_username(username.trim())
        .await
        .ok()
        .filter(|u| u.status == UserStatus::Enabled)
}

/// `POST /login/passkey/options`: starts a sign-in with a passkey. With `username`, instead of
/// the password; without, as the second factor of the session the password step started.
pub async fn options(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let (q, rp) = match accept::<OptionsRequest>(&state, &headers, &body, "The request is not valid.") {
        Ok(accepted) => accepted,
        Err(refusal) => return *refusal,
    };
    if AuthRequest::parse(&state, &q.request).await.is_err() {
        return refused(StatusCode::BAD_REQUEST, "The sign-in request is no longer valid.");
    }
    let (user, mode) = match q.username.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
        Some(name) => match user_for(&state, name).await {
            Some(u) => (u, "passwordless"),
            None => return refused(StatusCode::BAD_REQUEST, "There is no passkey for this account."),
        },
        None => match session::current(&state, &headers).await {
            Ok(Some((_, u))) => (u, "second-factor"),
            _ => return refused(StatusCode::BAD_REQUEST, "Enter your username first."),
        },
    };
    let methods = match state.store.mfa_methods_of(&user.id).await {
        Ok(m) => m,
        Err(e) => return unavailable(&e),
    };
    let keys: Vec<Passkey> = passkeys_of(&methods).into_iter().map(|(_, k)| k).collect();
    if keys.is_empty() {
        return refused(StatusCode::BAD_REQUEST, "There is no passkey for this account.");
    }
    let Ok((challenge, auth)) = rp.start_passkey_authentication(&keys) else {
        return refused(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The passkey sign-in could not start.",
        );
    };
    let ceremony = Ceremony {
        sub: user.id.0.clone(),
        mode: mode.into(),
        state: serde_json::to_value(&auth).unwrap_or_default(),
        exp: state.unix_time().as_secs() + CEREMONY_SECONDS,
    };
    let Some(cookie) = ceremony_cookie(&state, &ceremony, "/login") else {
        return refused(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The passkey sign-in could not start.",
        );
    };
    let mut response = Json(challenge).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[derive(Debug, Deserialize)]
struct Assertion {
    csrf: String,
    request: String,
    credential: PublicKeyCredential,
}

/// `POST /login/passkey`: checks the authenticator's assertion and continues the sign-in at
/// `/authorize` (the answer names where to go).
pub async fn finish(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    extensions: Extensions,
    body: Bytes,
) -> Response {
    let (a, rp) = match accept::<Assertion>(&state, &headers, &body, "The passkey's answer is not valid.") {
        Ok(accepted) => accepted,
        Err(refusal) => return *refusal,
    };
    let Ok(request) = AuthRequest::parse(&state, &a.request).await else {
        return refused(StatusCode::BAD_REQUEST, "The sign-in request is no longer valid.");
    };
    let Some(ceremony) = read_ceremony(&state, &headers).filter(|c| c.mode != "register") else {
        return refused(StatusCode::BAD_REQUEST, "The passkey sign-in expired. Try again.");
    };
    let Some(user) = state.store.user(&UserId(ceremony.sub.clone())).await.ok() else {
        return refused(StatusCode::BAD_REQUEST, "There is no passkey for this account.");
    };
    let ip = crate::http::client_ip(&extensions);
    let Some(attempt) = state.throttle.reserve(&user.username, ip) else {
        return refused(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed attempts. Wait 15 minutes, then try again.",
        );
    };
    let verified = serde_json::from_value::<PasskeyAuthentication>(ceremony.state)
        .ok()
        .and_then(|s| rp.finish_passkey_authentication(&a.credential, &s).ok());
    if let Some(result) = &verified {
        // Keep the authenticator's signature counter (and backup state) current.
        let methods = match state.store.mfa_methods_of(&user.id).await {
            Ok(m) => m,
            Err(e) => return unavailable(&e),
        };
        for (id, mut key) in passkeys_of(&methods) {
            if key.cred_id() == result.cred_id() {
                let changed = key.update_credential(result) == Some(true);
                let record = changed.then(|| serde_json::to_string(&key).ok()).flatten();
                if let Err(e) = state.store.use_passkey(&id, record.as_deref(), state.now()).await {
                    tracing::warn!(%e, "could not record a passkey's use");
                }
            }
        }
    }
    if verified.is_none() || user.status != UserStatus::Enabled {
        drop(attempt);
        let entry = tessera_directory::access::LogEntry {
            stage: "login (passkey)",
            user: Some(&user.id),
            client_id: Some(&request.app.id),
            ip,
            outcome: "failure",
            token_protection: tessera_directory::access::TokenProtection::NotApplicable,
            device_id: None,
            jkt: None,
            error: Some("invalid_passkey"),
            key_binding: None,
            transfer: None,
        };
        crate::access::log(&state, &entry, None).await;
        return refused(StatusCode::UNAUTHORIZED, "That passkey was not accepted.");
    }
    attempt.succeeded();
    let session = match (ceremony.mode.as_str(), session::current(&state, &headers).await) {
        ("second-factor", Ok(Some((current, u)))) if u.id == user.id => {
            let mut amr = current.amr.clone();
            for m in ["hwk", "mfa"] {
                if !amr.iter().any(|x| x == m) {
                    amr.push(m.to_owned());
                }
            }
            session::BrowserSession { amr, ..current }
        }
        ("passwordless", _) => match session::start(&state, &user.id, vec!["hwk".into(), "mfa".into()]) {
            Ok(s) => s,
            Err(_) => return refused(StatusCode::INTERNAL_SERVER_ERROR, "The session could not start."),
        },
        _ => return refused(StatusCode::BAD_REQUEST, "The passkey sign-in expired. Try again."),
    };
    let Ok(cookie) = session::issue(&state, &session) else {
        return refused(StatusCode::INTERNAL_SERVER_ERROR, "The session could not start.");
    };
    let next = format!("/authorize?{}", super::login::return_query(&a.request));
    let mut response = Json(json!({ "redirect": next })).into_response();
    let (name, value) = session::cookie_header(&state, &cookie);
    response.headers_mut().append(name, value);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

impl Posted for OptionsRequest {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl Posted for Assertion {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passkeys_need_a_domain_name_for_the_issuer() {
        assert!(relying_party("http://localhost:8080").is_some());
        assert!(relying_party("https://id.example.com").is_some());
        assert!(relying_party("http://127.0.0.1:8080").is_none());
        assert!(relying_party("http://[::1]:8080").is_none());
        assert!(relying_party("not a url").is_none());
    }

    #[test]
    fn user_handles_are_stable_and_distinct() {
        let a = user_handle(&UserId("u-a".into()));
        assert_eq!(a, user_handle(&UserId("u-a".into())));
        assert_ne!(a, user_handle(&UserId("u-b".into())));
    }
}
