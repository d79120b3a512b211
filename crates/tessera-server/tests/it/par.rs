//! Pushed authorization requests (RFC 9126) and request objects (RFC 9101): the happy paths a
//! client takes, and every refusal the RFCs call for, as tables.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tessera_jose::{Algorithm, Clock as _, ManualClock, SigningKey, SystemClock, b64, jws};
use tessera_store::{AppKind, Application, Secret, Timestamp};

use crate::browser::{Browser, Client, hidden_fields, query_of, urlencode};
use crate::support::{
    ALICE, ISSUER, PORTAL_CB, Reply, SECRET, Server, WEBAPP_CB, basic, server, server_with,
};

const JAR_CB: &str = "https://jar.example/cb";
const PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// A confidential client that authenticates with a secret and signs request objects with
/// `key`; `must_push` sets `require_pushed_authorization_requests`.
async fn jar_app(s: &Server, id: &str, key: &SigningKey, must_push: bool) {
    let mut uow = s.state.store.begin().await.unwrap();
    uow.put_application(&Application {
        id: id.into(),
        name: id.into(),
        kind: AppKind::Confidential,
        secret_hash: Some(Secret::new(tessera_directory::secrets::hash_client_secret(
            SECRET,
        ))),
        redirect_uris: vec![JAR_CB.into()],
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        scopes: vec!["mail.read".into()],
        jwks: Some(json!({ "keys": [key.public_jwk().to_json()] })),
        access_token_minutes: 15,
        refresh_token_days: 30,
        cae_capable: false,
        require_dpop: false,
        require_pushed_authorization_requests: must_push,
        backchannel_logout_uri: None,
        fapi2: false,
        created_at: Timestamp(0),
        changed_at: Timestamp(0),
    })
    .await
    .unwrap();
    uow.commit().await.unwrap();
}

fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// `POST /par` with HTTP Basic as `client` (or no authentication when `None`).
async fn push(s: &Server, client: Option<&str>, body: &str) -> Reply {
    let mut r = Request::post("/par").header("content-type", "application/x-www-form-urlencoded");
    if let Some(id) = client {
        r = r.header("authorization", basic(id, SECRET));
    }
    s.send(r.body(Body::from(body.to_owned())).unwrap()).await
}

/// The parameters of an authorization request of `client` (PKCE from `c`).
fn request_params(client: &str, redirect_uri: &str, c: &Client) -> Vec<(&'static str, String)> {
    vec![
        ("response_type", "code".into()),
        ("client_id", client.into()),
        ("redirect_uri", redirect_uri.into()),
        ("scope", "openid mail.read".into()),
        ("state", "st-par".into()),
        ("nonce", "n-par".into()),
        ("code_challenge", c.challenge()),
        ("code_challenge_method", "S256".into()),
    ]
}

fn as_pairs<'a>(params: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    params.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// A request object of `client` with the request's parameters and `extra` claims, signed by
/// `key` with `typ`.
fn request_object(key: &SigningKey, typ: Option<&str>, client: &str, c: &Client, extra: Value) -> String {
    let now = SystemClock.now().unix_time().as_secs();
    let mut claims = json!({"iss": client, "aud": ISSUER, "iat": now, "nbf": now, "exp": now + 60});
    for (k, v) in request_params(client, JAR_CB, c) {
        claims[k] = v.into();
    }
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    jws::sign(key, typ, &claims).unwrap()
}

/// Redeems a code of a confidential client with its secret.
async fn redeem(s: &Server, client: &str, redirect_uri: &str, c: &Client, code: &str) -> Reply {
    let body = form(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", &c.verifier),
    ]);
    s.send(crate::support::token_request(
        &body,
        &[("authorization", &basic(client, SECRET))],
    ))
    .await
}

fn authorize_by_reference(client: &str, request_uri: &str) -> String {
    format!(
        "/authorize?client_id={client}&request_uri={}",
        urlencode(request_uri)
    )
}

