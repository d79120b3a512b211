//! OpenID Connect Back-Channel Logout 1.0, the OP's side, on SQLite and on PostgreSQL: every
//! way a session ends (sign-out at `/logout`, an administrator, a deleted user, a replayed
//! refresh token) sends a logout token to each client of the session that registered a
//! `backchannel_logout_uri`, checked here as a relying party must (§2.6) by a small relying
//! party listening on 127.0.0.1. Failures are retried, refusals are not, and every outcome is
//! in the sign-in log.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use tessera_jose::SystemClock;
use tessera_jose::jwt::{TokenKind, Validation, verify};
use tessera_store::{Application, SignInFilter, UserId};
use tokio::sync::{Mutex, mpsc};

use crate::browser::{Browser, Client, query_of, urlencode};
use crate::support::{
    ALICE, Db, ISSUER, PORTAL_CB, SECRET, Server, WEBAPP_CB, basic, server_on, server_on_with,
};

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() { super::$name(super::Db::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test] async fn $name() { super::$name(super::Db::Postgres).await })*
        }
    };
}

on_both!(
    sign_out_reaches_every_application_of_the_browser_session,
    an_administrator_and_a_deleted_user_end_sessions_at_the_client,
    a_failing_client_is_tried_again_and_a_refusing_one_is_not,
);

/// A relying party's back-channel logout endpoint: it answers with the statuses it is given,
/// in order (then 200), and hands on each logout token it receives.
struct RelyingParty {
    url: String,
    tokens: mpsc::UnboundedReceiver<String>,
}

async fn relying_party(answers: &[u16]) -> RelyingParty {
    let (tx, rx) = mpsc::unbounded_channel();
    let answers = Arc::new(Mutex::new(answers.to_vec()));
    let app = axum::Router::new().route(
        "/backchannel-logout",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let tx = tx.clone();
            let answers = answers.clone();
            async move {
                // §2.5: form-encoded, one parameter.
                assert_eq!(headers["content-type"], "application/x-www-form-urlencoded");
                let params: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
                    .into_owned()
                    .collect();
                assert_eq!(params.len(), 1, "{body}");
                assert_eq!(params[0].0, "logout_token");
                tx.send(params[0].1.clone()).unwrap();
                let mut answers = answers.lock().await;
                let status = if answers.is_empty() {
                    200
                } else {
                    answers.remove(0)
                };
                StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/backchannel-logout", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    RelyingParty { url, tokens: rx }
}

impl RelyingParty {
    /// The next logout token, checked as OpenID Connect Back-Channel Logout §2.6 says, for
    /// `client`; returns its claims.
    async fn next(&mut self, server: &Server, client: &str) -> serde_json::Value {
        let token = tokio::time::timeout(Duration::from_secs(10), self.tokens.recv())
            .await
            .expect("a logout token within 10 s")
            .unwrap();
        let rules = Validation::new(TokenKind::Logout, ISSUER, client);
        let verified = verify(&token, server.state.keys.published(), &rules, &SystemClock)
            .unwrap_or_else(|e| panic!("the logout token is valid: {e}"));
        assert_eq!(verified.header.typ.as_deref(), Some("logout+jwt"));
        let claims: serde_json::Value = verified.claims().unwrap();
        assert_eq!(
            claims["events"],
            serde_json::json!({"http://schemas.openid.net/event/backchannel-logout": {}})
        );
        assert!(claims.get("nonce").is_none(), "§2.4: no nonce");
        assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 16));
        claims
    }

    /// Nothing more arrives within `wait`.
    async fn quiet(&mut self, wait: Duration) {
        if let Ok(Some(t)) = tokio::time::timeout(wait, self.tokens.recv()).await {
            panic!("an unexpected logout token: {t}");
        }
    }
}

/// Points `client`'s back-channel logout at `uri`.
async fn take_logouts(server: &Server, client: &str, uri: &str) {
    let app = server.state.store.application(client).await.unwrap();
    let mut uow = server.state.store.begin().await.unwrap();
    uow.put_application(&Application {
        backchannel_logout_uri: Some(uri.to_owned()),
        ..app
    })
    .await
    .unwrap();
    uow.commit().await.unwrap();
    server.state.applications.forget(client);
}

