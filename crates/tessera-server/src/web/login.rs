//! `POST /login` (password) and `POST /login/mfa` (one-time code). Both carry the original
//! authorization request back, re-validate it, and on success return to `/authorize` with a
//! session cookie, where Conditional Access runs and the code is issued.

use std::sync::{Arc, LazyLock};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::response::Response;
use tessera_store::{MfaKind, StoreError, UserStatus};

use super::authorize::refuse;
use super::{pages, see_other, session};
use crate::oauth::authorize::AuthRequest;
use crate::state::AppState;

/// A hash to verify against when the username is unknown, so the answer takes as long either
/// way and does not reveal which usernames exist.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| tessera_directory::secrets::hash_password("tessera-dummy-password").unwrap_or_default());

const BAD_CREDENTIALS: &str = "The username or password is incorrect.";
const LOCKED: &str = "Too many failed attempts. Wait 15 minutes, then try again.";

type Fields = std::collections::HashMap<String, String>;

/// A sign-in form post: its fields and the authorization request it carries back, re-validated;
/// or the page to answer with when the CSRF token does not match or the request is no longer
/// valid.
async fn accept(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    title: &str,
) -> Result<(Fields, AuthRequest), Response> {
    let fields: Fields = url::form_urlencoded::parse(body).into_owned().collect();
    if !pages::csrf_ok(headers, fields.get("csrf").map(String::as_str)) {
        return Err(pages::message(
            StatusCode::FORBIDDEN,
            title,
            "The form expired or was not sent from this site.",
            Some("Go back to the application and start again."),
        ));
    }
    let query = fields.get("request").map_or("", String::as_str);
    match AuthRequest::parse(state, query).await {
        Ok(request) => Ok((fields, request)),
        Err(refusal) => Err(refuse(state, refusal)),
    }
}

/// The query to return to `/authorize` with: the original one without `prompt=login`, which
/// the sign-in that just happened has satisfied.
pub(crate) fn return_query(request: &str) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in url::form_urlencoded::parse(request.as_bytes()) {
        if k == "prompt" {
            let rest: Vec<&str> = v.split(' ').filter(|p| !p.is_empty() && *p != "login").collect();
            if !rest.is_empty() {
                out.append_pair(&k, &rest.join(" "));
            }
        } else {
            out.append_pair(&k, &v);
        }
    }
    out.finish()
}

/// `POST /login`
pub async fn password(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    extensions: Extensions,
    body: Bytes,
) -> Response {
    let (f, request) = match accept(&state, &headers, &body, "Cannot sign in").await {
        Ok(posted) => posted,
        Err(page) => return page,
    };
    let field = |k: &str| f.get(k).map(String::as_str);
    let request_query = field("request").unwrap_or("");
    let username = field("username").unwrap_or("").trim();
    let password = field("password").unwrap_or("");
    let ip = crate::http::client_ip(&extensions);
    let again = |status, error| {
        pages::login(
            &state,
            &headers,
            status,
            pages::SignInForm {
                app_name: &request.app.name,
                request: request_query,
                username,
                error: Some(error),
            },
        )
    };
    if username.is_empty() || password.is_empty() || username.len() > 256 || password.len() > 1024 {
        return again(StatusCode::BAD_REQUEST, BAD_CREDENTIALS);
    }
    let Some(attempt) = state.throttle.reserve(username, ip) else {
        return again(StatusCode::TOO_MANY_REQUESTS, LOCKED);
    };
    let user = match state.store.user_by_username(username).await {
        Ok(u) => Some(u),
        Err(StoreError::NotFound(_)) => None,
        Err(e) => {
            tracing::error!(%e, "store failed during sign-in");
            return pages::message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Cannot sign in",
                "The sign-in service is unavailable. Try again shortly.",
                None,
            );
        }
    };
    let stored = user
        .as_ref()
        .and_then(|u| u.password_hash.clone())
        .unwrap_or_else(|| DUMMY_HASH.clone());
    let verified = match state
        .password_checks
        .verify(stored, zeroize::Zeroizing::new(password.to_owned()))
        .await
    {
        Ok(verified) => verified,
        Err(crate::password_checks::Busy) => {
            // Not the user's doing: the attempt does not count against them.
            attempt.released();
            return busy();
        }
    };
    let user = match user {
        Some(u) if verified && u.password_hash.is_some() => u,
        other => {
            drop(attempt);
            let entry = tessera_directory::access::LogEntry {
                stage: "login",
                user: other.as_ref().map(|u| &u.id),
                client_id: Some(&request.app.id),
                ip,
                outcome: "failure",
                token_protection: tessera_directory::access::TokenProtection::NotApplicable,
                device_id: None,
                jkt: None,
                error: Some("invalid_credentials"),
                key_binding: None,
                transfer: None,
            };
            crate::access::log(&state, &entry, None).await;
            return again(StatusCode::UNAUTHORIZED, BAD_CREDENTIALS);
        }
    };
    if user.status != UserStatus::Enabled {
        return again(
            StatusCode::FORBIDDEN,
            "This account is disabled. Contact your administrator.",
        );
    }
    attempt.succeeded();
    let Ok(cookie) =
        session::start(&state, &user.id, vec!["pwd".into()]).and_then(|s| session::issue(&state, &s))
    else {
        return refuse(
            &state,
            crate::oauth::authorize::Refusal::Page {
                message: "The session could not be started.".into(),
            },
        );
    };
    see_other(
        &format!("/authorize?{}", return_query(request_query)),
        &[session::cookie_header(&state, &cookie)],
    )
}

