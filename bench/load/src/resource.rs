//! `tessera-load --resource`: `tessera-resource` in front of an API, against a running
//! `tessera serve`. Measured, each next to a baseline from the same run:
//!
//! - throughput: the same trivial axum handler served without the layer and behind it (a
//!   cached token, so the per-request work is what remains after the first signature check),
//!   interleaved A B B A; requests/s, p50/p99 and the p99 the layer adds;
//! - propagation: an admin disables a user (admin API) until the API refuses that user's
//!   day-long CAE token, for an API fed by push and one fed by (long) poll; p50/p99;
//! - memory: the resident size a revocation state of 1,000,000 subjects adds to the process.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use axum::http::{HeaderMap, Method, header};
use serde_json::{Value, json};
use tessera_resource::{Delivery, Resource, ResourceConfig, ResourceLayer};

use crate::Workload;

const SECRET: &str = "load-test-secret-load-test-secret-1234567";
/// The API's audience.
const API: &str = "https://mail.load.example";

fn user(n: usize) -> String {
    format!("cae-user-{n:05}")
}

fn refresh_token(n: usize) -> String {
    format!("cae-refresh-token-{n:05}-0123456789abcdefghijklmnop")
}

/// The API's client (it receives signals and reads rules), an admin client, a public client,
/// and `users` users each with a CAE-capable session for the API.
pub async fn prepare(url: &str, users: usize) -> anyhow::Result<()> {
    let store = tessera_store::open(url, &tessera_store::StoreOptions::default()).await?;
    let app = |id: &str, kind, grants: &[&str], scopes: &[&str]| tessera_store::Application {
        id: id.into(),
        name: "load test".into(),
        kind,
        secret_hash: (kind == tessera_store::AppKind::Confidential)
            .then(|| tessera_store::Secret::new(tessera_directory::secrets::hash_client_secret(SECRET))),
        redirect_uris: vec!["http://127.0.0.1/cb".into()],
        grant_types: grants.iter().map(|g| (*g).to_owned()).collect(),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        jwks: None,
        access_token_minutes: 60,
        refresh_token_days: 1,
        cae_capable: true,
        require_dpop: false,
        require_pushed_authorization_requests: false,
        backchannel_logout_uri: None,
        fapi2: false,
        created_at: tessera_store::Timestamp(0),
        changed_at: tessera_store::Timestamp(0),
    };
    let confidential = tessera_store::AppKind::Confidential;
    let mut uow = store.begin().await?;
    uow.put_application(&app(
        "load-api",
        confidential,
        &["client_credentials"],
        &["ssf.manage", "ssf.read"],
    ))
    .await?;
    uow.put_application(&app(
        "load-admin",
        confidential,
        &["client_credentials"],
        &["tessera.admin"],
    ))
    .await?;
    uow.put_application(&app(
        "load-cae",
        confidential,
        &["authorization_code", "refresh_token"],
        &["mail.read"],
    ))
    .await?;
    for n in 0..users {
        uow.insert_user(&tessera_store::NewUser {
            id: user(n).as_str().into(),
            username: user(n),
            email: None,
            display_name: String::new(),
            password_hash: None,
            created_at: tessera_store::Timestamp(0),
        })
        .await?;
    }
    uow.commit().await?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    let now_ms = tessera_store::Timestamp(i64::try_from(now.as_millis())?);
    for n in 0..users {
        let id = format!("cae-session-{n}");
        store
            .start_session(
                &tessera_store::NewSession {
                    id: id.as_str().into(),
                    user_id: user(n).as_str().into(),
                    client_id: "load-cae".into(),
                    device_id: None,
                    jkt: None,
                    browser_sid: None,
                    created_at: now_ms,
                },
                &tessera_store::NewFamily {
                    id: id.as_str().into(),
                    token_hash: tessera_server::oauth::token_hash(&refresh_token(n)),
                    expires_at: now_ms.plus_ms(86_400_000),
                    grant: json!({
                        "redirect_uri": "http://127.0.0.1/cb", "scope": "mail.read",
                        "auth_time": now.as_secs(), "amr": ["pwd"], "resource": API, "cp1": true
                    }),
                },
            )
            .await?;
    }
    Ok(())
}

/// The settings of a run.
#[derive(Debug, Clone, Copy)]
pub struct ResourceRun {
    /// Seconds per throughput half-run.
    pub duration: Duration,
    /// Concurrent connections.
    pub concurrency: usize,
    /// Admin actions timed (one user each).
    pub actions: usize,
}

