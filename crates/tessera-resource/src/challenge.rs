//! The refusals an API answers with: RFC 6750 and RFC 9449 `WWW-Authenticate` challenges,
//! including the continuous access evaluation `insufficient_claims` challenge with its
//! `claims` and `authorization_uri`, and the step-up challenge of RFC 9470
//! (`insufficient_user_authentication` with `acr_values` and `max_age`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The DPoP proof algorithms an API accepts (`algs` of the challenge, and the metadata's).
pub(crate) const DPOP_ALGORITHMS: [&str; 2] = ["ES256", "EdDSA"];

/// A refusal, with the `WWW-Authenticate` challenge RFC 6750 / RFC 9449 give for it.
#[derive(Debug, Clone)]
pub struct Challenge {
    /// 401; 403 for `insufficient_scope` or a strict location refusal (`access_denied`); 503
    /// while the location rules a token needs have not been read yet.
    pub status: StatusCode,
    /// `DPoP` or `Bearer`.
    pub dpop: bool,
    /// `invalid_token`, `invalid_request`, `invalid_dpop_proof`, …; none when no credentials
    /// came at all.
    pub error: Option<&'static str>,
    /// For people (and the log); not sent in the header.
    pub description: String,
    /// For `insufficient_claims`: the base64 claims the client must take back to the IdP, and
    /// where.
    pub claims: Option<Box<(String, String)>>,
    /// For `insufficient_scope`: the scope needed.
    pub scope: Option<String>,
    /// For `insufficient_user_authentication` (RFC 9470 §3): what sign-in would do.
    pub step_up: Option<Box<StepUpAsked>>,
}

/// What an `insufficient_user_authentication` challenge asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepUpAsked {
    /// The authentication context classes that would do, space-separated.
    pub acr_values: Option<String>,
    /// How long ago, at most, the user may have authenticated, seconds.
    pub max_age: Option<u64>,
}

impl Challenge {
    pub(crate) fn new(dpop: bool, error: Option<&'static str>, description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            dpop,
            error,
            description: description.into(),
            claims: None,
            scope: None,
            step_up: None,
        }
    }

    /// The `WWW-Authenticate` value.
    #[must_use]
    pub fn header_value(&self) -> String {
        let mut value = format!("{} realm=\"api\"", if self.dpop { "DPoP" } else { "Bearer" });
        if let Some((_, authorize)) = self.claims.as_deref() {
            value.push_str(&format!(", authorization_uri=\"{authorize}\""));
        }
        if let Some(e) = self.error {
            value.push_str(&format!(", error=\"{e}\""));
        }
        if let Some((claims, _)) = self.claims.as_deref() {
            value.push_str(&format!(", claims=\"{claims}\""));
        }
        if let Some(scope) = &self.scope {
            value.push_str(&format!(", scope=\"{scope}\""));
        }
        if let Some(step_up) = &self.step_up {
            if let Some(acr) = &step_up.acr_values {
                value.push_str(&format!(", acr_values=\"{acr}\""));
            }
            if let Some(max_age) = step_up.max_age {
                value.push_str(&format!(", max_age=\"{max_age}\""));
            }
        }
        if self.dpop {
            value.push_str(&format!(", algs=\"{}\"", DPOP_ALGORITHMS.join(" ")));
        }
        value
    }
}

impl IntoResponse for Challenge {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            axum::Json(serde_json::json!({
                "error": self.error.unwrap_or("invalid_token"),
                "error_description": self.description,
            })),
        )
            .into_response();
        // A challenge belongs to 401 and to 403 insufficient_scope (RFC 6750 §3); a refusal
        // by location policy (403) and "cannot tell yet" (503) are not challenges.
        let challenge = self.status == StatusCode::UNAUTHORIZED || self.scope.is_some();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        if challenge && let Ok(v) = HeaderValue::from_str(&self.header_value()) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        response
    }
}
