//! Items 8 and 12: any application with a key could act as a transmitter (a signed
//! `session-revoked` ended the administrator's sessions), and a SET with an invalid member was
//! answered `202` and silently not applied.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tessera_jose::set::{Event, SecurityEventToken};
use tessera_jose::{Algorithm, SigningKey, SubjectId, UnixTime};
use tessera_store::{RiskLevel, SubjectKind};

use crate::support::{ISSUER, Reply, Server, api_transmitter, app_with_key, server_with};

const CAEP: &str = "https://schemas.openid.net/secevent/caep/event-type/";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn send(
    server: &Server,
    key: &SigningKey,
    iss: &str,
    jti: &str,
    event: &str,
    payload: Value,
    iat: i64,
) -> Reply {
    let admin = server.state.store.user_by_username("admin").await.unwrap();
    let set = SecurityEventToken {
        iss: iss.into(),
        aud: tessera_jose::jwt::Audience::One(ISSUER.into()),
        iat: UnixTime(iat),
        jti: jti.into(),
        sub_id: SubjectId::iss_sub(ISSUER, &admin.id.0),
        events: Event {
            event_type: format!("{CAEP}{event}"),
            payload: payload.as_object().unwrap().clone(),
        },
        txn: None,
        toe: None,
        toe_ms: None,
    };
    server
        .send(
            Request::post("/ssf/receive")
                .header("content-type", "application/secevent+jwt")
                .body(Body::from(set.sign(key).unwrap()))
                .unwrap(),
        )
        .await
}

async fn admins_sessions_ended(server: &Server) -> bool {
    let admin = server.state.store.user_by_username("admin").await.unwrap();
    server
        .state
        .store
        .not_before(SubjectKind::User, &admin.id.0)
        .await
        .unwrap()
        .is_some()
}

/// Item 8: an application with keys that no administrator trusts as a transmitter is refused
/// with `403` and the RFC 8935 error body, and its SET changes nothing.
#[tokio::test]
async fn item_08_an_untrusted_application_cannot_transmit() {
    let server = server_with(|c| c.ssf.transmitters.clear()).await;
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    app_with_key(&server, "some-app", &key).await;
    let r = send(
        &server,
        &key,
        "some-app",
        "x1",
        "session-revoked",
        json!({}),
        now(),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(r.json["err"], "access_denied");
    assert!(
        r.json["description"].as_str().unwrap().contains("trust"),
        "{}",
        r.body
    );
    assert!(!admins_sessions_ended(&server).await);
    let r = send(
        &server,
        &key,
        "https://nobody.example",
        "x2",
        "session-revoked",
        json!({}),
        now(),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
}

/// Item 8: a trusted transmitter may send only the event types it is trusted for.
#[tokio::test]
async fn item_08_a_trusted_transmitter_sends_only_its_event_types() {
    let server = server_with(|c| {
        let mut only_presented = api_transmitter("reporter");
        only_presented.events = vec![format!("{CAEP}session-presented")];
        c.ssf.transmitters = vec![only_presented];
    })
    .await;
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    app_with_key(&server, "reporter", &key).await;
    let r = send(
        &server,
        &key,
        "reporter",
        "r1",
        "session-revoked",
        json!({}),
        now(),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(r.json["err"], "access_denied");
    assert!(!admins_sessions_ended(&server).await);
    let r = send(
        &server,
        &key,
        "reporter",
        "r2",
        "session-presented",
        json!({"ips": ["203.0.113.9"]}),
        now(),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
}

/// Item 12: the hostile-input table of received events: an invalid member is refused with
/// `invalid_request` naming it (and nothing is applied), and a SET older than its `jti` is
/// remembered is refused.
#[tokio::test]
async fn item_12_invalid_or_stale_sets_are_refused_not_dropped() {
    let server = server_with(|_| {}).await;
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    app_with_key(&server, "mail-api", &key).await;
    let retention = i64::from(server.state.config.ssf.retention_days) * 86_400;
    let table: Vec<(&str, &str, Value, i64, &str)> = vec![
        (
            "b1",
            "risk-level-change",
            json!({"principal": "USER", "current_level": "bogus"}),
            now(),
            "current_level",
        ),
        (
            "b2",
            "risk-level-change",
            json!({"principal": "USER"}),
            now(),
            "current_level",
        ),
        (
            "b3",
            "risk-level-change",
            json!({"principal": "USER", "current_level": 3}),
            now(),
            "current_level",
        ),
        (
            "b4",
            "session-presented",
            json!({"ips": "203.0.113.9"}),
            now(),
            "ips",
        ),
        (
            "b5",
            "session-revoked",
            json!({}),
            now() - retention - 3600,
            "iat",
        ),
    ];
    for (jti, event, payload, iat, member) in table {
        let r = send(&server, &key, "mail-api", jti, event, payload, iat).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{jti}: {}", r.body);
        assert_eq!(r.json["err"], "invalid_request", "{jti}: {}", r.body);
        assert!(
            r.json["description"].as_str().unwrap().contains(member),
            "{jti}: {}",
            r.body
        );
    }
    let admin = server.state.store.user_by_username("admin").await.unwrap();
    assert_eq!(admin.risk, RiskLevel::None);
    assert!(!admins_sessions_ended(&server).await);
    // Refused SETs were not recorded: sent again correctly, the same jti is taken.
    let r = send(
        &server,
        &key,
        "mail-api",
        "b1",
        "risk-level-change",
        json!({"principal": "USER", "current_level": "HIGH"}),
        now(),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let admin = server.state.store.user_by_username("admin").await.unwrap();
    assert_eq!(admin.risk, RiskLevel::High);
}
