//! RFC 8935 push delivery: a worker claims due deliveries of push streams, signs one SET per
//! event and POSTs it to the stream's endpoint with the `Authorization` header the receiver
//! configured, exactly as given.
//!
//! - `202` (any 2xx): acknowledged; the delivery leaves the outbox.
//! - `400` with an RFC 8935 error: the receiver has the SET and refuses it; sending it again
//!   would not help, so it is settled and the refusal logged.
//! - Anything else (no answer, 5xx, 401, …): tried again after an exponential backoff with
//!   jitter, with the stream's later SETs of that round, so they keep their order. After
//!   `[ssf] push_attempts_before_pause` failed attempts the stream is paused with the reason;
//!   it keeps its events until its receiver enables it again.
//!
//! Claims are leased: a worker (or node) that dies mid-delivery leaves its claims to be taken
//! over when the lease ends, so every SET is delivered at least once. The lease is short
//! (`[ssf] push_lease_seconds`) because a worker renews it every third of it while it pushes
//! (a heartbeat); and a node that restarts takes back its own earlier claims at once (workers
//! are named after their node, see [`node_id`]), so a crash does not hold a stream's later
//! SETs (its revocations) for a whole lease.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use axum::http::header;
use tessera_store::{ClaimScope, ClaimedDelivery, StoreError, StreamId, StreamStatus, Timestamp};

use super::sets::Audience;
use crate::state::AppState;

/// Settled deliveries acknowledged in one transaction.
const ACK_BATCH: usize = 64;
/// Deliveries claimed per round.
const BATCH: u32 = 512;
/// The longest wait between two attempts.
const MAX_BACKOFF_MS: i64 = 5 * 60 * 1000;

/// Starts the push worker; it runs until the process ends.
pub fn spawn(state: Arc<AppState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(state))
}