#[tokio::test]
async fn a_pushed_request_signs_in_once_and_its_code_redeems() {
    let s = server().await;
    let c = Client::new("portal", PORTAL_CB);
    let pushed = push(
        &s,
        Some("portal"),
        &form(&as_pairs(&request_params("portal", PORTAL_CB, &c))),
    )
    .await;
    assert_eq!(pushed.status, StatusCode::CREATED, "{}", pushed.body);
    assert_eq!(pushed.headers["cache-control"], "no-store");
    assert_eq!(pushed.json["expires_in"], 60);
    let request_uri = pushed.json["request_uri"].as_str().unwrap().to_owned();
    assert!(request_uri.starts_with(PREFIX), "{request_uri}");
    assert!(request_uri.len() >= PREFIX.len() + 43, "256 bits of reference");

    // Only client_id and request_uri travel through the browser; a reload shows the page again.
    let url = authorize_by_reference("portal", &request_uri);
    let mut b = Browser::new(&s);
    let page = b.get(&url).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let carried = hidden_fields(&page.body)
        .into_iter()
        .find(|(k, _)| k == "request")
        .unwrap()
        .1;
    assert_eq!(carried, url.trim_start_matches("/authorize?"));
    assert!(!carried.contains("code_challenge"));
    assert_eq!(b.get(&url).await.status, StatusCode::OK, "a reload");

    let back = b.sign_in(&url, ALICE.0, ALICE.1).await;
    assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
    assert!(back.location().starts_with(PORTAL_CB), "{}", back.location());
    let q = query_of(back.location());
    assert_eq!((q["state"].as_str(), q["iss"].as_str()), ("st-par", ISSUER));
    let tokens = redeem(&s, "portal", PORTAL_CB, &c, &q["code"]).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
    assert!(tokens.json["id_token"].is_string());

    // One request, one code: the same request_uri again is refused, even signed in.
    let again = b.get(&url).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(again.body.contains("completed already"), "{}", again.body);
    assert!(again.headers.get("location").is_none());
}

#[tokio::test]
async fn prompt_login_in_a_pushed_request_is_met_by_the_sign_in_it_asks_for() {
    let s = server().await;
    let c = Client::new("portal", PORTAL_CB);
    let mut b = Browser::new(&s);
    // Signed in already, through an earlier plain request.
    let plain = Client::new("webapp", WEBAPP_CB);
    let first = b.sign_in(&plain.authorize_url(""), ALICE.0, ALICE.1).await;
    assert!(first.location().starts_with(WEBAPP_CB));

    tokio::time::sleep(Duration::from_millis(5)).await;
    let mut params = request_params("portal", PORTAL_CB, &c);
    params.push(("prompt", "login".into()));
    let pushed = push(&s, Some("portal"), &form(&as_pairs(&params))).await;
    let url = authorize_by_reference("portal", pushed.json["request_uri"].as_str().unwrap());
    let page = b.get(&url).await;
    assert!(page.body.contains("name=\"password\""), "prompt=login asks again");
    let after = b
        .submit(&page, &[("username", ALICE.0), ("password", ALICE.1)])
        .await;
    let back = b.follow(after).await;
    assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
    assert!(back.location().starts_with(PORTAL_CB), "{}", back.location());
    assert!(query_of(back.location()).contains_key("code"));
}

