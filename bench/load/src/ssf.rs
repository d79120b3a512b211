//! `tessera-load --ssf`: Shared Signals delivery under load. Push receivers on 127.0.0.1 each
//! subscribe a stream; the directory holds many users. Measured:
//!
//! - latency: an admin action (revoke a user's sessions, through the admin API) until each
//!   receiver has the SET, p50/p99 over every (action, stream) pair;
//! - throughput: a burst of events written to the outbox at once, SETs signed and accepted per
//!   second across all streams.
//!
//! The baseline, from the same run: plain HTTP POSTs of a SET-sized body from this process to the
//! same receivers, one sender per receiver, as the transmitter sends.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};
use tessera_jose::b64;

const SECRET: &str = "load-test-secret-load-test-secret-1234567";
const REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";

/// The settings of an SSF run.
#[derive(Debug, Clone)]
pub struct SsfRun {
    /// Receiver streams.
    pub streams: usize,
    /// Users in the directory.
    pub users: usize,
    /// Admin actions timed one by one.
    pub actions: usize,
    /// Events in the throughput burst.
    pub burst: usize,
    /// Poll delivery (RFC 8936; one long-polling receiver per stream) instead of push.
    pub poll: bool,
    /// Where `--json` results go.
    pub json: Option<std::path::PathBuf>,
}

/// One SET as a receiver got it.
#[derive(Debug, Clone)]
struct Arrival {
    subject: String,
    at: Instant,
}

type Arrivals = Arc<Mutex<Vec<Arrival>>>;

/// Users, and an automation client that administers them and subscribes streams.
pub async fn prepare(url: &str, users: usize) -> anyhow::Result<()> {
    let store = tessera_store::open(url, &tessera_store::StoreOptions::default()).await?;
    let mut uow = store.begin().await?;
    uow.put_application(&tessera_store::Application {
        id: "load-admin".into(),
        name: "load test".into(),
        kind: tessera_store::AppKind::Confidential,
        secret_hash: Some(tessera_store::Secret::new(
            tessera_directory::secrets::hash_client_secret(SECRET),
        )),
        redirect_uris: vec![],
        grant_types: vec!["client_credentials".into()],
        scopes: vec!["tessera.admin".into(), "ssf.manage".into()],
        jwks: None,
        access_token_minutes: 60,
        refresh_token_days: 1,
        cae_capable: false,
        require_dpop: false,
        require_pushed_authorization_requests: false,
        backchannel_logout_uri: None,
        fapi2: false,
        created_at: tessera_store::Timestamp(0),
        changed_at: tessera_store::Timestamp(0),
    })
    .await?;
    uow.commit().await?;
    let started = Instant::now();
    for chunk in (0..users).collect::<Vec<_>>().chunks(10_000) {
        let mut uow = store.begin().await?;
        for n in chunk {
            uow.insert_user(&tessera_store::NewUser {
                id: user(*n).as_str().into(),
                username: user(*n),
                email: None,
                display_name: String::new(),
                password_hash: None,
                created_at: tessera_store::Timestamp(0),
            })
            .await?;
        }
        uow.commit().await?;
        eprint!("\rcreating users: {}/{users}", chunk[chunk.len() - 1] + 1);
    }
    eprintln!(" ({:.1} s)", started.elapsed().as_secs_f64());
    Ok(())
}

fn user(n: usize) -> String {
    format!("load-user-{n:06}")
}