async fn token_post(client: &reqwest::Client, base: &str, id: &str, body: &str) -> anyhow::Result<Value> {
    let r = client
        .post(format!("{base}/token"))
        .basic_auth(id, Some(SECRET))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body.to_owned())
        .send()
        .await?;
    let status = r.status();
    let body: Value = r.json().await?;
    if !status.is_success() {
        bail!("{id} at /token: {status} {body}");
    }
    Ok(body)
}

/// Serves `router` on a free loopback port; returns its base URL.
async fn serve(router: axum::Router) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await });
    Ok(url)
}

/// Requests `url` with `authorization` from `concurrency` connections for `duration`.
async fn hammer(
    name: &'static str,
    url: &str,
    authorization: &str,
    concurrency: usize,
    duration: Duration,
) -> Workload {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap_or_default();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, url, authorization) = (client.clone(), url.to_owned(), authorization.to_owned());
        tasks.push(tokio::spawn(async move {
            let (mut latencies, mut failures) = (Vec::new(), 0u64);
            while started.elapsed() < duration {
                let sent = Instant::now();
                match client
                    .get(&url)
                    .header(header::AUTHORIZATION, &authorization)
                    .send()
                    .await
                {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        latencies.push(u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX));
                    }
                    _ => failures += 1,
                }
            }
            (latencies, failures)
        }));
    }
    let mut w = Workload {
        name,
        latencies: Vec::new(),
        seconds: 0.0,
        failures: 0,
        cpu: crate::Cpu::default(),
    };
    for t in tasks {
        if let Ok((l, f)) = t.await {
            w.latencies.extend(l);
            w.failures += f;
        }
    }
    w.seconds = started.elapsed().as_secs_f64();
    w
}

/// The process's resident set, bytes (Linux).
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
        .map_or(0, |pages| pages * 4096)
}

