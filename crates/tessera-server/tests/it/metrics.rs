//! `/metrics`: what happened shows up in the Prometheus exposition, per server.

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;

use crate::support::{SECRET, basic, server, token_request};

async fn scrape(s: &crate::support::Server) -> String {
    let response = tessera_server::router(s.state.clone())
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/plain; version=0.0.4");
    String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

#[tokio::test]
async fn requests_tokens_and_errors_are_counted() {
    let s = server().await;
    let good = basic("service", SECRET);
    let bad = basic("service", "wrong");
    for _ in 0..2 {
        assert_eq!(
            s.send(token_request(
                "grant_type=client_credentials",
                &[("authorization", &good)]
            ))
            .await
            .status,
            200
        );
    }
    assert_eq!(
        s.send(token_request(
            "grant_type=client_credentials",
            &[("authorization", &bad)]
        ))
        .await
        .status,
        401
    );
    assert_eq!(s.get("/no/such/path/123").await.status, 404);
    let text = scrape(&s).await;
    let has = |needle: &str| assert!(text.contains(needle), "missing {needle} in:\n{text}");
    has(r#"tessera_tokens_issued_total{grant="client_credentials",token_type="Bearer"} 2"#);
    has(r#"tessera_oauth_errors_total{endpoint="token",error="invalid_client"} 1"#);
    has(r#"tessera_http_requests_total{route="/token",method="POST",status="200"} 2"#);
    has(r#"tessera_http_requests_total{route="/token",method="POST",status="401"} 1"#);
    has("tessera_http_request_duration_seconds_bucket{route=\"/token\",method=\"POST\",le=\"0.5\"}");
    assert!(
        !text.contains("/no/such/path"),
        "unmatched paths never become labels"
    );

    // Another server in the same process starts from zero.
    let other = server().await;
    assert!(!scrape(&other).await.contains("tessera_tokens_issued_total"));
}
