//! CAEP 1.0, RISC 1.0 and SSF 1.0 events as typed values.
//!
//! [`SecurityEvent::to_set_event`] turns one into the `events` member of a SET;
//! [`SecurityEvent::from_set_event`] reads one back, checking the members each event type
//! requires. Event types Tessera does not know are kept as [`SecurityEvent::Other`]: a receiver
//! acknowledges and ignores them rather than failing the SET.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tessera_jose::set::Event as SetEvent;

/// The CAEP event-type URI prefix.
pub const CAEP: &str = "https://schemas.openid.net/secevent/caep/event-type/";
/// The RISC event-type URI prefix.
pub const RISC: &str = "https://schemas.openid.net/secevent/risc/event-type/";
/// The SSF event-type URI prefix.
pub const SSF: &str = "https://schemas.openid.net/secevent/ssf/event-type/";

/// Who or what started the change (CAEP `initiating_entity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InitiatingEntity {
    /// An administrator.
    Admin,
    /// The user.
    User,
    /// A policy.
    Policy,
    /// The system.
    System,
}

/// Members every CAEP event may carry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Common {
    /// When the event happened (seconds since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_timestamp: Option<i64>,
    /// Who started it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiating_entity: Option<InitiatingEntity>,
    /// A reason for administrators, by language tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_admin: Option<BTreeMap<String, String>>,
    /// A reason for the user, by language tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_user: Option<BTreeMap<String, String>>,
}

/// What `session-established` and `session-presented` may say about the session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionDetails {
    /// The user's addresses as the transmitter saw them (RFC 4001 text form).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<String>,
    /// A fingerprint of the user agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fp_ua: Option<String>,
    /// The session's authentication context class (`session-established`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// The session's authentication methods (`session-established`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// The transmitter's own identifier for the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext_id: Option<String>,
}

/// CAEP `credential_type` values (others are allowed and kept as written).
pub mod credential_type {
    /// A password.
    pub const PASSWORD: &str = "password";
    /// A PIN.
    pub const PIN: &str = "pin";
    /// An X.509 certificate.
    pub const X509: &str = "x509";
    /// A platform authenticator (passkey on the device).
    pub const FIDO2_PLATFORM: &str = "fido2-platform";
    /// A roaming authenticator (security key).
    pub const FIDO2_ROAMING: &str = "fido2-roaming";
    /// A U2F key.
    pub const FIDO_U2F: &str = "fido-u2f";
    /// A verifiable credential.
    pub const VERIFIABLE_CREDENTIAL: &str = "verifiable-credential";
    /// Phone call.
    pub const PHONE_VOICE: &str = "phone-voice";
    /// Text message.
    pub const PHONE_SMS: &str = "phone-sms";
    /// An authenticator app (TOTP).
    pub const APP: &str = "app";
}

/// What happened to a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeType {
    /// Created.
    Create,
    /// Revoked.
    Revoke,
    /// Updated (a password change).
    Update,
    /// Deleted.
    Delete,
}

/// A device's compliance, as CAEP writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ComplianceStatus {
    /// Compliant.
    Compliant,
    /// Not compliant.
    NotCompliant,
}

/// A risk level, as CAEP writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RiskLevel {
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
}

/// Which way an assurance level moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Up.
    Increase,
    /// Down.
    Decrease,
}

/// RISC `account-disabled` reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DisabledReason {
    /// The account was taken over.
    Hijacking,
    /// Created in bulk (spam, fraud).
    BulkAccount,
}

