//! The admin API: who may call it, what each resource accepts and refuses, the events its
//! changes raise, and the OpenAPI document that describes it.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tessera_store::{StreamId, StreamStatus, Timestamp};

use crate::browser::{Browser, Client, query_of};
use crate::support::{ALICE, SECRET, Server, WEBAPP_CB, basic, server, token_request};

/// A stream that receives every event, so a test can see which ones a change raised.
async fn watch(server: &Server) {
    let mut uow = server.state.store.begin().await.unwrap();
    uow.put_stream(
        &StreamId("watch".into()),
        "test",
        StreamStatus::Enabled,
        &json!({}),
        Timestamp(0),
    )
    .await
    .unwrap();
    uow.commit().await.unwrap();
}

/// The events raised since the last call: (short type, subject `sub`, payload).
async fn events(server: &Server) -> Vec<(String, String, Value)> {
    let claimed = server
        .state
        .store
        .claim("t", 100, Timestamp(i64::MAX / 2), Duration::from_secs(60))
        .await
        .unwrap();
    let mut out = Vec::new();
    for d in claimed {
        server
            .state
            .store
            .acknowledge(&d.stream_id, d.event_id, Timestamp(0))
            .await
            .unwrap();
        let short = d.event_type.rsplit('/').next().unwrap().to_owned();
        out.push((
            short,
            d.subject["sub"].as_str().unwrap_or("").to_owned(),
            d.payload,
        ));
    }
    out
}

fn names(events: &[(String, String, Value)]) -> Vec<&str> {
    events.iter().map(|e| e.0.as_str()).collect()
}

#[tokio::test]
async fn only_administrators_get_in() {
    let server = server().await;
    // No token: a bare challenge (RFC 6750 §3.1).
    let r = server
        .send(Request::get("/admin/api/users").body(Body::empty()).unwrap())
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers["www-authenticate"], "Bearer realm=\"tessera\"");
    // A garbage token.
    let r = server.admin("GET", "/users", "not-a-token", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json["error"], "invalid_token");
    // A valid token without the admin scope.
    let reply = server
        .send(token_request(
            "grant_type=client_credentials",
            &[("authorization", &basic("service", SECRET))],
        ))
        .await;
    let plain = reply.json["access_token"].as_str().unwrap().to_owned();
    let r = server.admin("GET", "/users", &plain, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json["error"], "insufficient_scope");
    assert!(
        r.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
    // The admin client gets in; an unknown path is a JSON 404.
    let token = server.admin_token().await;
    let r = server.admin("GET", "/users", &token, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.headers["cache-control"], "no-store");
    let r = server.admin("GET", "/nothing-here", &token, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json["error"], "not_found");
}

