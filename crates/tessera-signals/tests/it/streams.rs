//! SSF stream configuration, status, poll bodies, metadata and subject filtering.

use serde_json::{Value, json};
use tessera_jose::SubjectId;
use tessera_signals::stream::{POLL, PUSH};
use tessera_signals::{
    DefaultSubjects, PollRequest, StatusUpdate, StreamConfig, StreamError, TransmitterMetadata,
    TransmitterSettings, stream_wants, well_known_url,
};

const REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
const CREDENTIAL: &str = "https://schemas.openid.net/secevent/caep/event-type/credential-change";
const DISABLED: &str = "https://schemas.openid.net/secevent/risc/event-type/account-disabled";

fn supported() -> Vec<String> {
    vec![REVOKED.into(), CREDENTIAL.into(), DISABLED.into()]
}

fn settings(supported: &[String]) -> TransmitterSettings<'_> {
    TransmitterSettings {
        stream_id: "f67e39a0",
        issuer: "https://idp.example",
        audience: "mail-api",
        events_supported: supported,
        poll_endpoint: "https://idp.example/ssf/poll/f67e39a0",
        min_verification_interval: 30,
        allow_http_loopback: false,
    }
}

#[test]
fn create_sets_transmitter_fields_and_computes_events_delivered() {
    let sup = supported();
    let body = json!({
        "events_requested": [REVOKED, DISABLED, "https://vendor.example/event-type/other"],
        "delivery": {"method": PUSH, "endpoint_url": "https://api.example/ssf/push", "authorization_header": "Bearer abc"},
        "description": "mail API",
        "stream_id": "ignored-on-create", "events_delivered": ["ignored"]
    });
    let c = StreamConfig::create(&body, &settings(&sup)).unwrap();
    assert_eq!(c.stream_id, "f67e39a0");
    assert_eq!(c.iss, "https://idp.example");
    assert_eq!(
        c.events_delivered,
        [REVOKED, DISABLED],
        "supported ∩ requested, in the transmitter's order"
    );
    assert_eq!(c.delivery.authorization_header.as_deref(), Some("Bearer abc"));
    assert_eq!(c.min_verification_interval, Some(30));

    // No delivery: poll, at the transmitter's endpoint, whatever the receiver wrote there.
    let c = StreamConfig::create(&json!({"events_requested": [REVOKED]}), &settings(&sup)).unwrap();
    assert_eq!(c.delivery.method, POLL);
    assert_eq!(
        c.delivery.endpoint_url.as_deref(),
        Some("https://idp.example/ssf/poll/f67e39a0")
    );
    let c = StreamConfig::create(
        &json!({"delivery": {"method": POLL, "endpoint_url": "https://evil.example"}}),
        &settings(&sup),
    )
    .unwrap();
    assert_eq!(
        c.delivery.endpoint_url.as_deref(),
        Some("https://idp.example/ssf/poll/f67e39a0")
    );
    assert!(c.events_delivered.is_empty());
}

#[test]
fn malformed_requests_table() {
    let sup = supported();
    let s = settings(&sup);
    let cases: Vec<Value> = vec![
        json!([]),
        json!("stream"),
        json!({"events_requested": "all"}),
        json!({"events_requested": ["not a uri"]}),
        json!({"delivery": {"method": "smoke-signals"}}),
        json!({"delivery": {"method": PUSH}}),
        json!({"delivery": {"method": PUSH, "endpoint_url": "http://api.example/push"}}),
        json!({"delivery": {"method": PUSH, "endpoint_url": "https://api.example/push#frag"}}),
        json!({"delivery": {"method": PUSH, "endpoint_url": "https://api.example/p", "authorization_header": "Bearer a\r\nX-Evil: 1"}}),
        json!({"description": "x".repeat(2000)}),
        json!({"events_requested": vec![REVOKED; 65]}),
    ];
    for body in cases {
        let err = StreamConfig::create(&body, &s).unwrap_err();
        assert!(matches!(err, StreamError::Malformed(_)), "{body}");
        assert_eq!(err.status(), 400);
    }
    // Plain http is allowed to a loopback receiver only when the transmitter says so.
    let local = json!({"delivery": {"method": PUSH, "endpoint_url": "http://127.0.0.1:9000/push"}});
    assert!(StreamConfig::create(&local, &s).is_err());
    assert!(
        StreamConfig::create(
            &local,
            &TransmitterSettings {
                allow_http_loopback: true,
                ..s.clone()
            }
        )
        .is_ok()
    );
}

#[test]
fn update_and_replace() {
    let sup = supported();
    let s = settings(&sup);
    let c = StreamConfig::create(
        &json!({"events_requested": [REVOKED], "description": "v1", "delivery": {"method": PUSH, "endpoint_url": "https://api.example/p"}}),
        &s,
    )
    .unwrap();
    // PATCH changes only what it names; transmitter fields may be repeated unchanged.
    let patched = c.update(&json!({"events_requested": [CREDENTIAL, DISABLED], "aud": "mail-api", "iss": "https://idp.example"}), &s).unwrap();
    assert_eq!(patched.events_delivered, [CREDENTIAL, DISABLED]);
    assert_eq!(patched.description.as_deref(), Some("v1"));
    assert_eq!(patched.delivery, c.delivery);
    // ...but not changed.
    assert_eq!(
        c.update(&json!({"aud": "other-api"}), &s).unwrap_err(),
        StreamError::TransmitterSupplied("aud")
    );
    assert_eq!(
        c.update(&json!({"stream_id": "x"}), &s).unwrap_err(),
        StreamError::TransmitterSupplied("stream_id")
    );
    assert_eq!(
        c.replace(&json!({"iss": "https://evil"}), &s).unwrap_err(),
        StreamError::TransmitterSupplied("iss")
    );
    assert_eq!(
        c.update(&json!({"events_supported": []}), &s).unwrap_err(),
        StreamError::TransmitterSupplied("events_supported")
    );
    // PUT replaces every receiver field; what it leaves out returns to the default.
    let replaced = c.replace(&json!({"events_requested": [DISABLED]}), &s).unwrap();
    assert_eq!(replaced.events_delivered, [DISABLED]);
    assert_eq!(replaced.description, None);
    assert_eq!(replaced.delivery.method, POLL);
    assert_eq!(
        (replaced.stream_id.as_str(), &replaced.aud),
        (c.stream_id.as_str(), &c.aud)
    );
}

