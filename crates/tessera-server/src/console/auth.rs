//! Signing in to the console through Tessera's own `/authorize` (authorization code with PKCE,
//! redeemed in-process), and signing out.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tessera_directory::bootstrap::{BuiltinClient, ensure_builtin_client};
use tessera_jose::jws;
use tessera_store::{SessionId, StoreError, UserId};

use super::{
    CLIENT_ID, COOKIE, ConsoleSession, IDLE_MINUTES, LIFETIME_HOURS, Post, cookie_value, is_admin, message,
    not_an_admin, session_cookie,
};
use crate::admin::ADMIN_SCOPE;
use crate::state::AppState;

/// The cookie that carries the PKCE verifier and `state` through `/authorize`.
const FLOW_COOKIE: &str = "tessera_console_flow";
const FLOW_TYP: &str = "tessera-console-flow+jwt";
/// How long a sign-in may take.
const FLOW_SECONDS: i64 = 600;

#[derive(Debug, Serialize, Deserialize)]
struct Flow {
    state: String,
    verifier: String,
    next: String,
    exp: i64,
}

/// How the console's own OAuth client is registered.
const CLIENT: BuiltinClient<'static> = BuiltinClient {
    id: CLIENT_ID,
    name: "Tessera admin console",
    redirect_path: "/admin/callback",
    scopes: &["openid", ADMIN_SCOPE],
    access_token_minutes: 10,
};

/// Registers the console's client, or points its redirect URI at this issuer.
async fn ensure_client(state: &AppState) -> Result<(), StoreError> {
    ensure_builtin_client(state.store.as_ref(), &CLIENT, &state.config.issuer, state.now()).await
}

/// Only a path inside the console, so the sign-in cannot be used to redirect elsewhere.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/admin") && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/admin".into(),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct SignInQuery {
    next: Option<String>,
}

/// `GET /admin/sign-in`: off to `/authorize`.
pub(super) async fn sign_in(State(state): State<Arc<AppState>>, Query(q): Query<SignInQuery>) -> Response {
    if let Err(e) = ensure_client(&state).await {
        return axum::response::IntoResponse::into_response(super::Refused::from(e));
    }
    let random = |_| tessera_jose::random::random_id::<32>(state.rng.as_ref());
    let (Ok(verifier), Ok(flow_state)) = (random(0), random(1)) else {
        return message(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "No randomness.",
        );
    };
    let challenge = crate::oauth::pkce_challenge(&verifier);
    let flow = Flow {
        state: flow_state.clone(),
        verifier,
        next: safe_next(q.next.as_deref()),
        exp: state.unix_time().as_secs() + FLOW_SECONDS,
    };
    let Ok(value) = jws::sign(state.keys.active(), Some(FLOW_TYP), &flow) else {
        return message(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "Cannot sign.",
        );
    };
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", CLIENT_ID)
        .append_pair("redirect_uri", &state.endpoint(CLIENT.redirect_path))
        .append_pair("scope", &format!("openid {ADMIN_SCOPE}"))
        .append_pair("state", &flow_state)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();
    let secure = state.config.issuer.starts_with("https:");
    crate::web::see_other(
        &format!("/authorize?{query}"),
        &[(
            header::SET_COOKIE,
            cookie_value(FLOW_COOKIE, &value, FLOW_SECONDS, "/admin", secure),
        )],
    )
}

#[derive(Debug, Deserialize)]
pub(super) struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

fn read_flow(state: &AppState, headers: &HeaderMap) -> Option<Flow> {
    let flow: Flow = crate::web::signed::read(state, crate::web::cookie(headers, FLOW_COOKIE)?, FLOW_TYP)?;
    (flow.exp > state.unix_time().as_secs()).then_some(flow)
}

