//! Sign-in logs and Shared Signals: the streams with their health, the events raised, the SETs
//! received, and pausing, resuming or disabling a stream.

use askama::Template;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;
use tessera_store::{SignInFilter, SignInLog, StreamHealth, StreamId, StreamStatus, Timestamp, UserId};

use super::{Chrome, Console, Post, Refused, Section, message, when};

/// A sign-in as a table row.
#[derive(Debug)]
pub struct SignInRow {
    /// Id.
    pub id: String,
    /// When.
    pub at: String,
    /// The user, if known.
    pub user: String,
    /// The application.
    pub client: String,
    /// The address.
    pub ip: String,
    /// `success`, `failure`, `interrupted`.
    pub outcome: String,
    /// Where in the flow.
    pub stage: String,
    /// Token protection: (badge class, words).
    pub protection: (&'static str, &'static str),
    /// At the token endpoint: how strongly the tokens are bound, and why, in words.
    pub key_binding: String,
    /// Why it failed.
    pub error: String,
}

/// What token protection did, in the words the console shows: bound, replay blocked, or a
/// report-only policy that would have refused the sign-in for want of a device-bound token.
fn protection(entry: &SignInLog) -> (&'static str, &'static str) {
    match entry.token_protection.as_str() {
        "boundToDevice" => ("bound", "bound to device"),
        "replay" => ("replayBlocked", "replay blocked"),
        _ => {
            let would_fail = entry.details.value()["conditionalAccess"]["policies"]
                .as_array()
                .is_some_and(|policies| {
                    policies.iter().any(|p| {
                        p["result"] == "reportOnlyFailure"
                            && p["unmet"].as_array().is_some_and(|u| {
                                u.iter().any(|r| {
                                    r["anyOf"].as_array().is_some_and(|n| {
                                        n.iter().any(|n| {
                                            n == "deviceBoundToken"
                                                || n == "hardwareBoundToken"
                                                || n == "attestedBoundToken"
                                        })
                                    })
                                })
                            })
                    })
                });
            match (would_fail, entry.token_protection.as_str()) {
                (true, _) => ("reportOnlyWouldFail", "report-only: would fail"),
                (false, "unbound") => ("muted", "software key"),
                (false, "missing") => ("muted", "no DPoP key"),
                _ => ("muted", "not applicable"),
            }
        }
    }
}

impl SignInRow {
    /// From a log entry.
    #[must_use]
    pub fn new(e: &SignInLog) -> Self {
        Self {
            id: e.id.clone(),
            at: when(e.at.0),
            user: e.user_id.as_ref().map_or_else(String::new, |u| u.0.clone()),
            client: e.client_id.clone().unwrap_or_default(),
            ip: e.ip.clone(),
            outcome: e.outcome.clone(),
            stage: e.details.value()["stage"].as_str().unwrap_or_default().to_owned(),
            protection: protection(e),
            key_binding: key_binding_words(e),
            error: e.error.clone().unwrap_or_default(),
        }
    }
}

/// The log's `keyBinding` reason in words.
fn key_binding_words(e: &SignInLog) -> String {
    let details = e.details.value();
    let words = match details["keyBinding"]["reason"].as_str() {
        None => return String::new(),
        Some("clientNotCapable") => "unbound: the client sent no DPoP proof",
        Some("noDevice") => "unbound: the key is no registered device's",
        Some("softwareKey") => "bound to a software key",
        Some("unattestedKey") => "bound to a hardware key without evidence",
        Some("attestationFailed") => "bound to a key whose attestation failed",
        Some("platformNotSupported") => {
            "bound to a software key; the platform's attestation is not supported"
        }
        Some("attestedHardwareKey") => "bound to an attested hardware key",
        Some(other) => other,
    };
    words.to_owned()
}

/// A policy state as the console says it.
pub(super) fn state_words(state: &str) -> &str {
    match state {
        "enabled" => "On",
        "enabledForReportingButNotEnforced" => "Report-only",
        "disabled" => "Off",
        other => other,
    }
}

