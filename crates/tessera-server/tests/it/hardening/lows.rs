//! Items 9 to 15 of the hardening review, the low-severity findings.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::json;
use tessera_jose::{Algorithm, SigningKey};

use crate::browser::{Browser, Client, query_of};
use crate::support::{ALICE, BOB, ISSUER, SECRET, WEBAPP_CB, basic, server, server_with};

/// Item 9: `GET /logout` with someone else's `id_token_hint` asks the browser's own user to
/// confirm, and ends nothing of the hint's owner; a browser without a session ends nothing.
#[tokio::test]
async fn item_09_logout_with_someone_elses_hint_ends_nothing_of_theirs() {
    let server = server().await;
    let client = Client::new("webapp", WEBAPP_CB);
    let mut alice = Browser::new(&server);
    let done = alice.sign_in(&client.authorize_url(""), ALICE.0, ALICE.1).await;
    let code = query_of(done.location())["code"].clone();
    let tokens = client.redeem(&server, &code, true).await;
    let id_token = tokens.json["id_token"].as_str().unwrap().to_owned();
    let refresh = tokens.json["refresh_token"].as_str().unwrap().to_owned();

    let logout = format!(
        "/logout?id_token_hint={id_token}&post_logout_redirect_uri={}",
        crate::browser::urlencode(WEBAPP_CB)
    );
    // Bob's browser follows a link carrying alice's ID token.
    let mut bob = Browser::new(&server);
    bob.sign_in(&client.authorize_url(""), BOB.0, BOB.1).await;
    let page = bob.get(&logout).await;
    assert_eq!(page.status, StatusCode::OK, "a confirmation page, not a redirect");
    assert!(
        page.body.contains("Sign out?") && page.body.contains("bob"),
        "{}",
        page.body
    );
    // A browser with no session at all.
    let mut stranger = Browser::new(&server);
    let page = stranger.get(&logout).await;
    assert_eq!(page.status, StatusCode::OK);

    // Alice's session carries on: her refresh token and her browser session still work.
    let r = client.refresh(&server, &refresh, Some(&client.key)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let again = alice.get(&client.authorize_url("")).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "still signed in");

    // Her own browser with her own hint signs her out, as before.
    let out = alice.get(&logout).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER, "{}", out.body);
}

async fn introspect_as(server: &crate::support::Server, client: &str, token: &str) -> serde_json::Value {
    server
        .send(
            axum::http::Request::post("/introspect")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("authorization", basic(client, SECRET))
                .body(axum::body::Body::from(format!(
                    "token={}",
                    crate::browser::urlencode(token)
                )))
                .unwrap(),
        )
        .await
        .json
}

