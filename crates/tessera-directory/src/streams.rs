//! SSF streams as operators see and steer them: one health report that the admin API, the
//! console and the CLI all show, and the status change every one of them (and the receiver
//! itself, through the SSF API) makes the same way.

use serde::Serialize;
use serde_json::{Value, json};
use tessera_signals::SecurityEvent;
use tessera_store::{NewEvent, Store, StoreError, StreamHealth, StreamId, StreamStatus, Timestamp};

/// One stream: who receives it, how, and how delivery is going.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Stream)]
pub struct StreamReport {
    /// The stream's id.
    pub id: String,
    /// The receiver: the client that owns the stream.
    pub receiver: String,
    /// Delivering, keeping events (paused) or dropping them (disabled).
    pub status: StreamStatus,
    /// Why it is paused or disabled, when someone said.
    pub reason: Option<String>,
    /// The delivery method URI: `urn:ietf:rfc:8935` (push) or `urn:ietf:rfc:8936` (poll).
    pub delivery_method: String,
    /// Where push deliveries go, or where the receiver polls.
    pub endpoint_url: Option<String>,
    /// The event types delivered.
    pub events_delivered: Vec<String>,
    /// The receiver's description of the stream.
    pub description: Option<String>,
    /// When the stream was created (RFC 3339).
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Deliveries not yet acknowledged.
    pub pending: u64,
    /// How long the oldest unacknowledged delivery has waited, whole seconds.
    pub lag_seconds: Option<i64>,
    /// The latest failed push among pending deliveries.
    pub last_error: Option<String>,
}

impl StreamReport {
    /// The report of `h`, `now` being now.
    #[must_use]
    pub fn new(h: &StreamHealth, now: Timestamp) -> Self {
        let s = &h.stream;
        let text = |v: &Value| v.as_str().map(str::to_owned);
        let delivery = &s.config["delivery"];
        Self {
            id: s.id.0.clone(),
            receiver: s.receiver.clone(),
            status: s.status,
            reason: s.status_reason.clone(),
            delivery_method: text(&delivery["method"]).unwrap_or_default(),
            endpoint_url: text(&delivery["endpoint_url"]),
            events_delivered: s.config["events_delivered"]
                .as_array()
                .map(|events| events.iter().filter_map(text).collect())
                .unwrap_or_default(),
            description: text(&s.config["description"]),
            created_at: s.created_at.rfc3339(),
            pending: h.pending,
            lag_seconds: h
                .oldest_pending_at
                .map(|t| i64::try_from(now.since(t).as_secs()).unwrap_or(i64::MAX)),
            last_error: h.last_error.clone(),
        }
    }

    /// `push` or `poll` (or the method URI when it is neither).
    #[must_use]
    pub fn method(&self) -> &str {
        match self.delivery_method.as_str() {
            tessera_store::PUSH_DELIVERY => "push",
            "urn:ietf:rfc:8936" => "poll",
            other => other,
        }
    }
}

/// An SSF event about the stream itself (verification, `stream-updated`): its subject is the
/// stream, as an opaque id.
#[must_use]
pub fn about_stream(id: &StreamId, event: &SecurityEvent, now: Timestamp) -> NewEvent {
    NewEvent {
        event_type: event.event_type(),
        subject: json!({"format": "opaque", "id": id.0}),
        payload: Value::Object(event.to_set_event().payload),
        created_at: now,
    }
}

/// Sets a stream's status at `now` and tells its receiver with a `stream-updated` event (kept
/// while paused, dropped with everything else when disabled).
///
/// # Errors
/// The store's.
pub async fn set_status(
    store: &dyn Store,
    id: &StreamId,
    status: StreamStatus,
    reason: Option<&str>,
    now: Timestamp,
) -> Result<(), StoreError> {
    let event = SecurityEvent::StreamUpdated {
        status: status.as_str().to_owned(),
        reason: reason.map(str::to_owned),
    };
    let mut uow = store.begin().await?;
    uow.set_stream_status(id, status, reason, now).await?;
    uow.append_stream_event(id, &about_stream(id, &event, now))
        .await?;
    uow.commit().await
}
