//! The authorization-code flow end to end — sign-in pages, MFA, Conditional Access, code,
//! tokens, refresh rotation and reuse, userinfo, introspection, revocation, logout — on SQLite
//! and on PostgreSQL.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use tessera_jose::jwt::{TokenKind, Validation, verify};
use tessera_jose::{Algorithm, SigningKey, SystemClock};
use tessera_store::{PolicyRecord, Timestamp};

use crate::browser::{Browser, Client, query_of};
use crate::support::{ALICE, BOB, BOB_TOTP, Db, ISSUER, SECRET, Server, WEBAPP_CB, basic, server_on};

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
    code_flow_with_dpop_refresh_userinfo_and_logout,
    refresh_reuse_revokes_the_family,
    bound_refresh_token_without_its_key_is_a_logged_replay,
    code_reuse_revokes_what_the_code_issued,
    totp_step_when_the_user_has_one,
    policy_requiring_mfa_and_blocking,
);

/// Signs alice in at `client` and returns the code.
pub(crate) async fn code_for(server: &Server, client: &Client, user: (&str, &str)) -> String {
    let mut browser = Browser::new(server);
    let done = browser.sign_in(&client.authorize_url(""), user.0, user.1).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let q = query_of(done.location());
    assert_eq!(q["iss"], ISSUER, "RFC 9207");
    assert_eq!(q["state"], "st-1");
    q["code"].clone()
}

async fn code_flow_with_dpop_refresh_userinfo_and_logout(db: Db) {
    let server = server_on(db).await;
    let client = Client::new("webapp", WEBAPP_CB);
    let mut browser = Browser::new(&server);
    let done = browser.sign_in(&client.authorize_url(""), ALICE.0, ALICE.1).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert!(done.location().starts_with(WEBAPP_CB));
    let code = query_of(done.location())["code"].clone();

    let tokens = client.redeem(&server, &code, true).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.json);
    assert_eq!(tokens.json["token_type"], "DPoP");
    assert_eq!(tokens.headers["cache-control"], "no-store");
    let access = tokens.json["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens.json["refresh_token"].as_str().unwrap().to_owned();

    // The ID token: signed, for this client, with the nonce and the session.
    let id_token = tokens.json["id_token"].as_str().unwrap();
    let rules = Validation::new(TokenKind::IdToken, ISSUER, "webapp");
    let v = verify(id_token, server.state.keys.published(), &rules, &SystemClock).unwrap();
    let claims: serde_json::Value = v.claims().unwrap();
    assert_eq!(claims["nonce"], "n-1");
    assert_eq!(claims["sub"], "u-alice");
    assert_eq!(claims["preferred_username"], "alice");
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    let sid = claims["sid"].as_str().unwrap().to_owned();

    // The access token is bound to the key and names the session.
    let rules = Validation::new(TokenKind::AccessToken, ISSUER, ISSUER);
    let at = verify(&access, server.state.keys.published(), &rules, &SystemClock).unwrap();
    let at_claims: serde_json::Value = at.claims().unwrap();
    assert_eq!(
        at_claims["cnf"]["jkt"],
        client.key.public_jwk().thumbprint().as_str()
    );
    assert_eq!(at_claims["sid"], sid.as_str());

    // The browser session is remembered: a second authorization needs no password.
    let again = browser.get(&client.authorize_url("")).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    assert!(query_of(again.location()).contains_key("code"));

    // userinfo with DPoP; Bearer refused for a bound token.
    let info = userinfo(&server, &client, &access, true).await;
    assert_eq!(info.status, StatusCode::OK, "{}", info.body);
    assert_eq!(info.json["email"], "alice@example.com");
    let bearer = userinfo(&server, &client, &access, false).await;
    assert_eq!(bearer.status, StatusCode::UNAUTHORIZED);
    assert!(
        bearer.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("DPoP ")
    );

    // Refresh with the key: rotation.
    let r1 = client.refresh(&server, &refresh, Some(&client.key)).await;
    assert_eq!(r1.status, StatusCode::OK, "{}", r1.json);
    let refresh2 = r1.json["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(refresh2, refresh);
    assert_eq!(r1.json["token_type"], "DPoP");

    // A refresh token is introspected by its own client only (here a public client, which
    // cannot authenticate): another client learns nothing of it (hardening item 10). The
    // portal test in `hardening::lows` sees its own refresh token active.
    assert_eq!(
        introspect(&server, &refresh2).await,
        serde_json::json!({"active": false})
    );
    assert_eq!(introspect(&server, &refresh).await["active"], false);

    // RP-initiated logout with the ID token: the session ends, the refresh token dies.
    let out = browser
        .get(&format!(
            "/logout?id_token_hint={id_token}&post_logout_redirect_uri={}&state=bye",
            crate::browser::urlencode(WEBAPP_CB)
        ))
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER, "{}", out.body);
    assert_eq!(query_of(out.location())["state"], "bye");
    let after = client.refresh(&server, &refresh2, Some(&client.key)).await;
    assert_eq!(after.json["error"], "invalid_grant", "{}", after.json);
    assert_eq!(
        userinfo(&server, &client, &access, true).await.status,
        StatusCode::UNAUTHORIZED
    );
    // And the browser must sign in again.
    let page = browser.get(&client.authorize_url("")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("name=\"password\""));
}

