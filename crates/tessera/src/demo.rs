//! `tessera demo`: both of Tessera's stories, end to end, with nothing set up.
//!
//! It starts an identity provider on 127.0.0.1 over a temporary SQLite database, the example
//! mail API behind `tessera-resource` (hearing the IdP's signals by push, enforcing its
//! location policy), alice's laptop (a `tessera-client` with its own device key) and a second
//! machine, and plays:
//!
//! 1. token protection: alice's sign-in on her registered laptop is bound to it; malware copies
//!    her refresh token to another machine, whose replay is refused and logged; the laptop
//!    keeps working. Then malware copies *every file* of the client with the refresh token:
//!    with a software key that works (the key is a file), and the demo says so; with a key in
//!    a TPM (when built with `--features tpm` and `swtpm` is installed) it is refused;
//! 2. continuous access evaluation: alice holds a day-long CAE token; the admin disables her,
//!    then resets her password, then her laptop leaves the office network; each time the API
//!    refuses her next call within milliseconds, and the client's retry is refused or she must
//!    sign in again.
//!
//! Every step prints its time since the start; the command exits 0 only if every step behaved
//! as expected, so it doubles as a smoke test.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tessera_client::{ClientConfig, ClientError, SoftwareFileKeyStore, TesseraClient};
use tessera_directory::{InitiatingEntity, UserPatch, UserSpec};
use tessera_resource::{Delivery, Principal, Resource, ResourceConfig, ResourceLayer};
use tessera_store::{AppKind, Application, NamedLocationRecord, PolicyRecord, Secret, Timestamp, UserStatus};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Show the server's and the API's logs too.
    #[arg(long)]
    verbose: bool,
}

const PASSWORD: &str = "correct horse battery staple";
const NEW_PASSWORD: &str = "a brand new passphrase, 2026";
/// Where alice's laptop appears once it leaves the office (TEST-NET-2).
const OUTSIDE: &str = "198.51.100.7";

/// The timeline: each step with its time, and whether all went as expected.
struct Timeline {
    started: Instant,
    failed: u32,
    steps: u32,
}

impl Timeline {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            failed: 0,
            steps: 0,
        }
    }

    fn heading(&self, text: &str) {
        println!("\n{text}");
    }

    /// Prints a step: ✔ when `outcome` is what the story expects, ✘ with why otherwise.
    fn step(&mut self, what: &str, outcome: Result<String, String>) {
        self.steps += 1;
        let at = self.started.elapsed().as_secs_f64() * 1e3;
        match outcome {
            Ok(detail) if detail.is_empty() => println!("  {at:>8.1} ms  ✔ {what}"),
            Ok(detail) => println!("  {at:>8.1} ms  ✔ {what}: {detail}"),
            Err(why) => {
                self.failed += 1;
                println!("  {at:>8.1} ms  ✘ {what}: {why}");
            }
        }
    }
}

