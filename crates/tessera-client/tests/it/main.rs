//! The client SDK against a real `tessera serve` and a real API behind `tessera-resource`, both
//! in this process on 127.0.0.1: sign-in (headless and loopback), DPoP-bound tokens, device
//! registration, and what the client does with the API's claims challenges.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod hardware;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;
use tessera_client::{ClientConfig, ClientError, SoftwareMemoryKeyStore, TesseraClient};
use tessera_directory::{InitiatingEntity, UserPatch, UserSpec};
use tessera_resource::{Delivery, Principal, Resource, ResourceConfig, ResourceLayer, StepUp};
use tessera_store::{AppKind, Application, Secret, Timestamp, UserStatus};

const SECRET: &str = "client-test-secret-client-test-secret";
pub const PASSWORD: &str = "alice's long passphrase";

#[allow(missing_debug_implementations)]
pub struct World {
    pub state: Arc<tessera_server::state::AppState>,
    pub issuer: String,
    pub api: String,
    resource: Resource,
    pub alice: tessera_store::UserId,
    _dir: tempfile::TempDir,
}

async fn serve(router: axum::Router, listener: tokio::net::TcpListener) {
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await });
}

/// Tessera with a public app and alice; the mail API behind the layer, hearing pushed signals.
async fn world() -> World {
    world_with(|_| {}).await
}

/// The same, with `configure` changing Tessera's settings first.
pub async fn world_with(configure: impl FnOnce(&mut tessera_server::config::ServerConfig)) -> World {
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
    configure(&mut config);
    let prepared = tessera_server::prepare(config).await.unwrap();
    let state = prepared.state.clone();
    let api_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", api_listener.local_addr().unwrap());
    let app = |id: &str, kind: AppKind, grants: &[&str], scopes: &[&str]| Application {
        id: id.into(),
        name: id.into(),
        kind,
        secret_hash: (kind == AppKind::Confidential)
            .then(|| Secret::new(tessera_directory::secrets::hash_client_secret(SECRET))),
        redirect_uris: vec!["http://127.0.0.1/callback".into()],
        grant_types: grants.iter().map(|g| (*g).to_owned()).collect(),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        jwks: None,
        access_token_minutes: 15,
        refresh_token_days: 1,
        cae_capable: true,
        require_dpop: false,
        require_pushed_authorization_requests: false,
        backchannel_logout_uri: None,
        fapi2: false,
        created_at: Timestamp(0),
        changed_at: Timestamp(0),
    };
    let mut uow = state.store.begin().await.unwrap();
    uow.put_application(&app(
        "mail-app",
        AppKind::Public,
        &["authorization_code", "refresh_token"],
        &["mail.read"],
    ))
    .await
    .unwrap();
    uow.put_application(&app(
        "mail-api",
        AppKind::Confidential,
        &["client_credentials"],
        &["ssf.manage", "ssf.read"],
    ))
    .await
    .unwrap();
    uow.commit().await.unwrap();
    let alice = state
        .directory(InitiatingEntity::Admin)
        .create_user(&UserSpec {
            username: "alice".into(),
            email: None,
            display_name: None,
            password: Some(PASSWORD.to_owned().into()),
        })
        .await
        .unwrap()
        .id;
    let issuer = state.config.issuer.clone();
    serve(tessera_server::router(state.clone()), prepared.listener).await;
    let _worker = tessera_server::ssf::push::spawn(state.clone());

    let resource = Resource::new(ResourceConfig {
        public_url: Some(api.clone()),
        client_id: Some("mail-api".into()),
        client_secret: Some(SECRET.into()),
        ..ResourceConfig::new(&issuer, &api)
    })
    .unwrap();
    let router = axum::Router::new()
        .route(
            "/inbox",
            axum::routing::get(|p: Principal| async move { format!("mail for {}", p.subject) }),
        )
        // Payroll wants a second factor; settings, a sign-in within the last second (RFC 9470).
        .route(
            "/payroll",
            axum::routing::get(|p: Principal| async move {
                p.require_authentication(&StepUp {
                    acr_values: &["mfa"],
                    max_age: None,
                })?;
                Ok::<_, tessera_resource::Challenge>("payslips")
            }),
        )
        .route(
            "/settings",
            axum::routing::get(|p: Principal| async move {
                p.require_authentication(&StepUp {
                    acr_values: &[],
                    max_age: Some(1),
                })?;
                Ok::<_, tessera_resource::Challenge>("settings")
            }),
        )
        .layer(ResourceLayer::new(resource.clone()))
        .nest("/ssf/events", resource.signals_router());
    serve(router, api_listener).await;
    let token = resource.own_authorization().await.unwrap();
    resource
        .subscribe(
            token.trim_start_matches("Bearer "),
            Delivery::Push {
                endpoint_url: format!("{api}/ssf/events"),
                authorization_header: None,
            },
        )
        .await
        .unwrap();
    World {
        state,
        issuer,
        api,
        resource,
        alice,
        _dir: dir,
    }
}

