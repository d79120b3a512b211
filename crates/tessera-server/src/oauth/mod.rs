//! The OAuth 2.0 endpoints, one file per concern.

pub mod access_token;
pub mod client_auth;
pub mod client_credentials;
pub mod form;
pub mod introspect;
pub mod metadata;
pub mod revoke;
pub mod token;

use axum::http::{HeaderValue, header};
use axum::response::Response;

/// Marks a response that carries tokens or token information as not cacheable (RFC 6749 §5.1).
pub fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}