async fn run(state: Arc<AppState>) {
    let client = match state
        .outbound
        .client(Duration::from_secs(state.config.ssf.push_timeout_seconds))
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(%e, "SSF push delivery cannot start");
            return;
        }
    };
    let node = node_id(&state.config);
    let worker = worker_name(&state, "push", &node);
    // What this node held when it stopped (killed, say) is free again now, not at lease end.
    match state
        .store
        .release_claims(&format!("push-{node}-"), state.now())
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            deliveries = n,
            "took back this node's claims from before its restart"
        ),
        Err(e) => tracing::warn!(%e, "could not take back this node's earlier claims"),
    }
    let busy = Busy::default();
    let mut pruned: Option<std::time::Instant> = None;
    loop {
        if pruned.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
            prune(&state).await;
            pruned = Some(std::time::Instant::now());
        }
        match round(&state, &client, &worker, &busy).await {
            // Nothing claimable: sleep until an event is appended, or a retry may have come due,
            // or (sooner) a busy stream may have finished and have more waiting.
            Ok(0) => {
                let idle = busy.lock().map_or(true, |b| b.is_empty());
                let wait = if idle {
                    Duration::from_millis(500)
                } else {
                    Duration::from_millis(20)
                };
                if let Err(e) = state.store.wait_for_events(wait).await {
                    tracing::warn!(%e, "waiting for events");
                    tokio::time::sleep(wait).await;
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(%e, "SSF push round failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// A worker's name: `{kind}-{node}-{random}`, so that a restarted node can take back the claims
/// of its earlier workers by the prefix `{kind}-{node}-`.
#[must_use]
pub fn worker_name(state: &AppState, kind: &str, node: &str) -> String {
    match tessera_jose::random::random_id::<8>(state.rng.as_ref()) {
        Ok(id) => format!("{kind}-{node}-{}", id.replace(['_', '-'], "")),
        Err(_) => format!("{kind}-{node}-0"),
    }
}

/// A name for this node that stays the same across restarts and differs between nodes: from
/// the host name, the data directory and the listen address.
#[must_use]
pub fn node_id(config: &crate::config::ServerConfig) -> String {
    let host = rustix::system::uname().nodename().to_string_lossy().into_owned();
    let dir = std::fs::canonicalize(&config.data_dir).unwrap_or_else(|_| config.data_dir.clone());
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(host.as_bytes());
    ctx.update(b"\0");
    ctx.update(dir.as_os_str().as_encoded_bytes());
    ctx.update(b"\0");
    ctx.update(config.listen.to_string().as_bytes());
    data_encoding::HEXLOWER.encode(&ctx.finish().as_ref()[..6])
}

/// The streams this worker is pushing to right now.
type Busy = Arc<std::sync::Mutex<BTreeSet<StreamId>>>;

/// A stream being pushed to; it is free again when this is dropped, however the push ended.
struct Pushing(Busy, StreamId);

impl Drop for Pushing {
    fn drop(&mut self) {
        if let Ok(mut b) = self.0.lock() {
            b.remove(&self.1);
        }
    }
}

/// Renews this worker's claims on `stream` every third of the lease until aborted, so a long
/// round of pushes keeps them while a dead worker's lapse soon.
async fn renew_claims(state: Arc<AppState>, stream: StreamId, worker: String) {
    let lease = Duration::from_secs(state.config.ssf.push_lease_seconds);
    let mut every = tokio::time::interval(lease / 3);
    every.tick().await;
    loop {
        every.tick().await;
        let now = state.now();
        let until = now.plus_ms(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
        if let Err(e) = state.store.extend_claims(&stream, &worker, until, now).await {
            tracing::warn!(%e, stream = %stream.0, "could not renew push claims");
        }
    }
}

/// How often delivered events past their retention are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Deletes delivered events (and received `jti`s) older than `[ssf] retention_days`.
async fn prune(state: &AppState) {
    let days = i64::from(state.config.ssf.retention_days);
    let before = Timestamp(state.now().0.saturating_sub(days.saturating_mul(86_400_000)));
    match state.store.prune_outbox(before).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(rows = n, days, "pruned delivered events past their retention"),
        Err(e) => tracing::warn!(%e, "could not prune the outbox"),
    }
}

/// One round: claims due deliveries of the streams not already being pushed to, and starts a
/// task per stream that pushes its SETs in order. Returns how many were claimed. A slow or
/// hanging receiver keeps only its own stream waiting.
async fn round(
    state: &Arc<AppState>,
    client: &reqwest::Client,
    worker: &str,
    busy: &Busy,
) -> Result<usize, StoreError> {
    let except: Vec<StreamId> = busy
        .lock()
        .map(|b| b.iter().cloned().collect())
        .unwrap_or_default();
    let claimed = state
        .store
        .claim_from(
            ClaimScope::PushExcept(&except),
            worker,
            BATCH,
            state.now(),
            Duration::from_secs(state.config.ssf.push_lease_seconds),
        )
        .await?;
    let n = claimed.len();
    let mut by_stream: BTreeMap<StreamId, Vec<ClaimedDelivery>> = BTreeMap::new();
    for d in claimed {
        by_stream.entry(d.stream_id.clone()).or_default().push(d);
    }
    for (stream, deliveries) in by_stream {
        if let Ok(mut b) = busy.lock() {
            b.insert(stream.clone());
        }
        let (state, client, worker) = (state.clone(), client.clone(), worker.to_owned());
        let guard = Pushing(busy.clone(), stream);
        tokio::spawn(async move {
            let heartbeat = tokio::spawn(renew_claims(state.clone(), guard.1.clone(), worker));
            if let Err(e) = push_stream(&state, &client, &guard.1, deliveries).await {
                tracing::error!(%e, stream = %guard.1.0, "SSF push failed");
            }
            heartbeat.abort();
            drop(guard);
        });
    }
    Ok(n)
}

/// What became of one push.
enum Pushed {
    Accepted,
    Refused(String),
    Failed(String),
}

/// Pushes one SET. A failure's detail is for the operator (the log, the admin API's
/// `last_error`); the receiver's view of the stream (its status reason) says only that pushes
/// failed, so that it cannot learn from it what answered at an address.
async fn push_one(
    state: &AppState,
    client: &reqwest::Client,
    audience: &Audience,
    endpoint: &str,
    set: String,
) -> Pushed {
    if let Err(refused) = state.outbound.check_before_sending(endpoint) {
        tracing::warn!(%refused, "push endpoint refused before sending");
        return Pushed::Failed(format!("the endpoint is not allowed: {refused}"));
    }
    let mut request = client
        .post(endpoint)
        .header(header::CONTENT_TYPE, "application/secevent+jwt")
        .header(header::ACCEPT, "application/json")
        .body(set);
    if let Some(value) = &audience.config.delivery.authorization_header {
        request = request.header(header::AUTHORIZATION, value);
    }
    match request.send().await {
        Ok(r) if r.status().is_success() => Pushed::Accepted,
        Ok(r) if r.status() == reqwest::StatusCode::BAD_REQUEST => {
            let bytes = r.bytes().await.unwrap_or_default();
            let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            Pushed::Refused(format!(
                "{}: {}",
                body["err"].as_str().unwrap_or("(no err)"),
                body["description"].as_str().unwrap_or("")
            ))
        }
        Ok(r) => Pushed::Failed(format!("the receiver answered {}", r.status())),
        Err(e) if e.is_timeout() => Pushed::Failed("the receiver did not answer in time".into()),
        Err(e) => Pushed::Failed(format!("cannot reach the receiver: {e}")),
    }
}

async fn push_stream(
    state: &AppState,
    client: &reqwest::Client,
    stream: &StreamId,
    deliveries: Vec<ClaimedDelivery>,
) -> Result<(), StoreError> {
    let record = match state.store.stream(stream).await {
        Ok(r) => r,
        // Deleted since the claim: its deliveries went with it.
        Err(StoreError::NotFound(_)) => return Ok(()),
        Err(e) => return Err(e),
    };
    let audience = Audience::load(state, record).await?;
    let Some(endpoint) = audience.config.delivery.endpoint_url.clone() else {
        return Err(StoreError::Corrupt(format!(
            "push stream {} has no endpoint",
            stream.0
        )));
    };
    // Settled deliveries are acknowledged together, every ACK_BATCH and at the end: a crash
    // in between only means those SETs are pushed again, with the same `jti`.
    let mut settled = Vec::with_capacity(ACK_BATCH);
    let mut pending = deliveries.into_iter();
    while let Some(d) = pending.next() {
        if settled.len() >= ACK_BATCH {
            state.store.acknowledge_all(stream, &settled, state.now()).await?;
            settled.clear();
        }
        if !audience.wants(&d) {
            settled.push(d.event_id);
            continue;
        }
        let (jti, set) = match audience.sign(state, &d).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(stream = %stream.0, event = d.event_id.0, %e, "cannot sign a SET");
                let later = state.now().plus_ms(MAX_BACKOFF_MS);
                state.store.retry_later(stream, d.event_id, later, &e).await?;
                continue;
            }
        };
        match push_one(state, client, &audience, &endpoint, set).await {
            Pushed::Accepted => {
                settled.push(d.event_id);
                let latency = latency_seconds(d.created_at, state.now());
                state.telemetry.set_pushed("delivered", Some(latency));
            }
            Pushed::Refused(why) => {
                tracing::warn!(stream = %stream.0, %jti, %why, "receiver refused a SET");
                state.telemetry.set_pushed("refused", None);
                settled.push(d.event_id);
            }
            Pushed::Failed(why) => {
                state.telemetry.set_pushed("retry", None);
                let attempts = u32::try_from(d.attempts).unwrap_or(u32::MAX);
                let limit = state.config.ssf.push_attempts_before_pause;
                let paused = attempts >= limit;
                let next = if paused {
                    // Due at once when the receiver enables the stream again.
                    state.now()
                } else {
                    state.now().plus_ms(backoff_ms(state, attempts))
                };
                tracing::warn!(stream = %stream.0, %jti, attempts, %why, "push failed");
                // This SET and the stream's later ones of this round go back, in order.
                state.store.retry_later(stream, d.event_id, next, &why).await?;
                for rest in pending.by_ref() {
                    state
                        .store
                        .retry_later(stream, rest.event_id, next, "an earlier SET of the stream failed")
                        .await?;
                }
                if paused {
                    let reason = format!("push delivery failed {attempts} times");
                    tracing::error!(stream = %stream.0, %reason, last = %why, "SSF stream paused");
                    super::streams::change_status(state, stream, StreamStatus::Paused, Some(&reason)).await?;
                }
                break;
            }
        }
    }
    state.store.acknowledge_all(stream, &settled, state.now()).await?;
    Ok(())
}

/// The wait before attempt `attempts + 1`: 1 s doubling per attempt up to five minutes, with
/// "equal jitter" (half fixed, half random) so failing streams do not retry in lockstep.
fn backoff_ms(state: &AppState, attempts: u32) -> i64 {
    let full = 1000_i64
        .saturating_mul(1_i64 << attempts.saturating_sub(1).min(20))
        .min(MAX_BACKOFF_MS);
    let mut byte = [0u8; 2];
    let _ = state.rng.fill(&mut byte);
    let random = i64::from(u16::from_le_bytes(byte));
    full / 2 + (full / 2) * random / i64::from(u16::MAX)
}

/// When a delivery made at `created` was accepted `now`: the latency in seconds.
#[must_use]
pub fn latency_seconds(created: Timestamp, now: Timestamp) -> f64 {
    (now.0 - created.0).max(0) as f64 / 1000.0
}
