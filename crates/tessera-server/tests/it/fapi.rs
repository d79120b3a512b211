//! A client in FAPI 2.0 Security Profile mode, on SQLite and on PostgreSQL: registered only
//! as a confidential client with keys; its authorization requests must be pushed, it
//! authenticates with `private_key_jwt` only, its tokens are DPoP-bound, its codes live 60 s at
//! most, and its refresh token is not rotated, so a retried refresh succeeds (design record
//! 008). Every other client still rotates.

use axum::http::StatusCode;
use serde_json::{Value, json};
use tessera_jose::{Algorithm, Clock as _, SigningKey, SystemClock, jws};

use crate::browser::{Browser, Client, query_of, urlencode};
use crate::support::{ALICE, Db, ISSUER, Reply, SECRET, Server, basic, server_on, token_request};

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
    a_fapi_client_is_registered_only_as_the_profile_allows,
    a_fapi_client_pushes_proves_and_keeps_its_refresh_token,
);

const CB: &str = "https://bank.example/cb";

fn spec(key: &SigningKey) -> Value {
    json!({
        "id": "bank",
        "kind": "confidential",
        "redirect_uris": [CB],
        "scopes": ["mail.read"],
        "jwks": {"keys": [key.public_jwk().to_json()]},
        "fapi2": true,
    })
}

