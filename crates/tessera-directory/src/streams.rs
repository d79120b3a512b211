//! SSF streams as operators see and steer them: one health report that the admin API, the
//! console and the CLI all show, and the status change every one of them (and the receiver
//! itself, through the SSF API) makes the same way.

use serde::Serialize;
use serde_json::{Value, json};
use tessera_signals::SecurityEvent;
use tessera_store::{NewEvent, Store, StoreError, StreamHealth, StreamId, StreamStatus, Timestamp};

/// One stream: who receives it, how, and how delivery is going.
#[derive(Debug, Clone, Serialize)]
pub struct StreamReport {
    /// The stream's id.
    pub id: String,
    /// The receiver (its client id).
    pub receiver: String,
    /// `enabled`, `paused` or `disabled`.
    pub status: &'static str,
    /// Why it is paused or disabled, when someone said.
    pub reason: Option<String>,
    /// The delivery method URI (RFC 8935 push, RFC 8936 poll).
    pub delivery_method: Value,
    /// Where push deliveries go, or where the receiver polls.
    pub endpoint_url: Value,
    /// The event types delivered.
    pub events_delivered: Value,
    /// The receiver's description of the stream.
    pub description: Value,
    /// When the stream was created (RFC 3339).
    pub created_at: String,
    /// Deliveries waiting.
    pub pending: u64,
    /// How long the oldest waiting delivery has waited, whole seconds.
    pub lag_seconds: Option<i64>,
    /// The last delivery error.
    pub last_error: Option<String>,
}

impl StreamReport {
    /// The report of `h`, `now` being now.
    #[must_use]
    pub fn new(h: &StreamHealth, now: Timestamp) -> Self {
        let s = &h.stream;
        let delivery = &s.config["delivery"];
        Self {
            id: s.id.0.clone(),
            receiver: s.receiver.clone(),
            status: s.status.as_str(),
            reason: s.status_reason.clone(),
            delivery_method: delivery["method"].clone(),
            endpoint_url: delivery["endpoint_url"].clone(),
            events_delivered: s.config["events_delivered"].clone(),
            description: s.config["description"].clone(),
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
        match self.delivery_method.as_str().unwrap_or_default() {
            tessera_store::PUSH_DELIVERY => "push",
            "urn:ietf:rfc:8936" => "poll",
            other => other,
        }
    }

    /// As the admin API answers with it.
    #[must_use]
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
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
