//! `POST /revoke` (RFC 7009). A refresh token is revoked with its whole family (its sign-in
//! session). JWT access tokens are self-contained and short-lived; revoking one alone is not
//! supported (`unsupported_token_type`; revoke the sessions to cut them off). Tokens this server
//! does not know are answered with 200, as the RFC requires.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{client_auth, form::Form};
use crate::error::OAuthError;
use crate::state::AppState;

/// `POST /revoke`
pub async fn revoke(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    match handle(&state, &headers, &body).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn handle(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<(), OAuthError> {
    let form = Form::parse(headers, body)?;
    let client = client_auth::authenticate(state, headers, &form).await?;
    let token = form.require("token")?;
    // One of our access tokens, issued to this client?
    if let Ok(jws) = tessera_jose::jws::decode(token)
        && jws.verify_with_set(state.keys.published()).is_ok()
        && jws.header().typ.as_deref() == Some("at+jwt")
    {
        let client_id = serde_json::from_slice::<serde_json::Value>(jws.unverified_payload())
            .ok()
            .and_then(|c| c["client_id"].as_str().map(str::to_owned));
        if client_id.as_deref() != Some(client.app.id.as_str()) {
            return Err(OAuthError::unauthorized_client(
                "the token was not issued to this client",
            ));
        }
        return Err(OAuthError::unsupported_token_type(
            "access tokens cannot be revoked one by one; revoke the sessions instead",
        ));
    }
    // One of our refresh tokens: revoking it revokes its family (RFC 7009 §2.1 allows it, and a
    // family is one sign-in session).
    if let Some(family) = state
        .store
        .presented_token(&super::token_hash(token), None)
        .await?
        .map(|p| p.family)
    {
        if family.client_id != client.app.id {
            return Err(OAuthError::unauthorized_client(
                "the token was not issued to this client",
            ));
        }
        state
            .store
            .revoke_family(&family.id, "revoked by the client", state.now())
            .await?;
    }
    Ok(())
}
