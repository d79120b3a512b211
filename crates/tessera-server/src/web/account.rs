//! `/account`: a signed-in user's own sign-in methods. They add an authenticator app (proving it
//! with a code before it counts) or a passkey, and remove either. Adding or removing needs a
//! sign-in in the last 10 minutes; an older one is asked to sign in again first.
//!
//! The page signs in through `/authorize` as the built-in client `tessera-account`, so the same
//! password, MFA and Conditional Access apply; only the browser session it leaves is used.

use std::sync::Arc;

use askama::Template;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tessera_directory::bootstrap::{BuiltinClient, ensure_builtin_client};
use tessera_directory::{DirectoryError, InitiatingEntity};
use tessera_jose::jws;
use tessera_store::{MfaKind, MfaMethod, StoreError, User};
use webauthn_rs::prelude::{CredentialID, PasskeyRegistration, RegisterPublicKeyCredential};
use zeroize::Zeroizing;

use super::passkeys::{Ceremony, ceremony_cookie, passkeys_of, read_ceremony, refused, user_handle};
use super::{cookie, html, pages, see_other, session, set_cookie};
use crate::state::AppState;

/// The account page's own OAuth client.
pub const CLIENT_ID: &str = "tessera-account";
/// A sign-in older than this is asked again before methods change.
pub const RECENT_SECONDS: i64 = 600;
const FLOW_COOKIE: &str = "tessera_account_flow";
const ENROL_COOKIE: &str = "tessera_enrol";
const ENROL_TYP: &str = "tessera-enrol+jwt";

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    csrf: &'a str,
    user: &'a User,
    methods: Vec<(String, String, &'static str)>,
    notice: Option<&'a str>,
    error: Option<&'a str>,
    passkeys: bool,
    /// A new authenticator app waiting for its first code: (secret, otpauth URI).
    pending: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "account_confirm.html")]
struct Confirm<'a> {
    csrf: &'a str,
    method: &'a str,
    label: &'a str,
}

/// How the account page's own OAuth client is registered.
const CLIENT: BuiltinClient<'static> = BuiltinClient {
    id: CLIENT_ID,
    name: "Your Tessera account",
    redirect_path: "/account/callback",
    scopes: &["openid"],
    access_token_minutes: 5,
};

async fn ensure_client(state: &AppState) -> Result<(), StoreError> {
    ensure_builtin_client(state.store.as_ref(), &CLIENT, &state.config.issuer, state.now()).await
}

fn unavailable() -> Response {
    pages::message(
        StatusCode::SERVICE_UNAVAILABLE,
        "Account unavailable",
        "The account page could not be opened. Try again shortly.",
        None,
    )
}

#[derive(Debug, Deserialize)]
pub struct SignInQuery {
    #[serde(default)]
    again: bool,
}

/// `GET /account/sign-in[?again=true]`: off to `/authorize` (with `prompt=login` to sign in
/// again).
pub async fn sign_in(State(state): State<Arc<AppState>>, Query(q): Query<SignInQuery>) -> Response {
    if ensure_client(&state).await.is_err() {
        return unavailable();
    }
    super::own_client::start(&state, &CLIENT, FLOW_COOKIE, "", q.again).unwrap_or_else(unavailable)
}

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    state: Option<String>,
    error_description: Option<String>,
    error: Option<String>,
}

/// `GET /account/callback`: the sign-in is done (its browser session is what counts; the code
/// is not needed and expires unused).
pub async fn callback(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let (carried, forget) = super::own_client::finish(&state, &headers, FLOW_COOKIE, q.state.as_deref());
    if carried.is_none() {
        return pages::message(
            StatusCode::BAD_REQUEST,
            "Sign-in expired",
            "This sign-in was not started here or took too long.",
            Some("Open /account to sign in again."),
        );
    }
    if let Some(e) = q.error {
        let why = q.error_description.unwrap_or(e);
        return pages::message(StatusCode::FORBIDDEN, "Sign-in refused", &why, None);
    }
    see_other("/account", &[(header::SET_COOKIE, forget)])
}