/// `503` with `Retry-After`: the server is verifying as many passwords as it allows.
fn busy() -> Response {
    let mut page = pages::message(
        StatusCode::SERVICE_UNAVAILABLE,
        "Cannot sign in",
        "Many people are signing in right now. Try again in a moment.",
        None,
    );
    page.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from_static("1"),
    );
    page
}

/// `POST /login/mfa`
pub async fn one_time_code(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    extensions: Extensions,
    body: Bytes,
) -> Response {
    let (f, request) = match accept(&state, &headers, &body, "Cannot verify").await {
        Ok(posted) => posted,
        Err(page) => return page,
    };
    let field = |k: &str| f.get(k).map(String::as_str);
    let request_query = field("request").unwrap_or("");
    let Ok(Some((current, user))) = session::current(&state, &headers).await else {
        // The password step's session is gone: start over.
        return see_other(&format!("/authorize?{request_query}"), &[]);
    };
    let ip = crate::http::client_ip(&extensions);
    let again = |status, error| {
        pages::mfa(
            &state,
            &headers,
            status,
            pages::SignInForm {
                app_name: &request.app.name,
                request: request_query,
                username: &user.username,
                error: Some(error),
            },
        )
    };
    let Some(attempt) = state.throttle.reserve(&user.username, ip) else {
        return again(StatusCode::TOO_MANY_REQUESTS, LOCKED);
    };
    let code = field("code").unwrap_or("");
    let methods = match state.store.mfa_methods_of(&user.id).await {
        Ok(m) => m,
        Err(e) => return pages::unavailable(&e, "MFA methods"),
    };
    let now = state.unix_time().as_secs();
    let mut accepted = false;
    for method in methods.iter().filter(|m| m.kind == MfaKind::Totp) {
        let Some(secret) = super::totp::decode_secret(method.secret.expose()) else {
            continue;
        };
        if let Some(step) = super::totp::matching_step(&secret, code, now) {
            // A code works once: the store refuses a step not newer than the last one used.
            accepted = state
                .store
                .use_totp_step(&method.id, step, state.now())
                .await
                .unwrap_or(false);
            break;
        }
    }
    if !accepted {
        drop(attempt);
        return again(
            StatusCode::UNAUTHORIZED,
            "That code is not right. Enter the current code.",
        );
    }
    attempt.succeeded();
    let mut amr = current.amr.clone();
    for m in ["otp", "mfa"] {
        if !amr.iter().any(|a| a == m) {
            amr.push(m.to_owned());
        }
    }
    let upgraded = session::BrowserSession { amr, ..current };
    let Ok(cookie) = session::issue(&state, &upgraded) else {
        return see_other(&format!("/authorize?{request_query}"), &[]);
    };
    see_other(
        &format!("/authorize?{}", return_query(request_query)),
        &[session::cookie_header(&state, &cookie)],
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn return_query_drops_only_prompt_login() {
        assert_eq!(
            super::return_query("client_id=a&prompt=login+consent&state=x%20y"),
            "client_id=a&prompt=consent&state=x+y"
        );
        assert_eq!(super::return_query("prompt=login&a=b"), "a=b");
    }
}
