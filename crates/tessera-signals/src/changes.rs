//! Which events a directory change raises, as code. The server calls [`events_for`] inside the
//! unit of work that makes the change, so each change and its events are committed together.
//!
//! | change | events |
//! |---|---|
//! | account disabled / enabled / deleted | RISC `account-disabled` (reason `hijacking` when taken over) / `account-enabled` / `account-purged` |
//! | password changed or reset | CAEP `credential-change` (`password`, `update`) |
//! | MFA method added / removed | CAEP `credential-change` (`app` or `fido2-platform`, `create` / `delete`) |
//! | sessions revoked | CAEP `session-revoked` |
//! | a refresh token reused or replayed | CAEP `session-revoked` and `risk-level-change` to `HIGH`, both by `policy` |
//! | risk level changed | CAEP `risk-level-change` (a risk cleared to none is reported as `LOW`) |
//! | device compliance changed | CAEP `device-compliance-change` |
//! | group membership or another claim changed | CAEP `token-claims-change` with the new claims |
//!
//! `docs/admin-api.md` gives the same table from the administrator's side (which request makes
//! which change).

use serde_json::{Map, Value};

use crate::events::{
    ChangeType, Common, ComplianceStatus, DisabledReason, InitiatingEntity, RiskLevel, SecurityEvent,
    credential_type,
};

/// A change in the directory that other systems must hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectoryChange {
    /// An administrator (or a signal) disabled the account.
    UserDisabled {
        /// Set when the account was taken over.
        hijacked: bool,
    },
    /// The account was enabled again.
    UserEnabled,
    /// The account was deleted.
    UserDeleted,
    /// The password was changed (by the user) or reset (by an administrator).
    PasswordChanged {
        /// Whether an administrator reset it.
        reset_by_admin: bool,
    },
    /// An MFA method was added.
    MfaAdded {
        /// `totp` or `passkey`.
        kind: MfaKind,
    },
    /// An MFA method was removed.
    MfaRemoved {
        /// `totp` or `passkey`.
        kind: MfaKind,
    },
    /// An administrator revoked all the user's sessions.
    SessionsRevoked,
    /// A refresh-token family was revoked because a token was reused or replayed.
    TokenReplay,
    /// The user's risk level changed (`None` = no risk).
    RiskChanged {
        /// Before.
        from: Option<RiskLevel>,
        /// After.
        to: Option<RiskLevel>,
    },
    /// A device's compliance changed.
    DeviceCompliance {
        /// Before.
        from: ComplianceStatus,
        /// After.
        to: ComplianceStatus,
    },
    /// Group membership (or another claim) changed; the claims with their new values.
    ClaimsChanged(Map<String, Value>),
}

/// The kinds of MFA method, for `credential_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MfaKind {
    /// An authenticator app.
    Totp,
    /// A passkey.
    Passkey,
}

/// The events a change raises, with `event_timestamp` set to `at` (seconds).
#[must_use]
pub fn events_for(change: &DirectoryChange, at: i64, by: InitiatingEntity) -> Vec<SecurityEvent> {
    let common = Common {
        event_timestamp: Some(at),
        initiating_entity: Some(by),
        ..Common::default()
    };
    let credential = |credential_type: &str, change_type| SecurityEvent::CredentialChange {
        common: common.clone(),
        credential_type: credential_type.into(),
        change_type,
        friendly_name: None,
    };
    let mfa = |k: MfaKind| match k {
        MfaKind::Totp => credential_type::APP,
        MfaKind::Passkey => credential_type::FIDO2_PLATFORM,
    };
    match change {
        DirectoryChange::UserDisabled { hijacked } => {
            vec![SecurityEvent::AccountDisabled {
                reason: hijacked.then_some(DisabledReason::Hijacking),
            }]
        }
        DirectoryChange::UserEnabled => vec![SecurityEvent::AccountEnabled],
        DirectoryChange::UserDeleted => vec![SecurityEvent::AccountPurged],
        DirectoryChange::PasswordChanged { .. } => {
            vec![credential(credential_type::PASSWORD, ChangeType::Update)]
        }
        DirectoryChange::MfaAdded { kind } => vec![credential(mfa(*kind), ChangeType::Create)],
        DirectoryChange::MfaRemoved { kind } => vec![credential(mfa(*kind), ChangeType::Delete)],
        DirectoryChange::SessionsRevoked => vec![SecurityEvent::SessionRevoked(common)],
        DirectoryChange::TokenReplay => vec![
            SecurityEvent::SessionRevoked(Common {
                initiating_entity: Some(InitiatingEntity::Policy),
                ..common.clone()
            }),
            SecurityEvent::RiskLevelChange {
                common: Common {
                    initiating_entity: Some(InitiatingEntity::Policy),
                    ..common
                },
                principal: "USER".into(),
                current_level: RiskLevel::High,
                previous_level: None,
                risk_reason: Some("token replay detected".into()),
            },
        ],
        DirectoryChange::RiskChanged { from, to } => match to {
            Some(level) => vec![SecurityEvent::RiskLevelChange {
                common,
                principal: "USER".into(),
                current_level: *level,
                previous_level: *from,
                risk_reason: None,
            }],
            // CAEP has no "none" level: a risk cleared to none is reported as LOW.
            None => vec![SecurityEvent::RiskLevelChange {
                common,
                principal: "USER".into(),
                current_level: RiskLevel::Low,
                previous_level: *from,
                risk_reason: Some("risk cleared".into()),
            }],
        },
        DirectoryChange::DeviceCompliance { from, to } => {
            vec![SecurityEvent::DeviceComplianceChange {
                common,
                previous_status: *from,
                current_status: *to,
            }]
        }
        DirectoryChange::ClaimsChanged(claims) => {
            vec![SecurityEvent::TokenClaimsChange {
                common,
                claims: claims.clone(),
            }]
        }
    }
}
