//! Events: round trips through SET events, required members, and the directory-change table.

use serde_json::{Map, Value, json};
use tessera_jose::set::Event as SetEvent;
use tessera_signals::events::{CAEP, ComplianceStatus, RISC, RiskLevel};
use tessera_signals::{DirectoryChange, InitiatingEntity, MfaKind, SecurityEvent, events_for};

fn set_event(event_type: &str, payload: Value) -> SetEvent {
    SetEvent {
        event_type: event_type.into(),
        payload: payload.as_object().cloned().unwrap_or_default(),
    }
}

#[test]
fn caep_examples_round_trip() {
    let cases = [
        (
            format!("{CAEP}session-revoked"),
            json!({"initiating_entity": "policy", "reason_admin": {"en": "Landspeed Policy Violation: C076E82F"}, "reason_user": {"en": "Access attempt from multiple regions.", "es-410": "Intento de acceso desde varias regiones."}, "event_timestamp": 1_615_304_991}),
        ),
        (
            format!("{CAEP}token-claims-change"),
            json!({"event_timestamp": 1_615_304_991, "claims": {"role": "ro-admin"}}),
        ),
        (
            format!("{CAEP}credential-change"),
            json!({"credential_type": "fido2-roaming", "change_type": "create", "friendly_name": "Jane's USB authenticator", "initiating_entity": "user", "event_timestamp": 1_615_304_991}),
        ),
        (
            format!("{CAEP}assurance-level-change"),
            json!({"namespace": "NIST-AAL", "current_level": "nist-aal2", "previous_level": "nist-aal1", "change_direction": "increase", "initiating_entity": "user", "event_timestamp": 1_615_304_991}),
        ),
        (
            format!("{CAEP}device-compliance-change"),
            json!({"current_status": "not-compliant", "previous_status": "compliant", "initiating_entity": "policy", "event_timestamp": 1_615_304_991}),
        ),
        (
            format!("{CAEP}risk-level-change"),
            json!({"principal": "USER", "current_level": "HIGH", "previous_level": "LOW", "risk_reason": "PASSWORD_FOUND_IN_DATA_BREACH", "event_timestamp": 1_615_304_991}),
        ),
        (format!("{RISC}account-disabled"), json!({"reason": "hijacking"})),
        (format!("{RISC}account-enabled"), json!({})),
        (format!("{RISC}account-purged"), json!({})),
        (
            format!("{RISC}credential-compromise"),
            json!({"credential_type": "password"}),
        ),
        (
            "https://schemas.openid.net/secevent/ssf/event-type/verification".to_owned(),
            json!({"state": "VGhpcyBpcyBhbiBleGFtcGxl"}),
        ),
        (
            "https://schemas.openid.net/secevent/ssf/event-type/stream-updated".to_owned(),
            json!({"status": "paused", "reason": "receiver unreachable"}),
        ),
    ];
    for (t, payload) in cases {
        let original = set_event(&t, payload.clone());
        let typed = SecurityEvent::from_set_event(&original).unwrap_or_else(|e| panic!("{t}: {e}"));
        assert!(!matches!(typed, SecurityEvent::Other(_)), "{t} is a known type");
        assert_eq!(typed.event_type(), t);
        assert_eq!(
            Value::Object(typed.to_set_event().payload),
            payload,
            "{t} round-trips member for member"
        );
    }
}

#[test]
fn required_members_and_types_are_enforced() {
    let bad = [
        (format!("{CAEP}token-claims-change"), json!({})),
        (
            format!("{CAEP}credential-change"),
            json!({"credential_type": "password"}),
        ),
        (
            format!("{CAEP}credential-change"),
            json!({"credential_type": "password", "change_type": "rotate"}),
        ),
        (
            format!("{CAEP}device-compliance-change"),
            json!({"current_status": "compliant"}),
        ),
        (
            format!("{CAEP}device-compliance-change"),
            json!({"current_status": "ok", "previous_status": "compliant"}),
        ),
        (
            format!("{CAEP}risk-level-change"),
            json!({"current_level": "HIGH"}),
        ),
        (
            format!("{CAEP}risk-level-change"),
            json!({"principal": "USER", "current_level": "high"}),
        ),
        (
            format!("{CAEP}assurance-level-change"),
            json!({"namespace": "NIST-AAL"}),
        ),
        (
            format!("{CAEP}session-revoked"),
            json!({"initiating_entity": "robot"}),
        ),
        (
            format!("{CAEP}session-revoked"),
            json!({"event_timestamp": "yesterday"}),
        ),
        (format!("{RISC}account-disabled"), json!({"reason": "boredom"})),
        (format!("{RISC}credential-compromise"), json!({})),
        (
            "https://schemas.openid.net/secevent/ssf/event-type/stream-updated".to_owned(),
            json!({"status": "sleeping"}),
        ),
    ];
    for (t, payload) in bad {
        let err = SecurityEvent::from_set_event(&set_event(&t, payload.clone())).unwrap_err();
        assert_eq!(err.event_type, t, "{payload}");
    }
}

