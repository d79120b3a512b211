//! SSF 1.0 stream management: the configuration endpoint (create, read one or all, update,
//! replace, delete), status, subjects, and verification.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tessera_jose::SubjectId;
use tessera_signals::{SecurityEvent, StatusUpdate, StreamConfig, StreamError, TransmitterSettings};
use tessera_store::{StreamId, StreamRecord, StreamStatus};

use super::Receiver;
use super::sets::EVENTS_SUPPORTED;
use crate::api::{ApiError, JsonBody, created, ok};
use crate::state::AppState;

/// `?stream_id=`
#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    stream_id: Option<String>,
}

impl From<StreamError> for ApiError {
    fn from(e: StreamError) -> Self {
        Self::invalid(e.to_string())
    }
}

/// The receiver's stream `id`; another receiver's is as unknown as one that never existed.
pub(super) async fn own_stream(
    state: &AppState,
    receiver: &Receiver,
    id: &str,
) -> Result<StreamRecord, ApiError> {
    match state.store.stream(&StreamId(id.to_owned())).await {
        Ok(s) if s.receiver == receiver.client_id => Ok(s),
        Ok(_) | Err(tessera_store::StoreError::NotFound(_)) => {
            Err(ApiError::NotFound(format!("no stream {id:?}")))
        }
        Err(e) => Err(e.into()),
    }
}

fn stream_id_of(body: &Value) -> Result<&str, ApiError> {
    body["stream_id"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::field("stream_id", "the stream_id is required"))
}

fn required(query: &StreamQuery) -> Result<&str, ApiError> {
    query
        .stream_id
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::field("stream_id", "the stream_id query parameter is required"))
}

fn config_of(record: &StreamRecord) -> Result<StreamConfig, ApiError> {
    serde_json::from_value(record.config.clone())
        .map_err(|e| ApiError::Server(format!("stream {}: {e}", record.id.0)))
}

fn settings<'a>(
    state: &'a AppState,
    receiver: &'a Receiver,
    stream_id: &'a str,
    poll_endpoint: &'a str,
    supported: &'a [String],
) -> TransmitterSettings<'a> {
    TransmitterSettings {
        stream_id,
        issuer: &state.config.issuer,
        audience: &receiver.client_id,
        events_supported: supported,
        poll_endpoint,
        min_verification_interval: state.config.ssf.min_verification_interval_seconds,
        allow_http_loopback: true,
    }
}

fn supported() -> Vec<String> {
    EVENTS_SUPPORTED.iter().map(|e| (*e).to_owned()).collect()
}

fn status_json(record: &StreamRecord) -> Value {
    let mut body = json!({"stream_id": record.id.0, "status": record.status.as_str()});
    if let Some(reason) = &record.status_reason {
        body["reason"] = reason.as_str().into();
    }
    body
}

/// A push stream's endpoint must be somewhere Tessera may send to (see [`crate::outbound`]);
/// the answer names the reason, never the URL.
async fn allowed_endpoint(state: &AppState, config: &StreamConfig) -> Result<(), ApiError> {
    if config.delivery.method != tessera_signals::stream::PUSH {
        return Ok(());
    }
    let Some(url) = config.delivery.endpoint_url.as_deref() else {
        return Ok(());
    };
    state
        .outbound
        .check_url(url)
        .await
        .map_err(|refused| ApiError::field("delivery.endpoint_url", refused.to_string()))
}

/// A push stream whose endpoint another stream of the same receiver already pushes to.
async fn duplicate_push(
    state: &AppState,
    receiver: &Receiver,
    config: &StreamConfig,
    except: Option<&str>,
) -> Result<(), ApiError> {
    if config.delivery.method != tessera_signals::stream::PUSH {
        return Ok(());
    }
    for other in state.store.streams_of(&receiver.client_id).await? {
        if Some(other.id.0.as_str()) == except {
            continue;
        }
        if other.config["delivery"]["endpoint_url"].as_str() == config.delivery.endpoint_url.as_deref() {
            return Err(ApiError::Conflict(format!(
                "stream {} already pushes to this endpoint",
                other.id.0
            )));
        }
    }
    Ok(())
}