/// An event's subject in short: the user it names, else the stored document.
fn subject_words(stored: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(stored) else {
        return stored.to_owned();
    };
    let named = |v: &Value| {
        ["sub", "email", "id"]
            .iter()
            .find_map(|k| v[*k].as_str().map(str::to_owned))
    };
    named(&v)
        .or_else(|| named(&v["user"]))
        .unwrap_or_else(|| stored.to_owned())
}

/// A stream as a table row.
#[derive(Debug)]
pub struct StreamRow {
    /// Id.
    pub id: String,
    /// The receiver (client id).
    pub receiver: String,
    /// `enabled`, `paused`, `disabled`.
    pub status: String,
    /// Why paused or disabled.
    pub reason: String,
    /// `push` or `poll`.
    pub method: String,
    /// Deliveries waiting.
    pub pending: u64,
    /// Age of the oldest waiting delivery.
    pub lag_seconds: Option<i64>,
    /// The last delivery error.
    pub last_error: String,
}

impl StreamRow {
    /// From a stream's health, `now` being now.
    #[must_use]
    pub fn new(h: &StreamHealth, now: tessera_store::Timestamp) -> Self {
        let r = tessera_directory::streams::StreamReport::new(h, now);
        Self {
            method: r.method().to_owned(),
            id: r.id,
            receiver: r.receiver,
            status: r.status.as_str().to_owned(),
            reason: r.reason.unwrap_or_default(),
            pending: r.pending,
            lag_seconds: r.lag_seconds,
            last_error: r.last_error.unwrap_or_default(),
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct Filter {
    user: Option<String>,
    outcome: Option<String>,
    before: Option<String>,
}

#[derive(Template)]
#[template(path = "console/sign_ins.html")]
struct SignIns {
    l: Chrome,
    user: String,
    outcome: String,
    sign_ins: Vec<SignInRow>,
    next: Option<String>,
}

/// Rows per page of the sign-in log.
const PAGE: u32 = 50;

/// `GET /admin/sign-ins?user=&outcome=&before=`
pub(super) async fn sign_ins(console: Console, Query(f): Query<Filter>) -> Result<Response, Refused> {
    let user = f.user.unwrap_or_default().trim().to_owned();
    let outcome = f.outcome.unwrap_or_default();
    let before = f.before.as_deref().and_then(|c| {
        let (at, id) = c.split_once('.')?;
        Some((Timestamp(at.parse().ok()?), id.to_owned()))
    });
    let filter = SignInFilter {
        user_id: Some(UserId(user.clone())).filter(|u| !u.0.is_empty()),
        outcome: Some(outcome.clone()).filter(|o| !o.is_empty()),
        before,
        limit: PAGE,
    };
    let entries = console.state().store.sign_ins(&filter).await?;
    let next = (entries.len() == PAGE as usize)
        .then(|| entries.last().map(|e| format!("{}.{}", e.at.0, e.id)))
        .flatten()
        .map(|cursor| {
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("user", &user)
                .append_pair("outcome", &outcome)
                .append_pair("before", &cursor)
                .finish()
        });
    let page = SignIns {
        l: console.chrome(Section::SignIns),
        user,
        outcome,
        sign_ins: entries.iter().map(SignInRow::new).collect(),
        next,
    };
    Ok(console.page(StatusCode::OK, &page))
}

/// One policy's result in a sign-in's detail.
#[derive(Debug)]
pub(super) struct PolicyLine {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) state: String,
    pub(super) result: String,
    pub(super) conditions: Vec<(bool, String, String)>,
    pub(super) unmet: String,
}

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInDetail {
    l: Chrome,
    row: SignInRow,
    device: String,
    jkt: String,
    outcome: String,
    policies: Vec<PolicyLine>,
    raw: String,
}

pub(super) fn policy_lines(report: &Value) -> Vec<PolicyLine> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    report["policies"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| PolicyLine {
                    id: text(&p["id"]),
                    name: text(&p["displayName"]),
                    state: state_words(p["state"].as_str().unwrap_or_default()).to_owned(),
                    result: text(&p["result"]),
                    conditions: p["conditions"]
                        .as_array()
                        .map(|cs| {
                            cs.iter()
                                .map(|c| (c["matched"] == true, text(&c["condition"]), text(&c["reason"])))
                                .collect()
                        })
                        .unwrap_or_default(),
                    unmet: p["unmet"]
                        .as_array()
                        .map(|u| {
                            u.iter()
                                .map(|r| {
                                    r["anyOf"]
                                        .as_array()
                                        .map(|n| n.iter().map(text).collect::<Vec<_>>().join(" or "))
                                        .unwrap_or_default()
                                })
                                .collect::<Vec<_>>()
                                .join("; ")
                        })
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `GET /admin/sign-ins/{id}`
pub(super) async fn sign_in(console: Console, Path(id): Path<String>) -> Result<Response, Refused> {
    let entry = match console.state().store.sign_in(&id).await {
        Ok(e) => e,
        Err(tessera_store::StoreError::NotFound(_)) => {
            return Ok(message(
                StatusCode::NOT_FOUND,
                "Not found",
                "There is no such sign-in.",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let details = entry.details.value();
    let report = &details["conditionalAccess"];
    let page = SignInDetail {
        l: console.chrome(Section::SignIns),
        device: entry.device_id.clone().unwrap_or_default(),
        jkt: entry.jkt.clone().unwrap_or_default(),
        outcome: report["outcome"].as_str().unwrap_or("not evaluated").to_owned(),
        policies: policy_lines(report),
        raw: serde_json::to_string_pretty(&details).unwrap_or_default(),
        row: SignInRow::new(&entry),
    };
    Ok(console.page(StatusCode::OK, &page))
}

#[derive(Template)]
#[template(path = "console/signals.html")]
struct Signals {
    l: Chrome,
    streams: Vec<StreamRow>,
    events: Vec<(String, String, String, String, u64, u64)>,
    received: Vec<(String, String, String)>,
}

/// `GET /admin/signals`; with htmx, the same page refreshed in place every few seconds.
pub(super) async fn page(console: Console) -> Result<Response, Refused> {
    let store = console.state().store.as_ref();
    let now = console.state().now();
    let streams = store
        .stream_health()
        .await?
        .iter()
        .map(|h| StreamRow::new(h, now))
        .collect();
    let events = store
        .recent_events(25)
        .await?
        .into_iter()
        .map(|e| {
            let short = e.event_type.rsplit('/').next().unwrap_or_default().to_owned();
            (
                e.id.0.to_string(),
                short,
                e.event_type,
                subject_words(&e.subject),
                e.delivered,
                e.pending,
            )
        })
        .collect();
    let received = store
        .received_sets(25)
        .await?
        .into_iter()
        .map(|r| (when(r.received_at.0), r.issuer, r.jti))
        .collect();
    let page = Signals {
        l: console.chrome(Section::Signals),
        streams,
        events,
        received,
    };
    Ok(console.page(StatusCode::OK, &page))
}

/// `POST /admin/signals/streams/{id}` with `status` = `enabled`, `paused` or `disabled`.
pub(super) async fn stream_action(Path(id): Path<String>, post: Post) -> Result<Response, Refused> {
    let status = match post.fields.text("status") {
        "enabled" => StreamStatus::Enabled,
        "paused" => StreamStatus::Paused,
        "disabled" => StreamStatus::Disabled,
        _ => {
            return Ok(message(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Not valid",
                "status must be enabled, paused or disabled",
            ));
        }
    };
    if status == StreamStatus::Disabled {
        post.confirm(
            Section::Signals,
            &format!("/admin/signals/streams/{id}"),
            &format!(
                "Disable stream {id}? Its receiver stops hearing of changes, and events not yet delivered are dropped."
            ),
            "Disable stream",
            "/admin/signals",
        )?;
    }
    let console = &post.console;
    let reason = format!("{} by {} in the console", status.as_str(), console.admin_id());
    match tessera_directory::streams::set_status(
        console.state().store.as_ref(),
        &StreamId(id.clone()),
        status,
        Some(&reason),
        console.state().now(),
    )
    .await
    {
        Ok(()) => Ok(console.redirect(
            "/admin/signals",
            &format!("Stream {id} is now {}.", status.as_str()),
        )),
        Err(tessera_store::StoreError::NotFound(_)) => Ok(message(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no such stream.",
        )),
        Err(e) => Err(e.into()),
    }
}