#[test]
fn unknown_event_types_are_kept_not_refused() {
    let e = set_event("https://vendor.example/event-type/new-thing", json!({"x": 1}));
    let typed = SecurityEvent::from_set_event(&e).unwrap();
    assert_eq!(typed, SecurityEvent::Other(e.clone()));
    assert_eq!(typed.to_set_event(), e);
}

#[test]
fn directory_changes_raise_the_events_of_the_design_table() {
    let kinds = |c: DirectoryChange| -> Vec<String> {
        events_for(&c, 1_700_000_000, InitiatingEntity::Admin)
            .iter()
            .map(SecurityEvent::event_type)
            .collect()
    };
    let caep = |n: &str| format!("{CAEP}{n}");
    let risc = |n: &str| format!("{RISC}{n}");
    assert_eq!(
        kinds(DirectoryChange::UserDisabled { hijacked: false }),
        [risc("account-disabled")]
    );
    assert_eq!(kinds(DirectoryChange::UserEnabled), [risc("account-enabled")]);
    assert_eq!(kinds(DirectoryChange::UserDeleted), [risc("account-purged")]);
    assert_eq!(
        kinds(DirectoryChange::PasswordChanged { reset_by_admin: true }),
        [caep("credential-change")]
    );
    assert_eq!(
        kinds(DirectoryChange::MfaAdded {
            kind: MfaKind::Passkey
        }),
        [caep("credential-change")]
    );
    assert_eq!(kinds(DirectoryChange::SessionsRevoked), [caep("session-revoked")]);
    assert_eq!(
        kinds(DirectoryChange::TokenReplay),
        [caep("session-revoked"), caep("risk-level-change")]
    );
    assert_eq!(
        kinds(DirectoryChange::RiskChanged {
            from: None,
            to: Some(RiskLevel::High)
        }),
        [caep("risk-level-change")]
    );
    assert_eq!(
        kinds(DirectoryChange::DeviceCompliance {
            from: ComplianceStatus::Compliant,
            to: ComplianceStatus::NotCompliant
        }),
        [caep("device-compliance-change")]
    );
    assert_eq!(
        kinds(DirectoryChange::ClaimsChanged(Map::new())),
        [caep("token-claims-change")]
    );

    // Members: a password change says what changed, and when, and who did it.
    let e = events_for(
        &DirectoryChange::PasswordChanged {
            reset_by_admin: false,
        },
        1_700_000_000,
        InitiatingEntity::User,
    );
    let payload = Value::Object(e[0].to_set_event().payload);
    assert_eq!(
        payload,
        json!({"credential_type": "password", "change_type": "update", "event_timestamp": 1_700_000_000, "initiating_entity": "user"})
    );
    let e = events_for(
        &DirectoryChange::UserDisabled { hijacked: true },
        0,
        InitiatingEntity::Admin,
    );
    assert_eq!(
        Value::Object(e[0].to_set_event().payload),
        json!({"reason": "hijacking"})
    );
    // Every event a change raises parses back as itself.
    for change in [
        DirectoryChange::TokenReplay,
        DirectoryChange::MfaRemoved { kind: MfaKind::Totp },
        DirectoryChange::RiskChanged {
            from: Some(RiskLevel::High),
            to: None,
        },
    ] {
        for event in events_for(&change, 5, InitiatingEntity::System) {
            assert_eq!(
                SecurityEvent::from_set_event(&event.to_set_event()).unwrap(),
                event
            );
        }
    }
}
