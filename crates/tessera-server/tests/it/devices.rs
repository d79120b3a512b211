//! Device registration: a user's client proves possession of the device key with DPoP.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tessera_jose::dpop::{ProofOptions, create_proof};
use tessera_jose::jwt::{TokenKind, Validation, verify};
use tessera_jose::{Algorithm, Clock, ManualClock, SigningKey, SystemClock, SystemRandom};

use crate::browser::{Browser, Client, query_of};
use crate::support::{
    ALICE, ISSUER, Reply, SECRET, Server, WEBAPP_CB, basic, server, server_with, token_request,
};

/// Alice's Bearer access token from the web client (no DPoP).
async fn alice_token(server: &Server) -> String {
    let client = Client::new("webapp", WEBAPP_CB);
    let mut browser = Browser::new(server);
    let done = browser.sign_in(&client.authorize_url(""), ALICE.0, ALICE.1).await;
    let code = query_of(done.location())["code"].clone();
    let tokens = client.redeem(server, &code, false).await;
    assert_eq!(tokens.json["token_type"], "Bearer", "{}", tokens.body);
    tokens.json["access_token"].as_str().unwrap().to_owned()
}

fn proof(key: &SigningKey, htu: &str, token: Option<&str>) -> String {
    create_proof(
        key,
        "POST",
        htu,
        ProofOptions {
            access_token: token,
            ..ProofOptions::default()
        },
        &SystemClock,
        &SystemRandom,
    )
    .unwrap()
}

async fn register(server: &Server, token: &str, dpop: Option<String>, body: Value) -> Reply {
    let mut r = Request::post("/devices")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json");
    if let Some(p) = dpop {
        r = r.header("dpop", p);
    }
    server.send(r.body(Body::from(body.to_string())).unwrap()).await
}

/// Name, access token, DPoP header, body, expected status, expected error code.
type Case = (&'static str, String, Option<String>, Value, u16, &'static str);

fn laptop() -> Value {
    json!({"display_name": "Alice's laptop", "platform": "windows", "os_version": "10.0.26100"})
}

#[tokio::test]
async fn a_user_registers_a_device_by_proving_its_key() {
    let server = server().await;
    let token = alice_token(&server).await;
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    let htu = format!("{ISSUER}/devices");
    let r = register(&server, &token, Some(proof(&key, &htu, Some(&token))), laptop()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.json["jkt"], key.thumbprint().as_str());
    assert_eq!(r.json["trust_type"], "registered");
    assert_eq!(r.json["compliance"], "unknown");
    assert_eq!(r.json["platform"], "windows");
    let id = r.json["id"].as_str().unwrap().to_owned();
    assert_eq!(r.headers["location"], format!("/devices/{id}").as_str());

    // The same key again.
    let r = register(&server, &token, Some(proof(&key, &htu, Some(&token))), laptop()).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);

    // Listed for her.
    let r = server
        .send(
            Request::get("/devices")
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.json["items"][0]["id"], id.as_str());

    // A code redeemed with a proof by that key: the tokens name the device.
    let client = Client {
        key,
        ..Client::new("webapp", WEBAPP_CB)
    };
    let mut browser = Browser::new(&server);
    let done = browser.sign_in(&client.authorize_url(""), ALICE.0, ALICE.1).await;
    let code = query_of(done.location())["code"].clone();
    let tokens = client.redeem(&server, &code, true).await;
    let rules = Validation::new(TokenKind::AccessToken, ISSUER, ISSUER);
    let at = verify(
        tokens.json["access_token"].as_str().unwrap(),
        server.state.keys.published(),
        &rules,
        &SystemClock,
    )
    .unwrap();
    let claims: Value = at.claims().unwrap();
    assert_eq!(claims["device_id"], id.as_str());
}