/// The signed-in user, or where to send the browser to sign in (again, when `recent` and the
/// sign-in is older than [`RECENT_SECONDS`]).
async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    recent: bool,
) -> Result<(session::BrowserSession, User), Response> {
    match session::current(state, headers).await {
        Ok(Some((s, u))) => {
            if recent && state.unix_time().as_secs() - s.auth_time > RECENT_SECONDS {
                Err(see_other("/account/sign-in?again=true", &[]))
            } else {
                Ok((s, u))
            }
        }
        Ok(None) => Err(see_other("/account/sign-in", &[])),
        Err(_) => Err(unavailable()),
    }
}

fn kind_words(kind: MfaKind) -> &'static str {
    match kind {
        MfaKind::Totp => "authenticator app",
        MfaKind::Passkey => "passkey",
    }
}

/// What the account page shows besides the methods.
#[derive(Default)]
struct Shown<'a> {
    status: Option<StatusCode>,
    notice: Option<&'a str>,
    error: Option<&'a str>,
    pending: Option<(String, String)>,
    extra: Vec<(header::HeaderName, HeaderValue)>,
}

impl<'a> Shown<'a> {
    fn error(status: StatusCode, error: &'a str) -> Self {
        Self {
            status: Some(status),
            error: Some(error),
            ..Self::default()
        }
    }
}

async fn page(state: &AppState, headers: &HeaderMap, user: &User, shown: Shown<'_>) -> Response {
    let Shown {
        status,
        notice,
        error,
        pending,
        mut extra,
    } = shown;
    let status = status.unwrap_or(StatusCode::OK);
    let (csrf, cookies) = pages::csrf(state, headers);
    extra.extend(cookies);
    let methods: Vec<MfaMethod> = match state.store.mfa_methods_of(&user.id).await {
        Ok(m) => m,
        Err(e) => return pages::unavailable(&e, "MFA methods"),
    };
    let page = AccountPage {
        csrf: &csrf,
        user,
        methods: methods
            .iter()
            .map(|m| (m.id.clone(), m.label.clone(), kind_words(m.kind)))
            .collect(),
        notice,
        error,
        passkeys: state.passkeys.is_some(),
        pending,
    };
    match page.render() {
        Ok(body) => html(status, body, &extra),
        Err(_) => unavailable(),
    }
}

#[derive(Debug, Deserialize)]
pub struct Notice {
    added: Option<String>,
    removed: Option<String>,
}

/// `GET /account`
pub async fn show(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(n): Query<Notice>,
) -> Response {
    let (_, user) = match signed_in(&state, &headers, false).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let notice = match (n.added.as_deref(), n.removed.as_deref()) {
        (Some("totp"), _) => Some("Your authenticator app is set up."),
        (Some("passkey"), _) => Some("Your passkey is registered."),
        (_, Some(_)) => Some("The sign-in method was removed."),
        _ => None,
    };
    page(
        &state,
        &headers,
        &user,
        Shown {
            status: Some(StatusCode::OK),
            notice,
            ..Shown::default()
        },
    )
    .await
}

fn form(body: &[u8]) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn expired() -> Response {
    pages::message(
        StatusCode::FORBIDDEN,
        "The form expired",
        "The form expired or was not sent from this site.",
        Some("Open /account and try again."),
    )
}

#[derive(Debug, Serialize, Deserialize)]
struct Enrolment {
    sub: String,
    secret: String,
    exp: i64,
}

/// `POST /account/totp`: a new secret for an authenticator app, shown once and kept (signed)
/// in a cookie until the first code proves the app has it.
pub async fn start_totp(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let f = form(&body);
    if !pages::csrf_ok(&headers, f.get("csrf").map(String::as_str)) {
        return expired();
    }
    let (_, user) = match signed_in(&state, &headers, true).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let mut raw = [0u8; 20];
    if state.rng.fill(&mut raw).is_err() {
        return unavailable();
    }
    let secret = Zeroizing::new(data_encoding::BASE32_NOPAD.encode(&raw));
    let enrolment = Enrolment {
        sub: user.id.0.clone(),
        secret: secret.to_string(),
        exp: state.unix_time().as_secs() + 600,
    };
    let Ok(value) = jws::sign(state.keys.active(), Some(ENROL_TYP), &enrolment) else {
        return unavailable();
    };
    let secure = state.config.issuer.starts_with("https:");
    let uri = tessera_directory::totp_uri(&state.config.issuer, &user.username, &secret);
    page(
        &state,
        &headers,
        &user,
        Shown {
            status: Some(StatusCode::OK),
            pending: Some((secret.to_string(), uri)),
            extra: vec![(header::SET_COOKIE, set_cookie(ENROL_COOKIE, &value, 600, secure))],
            ..Shown::default()
        },
    )
    .await
}

