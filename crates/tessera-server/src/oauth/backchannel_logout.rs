//! OpenID Connect Back-Channel Logout 1.0, the OP's side: every session that ends (sign-out
//! at `/logout`, an administrator revoking or disabling the user, a changed password, a
//! revocation by a signal, a replayed refresh token) is announced to its client when the client
//! registered a `backchannel_logout_uri`.
//!
//! The revocation itself queues the delivery, in its own transaction (see
//! `tessera_store::LogoutRepo`), so no ended session is forgotten by a crash. This worker
//! claims due deliveries with a lease (several nodes share the queue), signs a logout token
//! (§2.4: `typ: logout+jwt`, `iss`, `aud` the client, `iat`, `exp`, `jti`, `sub`, `sid`, the
//! `events` member, no `nonce`) and POSTs it form-encoded (§2.5).
//!
//! - any 2xx: delivered (§2.8 asks for 200; frameworks answer 204).
//! - `400`: the client has the token and refuses it; sending it again would not help.
//! - anything else, or no answer: tried again 1 s, 2 s, 4 s … later (at most five minutes
//!   apart), up to `[logout] backchannel_attempts` attempts in all.
//!
//! The URI goes through the same destination rule as SSF push endpoints
//! (`crate::outbound`): a client's URI cannot make Tessera post to its own network unless the
//! operator allows that network (`ssf.push_allowed_networks`). Each outcome is a sign-in log
//! entry (`loggedOut` or `logoutFailed`) for the user and the client.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tessera_store::{LogoutDelivery, LogoutOutcome, SignInDetails, SignInLog, Timestamp};

use crate::state::AppState;

/// The event a logout token carries (§2.4).
pub const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// How long a logout token is valid for: long enough for a slow client's clock.
const TOKEN_SECONDS: i64 = 120;
/// Deliveries claimed per round.
const BATCH: u32 = 32;
/// How long a claim lasts; a node that dies mid-delivery leaves the delivery to another then.
const LEASE: Duration = Duration::from_secs(30);
/// How long the worker waits, idle, before looking again.
const IDLE: Duration = Duration::from_millis(200);
/// The longest wait between two attempts.
const MAX_BACKOFF_MS: i64 = 5 * 60 * 1000;
/// How long settled deliveries are kept.
const KEEP_SETTLED_MS: i64 = 7 * 86_400_000;

/// Starts the worker; it runs until the process ends.
pub fn spawn(state: Arc<AppState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(state))
}

