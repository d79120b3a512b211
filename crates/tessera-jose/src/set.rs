//! Security Event Tokens (RFC 8417) as the OpenID Shared Signals Framework 1.0 profiles them:
//! `typ` `secevent+jwt`; `iss`, `aud`, `iat`, `jti` and `sub_id` present; exactly one event in
//! `events`; no `sub` and no `exp`; optional `txn` and `toe` (and Tessera's `tessera_toe_ms`).
//!
//! [`SecurityEventToken::sign`] builds one; [`validate`] checks one received from a transmitter
//! and returns it typed. [`SetError::rfc8935_code`] gives the `err` a push receiver answers with.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::clock::{Clock, Timestamp, UnixTime};
use crate::jws::{self, JwsError};
use crate::jwt::{self, Audience, JwtError, TokenKind, Validation};
use crate::keyset::KeySet;
use crate::signing::{KeyError, SigningKey};
use crate::subject::{SubjectError, SubjectId};

/// A Security Event Token with its single event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecurityEventToken {
    /// The transmitter.
    pub iss: String,
    /// The receiver(s).
    pub aud: Audience,
    /// When the SET was issued.
    pub iat: UnixTime,
    /// The SET's unique id; receivers deduplicate on it.
    pub jti: String,
    /// The subject of the event.
    pub sub_id: SubjectId,
    /// The event: its type URI and its payload object.
    #[serde(with = "single_event")]
    pub events: Event,
    /// A transaction id tying related SETs together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub txn: Option<String>,
    /// When the event happened (SSF `toe`), if the transmitter states it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toe: Option<UnixTime>,
    /// When the event happened to the millisecond (`tessera_toe_ms`, a Tessera extension:
    /// `toe` is whole seconds, too coarse to tell a revocation from a sign-in in the same
    /// second). Receivers that do not know it ignore it, as RFC 8417 §2.2 lets them.
    #[serde(default, rename = "tessera_toe_ms", skip_serializing_if = "Option::is_none")]
    pub toe_ms: Option<Timestamp>,
}

impl SecurityEventToken {
    /// The last instant the event may have happened at: `tessera_toe_ms` when given, else the
    /// last millisecond of `toe`'s second (or of `iat`'s), so that anything issued in that
    /// second counts as issued before it.
    #[must_use]
    pub fn latest_event_instant(&self) -> Timestamp {
        self.toe_ms
            .unwrap_or_else(|| Timestamp::from(self.toe.unwrap_or(self.iat)).plus_ms(999))
    }
}

/// One event: type URI and payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The event type URI, e.g. `https://schemas.openid.net/secevent/caep/event-type/session-revoked`.
    pub event_type: String,
    /// The event's members (an object; may be empty).
    pub payload: Map<String, Value>,
}