#[tokio::test]
async fn a_user_token_needs_the_admins_group() {
    let server = server().await;
    let token = server.admin_token().await;
    let r = server
        .admin(
            "POST",
            "/applications",
            &token,
            Some(json!({"id": "console", "redirect_uris": [WEBAPP_CB], "scopes": ["tessera.admin"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(
        r.json.get("client_secret").is_none(),
        "a public client has no secret"
    );

    let client = Client::new("console", WEBAPP_CB);
    let url = client.authorize_url("").replace(
        "scope=openid%20profile%20email%20offline_access",
        "scope=openid%20tessera.admin",
    );
    let mut browser = Browser::new(&server);
    let done = browser.sign_in(&url, ALICE.0, ALICE.1).await;
    let code = query_of(done.location())["code"].clone();
    let tokens = client.redeem(&server, &code, false).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
    assert_eq!(tokens.json["scope"], "openid tessera.admin");
    let alice = tokens.json["access_token"].as_str().unwrap().to_owned();
    let r = server.admin("GET", "/users", &alice, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json["error"], "access_denied");

    // The first-run bootstrap made the group, with the administrator in it.
    let r = server.admin("GET", "/groups/admins", &token, None).await;
    assert_eq!(r.json["members"], json!(["admin"]), "{}", r.body);
    let r = server
        .admin("PUT", "/groups/admins/members/u-alice", &token, None)
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = server.admin("GET", "/users", &alice, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // Disabling her ends that at once: her token is revoked with her sessions.
    let r = server
        .admin(
            "PATCH",
            "/users/u-alice",
            &token,
            Some(json!({"status": "disabled"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = server.admin("GET", "/users", &alice, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn users_lifecycle_raises_events_and_ends_sessions() {
    let server = server().await;
    watch(&server).await;
    let token = server.admin_token().await;

    // Create, with the negative table first.
    for (body, field) in [
        (json!({"username": ""}), "username"),
        (json!({"username": "a b"}), "username"),
        (json!({"username": "carol", "email": "not-an-address"}), "email"),
        (json!({"username": "carol", "password": "short"}), "password"),
        (json!({"username": "carol", "role": "admin"}), "role"),
        (json!({"username": 5}), "username"),
    ] {
        let r = server.admin("POST", "/users", &token, Some(body.clone())).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.body);
        assert_eq!(r.json["error"], "invalid_request");
        let fields: Vec<&str> = r.json["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert!(fields.contains(&field), "{body}: {fields:?}");
    }
    let r = server
        .send(
            Request::post("/admin/api/users")
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "text/plain")
                .body(Body::from("{}"))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json["error"], "invalid_request");
    let r = server
        .admin(
            "POST",
            "/users",
            &token,
            Some(json!({"username": "carol", "email": "carol@example.com", "password": "carol-password-1"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let carol = r.json["id"].as_str().unwrap().to_owned();
    assert_eq!(
        r.headers["location"],
        format!("/admin/api/users/{carol}").as_str()
    );
    assert_eq!(r.json["has_password"], true);
    assert!(r.json.get("password_hash").is_none());
    let r = server
        .admin("POST", "/users", &token, Some(json!({"username": "carol"})))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);

    // Pages.
    let r = server.admin("GET", "/users?limit=2", &token, None).await;
    assert_eq!(r.json["items"].as_array().unwrap().len(), 2);
    let next = r.json["next"].as_str().unwrap().to_owned();
    let r = server
        .admin("GET", &format!("/users?limit=2&after={next}"), &token, None)
        .await;
    assert!(!r.json["items"].as_array().unwrap().is_empty());
    for bad in [
        "/users?limit=0",
        "/users?limit=5000",
        "/users?limit=x",
        "/users?colour=red",
    ] {
        let r = server.admin("GET", bad, &token, None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }

    // Alice signs in and holds a refresh token.
    let client = Client::new("webapp", WEBAPP_CB);
    let mut browser = Browser::new(&server);
    let done = browser.sign_in(&client.authorize_url(""), ALICE.0, ALICE.1).await;
    let code = query_of(done.location())["code"].clone();
    let tokens = client.redeem(&server, &code, true).await;
    let refresh = tokens.json["refresh_token"].as_str().unwrap().to_owned();
    let access = tokens.json["access_token"].as_str().unwrap().to_owned();
    let _ = events(&server).await;

    // Risk and a password reset: events, and the reset ends her sessions.
    let r = server
        .admin("PATCH", "/users/u-alice", &token, Some(json!({"risk": "high"})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json["risk"], "high");
    let e = events(&server).await;
    assert_eq!(names(&e), ["risk-level-change"]);
    assert_eq!(e[0].1, "u-alice");
    assert_eq!(e[0].2["current_level"], "HIGH");
    assert_eq!(e[0].2["initiating_entity"], "admin");
    let r = server
        .admin("PATCH", "/users/u-alice", &token, Some(json!({"risk": "fatal"})))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json["errors"][0]["field"], "risk");

    let r = server
        .admin(
            "PATCH",
            "/users/u-alice",
            &token,
            Some(json!({"password": "a-new-password-2"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(names(&events(&server).await), ["credential-change"]);
    let r = client.refresh(&server, &refresh, Some(&client.key)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json["error"], "invalid_grant");
    let proof = client.proof(&format!("{}/userinfo", crate::support::ISSUER), Some(&access));
    let r = server
        .send(
            Request::get("/userinfo")
                .header("authorization", format!("DPoP {access}"))
                .header("dpop", proof)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "access tokens issued before the reset are refused"
    );

    // Disable, enable, revoke sessions, delete.
    let r = server
        .admin(
            "PATCH",
            "/users/u-bob",
            &token,
            Some(json!({"status": "disabled"})),
        )
        .await;
    assert_eq!(r.json["status"], "disabled");
    assert_eq!(names(&events(&server).await), ["account-disabled"]);
    let r = server
        .admin(
            "PATCH",
            "/users/u-bob",
            &token,
            Some(json!({"status": "disabled"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(events(&server).await.is_empty(), "no change, no event");
    server
        .admin(
            "PATCH",
            "/users/u-bob",
            &token,
            Some(json!({"status": "enabled"})),
        )
        .await;
    assert_eq!(names(&events(&server).await), ["account-enabled"]);
    let r = server
        .admin("POST", "/users/u-bob/revoke-sessions", &token, None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(names(&events(&server).await), ["session-revoked"]);
    let r = server
        .admin("DELETE", &format!("/users/{carol}"), &token, None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let e = events(&server).await;
    assert_eq!(names(&e), ["account-purged"]);
    assert_eq!(e[0].1, carol);
    for (method, path) in [
        ("GET", format!("/users/{carol}")),
        ("DELETE", format!("/users/{carol}")),
        ("PATCH", "/users/nobody".to_owned()),
        ("POST", "/users/nobody/revoke-sessions".to_owned()),
    ] {
        let body = (method == "PATCH").then(|| json!({"risk": "low"}));
        let r = server.admin(method, &path, &token, body).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(r.json["error"], "not_found");
    }
    // Bob's detail view shows his MFA method without its secret.
    let r = server.admin("GET", "/users/u-bob", &token, None).await;
    assert_eq!(r.json["mfa_methods"][0]["kind"], "totp");
    assert!(!r.body.contains(crate::support::BOB_TOTP));
}

#[tokio::test]
async fn groups_and_membership_raise_claims_changes() {
    let server = server().await;
    watch(&server).await;
    let token = server.admin_token().await;
    let r = server
        .admin(
            "POST",
            "/groups",
            &token,
            Some(json!({"id": "sales", "name": "Sales"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = server
        .admin(
            "POST",
            "/groups",
            &token,
            Some(json!({"id": "sales", "name": "Sales again"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = server
        .admin("POST", "/groups", &token, Some(json!({"id": "a/b", "name": ""})))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json["errors"].as_array().unwrap().len(), 2);

    let r = server
        .admin("PUT", "/groups/sales/members/u-alice", &token, None)
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let e = events(&server).await;
    assert_eq!(names(&e), ["token-claims-change"]);
    assert_eq!(e[0].2["claims"]["groups"], json!(["sales"]));
    let r = server
        .admin("PUT", "/groups/sales/members/u-alice", &token, None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(events(&server).await.is_empty());
    let r = server
        .admin("PUT", "/groups/sales/members/nobody", &token, None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = server.admin("GET", "/groups/sales", &token, None).await;
    assert_eq!(r.json["members"], json!(["u-alice"]));
    let r = server.admin("GET", "/users/u-alice", &token, None).await;
    assert_eq!(r.json["groups"], json!(["sales"]));

    let r = server
        .admin("DELETE", "/groups/sales/members/u-alice", &token, None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(events(&server).await[0].2["claims"]["groups"], json!([]));
    let r = server
        .admin("DELETE", "/groups/sales/members/u-alice", &token, None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    server
        .admin("PUT", "/groups/sales/members/u-bob", &token, None)
        .await;
    let _ = events(&server).await;
    let r = server.admin("DELETE", "/groups/sales", &token, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let e = events(&server).await;
    assert_eq!(names(&e), ["token-claims-change"]);
    assert_eq!(e[0].1, "u-bob");
    let r = server.admin("GET", "/groups", &token, None).await;
    assert_eq!(r.json["items"][0]["id"], "admins");
    assert_eq!(r.json["items"].as_array().unwrap().len(), 1);
    let r = server.admin("GET", "/users/u-bob", &token, None).await;
    assert_eq!(r.json["groups"], json!([]));
}

#[tokio::test]
async fn applications_secrets_are_shown_once_and_rotate() {
    let server = server().await;
    let token = server.admin_token().await;
    let spec = json!({
        "id": "reports", "kind": "confidential",
        "grant_types": ["client_credentials"], "scopes": ["reports.read"]
    });
    let r = server
        .admin("POST", "/applications", &token, Some(spec.clone()))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.json["token_endpoint_auth_method"], "client_secret_basic");
    let secret = r.json["client_secret"].as_str().unwrap().to_owned();
    let r = server.admin("GET", "/applications/reports", &token, None).await;
    assert!(r.json.get("client_secret").is_none());
    assert!(!r.body.contains(&secret));
    let r = server
        .admin("POST", "/applications", &token, Some(spec.clone()))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);

    let cc = |secret: String| {
        let server = &server;
        async move {
            server
                .send(token_request(
                    "grant_type=client_credentials",
                    &[("authorization", &basic("reports", &secret))],
                ))
                .await
                .status
        }
    };
    assert_eq!(cc(secret.clone()).await, StatusCode::OK);
    let r = server
        .admin("POST", "/applications/reports/secret", &token, None)
        .await;
    let rotated = r.json["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(rotated, secret);
    assert_eq!(cc(secret).await, StatusCode::UNAUTHORIZED);
    assert_eq!(cc(rotated.clone()).await, StatusCode::OK);

    // Replace keeps the secret; the kind cannot change; the id must match.
    let mut changed = spec.clone();
    changed["scopes"] = json!(["reports.read", "reports.write"]);
    let r = server
        .admin("PUT", "/applications/reports", &token, Some(changed.clone()))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json["scopes"], json!(["reports.read", "reports.write"]));
    assert_eq!(cc(rotated).await, StatusCode::OK);
    changed["kind"] = json!("public");
    changed["grant_types"] = json!(["authorization_code"]);
    changed["redirect_uris"] = json!(["https://reports.example/cb"]);
    let r = server
        .admin("PUT", "/applications/reports", &token, Some(changed))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json["errors"][0]["field"], "kind");
    let r = server
        .admin("PUT", "/applications/other", &token, Some(spec))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    let r = server
        .admin(
            "POST",
            "/applications",
            &token,
            Some(json!({"id": "web", "redirect_uris": ["http://web.example/cb", "https://ok.example/cb#frag"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let fields: Vec<&str> = r.json["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["redirect_uris[0]", "redirect_uris[1]"]);
    let r = server
        .admin("POST", "/applications/webapp/secret", &token, None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "a public client has no secret");

    // A confidential client with keys authenticates with private_key_jwt and gets no secret.
    let key = tessera_jose::SigningKey::generate(tessera_jose::Algorithm::Es256).unwrap();
    let r = server
        .admin(
            "POST",
            "/applications",
            &token,
            Some(json!({
                "id": "keyed", "kind": "confidential", "grant_types": ["client_credentials"],
                "jwks": {"keys": [key.public_jwk().to_json()]}
            })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.json["token_endpoint_auth_method"], "private_key_jwt");
    assert!(r.json.get("client_secret").is_none());

    let r = server
        .admin("DELETE", "/applications/reports", &token, None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = server.admin("GET", "/applications/reports", &token, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = server
        .admin("DELETE", "/applications/reports", &token, None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn policies_locations_what_if_and_sign_in_logs() {
    let server = server().await;
    let token = server.admin_token().await;
    let office =
        json!({"display_name": "Office", "ip_ranges": ["203.0.113.0/24", "2001:db8::/32"], "trusted": true});
    let r = server
        .admin("PUT", "/locations/office", &token, Some(office.clone()))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = server
        .admin("PUT", "/locations/office", &token, Some(office))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = server
        .admin(
            "PUT",
            "/locations/bad",
            &token,
            Some(json!({"display_name": "Bad", "ip_ranges": ["203.0.113.0/24", "10.0.0.300/8"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json["errors"][0]["field"], "ip_ranges[1]");
    let r = server
        .admin(
            "PUT",
            "/locations/All",
            &token,
            Some(json!({"display_name": "x", "ip_ranges": []})),
        )
        .await;
    assert_eq!(r.json["errors"].as_array().unwrap().len(), 2);

    // A policy must name things that exist.
    let policy = |users: Value| {
        json!({
            "displayName": "MFA outside the office", "state": "enabled",
            "conditions": {
                "users": {"includeUsers": users},
                "applications": {"includeApplications": ["webapp"]},
                "locations": {"includeLocations": ["All"], "excludeLocations": ["office"]}
            },
            "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}
        })
    };
    let r = server
        .admin(
            "PUT",
            "/policies/mfa-outside",
            &token,
            Some(policy(json!(["u-nobody"]))),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(
        r.json["errors"][0]["field"]
            .as_str()
            .unwrap()
            .starts_with("conditions.users"),
        "{}",
        r.json
    );
    let mut bad = policy(json!(["All"]));
    bad["state"] = json!("sometimes");
    let r = server
        .admin("PUT", "/policies/mfa-outside", &token, Some(bad))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json["errors"][0]["field"], "state");
    let mut other = policy(json!(["All"]));
    other["id"] = json!("another-id");
    let r = server
        .admin("PUT", "/policies/mfa-outside", &token, Some(other))
        .await;
    assert_eq!(r.json["errors"][0]["field"], "id");

    let r = server
        .admin(
            "PUT",
            "/policies/mfa-outside",
            &token,
            Some(policy(json!(["u-alice"]))),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.json["id"], "mfa-outside");
    let r = server.admin("GET", "/policies", &token, None).await;
    assert_eq!(r.json["items"].as_array().unwrap().len(), 1);
    let r = server.admin("DELETE", "/locations/office", &token, None).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(
        r.json["error_description"]
            .as_str()
            .unwrap()
            .contains("mfa-outside")
    );

    // What-if: from home the policy applies and asks for MFA; from the office it does not.
    let ask = |ip: &str| json!({"user": "u-alice", "application": "webapp", "ip": ip});
    let r = server
        .admin("POST", "/what-if", &token, Some(ask("198.51.100.7")))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json["decision"]["policies"][0]["applies"], true, "{}", r.json);
    assert_ne!(r.json["decision"]["outcome"], "allow", "{}", r.json);
    let r = server
        .admin("POST", "/what-if", &token, Some(ask("203.0.113.9")))
        .await;
    assert_eq!(r.json["decision"]["policies"][0]["applies"], false, "{}", r.json);
    assert_eq!(r.json["decision"]["locations"], json!(["office"]));
    let r = server
        .admin(
            "POST",
            "/what-if",
            &token,
            Some(json!({"user": "u-nobody", "application": "webapp", "ip": "198.51.100.7"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json["errors"][0]["field"], "user");
    let r = server
        .admin(
            "POST",
            "/what-if",
            &token,
            Some(json!({"user": "u-alice", "application": "webapp", "ip": "home"})),
        )
        .await;
    assert_eq!(r.json["errors"][0]["field"], "ip");

    // The policy is live at once: alice's sign-in from 127.0.0.1 now needs MFA, which she
    // has not set up, and the log says which policy did it.
    let client = Client::new("webapp", WEBAPP_CB);
    let mut browser = Browser::new(&server);
    let done = browser.sign_in(&client.authorize_url(""), ALICE.0, ALICE.1).await;
    assert_eq!(
        query_of(done.location())["error"],
        "access_denied",
        "alice has no second factor"
    );
    let r = server.admin("GET", "/sign-ins?user=u-alice", &token, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let first = &r.json["items"][0];
    assert_eq!(first["outcome"], "blocked", "{}", r.json);
    let id = first["id"].as_str().unwrap();
    let r = server
        .admin("GET", &format!("/sign-ins/{id}"), &token, None)
        .await;
    assert_eq!(
        r.json["details"]["conditionalAccess"]["policies"][0]["id"], "mfa-outside",
        "{}",
        r.json
    );
    let r = server
        .admin("GET", "/sign-ins?before=garbage", &token, None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = server.admin("GET", "/sign-ins/none", &token, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let r = server
        .admin("DELETE", "/policies/mfa-outside", &token, None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = server.admin("DELETE", "/locations/office", &token, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = server.admin("GET", "/locations", &token, None).await;
    assert_eq!(r.json["items"], json!([]));
}

#[tokio::test]
async fn openapi_describes_every_route() {
    let server = server().await;
    let r = server.get("/openapi.json").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["openapi"], "3.1.0");
    assert_eq!(r.json["servers"][0]["url"], crate::support::ISSUER);
    // Every $ref points at a schema that exists.
    let schemas = r.json["components"]["schemas"].as_object().unwrap();
    for reference in r.body.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap();
        assert!(schemas.contains_key(name), "missing schema {name}");
    }
    // Every documented operation is served (a route that is not answers 405 or the fallback).
    let token = server.admin_token().await;
    let mut count = 0;
    for (method, path) in tessera_server::admin::openapi::operations() {
        let path = path.as_str();
        assert!(r.json["paths"][format!("/admin/api{path}")][method].is_object());
        let concrete = path
            .replace("{id}", "x")
            .replace("{user}", "y")
            .replace("{method}", "z");
        let reply = server
            .admin(&method.to_uppercase(), &concrete, &token, None)
            .await;
        assert_ne!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert_ne!(
            reply.json["error_description"], "no such admin API resource",
            "{method} {path}"
        );
        count += 1;
    }
    assert!(count >= 34);
}

#[tokio::test]
async fn totp_methods_are_given_and_taken_away() {
    let server = server().await;
    watch(&server).await;
    let token = server.admin_token().await;
    for (body, field) in [
        (json!({"kind": "passkey", "label": "key"}), "kind"),
        (json!({"kind": "totp", "label": ""}), "label"),
    ] {
        let r = server
            .admin("POST", "/users/u-alice/mfa-methods", &token, Some(body))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_eq!(r.json["errors"][0]["field"], field);
    }
    let r = server
        .admin(
            "POST",
            "/users/nobody/mfa-methods",
            &token,
            Some(json!({"kind": "totp", "label": "phone"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let r = server
        .admin(
            "POST",
            "/users/u-alice/mfa-methods",
            &token,
            Some(json!({"kind": "totp", "label": "phone"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let method = r.json["id"].as_str().unwrap().to_owned();
    let secret = r.json["secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 32, "160 bits in base32");
    let uri = r.json["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/127.0.0.1:alice?secret="), "{uri}");
    let e = events(&server).await;
    assert_eq!(names(&e), ["credential-change"]);
    assert_eq!(e[0].2["change_type"], "create");
    assert_eq!(e[0].2["credential_type"], "app");
    let r = server.admin("GET", "/users/u-alice", &token, None).await;
    assert_eq!(r.json["mfa_methods"][0]["id"], method.as_str());
    assert!(!r.body.contains(&secret), "the secret is shown once");

    // Alice's next sign-in asks for a code, and the new app's code works.
    let client = Client::new("webapp", WEBAPP_CB);
    let mut browser = Browser::new(&server);
    let page = browser.sign_in(&client.authorize_url(""), ALICE.0, ALICE.1).await;
    assert!(page.body.contains("name=\"code\""), "{}", page.body);
    let code = crate::support::totp_now(&secret);
    let done = browser.submit(&page, &[("code", &code)]).await;
    let done = browser.follow(done).await;
    assert!(query_of(done.location()).contains_key("code"), "{}", done.body);

    let path = format!("/users/u-alice/mfa-methods/{method}");
    let r = server.admin("DELETE", &path, &token, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let e = events(&server).await;
    assert_eq!(names(&e), ["credential-change"]);
    assert_eq!(e[0].2["change_type"], "delete");
    let r = server.admin("DELETE", &path, &token, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = server
        .admin("DELETE", "/users/u-alice/mfa-methods/totp-bob", &token, None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "another user's method");
}