pub fn run(args: DemoArgs) -> anyhow::Result<std::process::ExitCode> {
    let filter = if args.verbose { "info" } else { "off" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TESSERA_LOG").unwrap_or_else(|_| filter.into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Runtime::new()?;
    let ok = runtime.block_on(play())?;
    Ok(if ok {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    })
}

/// The claims of a JWT the demo was just given (read, not verified: it is only shown).
fn claims_of(jwt: &str) -> Value {
    jwt.split('.')
        .nth(1)
        .and_then(|p| tessera_jose::b64::decode(p).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

async fn serve(router: axum::Router, listener: tokio::net::TcpListener) {
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await });
}

/// Everything the stories run on.
struct Stage {
    state: Arc<tessera_server::state::AppState>,
    issuer: String,
    api: String,
    resource: Resource,
    alice: tessera_store::UserId,
    /// The laptop's TPM, when the demo can tell the hardware story.
    #[cfg(feature = "tpm")]
    tpm: Option<tessera_client::SoftwareTpm>,
    _dir: tempfile::TempDir,
}

/// A temporary data directory only this account can open, as Tessera requires.
fn private_dir() -> std::io::Result<tempfile::TempDir> {
    use std::os::unix::fs::PermissionsExt as _;
    tempfile::Builder::new()
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
}

async fn set_up(timeline: &mut Timeline) -> anyhow::Result<Stage> {
    let dir = private_dir()?;
    let config = tessera_server::ServerConfig::resolve(
        None,
        tessera_server::Overrides {
            listen: Some("127.0.0.1:0".into()),
            data_dir: Some(dir.path().to_owned()),
            admin_password: Some(PASSWORD.into()),
            ..Default::default()
        },
    )?;
    // Everything in the demo runs on 127.0.0.1: the example API's push endpoint too.
    let mut config = config;
    config.ssf.push_allowed_networks = vec!["127.0.0.0/8".parse()?, "::1/128".parse()?];
    // The example API reports where it saw a session used: Tessera takes that signal from it.
    config
        .ssf
        .transmitters
        .push(tessera_server::config::TransmitterConfig {
            issuer: "mail-api".into(),
            jwks_uri: None,
            events: vec!["https://schemas.openid.net/secevent/caep/event-type/session-presented".into()],
            audience: None,
            poll_url: None,
            authorization_header: None,
        });
    // With a TPM for the laptop, Tessera trusts its manufacturer (the software TPM's own CA).
    #[cfg(feature = "tpm")]
    let tpm = if tessera_client::SoftwareTpm::available() {
        let tpm = tessera_client::SoftwareTpm::start()?;
        config.devices.attestation = tessera_server::config::AttestationConfig {
            tpm_roots: vec![tpm.root_pem()],
            ..Default::default()
        }
        .load()?;
        Some(tpm)
    } else {
        None
    };
    let prepared = tessera_server::prepare(config).await?;
    let state = prepared.state.clone();
    let issuer = state.config.issuer.clone();
    let api_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api = format!("http://{}", api_listener.local_addr()?);

    // The directory: alice, the apps, the office, and two policies.
    let api_secret = tessera_jose::random::random_id::<24>(&tessera_jose::SystemRandom)
        .map_err(|_| anyhow::anyhow!("no randomness"))?;
    let signal_key = Arc::new(tessera_jose::SigningKey::generate(
        tessera_jose::Algorithm::Es256,
    )?);
    let app = |id: &str, kind: AppKind, redirect: &str| Application {
        id: id.into(),
        name: id.into(),
        kind,
        secret_hash: None,
        redirect_uris: vec![redirect.into()],
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        scopes: vec!["mail.read".into()],
        jwks: None,
        access_token_minutes: 60,
        refresh_token_days: 14,
        cae_capable: true,
        require_dpop: false,
        require_pushed_authorization_requests: false,
        backchannel_logout_uri: None,
        fapi2: false,
        created_at: Timestamp(0),
        changed_at: Timestamp(0),
    };
    let mut uow = state.store.begin().await?;
    // Mail on alice's laptop: a native app (loopback redirect), in scope of token protection.
    uow.put_application(&app("mail-app", AppKind::Public, "http://127.0.0.1/callback"))
        .await?;
    // The company portal in her browser, where she registers the laptop.
    uow.put_application(&app(
        "portal",
        AppKind::Public,
        "https://portal.tessera.example/signed-in",
    ))
    .await?;
    uow.put_application(&Application {
        kind: AppKind::Confidential,
        secret_hash: Some(Secret::new(tessera_directory::secrets::hash_client_secret(
            &api_secret,
        ))),
        redirect_uris: vec![],
        grant_types: vec!["client_credentials".into()],
        scopes: vec!["ssf.manage".into(), "ssf.read".into()],
        jwks: Some(json!({"keys": [signal_key.public_jwk().to_json()]})),
        ..app("mail-api", AppKind::Confidential, "")
    })
    .await?;
    uow.put_named_location(&NamedLocationRecord {
        id: "office".into(),
        display_name: "Office network".into(),
        ip_ranges: vec!["127.0.0.0/8".into()],
        trusted: true,
        changed_at: Timestamp(0),
    })
    .await?;
    let policy = |id: &str, document: Value| PolicyRecord {
        id: id.into(),
        state: "enabled".into(),
        document,
        changed_at: Timestamp(0),
    };
    uow.put_policy(&policy(
        "token-protection",
        json!({
            "id": "token-protection", "displayName": "Token protection for Mail on desktops",
            "state": "enabled",
            "conditions": {
                "users": {"includeUsers": ["All"]},
                "applications": {"includeApplications": ["mail-app"]},
                "clientAppTypes": ["mobileAppsAndDesktopClients"]
            },
            "sessionControls": {"secureSignInSession": {"isEnabled": true}}
        }),
    ))
    .await?;
    uow.put_policy(&policy(
        "mail-from-the-office",
        json!({
            "id": "mail-from-the-office", "displayName": "Mail only from the office",
            "state": "enabled",
            "conditions": {
                "users": {"includeUsers": ["All"]},
                "applications": {"includeApplications": ["mail-app"]},
                "locations": {"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]}
            },
            "grantControls": {"builtInControls": ["block"]}
        }),
    ))
    .await?;
    uow.commit().await?;
    state
        .policies
        .reload(state.store.as_ref())
        .await
        .map_err(|e| anyhow::anyhow!("policies: {e:?}"))?;
    let alice = state
        .directory(InitiatingEntity::Admin)
        .create_user(&UserSpec {
            username: "alice".into(),
            email: Some("alice@example.com".into()),
            display_name: Some("Alice".into()),
            password: Some(PASSWORD.to_owned().into()),
        })
        .await?
        .id;
    tokio::spawn(tessera_server::serve(prepared));
    timeline.step(
        "identity provider started",
        Ok(format!("{issuer} (temporary SQLite)")),
    );

    // The mail API: the layer, signals by push, location rules, signals back.
    let resource = Resource::new(ResourceConfig {
        public_url: Some(api.clone()),
        client_id: Some("mail-api".into()),
        client_secret: Some(api_secret),
        // The demo's "network": requests reach the API through a proxy on 127.0.0.1 that
        // says where the client is.
        trusted_proxies: vec!["127.0.0.1/32".parse()?],
        signal_key: Some(signal_key),
        ..ResourceConfig::new(&issuer, &api)
    })?;
    let router = axum::Router::new()
        .route(
            "/inbox",
            axum::routing::get(|p: Principal| async move {
                axum::Json(json!({"owner": p.subject, "messages": 2}))
            }),
        )
        .layer(ResourceLayer::new(resource.clone()))
        .nest("/ssf/events", resource.signals_router());
    serve(router, api_listener).await;
    let token = resource.own_authorization().await?;
    let stream = resource
        .subscribe(
            token.trim_start_matches("Bearer "),
            Delivery::Push {
                endpoint_url: format!("{api}/ssf/events"),
                authorization_header: None,
            },
        )
        .await?;
    let rules = resource.sync_locations().await?;
    resource.spawn_location_sync();
    timeline.step(
        "mail API started",
        Ok(format!(
            "{api}, subscribed to the IdP's signals (push stream {}), {rules} location policies",
            &stream.stream_id
        )),
    );
    Ok(Stage {
        state,
        issuer,
        api,
        resource,
        alice,
        #[cfg(feature = "tpm")]
        tpm,
        _dir: dir,
    })
}

/// When an access token was issued, to the millisecond (its `tessera_iat_ms`).
fn issued_ms(token: &str) -> i64 {
    claims_of(token)["tessera_iat_ms"].as_i64().unwrap_or(0)
}

/// Waits until the API's revocation state refuses a token issued at `issued` (milliseconds) to
/// alice; returns how long after `since` that was.
async fn until_api_refuses(stage: &Stage, issued: i64, since: Instant) -> Result<Duration, String> {
    loop {
        let nb = stage
            .resource
            .revocations()
            .not_before(&stage.alice.0, None, None);
        if nb.is_some_and(|nb| issued <= nb) {
            return Ok(since.elapsed());
        }
        if since.elapsed() > Duration::from_secs(10) {
            return Err("the API still accepts the token after 10 s".into());
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

fn expect_sign_in_required(outcome: Result<reqwest::Response, ClientError>) -> Result<String, String> {
    match outcome {
        Err(ClientError::SignInRequired { reason }) => Ok(format!("the IdP says: {reason}")),
        Err(e) => Err(format!("unexpected error: {e}")),
        Ok(r) => Err(format!("the call went through ({})", r.status())),
    }
}

async fn read_mail(laptop: &TesseraClient, api: &str) -> Result<String, String> {
    match laptop.send(Method::GET, &format!("{api}/inbox"), None).await {
        Ok(r) if r.status() == StatusCode::OK => Ok("200 OK".into()),
        Ok(r) => Err(format!("{}", r.status())),
        Err(e) => Err(e.to_string()),
    }
}

async fn play() -> anyhow::Result<bool> {
    let mut t = Timeline::new();
    println!("Tessera demo: token protection and continuous access evaluation, on 127.0.0.1");
    let stage = set_up(&mut t).await?;
    let api = stage.api.clone();
    // The laptop keeps its device key as a file, as a client without a TPM does.
    let laptop_files = private_dir()?;
    let keys = SoftwareFileKeyStore::new(laptop_files.path());

    t.heading("Story 1 · Token protection: a stolen refresh token is useless elsewhere");
    // alice registers her laptop from the company portal (a browser app, out of the policy's
    // scope), proving the device key.
    let portal_config = ClientConfig {
        redirect_uri: "https://portal.tessera.example/signed-in".into(),
        ..ClientConfig::new(&stage.issuer, "portal").with_scope("openid")
    };
    let portal = TesseraClient::new(portal_config, &keys, "laptop").await?;
    let registered = async {
        portal
            .sign_in_with_password("alice", PASSWORD, None)
            .await
            .map_err(|e| e.to_string())?;
        let device = portal
            .register_device("Alice's laptop", "windows")
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(format!(
            "device {} with key {}",
            device["id"].as_str().unwrap_or("?"),
            device["jkt"].as_str().unwrap_or("?")
        ))
    }
    .await;
    t.step("alice registers her laptop (device key ES256)", registered);

    let laptop = TesseraClient::new(
        ClientConfig::new(&stage.issuer, "mail-app")
            .with_resource(&api)
            .with_scope("openid offline_access mail.read"),
        &keys,
        "laptop",
    )
    .await?;
    let signed_in = async {
        laptop
            .sign_in_with_password("alice", PASSWORD, None)
            .await
            .map_err(|e| e.to_string())?;
        let token = laptop.access_token().await.map_err(|e| e.to_string())?;
        let claims = claims_of(&token);
        if claims["cnf"]["jkt"] != laptop.thumbprint().as_str() {
            return Err("the token is not bound to the laptop's key".into());
        }
        Ok(format!(
            "session bound to the laptop (cnf.jkt {}), CAE token for {} s",
            laptop.thumbprint(),
            claims["exp"].as_i64().unwrap_or(0) - claims["iat"].as_i64().unwrap_or(0)
        ))
    }
    .await;
    t.step(
        "alice signs in to Mail on her laptop, under the token-protection policy",
        signed_in,
    );
    let read = read_mail(&laptop, &api).await;
    t.step("the laptop reads mail", read);

    let stolen = laptop.refresh_token().await.context("a refresh token")?;
    // The other machine has a key of its own; it is just not the laptop's.
    let other_machine = tessera_jose::SigningKey::generate(tessera_jose::Algorithm::Es256)?;
    let replay = replay_from(&other_machine, &stage.issuer, &stolen).await;
    t.step(
        "malware copies the refresh token to another machine, which redeems it",
        replay,
    );
    let logged = replay_logged(&stage).await;
    t.step("the replay is in the sign-in log", logged);
    let still = async {
        laptop.refresh(None).await.map_err(|e| e.to_string())?;
        read_mail(&laptop, &api).await
    }
    .await;
    t.step("alice's laptop keeps working (refresh, read mail)", still);

    t.heading("Story 1b · Malware copies every file of the client, and the refresh token");
    let copy = full_copy(&stage, &keys, laptop_files.path()).await;
    t.step(
        "with a software key: the copy works on another machine (the key is a file)",
        copy,
    );
    hardware_story(&mut t, &stage).await;

    t.heading("Story 2 · Continuous access evaluation: revocation, not expiry, does the work");
    let directory = |s: &Stage| s.state.directory(InitiatingEntity::Admin);
    // Round 1: the account is disabled.
    let issued = issued_ms(&laptop.access_token().await?);
    let started = Instant::now();
    let disable = UserPatch {
        status: Some(UserStatus::Disabled),
        ..UserPatch::default()
    };
    directory(&stage).update_user(&stage.alice, &disable).await?;
    let took = until_api_refuses(&stage, issued, started).await;
    t.step(
        "the admin disables alice; the API refuses her day-long token",
        took.map(|d| format!("{:.1} ms after the admin's action (push)", d.as_secs_f64() * 1e3)),
    );
    let retry = laptop.send(Method::GET, &format!("{api}/inbox"), None).await;
    t.step(
        "the laptop follows the claims challenge back to the IdP",
        expect_sign_in_required(retry).map(|s| format!("refused; {s}")),
    );
    let enable = UserPatch {
        status: Some(UserStatus::Enabled),
        ..UserPatch::default()
    };
    directory(&stage).update_user(&stage.alice, &enable).await?;
    let back = async {
        laptop
            .sign_in_with_password("alice", PASSWORD, None)
            .await
            .map_err(|e| e.to_string())?;
        read_mail(&laptop, &api).await
    }
    .await;
    t.step("the admin enables alice again; she signs in and reads mail", back);

    // Round 2: the password is reset.
    let issued = issued_ms(&laptop.access_token().await?);
    let started = Instant::now();
    let reset = UserPatch {
        password: Some(NEW_PASSWORD.to_owned().into()),
        ..UserPatch::default()
    };
    directory(&stage).update_user(&stage.alice, &reset).await?;
    // The action itself hashes the new password (argon2id); the signal leaves once it is saved.
    let hashing = started.elapsed();
    let took = until_api_refuses(&stage, issued, started).await;
    t.step(
        "the admin resets alice's password; the API refuses her token",
        took.map(|d| {
            format!(
                "{:.1} ms after the new password was saved (hashing it took {:.0} ms), push",
                d.saturating_sub(hashing).as_secs_f64() * 1e3,
                hashing.as_secs_f64() * 1e3
            )
        }),
    );
    let retry = laptop.send(Method::GET, &format!("{api}/inbox"), None).await;
    t.step(
        "the laptop's retry: she must sign in again",
        expect_sign_in_required(retry),
    );
    let back = async {
        laptop
            .sign_in_with_password("alice", NEW_PASSWORD, None)
            .await
            .map_err(|e| e.to_string())?;
        read_mail(&laptop, &api).await
    }
    .await;
    t.step("alice signs in with her new password and reads mail", back);

    // Round 3: the laptop leaves the office network.
    let mut outside = reqwest::header::HeaderMap::new();
    outside.insert("x-forwarded-for", OUTSIDE.parse()?);
    let started = Instant::now();
    let away = laptop
        .send_with_headers(Method::GET, &format!("{api}/inbox"), None, &outside)
        .await;
    let outcome = match away {
        Ok(r) if r.status() == StatusCode::OK => Err("the API let the call through".to_owned()),
        Ok(r) => Ok(format!(
            "{} after the client's one retry, {:.1} ms",
            r.status(),
            started.elapsed().as_secs_f64() * 1e3
        )),
        Err(ClientError::SignInRequired { reason }) => Ok(format!("the IdP says: {reason}")),
        Err(e) => Err(e.to_string()),
    };
    t.step(
        &format!(
            "alice's laptop moves outside the office ({OUTSIDE}); the API refuses with a claims challenge"
        ),
        outcome,
    );
    let heard = async {
        let since = Instant::now();
        loop {
            match laptop.refresh(None).await {
                Err(ClientError::SignInRequired { reason }) => {
                    return Ok(format!(
                        "the session's next refresh is refused ({reason}), {:.1} ms",
                        since.elapsed().as_secs_f64() * 1e3
                    ));
                }
                Err(e) => return Err(e.to_string()),
                Ok(()) if since.elapsed() > Duration::from_secs(5) => {
                    return Err("the IdP still refreshes the session".into());
                }
                Ok(()) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
    .await;
    t.step(
        "the API told the IdP where it saw the session (session-presented)",
        heard,
    );

    println!();
    if t.failed == 0 {
        println!("All {} steps behaved as expected.", t.steps);
        Ok(true)
    } else {
        println!("{} of {} steps did not behave as expected.", t.failed, t.steps);
        Ok(false)
    }
}

/// Malware takes a copy of every file of a fresh Mail client on the laptop and its refresh
/// token, and redeems the token on another machine with the copied key. With a software key
/// that succeeds: the demo expects it, and says so.
async fn full_copy(
    stage: &Stage,
    keys: &SoftwareFileKeyStore,
    files: &std::path::Path,
) -> Result<String, String> {
    let mail = TesseraClient::new(
        ClientConfig::new(&stage.issuer, "mail-app").with_scope("openid offline_access mail.read"),
        keys,
        "laptop",
    )
    .await
    .map_err(|e| e.to_string())?;
    mail.sign_in_with_password("alice", PASSWORD, None)
        .await
        .map_err(|e| e.to_string())?;
    let stolen = mail.refresh_token().await.ok_or("no refresh token")?;
    let elsewhere = private_dir().map_err(|e| e.to_string())?;
    copy_files(files, elsewhere.path()).map_err(|e| e.to_string())?;
    use tessera_client::KeyStore as _;
    let copied = SoftwareFileKeyStore::new(elsewhere.path())
        .load_or_create("laptop")
        .map_err(|e| e.to_string())?;
    match redeem(copied.as_ref(), &stage.issuer, &stolen).await {
        Ok(()) => Ok(format!(
            "the copied key {} redeemed the token: only a key that cannot leave the device stops this",
            copied.thumbprint()
        )),
        Err(e) => Err(format!(
            "the copy was refused, which a software key cannot make happen: {e}"
        )),
    }
}

/// The same attack on a laptop whose key is in its TPM.
#[cfg(feature = "tpm")]
async fn hardware_story(t: &mut Timeline, stage: &Stage) {
    use tessera_client::{KeyStore as _, SoftwareTpm, TpmKeyStore};
    let Some(tpm) = &stage.tpm else {
        println!("  (for the hardware story, install a software TPM: apt-get install swtpm swtpm-tools)");
        return;
    };
    let files = match private_dir() {
        Ok(d) => d,
        Err(e) => return t.step("a folder for the TPM laptop's files", Err(e.to_string())),
    };
    let registered = async {
        let keys = TpmKeyStore::new(files.path(), tpm.config().map_err(|e| e.to_string())?);
        let portal_config = ClientConfig {
            redirect_uri: "https://portal.tessera.example/signed-in".into(),
            ..ClientConfig::new(&stage.issuer, "portal").with_scope("openid")
        };
        let portal = TesseraClient::new(portal_config, &keys, "laptop")
            .await
            .map_err(|e| e.to_string())?;
        portal
            .sign_in_with_password("alice", PASSWORD, None)
            .await
            .map_err(|e| e.to_string())?;
        let device = portal
            .register_device("Alice's TPM laptop", "linux")
            .await
            .map_err(|e| e.to_string())?;
        if device["key_protection"] != "attested" {
            return Err(format!("registered as {}", device["key_protection"]));
        }
        drop(portal);
        let mail = TesseraClient::new(
            ClientConfig::new(&stage.issuer, "mail-app")
                .with_resource(&stage.api)
                .with_scope("openid offline_access mail.read"),
            &keys,
            "laptop",
        )
        .await
        .map_err(|e| e.to_string())?;
        mail.sign_in_with_password("alice", PASSWORD, None)
            .await
            .map_err(|e| e.to_string())?;
        let summary = format!(
            "key in the TPM, attested ({} {}); signed in to Mail",
            device["key_attestation"]["manufacturer"].as_str().unwrap_or("?"),
            device["key_attestation"]["model"].as_str().unwrap_or("?"),
        );
        Ok::<_, String>((mail, summary))
    }
    .await;
    let mail = match registered {
        Ok((mail, summary)) => {
            t.step(
                "alice's second laptop registers a TPM key with attestation",
                Ok(summary),
            );
            mail
        }
        Err(e) => {
            return t.step(
                "alice's second laptop registers a TPM key with attestation",
                Err(e),
            );
        }
    };
    let refused = async {
        let stolen = mail.refresh_token().await.ok_or("no refresh token")?;
        let elsewhere = private_dir().map_err(|e| e.to_string())?;
        copy_files(files.path(), elsewhere.path()).map_err(|e| e.to_string())?;
        // The malware's machine has a TPM of its own; the copied key file loads in none but
        // the laptop's.
        let other = SoftwareTpm::start().map_err(|e| e.to_string())?;
        let config = other.config().map_err(|e| e.to_string())?;
        let loaded = TpmKeyStore::new(elsewhere.path(), config).load_or_create("laptop");
        let Err(load) = loaded else {
            return Err("the copied key file loaded on another TPM".into());
        };
        let own =
            tessera_jose::SigningKey::generate(tessera_jose::Algorithm::Es256).map_err(|e| e.to_string())?;
        match redeem(&own, &stage.issuer, &stolen).await {
            Ok(()) => Err("the stolen refresh token was redeemed".into()),
            Err(e) => Ok(format!(
                "the key file loads nowhere else ({load}); the token alone: {e}"
            )),
        }
    }
    .await;
    t.step(
        "malware copies every file and the refresh token: refused",
        refused,
    );
}

#[cfg(not(feature = "tpm"))]
async fn hardware_story(_: &mut Timeline, _: &Stage) {
    println!(
        "  (for the hardware story, where the same full copy is refused: apt-get install swtpm swtpm-tools libtss2-dev,"
    );
    println!("   then cargo run --release --features tpm -- demo)");
}

fn copy_files(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            std::fs::create_dir_all(&target)?;
            copy_files(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// Redeems `refresh_token` with a proof by `key`: the answer's status and body.
async fn present(
    key: &dyn tessera_jose::Signer,
    issuer: &str,
    refresh_token: &str,
) -> Result<(StatusCode, Value), String> {
    let url = format!("{issuer}/token");
    let proof = tessera_jose::dpop::create_proof(
        key,
        "POST",
        &url,
        tessera_jose::dpop::ProofOptions::default(),
        &tessera_jose::SystemClock,
        &tessera_jose::SystemRandom,
    )
    .map_err(|e| e.to_string())?;
    let r = reqwest::Client::new()
        .post(&url)
        .header("dpop", proof)
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", "mail-app"),
        ])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = r.status();
    Ok((status, r.json().await.unwrap_or_default()))
}

/// Redeems `refresh_token` with a proof by `key`; the IdP's reason when it refuses.
async fn redeem(key: &dyn tessera_jose::Signer, issuer: &str, refresh_token: &str) -> Result<(), String> {
    match present(key, issuer, refresh_token).await? {
        (status, _) if status.is_success() => Ok(()),
        (status, body) => Err(format!(
            "{status} {}",
            body["error_description"].as_str().unwrap_or_default()
        )),
    }
}

/// The other machine presents the stolen refresh token with a proof by its own key.
async fn replay_from(key: &tessera_jose::SigningKey, issuer: &str, stolen: &str) -> Result<String, String> {
    match present(key, issuer, stolen).await? {
        (StatusCode::BAD_REQUEST, body) if body["error"] == "invalid_grant" => Ok(format!(
            "refused: {}",
            body["error_description"].as_str().unwrap_or("invalid_grant")
        )),
        (status, body) => Err(format!("the replay was answered {status} {body}")),
    }
}

async fn replay_logged(stage: &Stage) -> Result<String, String> {
    let logs = stage
        .state
        .store
        .sign_ins(&tessera_store::SignInFilter {
            outcome: Some("replay".into()),
            limit: 5,
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    let Some(entry) = logs.first() else {
        return Err("no replay in the sign-in log".into());
    };
    let risk = stage
        .state
        .store
        .user(&stage.alice)
        .await
        .map_err(|e| e.to_string())?
        .risk;
    Ok(format!(
        "outcome {}, token protection {}, from {}, alice's risk now {}",
        entry.outcome,
        entry.token_protection,
        entry.ip,
        risk.as_str()
    ))
}