/// Redeems a `portal` code (a confidential client): its tokens.
async fn portal_tokens(server: &Server, client: &Client, code: &str) -> serde_json::Value {
    let redeemed = server
        .send(crate::support::token_request(
            &format!(
                "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={}",
                urlencode(PORTAL_CB),
                client.verifier
            ),
            &[("authorization", &basic("portal", SECRET))],
        ))
        .await;
    assert_eq!(redeemed.status, StatusCode::OK, "{}", redeemed.body);
    redeemed.json
}

fn sid_of(server: &Server, id_token: &str, client: &str) -> String {
    let rules = Validation::new(TokenKind::IdToken, ISSUER, client);
    let v = verify(id_token, server.state.keys.published(), &rules, &SystemClock).unwrap();
    let claims: serde_json::Value = v.claims().unwrap();
    claims["sid"].as_str().unwrap().to_owned()
}

/// The sign-in log's back-channel logout entries for alice, newest first.
async fn logged(server: &Server) -> Vec<(String, String, serde_json::Value)> {
    let entries = server
        .state
        .store
        .sign_ins(&SignInFilter {
            user_id: Some(UserId::from("u-alice")),
            outcome: None,
            before: None,
            limit: 100,
        })
        .await
        .unwrap();
    entries
        .into_iter()
        .filter(|e| e.outcome == "loggedOut" || e.outcome == "logoutFailed")
        .map(|e| {
            let details: serde_json::Value = serde_json::from_str(e.details.text()).unwrap();
            (
                e.outcome,
                e.client_id.unwrap_or_default(),
                details["backchannelLogout"].clone(),
            )
        })
        .collect()
}

