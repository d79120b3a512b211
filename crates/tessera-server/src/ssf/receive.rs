//! Tessera as a Shared Signals *receiver*: `POST /ssf/receive` takes SETs pushed by APIs and by
//! other vendors' transmitters (RFC 8935) and acts on them.
//!
//! Who may transmit: only a transmitter the operator trusts, in `[[ssf.transmitters]]`, and only
//! the event types listed for it (`events`); anyone else, or another event type, is answered
//! `403` with the RFC 8935 error `access_denied`. A trusted transmitter is either
//! - an application registered with a JWK Set (an API that signals back; no `jwks_uri`): its
//!   SETs have `iss` = its client id and are signed by one of its registered keys; or
//! - another vendor (`issuer`, `jwks_uri`): its keys are fetched and kept for ten minutes,
//!   fetched again sooner when a SET names an unknown key (at most every 30 seconds).
//!
//! Every SET must have `aud` = Tessera's issuer, an event Tessera can read (every member the
//! event type requires, of the right type and value), and an `iat` within the time its `jti`
//! is remembered. Bad ones are answered `400` with the RFC 8935 `err` code. A `jti` already
//! received from the same issuer is acknowledged (`202`) and not applied again.
//!
//! What each event does, for a subject Tessera knows (`iss_sub` with Tessera as `iss`, or a
//! complex subject whose `user` is one):
//! - `session-revoked`: ends every session of the user;
//! - `risk-level-change`: raises the user's risk to the level given (never lowers it);
//! - `credential-compromise`: raises the user's risk to high;
//! - `session-presented` with `ips` (an API saw the session's token used from an address where
//!   a location policy would apply): marks the session (the complex subject's `session`, or
//!   every session of the user), and its next refresh must meet policy from that address too.
//!
//! Conditional Access reads the user's risk on the next sign-in and the next refresh.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tessera_jose::set::{SecurityEventToken, SetValidation, validate};
use tessera_jose::{KeySet, SubjectId};
use tessera_signals::SecurityEvent;
use tessera_signals::events::RiskLevel as SignalRisk;
use tessera_store::{RiskLevel, SessionId, StoreError, UserId};

use crate::state::AppState;
use tessera_directory::InitiatingEntity;

/// How long fetched transmitter keys are kept.
const KEYS_TTL: Duration = Duration::from_secs(600);
/// The largest SET accepted.
const MAX_SET: usize = 64 * 1024;

/// An RFC 8935 §2.3 error answer: `403` for `access_denied`, `400` for the rest.
fn refuse(err: &'static str, description: impl Into<String>) -> Response {
    let description = description.into();
    tracing::warn!(%err, %description, "refused a pushed SET");
    let status = if err == "access_denied" {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::BAD_REQUEST
    };
    (
        status,
        axum::Json(json!({"err": err, "description": description})),
    )
        .into_response()
}

/// Transmitter keys fetched from `jwks_uri`, by issuer.
pub type KeyCache = moka::sync::Cache<String, (Arc<KeySet>, std::time::Instant)>;

/// The least time between two fetches of one transmitter's keys, so SETs naming made-up keys
/// cannot make Tessera fetch them on every request.
const MIN_REFETCH: Duration = Duration::from_secs(30);

/// A cache for [`KeyCache`].
#[must_use]
pub fn key_cache() -> KeyCache {
    moka::sync::Cache::builder()
        .max_capacity(1_000)
        .time_to_live(KEYS_TTL)
        .build()
}

/// The `iss` a SET claims, read before its signature is checked, to choose the keys.
fn claimed_issuer(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let claims: serde_json::Value = serde_json::from_slice(&tessera_jose::b64::decode(payload).ok()?).ok()?;
    claims["iss"].as_str().map(str::to_owned)
}

/// Fetches a transmitter's JWK Set.
async fn fetch_keys(jwks_uri: &str) -> Result<KeySet, String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let response = client.get(jwks_uri).send().await.map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("{jwks_uri} answered {}", response.status()));
    }
    let bytes = response.bytes().await.map_err(|e| e.to_string())?;
    KeySet::from_jwks(&bytes).map_err(|e| e.to_string())
}

