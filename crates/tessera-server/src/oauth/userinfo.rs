//! `GET`/`POST /userinfo` (OIDC Core §5.3): the signed-in user's claims for an access token with
//! the `openid` scope. Bearer tokens use RFC 6750; DPoP-bound tokens must come with the `DPoP`
//! scheme and a proof by the bound key (RFC 9449 §7), and are refused with `Bearer`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tessera_store::{StoreError, UserId, UserStatus};

use crate::error::OAuthError;
use crate::state::AppState;

/// `GET /userinfo` and `POST /userinfo`
pub async fn userinfo(State(state): State<Arc<AppState>>, method: Method, headers: HeaderMap) -> Response {
    match handle(&state, &method, &headers).await {
        Ok(json) => crate::http::no_store(axum::Json(json).into_response()),
        Err(e) => {
            state.telemetry.oauth_error("userinfo", e.code());
            e.into_response()
        }
    }
}

async fn handle(state: &AppState, method: &Method, headers: &HeaderMap) -> Result<Value, OAuthError> {
    let presented = super::bearer::authenticate(state, method, "/userinfo", headers).await?;
    if !presented.has_scope("openid") {
        return Err(presented.insufficient_scope("the token lacks the openid scope"));
    }
    let scope = presented.claims["scope"].as_str().unwrap_or("");
    let sub = presented.subject.clone();
    let user = match state.store.user(&UserId(sub)).await {
        Ok(u) if u.status == UserStatus::Enabled => u,
        Ok(_) | Err(StoreError::NotFound(_)) => {
            return Err(presented.invalid("the user is disabled or deleted"));
        }
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