#[tokio::test]
async fn negative_table() {
    let server = server_with(|c| c.devices.max_per_user = 1).await;
    let token = alice_token(&server).await;
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    let htu = format!("{ISSUER}/devices");
    let good = || proof(&key, &htu, Some(&token));
    let cc = server
        .send(token_request(
            "grant_type=client_credentials",
            &[("authorization", &basic("service", SECRET))],
        ))
        .await
        .json["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let cases: Vec<Case> = vec![
        (
            "no proof",
            token.clone(),
            None,
            laptop(),
            400,
            "invalid_dpop_proof",
        ),
        (
            "proof for another URI",
            token.clone(),
            Some(proof(&key, &format!("{ISSUER}/token"), Some(&token))),
            laptop(),
            400,
            "invalid_dpop_proof",
        ),
        (
            "not a proof",
            token.clone(),
            Some("x.y.z".into()),
            laptop(),
            400,
            "invalid_dpop_proof",
        ),
        (
            "unknown platform",
            token.clone(),
            Some(good()),
            json!({"display_name": "x", "platform": "amiga"}),
            400,
            "invalid_request",
        ),
        (
            "unknown member",
            token.clone(),
            Some(good()),
            json!({"display_name": "x", "platform": "linux", "owner": "bob"}),
            400,
            "invalid_request",
        ),
        (
            "a client's token",
            cc,
            Some(good()),
            laptop(),
            403,
            "access_denied",
        ),
        (
            "a forged token",
            "forged".into(),
            Some(good()),
            laptop(),
            401,
            "invalid_token",
        ),
    ];
    for (name, token, dpop, body, status, error) in cases {
        let r = register(&server, &token, dpop, body).await;
        assert_eq!(r.status.as_u16(), status, "{name}: {}", r.body);
        assert_eq!(r.json["error"], error, "{name}");
    }
    // One device is the limit here.
    let r = register(&server, &token, Some(good()), laptop()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let other = SigningKey::generate(Algorithm::Es256).unwrap();
    let r = register(&server, &token, Some(proof(&other, &htu, Some(&token))), laptop()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.json["error_description"]
            .as_str()
            .unwrap()
            .contains("at most 1")
    );
}

#[tokio::test]
async fn administrators_set_compliance_disable_and_delete_devices() {
    let server = server().await;
    {
        let mut uow = server.state.store.begin().await.unwrap();
        uow.put_stream(
            &tessera_store::StreamId("watch".into()),
            "test",
            tessera_store::StreamStatus::Enabled,
            &json!({}),
            tessera_store::Timestamp(0),
        )
        .await
        .unwrap();
        uow.commit().await.unwrap();
    }
    let token = alice_token(&server).await;
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    let r = register(
        &server,
        &token,
        Some(proof(&key, &format!("{ISSUER}/devices"), Some(&token))),
        laptop(),
    )
    .await;
    let id = r.json["id"].as_str().unwrap().to_owned();
    let admin = server.admin_token().await;
    let path = format!("/devices/{id}");

    let r = server.admin("GET", &path, &admin, None).await;
    assert_eq!(r.json["user_id"], "u-alice");
    let r = server
        .admin("PATCH", &path, &admin, Some(json!({"compliance": "compliant"})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json["compliance"], "compliant");
    let claimed = server
        .state
        .store
        .claim(
            "t",
            10,
            tessera_store::Timestamp(i64::MAX / 2),
            std::time::Duration::from_secs(60),
        )
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert!(claimed[0].event_type.ends_with("/device-compliance-change"));
    assert_eq!(claimed[0].payload["current_status"], "compliant");
    assert_eq!(claimed[0].subject["format"], "complex");
    assert_eq!(claimed[0].subject["user"]["sub"], "u-alice");
    assert_eq!(claimed[0].subject["device"]["id"], id.as_str());

    // The spelling the GET and the OpenAPI document use is the one the PATCH takes (it once
    // wanted `notCompliant`).
    let r = server
        .admin(
            "PATCH",
            &path,
            &admin,
            Some(json!({"compliance": "not-compliant"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json["compliance"], "not-compliant");
    let r = server
        .admin(
            "PATCH",
            &path,
            &admin,
            Some(json!({"compliance": "notCompliant"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "one spelling only");
    let r = server
        .admin("PATCH", &path, &admin, Some(json!({"compliance": "compliant"})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    for (body, field) in [
        (json!({"compliance": "maybe"}), "compliance"),
        (json!({"status": "gone"}), "status"),
        (json!({"owner": "bob"}), "owner"),
    ] {
        let r = server.admin("PATCH", &path, &admin, Some(body)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_eq!(r.json["errors"][0]["field"], field);
    }

    // An access token issued to the device stops working when the device is disabled.
    let client = Client {
        key,
        ..Client::new("webapp", WEBAPP_CB)
    };
    let mut browser = Browser::new(&server);
    let done = browser.sign_in(&client.authorize_url(""), ALICE.0, ALICE.1).await;
    let code = query_of(done.location())["code"].clone();
    let tokens = client.redeem(&server, &code, true).await;
    let access = tokens.json["access_token"].as_str().unwrap().to_owned();
    let userinfo = || {
        let proof = client.proof(&format!("{ISSUER}/userinfo"), Some(&access));
        Request::get("/userinfo")
            .header("authorization", format!("DPoP {access}"))
            .header("dpop", proof)
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(server.send(userinfo()).await.status, StatusCode::OK);
    let r = server
        .admin("PATCH", &path, &admin, Some(json!({"status": "disabled"})))
        .await;
    assert_eq!(r.json["status"], "disabled");
    assert_eq!(server.send(userinfo()).await.status, StatusCode::UNAUTHORIZED);
    // Subscribed APIs hear of it as session-revoked about the device (not the whole user).
    let heard = server
        .state
        .store
        .claim(
            "t",
            10,
            tessera_store::Timestamp(i64::MAX / 2),
            std::time::Duration::from_secs(60),
        )
        .await
        .unwrap();
    let revoked = heard
        .iter()
        .find(|d| d.event_type.ends_with("/session-revoked"))
        .expect("a session-revoked event");
    assert_eq!(revoked.subject["format"], "complex");
    assert_eq!(revoked.subject["device"]["id"], id.as_str());
    // So does the session's refresh token, with no token-protection policy involved.
    let refresh = tokens.json["refresh_token"].as_str().unwrap();
    let r = client.refresh(&server, refresh, Some(&client.key)).await;
    assert_eq!(r.json["error"], "invalid_grant", "{}", r.body);
    assert!(
        r.json["error_description"]
            .as_str()
            .unwrap()
            .contains("device disabled")
    );

    let r = server.admin("DELETE", &path, &admin, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = server.admin("GET", &path, &admin, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = server.admin("DELETE", &path, &admin, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

/// A token-protection policy for alice on the desktop app, in `state`.
fn token_protection(state: &str) -> Value {
    json!({
        "displayName": "Token protection for desktop sign-ins", "state": state,
        "conditions": {
            "users": {"includeUsers": ["u-alice"]},
            "applications": {"includeApplications": ["desktop"]},
            "clientAppTypes": ["mobileAppsAndDesktopClients"]
        },
        "sessionControls": {"secureSignInSession": {"isEnabled": true}}
    })
}

/// The desktop app on a machine whose key is `key`.
fn desktop(key: SigningKey) -> Client {
    Client {
        key,
        ..Client::new("desktop", "http://127.0.0.1/callback")
    }
}

/// Signs alice in at the desktop app and redeems the code with a proof by its key.
async fn desktop_sign_in(server: &Server, client: &Client) -> Reply {
    let mut browser = Browser::new(server);
    let done = browser.sign_in(&client.authorize_url(""), ALICE.0, ALICE.1).await;
    let code = query_of(done.location())["code"].clone();
    client.redeem(server, &code, true).await
}

#[tokio::test]
async fn token_protection_binds_desktop_sessions_to_a_registered_device() {
    let server = server().await;
    let admin = server.admin_token().await;
    let r = server
        .admin(
            "PUT",
            "/policies/token-protection",
            &admin,
            Some(token_protection("enabled")),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    // Browsers are out of scope: alice's web sign-in still works, and registers her laptop.
    let token = alice_token(&server).await;
    let notebook = desktop(SigningKey::generate(Algorithm::Es256).unwrap());
    let r = register(
        &server,
        &token,
        Some(proof(&notebook.key, &format!("{ISSUER}/devices"), Some(&token))),
        laptop(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let device = r.json["id"].as_str().unwrap().to_owned();

    // On the registered laptop: tokens, bound to it.
    let tokens = desktop_sign_in(&server, &notebook).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
    let refresh = tokens.json["refresh_token"].as_str().unwrap().to_owned();
    let r = notebook.refresh(&server, &refresh, Some(&notebook.key)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let refresh = r.json["refresh_token"].as_str().unwrap().to_owned();

    // On a machine that is not registered: refused, saying why, and logged.
    let stranger = desktop(SigningKey::generate(Algorithm::Es256).unwrap());
    let r = desktop_sign_in(&server, &stranger).await;
    assert_eq!(r.json["error"], "invalid_grant", "{}", r.body);
    assert!(
        r.json["error_description"]
            .as_str()
            .unwrap()
            .contains("token protection"),
        "{}",
        r.json
    );
    let logs = server
        .admin("GET", "/sign-ins?user=u-alice&outcome=interrupted", &admin, None)
        .await;
    assert_eq!(
        logs.json["items"][0]["token_protection"], "missing",
        "{}",
        logs.json
    );
    assert_eq!(logs.json["items"][0]["jkt"], stranger.key.thumbprint().as_str());

    // Report-only first, as the rollout advice goes: the stranger gets in, the log says what
    // would have happened.
    let r = server
        .admin(
            "PUT",
            "/policies/token-protection",
            &admin,
            Some(token_protection("enabledForReportingButNotEnforced")),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = desktop_sign_in(&server, &stranger).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let logs = server
        .admin("GET", "/sign-ins?user=u-alice&outcome=success", &admin, None)
        .await;
    // (Entries of the same second come in any order; take the token endpoint's.)
    let entry = logs.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["stage"] == "authorization_code")
        .unwrap();
    assert_eq!(entry["token_protection"], "missing");
    let id = entry["id"].as_str().unwrap();
    let detail = server
        .admin("GET", &format!("/sign-ins/{id}"), &admin, None)
        .await;
    assert_eq!(
        detail.json["details"]["conditionalAccess"]["policies"][0]["result"], "reportOnlyFailure",
        "{}",
        detail.json
    );

    // Enforced again, and the laptop disabled: its session no longer refreshes.
    server
        .admin(
            "PUT",
            "/policies/token-protection",
            &admin,
            Some(token_protection("enabled")),
        )
        .await;
    let r = server
        .admin(
            "PATCH",
            &format!("/devices/{device}"),
            &admin,
            Some(json!({"status": "disabled"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = notebook.refresh(&server, &refresh, Some(&notebook.key)).await;
    assert_eq!(r.json["error"], "invalid_grant", "{}", r.body);
}

#[tokio::test]
async fn token_protection_negative_table() {
    let server = server().await;
    let admin = server.admin_token().await;
    let mut policy = token_protection("enabled");
    policy["grantControls"] = json!({"operator": "AND", "builtInControls": ["compliantDevice"]});
    let r = server
        .admin("PUT", "/policies/token-protection", &admin, Some(policy))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    // Alice's laptop, registered but not (yet) compliant.
    let token = alice_token(&server).await;
    let laptop_app = desktop(SigningKey::generate(Algorithm::Es256).unwrap());
    let r = register(
        &server,
        &token,
        Some(proof(&laptop_app.key, &format!("{ISSUER}/devices"), Some(&token))),
        laptop(),
    )
    .await;
    let device = r.json["id"].as_str().unwrap().to_owned();
    // Bob's device, registered to him.
    let bobs = desktop(SigningKey::generate(Algorithm::Es256).unwrap());
    let mut uow = server.state.store.begin().await.unwrap();
    uow.insert_device(&tessera_store::Device {
        id: "dev-bob".into(),
        user_id: "u-bob".into(),
        display_name: "Bob's laptop".into(),
        platform: "windows".into(),
        os_version: None,
        trust_type: tessera_store::TrustType::Registered,
        compliance: tessera_store::Compliance::Compliant,
        status: tessera_store::DeviceStatus::Enabled,
        public_jwk: bobs.key.public_jwk().to_json(),
        jkt: bobs.key.thumbprint().as_str().to_owned(),
        key_protection: tessera_store::KeyProtection::Software,
        key_attestation: None,
        created_at: tessera_store::Timestamp(0),
        last_seen_at: None,
    })
    .await
    .unwrap();
    uow.commit().await.unwrap();

    let unregistered = desktop(SigningKey::generate(Algorithm::Es256).unwrap());
    for (name, client, needs) in [
        ("an unregistered key", &unregistered, "token protection"),
        ("another user's device", &bobs, "token protection"),
        ("a device that is not compliant", &laptop_app, "compliant device"),
    ] {
        let r = desktop_sign_in(&server, client).await;
        assert_eq!(r.json["error"], "invalid_grant", "{name}: {}", r.body);
        assert!(
            r.json["error_description"].as_str().unwrap().contains(needs),
            "{name}: {}",
            r.json
        );
    }
    // Marked compliant, the laptop gets in; disabled, it does not.
    let path = format!("/devices/{device}");
    server
        .admin("PATCH", &path, &admin, Some(json!({"compliance": "compliant"})))
        .await;
    let r = desktop_sign_in(&server, &laptop_app).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let refresh = r.json["refresh_token"].as_str().unwrap().to_owned();

    // The device's own key, but a proof that is not good for this request: refused as a bad
    // proof before the grant is looked at, so the session survives the attempt.
    let token_url = format!("{ISSUER}/token");
    let an_hour_ago = ManualClock::new(SystemClock.now().minus(std::time::Duration::from_secs(3600)));
    let made = |htm: &str, htu: &str, clock: &dyn Clock| {
        create_proof(
            &laptop_app.key,
            htm,
            htu,
            ProofOptions::default(),
            clock,
            &SystemRandom,
        )
        .unwrap()
    };
    let used = made("POST", &token_url, &SystemClock);
    let r = laptop_app.refresh_with_proof(&server, &refresh, &used).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let refresh = r.json["refresh_token"].as_str().unwrap().to_owned();
    let bad_proofs = [
        (
            "a proof for another URL",
            made("POST", &format!("{ISSUER}/userinfo"), &SystemClock),
        ),
        (
            "a proof for another method",
            made("GET", &token_url, &SystemClock),
        ),
        ("a proof made an hour ago", made("POST", &token_url, &an_hour_ago)),
        ("a proof used before", used),
    ];
    for (name, bad) in &bad_proofs {
        let r = laptop_app.refresh_with_proof(&server, &refresh, bad).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{name}: {}", r.body);
        assert_eq!(r.json["error"], "invalid_dpop_proof", "{name}: {}", r.body);
    }
    let r = laptop_app.refresh(&server, &refresh, Some(&laptop_app.key)).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "a bad proof does not end the session: {}",
        r.body
    );

    server
        .admin("PATCH", &path, &admin, Some(json!({"status": "disabled"})))
        .await;
    let r = desktop_sign_in(&server, &laptop_app).await;
    assert_eq!(r.json["error"], "invalid_grant", "{}", r.body);
}

#[tokio::test]
async fn token_protection_scoped_to_desktop_clients_leaves_browsers_and_break_glass_alone() {
    let server = server().await;
    let admin = server.admin_token().await;
    let policy = json!({
        "displayName": "Token protection for desktop sign-ins", "state": "enabled",
        "conditions": {
            "users": {"includeUsers": ["All"], "excludeUsers": ["u-bob"]},
            "applications": {"includeApplications": ["All"]},
            "clientAppTypes": ["mobileAppsAndDesktopClients"]
        },
        "sessionControls": {"secureSignInSession": {"isEnabled": true}}
    });
    let r = server
        .admin("PUT", "/policies/token-protection", &admin, Some(policy))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    // A browser app (confidential, https redirect) signs alice in with no device at all.
    let portal = Client::new("portal", crate::support::PORTAL_CB);
    let mut browser = Browser::new(&server);
    let done = browser.sign_in(&portal.authorize_url(""), ALICE.0, ALICE.1).await;
    let code = query_of(done.location())["code"].clone();
    let body = format!(
        "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={}",
        crate::browser::urlencode(crate::support::PORTAL_CB),
        portal.verifier
    );
    let r = server
        .send(token_request(
            &body,
            &[("authorization", &basic("portal", SECRET))],
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "browsers are not in scope: {}", r.body);

    // The desktop app is in scope: alice without a registered device is refused …
    let stranger = desktop(SigningKey::generate(Algorithm::Es256).unwrap());
    let r = desktop_sign_in(&server, &stranger).await;
    assert_eq!(r.json["error"], "invalid_grant", "{}", r.body);
    // … and bob, the break-glass account the policy excludes, is not.
    let mut browser = Browser::new(&server);
    let page = browser
        .sign_in(
            &stranger.authorize_url(""),
            crate::support::BOB.0,
            crate::support::BOB.1,
        )
        .await;
    let totp = crate::support::totp_now(crate::support::BOB_TOTP);
    let done = browser.submit(&page, &[("code", &totp)]).await;
    let done = browser.follow(done).await;
    let code = query_of(done.location())["code"].clone();
    let r = stranger.redeem(&server, &code, true).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "the excluded account gets in: {}",
        r.body
    );
}