/// The operator's trust in the transmitter `iss`, if there is one.
fn trusted<'a>(state: &'a AppState, iss: &str) -> Option<&'a crate::config::TransmitterConfig> {
    state.config.ssf.transmitters.iter().find(|t| t.issuer == iss)
}

/// The keys of the trusted transmitter `t`, or `None` when it has none (an application
/// without keys, or no longer registered).
async fn keys_of(
    state: &AppState,
    t: &crate::config::TransmitterConfig,
    refresh: bool,
) -> Result<Option<Arc<KeySet>>, String> {
    let iss = t.issuer.as_str();
    if let Some(jwks_uri) = &t.jwks_uri {
        if let Some((keys, fetched)) = state.transmitter_keys.get(iss)
            && (!refresh || fetched.elapsed() < MIN_REFETCH)
        {
            return Ok(Some(keys));
        }
        let keys = Arc::new(fetch_keys(jwks_uri).await?);
        state
            .transmitter_keys
            .insert(iss.to_owned(), (keys.clone(), std::time::Instant::now()));
        return Ok(Some(keys));
    }
    match state.store.application(iss).await {
        Ok(app) => match &app.jwks {
            Some(jwks) => KeySet::from_jwks(jwks.to_string().as_bytes())
                .map(|k| Some(Arc::new(k)))
                .map_err(|e| e.to_string()),
            None => Ok(None),
        },
        Err(StoreError::NotFound(_)) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// `POST /ssf/receive`
pub async fn receive(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/secevent+jwt") {
        return refuse("invalid_request", "the body must be application/secevent+jwt");
    }
    if body.len() > MAX_SET {
        return refuse("invalid_request", "the SET is too large");
    }
    let Ok(token) = std::str::from_utf8(&body).map(str::trim) else {
        return refuse("invalid_request", "the SET is not text");
    };
    match accept(&state, token, None).await {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(Refusal::Bad(err, description)) => refuse(err, description),
        Err(Refusal::Denied(description)) => refuse("access_denied", description),
        Err(Refusal::Unavailable) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// Why a SET was not accepted.
#[derive(Debug)]
pub enum Refusal {
    /// The SET is bad: the RFC 8935 `err` code and a description.
    Bad(&'static str, String),
    /// The sender is not a trusted transmitter, or may not send this event (`403`,
    /// `access_denied`).
    Denied(String),
    /// Tessera could not check or record it now; the transmitter should try again.
    Unavailable,
}

/// Verifies a SET (from `expected_issuer`, when it came from a stream of that transmitter),
/// records its `jti`, and acts on it the first time. `Ok` for a SET received before, too.
///
/// # Errors
/// [`Refusal`].
pub async fn accept(state: &AppState, token: &str, expected_issuer: Option<&str>) -> Result<(), Refusal> {
    let bad = |err: &'static str, d: String| Err(Refusal::Bad(err, d));
    let Some(iss) = claimed_issuer(token) else {
        return bad(
            "invalid_request",
            "the body is not a JWT with an iss claim".into(),
        );
    };
    if expected_issuer.is_some_and(|e| e != iss) {
        return bad(
            "invalid_issuer",
            format!("this stream's transmitter is not {iss:?}"),
        );
    }
    let Some(trust) = trusted(state, &iss) else {
        return Err(Refusal::Denied(format!(
            "Tessera takes no SETs from {iss:?}: an administrator must trust it as a transmitter first"
        )));
    };
    let audience = trust
        .audience
        .clone()
        .unwrap_or_else(|| state.config.issuer.clone());
    let rules = SetValidation {
        issuer: iss.clone(),
        audience,
        leeway: 60,
    };
    let mut set = None;
    for refresh in [false, true] {
        let keys = match keys_of(state, trust, refresh).await {
            Ok(Some(keys)) => keys,
            Ok(None) => {
                return Err(Refusal::Denied(format!(
                    "the transmitter {iss:?} is not registered with keys"
                )));
            }
            Err(e) => {
                tracing::error!(%iss, %e, "cannot get a transmitter's keys");
                return Err(Refusal::Unavailable);
            }
        };
        match validate(token, &keys, &rules, state.clock.as_ref()) {
            Ok(s) => {
                set = Some(s);
                break;
            }
            // A key we do not know may be new: fetch the keys once more, then give up.
            Err(e) if e.rfc8935_code() == "invalid_key" && !refresh => {}
            Err(e) => return bad(e.rfc8935_code(), e.to_string()),
        }
    }
    let Some(set) = set else {
        return bad("invalid_key", "no key of the transmitter verifies the SET".into());
    };
    if !trust.events.contains(&set.events.event_type) {
        return Err(Refusal::Denied(format!(
            "the transmitter {iss:?} may not send {}",
            set.events.event_type
        )));
    }
    // Read the event before taking it: a SET whose event Tessera cannot read is refused, not
    // acknowledged and dropped.
    if let Err(e) = SecurityEvent::from_set_event(&set.events) {
        return bad("invalid_request", e.to_string());
    }
    // A SET older than its `jti` is remembered could be replayed once the `jti` is forgotten.
    let retention = i64::from(state.config.ssf.retention_days).saturating_mul(86_400);
    if set.iat.as_secs() < state.unix_time().as_secs().saturating_sub(retention) {
        return bad(
            "invalid_request",
            format!(
                "iat is older than {} days, the time Tessera remembers a SET's jti",
                state.config.ssf.retention_days
            ),
        );
    }
    match state.store.first_receipt(&iss, &set.jti, state.now()).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::debug!(%iss, jti = %set.jti, "SET received again; not applied twice");
            return Ok(());
        }
        Err(e) => {
            tracing::error!(%e, "cannot record a received SET");
            return Err(Refusal::Unavailable);
        }
    }
    if let Err(e) = apply(state, &set).await {
        tracing::error!(%iss, jti = %set.jti, %e, "could not act on a received SET");
    }
    state
        .telemetry
        .record(|| metrics::counter!("tessera_ssf_sets_received_total").increment(1));
    Ok(())
}

/// The user a subject names, when it is one of Tessera's.
fn user_of(state: &AppState, subject: &SubjectId) -> Option<UserId> {
    match subject {
        SubjectId::IssSub { iss, sub } if *iss == state.config.issuer => Some(UserId(sub.clone())),
        SubjectId::Complex(c) => c
            .members()
            .find(|(name, _)| *name == "user")
            .and_then(|(_, s)| user_of(state, s)),
        SubjectId::Aliases { identifiers } => identifiers.iter().find_map(|s| user_of(state, s)),
        _ => None,
    }
}

/// The session a complex subject names (its `session` member, an opaque id).
fn session_of(subject: &SubjectId) -> Option<SessionId> {
    match subject {
        SubjectId::Complex(c) => c.members().find_map(|(name, s)| match (name, s) {
            ("session", SubjectId::Opaque { id }) => Some(SessionId(id.clone())),
            _ => None,
        }),
        _ => None,
    }
}

const fn risk(level: SignalRisk) -> RiskLevel {
    match level {
        SignalRisk::Low => RiskLevel::Low,
        SignalRisk::Medium => RiskLevel::Medium,
        SignalRisk::High => RiskLevel::High,
    }
}

/// Acts on a verified SET.
async fn apply(state: &AppState, set: &SecurityEventToken) -> Result<(), String> {
    let Some(user) = user_of(state, &set.sub_id) else {
        tracing::info!(iss = %set.iss, event = %set.events.event_type, "a SET about a subject Tessera does not know");
        return Ok(());
    };
    let event = SecurityEvent::from_set_event(&set.events).map_err(|e| e.to_string())?;
    let directory = state.directory(InitiatingEntity::System);
    let raise_to = match event {
        SecurityEvent::SessionRevoked(_) => {
            let n = directory
                .revoke_sessions(&user)
                .await
                .map_err(|e| e.to_string())?;
            tracing::info!(iss = %set.iss, user = %user.0, families = n, "sessions revoked on a transmitter's signal");
            return Ok(());
        }
        SecurityEvent::SessionPresented { session, .. } => {
            let Some(ip) = session
                .ips
                .iter()
                .find_map(|ip| ip.parse::<std::net::IpAddr>().ok())
            else {
                tracing::info!(iss = %set.iss, "a session-presented signal without an address");
                return Ok(());
            };
            let sid = session_of(&set.sub_id);
            let marked = state
                .store
                .mark_presented(&user, sid.as_ref(), &ip.to_string())
                .await
                .map_err(|e| e.to_string())?;
            tracing::info!(iss = %set.iss, user = %user.0, %ip, sessions = marked,
                "an API saw the session used from another address; policy is checked from there at the next refresh");
            return Ok(());
        }
        SecurityEvent::RiskLevelChange { current_level, .. } => risk(current_level),
        SecurityEvent::CredentialCompromise { .. } => RiskLevel::High,
        other => {
            tracing::info!(iss = %set.iss, event = %other.event_type(), "a received event Tessera takes no action on");
            return Ok(());
        }
    };
    let raised = directory
        .raise_risk(&user, raise_to)
        .await
        .map_err(|e| e.to_string())?;
    if raised {
        tracing::info!(iss = %set.iss, user = %user.0, risk = raise_to.as_str(), "risk raised on a transmitter's signal");
    }
    Ok(())
}

/// Starts a poller (RFC 8936) for every configured transmitter with a `poll_url`; each runs
/// until the process ends.
pub fn spawn_pollers(state: &Arc<AppState>) -> Vec<tokio::task::JoinHandle<()>> {
    state
        .config
        .ssf
        .transmitters
        .iter()
        .filter(|t| t.poll_url.is_some())
        .map(|t| tokio::spawn(poll_transmitter(state.clone(), t.clone())))
        .collect()
}

/// Polls one transmitter's stream: each answer's SETs are verified and applied, and
/// acknowledged (or reported in `setErrs`) with the next poll. A SET Tessera could not record
/// is neither, so the transmitter offers it again.
async fn poll_transmitter(state: Arc<AppState>, transmitter: crate::config::TransmitterConfig) {
    let Some(url) = transmitter.poll_url.clone() else {
        return;
    };
    let wait = Duration::from_secs(state.config.ssf.poll_wait_seconds);
    let client = match reqwest::Client::builder()
        .timeout(wait + Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(%e, "cannot start polling {url}");
            return;
        }
    };
    let mut acks: Vec<String> = Vec::new();
    let mut errors = serde_json::Map::new();
    let mut failures: u32 = 0;
    loop {
        let body = json!({"maxEvents": 100, "returnImmediately": false, "ack": acks, "setErrs": errors});
        let mut request = client
            .post(&url)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json")
            .body(body.to_string());
        if let Some(value) = &transmitter.authorization_header {
            request = request.header(header::AUTHORIZATION, value);
        }
        let answer = match request.send().await {
            Ok(r) if r.status().is_success() => r.bytes().await.map_err(|e| e.to_string()),
            Ok(r) => Err(format!("{url} answered {}", r.status())),
            Err(e) => Err(e.to_string()),
        };
        let response = answer.and_then(|bytes| {
            serde_json::from_slice::<tessera_signals::PollResponse>(&bytes).map_err(|e| e.to_string())
        });
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                failures = failures.saturating_add(1);
                let pause = Duration::from_secs(u64::from(failures.min(6)).pow(2));
                tracing::warn!(%url, %e, failures, "polling a transmitter failed; trying again");
                tokio::time::sleep(pause).await;
                continue;
            }
        };
        failures = 0;
        acks.clear();
        errors.clear();
        let quiet = response.sets.is_empty() && !response.more_available;
        for (jti, token) in response.sets {
            match accept(&state, &token, Some(&transmitter.issuer)).await {
                Ok(()) => acks.push(jti),
                Err(Refusal::Bad(err, description)) => {
                    errors.insert(jti, json!({"err": err, "description": description}));
                }
                Err(Refusal::Denied(description)) => {
                    errors.insert(jti, json!({"err": "access_denied", "description": description}));
                }
                Err(Refusal::Unavailable) => {}
            }
        }
        if quiet && acks.is_empty() && errors.is_empty() {
            // A transmitter that does not hold the poll open: do not spin.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}
