//! RFC 8936 poll delivery: `POST /ssf/poll/{stream_id}` acknowledges what the receiver names in
//! `ack` and `setErrs`, then returns up to `maxEvents` SETs, waiting for some (up to
//! `[ssf] poll_wait_seconds`) unless `returnImmediately`.
//!
//! A SET handed out is leased to the receiver for [`LEASE`]; not acknowledged by then, it is
//! handed out again, with the same `jti`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use tessera_signals::{PollRequest, PollResponse};
use tessera_store::ClaimScope;

use super::Receiver;
use super::sets::{Audience, event_of};
use crate::api::{ApiError, ok};
use crate::state::AppState;

/// How long a polled SET waits for its acknowledgement before it is offered again.
pub const LEASE: Duration = Duration::from_secs(60);

/// `POST /ssf/poll/{stream_id}`
pub async fn poll(
    State(state): State<Arc<AppState>>,
    receiver: Receiver,
    Path(stream_id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let record = super::streams::own_stream(&state, &receiver, &stream_id).await?;
    let request = PollRequest::parse(&body).map_err(|e| ApiError::invalid(e.to_string()))?;
    let id = record.id.clone();
    let now = state.now();
    for jti in &request.ack {
        if let Some(event) = event_of(jti, &id)
            && state.store.acknowledge(&id, event, now).await?
        {
            state.telemetry.set_delivered("poll");
        }
    }
    for (jti, error) in &request.set_errs {
        // The receiver has the SET and refuses it: offering it again would not help.
        tracing::warn!(stream = %id.0, %jti, err = %error.err, description = %error.description, "receiver refused a SET");
        if let Some(event) = event_of(jti, &id) {
            state.store.acknowledge(&id, event, now).await?;
        }
    }
    let limit = request.limit();
    if limit == 0 {
        return Ok(ok(
            serde_json::to_value(PollResponse::default()).unwrap_or_default()
        ));
    }

    let audience = Audience::load(&state, record).await?;
    let wait = if request.return_immediately {
        Duration::ZERO
    } else {
        Duration::from_secs(state.config.ssf.poll_wait_seconds)
    };
    let deadline = Instant::now() + wait;
    let worker = format!("poll:{}", receiver.client_id);
    let mut sets = BTreeMap::new();
    loop {
        let room = limit.saturating_sub(u32::try_from(sets.len()).unwrap_or(u32::MAX));
        let claimed = state
            .store
            .claim_from(ClaimScope::Stream(&id), &worker, room, state.now(), LEASE)
            .await?;
        let got_any = !claimed.is_empty();
        for d in claimed {
            if audience.wants(&d) {
                let (jti, set) = audience.sign(&state, &d).await.map_err(ApiError::Server)?;
                sets.insert(jti, set);
            } else {
                // Not for this stream (event type or subject): settled without sending.
                state.store.acknowledge(&id, d.event_id, state.now()).await?;
            }
        }
        if !sets.is_empty() {
            break;
        }
        // Deliveries the stream does not want were settled above and took no room: look again
        // at once, also when the receiver asked not to wait, or `maxEvents: 1` would answer
        // nothing while SETs it wants are waiting.
        if got_any {
            continue;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        state
            .store
            .wait_for_events(left.min(Duration::from_secs(1)))
            .await?;
    }
    let pending = state.store.pending(&id).await?;
    let response = PollResponse {
        more_available: pending > sets.len() as u64,
        sets,
    };
    Ok(ok(serde_json::to_value(response).unwrap_or_default()))
}
