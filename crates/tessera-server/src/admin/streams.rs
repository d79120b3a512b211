//! `/admin/api/streams`: every receiver's Shared Signals streams with their delivery health
//! (backlog, lag, last error), and pausing or resuming one.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use tessera_store::{StreamHealth, StreamStatus};

use super::{Admin, ApiError, JsonBody, ok};
use crate::state::AppState;

/// A stream's health as the admin API shows it.
fn health_json(h: &StreamHealth, now: tessera_store::Timestamp) -> Value {
    tessera_directory::streams::StreamReport::new(h, now).to_json()
}

/// `GET /streams`
pub(super) async fn list(State(state): State<Arc<AppState>>, _admin: Admin) -> Result<Response, ApiError> {
    let now = state.now();
    let items: Vec<Value> = state
        .store
        .stream_health()
        .await?
        .iter()
        .map(|h| health_json(h, now))
        .collect();
    Ok(ok(json!({ "items": items })))
}

async fn find(state: &AppState, id: &str) -> Result<StreamHealth, ApiError> {
    state
        .store
        .stream_health()
        .await?
        .into_iter()
        .find(|h| h.stream.id.0 == id)
        .ok_or_else(|| ApiError::NotFound(format!("no stream {id:?}")))
}

/// `GET /streams/{id}`
pub(super) async fn show(
    State(state): State<Arc<AppState>>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(ok(health_json(&find(&state, &id).await?, state.now())))
}

/// A status change by an administrator.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StatusChange {
    status: String,
    #[serde(default)]
    reason: Option<String>,
}

/// `PATCH /streams/{id}`: `{"status": "enabled" | "paused" | "disabled", "reason"?}`; the
/// receiver gets a `stream-updated` event.
pub(super) async fn update(
    State(state): State<Arc<AppState>>,
    admin: Admin,
    Path(id): Path<String>,
    JsonBody(change): JsonBody<StatusChange>,
) -> Result<Response, ApiError> {
    let status = match change.status.as_str() {
        "enabled" => StreamStatus::Enabled,
        "paused" => StreamStatus::Paused,
        "disabled" => StreamStatus::Disabled,
        _ => return Err(ApiError::field("status", "must be enabled, paused or disabled")),
    };
    let current = find(&state, &id).await?;
    crate::ssf::streams::change_status(&state, &current.stream.id, status, change.reason.as_deref()).await?;
    tracing::info!(admin = %admin.subject, stream = %id, status = %change.status, "stream status changed");
    Ok(ok(health_json(&find(&state, &id).await?, state.now())))
}
