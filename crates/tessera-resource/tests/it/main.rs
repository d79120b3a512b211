//! The resource layer in front of a small API, with tokens from a real `tessera serve` (in this
//! process, on 127.0.0.1): what it accepts, and a negative table for tokens and DPoP proofs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use http_body_util::BodyExt as _;
use serde_json::Value;
use tessera_jose::dpop::{ProofOptions, create_proof};
use tessera_jose::{Algorithm, ManualClock, SigningKey, SystemClock, SystemRandom, UnixTime};
use tessera_resource::{Principal, Resource, ResourceConfig, ResourceLayer};
use tessera_store::{AppKind, Application, Secret, Timestamp};
use tower::ServiceExt as _;

const SECRET: &str = "resource-test-secret-resource-test-secret";
const API: &str = "https://mail.example";

/// A running Tessera server: its issuer, data, and the task serving it.
struct Idp {
    issuer: String,
    _dir: tempfile::TempDir,
    serving: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// A Tessera server on a free loopback port with a client `mail-client`.
async fn idp() -> Idp {
    let dir = tempfile::tempdir().unwrap();
    let config = tessera_server::config::ServerConfig::resolve(
        None,
        tessera_server::config::Overrides {
            listen: Some("127.0.0.1:0".into()),
            data_dir: Some(dir.path().to_owned()),
            admin_password: Some("correct horse battery staple".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let prepared = tessera_server::prepare(config).await.unwrap();
    let state = prepared.state.clone();
    let mut uow = state.store.begin().await.unwrap();
    uow.put_application(&Application {
        id: "mail-client".into(),
        name: "mail client".into(),
        kind: AppKind::Confidential,
        secret_hash: Some(Secret(tessera_server::secrets::hash_client_secret(SECRET))),
        redirect_uris: vec![],
        grant_types: vec!["client_credentials".into()],
        scopes: vec!["mail.read".into()],
        jwks: None,
        access_token_minutes: 15,
        refresh_token_days: 1,
        cae_capable: false,
        require_dpop: false,
        created_at: Timestamp(0),
        changed_at: Timestamp(0),
    })
    .await
    .unwrap();
    uow.commit().await.unwrap();
    let issuer = state.config.issuer.clone();
    let app = tessera_server::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let serving = tokio::spawn(async move { axum::serve(prepared.listener, app).await });
    Idp {
        issuer,
        _dir: dir,
        serving,
    }
}

/// A token for the mail API, DPoP-bound to `key` when given.
async fn token(issuer: &str, key: Option<&SigningKey>, resource: &str) -> String {
    let client = reqwest::Client::new();
    let mut r = client
        .post(format!("{issuer}/token"))
        .basic_auth("mail-client", Some(SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credentials&scope=mail.read&resource={resource}"
        ));
    if let Some(k) = key {
        let proof = create_proof(
            k,
            "POST",
            &format!("{issuer}/token"),
            ProofOptions::default(),
            &SystemClock,
            &SystemRandom,
        )
        .unwrap();
        r = r.header("dpop", proof);
    }
    let body: Value = serde_json::from_slice(&r.send().await.unwrap().bytes().await.unwrap()).unwrap();
    body["access_token"].as_str().expect("a token").to_owned()
}

fn api(issuer: &str) -> Router {
    let resource = Resource::new(ResourceConfig {
        public_url: Some(API.into()),
        ..ResourceConfig::new(issuer, API)
    })
    .unwrap();
    Router::new()
        .route(
            "/inbox",
            get(|p: Principal| async move {
                format!("{} {} {}", p.subject, p.has_scope("mail.read"), p.jkt.is_some())
            }),
        )
        .layer(ResourceLayer::new(resource))
}

struct Reply {
    status: StatusCode,
    challenge: String,
    body: String,
}

async fn call(app: &Router, auth: Option<String>, dpop: &[String]) -> Reply {
    let mut r = Request::get("/inbox?page=2");
    if let Some(a) = auth {
        r = r.header("authorization", a);
    }
    for p in dpop {
        r = r.header("dpop", p);
    }
    let response = app.clone().oneshot(r.body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    Reply {
        status,
        challenge,
        body,
    }
}

fn proof_with(key: &SigningKey, method: &str, url: &str, token: Option<&str>, at: UnixTime) -> String {
    create_proof(
        key,
        method,
        url,
        ProofOptions {
            access_token: token,
            ..ProofOptions::default()
        },
        &ManualClock::new(at),
        &SystemRandom,
    )
    .unwrap()
}

fn now() -> UnixTime {
    tessera_jose::Clock::now(&SystemClock)
}

#[tokio::test]
async fn tokens_and_proofs_are_checked_at_the_api() {
    let idp = idp().await;
    let issuer = idp.issuer.clone();
    let app = api(&issuer);
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    let thief = SigningKey::generate(Algorithm::Es256).unwrap();
    let bound = token(&issuer, Some(&key), API).await;
    let bearer = token(&issuer, None, API).await;
    let elsewhere = token(&issuer, None, "https://other.example").await;
    let url = format!("{API}/inbox");
    let proof = |k: &SigningKey| proof_with(k, "GET", &url, Some(&bound), now());

    // Accepted: a Bearer token, and a bound token with its proof (the query is not part of htu).
    let r = call(&app, Some(format!("Bearer {bearer}")), &[]).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (StatusCode::OK, "mail-client true false")
    );
    let r = call(&app, Some(format!("DPoP {bound}")), &[proof(&key)]).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (StatusCode::OK, "mail-client true true")
    );

    let used = proof(&key);
    call(&app, Some(format!("DPoP {bound}")), std::slice::from_ref(&used)).await;
    let other_key = SigningKey::generate(Algorithm::Es256).unwrap();
    let forged = {
        // A token the IdP never signed: same claims, another key.
        let payload = bound.split('.').nth(1).unwrap();
        let claims: Value = serde_json::from_slice(&tessera_jose::b64::decode(payload).unwrap()).unwrap();
        tessera_jose::jws::sign(&other_key, Some("at+jwt"), &claims).unwrap()
    };
    // Name, Authorization, DPoP headers, expected scheme and error in the challenge.
    let cases: Vec<(&str, Option<String>, Vec<String>, &str)> = vec![
        ("no credentials", None, vec![], "Bearer realm=\"api\""),
        (
            "an unknown scheme",
            Some(format!("Basic {bearer}")),
            vec![],
            "error=\"invalid_request\"",
        ),
        (
            "not a JWT",
            Some("Bearer abc".into()),
            vec![],
            "error=\"invalid_token\"",
        ),
        (
            "signed by someone else",
            Some(format!("Bearer {forged}")),
            vec![],
            "error=\"invalid_token\"",
        ),
        (
            "for another API",
            Some(format!("Bearer {elsewhere}")),
            vec![],
            "error=\"invalid_token\"",
        ),
        (
            "a bound token as Bearer",
            Some(format!("Bearer {bound}")),
            vec![],
            "DPoP realm",
        ),
        (
            "a bound token without a proof",
            Some(format!("DPoP {bound}")),
            vec![],
            "error=\"invalid_dpop_proof\"",
        ),
        (
            "a proof by another key",
            Some(format!("DPoP {bound}")),
            vec![proof(&thief)],
            "error=\"invalid_dpop_proof\"",
        ),
        (
            "a proof for another URL",
            Some(format!("DPoP {bound}")),
            vec![proof_with(
                &key,
                "GET",
                &format!("{API}/outbox"),
                Some(&bound),
                now(),
            )],
            "error=\"invalid_dpop_proof\"",
        ),
        (
            "a proof for another method",
            Some(format!("DPoP {bound}")),
            vec![proof_with(&key, "POST", &url, Some(&bound), now())],
            "error=\"invalid_dpop_proof\"",
        ),
        (
            "a proof without ath",
            Some(format!("DPoP {bound}")),
            vec![proof_with(&key, "GET", &url, None, now())],
            "error=\"invalid_dpop_proof\"",
        ),
        (
            "a proof for another token",
            Some(format!("DPoP {bound}")),
            vec![proof_with(&key, "GET", &url, Some(&bearer), now())],
            "error=\"invalid_dpop_proof\"",
        ),
        (
            "a stale proof",
            Some(format!("DPoP {bound}")),
            vec![proof_with(&key, "GET", &url, Some(&bound), now().minus(600))],
            "error=\"invalid_dpop_proof\"",
        ),
        (
            "a proof used before",
            Some(format!("DPoP {bound}")),
            vec![used.clone()],
            "error=\"invalid_dpop_proof\"",
        ),
        (
            "two proofs",
            Some(format!("DPoP {bound}")),
            vec![proof(&key), proof(&key)],
            "error=\"invalid_dpop_proof\"",
        ),
        (
            "an unbound token with the DPoP scheme",
            Some(format!("DPoP {bearer}")),
            vec![proof(&key)],
            "error=\"invalid_token\"",
        ),
    ];
    for (name, auth, dpop, expected) in cases {
        let r = call(&app, auth, &dpop).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{name}: {}", r.body);
        assert!(r.challenge.contains(expected), "{name}: {}", r.challenge);
    }
}

#[tokio::test]
async fn cached_keys_keep_the_api_working_while_the_idp_is_down() {
    let idp = idp().await;
    let app = api(&idp.issuer);
    let bearer = token(&idp.issuer, None, API).await;
    let r = call(&app, Some(format!("Bearer {bearer}")), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // The IdP goes away; the API keeps accepting tokens signed by the keys it fetched.
    idp.serving.abort();
    let _ = idp.serving.await;
    let r = call(&app, Some(format!("Bearer {bearer}")), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // An API that never reached the IdP accepts nothing, and says so.
    let never = Resource::new(ResourceConfig {
        jwks_uri: Some("http://127.0.0.1:9/jwks".into()),
        ..ResourceConfig::new(&idp.issuer, API)
    })
    .unwrap();
    let headers = [(
        axum::http::header::AUTHORIZATION,
        format!("Bearer {bearer}").parse().unwrap(),
    )]
    .into_iter()
    .collect();
    let refused = never
        .authenticate(&axum::http::Method::GET, "/inbox", &headers)
        .await
        .unwrap_err();
    assert_eq!(refused.error, Some("invalid_token"));
    assert!(refused.description.contains("keys"), "{}", refused.description);
}
