//! `/admin/api/streams`: every receiver's Shared Signals streams with their delivery health
//! (backlog, lag, last error), and pausing or resuming one.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use tessera_directory::streams::StreamReport;
use tessera_store::{StreamHealth, StreamStatus};
use utoipa::ToSchema;

use super::{Admin, ApiError, JsonBody, List, ok};
use crate::state::AppState;

/// Every receiver's Shared Signals streams with their delivery health.
#[utoipa::path(get, path = "/streams", tag = "streams",
    responses((status = 200, body = List<StreamReport>)))]
pub(super) async fn list(State(state): State<Arc<AppState>>, _admin: Admin) -> Result<Response, ApiError> {
    let now = state.now();
    let items = state
        .store
        .stream_health()
        .await?
        .iter()
        .map(|h| StreamReport::new(h, now))
        .collect();
    Ok(ok(List { items }))
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

/// One stream with its backlog, lag and last delivery error.
#[utoipa::path(get, path = "/streams/{id}", tag = "streams", params(("id" = String, Path)),
    responses((status = 200, body = StreamReport)))]
pub(super) async fn show(
    State(state): State<Arc<AppState>>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(ok(StreamReport::new(&find(&state, &id).await?, state.now())))
}

/// A status change by an administrator.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = StreamStatusChange)]
pub(super) struct StatusChange {
    /// The new status.
    status: StreamStatus,
    /// Why, for the receiver and the log.
    #[serde(default)]
    reason: Option<String>,
}

/// Pause, resume or disable a stream (its receiver gets a stream-updated event).
#[utoipa::path(patch, path = "/streams/{id}", tag = "streams", params(("id" = String, Path)),
    request_body = StatusChange, responses((status = 200, body = StreamReport)))]
pub(super) async fn update(
    State(state): State<Arc<AppState>>,
    admin: Admin,
    Path(id): Path<String>,
    JsonBody(change): JsonBody<StatusChange>,
) -> Result<Response, ApiError> {
    let current = find(&state, &id).await?;
    crate::ssf::streams::change_status(
        &state,
        &current.stream.id,
        change.status,
        change.reason.as_deref(),
    )
    .await?;
    tracing::info!(admin = %admin.subject, stream = %id, status = change.status.as_str(),
        "stream status changed");
    Ok(ok(StreamReport::new(&find(&state, &id).await?, state.now())))
}
