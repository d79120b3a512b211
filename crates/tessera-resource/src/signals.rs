//! Continuous access evaluation at the API: a revocation state (a "not before" instant per
//! user, session and device) fed by the IdP's Security Event Tokens, pushed to
//! [`crate::Resource::signals_router`] (RFC 8935) or fetched by [`crate::Resource::spawn_poller`]
//! (RFC 8936). A token that may have been issued at or before its subject's instant is refused.
//!
//! Instants are milliseconds. An event's instant is the last millisecond it may have happened
//! at: Tessera's `tessera_toe_ms`, else the end of the second of `toe` (or of the SET's `iat`);
//! a token's issue time is the first millisecond it may have been issued at: Tessera's
//! `tessera_iat_ms`, else the start of the second of `iat`. So between Tessera's two ends the
//! comparison is exact, and with a transmitter or issuer that states whole seconds a tie in
//! the same second revokes.
//!
//! What moves an instant:
//!
//! | event | subject |
//! |---|---|
//! | CAEP `session-revoked`, `credential-change`, `token-claims-change`; RISC `account-disabled`, `account-purged`, `credential-compromise` | the user; or, when a complex subject names a session or a device, only that session or device |
//! | CAEP `risk-level-change` to the configured level (`HIGH` by default) or above | the user |
//! | CAEP `device-compliance-change` to `not-compliant` | the device |

use std::collections::HashMap;
use std::hash::{BuildHasher as _, Hash as _, Hasher as _};
use std::sync::RwLock;

use serde_json::Value;
use tessera_jose::SubjectId;
use tessera_jose::set::SecurityEventToken;

const CAEP: &str = "https://schemas.openid.net/secevent/caep/event-type/";
const RISC: &str = "https://schemas.openid.net/secevent/risc/event-type/";

/// "Not before" instants by subject (a user, session or device), milliseconds since the epoch.
///
/// Subjects are kept as a 128-bit keyed hash of (kind, id), not as text: a million revoked
/// users take about 50 MB instead of about 130. The key is random per process, so nobody can
/// aim for a collision; an accidental one (about 2^-128 per pair) would refuse a token, never
/// accept one.
#[derive(Debug)]
pub struct Revocations {
    instants: RwLock<HashMap<[u64; 2], i64>>,
    seed: std::hash::RandomState,
    risk_threshold: u8,
}

impl Default for Revocations {
    fn default() -> Self {
        Self::with_risk_threshold("HIGH")
    }
}

/// CAEP risk levels in order; an unknown level ranks nowhere.
fn risk_rank(level: &str) -> Option<u8> {
    match level {
        "LOW" => Some(1),
        "MEDIUM" => Some(2),
        "HIGH" => Some(3),
        _ => None,
    }
}

impl Revocations {
    /// An empty state in which a `risk-level-change` to `level` or above (`LOW`, `MEDIUM`,
    /// `HIGH`; anything else means `HIGH`) revokes the user.
    #[must_use]
    pub fn with_risk_threshold(level: &str) -> Self {
        Self {
            instants: RwLock::default(),
            seed: std::hash::RandomState::new(),
            risk_threshold: risk_rank(level).unwrap_or(3),
        }
    }

    /// The key of a subject: two independent 64-bit keyed hashes of (kind, id).
    fn key(&self, kind: &str, id: &str) -> [u64; 2] {
        let half = |salt: u8| {
            let mut h = self.seed.build_hasher();
            h.write_u8(salt);
            kind.hash(&mut h);
            id.hash(&mut h);
            h.finish()
        };
        [half(0), half(1)]
    }

    /// Raises a subject's instant to `at`, milliseconds since the epoch (never lowers it).
    pub fn revoke(&self, kind: &str, id: &str, at: i64) {
        let key = self.key(kind, id);
        if let Ok(mut m) = self.instants.write() {
            let e = m.entry(key).or_insert(at);
            *e = (*e).max(at);
        }
    }