/// Runs everything and prints the tables.
pub async fn run(base: &str, run: ResourceRun) -> anyhow::Result<()> {
    // Memory first, before the rest of the run grows the heap.
    let before = rss();
    let state = tessera_resource::Revocations::default();
    let now = 1_800_000_000;
    for n in 0..1_000_000u32 {
        state.revoke("user", &format!("00000000-0000-4000-8000-{n:012}"), now);
    }
    let grown = rss().saturating_sub(before);
    println!(
        "\nrevocation state: 1,000,000 revoked users add {:.1} MB of resident memory (target < 100 MB)",
        grown as f64 / 1e6
    );
    drop(state);

    let client = reqwest::Client::new();
    let api_token = token_post(&client, base, "load-api", "grant_type=client_credentials").await?;
    let admin = token_post(&client, base, "load-admin", "grant_type=client_credentials").await?;
    let admin = admin["access_token"].as_str().context("admin token")?.to_owned();
    let api_token = api_token["access_token"]
        .as_str()
        .context("api token")?
        .to_owned();

    // Two APIs: one hears by push, one by long poll.
    let config = |url: &str| ResourceConfig {
        client_id: Some("load-api".into()),
        client_secret: Some(SECRET.into()),
        public_url: Some(url.to_owned()),
        ..ResourceConfig::new(base, API)
    };
    let pushed = Resource::new(config("http://127.0.0.1"))?;
    let signals = serve(axum::Router::new().nest("/ssf/events", pushed.signals_router())).await?;
    pushed
        .subscribe(
            &api_token,
            Delivery::Push {
                endpoint_url: format!("{signals}/ssf/events"),
                authorization_header: None,
            },
        )
        .await?;
    let polled = Resource::new(config("http://127.0.0.1"))?;
    let sub = polled.subscribe(&api_token, Delivery::Poll).await?;
    let _poller = polled.spawn_poller(sub.poll_url.context("a poll URL")?, None);

    let handler = || axum::routing::get(|| async { "mail" });
    let plain = serve(axum::Router::new().route("/inbox", handler())).await?;
    let layered = serve(
        axum::Router::new()
            .route("/inbox", handler())
            .layer(ResourceLayer::new(pushed.clone())),
    )
    .await?;

    // Tokens: one CAE token per user, by refresh.
    let mut tokens = Vec::with_capacity(run.actions + 1);
    for n in 0..=run.actions {
        let body = format!("grant_type=refresh_token&refresh_token={}", refresh_token(n));
        let t = token_post(&client, base, "load-cae", &body).await?;
        tokens.push(t["access_token"].as_str().context("access token")?.to_owned());
    }

    // Throughput, A B B A, with the last user's token (never disabled).
    let bearer = format!("Bearer {}", tokens[run.actions]);
    let half = run.duration / 2;
    let (c, a, b) = (
        run.concurrency,
        format!("{plain}/inbox"),
        format!("{layered}/inbox"),
    );
    let a1 = hammer("axum handler, no layer (baseline)", &a, &bearer, c, half).await;
    let b1 = hammer("same handler behind the layer", &b, &bearer, c, half).await;
    let b2 = hammer("same handler behind the layer", &b, &bearer, c, half).await;
    let a2 = hammer("axum handler, no layer (baseline)", &a, &bearer, c, half).await;
    let mut without = a1.merge(a2);
    let mut with = b1.merge(b2);
    println!("\nan axum handler on 127.0.0.1, {c} connections, client and server on the same 2 cores");
    println!(
        "{:<36} {:>9} {:>9} {:>9} {:>8}",
        "workload", "req/s", "p50 µs", "p99 µs", "errors"
    );
    let mut rows = Vec::new();
    for w in [&mut without, &mut with] {
        let (p50, p99) = (w.percentile(0.50), w.percentile(0.99));
        println!(
            "{:<36} {:>9.0} {:>9} {:>9} {:>8}",
            w.name,
            w.rate(),
            p50,
            p99,
            w.failures
        );
        rows.push((w.rate(), p99));
    }
    println!(
        "layer vs no layer: {:.2}× the requests/s; p99 {:+} µs",
        rows[1].0 / rows[0].0,
        i64::try_from(rows[1].1).unwrap_or(0) - i64::try_from(rows[0].1).unwrap_or(0)
    );

    // Propagation: disable user n, time until each API refuses their token.
    let mut push_ms = Vec::new();
    let mut poll_ms = Vec::new();
    for (n, token) in tokens.iter().take(run.actions).enumerate() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, format!("Bearer {token}").parse()?);
        for api in [&pushed, &polled] {
            if api.authenticate(&Method::GET, "/inbox", &headers).await.is_err() {
                bail!("user {n}'s token is refused before the action");
            }
        }
        let started = Instant::now();
        let timed_out = Arc::new(AtomicBool::new(false));
        let wait = |api: Resource, headers: HeaderMap, timed_out: Arc<AtomicBool>| async move {
            loop {
                if api.authenticate(&Method::GET, "/inbox", &headers).await.is_err() {
                    return started.elapsed();
                }
                if started.elapsed() > Duration::from_secs(10) {
                    timed_out.store(true, Ordering::Relaxed);
                    return started.elapsed();
                }
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
        };
        let push = tokio::spawn(wait(pushed.clone(), headers.clone(), timed_out.clone()));
        let poll = tokio::spawn(wait(polled.clone(), headers.clone(), timed_out.clone()));
        let r = client
            .patch(format!("{base}/admin/api/users/{}", user(n)))
            .bearer_auth(&admin)
            .json(&json!({"status": "disabled"}))
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("disabling {}: {}", user(n), r.status());
        }
        push_ms.push(push.await?.as_secs_f64() * 1e3);
        poll_ms.push(poll.await?.as_secs_f64() * 1e3);
        if timed_out.load(Ordering::Relaxed) {
            bail!("user {n}'s token was still accepted 10 s after the action");
        }
    }
    let pct = |v: &mut Vec<f64>, p: f64| {
        v.sort_by(f64::total_cmp);
        v[((v.len() as f64 - 1.0) * p) as usize]
    };
    println!(
        "\nadmin disables a user → the API refuses their token, {} actions",
        run.actions
    );
    println!(
        "{:<24} {:>9} {:>9} {:>9}",
        "delivery", "p50 ms", "p99 ms", "max ms"
    );
    for (name, v) in [
        ("push (RFC 8935)", &mut push_ms),
        ("long poll (RFC 8936)", &mut poll_ms),
    ] {
        let (p50, p99, max) = (pct(v, 0.5), pct(v, 0.99), pct(v, 1.0));
        println!("{name:<24} {p50:>9.1} {p99:>9.1} {max:>9.1}");
    }
    Ok(())
}