/// A security event.
#[derive(Debug, Clone, PartialEq)]
pub enum SecurityEvent {
    /// CAEP `session-revoked`.
    SessionRevoked(Common),
    /// CAEP `token-claims-change`: `claims` holds the changed claims and their new values.
    TokenClaimsChange {
        /// Common members.
        common: Common,
        /// The claims that changed.
        claims: Map<String, Value>,
    },
    /// CAEP `credential-change`.
    CredentialChange {
        /// Common members.
        common: Common,
        /// See [`credential_type`].
        credential_type: String,
        /// What happened.
        change_type: ChangeType,
        /// A name for the credential.
        friendly_name: Option<String>,
    },
    /// CAEP `assurance-level-change`.
    AssuranceLevelChange {
        /// Common members.
        common: Common,
        /// `RFC8176`, `RFC6711`, `ISO-IEC-29115`, `NIST-IAL`, `NIST-AAL`, `NIST-FAL`, …
        namespace: String,
        /// The level now.
        current_level: String,
        /// The level before.
        previous_level: Option<String>,
        /// Up or down.
        change_direction: Option<Direction>,
    },
    /// CAEP `device-compliance-change`.
    DeviceComplianceChange {
        /// Common members.
        common: Common,
        /// Before.
        previous_status: ComplianceStatus,
        /// Now.
        current_status: ComplianceStatus,
    },
    /// CAEP `risk-level-change`.
    RiskLevelChange {
        /// Common members.
        common: Common,
        /// Whose risk: `USER`, `DEVICE`, `SESSION`, …
        principal: String,
        /// The level now.
        current_level: RiskLevel,
        /// The level before.
        previous_level: Option<RiskLevel>,
        /// Why.
        risk_reason: Option<String>,
    },
    /// CAEP `session-established`.
    SessionEstablished {
        /// Common members.
        common: Common,
        /// What the transmitter saw of the session.
        session: SessionDetails,
    },
    /// CAEP `session-presented`: the session was seen at the transmitter (for example an API
    /// seeing a token used from an address outside the policy's locations).
    SessionPresented {
        /// Common members.
        common: Common,
        /// What the transmitter saw of the session.
        session: SessionDetails,
    },
    /// RISC `account-disabled`.
    AccountDisabled {
        /// Why, when known.
        reason: Option<DisabledReason>,
    },
    /// RISC `account-enabled`.
    AccountEnabled,
    /// RISC `account-purged`.
    AccountPurged,
    /// RISC `account-credential-change-required`.
    AccountCredentialChangeRequired,
    /// RISC `credential-compromise`.
    CredentialCompromise {
        /// See [`credential_type`].
        credential_type: String,
    },
    /// RISC `identifier-changed`.
    IdentifierChanged {
        /// The new identifier, when shared.
        new_value: Option<String>,
    },
    /// RISC `identifier-recycled`.
    IdentifierRecycled,
    /// RISC `recovery-activated`.
    RecoveryActivated,
    /// RISC `recovery-information-changed`.
    RecoveryInformationChanged,
    /// SSF `verification`, echoing the receiver's `state`.
    Verification {
        /// The receiver's opaque state.
        state: Option<String>,
    },
    /// SSF `stream-updated`.
    StreamUpdated {
        /// `enabled`, `paused` or `disabled`.
        status: String,
        /// Why.
        reason: Option<String>,
    },
    /// An event type Tessera does not know.
    Other(SetEvent),
}

/// An event that breaks its type's rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {event_type} event: {message}")]
pub struct EventError {
    /// The event type URI.
    pub event_type: String,
    /// What is wrong.
    pub message: String,
}

#[derive(Deserialize)]
struct WithCommon<T> {
    #[serde(flatten)]
    common: Common,
    #[serde(flatten)]
    rest: T,
}

/// `message` (serde's), with the member at fault named when serde did not: serde names missing
/// members, but says of a bad value only what it is (`unknown variant "bogus"`).
fn name_the_member(payload: &Map<String, Value>, message: String) -> String {
    if payload.keys().any(|k| message.contains(&format!("`{k}`"))) {
        return message;
    }
    let culprit = payload.iter().find(|(_, v)| {
        let shown = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        !shown.is_empty() && message.contains(&shown)
    });
    match culprit {
        Some((name, _)) => format!("member `{name}`: {message}"),
        None => message,
    }
}