#[tokio::test]
async fn pushed_request_errors_table() {
    let s = server().await;
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    jar_app(&s, "jar", &key, false).await;
    let c = Client::new("portal", PORTAL_CB);
    let good = request_params("portal", PORTAL_CB, &c);
    let with = |name: &'static str, value: &str| {
        let mut p: Vec<(&'static str, String)> = good.iter().filter(|(k, _)| *k != name).cloned().collect();
        if !value.is_empty() {
            p.push((name, value.to_owned()));
        }
        form(&as_pairs(&p))
    };
    let object = |key: &SigningKey, typ: Option<&str>, extra: Value| {
        form(&[("request", &request_object(key, typ, "jar", &c, extra))])
    };
    let stranger = SigningKey::generate(Algorithm::Es256).unwrap();
    let header = b64::encode(br#"{"alg":"none"}"#);
    let payload =
        b64::encode(json!({"client_id": "jar", "aud": ISSUER, "response_type": "code"}).to_string());
    let unsigned = format!("{header}.{payload}.");
    let hmac_header = b64::encode(br#"{"alg":"HS256","typ":"oauth-authz-req+jwt"}"#);
    let hmac_signed = format!("{hmac_header}.{payload}.{}", b64::encode([7u8; 32]));

    // (name, client authenticating, body, status, error)
    let cases: Vec<(&str, Option<&str>, String, StatusCode, &str)> = vec![
        (
            "no client authentication",
            None,
            with("client_id", ""),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            "a confidential client's id alone",
            None,
            form(&as_pairs(&good)),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            "request_uri in the body",
            Some("portal"),
            with("request_uri", "urn:ietf:params:oauth:request_uri:x"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "client_id of another client",
            Some("portal"),
            with("client_id", "jar"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "redirect_uri not registered",
            Some("portal"),
            with("redirect_uri", "https://evil.example/cb"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "no redirect_uri",
            Some("portal"),
            with("redirect_uri", ""),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "no PKCE",
            Some("portal"),
            with("code_challenge", ""),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "PKCE plain",
            Some("portal"),
            with("code_challenge_method", "plain"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "implicit flow",
            Some("portal"),
            with("response_type", "token"),
            StatusCode::BAD_REQUEST,
            "unsupported_response_type",
        ),
        (
            "scope not allowed",
            Some("portal"),
            with("scope", "openid admin"),
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
        (
            "resource relative",
            Some("portal"),
            with("resource", "/api"),
            StatusCode::BAD_REQUEST,
            "invalid_target",
        ),
        (
            "request object with alg none",
            Some("jar"),
            form(&[("request", &unsigned)]),
            StatusCode::BAD_REQUEST,
            "invalid_request_object",
        ),
        (
            "request object with a MAC",
            Some("jar"),
            form(&[("request", &hmac_signed)]),
            StatusCode::BAD_REQUEST,
            "invalid_request_object",
        ),
        (
            "request object by another key",
            Some("jar"),
            object(&stranger, None, json!({})),
            StatusCode::BAD_REQUEST,
            "invalid_request_object",
        ),
        (
            "request object for another server",
            Some("jar"),
            object(&key, None, json!({"aud": "https://other.example"})),
            StatusCode::BAD_REQUEST,
            "invalid_request_object",
        ),
        (
            "request object without aud",
            Some("jar"),
            object(&key, None, json!({"aud": null})),
            StatusCode::BAD_REQUEST,
            "invalid_request_object",
        ),
        (
            "request object expired",
            Some("jar"),
            object(&key, None, json!({"exp": 1_000_000})),
            StatusCode::BAD_REQUEST,
            "invalid_request_object",
        ),
        (
            "request object not yet valid",
            Some("jar"),
            object(&key, None, json!({"nbf": 4_000_000_000u64})),
            StatusCode::BAD_REQUEST,
            "invalid_request_object",
        ),
        (
            "request object of another client",
            Some("jar"),
            object(&key, None, json!({"client_id": "portal"})),
            StatusCode::BAD_REQUEST,
            "invalid_request_object",
        ),
        (
            "request object without client_id",
            Some("jar"),
            object(&key, None, json!({"client_id": null})),
            StatusCode::BAD_REQUEST,
            "invalid_request_object",
        ),
        (
            "request object issued by another",
            Some("jar"),
            object(&key, None, json!({"iss": "portal"})),
            StatusCode::BAD_REQUEST,
            "invalid_request_object",
        ),
        (
            "request object typed as a DPoP proof",
            Some("jar"),
            object(&key, Some("dpop+jwt"), json!({})),
            StatusCode::BAD_REQUEST,
            "invalid_request_object",
        ),
        (
            "request object nesting request_uri",
            Some("jar"),
            object(&key, None, json!({"request_uri": "https://x.example/r"})),
            StatusCode::BAD_REQUEST,
            "invalid_request_object",
        ),
        (
            "request object of a client without keys",
            Some("portal"),
            form(&[("request", &request_object(&key, None, "portal", &c, json!({})))]),
            StatusCode::BAD_REQUEST,
            "invalid_request_object",
        ),
        (
            "request object with a bad parameter",
            Some("jar"),
            object(&key, None, json!({"code_challenge_method": "plain"})),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "not a JWS at all",
            Some("jar"),
            form(&[("request", "not-a-jwt")]),
            StatusCode::BAD_REQUEST,
            "invalid_request_object",
        ),
    ];
    for (name, client, body, status, error) in cases {
        let r = push(&s, client, &body).await;
        assert_eq!(r.status, status, "{name}: {}", r.body);
        assert_eq!(r.json["error"], error, "{name}: {}", r.body);
        assert!(r.json["error_description"].is_string(), "{name}");
        assert_eq!(r.headers["cache-control"], "no-store", "{name}");
    }

    // Not JSON, not GET.
    let json_body = s
        .send(
            Request::post("/par")
                .header("content-type", "application/json")
                .header("authorization", basic("portal", SECRET))
                .body(Body::from("{}"))
                .unwrap(),
        )
        .await;
    assert_eq!(json_body.status, StatusCode::BAD_REQUEST);
    assert_eq!(s.get("/par").await.status, StatusCode::METHOD_NOT_ALLOWED);

    // The typ the RFC recommends, and none, are both accepted.
    for typ in [Some("oauth-authz-req+jwt"), None, Some("JWT")] {
        let r = push(&s, Some("jar"), &object(&key, typ, json!({}))).await;
        assert_eq!(r.status, StatusCode::CREATED, "{typ:?}: {}", r.body);
    }
}

#[tokio::test]
async fn request_uri_refusals_table() {
    let second = SystemClock.now().unix_time();
    let clock = Arc::new(ManualClock::new(Timestamp::from(second).plus_ms(100)));
    let s = crate::support::server_with_clock(clock.clone()).await;
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    jar_app(&s, "jar", &key, false).await;
    let c = Client::new("portal", PORTAL_CB);
    let body = form(&as_pairs(&request_params("portal", PORTAL_CB, &c)));
    let fresh = || async {
        push(&s, Some("portal"), &body).await.json["request_uri"]
            .as_str()
            .unwrap()
            .to_owned()
    };

    let unopened = fresh().await;
    let opened = fresh().await;
    assert_eq!(
        s.get(&authorize_by_reference("portal", &opened)).await.status,
        StatusCode::OK
    );
    clock.advance(Duration::from_secs(61));

    let used = fresh().await;
    let mut b = Browser::new(&s);
    let back = b
        .sign_in(&authorize_by_reference("portal", &used), ALICE.0, ALICE.1)
        .await;
    assert!(back.location().starts_with(PORTAL_CB), "{}", back.body);
    let others = fresh().await;

    // (name, query, what the page says)
    let cases = [
        (
            "expired before first use",
            authorize_by_reference("portal", &unopened),
            "expired",
        ),
        (
            "used for a code",
            authorize_by_reference("portal", &used),
            "completed already",
        ),
        (
            "another client's",
            authorize_by_reference("jar", &others),
            "not known here",
        ),
        (
            "never issued",
            authorize_by_reference("portal", &format!("{PREFIX}{}", "A".repeat(43))),
            "not known here",
        ),
        (
            "not Tessera's",
            authorize_by_reference("portal", "https://client.example/request.jwt"),
            "did not issue",
        ),
        (
            "with a request object too",
            format!("{}&request=eyJ", authorize_by_reference("portal", &others)),
            "only one",
        ),
        (
            "request_uri repeated",
            format!(
                "{}&request_uri={}",
                authorize_by_reference("portal", &others),
                urlencode(&opened)
            ),
            "repeats",
        ),
    ];
    for (name, url, says) in cases {
        let r = b.get(&url).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{name}");
        assert!(r.body.contains(says), "{name}: {}", r.body);
        assert!(r.headers.get("location").is_none(), "{name}: never redirect");
    }
    // Once opened, a request lasts as long as a sign-in may take.
    let page = s.get(&authorize_by_reference("portal", &opened)).await;
    assert_eq!(
        page.status,
        StatusCode::OK,
        "opened before its push lifetime ended"
    );
    clock.advance(Duration::from_secs(600));
    let late = s.get(&authorize_by_reference("portal", &opened)).await;
    assert!(late.body.contains("expired"), "{}", late.body);
}

#[tokio::test]
async fn a_client_that_must_push_is_refused_any_other_way() {
    let s = server().await;
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    jar_app(&s, "pushes", &key, true).await;
    let c = Client::new("pushes", JAR_CB);
    let params = request_params("pushes", JAR_CB, &c);
    let plain = format!("/authorize?{}", form(&as_pairs(&params)));
    let by_value = format!(
        "/authorize?client_id=pushes&request={}",
        request_object(&key, None, "pushes", &c, json!({"client_id": "pushes"}))
    );
    for (name, url) in [("in the query", plain), ("as a request object", by_value)] {
        let r = s.get(&url).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{name}: {}", r.body);
        let q = query_of(r.location());
        assert_eq!(q["error"], "invalid_request", "{name}");
        assert!(q["error_description"].contains("push"), "{name}");
    }
    let pushed = push(&s, Some("pushes"), &form(&as_pairs(&params))).await;
    assert_eq!(pushed.status, StatusCode::CREATED, "{}", pushed.body);
    let mut b = Browser::new(&s);
    let back = b
        .sign_in(
            &authorize_by_reference("pushes", pushed.json["request_uri"].as_str().unwrap()),
            ALICE.0,
            ALICE.1,
        )
        .await;
    assert!(back.location().starts_with(JAR_CB), "{}", back.body);
}

#[tokio::test]
async fn the_operator_can_require_pushed_requests_of_every_client() {
    let s = server_with(|c| c.authorization.require_pushed_authorization_requests = true).await;
    let meta = s.get("/.well-known/openid-configuration").await.json;
    assert_eq!(meta["require_pushed_authorization_requests"], true);
    let c = Client::new("webapp", WEBAPP_CB);
    let r = s.get(&c.authorize_url("")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(query_of(r.location())["error"], "invalid_request");

    // A public client pushes with its client_id alone (RFC 9126 §2: as at the token endpoint).
    let pushed = push(
        &s,
        None,
        &form(&as_pairs(&request_params("webapp", WEBAPP_CB, &c))),
    )
    .await;
    assert_eq!(pushed.status, StatusCode::CREATED, "{}", pushed.body);
    let mut b = Browser::new(&s);
    let back = b
        .sign_in(
            &authorize_by_reference("webapp", pushed.json["request_uri"].as_str().unwrap()),
            ALICE.0,
            ALICE.1,
        )
        .await;
    assert!(back.location().starts_with(WEBAPP_CB), "{}", back.body);
    let tokens = c.redeem(&s, &query_of(back.location())["code"], false).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
}

#[tokio::test]
async fn a_request_object_by_value_is_the_whole_request() {
    let s = server().await;
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    jar_app(&s, "jar", &key, false).await;
    let c = Client::new("jar", JAR_CB);
    let object = request_object(
        &key,
        Some("oauth-authz-req+jwt"),
        "jar",
        &c,
        json!({"state": "from-the-object"}),
    );
    // The query's own parameters are ignored (RFC 9101 §6.3): the redirect URI and state are
    // the object's.
    let url = format!(
        "/authorize?client_id=jar&request={object}&redirect_uri={}&state=from-the-query",
        urlencode("https://evil.example/cb")
    );
    let mut b = Browser::new(&s);
    let page = b.get(&url).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let carried = hidden_fields(&page.body)
        .into_iter()
        .find(|(k, _)| k == "request")
        .unwrap()
        .1;
    assert!(
        carried.contains("request_uri=urn"),
        "the pages carry a reference: {carried}"
    );
    let back = b.sign_in(&url, ALICE.0, ALICE.1).await;
    assert!(back.location().starts_with(JAR_CB), "{}", back.location());
    let q = query_of(back.location());
    assert_eq!(q["state"], "from-the-object");
    let tokens = redeem(&s, "jar", JAR_CB, &c, &q["code"]).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);

    // Refusals by value are pages: the redirect URI inside cannot be trusted.
    let stranger = SigningKey::generate(Algorithm::Es256).unwrap();
    let forged = request_object(&stranger, None, "jar", &c, json!({}));
    let r = s.get(&format!("/authorize?client_id=jar&request={forged}")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("invalid_request_object"), "{}", r.body);
    assert!(r.headers.get("location").is_none());
}

#[tokio::test]
async fn metadata_advertises_pushed_requests_and_request_objects() {
    let s = server().await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let m = s.get(path).await.json;
        assert_eq!(
            m["pushed_authorization_request_endpoint"],
            format!("{ISSUER}/par"),
            "{path}"
        );
        assert_eq!(m["require_pushed_authorization_requests"], false, "{path}");
        assert_eq!(m["request_parameter_supported"], true, "{path}");
        assert_eq!(
            m["request_uri_parameter_supported"], false,
            "{path}: Tessera fetches no request_uri"
        );
        let algs = m["request_object_signing_alg_values_supported"]
            .as_array()
            .unwrap();
        assert!(algs.iter().all(|a| a != "none" && a != "HS256"), "{path}");
        assert!(algs.contains(&json!("ES256")), "{path}");
    }
}

#[tokio::test]
async fn a_dpop_proof_at_the_push_binds_the_code_to_its_key() {
    let s = server().await;
    let c = Client::new("portal", PORTAL_CB);
    let body = form(&as_pairs(&request_params("portal", PORTAL_CB, &c)));
    let send = |proof: Option<String>, body: String| {
        let mut r = Request::post("/par")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", basic("portal", SECRET));
        if let Some(p) = proof {
            r = r.header("dpop", p);
        }
        s.send(r.body(Body::from(body)).unwrap())
    };
    let par = format!("{ISSUER}/par");

    // A proof for another endpoint, and a dpop_jkt of another key, are refused.
    let wrong_htu = send(Some(c.proof(&format!("{ISSUER}/token"), None)), body.clone()).await;
    assert_eq!(
        wrong_htu.json["error"], "invalid_dpop_proof",
        "{}",
        wrong_htu.body
    );
    let other = SigningKey::generate(Algorithm::Es256).unwrap();
    let mismatch = format!("{body}&dpop_jkt={}", other.public_jwk().thumbprint());
    let r = send(Some(c.proof(&par, None)), mismatch).await;
    assert_eq!(r.json["error"], "invalid_dpop_proof", "{}", r.body);

    let pushed = send(Some(c.proof(&par, None)), body).await;
    assert_eq!(pushed.status, StatusCode::CREATED, "{}", pushed.body);
    let mut b = Browser::new(&s);
    let back = b
        .sign_in(
            &authorize_by_reference("portal", pushed.json["request_uri"].as_str().unwrap()),
            ALICE.0,
            ALICE.1,
        )
        .await;
    let code = query_of(back.location())["code"].clone();
    let redeem_with = |key: &SigningKey| {
        let body = form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", PORTAL_CB),
            ("code_verifier", &c.verifier),
        ]);
        let proof = c.proof_by(key, &format!("{ISSUER}/token"), None);
        s.send(crate::support::token_request(
            &body,
            &[("authorization", &basic("portal", SECRET)), ("dpop", &proof)],
        ))
    };
    let thief = redeem_with(&other).await;
    assert_eq!(
        thief.json["error"], "invalid_grant",
        "another key: {}",
        thief.body
    );

    // The code is spent by that attempt; a second push shows the right key succeeding.
    let pushed = send(
        Some(c.proof(&par, None)),
        form(&as_pairs(&request_params("portal", PORTAL_CB, &c))),
    )
    .await;
    let back = b
        .sign_in(
            &authorize_by_reference("portal", pushed.json["request_uri"].as_str().unwrap()),
            ALICE.0,
            ALICE.1,
        )
        .await;
    let code = query_of(back.location())["code"].clone();
    let body = form(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", PORTAL_CB),
        ("code_verifier", &c.verifier),
    ]);
    let proof = c.proof(&format!("{ISSUER}/token"), None);
    let tokens = s
        .send(crate::support::token_request(
            &body,
            &[("authorization", &basic("portal", SECRET)), ("dpop", &proof)],
        ))
        .await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
    assert_eq!(tokens.json["token_type"], "DPoP");
}

#[tokio::test]
async fn private_key_jwt_at_the_push_may_name_the_push_endpoint_as_audience() {
    let s = server().await;
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    jar_app(&s, "jar", &key, false).await;
    let c = Client::new("jar", JAR_CB);
    let now = SystemClock.now().unix_time().as_secs();
    for (i, aud) in [
        format!("{ISSUER}/par"),
        ISSUER.to_owned(),
        format!("{ISSUER}/token"),
    ]
    .iter()
    .enumerate()
    {
        let assertion = jws::sign(
            &key,
            None,
            &json!({"iss": "jar", "sub": "jar", "aud": aud, "exp": now + 60, "iat": now, "jti": format!("a-{i}")}),
        )
        .unwrap();
        let owned = request_params("jar", JAR_CB, &c);
        let mut params = as_pairs(&owned);
        params.push((
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ));
        params.push(("client_assertion", &assertion));
        let r = push(&s, None, &form(&params)).await;
        assert_eq!(r.status, StatusCode::CREATED, "aud {aud}: {}", r.body);
    }
}
