//! What the browser sees: the sign-in pages, the session cookie, CSRF protection and the
//! security headers every page carries.

pub mod account;
pub mod authorize;
pub mod device;
pub mod login;
pub mod logout;
pub mod own_client;
pub mod pages;
pub mod passkeys;
pub mod session;
pub mod signed;
pub mod throttle;
pub mod totp;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The cookie that holds the signed browser session.
pub const SESSION_COOKIE: &str = "tessera_session";
/// The cookie that holds the CSRF token the forms echo back.
pub const CSRF_COOKIE: &str = "tessera_csrf";

/// A cookie's value from the request, if sent once.
#[must_use]
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: HttpOnly, `SameSite=Lax`, path `/`, `Secure` when the issuer is
/// HTTPS. `max_age` of zero deletes the cookie.
#[must_use]
pub fn set_cookie(name: &str, value: &str, max_age: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// An HTML page with the headers every page carries: no framing, no inline script, no caching,
/// no referrer.
pub fn html(status: StatusCode, body: String, extra: &[(header::HeaderName, HeaderValue)]) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for (k, v) in extra {
        headers.append(k.clone(), v.clone());
    }
    response
}

/// A `303 See Other` to `location`, with extra headers (cookies).
pub fn see_other(location: &str, extra: &[(header::HeaderName, HeaderValue)]) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    for (k, v) in extra {
        headers.append(k.clone(), v.clone());
    }
    response
}

/// The passkey script of the sign-in and account pages, served from the binary.
pub async fn passkey_script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../assets/passkey.js"),
    )
}

/// The stylesheet, served from the binary.
pub async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../assets/tessera.css"),
    )
}

/// `/favicon.ico`: no icon (browsers ask on every page), said once a day rather than as a 404.
pub async fn no_icon() -> impl IntoResponse {
    (
        StatusCode::NO_CONTENT,
        [(header::CACHE_CONTROL, "public, max-age=86400")],
    )
}