/// The names of every CAEP, RISC and SSF event type this crate knows, under their prefixes.
const KNOWN: [(&str, &str); 19] = [
    (CAEP, "session-revoked"),
    (CAEP, "token-claims-change"),
    (CAEP, "credential-change"),
    (CAEP, "assurance-level-change"),
    (CAEP, "device-compliance-change"),
    (CAEP, "risk-level-change"),
    (CAEP, "session-established"),
    (CAEP, "session-presented"),
    (RISC, "account-disabled"),
    (RISC, "account-enabled"),
    (RISC, "account-purged"),
    (RISC, "account-credential-change-required"),
    (RISC, "credential-compromise"),
    (RISC, "identifier-changed"),
    (RISC, "identifier-recycled"),
    (RISC, "recovery-activated"),
    (RISC, "recovery-information-changed"),
    (SSF, "verification"),
    (SSF, "stream-updated"),
];

impl SecurityEvent {
    /// The short name of the event type `uri` (`session-revoked`), when it is one this crate
    /// knows.
    #[must_use]
    pub fn known_type(uri: &str) -> Option<&'static str> {
        KNOWN
            .iter()
            .find(|(prefix, name)| uri.strip_prefix(prefix) == Some(name))
            .map(|(_, name)| *name)
    }

    /// The event type URI.
    #[must_use]
    pub fn event_type(&self) -> String {
        let (prefix, name) = match self {
            Self::SessionRevoked(_) => (CAEP, "session-revoked"),
            Self::TokenClaimsChange { .. } => (CAEP, "token-claims-change"),
            Self::CredentialChange { .. } => (CAEP, "credential-change"),
            Self::AssuranceLevelChange { .. } => (CAEP, "assurance-level-change"),
            Self::DeviceComplianceChange { .. } => (CAEP, "device-compliance-change"),
            Self::RiskLevelChange { .. } => (CAEP, "risk-level-change"),
            Self::SessionEstablished { .. } => (CAEP, "session-established"),
            Self::SessionPresented { .. } => (CAEP, "session-presented"),
            Self::AccountDisabled { .. } => (RISC, "account-disabled"),
            Self::AccountEnabled => (RISC, "account-enabled"),
            Self::AccountPurged => (RISC, "account-purged"),
            Self::AccountCredentialChangeRequired => (RISC, "account-credential-change-required"),
            Self::CredentialCompromise { .. } => (RISC, "credential-compromise"),
            Self::IdentifierChanged { .. } => (RISC, "identifier-changed"),
            Self::IdentifierRecycled => (RISC, "identifier-recycled"),
            Self::RecoveryActivated => (RISC, "recovery-activated"),
            Self::RecoveryInformationChanged => (RISC, "recovery-information-changed"),
            Self::Verification { .. } => (SSF, "verification"),
            Self::StreamUpdated { .. } => (SSF, "stream-updated"),
            Self::Other(e) => return e.event_type.clone(),
        };
        format!("{prefix}{name}")
    }

    /// The event as a SET's single event.
    #[must_use]
    pub fn to_set_event(&self) -> SetEvent {
        let mut payload = Map::new();
        let mut common = |c: &Common| {
            if let Ok(Value::Object(m)) = serde_json::to_value(c) {
                payload.extend(m);
            }
        };
        match self {
            Self::SessionRevoked(c) => common(c),
            Self::SessionEstablished { common: c, .. } | Self::SessionPresented { common: c, .. } => {
                common(c)
            }
            Self::TokenClaimsChange { common: c, .. }
            | Self::CredentialChange { common: c, .. }
            | Self::AssuranceLevelChange { common: c, .. }
            | Self::DeviceComplianceChange { common: c, .. }
            | Self::RiskLevelChange { common: c, .. } => common(c),
            Self::Other(e) => return e.clone(),
            _ => {}
        }
        let mut put = |k: &str, v: Value| {
            if !v.is_null() {
                payload.insert(k.to_owned(), v);
            }
        };
        let json = |v: &dyn erased::Ser| v.value();
        match self {
            Self::SessionEstablished { session, .. } | Self::SessionPresented { session, .. } => {
                if let Ok(Value::Object(m)) = serde_json::to_value(session) {
                    for (k, v) in m {
                        put(&k, v);
                    }
                }
            }
            Self::TokenClaimsChange { claims, .. } => put("claims", Value::Object(claims.clone())),
            Self::CredentialChange {
                credential_type,
                change_type,
                friendly_name,
                ..
            } => {
                put("credential_type", json(credential_type));
                put("change_type", json(change_type));
                put("friendly_name", json(friendly_name));
            }
            Self::AssuranceLevelChange {
                namespace,
                current_level,
                previous_level,
                change_direction,
                ..
            } => {
                put("namespace", json(namespace));
                put("current_level", json(current_level));
                put("previous_level", json(previous_level));
                put("change_direction", json(change_direction));
            }
            Self::DeviceComplianceChange {
                previous_status,
                current_status,
                ..
            } => {
                put("previous_status", json(previous_status));
                put("current_status", json(current_status));
            }
            Self::RiskLevelChange {
                principal,
                current_level,
                previous_level,
                risk_reason,
                ..
            } => {
                put("principal", json(principal));
                put("current_level", json(current_level));
                put("previous_level", json(previous_level));
                put("risk_reason", json(risk_reason));
            }
            Self::AccountDisabled { reason } => put("reason", json(reason)),
            Self::CredentialCompromise { credential_type } => put("credential_type", json(credential_type)),
            Self::IdentifierChanged { new_value } => put("new-value", json(new_value)),
            Self::Verification { state } => put("state", json(state)),
            Self::StreamUpdated { status, reason } => {
                put("status", json(status));
                put("reason", json(reason));
            }
            _ => {}
        }
        SetEvent {
            event_type: self.event_type(),
            payload,
        }
    }

    /// Reads a SET's event, checking the members its type requires.
    ///
    /// # Errors
    /// [`EventError`] when a required member is missing or a member has the wrong type.
    pub fn from_set_event(event: &SetEvent) -> Result<Self, EventError> {
        let t = event.event_type.as_str();
        let payload = Value::Object(event.payload.clone());
        let err = |e: serde_json::Error| EventError {
            event_type: t.to_owned(),
            message: name_the_member(&event.payload, e.to_string()),
        };
        fn parse<T: for<'de> Deserialize<'de>>(v: &Value) -> Result<(Common, T), serde_json::Error> {
            let w: WithCommon<T> = serde_json::from_value(v.clone())?;
            Ok((w.common, w.rest))
        }
        #[derive(Deserialize)]
        struct Empty {}
        #[derive(Deserialize)]
        struct Claims {
            claims: Map<String, Value>,
        }
        #[derive(Deserialize)]
        struct Credential {
            credential_type: String,
            change_type: ChangeType,
            friendly_name: Option<String>,
        }
        #[derive(Deserialize)]
        struct Assurance {
            namespace: String,
            current_level: String,
            previous_level: Option<String>,
            change_direction: Option<Direction>,
        }
        #[derive(Deserialize)]
        struct Compliance {
            previous_status: ComplianceStatus,
            current_status: ComplianceStatus,
        }
        #[derive(Deserialize)]
        struct Risk {
            principal: String,
            current_level: RiskLevel,
            previous_level: Option<RiskLevel>,
            risk_reason: Option<String>,
        }
        #[derive(Deserialize)]
        struct Disabled {
            reason: Option<DisabledReason>,
        }
        #[derive(Deserialize)]
        struct Compromise {
            credential_type: String,
        }
        #[derive(Deserialize)]
        struct Identifier {
            #[serde(rename = "new-value")]
            new_value: Option<String>,
        }
        #[derive(Deserialize)]
        struct Verification {
            state: Option<String>,
        }
        #[derive(Deserialize)]
        struct Updated {
            status: String,
            reason: Option<String>,
        }
        let name = t
            .strip_prefix(CAEP)
            .map(|n| ("caep", n))
            .or_else(|| t.strip_prefix(RISC).map(|n| ("risc", n)));
        let name = name.or_else(|| t.strip_prefix(SSF).map(|n| ("ssf", n)));
        Ok(match name {
            Some(("caep", "session-revoked")) => {
                Self::SessionRevoked(parse::<Empty>(&payload).map_err(err)?.0)
            }
            Some(("caep", "session-established")) => {
                let (common, session) = parse::<SessionDetails>(&payload).map_err(err)?;
                Self::SessionEstablished { common, session }
            }
            Some(("caep", "session-presented")) => {
                let (common, session) = parse::<SessionDetails>(&payload).map_err(err)?;
                Self::SessionPresented { common, session }
            }
            Some(("caep", "token-claims-change")) => {
                let (common, c) = parse::<Claims>(&payload).map_err(err)?;
                Self::TokenClaimsChange {
                    common,
                    claims: c.claims,
                }
            }
            Some(("caep", "credential-change")) => {
                let (common, c) = parse::<Credential>(&payload).map_err(err)?;
                Self::CredentialChange {
                    common,
                    credential_type: c.credential_type,
                    change_type: c.change_type,
                    friendly_name: c.friendly_name,
                }
            }
            Some(("caep", "assurance-level-change")) => {
                let (common, a) = parse::<Assurance>(&payload).map_err(err)?;
                Self::AssuranceLevelChange {
                    common,
                    namespace: a.namespace,
                    current_level: a.current_level,
                    previous_level: a.previous_level,
                    change_direction: a.change_direction,
                }
            }
            Some(("caep", "device-compliance-change")) => {
                let (common, c) = parse::<Compliance>(&payload).map_err(err)?;
                Self::DeviceComplianceChange {
                    common,
                    previous_status: c.previous_status,
                    current_status: c.current_status,
                }
            }
            Some(("caep", "risk-level-change")) => {
                let (common, r) = parse::<Risk>(&payload).map_err(err)?;
                Self::RiskLevelChange {
                    common,
                    principal: r.principal,
                    current_level: r.current_level,
                    previous_level: r.previous_level,
                    risk_reason: r.risk_reason,
                }
            }
            Some(("risc", "account-disabled")) => Self::AccountDisabled {
                reason: parse::<Disabled>(&payload).map_err(err)?.1.reason,
            },
            Some(("risc", "account-enabled")) => Self::AccountEnabled,
            Some(("risc", "account-purged")) => Self::AccountPurged,
            Some(("risc", "account-credential-change-required")) => Self::AccountCredentialChangeRequired,
            Some(("risc", "credential-compromise")) => Self::CredentialCompromise {
                credential_type: parse::<Compromise>(&payload).map_err(err)?.1.credential_type,
            },
            Some(("risc", "identifier-changed")) => Self::IdentifierChanged {
                new_value: parse::<Identifier>(&payload).map_err(err)?.1.new_value,
            },
            Some(("risc", "identifier-recycled")) => Self::IdentifierRecycled,
            Some(("risc", "recovery-activated")) => Self::RecoveryActivated,
            Some(("risc", "recovery-information-changed")) => Self::RecoveryInformationChanged,
            Some(("ssf", "verification")) => Self::Verification {
                state: parse::<Verification>(&payload).map_err(err)?.1.state,
            },
            Some(("ssf", "stream-updated")) => {
                let u = parse::<Updated>(&payload).map_err(err)?.1;
                if !matches!(u.status.as_str(), "enabled" | "paused" | "disabled") {
                    return Err(EventError {
                        event_type: t.to_owned(),
                        message: format!("unknown status {:?}", u.status),
                    });
                }
                Self::StreamUpdated {
                    status: u.status,
                    reason: u.reason,
                }
            }
            _ => Self::Other(event.clone()),
        })
    }
}

/// Serialising a member to JSON without naming its type at each call site.
mod erased {
    pub trait Ser {
        fn value(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize> Ser for T {
        fn value(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
        }
    }
}