fn read_enrolment(state: &AppState, headers: &HeaderMap) -> Option<Enrolment> {
    let e: Enrolment = super::signed::read(state, cookie(headers, ENROL_COOKIE)?, ENROL_TYP)?;
    (e.exp > state.unix_time().as_secs()).then_some(e)
}

/// `POST /account/totp/confirm`: the first code from the app; the method counts from now on.
pub async fn confirm_totp(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    extensions: Extensions,
    body: Bytes,
) -> Response {
    let f = form(&body);
    if !pages::csrf_ok(&headers, f.get("csrf").map(String::as_str)) {
        return expired();
    }
    let (_, user) = match signed_in(&state, &headers, true).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(enrolment) = read_enrolment(&state, &headers).filter(|e| e.sub == user.id.0) else {
        return page(
            &state,
            &headers,
            &user,
            Shown::error(
                StatusCode::BAD_REQUEST,
                "The set-up expired. Start again with \"Add an authenticator app\".",
            ),
        )
        .await;
    };
    let ip = crate::http::client_ip(&extensions);
    let Some(attempt) = state.throttle.reserve(&user.username, ip) else {
        return page(
            &state,
            &headers,
            &user,
            Shown::error(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many failed attempts. Wait 15 minutes, then try again.",
            ),
        )
        .await;
    };
    let code = f.get("code").map_or("", |c| c.trim());
    let step = super::totp::decode_secret(&enrolment.secret)
        .and_then(|s| super::totp::matching_step(&s, code, state.unix_time().as_secs()));
    let again = Some((
        enrolment.secret.clone(),
        tessera_directory::totp_uri(&state.config.issuer, &user.username, &enrolment.secret),
    ));
    let Some(step) = step else {
        drop(attempt);
        return page(
            &state,
            &headers,
            &user,
            Shown {
                status: Some(StatusCode::UNPROCESSABLE_ENTITY),
                error: Some("That code is not right. Enter the code the app shows now."),
                pending: again,
                ..Shown::default()
            },
        )
        .await;
    };
    attempt.succeeded();
    let label = f.get("label").map_or("", |l| l.trim());
    let label = if label.is_empty() {
        "Authenticator app"
    } else {
        label
    };
    let directory = state.directory(InitiatingEntity::User);
    match directory
        .add_mfa_method(&user.id, MfaKind::Totp, label, &enrolment.secret)
        .await
    {
        Ok(method) => {
            // The code that proved the app cannot be used again to sign in.
            let _ = state.store.use_totp_step(&method.id, step, state.now()).await;
            tracing::info!(user = %user.id.0, "authenticator app added by its user");
            let secure = state.config.issuer.starts_with("https:");
            see_other(
                "/account?added=totp",
                &[(header::SET_COOKIE, set_cookie(ENROL_COOKIE, "", 0, secure))],
            )
        }
        Err(DirectoryError::Invalid(errors)) => {
            let message = errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ");
            page(
                &state,
                &headers,
                &user,
                Shown {
                    status: Some(StatusCode::UNPROCESSABLE_ENTITY),
                    error: Some(&message),
                    pending: again,
                    ..Shown::default()
                },
            )
            .await
        }
        Err(_) => unavailable(),
    }
}

#[derive(Debug, Deserialize)]
struct Csrf {
    csrf: String,
}