/// Item 10: a confidential client learns about a token only when it is the token's own client
/// or a resource server the token is meant for.
#[tokio::test]
async fn item_10_introspection_is_for_the_tokens_client_and_its_audience() {
    let server = server_with(|c| {
        c.introspection.resource_servers.clear();
        c.introspection
            .resource_servers
            .insert("service".into(), vec!["https://mail.example".into()]);
    })
    .await;
    let token = |resource: Option<&str>| {
        let body = match resource {
            Some(r) => format!(
                "grant_type=client_credentials&resource={}",
                crate::browser::urlencode(r)
            ),
            None => "grant_type=client_credentials".into(),
        };
        crate::support::token_request(&body, &[("authorization", &basic("admin-cli", SECRET))])
    };
    let for_tessera = server.send(token(None)).await.json["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let for_mail = server.send(token(Some("https://mail.example"))).await.json["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // The token's own client.
    assert_eq!(
        introspect_as(&server, "admin-cli", &for_tessera).await["active"],
        true
    );
    // Another client that serves neither audience: nothing.
    assert_eq!(
        introspect_as(&server, "no-cc", &for_tessera).await,
        json!({"active": false})
    );
    assert_eq!(
        introspect_as(&server, "no-cc", &for_mail).await,
        json!({"active": false})
    );
    // The mail API's resource server sees the mail token, not Tessera's.
    assert_eq!(introspect_as(&server, "service", &for_mail).await["active"], true);
    assert_eq!(
        introspect_as(&server, "service", &for_tessera).await,
        json!({"active": false})
    );

    // Refresh tokens: their own client only.
    let client = Client::new("portal", crate::support::PORTAL_CB);
    let mut browser = Browser::new(&server);
    let done = browser.sign_in(&client.authorize_url(""), ALICE.0, ALICE.1).await;
    let code = query_of(done.location())["code"].clone();
    let redeemed = server
        .send(crate::support::token_request(
            &format!(
                "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={}",
                crate::browser::urlencode(crate::support::PORTAL_CB),
                client.verifier
            ),
            &[("authorization", &basic("portal", SECRET))],
        ))
        .await;
    let refresh = redeemed.json["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(introspect_as(&server, "portal", &refresh).await["active"], true);
    assert_eq!(
        introspect_as(&server, "service", &refresh).await,
        json!({"active": false})
    );
}

/// Item 11: the hostile-input table of redirect URIs at registration.
#[tokio::test]
async fn item_11_redirect_uris_a_browser_would_run_are_refused() {
    let server = server().await;
    let admin = server.admin_token().await;
    let refused = [
        "javascript:alert(document.cookie)//",
        "JavaScript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        "myapp:/callback",
        "http://app.example/cb",
        "https://user:pw@app.example/cb",
    ];
    let accepted = [
        "https://app.example/cb",
        "http://127.0.0.1/cb",
        "http://[::1]:8400/cb",
        "com.example.app:/oauth2redirect",
    ];
    let table = refused
        .iter()
        .map(|uri| (*uri, false))
        .chain(accepted.iter().map(|uri| (*uri, true)));
    for (i, (uri, ok)) in table.enumerate() {
        let r = server
            .admin(
                "POST",
                "/applications",
                &admin,
                Some(json!({"id": format!("app-{i}"), "redirect_uris": [uri]})),
            )
            .await;
        if ok {
            assert_eq!(r.status, StatusCode::CREATED, "{uri}: {}", r.body);
        } else {
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri}: {}", r.body);
            assert!(r.body.contains("redirect_uris[0]"), "{uri}: {}", r.body);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn item_13_stream_and_device_caps_hold_under_concurrency_on_sqlite() {
    item_13_caps(crate::support::Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn item_13_stream_and_device_caps_hold_under_concurrency_on_postgres() {
    item_13_caps(crate::support::Db::Postgres).await;
}

/// Item 13: streams per receiver and devices per user are capped, and the caps hold under
/// concurrent creation.
async fn item_13_caps(db: crate::support::Db) {
    let server = crate::support::server_on_with(db, |c| {
        c.ssf.max_streams_per_receiver = 3;
        c.devices.max_per_user = 10;
    })
    .await;
    let token = crate::ssf::receiver(&server, "many-streams", &["ssf.manage"]).await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (state, token) = (server.state.clone(), token.clone());
        tasks.spawn(async move {
            let request = axum::http::Request::post("/ssf/streams")
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "application/json")
                .body(axum::body::Body::from(
                    json!({"events_requested": ["https://schemas.openid.net/secevent/caep/event-type/session-revoked"]})
                        .to_string(),
                ))
                .unwrap();
            use tower::ServiceExt as _;
            tessera_server::router(state).oneshot(request).await.unwrap().status()
        });
    }
    let statuses = tasks.join_all().await;
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::CREATED).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count(),
        17,
        "{statuses:?}"
    );
    assert_eq!(
        server.state.store.streams_of("many-streams").await.unwrap().len(),
        3
    );

    // Forty concurrent device registrations for one user: exactly ten.
    let directory = server.state.directory(tessera_directory::InitiatingEntity::User);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..40 {
        let directory = directory.clone();
        tasks.spawn(async move {
            let key = SigningKey::generate(Algorithm::Es256).unwrap();
            let spec = tessera_directory::DeviceSpec {
                display_name: format!("laptop {i}"),
                platform: "linux".into(),
                os_version: None,
            };
            directory
                .register_device(
                    &"u-alice".into(),
                    &spec,
                    key.public_jwk(),
                    (tessera_store::KeyProtection::Software, None),
                    10,
                )
                .await
                .is_ok()
        });
    }
    let made = tasks.join_all().await.into_iter().filter(|ok| *ok).count();
    assert_eq!(made, 10);
    assert_eq!(
        server
            .state
            .store
            .devices_of(&"u-alice".into())
            .await
            .unwrap()
            .len(),
        10
    );
}

/// Item 14: after a crash, the restarted node takes back the deliveries it had claimed at
/// once, instead of waiting out their lease.
#[tokio::test]
async fn item_14_a_restarted_node_takes_back_its_claims_at_once() {
    let server = server_with(|c| c.ssf.push_lease_seconds = 60).await;
    let token = crate::ssf::receiver(&server, "mail-api-rx", &["ssf.manage"]).await;
    let rx = crate::ssf::push_receiver(StatusCode::ACCEPTED).await;
    let r = server
        .send(
            axum::http::Request::post("/ssf/streams")
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "application/json")
                .body(axum::body::Body::from(
                    json!({
                        "events_requested": ["https://schemas.openid.net/secevent/risc/event-type/account-disabled"],
                        "delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": rx.url}
                    })
                    .to_string(),
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    crate::ssf::disable_alice(&server).await;
    // The node that was killed had claimed the delivery, for a minute.
    let node = tessera_server::ssf::push::node_id(&server.state.config);
    let claimed = server
        .state
        .store
        .claim(
            &format!("push-{node}-killed"),
            100,
            server.state.now(),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    assert!(!claimed.is_empty());
    // The same node, started again.
    let started = Instant::now();
    let _worker = tessera_server::ssf::push::spawn(server.state.clone());
    while rx.got.lock().unwrap().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still waiting out the dead claim"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("delivered {} ms after the restart", started.elapsed().as_millis());
    let _ = ISSUER;
}

async fn metrics_from(server: &crate::support::Server, from: &str, bearer: Option<&str>) -> StatusCode {
    use tower::ServiceExt as _;
    let mut request = axum::http::Request::get("/metrics");
    if let Some(token) = bearer {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let mut request = request.body(axum::body::Body::empty()).unwrap();
    request.extensions_mut().insert(axum::extract::ConnectInfo(
        from.parse::<std::net::SocketAddr>().unwrap(),
    ));
    tessera_server::router(server.state.clone())
        .oneshot(request)
        .await
        .unwrap()
        .status()
}

/// Item 15: `/metrics` (which names streams) is not public: loopback only by default, a
/// token when one is configured, or a listener of its own.
#[tokio::test]
async fn item_15_metrics_are_not_public() {
    let default = server().await;
    assert_eq!(
        metrics_from(&default, "127.0.0.1:5000", None).await,
        StatusCode::OK
    );
    assert_eq!(
        metrics_from(&default, "203.0.113.7:5000", None).await,
        StatusCode::FORBIDDEN
    );

    let with_token =
        server_with(|c| c.metrics.token = Some(zeroize::Zeroizing::new("scrape-me".into()))).await;
    assert_eq!(
        metrics_from(&with_token, "203.0.113.7:5000", None).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        metrics_from(&with_token, "127.0.0.1:5000", Some("wrong")).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        metrics_from(&with_token, "203.0.113.7:5000", Some("scrape-me")).await,
        StatusCode::OK
    );

    // A listener of its own: the main one does not serve it at all.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = crate::support::private_dir();
    let mut cfg = crate::support::config(dir.path());
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    cfg.metrics.listen = Some(format!("127.0.0.1:{port}").parse().unwrap());
    let prepared = tessera_server::prepare(cfg).await.unwrap();
    let main = prepared.listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(tessera_server::serve_until(prepared, async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let mut scraped = None;
    for _ in 0..50 {
        if let Ok(r) = http.get(format!("http://127.0.0.1:{port}/metrics")).send().await {
            scraped = Some(r.status());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(scraped, Some(reqwest::StatusCode::OK));
    let r = http.get(format!("http://{main}/metrics")).send().await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::NOT_FOUND);
    let _ = stop.send(());
}
