//! `/device`: where a user approves a device authorization (RFC 8628 §3.3). The user signs in
//! first (through `/authorize` as the built-in client `tessera-device`), enters the code the
//! device shows (or confirms the one `verification_uri_complete` filled in), sees which
//! application asks, for what and from which address, and approves or cancels.
//!
//! Wrong codes are throttled per user and per address (the login counters' limits). Approving
//! runs Conditional Access for the application with what the browser shows (its address, the
//! session's MFA) and the `deviceCodeFlow` authentication flow, so a policy can block the flow
//! here, before any token; the token request runs it again from the device. Both steps are in
//! the sign-in log with the two addresses, the classic device-code phishing case being an
//! approval far from the device that asked.

use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{Extensions, HeaderMap, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use tessera_directory::access::{Attempt, LogEntry, TokenProtection, Transfer};
use tessera_directory::bootstrap::{BuiltinClient, ensure_builtin_client};
use tessera_policy::{Need, Outcome, TokenBinding, TransferMethod};
use tessera_store::{DeviceDecision, DeviceGrantStatus, StoreError, User};

use super::session::BrowserSession;
use super::{pages, see_other};
use crate::access;
use crate::oauth::device_authorization::{DeviceRequest, display, normalise};
use crate::oauth::device_code::Approval;
use crate::state::AppState;

/// The verification page's own OAuth client.
pub const CLIENT_ID: &str = "tessera-device";
const FLOW_COOKIE: &str = "tessera_device_flow";

const CLIENT: BuiltinClient<'static> = BuiltinClient {
    id: CLIENT_ID,
    name: "Sign in on a device",
    redirect_path: "/device/callback",
    scopes: &["openid"],
    access_token_minutes: 5,
};

#[derive(Template)]
#[template(path = "device.html")]
struct EnterCode<'a> {
    csrf: &'a str,
    user_code: &'a str,
    username: &'a str,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "device_confirm.html")]
struct ConfirmDevice<'a> {
    csrf: &'a str,
    user_code: &'a str,
    username: &'a str,
    app_name: &'a str,
    scope: &'a str,
    requested_from: String,
    same_network: bool,
    asked: String,
}

fn unavailable() -> Response {
    pages::message(
        StatusCode::SERVICE_UNAVAILABLE,
        "Unavailable",
        "The device sign-in page could not be opened. Try again shortly.",
        None,
    )
}

#[derive(Debug, Deserialize)]
pub struct CodeQuery {
    #[serde(default)]
    user_code: Option<String>,
}

/// `GET /device[?user_code=…]`: the code form, once signed in.
pub async fn show(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<CodeQuery>,
) -> Response {
    let typed = q.user_code.unwrap_or_default();
    let typed = normalise(&typed).map_or_else(|| typed.chars().take(20).collect(), |c| display(&c));
    match super::session::current(&state, &headers).await {
        Ok(Some((_, user))) => enter_code(&state, &headers, StatusCode::OK, &typed, &user, None),
        Ok(None) => {
            if ensure_builtin_client(state.store.as_ref(), &CLIENT, &state.config.issuer, state.now())
                .await
                .is_err()
            {
                return unavailable();
            }
            super::own_client::start(&state, &CLIENT, FLOW_COOKIE, &typed, false).unwrap_or_else(unavailable)
        }
        Err(_) => unavailable(),
    }
}

fn enter_code(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    user_code: &str,
    user: &User,
    error: Option<&str>,
) -> Response {
    let (csrf, cookies) = pages::csrf(state, headers);
    let page = EnterCode {
        csrf: &csrf,
        user_code,
        username: &user.username,
        error,
    };
    pages::render(status, &page, &cookies)
}

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    state: Option<String>,
    error_description: Option<String>,
    error: Option<String>,
}