/// `POST /ssf/streams`: 201 with the new stream's configuration.
pub async fn create(
    State(state): State<Arc<AppState>>,
    receiver: Receiver,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    receiver.require_manage()?;
    let id = tessera_jose::random::random_id::<16>(state.rng.as_ref())
        .map_err(|e| ApiError::Server(e.to_string()))?;
    let poll = state.endpoint(&format!("/ssf/poll/{id}"));
    let supported = supported();
    let config = StreamConfig::create(&body, &settings(&state, &receiver, &id, &poll, &supported))?;
    allowed_endpoint(&state, &config).await?;
    duplicate_push(&state, &receiver, &config, None).await?;
    let json = serde_json::to_value(&config).map_err(|e| ApiError::Server(e.to_string()))?;
    let mut uow = state.store.begin().await?;
    // Counted with the receiver locked, so concurrent creations cannot pass the cap.
    let limit = state.config.ssf.max_streams_per_receiver;
    if uow.lock_receiver_streams(&receiver.client_id).await? >= u64::from(limit) {
        return Err(ApiError::Conflict(format!(
            "a receiver may have at most {limit} streams; delete one first"
        )));
    }
    uow.put_stream(
        &StreamId(id.clone()),
        &receiver.client_id,
        StreamStatus::Enabled,
        &json,
        state.now(),
    )
    .await?;
    uow.commit().await?;
    tracing::info!(receiver = %receiver.client_id, stream = %id, method = %config.delivery.method, "SSF stream created");
    Ok(created(&format!("/ssf/streams?stream_id={id}"), json))
}

/// `GET /ssf/streams[?stream_id=]`: one stream, or every stream of the receiver.
pub async fn read(
    State(state): State<Arc<AppState>>,
    receiver: Receiver,
    Query(query): Query<StreamQuery>,
) -> Result<Response, ApiError> {
    if let Some(id) = query.stream_id.as_deref() {
        let record = own_stream(&state, &receiver, id).await?;
        return Ok(ok(record.config));
    }
    let all: Vec<Value> = state
        .store
        .streams_of(&receiver.client_id)
        .await?
        .into_iter()
        .map(|s| s.config)
        .collect();
    Ok(ok(Value::Array(all)))
}

/// The PATCH and PUT of the configuration endpoint.
async fn change(
    state: &AppState,
    receiver: &Receiver,
    body: &Value,
    replace: bool,
) -> Result<Response, ApiError> {
    receiver.require_manage()?;
    let id = stream_id_of(body)?;
    let record = own_stream(state, receiver, id).await?;
    let current = config_of(&record)?;
    let poll = state.endpoint(&format!("/ssf/poll/{id}"));
    let supported = current.events_supported.clone();
    let s = settings(state, receiver, id, &poll, &supported);
    let next = if replace {
        current.replace(body, &s)?
    } else {
        current.update(body, &s)?
    };
    allowed_endpoint(state, &next).await?;
    duplicate_push(state, receiver, &next, Some(id)).await?;
    let json = serde_json::to_value(&next).map_err(|e| ApiError::Server(e.to_string()))?;
    let mut uow = state.store.begin().await?;
    uow.put_stream(&record.id, &receiver.client_id, record.status, &json, state.now())
        .await?;
    uow.commit().await?;
    Ok(ok(json))
}

/// `PATCH /ssf/streams`: changes the members the body names.
pub async fn update(
    State(state): State<Arc<AppState>>,
    receiver: Receiver,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    change(&state, &receiver, &body, false).await
}

/// `PUT /ssf/streams`: replaces every receiver-supplied member.
pub async fn replace(
    State(state): State<Arc<AppState>>,
    receiver: Receiver,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    change(&state, &receiver, &body, true).await
}