async fn a_fapi_client_is_registered_only_as_the_profile_allows(db: Db) {
    let server = server_on(db).await;
    let admin = server.admin_token().await;
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    let with = |change: &dyn Fn(&mut Value)| {
        let mut s = spec(&key);
        change(&mut s);
        s
    };
    for (name, body) in [
        (
            "a public client",
            with(&|s| {
                s["kind"] = "public".into();
                s.as_object_mut().unwrap().remove("jwks");
            }),
        ),
        (
            "a client without keys",
            with(&|s| {
                s.as_object_mut().unwrap().remove("jwks");
            }),
        ),
        (
            "client credentials",
            with(&|s| s["grant_types"] = json!(["client_credentials"])),
        ),
    ] {
        let r = server.admin("POST", "/applications", &admin, Some(body)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{name}: {}", r.body);
        assert!(r.body.contains("fapi2"), "{name}: {}", r.body);
    }
    let made = server
        .admin("POST", "/applications", &admin, Some(spec(&key)))
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    assert_eq!(made.json["fapi2"], true);
    assert_eq!(made.json["require_dpop"], true, "the profile implies it");
    assert_eq!(
        made.json["require_pushed_authorization_requests"], true,
        "the profile implies it"
    );
    assert_eq!(made.json["token_endpoint_auth_method"], "private_key_jwt");
    assert!(made.json.get("client_secret").is_none(), "no secret: keys only");
}

/// A `private_key_jwt` assertion of `bank` for `aud`.
fn assertion(key: &SigningKey, aud: &str, jti: &str) -> String {
    let now = SystemClock.now().unix_time().as_secs();
    jws::sign(
        key,
        None,
        &json!({"iss": "bank", "sub": "bank", "aud": aud, "exp": now + 60, "iat": now, "jti": jti}),
    )
    .unwrap()
}

fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

async fn post(server: &Server, path: &str, pairs: &[(&str, &str)], headers: &[(&str, &str)]) -> Reply {
    let mut r = axum::http::Request::post(path).header("content-type", "application/x-www-form-urlencoded");
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    server
        .send(r.body(axum::body::Body::from(form(pairs))).unwrap())
        .await
}

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

async fn a_fapi_client_pushes_proves_and_keeps_its_refresh_token(db: Db) {
    let server = server_on(db).await;
    let admin = server.admin_token().await;
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    let made = server
        .admin("POST", "/applications", &admin, Some(spec(&key)))
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let client = Client::new("bank", CB);

    // Not pushed: refused.
    let mut browser = Browser::new(&server);
    let direct = browser.get(&client.authorize_url("")).await;
    assert_ne!(direct.status, StatusCode::OK, "{}", direct.body);
    assert!(!direct.location().contains("code="), "{}", direct.location());

    // Pushed, authenticated with private_key_jwt (the issuer as audience, FAPI 2.0 §5.3.2.1).
    let challenge = client.challenge();
    let par_assertion = assertion(&key, ISSUER, "a-par");
    let request = [
        ("response_type", "code"),
        ("client_id", "bank"),
        ("redirect_uri", CB),
        ("scope", "openid mail.read"),
        ("state", "st-bank"),
        ("nonce", "n-bank"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", par_assertion.as_str()),
    ];
    let pushed = post(&server, "/par", &request, &[]).await;
    assert_eq!(pushed.status, StatusCode::CREATED, "{}", pushed.body);
    let request_uri = pushed.json["request_uri"].as_str().unwrap();
    let done = browser
        .sign_in(
            &format!("/authorize?client_id=bank&request_uri={}", urlencode(request_uri)),
            ALICE.0,
            ALICE.1,
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let back = query_of(done.location());
    assert_eq!(back["iss"], ISSUER, "iss in the response (RFC 9207)");
    let code = back["code"].clone();
    let stored = server.state.store.application("bank").await.unwrap();
    assert!(stored.fapi2);

    let token_url = format!("{ISSUER}/token");
    let redeem = |assertion: String, dpop: Option<String>| {
        let code = code.clone();
        let verifier = client.verifier.clone();
        let server = &server;
        async move {
            let pairs = [
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", CB),
                ("code_verifier", verifier.as_str()),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", assertion.as_str()),
            ];
            let headers: Vec<(&str, &str)> = dpop.iter().map(|p| ("dpop", p.as_str())).collect();
            post(server, "/token", &pairs, &headers).await
        }
    };
    // Without DPoP: refused, and the code is not spent.
    let bare = redeem(assertion(&key, ISSUER, "a-t1"), None).await;
    assert_eq!(bare.status, StatusCode::BAD_REQUEST, "{}", bare.body);
    // A secret is no way in for this client.
    let with_secret = server
        .send(token_request(
            &format!(
                "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={}",
                urlencode(CB),
                client.verifier
            ),
            &[
                ("authorization", &basic("bank", SECRET)),
                ("dpop", &client.proof(&token_url, None)),
            ],
        ))
        .await;
    assert_eq!(
        with_secret.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        with_secret.body
    );
    assert_eq!(with_secret.json["error"], "invalid_client");

    let tokens = redeem(
        assertion(&key, ISSUER, "a-t2"),
        Some(client.proof(&token_url, None)),
    )
    .await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
    assert_eq!(tokens.json["token_type"], "DPoP");
    let refresh = tokens.json["refresh_token"].as_str().unwrap().to_owned();

    // Refreshing keeps the refresh token: no new one is issued, and the same one works again, as
    // a client retrying after a lost response would send it.
    for attempt in 0..3 {
        let pairs = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
            ("client_assertion_type", ASSERTION_TYPE),
        ];
        let jti = format!("a-r{attempt}");
        let a = assertion(&key, &token_url, &jti);
        let mut pairs = pairs.to_vec();
        pairs.push(("client_assertion", &a));
        let proof = client.proof(&token_url, None);
        let refreshed = post(&server, "/token", &pairs, &[("dpop", &proof)]).await;
        assert_eq!(
            refreshed.status,
            StatusCode::OK,
            "attempt {attempt}: {}",
            refreshed.body
        );
        assert!(
            refreshed.json.get("refresh_token").is_none(),
            "{}",
            refreshed.json
        );
        assert_eq!(refreshed.json["token_type"], "DPoP");
    }
    let family = server
        .state
        .store
        .family_by_token(&tessera_server::oauth::token_hash(&refresh))
        .await
        .unwrap();
    assert_eq!(family.generation, 0, "never rotated");
    assert!(family.revoked_at.is_none());

    // Revocation still ends it: an administrator revokes alice's sessions.
    let r = server
        .admin("POST", "/users/u-alice/revoke-sessions", &admin, None)
        .await;
    assert!(r.status.is_success());
    let a = assertion(&key, &token_url, "a-after");
    let after = post(
        &server,
        "/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", a.as_str()),
        ],
        &[("dpop", &client.proof(&token_url, None))],
    )
    .await;
    assert_eq!(after.json["error"], "invalid_grant", "{}", after.body);

    // Other clients still rotate.
    let portal = Client::new("portal", crate::support::PORTAL_CB);
    let mut browser = Browser::new(&server);
    let done = browser.sign_in(&portal.authorize_url(""), ALICE.0, ALICE.1).await;
    let code = query_of(done.location())["code"].clone();
    let first = server
        .send(token_request(
            &format!(
                "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={}",
                urlencode(crate::support::PORTAL_CB),
                portal.verifier
            ),
            &[("authorization", &basic("portal", SECRET))],
        ))
        .await;
    let old = first.json["refresh_token"].as_str().unwrap().to_owned();
    let rotated = server
        .send(token_request(
            &format!("grant_type=refresh_token&refresh_token={}", urlencode(&old)),
            &[("authorization", &basic("portal", SECRET))],
        ))
        .await;
    assert!(
        rotated.json["refresh_token"].as_str().is_some_and(|t| t != old),
        "{}",
        rotated.body
    );
}