async fn client(world: &World) -> TesseraClient {
    let config = ClientConfig::new(&world.issuer, "mail-app").with_resource(&world.api);
    TesseraClient::new(config, &SoftwareMemoryKeyStore::default(), "laptop")
        .await
        .unwrap()
}

/// Waits until the API's revocation state refuses `token` (the signal has arrived).
async fn until_refused(world: &World, token: &str) {
    let claims: serde_json::Value =
        serde_json::from_slice(&tessera_jose::b64::decode(token.split('.').nth(1).unwrap()).unwrap())
            .unwrap();
    let issued = claims["tessera_iat_ms"].as_i64().unwrap();
    let started = Instant::now();
    loop {
        let nb = world
            .resource
            .revocations()
            .not_before(&world.alice.0, None, None);
        if nb.is_some_and(|nb| issued <= nb) {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "the API never heard");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn the_client_follows_claims_challenges_and_stops_when_the_idp_refuses() {
    let world = world().await;
    let client = client(&world).await;
    client
        .sign_in_with_password("alice", PASSWORD, None)
        .await
        .unwrap();
    let inbox = format!("{}/inbox", world.api);
    let r = client.send(Method::GET, &inbox, None).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), format!("mail for {}", world.alice.0));
    let first = client.access_token().await.unwrap();

    // The tokens are DPoP-bound to the device key, and CAE-capable.
    let claims: serde_json::Value =
        serde_json::from_slice(&tessera_jose::b64::decode(first.split('.').nth(1).unwrap()).unwrap())
            .unwrap();
    assert_eq!(claims["cnf"]["jkt"], client.thumbprint().as_str());
    assert_eq!(claims["xms_cc"], json!(["cp1"]));
    assert_eq!(claims["aud"], world.api);

    // Alice joins a group: her claims changed, the API refuses the old token with a challenge,
    // and the client gets a fresh token and the call still succeeds.
    let admin = world.state.directory(InitiatingEntity::Admin);
    admin.create_group("finance", "Finance").await.unwrap();
    admin
        .set_membership(&"finance".into(), &world.alice, true)
        .await
        .unwrap();
    until_refused(&world, &first).await;
    let r = client.send(Method::GET, &inbox, None).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the challenge was followed");
    assert_ne!(client.access_token().await.unwrap(), first, "a new token");

    // The admin resets her password: the API refuses, and the IdP will not refresh the
    // session, so the client says she must sign in again.
    let current = client.access_token().await.unwrap();
    let admin = world.state.directory(InitiatingEntity::Admin);
    let reset = UserPatch {
        password: Some("alice's second passphrase".to_owned().into()),
        ..UserPatch::default()
    };
    admin.update_user(&world.alice, &reset).await.unwrap();
    until_refused(&world, &current).await;
    match client.send(Method::GET, &inbox, None).await {
        Err(ClientError::SignInRequired { reason }) => {
            assert!(
                reason.contains("sign in again") || reason.contains("revoked"),
                "{reason}"
            );
        }
        other => panic!("expected SignInRequired, got {other:?}"),
    }

    // She signs in with the new password; then her account is disabled.
    client
        .sign_in_with_password("alice", "alice's second passphrase", None)
        .await
        .unwrap();
    let r = client.send(Method::GET, &inbox, None).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let current = client.access_token().await.unwrap();
    let admin = world.state.directory(InitiatingEntity::Admin);
    let disable = UserPatch {
        status: Some(UserStatus::Disabled),
        ..UserPatch::default()
    };
    admin.update_user(&world.alice, &disable).await.unwrap();
    until_refused(&world, &current).await;
    match client.send(Method::GET, &inbox, None).await {
        Err(ClientError::SignInRequired { reason }) => {
            assert!(
                reason.contains("disabled") || reason.contains("revoked"),
                "{reason}"
            );
        }
        other => panic!("expected SignInRequired, got {other:?}"),
    }
    // And signing in again is refused with the IdP's words.
    let again = client
        .sign_in_with_password("alice", "alice's second passphrase", None)
        .await
        .unwrap_err();
    assert!(matches!(again, ClientError::SignIn(_)), "{again:?}");
}

