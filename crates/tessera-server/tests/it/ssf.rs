//! The Shared Signals transmitter: metadata, the stream-management lifecycle as a table (after
//! the OpenID SSF transmitter test plan), the SETs themselves, poll and push delivery.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tessera_jose::SystemClock;
use tessera_jose::set::{SetValidation, validate};

use crate::support::{Reply, Server, basic, server, server_with, token_request};

const DISABLED: &str = "https://schemas.openid.net/secevent/risc/event-type/account-disabled";
const REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
const VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";
const STREAM_UPDATED: &str = "https://schemas.openid.net/secevent/ssf/event-type/stream-updated";

/// Registers a receiver (an OAuth client allowed `scopes`) and returns its access token.
pub(crate) async fn receiver(server: &Server, id: &str, scopes: &[&str]) -> String {
    let admin = server.admin_token().await;
    let r = server
        .admin(
            "POST",
            "/applications",
            &admin,
            Some(json!({"id": id, "kind": "confidential", "grant_types": ["client_credentials"], "scopes": scopes})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let secret = r.json["client_secret"].as_str().unwrap().to_owned();
    let scope = scopes.join("%20");
    let r = server
        .send(token_request(
            &format!("grant_type=client_credentials&scope={scope}"),
            &[("authorization", &basic(id, &secret))],
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.json["access_token"].as_str().unwrap().to_owned()
}

async fn call(server: &Server, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
    let mut r = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        r = r.header("authorization", format!("Bearer {t}"));
    }
    if body.is_some() {
        r = r.header("content-type", "application/json");
    }
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    server.send(r.body(body).unwrap()).await
}

fn poll_stream(requested: &[&str]) -> Value {
    json!({"events_requested": requested, "description": "mail API"})
}

/// Disables alice through the admin API: an `account-disabled` event.
pub(crate) async fn disable_alice(server: &Server) {
    let admin = server.admin_token().await;
    let r = server
        .admin(
            "PATCH",
            "/users/u-alice",
            &admin,
            Some(json!({"status": "disabled"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

/// Revokes alice's sessions, then disables her: `session-revoked`, then `account-disabled`.
async fn revoke_and_disable_alice(server: &Server) {
    let admin = server.admin_token().await;
    let r = server
        .admin("POST", "/users/u-alice/revoke-sessions", &admin, None)
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    disable_alice(server).await;
}

async fn poll(server: &Server, token: &str, stream: &str, body: Value) -> Reply {
    let r = call(
        server,
        "POST",
        &format!("/ssf/poll/{stream}"),
        Some(token),
        Some(body),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r
}

/// Every SET of a poll answer, validated as a receiver would, with its `jti`.
fn sets_of(
    server: &Server,
    reply: &Reply,
    audience: &str,
) -> Vec<(String, tessera_jose::set::SecurityEventToken)> {
    let rules = SetValidation {
        issuer: crate::support::ISSUER.into(),
        audience: audience.into(),
        leeway: 60,
    };
    reply.json["sets"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(jti, set)| {
            let token = set.as_str().unwrap();
            let parsed = validate(token, server.state.keys.published(), &rules, &SystemClock).unwrap();
            assert_eq!(&parsed.jti, jti);
            (jti.clone(), parsed)
        })
        .collect()
}

#[tokio::test]
async fn metadata_is_published_at_both_well_known_addresses() {
    let server = server().await;
    for path in [
        "/.well-known/ssf-configuration",
        "/.well-known/risc-configuration",
    ] {
        let r = server.get(path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        let m = &r.json;
        assert_eq!(m["spec_version"], "1_0");
        assert_eq!(m["issuer"], crate::support::ISSUER);
        assert_eq!(m["jwks_uri"], format!("{}/jwks", crate::support::ISSUER));
        assert_eq!(
            m["delivery_methods_supported"],
            json!(["urn:ietf:rfc:8935", "urn:ietf:rfc:8936"])
        );
        assert_eq!(
            m["configuration_endpoint"],
            format!("{}/ssf/streams", crate::support::ISSUER)
        );
        assert_eq!(m["default_subjects"], "ALL");
        for endpoint in [
            "status_endpoint",
            "add_subject_endpoint",
            "remove_subject_endpoint",
            "verification_endpoint",
        ] {
            let url = m[endpoint].as_str().unwrap();
            let path = url.strip_prefix(crate::support::ISSUER).unwrap();
            let r = call(&server, "POST", path, None, Some(json!({}))).await;
            assert_eq!(
                r.status,
                StatusCode::UNAUTHORIZED,
                "{endpoint} is served and protected"
            );
        }
    }
}

/// Name, method, path, token, body, expected status.
type Case<'a> = (&'a str, &'a str, String, Option<&'a str>, Option<Value>, u16);

#[tokio::test]
async fn stream_lifecycle_conformance_table() {
    let server = server().await;
    let api = receiver(&server, "mail-api", &["ssf.manage", "ssf.read"]).await;
    let other = receiver(&server, "other-api", &["ssf.manage", "ssf.read"]).await;
    let reader = receiver(&server, "auditor", &["ssf.read"]).await;

    // Create: 201, transmitter-set members filled in.
    let r = call(
        &server,
        "POST",
        "/ssf/streams",
        Some(&api),
        Some(poll_stream(&[
            DISABLED,
            REVOKED,
            "https://example.com/not-supported",
        ])),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let config = r.json.clone();
    let id = config["stream_id"].as_str().unwrap().to_owned();
    assert_eq!(config["iss"], crate::support::ISSUER);
    assert_eq!(config["aud"], "mail-api");
    assert_eq!(
        config["events_delivered"],
        json!([REVOKED, DISABLED]),
        "supported ∩ requested"
    );
    assert_eq!(config["delivery"]["method"], "urn:ietf:rfc:8936");
    assert_eq!(
        config["delivery"]["endpoint_url"],
        format!("{}/ssf/poll/{id}", crate::support::ISSUER)
    );
    let push = json!({"delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": "https://api.example/ssf", "authorization_header": "Bearer abc"}});
    let r = call(&server, "POST", "/ssf/streams", Some(&api), Some(push.clone())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let push_id = r.json["stream_id"].as_str().unwrap().to_owned();

    let one = format!("/ssf/streams?stream_id={id}");
    let cases: Vec<Case> = vec![
        ("read one", "GET", one.clone(), Some(&api), None, 200),
        ("list", "GET", "/ssf/streams".into(), Some(&api), None, 200),
        ("no token", "GET", one.clone(), None, None, 401),
        ("a bad token", "GET", one.clone(), Some("not-a-token"), None, 401),
        (
            "another receiver's stream",
            "GET",
            one.clone(),
            Some(&other),
            None,
            404,
        ),
        (
            "an unknown stream",
            "GET",
            "/ssf/streams?stream_id=nope".into(),
            Some(&api),
            None,
            404,
        ),
        (
            "read-only scope cannot create",
            "POST",
            "/ssf/streams".into(),
            Some(&reader),
            Some(json!({})),
            403,
        ),
        (
            "a body that is not an object",
            "POST",
            "/ssf/streams".into(),
            Some(&api),
            Some(json!([1])),
            400,
        ),
        (
            "an unknown delivery method",
            "POST",
            "/ssf/streams".into(),
            Some(&api),
            Some(json!({"delivery": {"method": "urn:example:carrier-pigeon"}})),
            400,
        ),
        (
            "push without an endpoint",
            "POST",
            "/ssf/streams".into(),
            Some(&api),
            Some(json!({"delivery": {"method": "urn:ietf:rfc:8935"}})),
            400,
        ),
        (
            "push to plain http off loopback",
            "POST",
            "/ssf/streams".into(),
            Some(&api),
            Some(
                json!({"delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": "http://api.example/ssf"}}),
            ),
            400,
        ),
        (
            "events that are not URIs",
            "POST",
            "/ssf/streams".into(),
            Some(&api),
            Some(json!({"events_requested": ["session revoked"]})),
            400,
        ),
        (
            "a second stream to the same push endpoint",
            "POST",
            "/ssf/streams".into(),
            Some(&api),
            Some(push.clone()),
            409,
        ),
        (
            "update changes aud",
            "PATCH",
            "/ssf/streams".into(),
            Some(&api),
            Some(json!({"stream_id": id, "aud": "someone-else"})),
            400,
        ),
        (
            "update changes iss",
            "PATCH",
            "/ssf/streams".into(),
            Some(&api),
            Some(json!({"stream_id": id, "iss": "https://evil.example"})),
            400,
        ),
        (
            "update without stream_id",
            "PATCH",
            "/ssf/streams".into(),
            Some(&api),
            Some(json!({})),
            400,
        ),
        (
            "update another receiver's stream",
            "PATCH",
            "/ssf/streams".into(),
            Some(&other),
            Some(json!({"stream_id": id, "description": "mine now"})),
            404,
        ),
        (
            "delete another receiver's stream",
            "DELETE",
            one.clone(),
            Some(&other),
            None,
            404,
        ),
        (
            "delete without stream_id",
            "DELETE",
            "/ssf/streams".into(),
            Some(&api),
            None,
            400,
        ),
        (
            "status of a stream the reader does not own",
            "GET",
            format!("/ssf/status?stream_id={id}"),
            Some(&reader),
            None,
            404,
        ),
        (
            "status of own stream",
            "GET",
            format!("/ssf/status?stream_id={id}"),
            Some(&api),
            None,
            200,
        ),
        (
            "an unknown status",
            "POST",
            "/ssf/status".into(),
            Some(&api),
            Some(json!({"stream_id": id, "status": "asleep"})),
            400,
        ),
        (
            "add a malformed subject",
            "POST",
            "/ssf/subjects:add".into(),
            Some(&api),
            Some(json!({"stream_id": id, "subject": {"format": "email"}})),
            400,
        ),
        (
            "add a subject",
            "POST",
            "/ssf/subjects:add".into(),
            Some(&api),
            Some(json!({"stream_id": id, "subject": {"format": "email", "email": "carol@example.com"}})),
            200,
        ),
        (
            "remove it",
            "POST",
            "/ssf/subjects:remove".into(),
            Some(&api),
            Some(json!({"stream_id": id, "subject": {"format": "email", "email": "carol@example.com"}})),
            204,
        ),
        (
            "add a subject to another receiver's stream",
            "POST",
            "/ssf/subjects:add".into(),
            Some(&other),
            Some(json!({"stream_id": id, "subject": {"format": "opaque", "id": "x"}})),
            404,
        ),
        (
            "verification with state",
            "POST",
            "/ssf/verify".into(),
            Some(&api),
            Some(json!({"stream_id": id, "state": "Zm9vYmFy"})),
            204,
        ),
        (
            "verification again, too soon",
            "POST",
            "/ssf/verify".into(),
            Some(&api),
            Some(json!({"stream_id": id})),
            429,
        ),
        (
            "verification of another receiver's stream",
            "POST",
            "/ssf/verify".into(),
            Some(&other),
            Some(json!({"stream_id": id})),
            404,
        ),
        (
            "poll another receiver's stream",
            "POST",
            format!("/ssf/poll/{id}"),
            Some(&other),
            Some(json!({})),
            404,
        ),
        (
            "poll with a body that is not JSON",
            "POST",
            format!("/ssf/poll/{id}"),
            Some(&api),
            None,
            400,
        ),
    ];
    for (name, method, path, token, body, status) in cases {
        let r = call(&server, method, &path, token, body).await;
        assert_eq!(r.status.as_u16(), status, "{name}: {}", r.body);
        if status == 401 {
            assert!(r.headers.contains_key("www-authenticate"), "{name}");
        }
    }
    // A receiver lists only its own streams.
    let r = call(&server, "GET", "/ssf/streams", Some(&reader), None).await;
    assert_eq!(r.json, json!([]));
    let r = call(&server, "GET", "/ssf/streams", Some(&api), None).await;
    assert_eq!(r.json.as_array().unwrap().len(), 2);

    // Update and replace.
    let r = call(
        &server,
        "PATCH",
        "/ssf/streams",
        Some(&api),
        Some(json!({"stream_id": id, "description": "mail API, EU", "aud": "mail-api"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json["description"], "mail API, EU");
    assert_eq!(
        r.json["events_delivered"],
        json!([REVOKED, DISABLED]),
        "PATCH keeps the rest"
    );
    let r = call(
        &server,
        "PUT",
        "/ssf/streams",
        Some(&api),
        Some(json!({"stream_id": id, "events_requested": [DISABLED]})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json["events_delivered"], json!([DISABLED]));
    assert!(
        r.json.get("description").is_none(),
        "PUT replaces every receiver member"
    );

    // The verification SET echoes the state, about the stream itself.
    let r = poll(&server, &api, &id, json!({"returnImmediately": true})).await;
    let sets = sets_of(&server, &r, "mail-api");
    assert_eq!(sets.len(), 1, "{}", r.json);
    let (_, verification) = &sets[0];
    assert_eq!(verification.events.event_type, VERIFICATION);
    assert_eq!(verification.events.payload["state"], "Zm9vYmFy");
    assert_eq!(
        serde_json::to_value(&verification.sub_id).unwrap(),
        json!({"format": "opaque", "id": id})
    );

    // Status: paused with a reason, reported back; disabled; delete.
    let r = call(
        &server,
        "POST",
        "/ssf/status",
        Some(&api),
        Some(json!({"stream_id": push_id, "status": "paused", "reason": "maintenance"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = call(
        &server,
        "GET",
        &format!("/ssf/status?stream_id={push_id}"),
        Some(&api),
        None,
    )
    .await;
    assert_eq!(
        r.json,
        json!({"stream_id": push_id, "status": "paused", "reason": "maintenance"})
    );
    let r = call(
        &server,
        "DELETE",
        &format!("/ssf/streams?stream_id={push_id}"),
        Some(&api),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = call(
        &server,
        "GET",
        &format!("/ssf/streams?stream_id={push_id}"),
        Some(&api),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn poll_delivers_each_event_as_a_set_until_acknowledged() {
    let server = server().await;
    let api = receiver(&server, "mail-api", &["ssf.read", "ssf.manage"]).await;
    let r = call(
        &server,
        "POST",
        "/ssf/streams",
        Some(&api),
        Some(poll_stream(&[DISABLED, REVOKED])),
    )
    .await;
    let id = r.json["stream_id"].as_str().unwrap().to_owned();
    let narrow = call(
        &server,
        "POST",
        "/ssf/streams",
        Some(&api),
        Some(poll_stream(&[REVOKED])),
    )
    .await;
    let narrow = narrow.json["stream_id"].as_str().unwrap().to_owned();
    let disabled_only = call(
        &server,
        "POST",
        "/ssf/streams",
        Some(&api),
        Some(poll_stream(&[DISABLED])),
    )
    .await;
    let disabled_only = disabled_only.json["stream_id"].as_str().unwrap().to_owned();

    // Nothing yet: returnImmediately answers at once.
    let started = Instant::now();
    let r = poll(&server, &api, &id, json!({"returnImmediately": true})).await;
    assert_eq!(r.json["sets"], json!({}));
    assert!(started.elapsed() < Duration::from_secs(2));

    revoke_and_disable_alice(&server).await;
    let r = poll(
        &server,
        &api,
        &id,
        json!({"maxEvents": 1, "returnImmediately": true}),
    )
    .await;
    assert_eq!(r.json["moreAvailable"], true, "{}", r.json);
    let first = sets_of(&server, &r, "mail-api");
    assert_eq!(first.len(), 1);
    let r = poll(&server, &api, &id, json!({"returnImmediately": true})).await;
    let second = sets_of(&server, &r, "mail-api");
    assert_eq!(second.len(), 1, "the first SET is leased out: {}", r.json);
    let mut types: Vec<&str> = first
        .iter()
        .chain(&second)
        .map(|(_, s)| s.events.event_type.as_str())
        .collect();
    types.sort_unstable();
    assert_eq!(types, [REVOKED, DISABLED]);
    for (_, set) in first.iter().chain(&second) {
        assert_eq!(
            serde_json::to_value(&set.sub_id).unwrap(),
            json!({"format": "iss_sub", "iss": crate::support::ISSUER, "sub": "u-alice"})
        );
    }

    // Acknowledged, they are gone; a stream that asked only for session-revoked got only that.
    let acks: Vec<&String> = first.iter().chain(&second).map(|(j, _)| j).collect();
    let r = poll(
        &server,
        &api,
        &id,
        json!({"ack": acks, "returnImmediately": true}),
    )
    .await;
    assert_eq!(r.json["sets"], json!({}), "{}", r.json);
    assert_eq!(server.state.store.pending(&id.as_str().into()).await.unwrap(), 0);
    let r = poll(&server, &api, &narrow, json!({"returnImmediately": true})).await;
    let only = sets_of(&server, &r, "mail-api");
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].1.events.event_type, REVOKED);
    // Regression (a finding of issue 31): with `maxEvents: 1`, the stream's first delivery was
    // one it does not want (session-revoked came before account-disabled); the poll settled it
    // and answered `sets: {}` with `moreAvailable: true`, while the SET it wanted waited.
    let r = poll(
        &server,
        &api,
        &disabled_only,
        json!({"maxEvents": 1, "returnImmediately": true}),
    )
    .await;
    let only = sets_of(&server, &r, "mail-api");
    assert_eq!(only.len(), 1, "{}", r.json);
    assert_eq!(only[0].1.events.event_type, DISABLED);

    // Every SET's header and claims, as RFC 8417 and SSF have them.
    let token = r.json["sets"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .as_str()
        .unwrap();
    let header: Value =
        serde_json::from_slice(&tessera_jose::b64::decode(token.split('.').next().unwrap()).unwrap())
            .unwrap();
    assert_eq!(header["typ"], "secevent+jwt");
    let claims: Value =
        serde_json::from_slice(&tessera_jose::b64::decode(token.split('.').nth(1).unwrap()).unwrap())
            .unwrap();
    assert!(
        claims.get("sub").is_none() && claims.get("exp").is_none(),
        "{claims}"
    );
    assert!(claims["iat"].is_i64() && claims["jti"].is_string());
    assert_eq!(claims["events"].as_object().unwrap().len(), 1);

    // A long poll waits for the next event and returns as soon as it is there.
    let waiting = {
        let state = server.state.clone();
        let api = api.clone();
        let id = narrow.clone();
        tokio::spawn(async move {
            let s = Server::from_state(state);
            let started = Instant::now();
            let r = call(
                &s,
                "POST",
                &format!("/ssf/poll/{id}"),
                Some(&api),
                Some(json!({})),
            )
            .await;
            (r, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let admin = server.admin_token().await;
    server
        .admin("POST", "/users/u-bob/revoke-sessions", &admin, None)
        .await;
    let (r, waited) = waiting.await.unwrap();
    assert_eq!(r.json["sets"].as_object().unwrap().len(), 1, "{}", r.json);
    assert!(
        waited < Duration::from_secs(5),
        "long poll answered after {waited:?}"
    );
}

#[tokio::test]
async fn a_stream_with_subjects_added_carries_only_those() {
    let server = server().await;
    let api = receiver(&server, "mail-api", &["ssf.manage"]).await;
    let r = call(
        &server,
        "POST",
        "/ssf/streams",
        Some(&api),
        Some(poll_stream(&[DISABLED])),
    )
    .await;
    let id = r.json["stream_id"].as_str().unwrap().to_owned();
    let bob = json!({"format": "iss_sub", "iss": crate::support::ISSUER, "sub": "u-bob"});
    let r = call(
        &server,
        "POST",
        "/ssf/subjects:add",
        Some(&api),
        Some(json!({"stream_id": id, "subject": bob})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    disable_alice(&server).await;
    let admin = server.admin_token().await;
    server
        .admin(
            "PATCH",
            "/users/u-bob",
            &admin,
            Some(json!({"status": "disabled"})),
        )
        .await;
    let r = poll(&server, &api, &id, json!({"returnImmediately": true})).await;
    let sets = sets_of(&server, &r, "mail-api");
    assert_eq!(sets.len(), 1, "only bob's event: {}", r.json);
    assert_eq!(serde_json::to_value(&sets[0].1.sub_id).unwrap(), bob);
    assert_eq!(
        server.state.store.pending(&id.as_str().into()).await.unwrap(),
        1,
        "alice's event was settled without being sent; bob's waits for its ack"
    );
}

#[tokio::test]
async fn streams_name_subjects_in_the_format_they_ask_for() {
    let server = server().await;
    let api = receiver(&server, "mail-api", &["ssf.manage"]).await;
    let mut streams = Vec::new();
    for format in ["email", "opaque", "iss_sub"] {
        let r = call(
            &server,
            "POST",
            "/ssf/streams",
            Some(&api),
            Some(json!({"events_requested": [DISABLED], "format": format})),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert_eq!(r.json["format"], format);
        streams.push(r.json["stream_id"].as_str().unwrap().to_owned());
    }
    let r = call(
        &server,
        "POST",
        "/ssf/streams",
        Some(&api),
        Some(json!({"format": "phone_number"})),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "a format Tessera cannot give: {}",
        r.body
    );

    disable_alice(&server).await;
    let expected = [
        json!({"format": "email", "email": "alice@example.com"}),
        json!({"format": "opaque", "id": "u-alice"}),
        json!({"format": "iss_sub", "iss": crate::support::ISSUER, "sub": "u-alice"}),
    ];
    for (stream, subject) in streams.iter().zip(expected) {
        let r = poll(&server, &api, stream, json!({"returnImmediately": true})).await;
        let sets = sets_of(&server, &r, "mail-api");
        assert_eq!(sets.len(), 1, "{}", r.json);
        assert_eq!(serde_json::to_value(&sets[0].1.sub_id).unwrap(), subject);
    }
}

#[tokio::test]
async fn a_paused_stream_keeps_its_events_and_a_disabled_one_drops_them() {
    let server = server().await;
    let api = receiver(&server, "mail-api", &["ssf.manage"]).await;
    let r = call(
        &server,
        "POST",
        "/ssf/streams",
        Some(&api),
        Some(poll_stream(&[DISABLED])),
    )
    .await;
    let id = r.json["stream_id"].as_str().unwrap().to_owned();
    let status = |s: &str| json!({"stream_id": id, "status": s});
    call(&server, "POST", "/ssf/status", Some(&api), Some(status("paused"))).await;
    disable_alice(&server).await;
    let r = poll(&server, &api, &id, json!({"returnImmediately": true})).await;
    assert_eq!(r.json["sets"], json!({}), "nothing is delivered while paused");
    call(
        &server,
        "POST",
        "/ssf/status",
        Some(&api),
        Some(status("enabled")),
    )
    .await;
    let r = poll(&server, &api, &id, json!({"returnImmediately": true})).await;
    let sets = sets_of(&server, &r, "mail-api");
    let types: Vec<&str> = sets.iter().map(|(_, s)| s.events.event_type.as_str()).collect();
    assert!(types.contains(&DISABLED), "kept while paused: {types:?}");
    // The receiver hears of both changes: the pause (kept while paused) and the resumption.
    let mut updates: Vec<&str> = sets
        .iter()
        .filter(|(_, s)| s.events.event_type == STREAM_UPDATED)
        .map(|(_, s)| s.events.payload["status"].as_str().unwrap())
        .collect();
    updates.sort_unstable();
    assert_eq!(updates, ["enabled", "paused"], "{types:?}");

    call(
        &server,
        "POST",
        "/ssf/status",
        Some(&api),
        Some(status("disabled")),
    )
    .await;
    let admin = server.admin_token().await;
    server
        .admin(
            "PATCH",
            "/users/u-alice",
            &admin,
            Some(json!({"status": "enabled"})),
        )
        .await;
    assert_eq!(server.state.store.pending(&id.as_str().into()).await.unwrap(), 0);
}

/// Each pushed SET with the `Authorization` header it came with.
pub(crate) type Received = Arc<Mutex<Vec<(Option<String>, String)>>>;

/// A push receiver on 127.0.0.1: answers every SET with `status` and keeps what it got.
pub(crate) struct PushReceiver {
    pub(crate) url: String,
    pub(crate) got: Received,
}

pub(crate) async fn push_receiver(status: StatusCode) -> PushReceiver {
    let got: Received = Arc::default();
    let seen = got.clone();
    let app = axum::Router::new().route(
        "/events",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let seen = seen.clone();
            async move {
                assert_eq!(headers["content-type"], "application/secevent+jwt");
                let auth = headers
                    .get("authorization")
                    .map(|v| v.to_str().unwrap().to_owned());
                seen.lock().unwrap().push((auth, body));
                status
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    PushReceiver { url, got }
}

async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn push_delivers_with_the_exact_authorization_header() {
    let server = server().await;
    let api = receiver(&server, "mail-api", &["ssf.manage"]).await;
    let rx = push_receiver(StatusCode::ACCEPTED).await;
    let header = "Bearer mail-api-secret.with+odd/chars==";
    let r = call(
        &server,
        "POST",
        "/ssf/streams",
        Some(&api),
        Some(json!({
            "events_requested": [DISABLED, REVOKED],
            "delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": rx.url, "authorization_header": header}
        })),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.json["stream_id"].as_str().unwrap().to_owned();
    let _worker = tessera_server::ssf::push::spawn(server.state.clone());

    let started = Instant::now();
    revoke_and_disable_alice(&server).await;
    eventually("two pushed SETs", || rx.got.lock().unwrap().len() >= 2).await;
    let elapsed = started.elapsed();
    let got = rx.got.lock().unwrap().clone();
    assert!(got.iter().all(|(auth, _)| auth.as_deref() == Some(header)));
    let rules = SetValidation {
        issuer: crate::support::ISSUER.into(),
        audience: "mail-api".into(),
        leeway: 60,
    };
    let mut types: Vec<String> = got
        .iter()
        .map(|(_, set)| {
            validate(set, server.state.keys.published(), &rules, &SystemClock)
                .unwrap()
                .events
                .event_type
        })
        .collect();
    types.sort();
    assert_eq!(types, [REVOKED, DISABLED]);
    let stream = id.as_str().into();
    let store = server.state.store.clone();
    let deadline = Instant::now() + Duration::from_secs(5);
    while store.pending(&stream).await.unwrap() > 0 {
        assert!(
            Instant::now() < deadline,
            "acknowledged deliveries leave the outbox"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("admin change to two pushed SETs: {elapsed:?}");
}

#[tokio::test]
async fn a_hanging_receiver_does_not_hold_up_the_others() {
    let server = server_with(|c| c.ssf.push_timeout_seconds = 3).await;
    let api = receiver(&server, "mail-api", &["ssf.manage"]).await;
    // One receiver takes two seconds to answer; the other answers at once.
    let got: Received = Arc::default();
    let seen = got.clone();
    let slow_app = axum::Router::new().route(
        "/events",
        axum::routing::post(move |body: String| {
            let seen = seen.clone();
            async move {
                tokio::time::sleep(Duration::from_secs(2)).await;
                seen.lock().unwrap().push((None, body));
                StatusCode::ACCEPTED
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let slow_url = format!("http://{}/events", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, slow_app).await });
    let fast = push_receiver(StatusCode::ACCEPTED).await;
    for url in [&slow_url, &fast.url] {
        let r = call(
            &server,
            "POST",
            "/ssf/streams",
            Some(&api),
            Some(json!({"events_requested": [DISABLED, REVOKED], "delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": url}})),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let _worker = tessera_server::ssf::push::spawn(server.state.clone());
    disable_alice(&server).await;
    eventually("the first SET at the fast receiver", || {
        fast.got.lock().unwrap().len() == 1
    })
    .await;
    // While the slow receiver still holds its first SET, the next event reaches the fast one.
    let started = Instant::now();
    let admin = server.admin_token().await;
    server
        .admin("POST", "/users/u-bob/revoke-sessions", &admin, None)
        .await;
    eventually("the second SET at the fast receiver", || {
        fast.got.lock().unwrap().len() == 2
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "held up {:?} behind the slow receiver",
        started.elapsed()
    );
    assert!(
        got.lock().unwrap().is_empty(),
        "the slow receiver is still busy with its first"
    );
    eventually("both SETs at the slow receiver, in order", || {
        got.lock().unwrap().len() == 2
    })
    .await;
}

#[tokio::test]
async fn a_push_endpoint_that_keeps_failing_pauses_its_stream() {
    let server = server_with(|c| c.ssf.push_attempts_before_pause = 2).await;
    let api = receiver(&server, "mail-api", &["ssf.manage"]).await;
    let rx = push_receiver(StatusCode::SERVICE_UNAVAILABLE).await;
    let r = call(
        &server,
        "POST",
        "/ssf/streams",
        Some(&api),
        Some(json!({"events_requested": [DISABLED], "delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": rx.url}})),
    )
    .await;
    let id = r.json["stream_id"].as_str().unwrap().to_owned();
    let _worker = tessera_server::ssf::push::spawn(server.state.clone());
    disable_alice(&server).await;
    let status_path = format!("/ssf/status?stream_id={id}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = call(&server, "GET", &status_path, Some(&api), None).await;
        if r.json["status"] == "paused" {
            let reason = r.json["reason"].as_str().unwrap();
            assert!(
                reason.contains("failed 2 times") && !reason.contains("503"),
                "{reason}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "the stream was not paused: {}", r.json);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(rx.got.lock().unwrap().len(), 2, "tried twice, then paused");

    // Operators see the stream's state, backlog and last error, in the admin API and metrics.
    let admin = server.admin_token().await;
    let r = server.admin("GET", &format!("/streams/{id}"), &admin, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json["status"], "paused");
    assert_eq!(r.json["receiver"], "mail-api");
    assert!(r.json["pending"].as_u64().unwrap() >= 1, "{}", r.json);
    assert!(
        r.json["last_error"].as_str().unwrap().contains("503"),
        "{}",
        r.json
    );
    assert!(r.json["lag_seconds"].is_u64(), "{}", r.json);
    let r = server.admin("GET", "/streams", &admin, None).await;
    assert_eq!(r.json["items"].as_array().unwrap().len(), 1);
    let metrics = server.get("/metrics").await.body;
    assert!(
        metrics.contains(&format!("tessera_ssf_stream_pending{{stream=\"{id}\"}}")),
        "{metrics}"
    );
    assert!(
        metrics.contains("tessera_ssf_push_attempts_total{outcome=\"retry\"} 2"),
        "{metrics}"
    );
    // A receiver's own token is not an administrator's.
    let r = call(&server, "GET", "/admin/api/streams", Some(&api), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    // The administrator resumes it; the receiver hears so.
    let r = server
        .admin(
            "PATCH",
            &format!("/streams/{id}"),
            &admin,
            Some(json!({"status": "enabled"})),
        )
        .await;
    assert_eq!(r.json["status"], "enabled", "{}", r.body);
    let r = server
        .admin(
            "PATCH",
            &format!("/streams/{id}"),
            &admin,
            Some(json!({"status": "asleep"})),
        )
        .await;
    assert_eq!(r.json["errors"][0]["field"], "status", "{}", r.body);
    assert!(
        server.state.store.pending(&id.as_str().into()).await.unwrap() >= 1,
        "a paused stream keeps its events"
    );
}

mod receiving {
    //! Tessera as a receiver: SETs pushed to `/ssf/receive` by an API registered with keys, or
    //! by a configured transmitter.

    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use serde_json::{Value, json};
    use tessera_jose::set::{Event, SecurityEventToken};
    use tessera_jose::{Algorithm, SigningKey, SubjectId, UnixTime, jws};
    use tessera_store::{RiskLevel, SubjectKind};

    use crate::support::{ISSUER, Reply, Server, server, server_with};

    const RISK: &str = "https://schemas.openid.net/secevent/caep/event-type/risk-level-change";
    const REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
    const COMPROMISE: &str = "https://schemas.openid.net/secevent/risc/event-type/credential-compromise";

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    /// The mail API, registered with `key`, may signal back.
    async fn register_api(server: &Server, key: &SigningKey) {
        crate::support::app_with_key(server, "mail-api", key).await;
    }

    fn set(iss: &str, jti: &str, event: &str, payload: Value) -> SecurityEventToken {
        SecurityEventToken {
            iss: iss.into(),
            aud: tessera_jose::jwt::Audience::One(ISSUER.into()),
            iat: UnixTime(now()),
            jti: jti.into(),
            sub_id: SubjectId::iss_sub(ISSUER, "u-alice"),
            events: Event {
                event_type: event.into(),
                payload: payload.as_object().unwrap().clone(),
            },
            txn: None,
            toe: None,
            toe_ms: None,
        }
    }

    async fn push(server: &Server, content_type: &str, body: String) -> Reply {
        server
            .send(
                Request::post("/ssf/receive")
                    .header("content-type", content_type)
                    .body(Body::from(body))
                    .unwrap(),
            )
            .await
    }

    async fn risk_of_alice(server: &Server) -> RiskLevel {
        server.state.store.user(&"u-alice".into()).await.unwrap().risk
    }

    /// Serves `key`'s public half as a JWK Set on 127.0.0.1; returns its URL.
    async fn serve_jwks(key: &SigningKey) -> String {
        let jwks = json!({"keys": [key.public_jwk().to_json()]});
        let app = axum::Router::new().route(
            "/jwks",
            axum::routing::get(move || {
                let jwks = jwks.clone();
                async move { axum::Json(jwks) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    /// Name, content type, body, expected `err`.
    type Case = (&'static str, &'static str, String, &'static str);

    #[tokio::test]
    async fn bad_sets_are_refused_with_rfc_8935_errors() {
        let server = server().await;
        let key = SigningKey::generate(Algorithm::Es256).unwrap();
        register_api(&server, &key).await;
        let other = SigningKey::generate(Algorithm::Es256).unwrap();
        let medium = json!({"principal": "USER", "current_level": "MEDIUM"});
        let good = |jti: &str| set("mail-api", jti, RISK, medium.clone());
        let sign = |s: &SecurityEventToken, k: &SigningKey| s.sign(k).unwrap();
        let with = |claims: Value, typ: &str, k: &SigningKey| jws::sign(k, Some(typ), &claims).unwrap();
        let base = serde_json::to_value(good("x")).unwrap();
        let as_value = |mut v: Value, f: &dyn Fn(&mut Value)| {
            f(&mut v);
            v
        };
        let cases: Vec<Case> = vec![
            (
                "not a SET media type",
                "application/json",
                sign(&good("a"), &key),
                "invalid_request",
            ),
            (
                "not a JWT",
                "application/secevent+jwt",
                "hello".into(),
                "invalid_request",
            ),
            (
                "an issuer Tessera does not know",
                "application/secevent+jwt",
                sign(&set("stranger", "b", RISK, medium.clone()), &key),
                // Not a transmitter an administrator trusts (hardening item 8).
                "access_denied",
            ),
            (
                "signed by another key",
                "application/secevent+jwt",
                sign(&good("c"), &other),
                "invalid_key",
            ),
            (
                "for another audience",
                "application/secevent+jwt",
                sign(
                    &SecurityEventToken {
                        aud: tessera_jose::jwt::Audience::One("https://elsewhere.example".into()),
                        ..good("d")
                    },
                    &key,
                ),
                "invalid_audience",
            ),
            (
                "an access token posted as a SET",
                "application/secevent+jwt",
                with(
                    as_value(base.clone(), &|v| v["exp"] = json!(now() + 60)),
                    "at+jwt",
                    &key,
                ),
                "invalid_request",
            ),
            (
                "an ID token posted as a SET",
                "application/secevent+jwt",
                with(
                    as_value(base.clone(), &|v| v["sub"] = json!("u-alice")),
                    "JWT",
                    &key,
                ),
                "invalid_request",
            ),
            (
                "a SET with exp",
                "application/secevent+jwt",
                with(
                    as_value(base.clone(), &|v| v["exp"] = json!(now() + 60)),
                    "secevent+jwt",
                    &key,
                ),
                "invalid_request",
            ),
            (
                "a SET with sub",
                "application/secevent+jwt",
                with(
                    as_value(base.clone(), &|v| v["sub"] = json!("u-alice")),
                    "secevent+jwt",
                    &key,
                ),
                "invalid_request",
            ),
            (
                "two events in one SET",
                "application/secevent+jwt",
                with(
                    as_value(base.clone(), &|v| v["events"][REVOKED] = json!({})),
                    "secevent+jwt",
                    &key,
                ),
                "invalid_request",
            ),
        ];
        for (name, content_type, body, err) in cases {
            let r = push(&server, content_type, body).await;
            let status = if err == "access_denied" {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::BAD_REQUEST
            };
            assert_eq!(r.status, status, "{name}: {}", r.body);
            assert_eq!(r.json["err"], err, "{name}: {}", r.json);
            assert!(r.json["description"].is_string(), "{name}");
        }
        assert_eq!(
            risk_of_alice(&server).await,
            RiskLevel::None,
            "nothing was applied"
        );

        // A key the API no longer publishes (rotated out) is refused too.
        let r = push(&server, "application/secevent+jwt", sign(&good("e"), &key)).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
        let newer = SigningKey::generate(Algorithm::Es256).unwrap();
        register_api(&server, &newer).await;
        let r = push(&server, "application/secevent+jwt", sign(&good("f"), &key)).await;
        assert_eq!(r.json["err"], "invalid_key", "{}", r.body);
    }

    #[tokio::test]
    async fn signals_from_an_api_revoke_sessions_and_raise_risk_once() {
        let server = server().await;
        let key = SigningKey::generate(Algorithm::Es256).unwrap();
        register_api(&server, &key).await;
        let send = |s: SecurityEventToken| {
            let body = s.sign(&key).unwrap();
            push(&server, "application/secevent+jwt", body)
        };

        let medium = set(
            "mail-api",
            "r1",
            RISK,
            json!({"principal": "USER", "current_level": "MEDIUM"}),
        );
        assert_eq!(send(medium.clone()).await.status, StatusCode::ACCEPTED);
        assert_eq!(risk_of_alice(&server).await, RiskLevel::Medium);
        // A lower level does not lower it.
        let low = set(
            "mail-api",
            "r2",
            RISK,
            json!({"principal": "USER", "current_level": "LOW"}),
        );
        assert_eq!(send(low).await.status, StatusCode::ACCEPTED);
        assert_eq!(risk_of_alice(&server).await, RiskLevel::Medium);
        // The same SET again is acknowledged and not applied twice.
        let admin = server.admin_token().await;
        server
            .admin("PATCH", "/users/u-alice", &admin, Some(json!({"risk": "none"})))
            .await;
        assert_eq!(send(medium).await.status, StatusCode::ACCEPTED);
        assert_eq!(
            risk_of_alice(&server).await,
            RiskLevel::None,
            "a duplicate jti is not applied"
        );

        let compromised = set(
            "mail-api",
            "c1",
            COMPROMISE,
            json!({"credential_type": "password"}),
        );
        assert_eq!(send(compromised).await.status, StatusCode::ACCEPTED);
        assert_eq!(risk_of_alice(&server).await, RiskLevel::High);

        assert!(
            server
                .state
                .store
                .not_before(SubjectKind::User, "u-alice")
                .await
                .unwrap()
                .is_none()
        );
        let revoked = set("mail-api", "s1", REVOKED, json!({}));
        assert_eq!(send(revoked).await.status, StatusCode::ACCEPTED);
        assert!(
            server
                .state
                .store
                .not_before(SubjectKind::User, "u-alice")
                .await
                .unwrap()
                .is_some(),
            "alice's sessions are ended"
        );
        // About someone Tessera does not know: accepted, nothing to do.
        let stranger = SecurityEventToken {
            sub_id: SubjectId::email("nobody@example.com"),
            ..set("mail-api", "s2", REVOKED, json!({}))
        };
        assert_eq!(send(stranger).await.status, StatusCode::ACCEPTED);
    }

    #[tokio::test]
    async fn a_configured_transmitter_is_trusted_through_its_jwks_uri() {
        let key = SigningKey::generate(Algorithm::Es256)
            .unwrap()
            .with_kid("vendor-1");
        let jwks_uri = serve_jwks(&key).await;
        let server = server_with(|c| {
            c.ssf
                .transmitters
                .push(tessera_server::config::TransmitterConfig {
                    issuer: "https://vendor.example".into(),
                    jwks_uri: Some(jwks_uri),
                    events: vec![COMPROMISE.into(), RISK.into()],
                    audience: None,
                    poll_url: None,
                    authorization_header: None,
                });
        })
        .await;
        let compromised = set(
            "https://vendor.example",
            "v1",
            COMPROMISE,
            json!({"credential_type": "password"}),
        );
        let r = push(
            &server,
            "application/secevent+jwt",
            compromised.sign(&key).unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
        assert_eq!(risk_of_alice(&server).await, RiskLevel::High);
    }

    /// A transmitter that keeps a stream for Tessera, which polls it: it serves `sets` once,
    /// then nothing, and notes every poll body it gets.
    async fn polled_transmitter(
        sets: Vec<(String, String)>,
    ) -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
        let polls: std::sync::Arc<std::sync::Mutex<Vec<Value>>> = std::sync::Arc::default();
        let seen = polls.clone();
        let pending = std::sync::Arc::new(std::sync::Mutex::new(Some(sets)));
        let app = axum::Router::new().route(
            "/poll",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let (seen, pending) = (seen.clone(), pending.clone());
                async move {
                    assert_eq!(headers["authorization"], "Bearer tessera-polls-me");
                    seen.lock()
                        .unwrap()
                        .push(serde_json::from_str::<Value>(&body).unwrap());
                    let sets: serde_json::Map<String, Value> = pending
                        .lock()
                        .unwrap()
                        .take()
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(jti, set)| (jti, Value::String(set)))
                        .collect();
                    if sets.is_empty() {
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    }
                    axum::Json(json!({"sets": sets}))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/poll", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, polls)
    }

    #[tokio::test]
    async fn tessera_polls_a_configured_transmitter_and_acknowledges_what_it_took() {
        let key = SigningKey::generate(Algorithm::Es256)
            .unwrap()
            .with_kid("vendor-2");
        let jwks_uri = serve_jwks(&key).await;

        let vendor = "https://vendor.example";
        let good = SecurityEventToken {
            aud: tessera_jose::jwt::Audience::One("tessera-at-vendor".into()),
            ..set(vendor, "p1", COMPROMISE, json!({"credential_type": "password"}))
        };
        let wrong_audience = set(vendor, "p2", COMPROMISE, json!({"credential_type": "password"}));
        let (poll_url, polls) = polled_transmitter(vec![
            ("p1".into(), good.sign(&key).unwrap()),
            ("p2".into(), wrong_audience.sign(&key).unwrap()),
        ])
        .await;
        let server = server_with(|c| {
            c.ssf
                .transmitters
                .push(tessera_server::config::TransmitterConfig {
                    issuer: vendor.into(),
                    jwks_uri: Some(jwks_uri),
                    events: vec![COMPROMISE.into(), RISK.into(), REVOKED.into()],
                    audience: Some("tessera-at-vendor".into()),
                    poll_url: Some(poll_url),
                    authorization_header: Some("Bearer tessera-polls-me".into()),
                });
        })
        .await;
        let pollers = tessera_server::ssf::receive::spawn_pollers(&server.state);
        assert_eq!(pollers.len(), 1);

        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let answered = loop {
            let acked = polls
                .lock()
                .unwrap()
                .iter()
                .find(|p| p["ack"].as_array().is_some_and(|a| !a.is_empty()))
                .cloned();
            if let Some(p) = acked {
                break p;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no acknowledgement: {:?}",
                polls.lock().unwrap()
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };
        assert_eq!(answered["ack"], json!(["p1"]));
        assert_eq!(answered["setErrs"]["p2"]["err"], "invalid_audience", "{answered}");
        assert_eq!(risk_of_alice(&server).await, RiskLevel::High);
        for p in pollers {
            p.abort();
        }
    }
}