/// `DELETE /ssf/streams?stream_id=`: 204; undelivered events go with the stream.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    receiver: Receiver,
    Query(query): Query<StreamQuery>,
) -> Result<Response, ApiError> {
    receiver.require_manage()?;
    let record = own_stream(&state, &receiver, required(&query)?).await?;
    let mut uow = state.store.begin().await?;
    uow.delete_stream(&record.id).await?;
    uow.commit().await?;
    tracing::info!(receiver = %receiver.client_id, stream = %record.id.0, "SSF stream deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /ssf/status?stream_id=`
pub async fn status(
    State(state): State<Arc<AppState>>,
    receiver: Receiver,
    Query(query): Query<StreamQuery>,
) -> Result<Response, ApiError> {
    let record = own_stream(&state, &receiver, required(&query)?).await?;
    Ok(ok(status_json(&record)))
}

/// Sets a stream's status and tells its receiver with a `stream-updated` event (kept while
/// paused, dropped with everything else when disabled).
///
/// # Errors
/// The store's.
pub async fn change_status(
    state: &AppState,
    id: &StreamId,
    status: StreamStatus,
    reason: Option<&str>,
) -> Result<(), tessera_store::StoreError> {
    tessera_directory::streams::set_status(state.store.as_ref(), id, status, reason, state.now()).await
}

/// `POST /ssf/status`: `{stream_id, status, reason?}`.
pub async fn set_status(
    State(state): State<Arc<AppState>>,
    receiver: Receiver,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    receiver.require_manage()?;
    let update = StatusUpdate::parse(&body)?;
    let record = own_stream(&state, &receiver, &update.stream_id).await?;
    let status = match update.status.as_str() {
        "enabled" => StreamStatus::Enabled,
        "paused" => StreamStatus::Paused,
        _ => StreamStatus::Disabled,
    };
    if status != record.status || update.reason != record.status_reason {
        change_status(&state, &record.id, status, update.reason.as_deref()).await?;
        tracing::info!(stream = %record.id.0, status = %update.status, "SSF stream status changed by its receiver");
    }
    let record = own_stream(&state, &receiver, &update.stream_id).await?;
    Ok(ok(status_json(&record)))
}

/// A subject in an add or remove request, checked against RFC 9493 and SSF.
fn subject_of(body: &Value) -> Result<Value, ApiError> {
    let subject: SubjectId = serde_json::from_value(body["subject"].clone())
        .map_err(|e| ApiError::field("subject", format!("not a subject identifier: {e}")))?;
    subject
        .validate()
        .map_err(|e| ApiError::field("subject", e.to_string()))?;
    // Stored in one canonical text form, so equal subjects are one row.
    serde_json::to_value(&subject).map_err(|e| ApiError::Server(e.to_string()))
}

/// `POST /ssf/subjects:add`: `{stream_id, subject, verified?}` → 200.
pub async fn add_subject(
    State(state): State<Arc<AppState>>,
    receiver: Receiver,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    receiver.require_manage()?;
    let record = own_stream(&state, &receiver, stream_id_of(&body)?).await?;
    let subject = subject_of(&body)?;
    state.store.add_subject(&record.id, &subject, state.now()).await?;
    Ok(StatusCode::OK.into_response())
}

/// `POST /ssf/subjects:remove`: `{stream_id, subject}` → 204.
pub async fn remove_subject(
    State(state): State<Arc<AppState>>,
    receiver: Receiver,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    receiver.require_manage()?;
    let record = own_stream(&state, &receiver, stream_id_of(&body)?).await?;
    let subject = subject_of(&body)?;
    state.store.remove_subject(&record.id, &subject).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /ssf/verify`: `{stream_id, state?}` → 204, then a verification SET echoing `state`;
/// 429 when asked again within `min_verification_interval`.
pub async fn verify(
    State(state): State<Arc<AppState>>,
    receiver: Receiver,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let record = own_stream(&state, &receiver, stream_id_of(&body)?).await?;
    let echo = match &body["state"] {
        Value::Null => None,
        Value::String(s) if s.len() <= 1024 => Some(s.clone()),
        _ => return Err(ApiError::field("state", "must be a string of at most 1024 bytes")),
    };
    let now = state.now();
    let interval = i64::try_from(state.config.ssf.min_verification_interval_seconds).unwrap_or(i64::MAX);
    if !state
        .store
        .record_verification(&record.id, now, interval.saturating_mul(1000))
        .await?
    {
        return Err(ApiError::TooMany(format!(
            "a verification was requested less than {interval} s ago"
        )));
    }
    let event = SecurityEvent::Verification { state: echo };
    let mut uow = state.store.begin().await?;
    uow.append_stream_event(
        &record.id,
        &tessera_directory::streams::about_stream(&record.id, &event, now),
    )
    .await?;
    uow.commit().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
