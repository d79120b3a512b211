//! Location policy as APIs enforce it: an access token names the policies that did not apply
//! only because of where the client was, `/policy/locations` hands APIs the rules, and an API's
//! `session-presented` signal makes the session's next refresh meet policy from the address the
//! API saw.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tessera_jose::set::SecurityEventToken;
use tessera_jose::subject::ComplexSubject;
use tessera_jose::{Algorithm, SigningKey, SubjectId, UnixTime};
use tessera_store::{AppKind, Application, Timestamp};

use crate::browser::{Browser, Client, query_of};
use crate::support::{ALICE, BOB, ISSUER, SECRET, Server, WEBAPP_CB, basic, server, token_request};

/// The claims of a JWT, unverified (the token came straight from the server).
fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&tessera_jose::b64::decode(payload).unwrap()).unwrap()
}

/// Signs `user` in at the web app (DPoP-bound: a public client's refresh tokens are): the
/// access token's claims and the refresh token.
async fn sign_in(server: &Server, client: &Client, user: (&str, &str)) -> (Value, String) {
    let mut browser = Browser::new(server);
    let mut done = browser.sign_in(&client.authorize_url(""), user.0, user.1).await;
    if user == BOB {
        // Bob has a one-time-code app.
        let code = crate::support::totp_now(crate::support::BOB_TOTP);
        let after = browser.submit(&done, &[("code", &code)]).await;
        done = browser.follow(after).await;
    }
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let code = query_of(done.location())["code"].clone();
    let tokens = client.redeem(server, &code, true).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
    (
        claims_of(tokens.json["access_token"].as_str().unwrap()),
        tokens.json["refresh_token"].as_str().unwrap().to_owned(),
    )
}

/// The mail API: registered with a key to signal back with, and a secret to read the rules.
async fn register_api(server: &Server, key: &SigningKey) {
    let mut uow = server.state.store.begin().await.unwrap();
    uow.put_application(&Application {
        id: "mail-api".into(),
        name: "mail API".into(),
        kind: AppKind::Confidential,
        secret_hash: Some(tessera_store::Secret::new(
            tessera_directory::secrets::hash_client_secret(SECRET),
        )),
        redirect_uris: vec![],
        grant_types: vec!["client_credentials".into()],
        scopes: vec!["ssf.read".into()],
        jwks: Some(json!({ "keys": [key.public_jwk().to_json()] })),
        access_token_minutes: 15,
        refresh_token_days: 30,
        cae_capable: false,
        require_dpop: false,
        require_pushed_authorization_requests: false,
        backchannel_logout_uri: None,
        fapi2: false,
        created_at: Timestamp(0),
        changed_at: Timestamp(0),
    })
    .await
    .unwrap();
    uow.commit().await.unwrap();
}

async fn rules(server: &Server, token: Option<&str>) -> crate::support::Reply {
    let mut r = Request::get("/policy/locations");
    if let Some(t) = token {
        r = r.header("authorization", format!("Bearer {t}"));
    }
    server.send(r.body(Body::empty()).unwrap()).await
}

#[tokio::test]
async fn location_dependent_policies_reach_the_token_the_api_and_the_next_refresh() {
    let server = server().await;
    let admin = server.admin_token().await;
    // Requests in these tests come from 127.0.0.1: the office.
    let office = json!({"display_name": "Office", "ip_ranges": ["127.0.0.0/8"], "trusted": true});
    let r = server
        .admin("PUT", "/locations/office", &admin, Some(office))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let policy = json!({
        "id": "block-outside-office", "displayName": "Block alice outside the office", "state": "enabled",
        "conditions": {
            "users": {"includeUsers": ["u-alice"]},
            "applications": {"includeApplications": ["All"]},
            "locations": {"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]}
        },
        "grantControls": {"builtInControls": ["block"]}
    });
    let r = server
        .admin("PUT", "/policies/block-outside-office", &admin, Some(policy))
        .await;
    assert!(r.status.is_success(), "{}", r.body);

    // The token names the policy that only location kept from applying; bob's names none.
    let client = Client::new("webapp", WEBAPP_CB);
    let (alice, alice_refresh) = sign_in(&server, &client, ALICE).await;
    assert_eq!(alice["location_policies"], json!(["block-outside-office"]));
    assert!(alice.get("location_strict").is_none());
    let (bob, _) = sign_in(&server, &client, BOB).await;
    assert!(bob.get("location_policies").is_none(), "{bob}");

    // APIs read the rules with their own token; others may not.
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    register_api(&server, &key).await;
    assert_eq!(rules(&server, None).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(rules(&server, Some(&admin)).await.status, StatusCode::FORBIDDEN);
    let api_token = server
        .send(token_request(
            "grant_type=client_credentials",
            &[("authorization", &basic("mail-api", SECRET))],
        ))
        .await
        .json["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = rules(&server, Some(&api_token)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json["policies"][0]["id"], "block-outside-office");
    assert_eq!(
        r.json["policies"][0]["locations"]["excludeLocations"],
        json!(["AllTrusted"])
    );
    assert_eq!(r.json["namedLocations"][0]["ipRanges"], json!(["127.0.0.0/8"]));
    let parsed: tessera_policy::LocationRules = serde_json::from_value(r.json.clone()).unwrap();
    assert!(tessera_policy::LocationEnforcer::new(&parsed).is_ok());

    // A second session of alice's, which the API will not report.
    let (_, other_refresh) = sign_in(&server, &client, ALICE).await;
    let refreshed = client.refresh(&server, &alice_refresh, Some(&client.key)).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    let alice_refresh = refreshed.json["refresh_token"].as_str().unwrap().to_owned();

    // The API saw alice's first session used from outside and says so.
    let now = UnixTime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64,
    );
    let event = tessera_signals::SecurityEvent::SessionPresented {
        common: tessera_signals::Common::default(),
        session: tessera_signals::SessionDetails {
            ips: vec!["198.51.100.7".into()],
            ..Default::default()
        },
    };
    let presented = SecurityEventToken {
        iss: "mail-api".into(),
        aud: tessera_jose::jwt::Audience::One(ISSUER.into()),
        iat: now,
        jti: "presented-1".into(),
        sub_id: SubjectId::Complex(ComplexSubject {
            user: Some(Box::new(SubjectId::iss_sub(ISSUER, "u-alice"))),
            session: Some(Box::new(SubjectId::opaque(alice["sid"].as_str().unwrap()))),
            ..Default::default()
        }),
        events: event.to_set_event(),
        txn: None,
        toe: None,
        toe_ms: None,
    };
    let r = server
        .send(
            Request::post("/ssf/receive")
                .header("content-type", "application/secevent+jwt")
                .body(Body::from(presented.sign(&key).unwrap()))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);

    // That session's next refresh meets policy from there too: blocked, and logged as such.
    let refused = client.refresh(&server, &alice_refresh, Some(&client.key)).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert_eq!(refused.json["error"], "invalid_grant");
    assert!(
        refused.json["error_description"]
            .as_str()
            .unwrap()
            .contains("blocked"),
        "{}",
        refused.body
    );
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
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!(logs[0].ip, "198.51.100.7");
    assert_eq!(
        logs[0].details.value()["stage"],
        "refresh_token (address reported by an API)"
    );
    // The other session was not reported.
    let other = client.refresh(&server, &other_refresh, Some(&client.key)).await;
    assert_eq!(other.status, StatusCode::OK, "{}", other.body);
}
