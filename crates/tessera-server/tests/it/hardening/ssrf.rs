//! Item 6: a receiver could point its push endpoint anywhere (loopback in every spelling,
//! private networks, the cloud metadata address) and Tessera posted there with a header the
//! receiver chose; the pause reason told it whether the port answered. Every check here is
//! made before any connection: the only listener is a loopback one that must never be reached.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;

use crate::support::{Server, server_with};

const DISABLED: &str = "https://schemas.openid.net/secevent/risc/event-type/account-disabled";

/// A loopback listener that counts the connections it is given.
async fn trap() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let reached = Arc::new(AtomicUsize::new(0));
    let count = reached.clone();
    tokio::spawn(async move {
        while let Ok((_stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
        }
    });
    (port, reached)
}

async fn create(server: &Server, token: &str, endpoint: &str) -> crate::support::Reply {
    let body = json!({
        "events_requested": [DISABLED],
        "delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": endpoint, "authorization_header": "Bearer x"}
    });
    server
        .send(
            Request::post("/ssf/streams")
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
}

/// Item 6: the hostile-input table of push endpoints: each refused with `400` naming the
/// field and the kind of address, and nothing connected to.
#[tokio::test]
async fn item_06_push_endpoints_at_internal_addresses_are_refused_before_connecting() {
    let server = server_with(|c| c.ssf.push_allowed_networks.clear()).await;
    let token = crate::ssf::receiver(&server, "hostile", &["ssf.manage"]).await;
    let (port, reached) = trap().await;
    let table: Vec<(String, &str)> = vec![
        (format!("https://127.0.0.1:{port}/"), "loopback"),
        (format!("https://127.1:{port}/"), "loopback"),
        (format!("https://2130706433:{port}/"), "loopback"),
        (format!("https://0x7f.0.0.1:{port}/"), "loopback"),
        (format!("https://0177.0.0.1:{port}/"), "loopback"),
        (format!("https://[::1]:{port}/"), "loopback"),
        (format!("https://[::ffff:127.0.0.1]:{port}/"), "loopback"),
        (format!("https://[::ffff:7f00:1]:{port}/"), "loopback"),
        (format!("https://localhost:{port}/"), "loopback"),
        (format!("https://LOCALHOST.:{port}/"), "loopback"),
        (format!("https://api.localhost:{port}/"), "loopback"),
        ("https://0.0.0.0/".into(), "unspecified"),
        ("https://[::]/".into(), "unspecified"),
        ("https://169.254.169.254/latest/meta-data/".into(), "link-local"),
        ("https://[::ffff:169.254.169.254]/".into(), "link-local"),
        ("https://[64:ff9b::a9fe:a9fe]/".into(), "link-local"),
        ("https://[fe80::1]/".into(), "link-local"),
        ("https://10.0.0.1/".into(), "private"),
        ("https://10.255.255.255:8443/".into(), "private"),
        ("https://172.16.0.1/".into(), "private"),
        ("https://192.168.1.1/".into(), "private"),
        ("https://100.64.0.1/".into(), "shared"),
        ("https://[fd00::1]/".into(), "unique-local"),
        ("https://[fc00::1]/".into(), "unique-local"),
        ("https://224.0.0.1/".into(), "multicast"),
        ("https://user:hunter2@example.com/".into(), "credentials"),
    ];
    for (endpoint, why) in &table {
        let r = create(&server, &token, endpoint).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{endpoint}: {}", r.body);
        assert_eq!(r.json["error"], "invalid_request", "{endpoint}");
        let text = r.body.to_lowercase();
        assert!(
            text.contains("endpoint_url") && text.contains(why),
            "{endpoint}: {}",
            r.body
        );
        assert!(!r.body.contains("hunter2"), "credentials are never echoed");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(reached.load(Ordering::SeqCst), 0, "nothing was connected to");
}

/// Item 6: endpoints stored before the rule (or names that resolve to loopback now) are refused
/// at connect time, never reached; the receiver's status says only that pushes failed.
#[tokio::test]
async fn item_06_stored_endpoints_are_checked_again_when_pushing() {
    let server = server_with(|c| {
        c.ssf.push_allowed_networks.clear();
        c.ssf.push_attempts_before_pause = 1;
    })
    .await;
    let (port, reached) = trap().await;
    for (id, endpoint) in [
        ("by-address", format!("http://127.0.0.1:{port}/")),
        ("by-name", format!("http://localhost:{port}/")),
    ] {
        let config = json!({
            "stream_id": id, "iss": crate::support::ISSUER, "aud": "hostile",
            "events_supported": [DISABLED], "events_requested": [DISABLED], "events_delivered": [DISABLED],
            "delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": endpoint}
        });
        let mut uow = server.state.store.begin().await.unwrap();
        uow.put_stream(
            &tessera_store::StreamId(id.into()),
            "hostile",
            tessera_store::StreamStatus::Enabled,
            &config,
            tessera_store::Timestamp(0),
        )
        .await
        .unwrap();
        uow.commit().await.unwrap();
    }
    let _worker = tessera_server::ssf::push::spawn(server.state.clone());
    let admin = server.admin_token().await;
    let r = server
        .admin(
            "PATCH",
            "/users/u-alice",
            &admin,
            Some(json!({"status": "disabled"})),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    for id in ["by-address", "by-name"] {
        loop {
            let stream = server
                .state
                .store
                .stream(&tessera_store::StreamId(id.into()))
                .await
                .unwrap();
            if stream.status == tessera_store::StreamStatus::Paused {
                let reason = stream.status_reason.unwrap_or_default();
                assert_eq!(
                    reason, "push delivery failed 1 times",
                    "no detail for the receiver"
                );
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{id} was not paused");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    assert_eq!(reached.load(Ordering::SeqCst), 0, "nothing was connected to");
}
