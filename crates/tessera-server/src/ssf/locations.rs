//! `GET /policy/locations`: what an API needs to enforce location policy itself — the named
//! locations and the locations condition of every enabled policy that has one. Access tokens
//! name, in `location_policies`, the policies that did not apply at issuance only because of
//! the client's address; an API seeing the token used from elsewhere checks those against these
//! rules, challenges the client and tells the IdP (a `session-presented` signal).
//!
//! Readable by any client that receives this IdP's signals (a token with `ssf.read` or
//! `ssf.manage`): the same APIs that enforce the rules.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::Receiver;
use crate::api::ApiError;
use crate::state::AppState;

/// `GET /policy/locations`
///
/// # Errors
/// 401/403 for a caller that is not a receiver; 500 when the policies cannot be read.
pub async fn rules(State(state): State<Arc<AppState>>, _receiver: Receiver) -> Result<Response, ApiError> {
    let set = state.policies.current(state.store.as_ref()).await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(set.location_rules())).into_response())
}
