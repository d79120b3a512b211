//! What every HTTP surface of Tessera (OAuth endpoints, the admin API, SSF) says the same way.

use axum::http::{HeaderValue, header};
use axum::response::Response;

/// Marks a response that carries tokens, token information or directory data as not cacheable
/// (RFC 6749 §5.1).
pub fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}
