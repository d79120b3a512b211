//! Items 3 and 4: sign-in throttling could be raced (the limit was checked before the slow
//! verification and counted after it), account names differing in case were counted together
//! but were different accounts, and password verification had no bound on concurrency.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use tower::ServiceExt as _;

use crate::browser::{Browser, Client, hidden_fields};
use crate::support::{ALICE, BOB, Server, WEBAPP_CB, server, server_with};

/// Posts the same form `n` times at once (each from `addr(i)`), returning the statuses.
async fn flood(
    server: &Server,
    path: &str,
    cookie: &str,
    body: impl Fn(usize) -> String,
    addr: impl Fn(usize) -> SocketAddr,
    n: usize,
) -> Vec<StatusCode> {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let router = tessera_server::router(server.state.clone());
        let mut request = Request::post(path)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", cookie)
            .body(Body::from(body(i)))
            .unwrap();
        request.extensions_mut().insert(ConnectInfo(addr(i)));
        tasks.spawn(async move {
            let response = router.oneshot(request).await.unwrap();
            let status = response.status();
            // Every 503 says when to come back.
            if status == StatusCode::SERVICE_UNAVAILABLE {
                assert_eq!(response.headers()["retry-after"], "1");
            }
            status
        });
    }
    tasks.join_all().await
}

fn count(statuses: &[StatusCode], status: StatusCode) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

fn form(fields: &[(String, String)], extra: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .extend_pairs(extra)
        .finish()
}

fn one_address(_: usize) -> SocketAddr {
    "192.0.2.10:4000".parse().unwrap()
}

/// The sign-in page's hidden fields and the cookies that go with them.
async fn sign_in_page(browser: &mut Browser<'_>) -> (Vec<(String, String)>, String) {
    let client = Client::new("webapp", WEBAPP_CB);
    let page = browser.get(&client.authorize_url("")).await;
    assert_eq!(page.status, StatusCode::OK);
    let cookie = browser.cookie_header();
    (hidden_fields(&page.body), cookie)
}

/// Item 3: 150 concurrent wrong passwords for one account: no more than the account's limit
/// are verified (each verified failure is logged); the rest are refused as locked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn item_03_concurrent_password_guesses_cannot_pass_the_limit() {
    let server = server().await;
    let mut browser = Browser::new(&server);
    let (fields, cookie) = sign_in_page(&mut browser).await;
    let statuses = flood(
        &server,
        "/login",
        &cookie,
        |i| {
            form(
                &fields,
                &[("username", "alice"), ("password", &format!("guess-{i}"))],
            )
        },
        one_address,
        150,
    )
    .await;
    let limit = tessera_server::web::throttle::ACCOUNT_LIMIT as usize;
    let verified = count(&statuses, StatusCode::UNAUTHORIZED);
    assert!(verified <= limit, "{verified} guesses verified: {statuses:?}");
    // The rest are locked out, or (past the bound on concurrent verifications) asked to come
    // back later; none is verified.
    assert_eq!(
        count(&statuses, StatusCode::TOO_MANY_REQUESTS) + count(&statuses, StatusCode::SERVICE_UNAVAILABLE),
        150 - verified
    );
    assert!(count(&statuses, StatusCode::TOO_MANY_REQUESTS) >= 150 - limit);
    let logged = server
        .state
        .store
        .sign_ins(&tessera_store::SignInFilter {
            outcome: Some("failure".into()),
            limit: 500,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(logged.len(), verified);
}

/// Item 3: the same after the password step: 150 concurrent one-time codes, at most the limit
/// of them checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn item_03_concurrent_one_time_codes_cannot_pass_the_limit() {
    let server = server().await;
    let mut browser = Browser::new(&server);
    let client = Client::new("webapp", WEBAPP_CB);
    let page = browser.sign_in(&client.authorize_url(""), BOB.0, BOB.1).await;
    assert!(page.body.contains("name=\"code\""), "{}", page.body);
    let fields = hidden_fields(&page.body);
    let cookie = browser.cookie_header();
    let statuses = flood(
        &server,
        "/login/mfa",
        &cookie,
        |i| form(&fields, &[("code", &format!("{:06}", i))]),
        one_address,
        150,
    )
    .await;
    let limit = tessera_server::web::throttle::ACCOUNT_LIMIT as usize;
    let checked = count(&statuses, StatusCode::UNAUTHORIZED);
    assert!(checked <= limit, "{checked} codes checked: {statuses:?}");
    assert_eq!(count(&statuses, StatusCode::TOO_MANY_REQUESTS), 150 - checked);
}

/// Item 3: usernames compare case-insensitively and NFKC-normalised: `Alice` is alice (one
/// account, one counter), a second account spelled differently cannot be made, and names that
/// mix scripts are refused.
#[tokio::test]
async fn item_03_usernames_are_one_account_whatever_the_case_or_width() {
    let server = server().await;
    for spelling in ["ALICE", "Alice", "ａｌｉｃｅ"] {
        let mut browser = Browser::new(&server);
        let client = Client::new("webapp", WEBAPP_CB);
        let done = browser
            .sign_in(&client.authorize_url(""), spelling, ALICE.1)
            .await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{spelling}: {}", done.body);
        assert!(done.location().starts_with(WEBAPP_CB), "{spelling}");
    }
    let token = server.admin_token().await;
    for (name, why) in [
        ("ALICE", "taken"),
        ("ａｌｉｃｅ", "taken"),
        ("\u{0430}lice", "scripts"),
        ("ali\u{200b}ce", "not allowed"),
    ] {
        let r = server
            .admin(
                "POST",
                "/users",
                &token,
                Some(serde_json::json!({"username": name, "password": "a-long-password-1"})),
            )
            .await;
        assert!(r.status.is_client_error(), "{name:?}: {} {}", r.status, r.body);
        assert!(r.body.contains(why), "{name:?}: {}", r.body);
    }
}

/// Item 4: password verification is bounded; past the bound a sign-in is answered `503` with
/// `Retry-After` (and the attempt does not count against the account), and `/healthz` answers
/// throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn item_04_password_verification_is_bounded_and_sheds_load() {
    let server = server_with(|c| {
        c.sign_in.max_concurrent_password_checks = 2;
        c.sign_in.password_check_queue_ms = 0;
        c.sign_in.max_queued_password_checks = 0;
    })
    .await;
    let mut browser = Browser::new(&server);
    let (fields, cookie) = sign_in_page(&mut browser).await;
    let state = server.state.clone();
    let health = tokio::spawn(async move {
        let mut answered = 0;
        for _ in 0..20 {
            let r = tessera_server::router(state.clone())
                .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
                .await
                .unwrap();
            if r.status() == StatusCode::OK {
                answered += 1;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        answered
    });
    // Distinct accounts from distinct addresses, so the throttle stops none of them.
    let statuses = flood(
        &server,
        "/login",
        &cookie,
        |i| {
            form(
                &fields,
                &[("username", &format!("nobody-{i}")), ("password", "guess")],
            )
        },
        |i| format!("198.51.100.{}:4000", i % 250 + 1).parse().unwrap(),
        60,
    )
    .await;
    assert!(
        server.state.password_checks.peak() <= 2,
        "peak {}",
        server.state.password_checks.peak()
    );
    assert!(
        count(&statuses, StatusCode::SERVICE_UNAVAILABLE) > 0,
        "{statuses:?}"
    );
    assert_eq!(
        count(&statuses, StatusCode::SERVICE_UNAVAILABLE) + count(&statuses, StatusCode::UNAUTHORIZED),
        60
    );
    assert_eq!(health.await.unwrap(), 20, "/healthz kept answering");
}
