//! `tessera-load --peer`: the same workloads against Tessera and against panva
//! `oidc-provider` (set up by `bench/peers/oidc-provider`), both on 127.0.0.1 in the same run:
//! DPoP-bound `client_credentials`, DPoP-bound refresh with rotation, and introspection of an
//! access token. Tessera runs on its durable store (SQLite, or PostgreSQL with `--postgres`),
//! the peer on its default in-memory adapter. Each workload runs in halves in the order
//! Tessera, peer, peer, Tessera, so neither gains from going first.

use std::io::BufRead as _;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tessera_jose::dpop::{ProofOptions, create_proof};
use tessera_jose::{SigningKey, SystemClock, SystemRandom};

use crate::{Cpu, SECRET, Workload};

/// One server under load.
pub struct Target {
    /// `Tessera` or `oidc-provider`.
    pub name: &'static str,
    /// Its token endpoint.
    pub token: String,
    /// Its introspection endpoint.
    pub introspection: String,
    /// Form parameters that make `client_credentials` return a token this server can
    /// introspect (the peer cannot introspect its JWT access tokens; it gets an opaque one).
    pub introspectable: &'static str,
    /// The server's process id, for its CPU time.
    pub pid: u32,
    /// The current refresh token of each worker's session.
    pub refresh_tokens: Arc<std::sync::Mutex<Vec<String>>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Work {
    ClientCredentials,
    Refresh,
    Introspection,
}

/// Starts the peer (`node server.mjs`) on a free 127.0.0.1 port; returns the process and its
/// base URL. Refuses anything but a loopback address.
pub fn start_peer(dir: &std::path::Path) -> anyhow::Result<(Child, String)> {
    if !dir.join("node_modules/oidc-provider").is_dir() {
        bail!(
            "{} has no node_modules: run `npm ci` there first (bench/run does)",
            dir.display()
        );
    }
    eprintln!("starting oidc-provider ({}) on 127.0.0.1 …", dir.display());
    let mut child = Command::new("node")
        .arg(dir.join("server.mjs"))
        .arg("0")
        .env("LOAD_SECRET", SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting node (the peer needs Node.js)")?;
    let stdout = child.stdout.take().context("peer stdout")?;
    let mut lines = std::io::BufReader::new(stdout).lines();
    let mut base = None;
    for line in lines.by_ref() {
        if let Some(rest) = line?.trim().strip_prefix("listening on") {
            base = Some(rest.trim().to_owned());
            break;
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    let base = base.context("the peer did not report its address")?;
    let url = url::Url::parse(&base)?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    };
    if !loopback {
        let _ = child.kill();
        bail!("refusing to load {base}: load tests only target loopback addresses");
    }
    Ok((child, base))
}

/// Creates one signed-in session per key at the peer (as a code grant would leave) and returns
/// their refresh tokens, bound to the keys.
pub async fn seed_peer(
    http: &reqwest::Client,
    base: &str,
    keys: &[SigningKey],
) -> anyhow::Result<Vec<String>> {
    let jkts: Vec<String> = keys.iter().map(|k| k.thumbprint().as_str().to_owned()).collect();
    let answer: serde_json::Value = http
        .post(format!("{base}/bench/seed"))
        .json(&serde_json::json!({ "jkts": jkts }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let tokens: Vec<String> = answer["refresh_tokens"]
        .as_array()
        .context("the peer did not seed sessions")?
        .iter()
        .filter_map(|t| t.as_str().map(str::to_owned))
        .collect();
    if tokens.len() != keys.len() {
        bail!("the peer seeded {} sessions of {}", tokens.len(), keys.len());
    }
    Ok(tokens)
}

/// The comparison of one workload.
pub struct Compared {
    /// The workload.
    pub name: &'static str,
    /// Tessera's run, then the peer's.
    pub runs: [Workload; 2],
}

/// Runs the three workloads against both targets, in halves (A B B A).
pub async fn compare(
    http: &reqwest::Client,
    targets: &[Target; 2],
    keys: &Arc<Vec<SigningKey>>,
    duration: Duration,
    max_requests: u64,
) -> anyhow::Result<Vec<Compared>> {
    let half = duration / 2;
    let mut out = Vec::new();
    for (name, work) in [
        ("client_credentials, DPoP-bound", Work::ClientCredentials),
        ("refresh_token, DPoP-bound, rotation", Work::Refresh),
        ("introspection of an access token", Work::Introspection),
    ] {
        let mut halves = Vec::new();
        for t in [0, 1, 1, 0] {
            let target = &targets[t];
            let token = if work == Work::Introspection {
                Some(introspectable_token(http, target).await?)
            } else {
                None
            };
            let start = Cpu::now(target.pid);
            let mut w = run(http, target, work, keys, token.as_deref(), half, max_requests).await;
            w.cpu = Cpu::now(target.pid).since(start);
            w.name = name;
            halves.push((t, w));
        }
        let mut merged: [Option<Workload>; 2] = [None, None];
        for (t, w) in halves {
            merged[t] = Some(match merged[t].take() {
                Some(m) => m.merge(w),
                None => w,
            });
        }
        let [Some(a), Some(b)] = merged else {
            bail!("a half of {name} did not run")
        };
        out.push(Compared { name, runs: [a, b] });
    }
    Ok(out)
}

async fn introspectable_token(http: &reqwest::Client, target: &Target) -> anyhow::Result<String> {
    let answer: serde_json::Value = http
        .post(&target.token)
        .basic_auth("load", Some(SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("grant_type=client_credentials{}", target.introspectable))
        .send()
        .await?
        .error_for_status()
        .with_context(|| format!("{}: client_credentials", target.name))?
        .json()
        .await?;
    answer["access_token"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("{}: no access token to introspect", target.name))
}

async fn run(
    http: &reqwest::Client,
    target: &Target,
    work: Work,
    keys: &Arc<Vec<SigningKey>>,
    introspected: Option<&str>,
    duration: Duration,
    max_requests: u64,
) -> Workload {
    let issued = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..keys.len())
        .map(|n| {
            let (http, keys) = (http.clone(), keys.clone());
            let (issued, failures) = (issued.clone(), failures.clone());
            let (token_url, introspection) = (target.token.clone(), target.introspection.clone());
            let tokens = target.refresh_tokens.clone();
            let introspected = introspected.map(str::to_owned);
            let name = target.name;
            tokio::spawn(async move {
                let key = &keys[n];
                let mut refresh_token = tokens.lock().map(|t| t[n].clone()).unwrap_or_default();
                let mut latencies = Vec::new();
                while Instant::now() < deadline && issued.fetch_add(1, Ordering::Relaxed) < max_requests {
                    let t = Instant::now();
                    let proof = || {
                        create_proof(
                            key,
                            "POST",
                            &token_url,
                            ProofOptions::default(),
                            &SystemClock,
                            &SystemRandom,
                        )
                        .unwrap_or_default()
                    };
                    let request = match work {
                        Work::ClientCredentials => http
                            .post(&token_url)
                            .basic_auth("load", Some(SECRET))
                            .header("dpop", proof())
                            .header("content-type", "application/x-www-form-urlencoded")
                            .body("grant_type=client_credentials"),
                        Work::Refresh => http
                            .post(&token_url)
                            .header("dpop", proof())
                            .header("content-type", "application/x-www-form-urlencoded")
                            .body(format!(
                                "grant_type=refresh_token&client_id=load-public&refresh_token={refresh_token}"
                            )),
                        Work::Introspection => http
                            .post(&introspection)
                            .basic_auth("load", Some(SECRET))
                            .header("content-type", "application/x-www-form-urlencoded")
                            .body(format!("token={}", introspected.as_deref().unwrap_or_default())),
                    };
                    let (status, body) = match request.send().await {
                        Ok(resp) => (resp.status().as_u16(), resp.bytes().await.unwrap_or_default()),
                        Err(e) => (0, e.to_string().into_bytes().into()),
                    };
                    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                    let ok = match work {
                        Work::ClientCredentials => json["token_type"] == "DPoP",
                        Work::Refresh => match json["refresh_token"].as_str() {
                            Some(next) if json["token_type"] == "DPoP" => {
                                refresh_token = next.to_owned();
                                true
                            }
                            _ => false,
                        },
                        Work::Introspection => json["active"] == true,
                    };
                    if ok {
                        latencies.push(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX));
                    } else {
                        if failures.fetch_add(1, Ordering::Relaxed) == 0 {
                            eprintln!(
                                "{name}: first failure: {status} {}",
                                String::from_utf8_lossy(&body[..body.len().min(300)])
                            );
                        }
                        if work == Work::Refresh {
                            // A refused refresh ends this worker's session.
                            break;
                        }
                    }
                }
                if let Ok(mut t) = tokens.lock() {
                    t[n] = refresh_token;
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        match t.await {
            Ok(latencies) => all.extend(latencies),
            Err(e) => eprintln!("{}: a worker failed: {e}", target.name),
        }
    }
    Workload {
        name: "",
        latencies: all,
        seconds: started.elapsed().as_secs_f64(),
        failures: failures.load(Ordering::Relaxed),
        cpu: Cpu::default(),
    }
}