/// `GET /device/callback`: signed in; back to the code form, with the code when one came.
pub async fn callback(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let (carried, forget) = super::own_client::finish(&state, &headers, FLOW_COOKIE, q.state.as_deref());
    let Some(code) = carried else {
        return pages::message(
            StatusCode::BAD_REQUEST,
            "Sign-in expired",
            "This sign-in was not started here or took too long.",
            Some("Open /device to start again."),
        );
    };
    if let Some(e) = q.error {
        let why = q.error_description.unwrap_or(e);
        return pages::message(StatusCode::FORBIDDEN, "Sign-in refused", &why, None);
    }
    let to = if code.is_empty() {
        "/device".to_owned()
    } else {
        format!(
            "/device?user_code={}",
            url::form_urlencoded::byte_serialize(code.as_bytes()).collect::<String>()
        )
    };
    see_other(&to, &[(header::SET_COOKIE, forget)])
}

type Fields = std::collections::HashMap<String, String>;

/// The posted form and the signed-in user, or the answer when the form is not from this page
/// or the session is gone.
async fn posted(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Fields, BrowserSession, User), Response> {
    let fields: Fields = url::form_urlencoded::parse(body).into_owned().collect();
    if !pages::csrf_ok(headers, fields.get("csrf").map(String::as_str)) {
        return Err(pages::message(
            StatusCode::FORBIDDEN,
            "Sign in on a device",
            "The form expired or was not sent from this site.",
            Some("Open /device and enter the code again."),
        ));
    }
    match super::session::current(state, headers).await {
        Ok(Some((session, user))) => Ok((fields, session, user)),
        Ok(None) => Err(see_other("/device", &[])),
        Err(_) => Err(unavailable()),
    }
}

/// The pending authorization a typed code names, or what to tell the user.
async fn pending(
    state: &AppState,
    typed: &str,
) -> Result<(String, tessera_store::DeviceAuthorization), &'static str> {
    let code = normalise(typed).ok_or("That is not a device code: eight letters, like WDJB-MJHT.")?;
    let found = match state.store.device_authorization(&code).await {
        Ok(found) => found,
        Err(StoreError::NotFound(_)) => {
            return Err("No device is waiting for that code. Check it, or start again on the device.");
        }
        Err(e) => {
            tracing::error!(%e, "store failed reading a device authorization");
            return Err("The sign-in service is unavailable. Try again shortly.");
        }
    };
    if found.status != DeviceGrantStatus::Pending || state.now() > found.expires_at {
        return Err("That code has expired or was used already. Start again on the device.");
    }
    Ok((code, found))
}

/// `POST /device`: a code entered; the confirmation for the device it names.
pub async fn enter(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    extensions: Extensions,
    body: Bytes,
) -> Response {
    let (fields, _, user) = match posted(&state, &headers, &body).await {
        Ok(p) => p,
        Err(answer) => return answer,
    };
    let typed = fields.get("user_code").map_or("", String::as_str);
    let shown: String = typed.chars().take(20).collect();
    let ip = crate::http::client_ip(&extensions);
    let Some(attempt) = state.device_code_guesses.reserve(&user.id.0, ip) else {
        return enter_code(
            &state,
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            &shown,
            &user,
            Some("Too many wrong codes. Wait 15 minutes, then try again."),
        );
    };
    let (code, found) = match pending(&state, typed).await {
        Ok(p) => p,
        Err(why) => {
            return enter_code(
                &state,
                &headers,
                StatusCode::BAD_REQUEST,
                &shown,
                &user,
                Some(why),
            );
        }
    };
    attempt.succeeded();
    let Ok(request) = serde_json::from_value::<DeviceRequest>(found.request) else {
        return unavailable();
    };
    let app_name = match state.store.application(&found.client_id).await {
        Ok(app) => app.name,
        Err(_) => return unavailable(),
    };
    let minutes = (state.now().0 - found.created_at.0) / 60_000;
    let (csrf, cookies) = pages::csrf(&state, &headers);
    let page = ConfirmDevice {
        csrf: &csrf,
        user_code: &display(&code),
        username: &user.username,
        app_name: &app_name,
        scope: &request.scope,
        requested_from: request.ip.to_string(),
        same_network: request.ip == ip,
        asked: match minutes {
            0 => "just now".to_owned(),
            1 => "a minute ago".to_owned(),
            n => format!("{n} minutes ago"),
        },
    };
    pages::render(StatusCode::OK, &page, &cookies)
}