mod single_event {
    use super::{Event, Map, Value};
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(event: &Event, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry(&event.event_type, &event.payload)?;
        map.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Event, D::Error> {
        let map = Map::<String, Value>::deserialize(d)?;
        if map.len() != 1 {
            return Err(D::Error::custom("events must contain exactly one event"));
        }
        let Some((event_type, payload)) = map.into_iter().next() else {
            return Err(D::Error::custom("events must contain exactly one event"));
        };
        match payload {
            Value::Object(payload) => Ok(Event { event_type, payload }),
            _ => Err(D::Error::custom("an event's payload must be an object")),
        }
    }
}

/// Why a SET was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetError {
    /// The JWT layer refused it (format, typ, key, signature, issuer, audience, time).
    #[error(transparent)]
    Jwt(#[from] JwtError),
    /// `sub` is present; SSF uses `sub_id`.
    #[error("a SET must not carry sub; use sub_id")]
    HasSub,
    /// `exp` is present; SETs do not expire.
    #[error("a SET must not carry exp")]
    HasExp,
    /// The claims do not form a SET (missing `sub_id`, not exactly one event, …).
    #[error("malformed SET: {0}")]
    Malformed(String),
    /// `sub_id` breaks its format's rules.
    #[error(transparent)]
    Subject(#[from] SubjectError),
}

impl SetError {
    /// The RFC 8935 §2.3 / RFC 8936 error code for this failure.
    #[must_use]
    pub fn rfc8935_code(&self) -> &'static str {
        match self {
            Self::Jwt(JwtError::WrongIssuer(_)) => "invalid_issuer",
            Self::Jwt(JwtError::WrongAudience(_)) => "invalid_audience",
            Self::Jwt(JwtError::Jws(
                JwsError::UnknownKey(_) | JwsError::BadSignature | JwsError::AlgorithmNotAllowedForKey(_),
            )) => "invalid_key",
            _ => "invalid_request",
        }
    }
}

impl SecurityEventToken {
    /// Signs the SET with `typ: secevent+jwt`.
    ///
    /// # Errors
    /// [`KeyError`] when signing fails.
    pub fn sign(&self, key: &SigningKey) -> Result<String, KeyError> {
        jws::sign(key, TokenKind::SecurityEvent.typ(), self)
    }
}

/// What a receiver expects of the SETs it accepts.
#[derive(Debug, Clone)]
pub struct SetValidation {
    /// The transmitter's issuer.
    pub issuer: String,
    /// This receiver's audience.
    pub audience: String,
    /// Clock-skew tolerance for `iat`, in seconds.
    pub leeway: u64,
}

/// Verifies and parses a SET received from a transmitter whose keys are `keys`.
///
/// # Errors
/// [`SetError`]; its [`SetError::rfc8935_code`] is the error to report to the transmitter.
pub fn validate(
    token: &str,
    keys: &KeySet,
    rules: &SetValidation,
    clock: &dyn Clock,
) -> Result<SecurityEventToken, SetError> {
    let mut jwt_rules = Validation::new(TokenKind::SecurityEvent, &rules.issuer, &rules.audience);
    jwt_rules.leeway = rules.leeway;
    let verified = jwt::verify(token, keys, &jwt_rules, clock)?;
    if verified.registered.sub.is_some() {
        return Err(SetError::HasSub);
    }
    if verified.registered.exp.is_some() {
        return Err(SetError::HasExp);
    }
    let set: SecurityEventToken =
        serde_json::from_slice(verified.payload()).map_err(|e| SetError::Malformed(e.to_string()))?;
    if set.jti.is_empty() {
        return Err(SetError::Malformed("jti must not be empty".into()));
    }
    set.sub_id.validate()?;
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alg::Algorithm;
    use crate::clock::ManualClock;

    const REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";

    fn sample() -> SecurityEventToken {
        SecurityEventToken {
            iss: "https://idp.example.com/".into(),
            aud: Audience::One("https://api.example.com/".into()),
            iat: UnixTime(1_700_000_000),
            jti: "756E69717565206964656E746966696572".into(),
            sub_id: SubjectId::iss_sub("https://idp.example.com/", "alice"),
            events: Event {
                event_type: REVOKED.into(),
                payload: serde_json::json!({"initiating_entity": "policy", "event_timestamp": 1_700_000_000})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            },
            txn: Some("8675309".into()),
            toe: None,
            toe_ms: None,
        }
    }

    #[test]
    fn sign_and_validate_round_trip() {
        let key = SigningKey::generate(Algorithm::Es256).unwrap();
        let keys = KeySet::new(vec![key.public_jwk().clone()]);
        let set = sample();
        let token = set.sign(&key).unwrap();
        let rules = SetValidation {
            issuer: set.iss.clone(),
            audience: "https://api.example.com/".into(),
            leeway: 30,
        };
        let clock = ManualClock::new(UnixTime(1_700_000_100));
        assert_eq!(validate(&token, &keys, &rules, &clock).unwrap(), set);
        let header = jws::decode(&token).unwrap();
        assert_eq!(header.header().typ.as_deref(), Some("secevent+jwt"));
    }

    #[test]
    fn error_codes_follow_rfc8935() {
        assert_eq!(
            SetError::Jwt(JwtError::WrongIssuer("x".into())).rfc8935_code(),
            "invalid_issuer"
        );
        assert_eq!(
            SetError::Jwt(JwtError::WrongAudience("x".into())).rfc8935_code(),
            "invalid_audience"
        );
        assert_eq!(
            SetError::Jwt(JwtError::Jws(JwsError::BadSignature)).rfc8935_code(),
            "invalid_key"
        );
        assert_eq!(SetError::HasSub.rfc8935_code(), "invalid_request");
    }
}
