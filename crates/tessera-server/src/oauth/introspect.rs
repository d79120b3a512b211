//! `POST /introspect` (RFC 7662): whether a token is active, for authenticated clients.
//! Anything unknown, malformed, expired, revoked or not issued here is `{"active": false}`, and
//! so is a token the caller has no business reading (RFC 7662 §4): only the token's own client,
//! and for an access token a resource server it is meant for (its client id in `aud`, or an
//! audience `[introspection] resource_servers` gives it), learn about a token.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tessera_jose::jwt::{TokenKind, Validation, verify};
use tessera_store::{AppKind, SubjectKind};

use super::{client_auth, form::Form};
use crate::error::OAuthError;
use crate::state::AppState;

/// `POST /introspect`
pub async fn introspect(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    match handle(&state, &headers, &body).await {
        Ok(json) => crate::http::no_store(axum::Json(json).into_response()),
        Err(e) => e.into_response(),
    }
}

async fn handle(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Value, OAuthError> {
    let form = Form::parse(headers, body)?;
    let client = client_auth::authenticate(state, headers, &form).await?;
    if client.app.kind != AppKind::Confidential {
        return Err(OAuthError::invalid_client(
            "introspection needs an authenticated client",
            false,
        ));
    }
    let token = form.require("token")?;
    // JWTs are access tokens; anything else may be one of our refresh tokens.
    if token.contains('.') {
        access(state, &client.app.id, token).await
    } else {
        refresh(state, &client.app.id, token).await
    }
}

async fn refresh(state: &AppState, caller: &str, token: &str) -> Result<Value, OAuthError> {
    let Some(presented) = state
        .store
        .presented_token(&super::token_hash(token), None)
        .await?
    else {
        return Ok(json!({"active": false}));
    };
    let now = state.now();
    let revoked = presented.revoked_since_issue();
    let family = presented.family;
    if family.client_id != caller {
        return Ok(json!({"active": false}));
    }
    if !presented.current || revoked || family.revoked_at.is_some() || family.expires_at < now {
        return Ok(json!({"active": false}));
    }
    let mut out = json!({
        "active": true,
        "iss": state.config.issuer,
        "sub": family.user_id.0,
        "client_id": family.client_id,
        "exp": family.expires_at.0 / 1000,
        "iat": family.rotated_at.0 / 1000,
        "token_type": "refresh_token",
        "sid": family.session_id.0,
    });
    if let Some(scope) = family.grant.get("scope") {
        out["scope"] = scope.clone();
    }
    if let Some(jkt) = family.jkt {
        out["cnf"] = json!({ "jkt": jkt });
    }
    Ok(out)
}

async fn access(state: &AppState, caller: &str, token: &str) -> Result<Value, OAuthError> {
    let inactive = json!({"active": false});
    // Audience is checked by the resource that asks, not here: accept any.
    let mut rules = Validation::new(TokenKind::AccessToken, &state.config.issuer, "").any_audience();
    rules.leeway = 0;
    let Ok(v) = verify(token, state.keys.published(), &rules, state.clock.as_ref()) else {
        return Ok(inactive);
    };
    let claims: Value = v.claims().unwrap_or(Value::Null);
    let (Some(sub), Some(iat), Some(issued)) = (
        v.registered.sub.as_deref(),
        v.registered.iat,
        v.registered.issued_at_earliest(),
    ) else {
        return Ok(inactive);
    };
    let own = v.registered.client_id.as_deref() == Some(caller);
    let meant_for_caller = v.registered.aud.as_ref().is_some_and(|aud| {
        aud.iter()
            .any(|aud| aud == caller || state.config.introspection.serves(caller, aud))
    });
    if !own && !meant_for_caller {
        return Ok(inactive);
    }
    // A token issued before its user's or its session's "not before" instant has been revoked.
    let mut subjects = vec![(SubjectKind::User, sub)];
    if let Some(sid) = claims["sid"].as_str() {
        subjects.push((SubjectKind::Session, sid));
    }
    if crate::revocation::revoked_since(state.store.as_ref(), &subjects, issued).await? {
        return Ok(inactive);
    }
    let mut out = json!({
        "active": true,
        "iss": state.config.issuer,
        "sub": sub,
        "client_id": v.registered.client_id,
        "aud": claims["aud"],
        "iat": iat,
        "exp": v.registered.exp,
        "jti": v.registered.jti,
        "token_type": if claims.get("cnf").is_some() { "DPoP" } else { "Bearer" },
    });
    // RFC 8693 §4.1: an exchanged token's actors; RFC 9470 §6.2: how the user signed in.
    for member in ["scope", "cnf", "act", "acr", "auth_time", "amr"] {
        if let Some(value) = claims.get(member) {
            out[member] = value.clone();
        }
    }
    Ok(out)
}