/// A push receiver that accepts every SET and notes when it came and about whom.
async fn receiver(arrivals: Arrivals) -> anyhow::Result<String> {
    let app = axum::Router::new().route(
        "/events",
        axum::routing::post(move |body: String| {
            let arrivals = arrivals.clone();
            async move {
                let at = Instant::now();
                let subject = subject_of(&body);
                if let Ok(mut a) = arrivals.lock() {
                    a.push(Arrival { subject, at });
                }
                axum::http::StatusCode::ACCEPTED
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/events", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

fn subject_of(set: &str) -> String {
    set.split('.')
        .nth(1)
        .and_then(|c| b64::decode(c).ok())
        .and_then(|c| serde_json::from_slice::<Value>(&c).ok())
        .and_then(|c| c["sub_id"]["sub"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A poll receiver: long-polls its stream, acknowledging what the previous poll returned, and
/// notes each SET's arrival, until `stop`.
fn poller(
    http: reqwest::Client,
    url: String,
    token: String,
    arrivals: Arrivals,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ack: Vec<String> = Vec::new();
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let body = json!({"maxEvents": 1000, "returnImmediately": false, "ack": ack});
            let Ok(r) = http.post(&url).bearer_auth(&token).json(&body).send().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let Ok(v) = r.json::<Value>().await else { continue };
            let at = Instant::now();
            ack = Vec::new();
            if let (Some(sets), Ok(mut a)) = (v["sets"].as_object(), arrivals.lock()) {
                for (jti, set) in sets {
                    a.push(Arrival {
                        subject: subject_of(set.as_str().unwrap_or_default()),
                        at,
                    });
                    ack.push(jti.clone());
                }
            }
        }
    })
}

/// Latencies in µs: p50, p99.
fn percentiles(mut v: Vec<u64>) -> (u64, u64) {
    v.sort_unstable();
    let at = |p: f64| v.get(((v.len() as f64 - 1.0) * p) as usize).copied().unwrap_or(0);
    (at(0.50), at(0.99))
}

async fn wait_for(arrivals: &Arrivals, count: usize, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let n = arrivals.lock().map(|a| a.len()).unwrap_or(0);
        if n >= count {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("only {n} of {count} SETs arrived within {} s", timeout.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Runs the SSF workloads against the server at `base`, whose database is `url`.
pub async fn run(base: &str, url: &str, run: SsfRun) -> anyhow::Result<()> {
    let http = reqwest::Client::builder().pool_max_idle_per_host(64).build()?;
    let arrivals: Arrivals = Arc::default();
    let mut endpoints = Vec::new();
    for _ in 0..run.streams {
        endpoints.push(receiver(arrivals.clone()).await?);
    }

    // Baseline: the same receivers, posted to directly, one sequential sender each.
    let body = format!("eyJhbGciOiJFUzI1NiJ9.{}.{}", "e".repeat(400), "s".repeat(86));
    let per_sender = (run.burst / run.streams.max(1)).max(100);
    let started = Instant::now();
    let senders: Vec<_> = endpoints
        .iter()
        .map(|e| {
            let (http, e, body) = (http.clone(), e.clone(), body.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_sender);
                for _ in 0..per_sender {
                    let t = Instant::now();
                    if http.post(&e).body(body.clone()).send().await.is_ok() {
                        latencies.push(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX));
                    }
                }
                latencies
            })
        })
        .collect();
    let mut base_latencies = Vec::new();
    for s in senders {
        base_latencies.extend(s.await?);
    }
    let base_rate = base_latencies.len() as f64 / started.elapsed().as_secs_f64();
    let (base_p50, base_p99) = percentiles(base_latencies);
    arrivals.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.clear();

    let token: Value = http
        .post(format!("{base}/token"))
        .basic_auth("load-admin", Some(SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&scope=tessera.admin%20ssf.manage")
        .send()
        .await?
        .json()
        .await?;
    let token = token["access_token"]
        .as_str()
        .context("no admin token")?
        .to_owned();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut pollers = Vec::new();
    for e in &endpoints {
        let delivery = if run.poll {
            json!({"method": "urn:ietf:rfc:8936"})
        } else {
            json!({"method": "urn:ietf:rfc:8935", "endpoint_url": e})
        };
        let r = http
            .post(format!("{base}/ssf/streams"))
            .bearer_auth(&token)
            .json(&json!({"events_requested": [REVOKED], "delivery": delivery, "description": e}))
            .send()
            .await?;
        if r.status() != 201 {
            bail!("creating a stream: {} {}", r.status(), r.text().await?);
        }
        if run.poll {
            let created: Value = r.json().await?;
            let url = created["delivery"]["endpoint_url"]
                .as_str()
                .context("a poll stream names its endpoint")?
                .to_owned();
            pollers.push(poller(
                http.clone(),
                url,
                token.clone(),
                arrivals.clone(),
                stop.clone(),
            ));
        }
    }

    // Latency: one admin action at a time, each heard by every stream.
    let stride = (run.users / run.actions.max(1)).max(1);
    let mut sent: Vec<(String, Instant)> = Vec::new();
    for a in 0..run.actions {
        let id = user((a * stride) % run.users.max(1));
        let t = Instant::now();
        let r = http
            .post(format!("{base}/admin/api/users/{id}/revoke-sessions"))
            .bearer_auth(&token)
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("revoking sessions of {id}: {}", r.status());
        }
        sent.push((id, t));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    wait_for(&arrivals, run.actions * run.streams, Duration::from_secs(60)).await?;
    let latencies: Vec<u64> = {
        let got = arrivals.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        let when: std::collections::HashMap<&str, Instant> =
            sent.iter().map(|(u, t)| (u.as_str(), *t)).collect();
        got.iter()
            .filter_map(|a| when.get(a.subject.as_str()).map(|t| a.at.duration_since(*t)))
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
            .collect()
    };
    let (p50, p99) = percentiles(latencies);
    arrivals.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.clear();

    // Throughput: a burst of events in the outbox at once.
    let store = tessera_store::open(url, &tessera_store::StoreOptions::default()).await?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    let mut uow = store.begin().await?;
    for n in 0..run.burst {
        uow.append_event(&tessera_store::NewEvent {
            event_type: REVOKED.into(),
            subject: json!({"format": "iss_sub", "iss": base, "sub": user(n % run.users.max(1))}),
            payload: json!({"event_timestamp": now.as_secs(), "initiating_entity": "admin"}),
            created_at: tessera_store::Timestamp(i64::try_from(now.as_millis())?),
        })
        .await?;
    }
    uow.commit().await?;
    let committed = Instant::now();
    let total = run.burst * run.streams;
    wait_for(&arrivals, total, Duration::from_secs(120)).await?;
    // From the commit of the burst to the last SET received: a poll receiver may get hundreds
    // in one answer, so the span between arrivals alone would flatter it.
    let last = {
        let got = arrivals.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        got.iter().map(|a| a.at).max().context("no arrivals")?
    };
    let rate = total as f64 / last.duration_since(committed).as_secs_f64().max(1e-3);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for p in pollers {
        p.abort();
    }

    println!(
        "\nSSF {}, {} streams, {} users, client and server on the same 2 cores",
        if run.poll {
            "poll (long poll, one receiver per stream)"
        } else {
            "push"
        },
        run.streams,
        run.users
    );
    println!(
        "{:<48} {:>10} {:>10} {:>10}",
        "workload", "SETs/s", "p50 ms", "p99 ms"
    );
    println!(
        "{:<48} {:>10.0} {:>10.2} {:>10.2}",
        "baseline: plain POST to local receivers",
        base_rate,
        base_p50 as f64 / 1000.0,
        base_p99 as f64 / 1000.0
    );
    println!(
        "{:<48} {:>10} {:>10.2} {:>10.2}",
        format!("admin action → SET at receiver ({} actions)", run.actions),
        "",
        p50 as f64 / 1000.0,
        p99 as f64 / 1000.0
    );
    println!(
        "{:<48} {:>10.0} {:>10} {:>10}",
        format!("burst: {} events × {} streams", run.burst, run.streams),
        rate,
        "",
        ""
    );
    println!("delivery rate vs plain POST: {:.2}×", rate / base_rate);
    crate::record(
        run.json.as_deref(),
        &json!({
            "suite": "cae", "mode": if run.poll { "poll" } else { "push" }, "streams": run.streams,
            "p50_us": p50, "p99_us": p99, "burst_rate": rate, "baseline_rate": base_rate,
        }),
    );
    Ok(())
}