/// `POST /device/decide`: the user's answer.
pub async fn decide(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    extensions: Extensions,
    body: Bytes,
) -> Response {
    let (fields, session, user) = match posted(&state, &headers, &body).await {
        Ok(p) => p,
        Err(answer) => return answer,
    };
    let typed = fields.get("user_code").map_or("", String::as_str);
    let (code, found) = match pending(&state, typed).await {
        Ok(p) => p,
        Err(why) => return pages::message(StatusCode::BAD_REQUEST, "Sign in on a device", why, None),
    };
    let done = |title: &str, message: &str| pages::message(StatusCode::OK, title, message, None);
    if fields.get("decision").map(String::as_str) != Some("approve") {
        return match state
            .store
            .decide_device_authorization(&code, &DeviceDecision::Deny, state.now())
            .await
        {
            Ok(_) => done(
                "Cancelled",
                "The device was not signed in. You can close this window.",
            ),
            Err(_) => unavailable(),
        };
    }
    let (Ok(request), Ok(app)) = (
        serde_json::from_value::<DeviceRequest>(found.request),
        state.store.application(&found.client_id).await,
    ) else {
        return unavailable();
    };
    let ip = crate::http::client_ip(&extensions);
    let now = state.now();
    let transfer = Transfer {
        method: TransferMethod::DeviceCodeFlow,
        requested_from: request.ip,
        approved_from: Some(ip),
        approved_at: Some(now.rfc3339()),
    };
    let attempt = Attempt {
        user: &user,
        app: &app,
        device: None,
        groups: None,
        ip,
        mfa: session.mfa(),
        binding: TokenBinding::NotApplicable,
        client_app_type: tessera_policy::ClientAppType::Browser,
        flow: Some(TransferMethod::DeviceCodeFlow),
    };
    let Ok((decision, set)) = access::evaluate(&state, &attempt).await else {
        return unavailable();
    };
    let needs_mfa = matches!(&decision.outcome, Outcome::Interrupt { requirements }
        if requirements.iter().any(|r| r.any_of.contains(&Need::Mfa)));
    let refusal = match &decision.outcome {
        Outcome::Block { .. } => {
            Some("Your organisation does not allow signing in to this application this way.")
        }
        _ if needs_mfa && !session.mfa() => {
            Some("This application needs multi-factor authentication, and you have no method registered.")
        }
        _ => None,
    };
    let entry = |outcome: &'static str, error: Option<&'static str>| LogEntry {
        stage: "device_approval",
        user: Some(&user.id),
        client_id: Some(&app.id),
        ip,
        outcome,
        token_protection: TokenProtection::NotApplicable,
        device_id: None,
        jkt: None,
        error,
        key_binding: None,
        transfer: Some(transfer.clone()),
    };
    if let Some(why) = refusal {
        access::log(
            &state,
            &entry("blocked", Some("access_denied")),
            Some((&decision, &set)),
        )
        .await;
        let _ = state
            .store
            .decide_device_authorization(&code, &DeviceDecision::Deny, now)
            .await;
        return pages::message(StatusCode::FORBIDDEN, "Cannot sign in on the device", why, None);
    }
    let approval = Approval {
        auth_time: session.auth_time,
        signed_in: session.signed_in(),
        amr: session.amr.clone(),
        browser_sid: session.sid.clone(),
        ip,
        at: now.rfc3339(),
    };
    let Ok(approval) = serde_json::to_value(&approval) else {
        return unavailable();
    };
    let approve = DeviceDecision::Approve {
        user_id: user.id.clone(),
        approval,
    };
    match state
        .store
        .decide_device_authorization(&code, &approve, now)
        .await
    {
        Ok(true) => {
            access::log(&state, &entry("success", None), Some((&decision, &set))).await;
            done(
                "Signed in on the device",
                &format!(
                    "{} on your device is signed in. You can close this window.",
                    app.name
                ),
            )
        }
        Ok(false) => pages::message(
            StatusCode::BAD_REQUEST,
            "Sign in on a device",
            "That code has expired or was used already. Start again on the device.",
            None,
        ),
        Err(_) => unavailable(),
    }
}