/// `POST /account/passkeys/options`: starts registering a passkey.
pub async fn passkey_options(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (_, rp) = match super::passkeys::accept::<Csrf>(&state, &headers, &body, "The request is not valid.")
    {
        Ok(accepted) => accepted,
        Err(refusal) => return *refusal,
    };
    let user = match signed_in(&state, &headers, true).await {
        Ok((_, u)) => u,
        Err(_) => return refused(StatusCode::UNAUTHORIZED, "Sign in again first: reload the page."),
    };
    let methods = match state.store.mfa_methods_of(&user.id).await {
        Ok(m) => m,
        Err(e) => return pages::unavailable(&e, "MFA methods"),
    };
    let existing: Vec<CredentialID> = passkeys_of(&methods)
        .iter()
        .map(|(_, k)| k.cred_id().clone())
        .collect();
    let Ok((challenge, registration)) = rp.start_passkey_registration(
        user_handle(&user.id),
        &user.username,
        &user.display_name,
        Some(existing),
    ) else {
        return refused(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The registration could not start.",
        );
    };
    let ceremony = Ceremony {
        sub: user.id.0.clone(),
        mode: "register".into(),
        state: serde_json::to_value(&registration).unwrap_or_default(),
        exp: state.unix_time().as_secs() + super::passkeys::CEREMONY_SECONDS,
    };
    let Some(cookie) = ceremony_cookie(&state, &ceremony, "/account") else {
        return refused(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The registration could not start.",
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
struct Registration {
    csrf: String,
    #[serde(default)]
    label: String,
    credential: RegisterPublicKeyCredential,
}

/// `POST /account/passkeys`: the authenticator's new credential; registered once verified.
pub async fn register_passkey(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (r, rp) = match super::passkeys::accept::<Registration>(
        &state,
        &headers,
        &body,
        "The authenticator's answer is not valid.",
    ) {
        Ok(accepted) => accepted,
        Err(refusal) => return *refusal,
    };
    let user = match signed_in(&state, &headers, true).await {
        Ok((_, u)) => u,
        Err(_) => return refused(StatusCode::UNAUTHORIZED, "Sign in again first: reload the page."),
    };
    let Some(ceremony) =
        read_ceremony(&state, &headers).filter(|c| c.mode == "register" && c.sub == user.id.0)
    else {
        return refused(StatusCode::BAD_REQUEST, "The registration expired. Try again.");
    };
    let Some(passkey) = serde_json::from_value::<PasskeyRegistration>(ceremony.state)
        .ok()
        .and_then(|s| rp.finish_passkey_registration(&r.credential, &s).ok())
    else {
        return refused(StatusCode::BAD_REQUEST, "The passkey could not be verified.");
    };
    let label = r.label.trim();
    let label = if label.is_empty() { "Passkey" } else { label };
    let Ok(stored) = serde_json::to_string(&passkey) else {
        return refused(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The passkey could not be stored.",
        );
    };
    match state
        .directory(InitiatingEntity::User)
        .add_mfa_method(&user.id, MfaKind::Passkey, label, &stored)
        .await
    {
        Ok(_) => {
            tracing::info!(user = %user.id.0, "passkey registered by its user");
            Json(json!({ "redirect": "/account?added=passkey" })).into_response()
        }
        Err(DirectoryError::Invalid(e)) => refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            &e.iter().map(|e| e.message.clone()).collect::<Vec<_>>().join("; "),
        ),
        Err(_) => refused(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The passkey could not be stored.",
        ),
    }
}

/// `POST /account/methods/{id}/remove`: asks first, then removes the method.
pub async fn remove(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = form(&body);
    if !pages::csrf_ok(&headers, f.get("csrf").map(String::as_str)) {
        return expired();
    }
    let (_, user) = match signed_in(&state, &headers, true).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let methods = match state.store.mfa_methods_of(&user.id).await {
        Ok(m) => m,
        Err(e) => return pages::unavailable(&e, "MFA methods"),
    };
    let Some(method) = methods.iter().find(|m| m.id == id) else {
        return page(
            &state,
            &headers,
            &user,
            Shown::error(StatusCode::NOT_FOUND, "There is no such method."),
        )
        .await;
    };
    if f.get("confirm").map(String::as_str) != Some("yes") {
        let (csrf, cookies) = pages::csrf(&state, &headers);
        let page = Confirm {
            csrf: &csrf,
            method: &method.id,
            label: &method.label,
        };
        return match page.render() {
            Ok(body) => html(StatusCode::OK, body, &cookies),
            Err(_) => unavailable(),
        };
    }
    match state
        .directory(InitiatingEntity::User)
        .remove_mfa_method(&user.id, &id)
        .await
    {
        Ok(()) => see_other("/account?removed=1", &[]),
        Err(_) => unavailable(),
    }
}

impl super::passkeys::Posted for Csrf {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl super::passkeys::Posted for Registration {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}
