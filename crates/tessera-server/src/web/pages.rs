//! The pages, as askama templates (escaped by default), and the CSRF token every form carries.
//!
//! CSRF protection is a double submit: a random token in a `SameSite=Lax` HttpOnly cookie and
//! the same token in the form; a POST is refused unless the two are equal.

use askama::Template;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

use super::{CSRF_COOKIE, cookie, html, set_cookie};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "login.html")]
struct Login<'a> {
    app_name: &'a str,
    passkeys: bool,
    csrf: &'a str,
    request: &'a str,
    username: &'a str,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "mfa.html")]
struct Mfa<'a> {
    app_name: &'a str,
    passkeys: bool,
    csrf: &'a str,
    request: &'a str,
    username: &'a str,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "message.html")]
struct Message<'a> {
    title: &'a str,
    message: &'a str,
    detail: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "logout.html")]
struct Logout<'a> {
    csrf: &'a str,
    username: &'a str,
}

/// The request's CSRF token, or a new one (with the cookie to set).
pub(crate) fn csrf(
    state: &AppState,
    headers: &HeaderMap,
) -> (String, Vec<(header::HeaderName, HeaderValue)>) {
    if let Some(existing) = cookie(headers, CSRF_COOKIE).filter(|v| v.len() >= 22) {
        return (existing.to_owned(), Vec::new());
    }
    let token = tessera_jose::random::random_id::<24>(state.rng.as_ref()).unwrap_or_default();
    let set = set_cookie(
        CSRF_COOKIE,
        &token,
        3600,
        state.config.issuer.starts_with("https:"),
    );
    (token, vec![(header::SET_COOKIE, set)])
}

/// Whether a submitted form's CSRF token matches the cookie.
#[must_use]
pub fn csrf_ok(headers: &HeaderMap, submitted: Option<&str>) -> bool {
    match (cookie(headers, CSRF_COOKIE), submitted) {
        (Some(c), Some(s)) if c.len() >= 22 => {
            aws_lc_rs::constant_time::verify_slices_are_equal(c.as_bytes(), s.as_bytes()).is_ok()
        }
        _ => false,
    }
}

pub(crate) fn render(
    status: StatusCode,
    page: &impl Template,
    extra: &[(header::HeaderName, HeaderValue)],
) -> Response {
    match page.render() {
        Ok(body) => html(status, body, extra),
        Err(e) => {
            tracing::error!(%e, "a page failed to render");
            html(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into(), &[])
        }
    }
}

/// What the password and one-time-code forms show.
#[derive(Debug, Clone, Copy)]
pub struct SignInForm<'a> {
    /// The application signing the user in.
    pub app_name: &'a str,
    /// The authorization request, carried back on submit.
    pub request: &'a str,
    /// The username typed so far (password form) or signed in (code form).
    pub username: &'a str,
    /// What went wrong last time.
    pub error: Option<&'a str>,
}

/// The password form for an authorization request.
pub fn login(state: &AppState, headers: &HeaderMap, status: StatusCode, f: SignInForm<'_>) -> Response {
    sign_in_step(state, headers, status, f, false)
}

/// The one-time-code form.
pub fn mfa(state: &AppState, headers: &HeaderMap, status: StatusCode, f: SignInForm<'_>) -> Response {
    sign_in_step(state, headers, status, f, true)
}

fn sign_in_step(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    f: SignInForm<'_>,
    one_time_code: bool,
) -> Response {
    let (csrf, cookies) = csrf(state, headers);
    let (app_name, request, username, error) = (f.app_name, f.request, f.username, f.error);
    if one_time_code {
        let page = Mfa {
            app_name,
            passkeys: state.passkeys.is_some(),
            csrf: &csrf,
            request,
            username,
            error,
        };
        render(status, &page, &cookies)
    } else {
        let page = Login {
            app_name,
            passkeys: state.passkeys.is_some(),
            csrf: &csrf,
            request,
            username,
            error,
        };
        render(status, &page, &cookies)
    }
}

/// `503` for a page whose store read failed: logged, and said as it is, never shown as "you
/// have no such method".
pub fn unavailable(e: &tessera_store::StoreError, what: &str) -> Response {
    tracing::error!(%e, what, "the store failed while a page was being served");
    message(
        StatusCode::SERVICE_UNAVAILABLE,
        "Temporarily unavailable",
        "Tessera could not read your account just now. Try again shortly.",
        None,
    )
}

/// A page that only explains something (an error that cannot go back to the client, or a
/// confirmation).
pub fn message(status: StatusCode, title: &str, message: &str, detail: Option<&str>) -> Response {
    render(
        status,
        &Message {
            title,
            message,
            detail,
        },
        &[],
    )
}

/// The sign-out confirmation.
pub fn logout(state: &AppState, headers: &HeaderMap, username: &str) -> Response {
    let (csrf, cookies) = csrf(state, headers);
    render(
        StatusCode::OK,
        &Logout {
            csrf: &csrf,
            username,
        },
        &cookies,
    )
}
