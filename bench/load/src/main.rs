//! `tessera-load`: starts `tessera serve` on a random 127.0.0.1 port over a fresh data directory,
//! measures token-endpoint workloads against it next to a `/healthz` baseline measured in the
//! same run, prints a table and stops the server. Every run is bounded in time and in count,
//! and only ever targets the loopback address.
//!
//! `cargo run --release -p tessera-load -- --duration 10`

use std::io::BufRead as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use tessera_jose::dpop::{ProofOptions, create_proof};
use tessera_jose::{Algorithm, SigningKey, SystemClock, SystemRandom};

#[derive(Debug, Parser)]
struct Args {
    /// Seconds per workload (at most 120).
    #[arg(long, default_value_t = 8)]
    duration: u64,
    /// Concurrent connections.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Stop a workload after this many requests even if time remains.
    #[arg(long, default_value_t = 1_000_000)]
    max_requests: u64,
    /// The `tessera` binary to start [default: next to this one].
    #[arg(long)]
    tessera: Option<PathBuf>,
}

const SECRET: &str = "load-test-secret-load-test-secret-1234567";

struct Workload {
    name: &'static str,
    requests: u64,
    seconds: f64,
    p50_us: u64,
    p99_us: u64,
    failures: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let duration = Duration::from_secs(args.duration.clamp(1, 120));
    let dir = tempfile::tempdir()?;
    prepare(dir.path()).await?;

    let tessera = match args.tessera {
        Some(p) => p,
        None => std::env::current_exe()?.with_file_name("tessera"),
    };
    eprintln!("starting {} on 127.0.0.1 …", tessera.display());
    let mut child = Command::new(&tessera)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("TESSERA_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| {
            format!(
                "starting {} (build it with cargo build --release -p tessera)",
                tessera.display()
            )
        })?;
    let stdout = child.stdout.take().context("server stdout")?;
    let mut addr = None;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line?;
        if let Some(rest) = line.trim().strip_prefix("listening on") {
            addr = Some(rest.trim().to_owned());
            break;
        }
    }
    let addr = addr.context("the server did not report its address")?;
    let ip: std::net::SocketAddr = addr.parse()?;
    if !ip.ip().is_loopback() {
        bail!("refusing to load {addr}: load tests only target loopback addresses");
    }
    let base = format!("http://{addr}");

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let run = |name: &'static str, kind: Kind| {
        let client = client.clone();
        let base = base.clone();
        async move {
            load(
                name,
                kind,
                &client,
                &base,
                duration,
                args.concurrency,
                args.max_requests,
            )
            .await
        }
    };
    let results = vec![
        run("GET /healthz (baseline)", Kind::Health).await,
        run("client_credentials, Bearer", Kind::Bearer).await,
        run("client_credentials, DPoP-bound", Kind::Dpop).await,
    ];

    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();

    let baseline = results[0].requests as f64 / results[0].seconds;
    println!(
        "\ntessera serve on SQLite, {} connections, {} s per workload, client and server on the same 2 cores",
        args.concurrency,
        duration.as_secs()
    );
    println!(
        "{:<34} {:>9} {:>9} {:>9} {:>8} {:>9}",
        "workload", "req/s", "p50 µs", "p99 µs", "errors", "vs base"
    );
    for r in &results {
        let rate = r.requests as f64 / r.seconds;
        println!(
            "{:<34} {:>9.0} {:>9} {:>9} {:>8} {:>8.2}×",
            r.name,
            rate,
            r.p50_us,
            r.p99_us,
            r.failures,
            rate / baseline
        );
    }
    Ok(())
}

/// A confidential client allowed to use client credentials.
async fn prepare(dir: &std::path::Path) -> anyhow::Result<()> {
    let url = format!("sqlite:{}", dir.join("tessera.db").display());
    let store = tessera_store::open(&url, &tessera_store::StoreOptions::default()).await?;
    let mut uow = store.begin().await?;
    uow.put_application(&tessera_store::Application {
        id: "load".into(),
        name: "load test".into(),
        kind: tessera_store::AppKind::Confidential,
        secret_hash: Some(tessera_store::Secret(
            tessera_server::secrets::hash_client_secret(SECRET),
        )),
        redirect_uris: vec![],
        grant_types: vec!["client_credentials".into()],
        scopes: vec!["load".into()],
        jwks: None,
        access_token_minutes: 5,
        refresh_token_days: 1,
        cae_capable: false,
        require_dpop: false,
        created_at: tessera_store::Timestamp(0),
        changed_at: tessera_store::Timestamp(0),
    })
    .await?;
    uow.commit().await?;
    Ok(())
}

#[derive(Clone, Copy)]
enum Kind {
    Health,
    Bearer,
    Dpop,
}

async fn load(
    name: &'static str,
    kind: Kind,
    client: &reqwest::Client,
    base: &str,
    duration: Duration,
    concurrency: usize,
    max_requests: u64,
) -> Workload {
    let issued = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, base) = (client.clone(), base.to_owned());
            let (issued, failures) = (issued.clone(), failures.clone());
            tokio::spawn(async move {
                let key = SigningKey::generate(Algorithm::Es256).ok();
                let mut latencies = Vec::new();
                while Instant::now() < deadline && issued.fetch_add(1, Ordering::Relaxed) < max_requests {
                    let t = Instant::now();
                    let request = match kind {
                        Kind::Health => client.get(format!("{base}/healthz")),
                        Kind::Bearer | Kind::Dpop => {
                            let mut r = client
                                .post(format!("{base}/token"))
                                .basic_auth("load", Some(SECRET))
                                .header("content-type", "application/x-www-form-urlencoded")
                                .body("grant_type=client_credentials");
                            if let (Kind::Dpop, Some(key)) = (kind, &key) {
                                let htu = format!("{base}/token");
                                if let Ok(proof) = create_proof(
                                    key,
                                    "POST",
                                    &htu,
                                    ProofOptions::default(),
                                    &SystemClock,
                                    &SystemRandom,
                                ) {
                                    r = r.header("dpop", proof);
                                }
                            }
                            r
                        }
                    };
                    match request.send().await {
                        Ok(resp) if resp.status().is_success() => {
                            let _ = resp.bytes().await;
                            latencies.push(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX));
                        }
                        _ => {
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap_or_default());
    }
    let seconds = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(0)
    };
    Workload {
        name,
        requests: all.len() as u64,
        seconds,
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        failures: failures.load(Ordering::Relaxed),
    }
}