async fn run(state: Arc<AppState>) {
    // No redirects (§2.5 says nothing of them; following one would let a client send the token
    // on), and only to addresses the destination rule allows.
    let client = match state.outbound.client(Duration::from_secs(
        state.config.logout.backchannel_timeout_seconds.max(1),
    )) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(%e, "back-channel logout cannot start");
            return;
        }
    };
    let node = crate::ssf::push::node_id(&state.config);
    let worker = crate::ssf::push::worker_name(&state, "logout", &node);
    let mut pruned: Option<std::time::Instant> = None;
    loop {
        if pruned.is_none_or(|at| at.elapsed() >= Duration::from_secs(3600)) {
            let before = state.now().plus_ms(-KEEP_SETTLED_MS);
            if let Err(e) = state.store.prune_logouts(before).await {
                tracing::warn!(%e, "could not prune settled back-channel logouts");
            }
            pruned = Some(std::time::Instant::now());
        }
        match state
            .store
            .claim_logouts(&worker, BATCH, state.now(), LEASE)
            .await
        {
            Ok(claimed) if claimed.is_empty() => {
                // Most revocations append an event too, which wakes this wait early.
                if state.store.wait_for_events(IDLE).await.is_err() {
                    tokio::time::sleep(IDLE).await;
                }
            }
            Ok(claimed) => {
                // One client that does not answer holds back no other.
                let mut round = tokio::task::JoinSet::new();
                for delivery in claimed {
                    let (state, client) = (state.clone(), client.clone());
                    round.spawn(async move { deliver(&state, &client, &delivery).await });
                }
                round.join_all().await;
            }
            Err(e) => {
                tracing::error!(%e, "claiming back-channel logouts failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// The logout token's claims (§2.4).
#[derive(Serialize)]
struct LogoutToken<'a> {
    iss: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    jti: String,
    sub: &'a str,
    sid: &'a str,
    events: serde_json::Value,
}

/// Signs the logout token for `delivery`.
///
/// # Errors
/// When the random source or the signing key fails.
pub fn logout_token(state: &AppState, delivery: &LogoutDelivery) -> Result<String, String> {
    let now = state.unix_time().0;
    let claims = LogoutToken {
        iss: &state.config.issuer,
        aud: &delivery.client_id,
        iat: now,
        exp: now + TOKEN_SECONDS,
        jti: tessera_jose::random::random_id::<16>(state.rng.as_ref()).map_err(|e| e.to_string())?,
        sub: &delivery.user_id.0,
        sid: &delivery.session_id.0,
        events: serde_json::json!({ EVENT: {} }),
    };
    tessera_jose::jws::sign(state.keys.active(), Some("logout+jwt"), &claims).map_err(|e| e.to_string())
}

/// What one attempt came to.
enum Attempt {
    Settled(LogoutOutcome, Option<String>, Option<u16>),
    Again(String),
}

async fn attempt(state: &AppState, client: &reqwest::Client, delivery: &LogoutDelivery) -> Attempt {
    if let Err(refused) = state.outbound.check_url(&delivery.uri).await {
        return Attempt::Settled(LogoutOutcome::Failed, Some(refused.to_string()), None);
    }
    let token = match logout_token(state, delivery) {
        Ok(t) => t,
        Err(e) => return Attempt::Again(format!("could not sign the logout token: {e}")),
    };
    let sent = client
        .post(&delivery.uri)
        .header(axum::http::header::CACHE_CONTROL, "no-store")
        .form(&[("logout_token", token.as_str())])
        .send()
        .await;
    match sent {
        Ok(r) if r.status().is_success() => {
            Attempt::Settled(LogoutOutcome::Delivered, None, Some(r.status().as_u16()))
        }
        Ok(r) if r.status() == reqwest::StatusCode::BAD_REQUEST => {
            let body = r.text().await.unwrap_or_default();
            let said = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_owned))
                .unwrap_or_else(|| "no error given".into());
            Attempt::Settled(
                LogoutOutcome::Refused,
                Some(format!("the client refused the logout token: {said}")),
                Some(400),
            )
        }
        Ok(r) => Attempt::Again(format!("the client answered {}", r.status().as_u16())),
        Err(e) if e.is_timeout() => Attempt::Again("the client did not answer in time".into()),
        Err(e) => Attempt::Again(format!("could not reach the client: {}", without_url(&e))),
    }
}

/// reqwest's message without the URL it appends (the URL is in the log entry already).
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url()
        && let Some(at) = text.find(&format!(" ({url})"))
    {
        text.truncate(at);
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

async fn deliver(state: &AppState, client: &reqwest::Client, delivery: &LogoutDelivery) {
    let attempts = delivery.attempts + 1;
    let (outcome, error, status) = match attempt(state, client, delivery).await {
        Attempt::Settled(outcome, error, status) => (outcome, error, status),
        Attempt::Again(error) if attempts < state.config.logout.backchannel_attempts.max(1) => {
            let wait = (1000_i64 << delivery.attempts.min(20)).min(MAX_BACKOFF_MS);
            tracing::info!(client = %delivery.client_id, attempts, %error, "back-channel logout will be tried again");
            if let Err(e) = state
                .store
                .retry_logout(delivery.id, &error, state.now().plus_ms(wait))
                .await
            {
                tracing::error!(%e, "could not record a back-channel logout attempt");
            }
            return;
        }
        Attempt::Again(error) => (LogoutOutcome::Failed, Some(error), None),
    };
    let now = state.now();
    if let Err(e) = state
        .store
        .settle_logout(delivery.id, outcome, error.as_deref(), now)
        .await
    {
        // The claim runs out and another attempt settles it.
        tracing::error!(%e, "could not settle a back-channel logout");
        return;
    }
    match outcome {
        LogoutOutcome::Delivered => {
            tracing::info!(client = %delivery.client_id, sid = %delivery.session_id.0, "back-channel logout delivered");
        }
        _ => tracing::warn!(client = %delivery.client_id, error = ?error, "back-channel logout failed"),
    }
    metrics::counter!("tessera_backchannel_logouts_total", "outcome" => outcome.as_str()).increment(1);
    if let Err(e) = log(state, delivery, outcome, error.as_deref(), status, attempts, now).await {
        tracing::error!(%e, "could not log a back-channel logout");
    }
}

async fn log(
    state: &AppState,
    delivery: &LogoutDelivery,
    outcome: LogoutOutcome,
    error: Option<&str>,
    status: Option<u16>,
    attempts: u32,
    now: Timestamp,
) -> Result<(), String> {
    let details = serde_json::json!({
        "stage": "backchannelLogout",
        "backchannelLogout": {
            "sid": delivery.session_id.0,
            "uri": delivery.uri,
            "reason": delivery.reason,
            "outcome": outcome.as_str(),
            "status": status,
            "attempts": attempts,
            "queuedAt": delivery.created_at.0,
        },
    });
    let entry = SignInLog {
        id: tessera_jose::random::random_id::<16>(state.rng.as_ref()).map_err(|e| e.to_string())?,
        at: now,
        user_id: Some(delivery.user_id.clone()),
        client_id: Some(delivery.client_id.clone()),
        // No one's request: the delivery is Tessera's own.
        ip: String::new(),
        outcome: if outcome == LogoutOutcome::Delivered {
            "loggedOut"
        } else {
            "logoutFailed"
        }
        .into(),
        token_protection: "notApplicable".into(),
        device_id: None,
        jkt: None,
        error: error.map(str::to_owned),
        details: SignInDetails::to_json(&details).map_err(|e| e.to_string())?,
    };
    state
        .store
        .append_sign_ins(&[entry])
        .await
        .map_err(|e| e.to_string())
}