/// Waits until the sign-in log has `n` back-channel logout entries.
async fn logged_n(server: &Server, n: usize) -> Vec<(String, String, serde_json::Value)> {
    for _ in 0..200 {
        let entries = logged(server).await;
        if entries.len() >= n {
            return entries;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the sign-in log has {:?}", logged(server).await);
}

async fn sign_out_reaches_every_application_of_the_browser_session(db: Db) {
    let server = server_on(db).await;
    let mut rp = relying_party(&[]).await;
    take_logouts(&server, "webapp", &rp.url).await;
    take_logouts(&server, "portal", &rp.url).await;
    let _worker = tessera_server::oauth::backchannel_logout::spawn(server.state.clone());

    // Metadata says so (§2.1).
    let meta = server.get("/.well-known/openid-configuration").await.json;
    assert_eq!(meta["backchannel_logout_supported"], true);
    assert_eq!(meta["backchannel_logout_session_supported"], true);

    // One browser signs in to two applications. webapp (public, no DPoP) gets no refresh
    // token: its session is kept all the same, so that it can be told when it ends.
    let webapp = Client::new("webapp", WEBAPP_CB);
    let mut browser = Browser::new(&server);
    let done = browser.sign_in(&webapp.authorize_url(""), ALICE.0, ALICE.1).await;
    let code = query_of(done.location())["code"].clone();
    let web_tokens = webapp.redeem(&server, &code, false).await;
    assert_eq!(web_tokens.status, StatusCode::OK, "{}", web_tokens.body);
    assert!(web_tokens.json.get("refresh_token").is_none());
    let web_id_token = web_tokens.json["id_token"].as_str().unwrap().to_owned();
    let web_sid = sid_of(&server, &web_id_token, "webapp");

    let portal = Client::new("portal", PORTAL_CB);
    let again = browser.get(&portal.authorize_url("")).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "no password the second time");
    let portal_code = query_of(again.location())["code"].clone();
    let portal_json = portal_tokens(&server, &portal, &portal_code).await;
    let portal_sid = sid_of(&server, portal_json["id_token"].as_str().unwrap(), "portal");
    let portal_refresh = portal_json["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(web_sid, portal_sid);
    rp.quiet(Duration::from_millis(300)).await;

    // Signing out at webapp ends both, and each is told of its own session.
    let out = browser
        .get(&format!(
            "/logout?id_token_hint={web_id_token}&post_logout_redirect_uri={}",
            urlencode(WEBAPP_CB)
        ))
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER, "{}", out.body);
    let mut told = vec![rp.next(&server, "webapp").await, rp.next(&server, "portal").await];
    // Which comes first is the worker's business; sort by audience.
    told.sort_by_key(|c| c["aud"].as_str().unwrap().to_owned());
    let (portal_told, web_told) = (&told[0], &told[1]);
    assert_eq!(portal_told["aud"], "portal");
    assert_eq!(portal_told["sid"], portal_sid.as_str());
    assert_eq!(web_told["aud"], "webapp");
    assert_eq!(web_told["sid"], web_sid.as_str());
    for claims in &told {
        assert_eq!(claims["sub"], "u-alice");
        assert_eq!(claims["iss"], ISSUER);
    }
    rp.quiet(Duration::from_millis(300)).await;

    // Subscribed APIs hear it too: `session-revoked` about each of the two sessions.
    let events = server.state.store.recent_events(20).await.unwrap();
    let mut revoked: Vec<String> = events
        .iter()
        .filter(|e| e.event_type.ends_with("/caep/event-type/session-revoked"))
        .map(|e| {
            let subject: serde_json::Value = serde_json::from_str(&e.subject).unwrap();
            assert_eq!(subject["user"]["sub"], "u-alice", "{subject}");
            subject["session"]["id"].as_str().unwrap().to_owned()
        })
        .collect();
    revoked.sort();
    let mut both = vec![web_sid.clone(), portal_sid.clone()];
    both.sort();
    assert_eq!(revoked, both);

    // The portal's refresh token ended with its session.
    let refreshed = server
        .send(crate::support::token_request(
            &format!(
                "grant_type=refresh_token&refresh_token={}",
                urlencode(&portal_refresh)
            ),
            &[("authorization", &basic("portal", SECRET))],
        ))
        .await;
    assert_eq!(refreshed.json["error"], "invalid_grant", "{}", refreshed.body);

    // The sign-in log says who was told, why, at the first attempt.
    let entries = logged_n(&server, 2).await;
    let mut clients: Vec<&str> = entries.iter().map(|e| e.1.as_str()).collect();
    clients.sort_unstable();
    assert_eq!(clients, ["portal", "webapp"]);
    for (outcome, _, details) in &entries {
        assert_eq!(outcome, "loggedOut");
        assert_eq!(details["reason"], "signed out");
        assert_eq!(details["attempts"], 1);
        assert_eq!(details["status"], 200);
        assert_eq!(details["uri"], rp.url.as_str());
    }
}

async fn an_administrator_and_a_deleted_user_end_sessions_at_the_client(db: Db) {
    let server = server_on(db).await;
    let mut rp = relying_party(&[]).await;
    take_logouts(&server, "portal", &rp.url).await;
    let _worker = tessera_server::oauth::backchannel_logout::spawn(server.state.clone());
    let admin = server.admin_token().await;
    let portal = Client::new("portal", PORTAL_CB);

    // An administrator revokes alice's sessions.
    let mut browser = Browser::new(&server);
    let done = browser.sign_in(&portal.authorize_url(""), ALICE.0, ALICE.1).await;
    let tokens = portal_tokens(&server, &portal, &query_of(done.location())["code"]).await;
    let sid = sid_of(&server, tokens["id_token"].as_str().unwrap(), "portal");
    let revoked = server
        .admin("POST", "/users/u-alice/revoke-sessions", &admin, None)
        .await;
    assert!(revoked.status.is_success(), "{}", revoked.body);
    let claims = rp.next(&server, "portal").await;
    assert_eq!(claims["sid"], sid.as_str());
    assert_eq!(claims["sub"], "u-alice");
    // A session is told once: revoking again owes nothing.
    let again = server
        .admin("POST", "/users/u-alice/revoke-sessions", &admin, None)
        .await;
    assert!(again.status.is_success());
    rp.quiet(Duration::from_millis(400)).await;

    // A replayed refresh token ends its session (the family is revoked): the client hears.
    let mut browser = Browser::new(&server);
    let done = browser.sign_in(&portal.authorize_url(""), ALICE.0, ALICE.1).await;
    let tokens = portal_tokens(&server, &portal, &query_of(done.location())["code"]).await;
    let sid = sid_of(&server, tokens["id_token"].as_str().unwrap(), "portal");
    let first = tokens["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |token: String| {
        let server = &server;
        async move {
            server
                .send(crate::support::token_request(
                    &format!("grant_type=refresh_token&refresh_token={}", urlencode(&token)),
                    &[("authorization", &basic("portal", SECRET))],
                ))
                .await
        }
    };
    assert_eq!(refresh(first.clone()).await.status, StatusCode::OK);
    assert_eq!(refresh(first).await.json["error"], "invalid_grant");
    let claims = rp.next(&server, "portal").await;
    assert_eq!(claims["sid"], sid.as_str());

    // Deleting alice ends her session too, before she goes.
    let mut browser = Browser::new(&server);
    let done = browser.sign_in(&portal.authorize_url(""), ALICE.0, ALICE.1).await;
    let tokens = portal_tokens(&server, &portal, &query_of(done.location())["code"]).await;
    let sid = sid_of(&server, tokens["id_token"].as_str().unwrap(), "portal");
    let deleted = server.admin("DELETE", "/users/u-alice", &admin, None).await;
    assert!(deleted.status.is_success(), "{}", deleted.body);
    let claims = rp.next(&server, "portal").await;
    assert_eq!(claims["sid"], sid.as_str());
    assert_eq!(claims["sub"], "u-alice");

    let reasons: Vec<String> = logged_n(&server, 3)
        .await
        .iter()
        .map(|e| e.2["reason"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        reasons,
        [
            "the user was deleted",
            "refresh token reuse",
            "revoked by an administrator"
        ],
        "newest first"
    );
}

async fn a_failing_client_is_tried_again_and_a_refusing_one_is_not(db: Db) {
    let server = server_on_with(db, |c| c.logout.backchannel_attempts = 3).await;
    let _worker = tessera_server::oauth::backchannel_logout::spawn(server.state.clone());
    let admin = server.admin_token().await;
    let portal = Client::new("portal", PORTAL_CB);
    let session = || async {
        let mut browser = Browser::new(&server);
        let done = browser.sign_in(&portal.authorize_url(""), ALICE.0, ALICE.1).await;
        portal_tokens(&server, &portal, &query_of(done.location())["code"]).await
    };
    let revoke = || async {
        let r = server
            .admin("POST", "/users/u-alice/revoke-sessions", &admin, None)
            .await;
        assert!(r.status.is_success(), "{}", r.body);
    };

    // 503, then 500: the third attempt, 1 s + 2 s later, is answered.
    let mut rp = relying_party(&[503, 500]).await;
    take_logouts(&server, "portal", &rp.url).await;
    session().await;
    revoke().await;
    let started = std::time::Instant::now();
    let first = rp.next(&server, "portal").await;
    let second = rp.next(&server, "portal").await;
    let third = rp.next(&server, "portal").await;
    assert!(
        started.elapsed() >= Duration::from_millis(2900),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(first["sid"], third["sid"]);
    assert_ne!(first["jti"], second["jti"], "each attempt is a token of its own");
    let entries = logged_n(&server, 1).await;
    assert_eq!(entries[0].0, "loggedOut");
    assert_eq!(entries[0].2["attempts"], 3);

    // 400: the client has the token and refuses it; it is not sent again.
    let mut rp = relying_party(&[400]).await;
    take_logouts(&server, "portal", &rp.url).await;
    session().await;
    revoke().await;
    rp.next(&server, "portal").await;
    let entries = logged_n(&server, 2).await;
    assert_eq!(entries[0].0, "logoutFailed");
    assert_eq!(entries[0].2["outcome"], "refused");
    rp.quiet(Duration::from_millis(1500)).await;

    // Never answered: given up after the configured attempts, and logged.
    let mut rp = relying_party(&[500, 500, 500]).await;
    take_logouts(&server, "portal", &rp.url).await;
    session().await;
    revoke().await;
    for _ in 0..3 {
        rp.next(&server, "portal").await;
    }
    let entries = logged_n(&server, 3).await;
    assert_eq!(entries[0].0, "logoutFailed");
    assert_eq!(entries[0].2["outcome"], "failed");
    assert_eq!(entries[0].2["attempts"], 3);
    rp.quiet(Duration::from_millis(1500)).await;

    // An address Tessera does not send to (a cloud metadata service): refused before any
    // connection, and logged.
    take_logouts(&server, "portal", "http://169.254.169.254/latest/logout").await;
    session().await;
    revoke().await;
    let entries = logged_n(&server, 4).await;
    assert_eq!(entries[0].0, "logoutFailed");
    assert_eq!(entries[0].2["attempts"], 1);
    let error = server
        .state
        .store
        .sign_ins(&SignInFilter {
            user_id: Some(UserId::from("u-alice")),
            outcome: Some("logoutFailed".into()),
            before: None,
            limit: 1,
        })
        .await
        .unwrap()[0]
        .error
        .clone()
        .unwrap();
    assert!(error.contains("link-local"), "{error}");
}
