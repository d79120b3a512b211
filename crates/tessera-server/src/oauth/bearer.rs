//! Accepting Tessera's own access tokens at its own protected resources (`/userinfo`, the admin
//! API): RFC 6750 for Bearer tokens, RFC 9449 §7 for DPoP-bound ones (which are refused with
//! the Bearer scheme), and the "not before" instants that revoke a user's or a session's
//! tokens early.

use axum::http::{HeaderMap, Method, header};
use serde_json::Value;
use tessera_jose::Jkt;
use tessera_jose::dpop::DpopRequest;
use tessera_jose::jwt::{TokenKind, Validation, verify};
use tessera_store::{SubjectKind, Timestamp};

use crate::error::OAuthError;
use crate::state::AppState;

/// A valid access token presented at one of Tessera's resources.
#[derive(Debug)]
pub struct Presented {
    /// The token's claims.
    pub claims: Value,
    /// `sub`: a user, or the client itself for client credentials.
    pub subject: String,
    /// The client it was issued to.
    pub client_id: String,
    /// Whether it came with the DPoP scheme.
    pub dpop: bool,
    /// The DPoP proof that came with a bound token, verified.
    pub proof: Option<tessera_jose::dpop::VerifiedProof>,
    /// The token itself.
    pub token: String,
}

impl Presented {
    /// Whether the token carries `scope`.
    #[must_use]
    pub fn has_scope(&self, scope: &str) -> bool {
        self.claims["scope"]
            .as_str()
            .is_some_and(|s| s.split(' ').any(|s| s == scope))
    }

    /// The sign-in session a user's token belongs to (absent for client credentials).
    #[must_use]
    pub fn session(&self) -> Option<&str> {
        self.claims["sid"].as_str()
    }

    /// `insufficient_scope` with the matching challenge.
    #[must_use]
    pub fn insufficient_scope(&self, description: &str) -> OAuthError {
        OAuthError::insufficient_scope(description, challenge(self.dpop, Some("insufficient_scope")))
    }

    /// `invalid_token` with the matching challenge.
    #[must_use]
    pub fn invalid(&self, description: &str) -> OAuthError {
        OAuthError::invalid_token(description, challenge(self.dpop, Some("invalid_token")))
    }
}

/// A `WWW-Authenticate` challenge for Tessera's resources.
#[must_use]
pub fn challenge(dpop: bool, error: Option<&str>) -> String {
    let scheme = if dpop { "DPoP" } else { "Bearer" };
    let mut c = format!("{scheme} realm=\"tessera\"");
    if let Some(e) = error {
        c.push_str(&format!(", error=\"{e}\""));
    }
    if dpop {
        c.push_str(", algs=\"ES256 EdDSA\"");
    }
    c
}

/// Checks the access token of a request to `path` (its DPoP `htu`): signature, `typ`, issuer,
/// audience (Tessera itself), expiry, the DPoP proof of a bound token, and revocation.
///
/// # Errors
/// `invalid_token` (401) with a challenge; `server_error` when the store fails.
pub async fn authenticate(
    state: &AppState,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> Result<Presented, OAuthError> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            // RFC 6750 §3.1: no credentials at all gets a challenge without an error code.
            OAuthError::invalid_token("an access token is required", challenge(false, None))
        })?;
    let (scheme, token) = authorization.split_once(' ').unwrap_or((authorization, ""));
    let token = token.trim();
    let dpop = if scheme.eq_ignore_ascii_case("dpop") {
        true
    } else if scheme.eq_ignore_ascii_case("bearer") {
        false
    } else {
        return Err(OAuthError::invalid_token(
            "use the Bearer or DPoP scheme",
            challenge(false, Some("invalid_request")),
        ));
    };
    let invalid = |m: &str| OAuthError::invalid_token(m, challenge(dpop, Some("invalid_token")));
    let rules = Validation::new(TokenKind::AccessToken, &state.config.issuer, &state.config.issuer);
    let verified = verify(token, state.keys.published(), &rules, state.clock.as_ref())
        .map_err(|_| invalid("the access token is not valid"))?;
    let claims: Value = verified.claims().unwrap_or(Value::Null);
    let bound: Option<Jkt> = claims["cnf"]["jkt"].as_str().and_then(|j| j.parse().ok());
    let mut proof = None;
    match (&bound, dpop) {
        (Some(jkt), true) => {
            let proofs = super::dpop_proofs(headers);
            let uri = state.endpoint(path);
            let request = DpopRequest {
                proofs: &proofs,
                method: method.as_str(),
                uri: &uri,
                access_token: Some(token),
                bound_jkt: Some(jkt),
                nonce: None,
            };
            proof = Some(state.verify_dpop(&request).await.map_err(|e| {
                OAuthError::invalid_token(e.to_string(), challenge(true, Some(e.error_code())))
            })?);
        }
        (Some(_), false) => {
            return Err(OAuthError::invalid_token(
                "this token is DPoP-bound; present it with the DPoP scheme and a proof",
                challenge(true, Some("invalid_token")),
            ));
        }
        (None, true) => return Err(invalid("this token is not DPoP-bound; use the Bearer scheme")),
        (None, false) => {}
    }
    let subject = verified.registered.sub.clone().unwrap_or_default();
    let issued = verified.registered.issued_at_earliest().unwrap_or(Timestamp(0));
    let mut subjects = vec![(SubjectKind::User, subject.as_str())];
    if let Some(sid) = claims["sid"].as_str() {
        subjects.push((SubjectKind::Session, sid));
    }
    if let Some(device) = claims["device_id"].as_str() {
        subjects.push((SubjectKind::Device, device));
    }
    if crate::revocation::revoked_since(state.store.as_ref(), &subjects, issued).await? {
        return Err(invalid("the access token has been revoked"));
    }
    let client_id = claims["client_id"].as_str().unwrap_or_default().to_owned();
    Ok(Presented {
        claims,
        subject,
        client_id,
        dpop,
        proof,
        token: token.to_owned(),
    })
}

/// [`authenticate`] for an extractor: the path a DPoP proof names is the request's whole path,
/// even inside a nested router that sees a shortened one.
///
/// # Errors
/// As [`authenticate`].
pub async fn authenticate_parts(
    state: &AppState,
    parts: &axum::http::request::Parts,
) -> Result<Presented, OAuthError> {
    let path = parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .map_or_else(|| parts.uri.path().to_owned(), |u| u.path().to_owned());
    authenticate(state, &parts.method, &path, &parts.headers).await
}