#[test]
fn status_requests() {
    let ok =
        StatusUpdate::parse(&json!({"stream_id": "s", "status": "paused", "reason": "maintenance"})).unwrap();
    assert_eq!(ok.reason.as_deref(), Some("maintenance"));
    for bad in [
        json!({"stream_id": "s", "status": "asleep"}),
        json!({"status": "enabled"}),
        json!({"stream_id": "", "status": "enabled"}),
    ] {
        assert!(StatusUpdate::parse(&bad).is_err(), "{bad}");
    }
}

#[test]
fn poll_requests() {
    let r = PollRequest::parse(br#"{"maxEvents":10,"returnImmediately":true,"ack":["a","b"],"setErrs":{"c":{"err":"invalid_key","description":"unknown kid"}}}"#).unwrap();
    assert_eq!(
        (r.limit(), r.return_immediately, r.ack.len(), r.set_errs.len()),
        (10, true, 2, 1)
    );
    assert_eq!(
        PollRequest::parse(b"{}").unwrap().limit(),
        1000,
        "no maxEvents: the transmitter's cap"
    );
    assert_eq!(
        PollRequest::parse(br#"{"maxEvents":0,"ack":["a"]}"#)
            .unwrap()
            .limit(),
        0,
        "acknowledge only"
    );
    assert_eq!(
        PollRequest::parse(br#"{"maxEvents":999999}"#).unwrap().limit(),
        1000
    );
    for bad in [
        &br#"{"maxEvents":-1}"#[..],
        br#"{"ack":"a"}"#,
        br#"{"setErrs":{"c":{"err":"nope","description":""}}}"#,
        b"[]",
    ] {
        assert!(
            PollRequest::parse(bad).is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    let response = tessera_signals::PollResponse {
        sets: [("j1".into(), "eyJ...".into())].into(),
        more_available: true,
    };
    assert_eq!(
        serde_json::to_value(&response).unwrap(),
        json!({"sets": {"j1": "eyJ..."}, "moreAvailable": true})
    );
}

#[test]
fn metadata_and_its_well_known_location() {
    let m = TransmitterMetadata::for_issuer("https://idp.example/", true);
    let v = serde_json::to_value(&m).unwrap();
    for member in [
        "spec_version",
        "issuer",
        "jwks_uri",
        "delivery_methods_supported",
        "configuration_endpoint",
        "status_endpoint",
        "add_subject_endpoint",
        "remove_subject_endpoint",
        "verification_endpoint",
        "critical_subject_members",
        "authorization_schemes",
        "default_subjects",
    ] {
        assert!(v.get(member).is_some(), "{member}");
    }
    assert_eq!(v["spec_version"], "1_0");
    assert_eq!(v["issuer"], "https://idp.example");
    assert_eq!(v["delivery_methods_supported"], json!([PUSH, POLL]));
    assert_eq!(
        well_known_url("https://idp.example").unwrap(),
        "https://idp.example/.well-known/ssf-configuration"
    );
    assert_eq!(
        well_known_url("https://idp.example:8443/tenant1/").unwrap(),
        "https://idp.example:8443/.well-known/ssf-configuration/tenant1"
    );
}

#[test]
fn subject_filtering() {
    let alice = SubjectId::iss_sub("https://idp.example", "alice");
    let bob = SubjectId::iss_sub("https://idp.example", "bob");
    let alice_email = SubjectId::email("alice@example.com");
    let complex: SubjectId = serde_json::from_value(json!({
        "format": "complex",
        "user": {"format": "iss_sub", "iss": "https://idp.example", "sub": "alice"},
        "device": {"format": "opaque", "id": "laptop-1"}
    }))
    .unwrap();
    let aliases = SubjectId::Aliases {
        identifiers: vec![alice_email.clone(), alice.clone()],
    };
    assert!(stream_wants(&alice, DefaultSubjects::All, &[]));
    assert!(!stream_wants(&alice, DefaultSubjects::None, &[]));
    assert!(stream_wants(
        &alice,
        DefaultSubjects::None,
        std::slice::from_ref(&alice)
    ));
    assert!(
        !stream_wants(&bob, DefaultSubjects::All, std::slice::from_ref(&alice)),
        "added subjects narrow an ALL stream"
    );
    assert!(
        stream_wants(&complex, DefaultSubjects::None, std::slice::from_ref(&alice)),
        "the user member of a complex subject"
    );
    assert!(
        stream_wants(&complex, DefaultSubjects::None, &[SubjectId::opaque("laptop-1")]),
        "the device member"
    );
    assert!(
        stream_wants(
            &alice_email,
            DefaultSubjects::None,
            std::slice::from_ref(&aliases)
        ),
        "an alias added"
    );
    assert!(
        stream_wants(&aliases, DefaultSubjects::None, &[alice]),
        "an event about aliases"
    );
    assert!(!stream_wants(&bob, DefaultSubjects::None, &[aliases]));
}
