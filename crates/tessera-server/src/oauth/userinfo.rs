//! `GET`/`POST /userinfo` (OIDC Core §5.3): the signed-in user's claims for an access token with
//! the `openid` scope. Bearer tokens use RFC 6750; DPoP-bound tokens must come with the `DPoP`
//! scheme and a proof by the bound key (RFC 9449 §7), and are refused with `Bearer`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tessera_jose::Jkt;
use tessera_jose::dpop::DpopRequest;
use tessera_jose::jwt::{TokenKind, Validation, verify};
use tessera_store::{StoreError, SubjectKind, UserId, UserStatus};

use crate::error::OAuthError;
use crate::state::AppState;

/// `GET /userinfo` and `POST /userinfo`
pub async fn userinfo(State(state): State<Arc<AppState>>, method: Method, headers: HeaderMap) -> Response {
    match handle(&state, &method, &headers).await {
        Ok(json) => super::no_store(axum::Json(json).into_response()),
        Err(e) => {
            state.telemetry.oauth_error("userinfo", e.code());
            e.into_response()
        }
    }
}

fn challenge(dpop: bool, error: Option<&str>) -> String {
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

async fn handle(state: &AppState, method: &Method, headers: &HeaderMap) -> Result<Value, OAuthError> {
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
    match (&bound, dpop) {
        (Some(jkt), true) => {
            let proofs: Vec<&str> = headers
                .get_all("dpop")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            let uri = state.endpoint("/userinfo");
            let request = DpopRequest {
                proofs: &proofs,
                method: method.as_str(),
                uri: &uri,
                access_token: Some(token),
                bound_jkt: Some(jkt),
                nonce: None,
            };
            state.dpop.verify(&request, state.clock.as_ref()).map_err(|e| {
                OAuthError::invalid_token(e.to_string(), challenge(true, Some(e.error_code())))
            })?;
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
    let scope = claims["scope"].as_str().unwrap_or("");
    if !scope.split(' ').any(|s| s == "openid") {
        return Err(OAuthError::insufficient_scope(
            "the token lacks the openid scope",
            challenge(dpop, Some("insufficient_scope")),
        ));
    }
    let sub = verified.registered.sub.clone().unwrap_or_default();
    let issued_ms = verified
        .registered
        .iat
        .map_or(0, |t| t.as_secs().saturating_mul(1000));
    let mut subjects = vec![(SubjectKind::User, sub.clone())];
    if let Some(sid) = claims["sid"].as_str() {
        subjects.push((SubjectKind::Session, sid.to_owned()));
    }
    for (kind, id) in subjects {
        if let Some(nb) = state.store.not_before(kind, &id).await?
            && issued_ms <= nb.0
        {
            return Err(invalid("the access token has been revoked"));
        }
    }
    let user = match state.store.user(&UserId(sub)).await {
        Ok(u) if u.status == UserStatus::Enabled => u,
        Ok(_) | Err(StoreError::NotFound(_)) => return Err(invalid("the user is disabled or deleted")),
        Err(e) => return Err(e.into()),
    };
    let mut out = json!({ "sub": user.id.0 });
    if scope.split(' ').any(|s| s == "profile") {
        out["preferred_username"] = user.username.clone().into();
        if !user.display_name.is_empty() {
            out["name"] = user.display_name.clone().into();
        }
    }
    if scope.split(' ').any(|s| s == "email")
        && let Some(email) = &user.email
    {
        out["email"] = email.clone().into();
    }
    Ok(out)
}
