//! From outbox deliveries to signed SETs: which events a stream receives (the types it asked
//! for, the subjects it carries) and the SET for each.
//!
//! A SET's `jti` is `{event id}.{stream id}`: the same event redelivered to the same stream has
//! the same `jti` (so a receiver applies it once), and an acknowledgement names the delivery it
//! settles without a lookup.

use serde_json::Value;
use tessera_jose::SubjectId;
use tessera_jose::set::{Event, SecurityEventToken};
use tessera_signals::events::SSF;
use tessera_signals::{DefaultSubjects, StreamConfig, stream_wants};
use tessera_store::{ClaimedDelivery, EventId, StreamId, StreamRecord};

use crate::state::AppState;

/// The CAEP and RISC event types Tessera transmits.
pub const EVENTS_SUPPORTED: [&str; 9] = [
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked",
    "https://schemas.openid.net/secevent/caep/event-type/credential-change",
    "https://schemas.openid.net/secevent/caep/event-type/token-claims-change",
    "https://schemas.openid.net/secevent/caep/event-type/device-compliance-change",
    "https://schemas.openid.net/secevent/caep/event-type/risk-level-change",
    "https://schemas.openid.net/secevent/risc/event-type/account-disabled",
    "https://schemas.openid.net/secevent/risc/event-type/account-enabled",
    "https://schemas.openid.net/secevent/risc/event-type/account-purged",
    "https://schemas.openid.net/secevent/risc/event-type/credential-compromise",
];

/// The `jti` of an event's SET on a stream.
#[must_use]
pub fn jti(event: EventId, stream: &StreamId) -> String {
    format!("{}.{}", event.0, stream.0)
}

/// The event a `jti` names, when it is one of `stream`'s.
#[must_use]
pub fn event_of(jti: &str, stream: &StreamId) -> Option<EventId> {
    let (event, of) = jti.split_once('.')?;
    if of != stream.0 {
        return None;
    }
    event.parse().ok().map(EventId)
}

/// A stream as delivery sees it: its configuration and the subjects it carries.
#[derive(Debug, Clone)]
pub struct Audience {
    /// The stream's record.
    pub record: StreamRecord,
    /// Its configuration.
    pub config: StreamConfig,
    /// Subjects the receiver added; empty means the default applies.
    pub subjects: Vec<SubjectId>,
    /// Whether, with no subjects added, every subject is carried.
    pub default: DefaultSubjects,
}

impl Audience {
    /// Loads a stream for delivery.
    ///
    /// # Errors
    /// The store's error; a stream whose configuration no longer parses is
    /// [`tessera_store::StoreError::Corrupt`].
    pub async fn load(state: &AppState, record: StreamRecord) -> Result<Self, tessera_store::StoreError> {
        let config: StreamConfig = serde_json::from_value(record.config.clone())
            .map_err(|e| tessera_store::StoreError::Corrupt(format!("stream {}: {e}", record.id.0)))?;
        let subjects = state
            .store
            .subjects(&record.id)
            .await?
            .into_iter()
            .filter_map(|s| serde_json::from_value(s).ok())
            .collect();
        let default = if state.config.ssf.default_subjects_all() {
            DefaultSubjects::All
        } else {
            DefaultSubjects::None
        };
        Ok(Self {
            record,
            config,
            subjects,
            default,
        })
    }

    /// Whether the stream receives this delivery. SSF's own events (verification,
    /// `stream-updated`) are written for one stream and always delivered.
    #[must_use]
    pub fn wants(&self, d: &ClaimedDelivery) -> bool {
        if d.event_type.starts_with(SSF) {
            return true;
        }
        if !self.config.events_delivered.contains(&d.event_type) {
            return false;
        }
        serde_json::from_value::<SubjectId>(d.subject.clone())
            .is_ok_and(|s| stream_wants(&s, self.default, &self.subjects))
    }

    /// A subject as this stream asked to see it: a user named by issuer and subject (how events
    /// are written) becomes their email address or an opaque id when the stream's `format` says
    /// so, alone or as the `user` of a complex subject. A user without an email address (or
    /// gone) keeps `iss_sub`: the event is never dropped for want of a format.
    async fn in_format(&self, state: &AppState, subject: SubjectId) -> SubjectId {
        let Some(format) = self.config.format.as_deref().filter(|f| *f != "iss_sub") else {
            return subject;
        };
        match subject {
            SubjectId::IssSub { iss, sub } if iss == state.config.issuer => {
                if format == "opaque" {
                    return SubjectId::opaque(sub);
                }
                match state.store.user(&tessera_store::UserId(sub.clone())).await {
                    Ok(tessera_store::User {
                        email: Some(email), ..
                    }) => SubjectId::email(email),
                    _ => SubjectId::IssSub { iss, sub },
                }
            }
            SubjectId::Complex(mut c) => {
                if let Some(user) = c.user.take() {
                    c.user = Some(Box::new(Box::pin(self.in_format(state, *user)).await));
                }
                SubjectId::Complex(c)
            }
            other => other,
        }
    }

    /// The signed SET for a delivery.
    ///
    /// # Errors
    /// When the stored subject is not a subject identifier, or signing fails.
    pub async fn sign(&self, state: &AppState, d: &ClaimedDelivery) -> Result<(String, String), String> {
        let sub_id: SubjectId = serde_json::from_value(d.subject.clone())
            .map_err(|e| format!("event {}: subject: {e}", d.event_id.0))?;
        let sub_id = self.in_format(state, sub_id).await;
        let payload = match &d.payload {
            Value::Object(m) => m.clone(),
            _ => serde_json::Map::new(),
        };
        let jti = jti(d.event_id, &self.record.id);
        let set = SecurityEventToken {
            iss: state.config.issuer.clone(),
            aud: self.config.aud.clone(),
            iat: state.unix_time(),
            jti: jti.clone(),
            sub_id,
            events: Event {
                event_type: d.event_type.clone(),
                payload,
            },
            txn: None,
            toe: Some(d.created_at.unix_time()),
            toe_ms: Some(d.created_at),
        };
        let token = set.sign(state.keys.active()).map_err(|e| e.to_string())?;
        Ok((jti, token))
    }
}