/// `GET /admin/callback`: redeem the code, check the administrator, start the console session.
pub(super) async fn callback(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let again = "Go to /admin to sign in again.";
    let Some(flow) = read_flow(&state, &headers) else {
        return message(
            StatusCode::BAD_REQUEST,
            "Sign-in expired",
            &format!("This sign-in was not started here or took longer than 10 minutes. {again}"),
        );
    };
    if q.state.as_deref() != Some(flow.state.as_str()) {
        return message(
            StatusCode::BAD_REQUEST,
            "Sign-in refused",
            &format!("The sign-in's state does not match. {again}"),
        );
    }
    if let Some(error) = q.error {
        let why = q.error_description.unwrap_or(error);
        return message(
            StatusCode::FORBIDDEN,
            "Sign-in refused",
            &format!("{why}. {again}"),
        );
    }
    let Some(code) = q.code else {
        return message(
            StatusCode::BAD_REQUEST,
            "Sign-in refused",
            &format!("No code came back. {again}"),
        );
    };
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("client_id", CLIENT_ID)
        .append_pair("code", &code)
        .append_pair("code_verifier", &flow.verifier)
        .append_pair("redirect_uri", &state.endpoint(CLIENT.redirect_path))
        .finish();
    let mut form_headers = HeaderMap::new();
    form_headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    let ip = crate::http::client_ip(&extensions);
    let tokens = match crate::oauth::token::serve(&state, &form_headers, ip, body.as_bytes()).await {
        Ok((_, tokens)) => tokens,
        Err(e) => {
            return message(
                StatusCode::FORBIDDEN,
                "Sign-in refused",
                &format!("{}. {again}", e.description()),
            );
        }
    };
    // The token was issued in this process a moment ago; its claims need no second check.
    let claims = tokens["access_token"]
        .as_str()
        .and_then(|t| jws::decode(t).ok())
        .and_then(|t| serde_json::from_slice::<serde_json::Value>(t.unverified_payload()).ok())
        .unwrap_or_default();
    let (Some(sub), Some(sid)) = (claims["sub"].as_str(), claims["sid"].as_str()) else {
        return message(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "The token names no session.",
        );
    };
    match is_admin(&state, &UserId(sub.to_owned())).await {
        Ok(true) => {}
        Ok(false) => {
            let _ = crate::oauth::authorization_code::revoke_session(
                &state,
                &SessionId(sid.to_owned()),
                "not an administrator",
            )
            .await;
            return not_an_admin();
        }
        Err(e) => return axum::response::IntoResponse::into_response(super::Refused::from(e)),
    }
    let signed_in = state.now();
    let now = signed_in.unix_time().as_secs();
    let Ok(csrf) = tessera_jose::random::random_id::<24>(state.rng.as_ref()) else {
        return message(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "No randomness.",
        );
    };
    let session = ConsoleSession {
        iss: state.config.issuer.clone(),
        sub: sub.to_owned(),
        sid: sid.to_owned(),
        csrf,
        signed_in,
        seen: now,
        exp: now + LIFETIME_HOURS * 3600,
    };
    const { assert!(IDLE_MINUTES * 60 < LIFETIME_HOURS * 3600) };
    let cookie = match session_cookie(&state, &session) {
        Ok(c) => c,
        Err(e) => {
            return message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                e.description(),
            );
        }
    };
    tracing::info!(admin = %sub, "signed in to the console");
    let secure = state.config.issuer.starts_with("https:");
    crate::web::see_other(
        &flow.next,
        &[
            (header::SET_COOKIE, cookie),
            (
                header::SET_COOKIE,
                cookie_value(FLOW_COOKIE, "", 0, "/admin", secure),
            ),
        ],
    )
}

/// `POST /admin/sign-out`: ends the Tessera session behind the console and the browser session.
pub(super) async fn sign_out(post: Post) -> Response {
    let console = post.console;
    let state = console.state();
    let _ = crate::oauth::authorization_code::revoke_session(
        state,
        &SessionId(console.session.sid.clone()),
        "signed out of the console",
    )
    .await;
    tracing::info!(admin = %console.session.sub, "signed out of the console");
    let secure = state.config.issuer.starts_with("https:");
    let mut response = message(
        StatusCode::OK,
        "Signed out",
        "You have signed out of the Tessera console. Go to /admin to sign in again.",
    );
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, cookie_value(COOKIE, "", 0, "/admin", secure));
    headers.append(
        header::SET_COOKIE,
        crate::web::set_cookie(crate::web::SESSION_COOKIE, "", 0, secure),
    );
    response
}
