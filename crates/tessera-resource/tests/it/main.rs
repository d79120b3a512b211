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
    state: std::sync::Arc<tessera_server::state::AppState>,
    /// The IdP's clock, moved by hand (it starts at the wall clock's time).
    clock: std::sync::Arc<tessera_jose::ManualClock>,
    issuer: String,
    _dir: tempfile::TempDir,
    serving: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// A Tessera server on a free loopback port with a client `mail-client`.
async fn idp() -> Idp {
    idp_with(|_| {}).await
}

/// The same, with its configuration adjusted by `change`.
async fn idp_with(change: impl FnOnce(&mut tessera_server::config::ServerConfig)) -> Idp {
    // A data directory must be private to this account.
    let dir = {
        use std::os::unix::fs::PermissionsExt as _;
        tempfile::Builder::new()
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()
            .unwrap()
    };
    let mut config = tessera_server::config::ServerConfig::resolve(
        None,
        tessera_server::config::Overrides {
            listen: Some("127.0.0.1:0".into()),
            data_dir: Some(dir.path().to_owned()),
            admin_password: Some("correct horse battery staple".into()),
            ..Default::default()
        },
    )
    .unwrap();
    // The test's receivers listen on 127.0.0.1.
    config.ssf.push_allowed_networks = vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
    // The API signals back where it saw a session used; the operator trusts it to.
    config
        .ssf
        .transmitters
        .push(tessera_server::config::TransmitterConfig {
            issuer: "mail-client".into(),
            jwks_uri: None,
            events: vec!["https://schemas.openid.net/secevent/caep/event-type/session-presented".into()],
            audience: None,
            poll_url: None,
            authorization_header: None,
        });
    change(&mut config);
    let mut prepared = tessera_server::prepare(config).await.unwrap();
    let clock = std::sync::Arc::new(tessera_jose::ManualClock::starting_now());
    std::sync::Arc::get_mut(&mut prepared.state)
        .expect("nothing holds the state before it serves")
        .clock = clock.clone();
    let state = prepared.state.clone();
    let mut uow = state.store.begin().await.unwrap();
    uow.put_application(&Application {
        id: "mail-client".into(),
        name: "mail client".into(),
        kind: AppKind::Confidential,
        secret_hash: Some(Secret::new(tessera_directory::secrets::hash_client_secret(
            SECRET,
        ))),
        redirect_uris: vec![],
        grant_types: vec![
            "client_credentials".into(),
            "urn:ietf:params:oauth:grant-type:token-exchange".into(),
        ],
        scopes: vec!["mail.read".into(), "ssf.manage".into(), "ssf.read".into()],
        jwks: None,
        access_token_minutes: 15,
        refresh_token_days: 1,
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
    let issuer = state.config.issuer.clone();
    let app =
        tessera_server::router(state.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let serving = tokio::spawn(async move { axum::serve(prepared.listener, app).await });
    Idp {
        state,
        clock,
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
        .route(
            "/send",
            get(|p: Principal| async move {
                p.require_scope("mail.send")?;
                Ok::<_, tessera_resource::Challenge>("sent")
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
    tessera_jose::Clock::now(&SystemClock).unix_time()
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
    // A valid token without the scope a route needs: 403 insufficient_scope, naming it.
    let response = app
        .clone()
        .oneshot(
            Request::get("/send")
                .header("authorization", format!("Bearer {bearer}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=\"api\", error=\"insufficient_scope\", scope=\"mail.send\", \
         resource_metadata=\"https://mail.example/.well-known/oauth-protected-resource\""
    );
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

#[tokio::test]
async fn the_api_publishes_its_metadata_and_every_challenge_names_it() {
    let idp = idp().await;
    let resource = Resource::new(ResourceConfig {
        scopes_supported: vec!["mail.read".into(), "mail.send".into()],
        ..ResourceConfig::new(&idp.issuer, API)
    })
    .unwrap();
    let metadata_url = format!("{API}/.well-known/oauth-protected-resource");
    assert_eq!(resource.metadata_url().as_deref(), Some(metadata_url.as_str()));
    let app = Router::new()
        .route(
            "/inbox",
            get(|p: Principal| async move {
                p.require_scope("mail.send")?;
                Ok::<_, tessera_resource::Challenge>("sent")
            }),
        )
        .layer(ResourceLayer::new(resource.clone()))
        .merge(resource.metadata_router());

    // The document (RFC 9728 §2), public and cacheable; `resource` is the identifier the URL
    // was made from, as a client must check (§3.3).
    let response = app
        .clone()
        .oneshot(
            Request::get("/.well-known/oauth-protected-resource")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let document: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        document,
        serde_json::json!({
            "resource": API,
            "authorization_servers": [idp.issuer],
            "scopes_supported": ["mail.read", "mail.send"],
            "bearer_methods_supported": ["header"],
            "dpop_signing_alg_values_supported": ["ES256", "EdDSA"],
        })
    );

    // No credentials, a bad token, a scope the token lacks (a handler's refusal): each names the
    // document (§5.1).
    let named = format!("resource_metadata=\"{metadata_url}\"");
    let r = call(&app, None, &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.challenge, format!("Bearer realm=\"api\", {named}"));
    let r = call(&app, Some("Bearer a.b.c".into()), &[]).await;
    assert!(r.challenge.ends_with(&named), "{}", r.challenge);
    let token = token(&idp.issuer, None, API).await;
    let r = call(&app, Some(format!("Bearer {token}")), &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.challenge.contains("insufficient_scope"), "{}", r.challenge);
    assert!(r.challenge.ends_with(&named), "{}", r.challenge);

    // An identifier with a path: the suffix goes between host and path; the router serves it.
    let nested = Resource::new(ResourceConfig::new(&idp.issuer, "https://api.example/mail")).unwrap();
    assert_eq!(
        nested.metadata_url().as_deref(),
        Some("https://api.example/.well-known/oauth-protected-resource/mail")
    );
    let response = nested
        .metadata_router()
        .oneshot(
            Request::get("/.well-known/oauth-protected-resource/mail")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // An audience that is not a URL has no document, and challenges name none.
    let logical = Resource::new(ResourceConfig::new(&idp.issuer, "mail-api")).unwrap();
    assert_eq!(logical.metadata_url(), None);
}

#[test]
fn step_up_requirements_and_their_challenges() {
    use tessera_resource::StepUp;
    let now = 1_800_000_000;
    let principal = |claims: Value| Principal {
        subject: "u-1".into(),
        client_id: "app".into(),
        scopes: vec![],
        device_id: None,
        session_id: None,
        jkt: None,
        cae_capable: false,
        claims: std::sync::Arc::new(claims),
    };
    let pwd_old = principal(serde_json::json!({"acr": "pwd", "auth_time": now - 600}));
    let mfa_new = principal(serde_json::json!({"acr": "mfa", "auth_time": now - 5}));
    let silent = principal(serde_json::json!({}));
    let mfa = StepUp {
        acr_values: &["mfa"],
        max_age: None,
    };
    let recent = StepUp {
        acr_values: &[],
        max_age: Some(60),
    };
    let both = StepUp {
        acr_values: &["mfa"],
        max_age: Some(60),
    };
    // (who, requirement, the challenge's parameters when refused)
    let rows: [(&Principal, &StepUp, Option<&str>); 7] = [
        (&pwd_old, &StepUp::default(), None),
        (&mfa_new, &both, None),
        (&pwd_old, &mfa, Some(", acr_values=\"mfa\"")),
        (&pwd_old, &recent, Some(", max_age=\"60\"")),
        (&pwd_old, &both, Some(", acr_values=\"mfa\", max_age=\"60\"")),
        (&silent, &mfa, Some(", acr_values=\"mfa\"")),
        (&silent, &recent, Some(", max_age=\"60\"")),
    ];
    for (i, (who, step_up, refused)) in rows.iter().enumerate() {
        match (who.require_authentication_at(step_up, now), refused) {
            (Ok(()), None) => {}
            (Err(c), Some(params)) => {
                assert_eq!(c.status, StatusCode::UNAUTHORIZED, "row {i}");
                assert_eq!(
                    c.header_value(),
                    format!("Bearer realm=\"api\", error=\"insufficient_user_authentication\"{params}"),
                    "row {i}"
                );
            }
            (other, _) => panic!("row {i}: {other:?}"),
        }
    }
}

mod cae {
    //! The API hears of revocations from the IdP and refuses the next request.

    use std::time::{Duration, Instant};

    use axum::http::StatusCode;
    use serde_json::{Value, json};
    use tessera_directory::{InitiatingEntity, UserPatch, UserSpec};
    use tessera_resource::{Resource, ResourceConfig, ResourceLayer};
    use tessera_store::UserStatus;

    use super::{API, Idp, SECRET, call, idp, idp_with};

    /// An access token for the mail API, signed by the IdP, for `subject`.
    pub(super) fn mail_token(idp: &Idp, subject: &str, cp1: bool, lifetime: u64) -> String {
        mail_token_with(idp, subject, cp1, lifetime, None, &[], false)
    }

    /// The same, in session `sid`, naming location-dependent policies.
    pub(super) fn mail_token_with(
        idp: &Idp,
        subject: &str,
        cp1: bool,
        lifetime: u64,
        sid: Option<&str>,
        location_policies: &[tessera_policy::PolicyId],
        location_strict: bool,
    ) -> String {
        let grant = tessera_server::oauth::access_token::Grant {
            subject,
            client_id: "mail-client",
            audience: API,
            scope: "mail.read",
            lifetime,
            jkt: None,
            sid,
            device_id: None,
            cp1,
            location_policies,
            location_strict,
            act: None,
            authentication: None,
        };
        tessera_server::oauth::access_token::issue(&idp.state, &grant)
            .unwrap()
            .token
    }

    /// A user at the IdP and an access token for the mail API, CAE-capable or not.
    async fn user_token(idp: &Idp, name: &str, cp1: bool) -> (tessera_store::UserId, String) {
        let dir = idp.state.directory(InitiatingEntity::Admin);
        let user = dir
            .create_user(&UserSpec {
                username: name.into(),
                email: None,
                display_name: None,
                password: None,
            })
            .await
            .unwrap();
        let issued = mail_token(idp, &user.id.0, cp1, 86_400);
        (user.id, issued)
    }

    /// The mail API's own token at the IdP, for stream management and polling.
    async fn api_token(issuer: &str) -> String {
        let r = reqwest::Client::new()
            .post(format!("{issuer}/token"))
            .basic_auth("mail-client", Some(SECRET))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials&scope=ssf.manage%20ssf.read")
            .send()
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    async fn create_stream(issuer: &str, token: &str, delivery: Value) -> Value {
        let events = [
            "https://schemas.openid.net/secevent/risc/event-type/account-disabled",
            "https://schemas.openid.net/secevent/caep/event-type/session-revoked",
            "https://schemas.openid.net/secevent/caep/event-type/credential-change",
        ];
        let r = reqwest::Client::new()
            .post(format!("{issuer}/ssf/streams"))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(json!({"events_requested": events, "delivery": delivery}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()
    }

    fn resource_config(issuer: &str) -> ResourceConfig {
        ResourceConfig {
            public_url: Some(API.into()),
            client_id: Some("mail-client".into()),
            ..ResourceConfig::new(issuer, API)
        }
    }

    fn resource(issuer: &str) -> Resource {
        Resource::new(resource_config(issuer)).unwrap()
    }

    /// Waits until a request with `token` is refused; returns the refusal and how long it took.
    async fn refused(app: &axum::Router, token: &str) -> (super::Reply, Duration) {
        let started = Instant::now();
        loop {
            let r = call(app, Some(format!("Bearer {token}")), &[]).await;
            if r.status != StatusCode::OK {
                return (r, started.elapsed());
            }
            assert!(started.elapsed() < Duration::from_secs(10), "never refused");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    #[tokio::test]
    async fn a_disabled_user_is_refused_with_a_claims_challenge_pushed_by_the_idp() {
        let idp = idp().await;
        let resource = resource(&idp.issuer);
        let app = axum::Router::new()
            .route("/inbox", axum::routing::get(|| async { "mail" }))
            .layer(ResourceLayer::new(resource.clone()));
        // The API's signals endpoint, on a real socket the IdP can push to.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}/ssf/events", listener.local_addr().unwrap());
        let signals = axum::Router::new().nest("/ssf/events", resource.signals_router());
        tokio::spawn(async move { axum::serve(listener, signals).await });
        let token = api_token(&idp.issuer).await;
        create_stream(
            &idp.issuer,
            &token,
            json!({"method": "urn:ietf:rfc:8935", "endpoint_url": endpoint}),
        )
        .await;
        let _worker = tessera_server::ssf::push::spawn(idp.state.clone());

        let (carol, cae_token) = user_token(&idp, "carol", true).await;
        let (dave, plain_token) = user_token(&idp, "dave", false).await;
        for t in [&cae_token, &plain_token] {
            assert_eq!(
                call(&app, Some(format!("Bearer {t}")), &[]).await.status,
                StatusCode::OK
            );
        }
        idp.clock.advance(Duration::from_millis(1));

        let dir = idp.state.directory(InitiatingEntity::Admin);
        let disable = UserPatch {
            status: Some(UserStatus::Disabled),
            ..UserPatch::default()
        };
        dir.update_user(&carol, &disable).await.unwrap();
        let (r, took) = refused(&app, &cae_token).await;
        eprintln!("admin disable → API refusal (push): {took:?}");
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.challenge.starts_with("Bearer realm=\"api\""), "{}", r.challenge);
        assert!(
            r.challenge.contains("error=\"insufficient_claims\""),
            "{}",
            r.challenge
        );
        assert!(
            r.challenge
                .contains(&format!("authorization_uri=\"{}/authorize\"", idp.issuer)),
            "{}",
            r.challenge
        );
        let claims = r
            .challenge
            .split("claims=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap();
        let decoded: Value = serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::STANDARD, claims).unwrap(),
        )
        .unwrap();
        assert_eq!(decoded["access_token"]["nbf"]["essential"], true);
        assert!(
            decoded["access_token"]["nbf"]["value"]
                .as_str()
                .unwrap()
                .parse::<i64>()
                .is_ok()
        );

        // A client that did not declare cp1 gets a plain invalid_token.
        dir.revoke_sessions(&dave).await.unwrap();
        let (r, _) = refused(&app, &plain_token).await;
        assert!(r.challenge.contains("error=\"invalid_token\""), "{}", r.challenge);
        assert!(!r.challenge.contains("claims="), "{}", r.challenge);
        // A token issued a millisecond after the revocation is accepted, though in its second.
        idp.clock.advance(Duration::from_millis(1));
        let fresh = mail_token(&idp, &dave.0, false, 600);
        let r = call(&app, Some(format!("Bearer {fresh}")), &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }

    #[tokio::test]
    async fn a_token_exchanged_for_the_next_api_is_cut_off_with_its_user() {
        const ARCHIVE: &str = "https://archive.example";
        // The mail client serves the mail API and may exchange its tokens for the archive.
        let idp = idp_with(|c| {
            c.introspection
                .resource_servers
                .insert("mail-client".into(), vec![API.into()]);
            c.token_exchange
                .audiences
                .insert("mail-client".into(), vec![ARCHIVE.into()]);
        })
        .await;
        // The archive API, which hears the IdP's signals by push.
        let archive = Resource::new(ResourceConfig {
            public_url: Some(ARCHIVE.into()),
            client_id: Some("mail-client".into()),
            ..ResourceConfig::new(&idp.issuer, ARCHIVE)
        })
        .unwrap();
        let app = axum::Router::new()
            .route(
                "/inbox",
                axum::routing::get(|p: tessera_resource::Principal| async move {
                    format!("{} for {}", p.actors().join(","), p.subject)
                }),
            )
            .layer(ResourceLayer::new(archive.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}/ssf/events", listener.local_addr().unwrap());
        let signals = axum::Router::new().nest("/ssf/events", archive.signals_router());
        tokio::spawn(async move { axum::serve(listener, signals).await });
        let api = api_token(&idp.issuer).await;
        create_stream(
            &idp.issuer,
            &api,
            json!({"method": "urn:ietf:rfc:8935", "endpoint_url": endpoint}),
        )
        .await;
        let _worker = tessera_server::ssf::push::spawn(idp.state.clone());

        // Frank's token for the mail API, which the mail API exchanges to call the archive.
        let (frank, _) = user_token(&idp, "frank", true).await;
        let subject = mail_token_with(&idp, &frank.0, true, 86_400, Some("s-frank"), &[], false);
        let r = reqwest::Client::new()
            .post(format!("{}/token", idp.issuer))
            .basic_auth("mail-client", Some(SECRET))
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
                ("subject_token", subject.as_str()),
                (
                    "subject_token_type",
                    "urn:ietf:params:oauth:token-type:access_token",
                ),
                ("audience", ARCHIVE),
            ])
            .send()
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
        let exchanged = body["access_token"]
            .as_str()
            .expect("an exchanged token")
            .to_owned();
        let r = call(&app, Some(format!("Bearer {exchanged}")), &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body, format!("mail-client for {}", frank.0));

        // The admin disables frank: the archive API refuses the exchanged token at once.
        idp.clock.advance(Duration::from_millis(1));
        let disable = UserPatch {
            status: Some(UserStatus::Disabled),
            ..UserPatch::default()
        };
        idp.state
            .directory(InitiatingEntity::Admin)
            .update_user(&frank, &disable)
            .await
            .unwrap();
        let (r, took) = refused(&app, &exchanged).await;
        eprintln!("admin disable → refusal of the exchanged token at the next API (push): {took:?}");
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        // The mail client did not declare CAE support, so its exchanged token carries no `cp1`
        // and the archive says invalid_token rather than challenging for claims.
        assert!(r.challenge.contains("error=\"invalid_token\""), "{}", r.challenge);
    }

    #[tokio::test]
    async fn a_polling_api_hears_of_a_password_reset() {
        let idp = idp().await;
        let resource = resource(&idp.issuer);
        let app = axum::Router::new()
            .route("/inbox", axum::routing::get(|| async { "mail" }))
            .layer(ResourceLayer::new(resource.clone()));
        let token = api_token(&idp.issuer).await;
        let stream = create_stream(&idp.issuer, &token, json!({"method": "urn:ietf:rfc:8936"})).await;
        let poll_url = stream["delivery"]["endpoint_url"].as_str().unwrap().to_owned();
        let poller = resource.spawn_poller(poll_url, Some(format!("Bearer {token}")));

        let dir = idp.state.directory(InitiatingEntity::Admin);
        let erin = dir
            .create_user(&UserSpec {
                username: "erin".into(),
                email: None,
                display_name: None,
                password: Some("erin's first passphrase".to_owned().into()),
            })
            .await
            .unwrap();
        let issued = mail_token(&idp, &erin.id.0, true, 86_400);
        assert_eq!(
            call(&app, Some(format!("Bearer {issued}")), &[]).await.status,
            StatusCode::OK
        );
        idp.clock.advance(Duration::from_millis(1));
        let reset = UserPatch {
            password: Some("erin's second passphrase".to_owned().into()),
            ..UserPatch::default()
        };
        // A directory as of now: a Directory stamps its changes with the instant it was made.
        let dir = idp.state.directory(InitiatingEntity::Admin);
        dir.update_user(&erin.id, &reset).await.unwrap();
        let (r, took) = refused(&app, &issued).await;
        eprintln!("password reset → API refusal (poll): {took:?}");
        assert!(r.challenge.contains("insufficient_claims"), "{}", r.challenge);
        assert!(!resource.revocations().is_empty());
        poller.abort();
    }

    async fn until(what: &str, mut done: impl FnMut() -> bool) {
        let started = Instant::now();
        while !done() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn the_api_subscribes_and_verifies_its_own_stream() {
        let idp = idp().await;
        let token = api_token(&idp.issuer).await;

        // Push: the stream is created once, then found again; the verification arrives.
        let pushed = resource(&idp.issuer);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}/ssf/events", listener.local_addr().unwrap());
        let signals = axum::Router::new().nest("/ssf/events", pushed.signals_router());
        tokio::spawn(async move { axum::serve(listener, signals).await });
        let _worker = tessera_server::ssf::push::spawn(idp.state.clone());
        let delivery = tessera_resource::Delivery::Push {
            endpoint_url: endpoint,
            authorization_header: None,
        };
        let first = pushed.subscribe(&token, delivery.clone()).await.unwrap();
        assert!(first.poll_url.is_none());
        until("the verification pushed", || {
            pushed
                .stream_state()
                .verified_state
                .is_some_and(|s| s.starts_with("tessera-resource-"))
        })
        .await;
        let again = pushed.subscribe(&token, delivery).await.unwrap();
        assert_eq!(
            again.stream_id, first.stream_id,
            "an API restarting finds its stream"
        );

        // Poll: a stream of its own, polled.
        let polled = resource(&idp.issuer);
        let sub = polled
            .subscribe(&token, tessera_resource::Delivery::Poll)
            .await
            .unwrap();
        assert_ne!(sub.stream_id, first.stream_id);
        let poller = polled.spawn_poller(sub.poll_url.unwrap(), Some(format!("Bearer {token}")));
        until("the verification polled", || {
            polled.stream_state().verified_state.is_some()
        })
        .await;
        poller.abort();
    }

    #[tokio::test]
    async fn the_api_verifies_its_stream_periodically_and_notices_silence() {
        let idp = super::idp_with(|c| c.ssf.min_verification_interval_seconds = 0).await;
        let token = api_token(&idp.issuer).await;
        let api = Resource::new(ResourceConfig {
            client_secret: Some(SECRET.into()),
            ..resource_config(&idp.issuer)
        })
        .unwrap();
        let sub = api
            .subscribe(&token, tessera_resource::Delivery::Poll)
            .await
            .unwrap();
        let every = Duration::from_millis(300);
        let check = api.spawn_stream_check(sub.stream_id.clone(), every);
        // Not polled yet: the verification asked for does not arrive, and the check says so.
        until("the silence noticed", || api.stream_state().overdue).await;
        // Polling again: the latest verification arrives and the stream is healthy again.
        let poller = api.spawn_poller(sub.poll_url.unwrap(), None);
        until("verified again", || {
            let s = api.stream_state();
            !s.overdue && s.awaiting.is_none() && s.verified_state.is_some()
        })
        .await;
        check.abort();
        poller.abort();
    }
}

mod location {
    //! The API enforces the IdP's location policy itself and tells the IdP what it saw.

    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use axum::body::Body;
    use axum::extract::ConnectInfo;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt as _;
    use serde_json::{Value, json};
    use tessera_directory::{InitiatingEntity, UserSpec};
    use tessera_jose::{Algorithm, SigningKey};
    use tessera_resource::{Resource, ResourceConfig, ResourceLayer};
    use tessera_store::{NamedLocationRecord, PolicyRecord, Timestamp};
    use tower::ServiceExt as _;

    use super::cae::mail_token_with;
    use super::{API, Idp, SECRET, idp};

    const POLICY: &str = "outside-office";

    /// The office, a policy blocking everything outside trusted locations, and the mail API's
    /// signing key registered with its application.
    async fn set_up(idp: &Idp, key: &SigningKey) {
        let mut uow = idp.state.store.begin().await.unwrap();
        uow.put_named_location(&NamedLocationRecord {
            id: "office".into(),
            display_name: "Office".into(),
            ip_ranges: vec!["203.0.113.0/24".into()],
            trusted: true,
            changed_at: Timestamp(0),
        })
        .await
        .unwrap();
        uow.put_policy(&PolicyRecord {
            id: POLICY.into(),
            state: "enabled".into(),
            document: json!({
                "id": POLICY, "displayName": "Block outside the office", "state": "enabled",
                "conditions": {
                    "users": {"includeUsers": ["All"]},
                    "applications": {"includeApplications": ["All"]},
                    "locations": {"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]}
                },
                "grantControls": {"builtInControls": ["block"]}
            }),
            changed_at: Timestamp(0),
        })
        .await
        .unwrap();
        let mut app = idp.state.store.application("mail-client").await.unwrap();
        app.jwks = Some(json!({"keys": [key.public_jwk().to_json()]}));
        uow.put_application(&app).await.unwrap();
        uow.commit().await.unwrap();
        idp.state.policies.reload(idp.state.store.as_ref()).await.unwrap();
    }

    fn resource(idp: &Idp, key: Option<Arc<SigningKey>>) -> Resource {
        Resource::new(ResourceConfig {
            public_url: Some(API.into()),
            client_id: Some("mail-client".into()),
            client_secret: Some(SECRET.into()),
            trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
            signal_key: key,
            ..ResourceConfig::new(&idp.issuer, API)
        })
        .unwrap()
    }

    struct Answer {
        status: StatusCode,
        challenge: Option<String>,
        json: Value,
    }

    /// A request through the local proxy (127.0.0.1) for a client at `client`.
    async fn from(app: &axum::Router, token: &str, client: &str) -> Answer {
        let mut request = Request::get("/inbox")
            .header("authorization", format!("Bearer {token}"))
            .header("x-forwarded-for", client)
            .body(Body::empty())
            .unwrap();
        let peer: SocketAddr = "127.0.0.1:50000".parse().unwrap();
        request.extensions_mut().insert(ConnectInfo(peer));
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            challenge,
            json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    #[tokio::test]
    async fn a_token_used_outside_its_policys_locations_is_challenged_and_reported() {
        let idp = idp().await;
        let key = Arc::new(SigningKey::generate(Algorithm::Es256).unwrap());
        set_up(&idp, &key).await;
        let dir = idp.state.directory(InitiatingEntity::Admin);
        let carol = dir
            .create_user(&UserSpec {
                username: "carol".into(),
                email: None,
                display_name: None,
                password: None,
            })
            .await
            .unwrap();
        // A real session at the IdP, so the report has something to mark.
        let family = idp
            .state
            .store
            .start_session(
                &tessera_store::NewSession {
                    id: "s-carol".into(),
                    user_id: carol.id.clone(),
                    client_id: "mail-client".into(),
                    device_id: None,
                    jkt: None,
                    browser_sid: None,
                    created_at: Timestamp(0),
                },
                &tessera_store::NewFamily {
                    id: "f-carol".into(),
                    token_hash: vec![7; 32],
                    expires_at: Timestamp(i64::MAX / 2),
                    grant: json!({}),
                },
            )
            .await
            .unwrap();
        let policies = [tessera_policy::PolicyId::from(POLICY)];
        let sub = carol.id.0.as_str();
        let cae = mail_token_with(&idp, sub, true, 86_400, Some("s-carol"), &policies, false);
        let plain = mail_token_with(&idp, sub, false, 3_600, Some("s-carol"), &policies, false);
        let strict = mail_token_with(&idp, sub, true, 86_400, Some("s-carol"), &policies, true);
        let unconditioned = mail_token_with(&idp, sub, true, 86_400, Some("s-carol"), &[], false);
        let deleted = [tessera_policy::PolicyId::from("deleted-policy")];
        let stale = mail_token_with(&idp, sub, true, 86_400, Some("s-carol"), &deleted, false);

        // Before the API has read the rules it cannot tell, and says so.
        let unsynced = resource(&idp, None);
        let app = axum::Router::new()
            .route("/inbox", axum::routing::get(|| async { "mail" }))
            .layer(ResourceLayer::new(unsynced));
        let r = from(&app, &cae, "203.0.113.5").await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(r.challenge.is_none());

        let resource = resource(&idp, Some(key));
        let _sync = resource.spawn_location_sync();
        let app = axum::Router::new()
            .route("/inbox", axum::routing::get(|| async { "mail" }))
            .layer(ResourceLayer::new(resource.clone()));
        let started = Instant::now();
        while from(&app, &cae, "203.0.113.5").await.status != StatusCode::OK {
            assert!(started.elapsed() < Duration::from_secs(10), "rules never arrived");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        // From the office: accepted. From elsewhere: a claims challenge for a token from now.
        let r = from(&app, &cae, "198.51.100.7").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        let challenge = r.challenge.unwrap();
        assert!(challenge.contains("error=\"insufficient_claims\""), "{challenge}");
        let claims = challenge
            .split("claims=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let claims: Value = serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::STANDARD, claims).unwrap(),
        )
        .unwrap();
        let nbf: i64 = claims["access_token"]["nbf"]["value"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((now - 5..=now + 5).contains(&nbf), "{claims}");

        // The table of the rest.
        let cases: &[(&str, &str, &str, StatusCode, Option<&str>)] = &[
            (
                "no CAE: invalid_token",
                &plain,
                "198.51.100.7",
                StatusCode::UNAUTHORIZED,
                Some("invalid_token"),
            ),
            (
                "strict: refused outright",
                &strict,
                "198.51.100.7",
                StatusCode::FORBIDDEN,
                None,
            ),
            (
                "strict, from the office",
                &strict,
                "203.0.113.77",
                StatusCode::OK,
                None,
            ),
            (
                "no location policy in the token",
                &unconditioned,
                "198.51.100.7",
                StatusCode::OK,
                None,
            ),
            (
                "a policy the IdP no longer has",
                &stale,
                "198.51.100.7",
                StatusCode::OK,
                None,
            ),
            (
                "an unreadable forwarded address",
                &cae,
                "203.0.113.5, garbage",
                StatusCode::UNAUTHORIZED,
                Some("insufficient_claims"),
            ),
            (
                "IPv4-mapped office address",
                &cae,
                "::ffff:203.0.113.5",
                StatusCode::OK,
                None,
            ),
        ];
        for (name, token, client, status, error) in cases {
            let r = from(&app, token, client).await;
            assert_eq!(r.status, *status, "{name}: {:?}", r.json);
            if let Some(e) = error {
                assert!(
                    r.challenge
                        .as_deref()
                        .unwrap()
                        .contains(&format!("error=\"{e}\"")),
                    "{name}"
                );
            }
            if *status == StatusCode::FORBIDDEN {
                assert!(r.challenge.is_none(), "{name}: a refusal is not a challenge");
                assert_eq!(r.json["error"], "access_denied", "{name}");
            }
        }

        // The IdP heard where the session was used: its next refresh meets policy from there.
        let started = Instant::now();
        loop {
            let seen = idp
                .state
                .store
                .presented_token(&[7; 32], None)
                .await
                .unwrap()
                .unwrap();
            if seen.presented_ip.as_deref() == Some("198.51.100.7") {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "the IdP never heard");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(family.session_id.0, "s-carol");
    }
}