#[tokio::test]
async fn a_step_up_challenge_comes_back_and_the_next_sign_in_asks_for_it() {
    let world = world().await;
    let client = client(&world).await;
    client
        .sign_in_with_password("alice", PASSWORD, None)
        .await
        .unwrap();
    // The token says how she signed in: with a password, just now.
    let token = client.access_token().await.unwrap();
    let claims: serde_json::Value =
        serde_json::from_slice(&tessera_jose::b64::decode(token.split('.').nth(1).unwrap()).unwrap())
            .unwrap();
    assert_eq!(claims["acr"], "pwd");
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert!(claims["auth_time"].is_i64());

    // Payroll wants a second factor: the client says so, and the next sign-in asks for it.
    match client
        .send(Method::GET, &format!("{}/payroll", world.api), None)
        .await
    {
        Err(ClientError::StepUpRequired {
            acr_values, reason, ..
        }) => {
            assert_eq!(acr_values.as_deref(), Some("mfa"));
            assert!(reason.contains("mfa"), "{reason}");
        }
        other => panic!("expected StepUpRequired, got {other:?}"),
    }
    let url = client.authorization_url("http://127.0.0.1/callback", "s", "c");
    assert!(url.contains("acr_values=mfa"), "{url}");

    // Settings want a sign-in within the last second. Two seconds on, the client says so; she
    // signs in again (max_age makes the IdP ask for her password) and the call goes through.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let settings = format!("{}/settings", world.api);
    match client.send(Method::GET, &settings, None).await {
        Err(ClientError::StepUpRequired { max_age, .. }) => assert_eq!(max_age, Some(1)),
        other => panic!("expected StepUpRequired, got {other:?}"),
    }
    assert!(
        client
            .authorization_url("http://127.0.0.1/callback", "s", "c")
            .contains("max_age=1")
    );
    client
        .sign_in_with_password("alice", PASSWORD, None)
        .await
        .unwrap();
    let r = client.send(Method::GET, &settings, None).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        !client
            .authorization_url("http://127.0.0.1/callback", "s", "c")
            .contains("max_age"),
        "a sign-in settles the step-up"
    );
}

#[tokio::test]
async fn loopback_sign_in_device_registration_and_a_copied_refresh_token() {
    let world = world().await;
    let keys = SoftwareMemoryKeyStore::default();
    // The device key is the same for every app on the laptop; registration needs a token for
    // the IdP itself (no `resource`).
    let setup = TesseraClient::new(ClientConfig::new(&world.issuer, "mail-app"), &keys, "laptop")
        .await
        .unwrap();
    // RFC 8252: the app listens on a port of its own; a "browser" follows the URL it shows.
    let issuer = world.issuer.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<String>();
    let browser = tokio::spawn(async move {
        let url = rx.await.unwrap();
        let back = TesseraClient::play_browser(&issuer, &url, "http://127.0.0.1:", "alice", PASSWORD)
            .await
            .unwrap();
        reqwest::get(back).await.unwrap().status()
    });
    let mut tx = Some(tx);
    setup
        .sign_in_loopback(|url| {
            let _ = tx.take().unwrap().send(url.to_owned());
        })
        .await
        .unwrap();
    assert_eq!(browser.await.unwrap(), StatusCode::OK);

    // The device registers its key for alice.
    let device = setup.register_device("Alice's laptop", "windows").await.unwrap();
    assert_eq!(device["jkt"], setup.thumbprint().as_str());
    let config = ClientConfig::new(&world.issuer, "mail-app").with_resource(&world.api);
    let client = TesseraClient::new(config, &keys, "laptop").await.unwrap();
    assert_eq!(client.thumbprint(), setup.thumbprint());

    // Signed in again from the registered device, the session is bound to it. Malware copies
    // the refresh token to another machine: without the device's key the IdP refuses it and
    // logs the replay, and the laptop keeps working.
    client
        .sign_in_with_password("alice", PASSWORD, None)
        .await
        .unwrap();
    let stolen = client.refresh_token().await.unwrap();
    let body = [
        ("grant_type", "refresh_token"),
        ("refresh_token", stolen.as_str()),
        ("client_id", "mail-app"),
    ];
    let r = reqwest::Client::new()
        .post(format!("{}/token", world.issuer))
        .form(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    client.refresh(None).await.expect("the laptop's session survives");
    let r = client
        .send(Method::GET, &format!("{}/inbox", world.api), None)
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let user = world.state.store.user(&world.alice).await.unwrap();
    assert_eq!(
        user.risk,
        tessera_store::RiskLevel::Medium,
        "the attempt raises her risk"
    );
    let logs = world
        .state
        .store
        .sign_ins(&tessera_store::SignInFilter {
            outcome: Some("replay".into()),
            limit: 5,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(logs.len(), 1, "the replay is logged");
}
