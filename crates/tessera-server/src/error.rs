//! The one error type every OAuth endpoint answers with. It maps to the status, the JSON body
//! (`error`, `error_description`) and the `WWW-Authenticate` / `DPoP-Nonce` headers in a single
//! [`IntoResponse`]; no handler builds an error response by hand. The description is public;
//! the `detail` is for the log only.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tessera_jose::dpop::DpopError;

/// An OAuth 2.0 error response (RFC 6749 §5.2, RFC 9449 §5).
#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    code: &'static str,
    description: String,
    www_authenticate: Option<String>,
    dpop_nonce: Option<String>,
    detail: Option<String>,
}

impl OAuthError {
    fn new(status: StatusCode, code: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            code,
            description: description.into(),
            www_authenticate: None,
            dpop_nonce: None,
            detail: None,
        }
    }

    /// `invalid_request` (400).
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    /// `invalid_client` (401). When the client tried HTTP Basic, the challenge names that scheme.
    pub fn invalid_client(description: impl Into<String>, used_basic: bool) -> Self {
        let mut e = Self::new(StatusCode::UNAUTHORIZED, "invalid_client", description);
        if used_basic {
            e.www_authenticate = Some("Basic realm=\"tessera\", charset=\"UTF-8\"".into());
        }
        e
    }

    /// `invalid_grant` (400).
    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
    }

    /// `unauthorized_client` (400).
    pub fn unauthorized_client(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "unauthorized_client", description)
    }

    /// `unsupported_grant_type` (400).
    pub fn unsupported_grant_type(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "unsupported_grant_type", description)
    }

    /// `invalid_scope` (400).
    pub fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_scope", description)
    }

    /// `unsupported_token_type` (400) at the revocation endpoint.
    pub fn unsupported_token_type(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "unsupported_token_type", description)
    }

    /// `invalid_target` (RFC 8707): the resource is not acceptable.
    pub fn invalid_target(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_target", description)
    }

    /// `invalid_token` (RFC 6750) with its challenge, for a resource such as `/userinfo`.
    pub fn invalid_token(description: impl Into<String>, challenge: String) -> Self {
        let mut e = Self::new(StatusCode::UNAUTHORIZED, "invalid_token", description);
        e.www_authenticate = Some(challenge);
        e
    }

    /// `insufficient_scope` (RFC 6750) with its challenge.
    pub fn insufficient_scope(description: impl Into<String>, challenge: String) -> Self {
        let mut e = Self::new(StatusCode::FORBIDDEN, "insufficient_scope", description);
        e.www_authenticate = Some(challenge);
        e
    }

    /// An authorization-request error (RFC 6749 §4.1.2.1, RFC 9101 §6.3) answered in JSON (400),
    /// as the pushed authorization request endpoint does (RFC 9126 §2.3).
    pub fn bad_authorization_request(code: &'static str, description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, description)
    }

    /// A device authorization grant's answer to a poll (RFC 8628 §3.5, 400):
    /// `authorization_pending`, `slow_down`, `access_denied`, `expired_token`.
    pub fn device_flow(code: &'static str, description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, description)
    }

    /// A registration error of RFC 7591 §3.2.2 (`invalid_redirect_uri`,
    /// `invalid_client_metadata`, `invalid_software_statement`, `unapproved_software_statement`),
    /// 400.
    pub fn registration(code: &'static str, description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, description)
    }

    /// `not_found` (404): an endpoint the operator has not switched on.
    pub fn not_found(description: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", description)
    }

    /// `invalid_dpop_proof` (400) at the token endpoint.
    pub fn invalid_dpop_proof(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_dpop_proof", description)
    }

    /// `server_error` (500): the description is generic, the detail goes to the log.
    pub fn server_error(detail: impl std::fmt::Display) -> Self {
        let mut e = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "the server could not complete the request",
        );
        e.detail = Some(detail.to_string());
        e
    }

    /// Attaches a fresh `DPoP-Nonce` header.
    #[must_use]
    pub fn with_dpop_nonce(mut self, nonce: impl Into<String>) -> Self {
        self.dpop_nonce = Some(nonce.into());
        self
    }

    /// The OAuth error code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The public description.
    #[must_use]
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The HTTP status.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<DpopError> for OAuthError {
    fn from(e: DpopError) -> Self {
        Self::new(StatusCode::BAD_REQUEST, e.error_code(), e.to_string())
    }
}

impl From<tessera_store::StoreError> for OAuthError {
    /// A database that cannot be reached now is `503` (try again); any other failure `500`.
    fn from(e: tessera_store::StoreError) -> Self {
        let unavailable = matches!(e, tessera_store::StoreError::Unavailable(_));
        let mut error = Self::server_error(e);
        if unavailable {
            error.status = StatusCode::SERVICE_UNAVAILABLE;
            error.description = "the server is temporarily unavailable; try again shortly".into();
        }
        error
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        if let Some(detail) = &self.detail {
            tracing::error!(error = self.code, %detail, "request failed");
        } else {
            tracing::debug!(error = self.code, description = %self.description, "request refused");
        }
        let body = serde_json::json!({"error": self.code, "error_description": self.description});
        let mut response = crate::http::no_store((self.status, axum::Json(body)).into_response());
        let headers = response.headers_mut();
        if let Some(challenge) = self.www_authenticate.and_then(|v| HeaderValue::from_str(&v).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        if let Some(nonce) = self.dpop_nonce.and_then(|v| HeaderValue::from_str(&v).ok()) {
            headers.insert("dpop-nonce", nonce);
        }
        response
    }
}