pub(crate) async fn userinfo(
    server: &Server,
    client: &Client,
    access: &str,
    dpop: bool,
) -> crate::support::Reply {
    let mut r = Request::get("/userinfo");
    if dpop {
        r = r
            .header("authorization", format!("DPoP {access}"))
            .header("dpop", client.proof(&format!("{ISSUER}/userinfo"), Some(access)));
    } else {
        r = r.header("authorization", format!("Bearer {access}"));
    }
    server.send(r.body(Body::empty()).unwrap()).await
}

pub(crate) async fn introspect(server: &Server, token: &str) -> serde_json::Value {
    let r = Request::post("/introspect")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", basic("service", SECRET))
        .body(Body::from(format!("token={}", crate::browser::urlencode(token))))
        .unwrap();
    server.send(r).await.json
}

async fn refresh_reuse_revokes_the_family(db: Db) {
    let server = server_on(db).await;
    let client = Client::new("webapp", WEBAPP_CB);
    let code = code_for(&server, &client, ALICE).await;
    let first = client.redeem(&server, &code, true).await.json["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = client.refresh(&server, &first, Some(&client.key)).await.json["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // The old token again: reuse, and the whole family goes.
    let reuse = client.refresh(&server, &first, Some(&client.key)).await;
    assert_eq!(reuse.status, StatusCode::BAD_REQUEST);
    assert_eq!(reuse.json["error"], "invalid_grant");
    let current = client.refresh(&server, &second, Some(&client.key)).await;
    assert_eq!(
        current.json["error"], "invalid_grant",
        "the newest token died with its family"
    );
    let logs = server
        .state
        .store
        .sign_ins(&tessera_store::SignInFilter {
            outcome: Some("theft".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(logs.len(), 1);
}

async fn bound_refresh_token_without_its_key_is_a_logged_replay(db: Db) {
    let server = server_on(db).await;
    crate::support::watch_events(&server).await;
    let client = Client::new("webapp", WEBAPP_CB);
    let code = code_for(&server, &client, ALICE).await;
    let refresh = client.redeem(&server, &code, true).await.json["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let thief = SigningKey::generate(Algorithm::Es256).unwrap();
    for attempt in [None, Some(&thief)] {
        let r = client.refresh(&server, &refresh, attempt).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_eq!(r.json["error"], "invalid_grant", "{}", r.json);
    }
    let replays = server
        .state
        .store
        .sign_ins(&tessera_store::SignInFilter {
            outcome: Some("replay".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(replays.len(), 2);
    // One with the thief's key ("replay"), one with no proof at all ("unbound").
    let seen: Vec<(&str, Option<&str>)> = replays
        .iter()
        .map(|r| (r.token_protection.as_str(), r.jkt.as_deref()))
        .collect();
    assert!(
        seen.contains(&("replay", Some(thief.thumbprint().as_str()))),
        "{seen:?}"
    );
    assert!(seen.contains(&("unbound", None)), "{seen:?}");
    // A copy is in someone else's hands: the session is over, for the rightful holder too, and
    // the user's risk is high.
    let after = client.refresh(&server, &refresh, Some(&client.key)).await;
    assert_eq!(after.json["error"], "invalid_grant", "{}", after.json);
    let alice = server.state.store.user(&"u-alice".into()).await.unwrap();
    assert_eq!(alice.risk, tessera_store::RiskLevel::High);
    // Every API hears of it, once: session-revoked and risk-level-change, by policy.
    let events = server
        .state
        .store
        .claim(
            "t",
            10,
            Timestamp(i64::MAX / 2),
            std::time::Duration::from_secs(60),
        )
        .await
        .unwrap();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e.event_type.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(kinds, ["session-revoked", "risk-level-change"]);
    assert_eq!(events[0].payload["initiating_entity"], "policy");
    assert_eq!(events[1].payload["current_level"], "HIGH");
}

async fn code_reuse_revokes_what_the_code_issued(db: Db) {
    let server = server_on(db).await;
    let client = Client::new("webapp", WEBAPP_CB);
    let code = code_for(&server, &client, ALICE).await;
    let tokens = client.redeem(&server, &code, true).await;
    assert_eq!(tokens.status, StatusCode::OK);
    let refresh = tokens.json["refresh_token"].as_str().unwrap();
    let again = client.redeem(&server, &code, true).await;
    assert_eq!(again.json["error"], "invalid_grant");
    let r = client.refresh(&server, refresh, Some(&client.key)).await;
    assert_eq!(
        r.json["error"], "invalid_grant",
        "tokens from a reused code are revoked"
    );
    // The access token too: introspection reports it inactive (its session is revoked).
    let access = tokens.json["access_token"].as_str().unwrap();
    let r = server
        .send(
            Request::post("/introspect")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("authorization", basic("portal", SECRET))
                .body(Body::from(format!("token={access}")))
                .unwrap(),
        )
        .await;
    assert_eq!(r.json, serde_json::json!({"active": false}), "{}", r.body);
}

async fn totp_step_when_the_user_has_one(db: Db) {
    let server = server_on(db).await;
    let client = Client::new("webapp", WEBAPP_CB);
    let mut browser = Browser::new(&server);
    let page = browser.sign_in(&client.authorize_url(""), BOB.0, BOB.1).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("name=\"code\""), "{}", page.body);
    let wrong = browser.submit(&page, &[("code", "000000")]).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let code = crate::support::totp_now(BOB_TOTP);
    let done = browser.submit(&page, &[("code", &code)]).await;
    let done = browser.follow(done).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let auth_code = query_of(done.location())["code"].clone();
    let tokens = client.redeem(&server, &auth_code, true).await;
    let id = tessera_jose::jws::decode(tokens.json["id_token"].as_str().unwrap()).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(id.unverified_payload()).unwrap();
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["acr"], "mfa");
    // The access token says the same, for APIs that ask for a step-up (RFC 9470).
    let at = tessera_jose::jws::decode(tokens.json["access_token"].as_str().unwrap()).unwrap();
    let at: serde_json::Value = serde_json::from_slice(at.unverified_payload()).unwrap();
    assert_eq!(at["acr"], "mfa");
    assert_eq!(at["amr"], claims["amr"]);
    assert_eq!(at["auth_time"], claims["auth_time"]);

    // The same code cannot be used twice.
    let mut other = Browser::new(&server);
    let page = other.sign_in(&client.authorize_url(""), BOB.0, BOB.1).await;
    let replay = other.submit(&page, &[("code", &code)]).await;
    assert_eq!(
        replay.status,
        StatusCode::UNAUTHORIZED,
        "a one-time code works once"
    );
}

/// When the store cannot read a user's MFA methods, the one-time-code step says the service is
/// unavailable (503, logged) instead of treating the user as having none.
#[tokio::test]
async fn a_store_failure_at_the_code_step_is_a_503_not_a_missing_method() {
    let server = crate::support::server_on(Db::Postgres).await;
    let client = Client::new("webapp", WEBAPP_CB);
    let mut browser = Browser::new(&server);
    let page = browser.sign_in(&client.authorize_url(""), BOB.0, BOB.1).await;
    assert!(page.body.contains("name=\"code\""), "{}", page.body);
    server
        .sql_behind_its_back("ALTER TABLE mfa_methods RENAME TO mfa_methods_away")
        .await;
    let code = crate::support::totp_now(BOB_TOTP);
    let r = browser.submit(&page, &[("code", &code)]).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert!(r.body.contains("Try again shortly"), "{}", r.body);
}

async fn put_policy(server: &Server, id: &str, document: serde_json::Value) {
    let mut uow = server.state.store.begin().await.unwrap();
    uow.put_policy(&PolicyRecord {
        id: id.into(),
        state: "enabled".into(),
        document,
        changed_at: Timestamp(0),
    })
    .await
    .unwrap();
    uow.commit().await.unwrap();
    server
        .state
        .policies
        .reload(server.state.store.as_ref())
        .await
        .unwrap();
}

fn policy(id: &str, users: serde_json::Value, grant: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "displayName": id,
        "state": "enabled",
        "conditions": {
            "users": users,
            "applications": {"includeApplications": ["All"]}
        },
        "grantControls": grant
    })
}

async fn policy_requiring_mfa_and_blocking(db: Db) {
    let server = server_on(db).await;
    let client = Client::new("webapp", WEBAPP_CB);
    put_policy(
        &server,
        "mfa-for-alice",
        policy(
            "mfa-for-alice",
            serde_json::json!({"includeUsers": ["u-alice"]}),
            serde_json::json!({"operator": "OR", "builtInControls": ["mfa"]}),
        ),
    )
    .await;
    // Alice has no second factor: refused, back at the client, and logged with the policy.
    let mut browser = Browser::new(&server);
    let done = browser.sign_in(&client.authorize_url(""), ALICE.0, ALICE.1).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let q = query_of(done.location());
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["iss"], ISSUER);
    let logs = server
        .state
        .store
        .sign_ins(&tessera_store::SignInFilter {
            outcome: Some("blocked".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(logs.len(), 1);
    let details = logs[0].details.value();
    let report = &details["conditionalAccess"];
    assert_eq!(report["outcome"], "interrupt", "{report}");
    assert_eq!(report["policies"][0]["id"], "mfa-for-alice");

    put_policy(
        &server,
        "block-bob",
        policy(
            "block-bob",
            serde_json::json!({"includeUsers": ["u-bob"]}),
            serde_json::json!({"operator": "OR", "builtInControls": ["block"]}),
        ),
    )
    .await;
    let mut browser = Browser::new(&server);
    let done = browser.sign_in(&client.authorize_url(""), BOB.0, BOB.1).await;
    assert_eq!(
        query_of(done.location())["error"],
        "access_denied",
        "{}",
        done.body
    );
}