    /// The latest instant among a token's subjects, if any was revoked.
    #[must_use]
    pub fn not_before(&self, user: &str, session: Option<&str>, device: Option<&str>) -> Option<i64> {
        let keys = [
            Some(self.key("user", user)),
            session.map(|s| self.key("session", s)),
            device.map(|d| self.key("device", d)),
        ];
        let m = self.instants.read().ok()?;
        keys.into_iter()
            .flatten()
            .filter_map(|k| m.get(&k).copied())
            .max()
    }

    /// How many subjects have an instant.
    #[must_use]
    pub fn len(&self) -> usize {
        self.instants.read().map_or(0, |m| m.len())
    }

    /// Whether none has.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Applies a verified SET from the IdP `issuer`. Returns whether it moved an instant.
    pub fn apply(&self, issuer: &str, set: &SecurityEventToken) -> bool {
        let at = set.latest_event_instant().0;
        let event = set.events.event_type.as_str();
        let payload = &set.events.payload;
        let name = event
            .strip_prefix(CAEP)
            .or_else(|| event.strip_prefix(RISC))
            .unwrap_or("");
        let whole_subject = match name {
            "session-revoked"
            | "credential-change"
            | "token-claims-change"
            | "account-disabled"
            | "account-purged"
            | "credential-compromise" => true,
            "risk-level-change" => payload
                .get("current_level")
                .and_then(Value::as_str)
                .and_then(risk_rank)
                .is_some_and(|r| r >= self.risk_threshold),
            "device-compliance-change" => {
                if payload.get("current_status").and_then(Value::as_str) != Some("not-compliant") {
                    return false;
                }
                // Only the device's tokens: the user may carry on from another device.
                return match &set.sub_id {
                    SubjectId::Complex(c) => match c.device.as_deref() {
                        Some(SubjectId::Opaque { id }) => {
                            self.revoke("device", id, at);
                            true
                        }
                        _ => false,
                    },
                    _ => false,
                };
            }
            _ => false,
        };
        if !whole_subject {
            return false;
        }
        let mut moved = false;
        let mut revoke = |kind: &str, id: &str| {
            self.revoke(kind, id, at);
            moved = true;
        };
        match &set.sub_id {
            SubjectId::IssSub { iss, sub } if iss == issuer => revoke("user", sub),
            // About a session or a device of a user: only that session's or device's tokens.
            SubjectId::Complex(c) => {
                let session = match c.session.as_deref() {
                    Some(SubjectId::Opaque { id }) => Some(id),
                    _ => None,
                };
                let device = match c.device.as_deref() {
                    Some(SubjectId::Opaque { id }) => Some(id),
                    _ => None,
                };
                if let Some(id) = session {
                    revoke("session", id);
                }
                if let Some(id) = device {
                    revoke("device", id);
                }
                if session.is_none()
                    && device.is_none()
                    && let Some(SubjectId::IssSub { iss, sub }) = c.user.as_deref()
                    && iss == issuer
                {
                    revoke("user", sub);
                }
            }
            _ => {}
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tessera_jose::set::{Event, SecurityEventToken};
    use tessera_jose::subject::ComplexSubject;
    use tessera_jose::{SubjectId, UnixTime};

    use super::{CAEP, RISC, Revocations};

    const IDP: &str = "https://idp.example";

    fn set(event: &str, payload: serde_json::Value, sub_id: SubjectId) -> SecurityEventToken {
        SecurityEventToken {
            iss: IDP.into(),
            aud: tessera_jose::jwt::Audience::One("api".into()),
            iat: UnixTime(2000),
            jti: "j".into(),
            sub_id,
            events: Event {
                event_type: event.into(),
                payload: payload.as_object().unwrap().clone(),
            },
            txn: None,
            toe: Some(UnixTime(1000)),
            toe_ms: None,
        }
    }

    fn user(sub: &str) -> SubjectId {
        SubjectId::iss_sub(IDP, sub)
    }

    #[test]
    fn events_move_the_right_instants() {
        let r = Revocations::default();
        let cases = [
            (format!("{RISC}account-disabled"), json!({}), user("u1"), true),
            (format!("{CAEP}session-revoked"), json!({}), user("u2"), true),
            (
                format!("{CAEP}credential-change"),
                json!({"credential_type": "password", "change_type": "update"}),
                user("u3"),
                true,
            ),
            (
                format!("{CAEP}risk-level-change"),
                json!({"principal": "USER", "current_level": "MEDIUM"}),
                user("u4"),
                false,
            ),
            (
                format!("{CAEP}risk-level-change"),
                json!({"principal": "USER", "current_level": "HIGH"}),
                user("u5"),
                true,
            ),
            (format!("{RISC}account-enabled"), json!({}), user("u6"), false),
            (
                format!("{RISC}account-disabled"),
                json!({}),
                SubjectId::iss_sub("https://other.example", "u7"),
                false,
            ),
        ];
        for (event, payload, subject, moves) in cases {
            assert_eq!(r.apply(IDP, &set(&event, payload, subject)), moves, "{event}");
        }
        assert_eq!(
            r.not_before("u1", None, None),
            Some(1_000_999),
            "the end of the event's second, not the SET's"
        );
        assert_eq!(r.not_before("u4", None, None), None);
        assert_eq!(
            r.not_before("u7", None, None),
            None,
            "another issuer's user is not ours"
        );

        // A device turning non-compliant revokes that device's tokens only.
        let device = SubjectId::Complex(ComplexSubject {
            user: Some(Box::new(user("u8"))),
            device: Some(Box::new(SubjectId::opaque("dev-1"))),
            ..ComplexSubject::default()
        });
        let change = format!("{CAEP}device-compliance-change");
        assert!(r.apply(
            IDP,
            &set(
                &change,
                json!({"previous_status": "compliant", "current_status": "not-compliant"}),
                device.clone()
            )
        ));
        assert_eq!(r.not_before("u8", None, None), None);
        assert_eq!(r.not_before("u8", None, Some("dev-1")), Some(1_000_999));
        assert!(!r.apply(
            IDP,
            &set(
                &change,
                json!({"previous_status": "not-compliant", "current_status": "compliant"}),
                device
            )
        ));

        // A device disabled at the IdP: session-revoked about the device ends only its tokens.
        let laptop = SubjectId::Complex(ComplexSubject {
            user: Some(Box::new(user("u9"))),
            device: Some(Box::new(SubjectId::opaque("dev-2"))),
            ..ComplexSubject::default()
        });
        assert!(r.apply(IDP, &set(&format!("{CAEP}session-revoked"), json!({}), laptop)));
        assert_eq!(r.not_before("u9", None, None), None);
        assert_eq!(r.not_before("u9", None, Some("dev-2")), Some(1_000_999));

        // The threshold is configurable.
        let strict = Revocations::with_risk_threshold("MEDIUM");
        let medium = json!({"principal": "USER", "current_level": "MEDIUM"});
        assert!(strict.apply(IDP, &set(&format!("{CAEP}risk-level-change"), medium, user("u4"))));

        // Instants only rise.
        r.revoke("user", "u1", 500);
        assert_eq!(r.not_before("u1", None, None), Some(1_000_999));
        r.revoke("user", "u1", 1_001_500);
        assert_eq!(r.not_before("u1", None, None), Some(1_001_500));
    }

    #[test]
    fn a_millisecond_instant_is_taken_as_it_is() {
        let r = Revocations::default();
        let mut exact = set(&format!("{RISC}account-disabled"), json!({}), user("u1"));
        exact.toe_ms = Some(tessera_jose::Timestamp(1_000_250));
        assert!(r.apply(IDP, &exact));
        assert_eq!(r.not_before("u1", None, None), Some(1_000_250));

        let mut no_toe = set(&format!("{RISC}account-disabled"), json!({}), user("u2"));
        no_toe.toe = None;
        assert!(r.apply(IDP, &no_toe));
        assert_eq!(
            r.not_before("u2", None, None),
            Some(2_000_999),
            "the SET's second"
        );
    }
}
