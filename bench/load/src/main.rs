//! `tessera-load`: starts `tessera serve` on a random 127.0.0.1 port over a fresh data directory,
//! measures token-endpoint workloads against it next to a `/healthz` baseline measured in the
//! same run, prints a table and stops the server. Every run is bounded in time and in count,
//! and only ever targets the loopback address.
//!
//! `cargo run --release -p tessera-load -- --duration 10`

mod peer;
mod report;
mod resource;
mod ssf;

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
    /// Run on PostgreSQL: a server URL such as postgres://postgres@127.0.0.1:5432 (a database
    /// is created for the run and dropped after). Default: SQLite in a temporary directory.
    #[arg(long)]
    postgres: Option<String>,
    /// Measure Shared Signals push delivery instead of the token endpoint.
    #[arg(long)]
    ssf: bool,
    /// Measure tessera-resource instead: an axum handler with and without the layer, the time
    /// from an admin action to the API's refusal (push and poll), and the memory of a
    /// revocation state of 1,000,000 subjects.
    #[arg(long)]
    resource: bool,
    /// With --ssf: receiver streams.
    #[arg(long, default_value_t = 10)]
    streams: usize,
    /// With --ssf: users in the directory.
    #[arg(long, default_value_t = 100_000)]
    users: usize,
    /// With --ssf or --resource: admin actions timed one at a time.
    #[arg(long, default_value_t = 200)]
    actions: usize,
    /// With --ssf: events in the throughput burst.
    #[arg(long, default_value_t = 2_000)]
    burst: usize,
    /// With --ssf: poll delivery (RFC 8936) instead of push.
    #[arg(long)]
    poll: bool,
    /// Run the same workloads against panva oidc-provider too (see bench/peers), side by side.
    #[arg(long)]
    peer: bool,
    /// With --peer: the peer's directory (its server.mjs and node_modules).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../peers/oidc-provider"))]
    peer_dir: PathBuf,
    /// Also append every result as a JSON line to this file (bench/run renders them).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Render results: read the JSON lines of --json runs from this file, write the tables
    /// and SVG plots (see --doc, --plots) and exit.
    #[arg(long)]
    report: Option<PathBuf>,
    /// With --report: the Markdown file whose generated section is replaced.
    #[arg(long, default_value = "docs/benchmarks.md")]
    doc: PathBuf,
    /// With --report: where the SVG plots go.
    #[arg(long, default_value = "docs/bench")]
    plots: PathBuf,
}

/// Appends one result to the --json file, if there is one.
fn record(path: Option<&std::path::Path>, row: &serde_json::Value) {
    let Some(path) = path else { return };
    let line = format!("{row}\n");
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));
    if let Err(e) = written {
        eprintln!("could not append to {}: {e}", path.display());
    }
}

const SECRET: &str = "load-test-secret-load-test-secret-1234567";

struct Workload {
    name: &'static str,
    /// Latency of every answered request, µs.
    latencies: Vec<u64>,
    seconds: f64,
    failures: u64,
    /// CPU seconds spent meanwhile by the server and by this tool.
    cpu: Cpu,
}

/// CPU time (user + system) of the server and of this process, seconds.
#[derive(Debug, Clone, Copy, Default)]
struct Cpu {
    server: f64,
    client: f64,
}

impl Cpu {
    /// Reads both now: `/proc/<pid>/stat` fields 14 and 15, in clock ticks of 1/100 s.
    fn now(server: u32) -> Self {
        let read = |pid: &str| -> f64 {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return 0.0;
            };
            // The command name may hold spaces; the fields after it do not.
            let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
            // After the name: state is field 3, utime field 14, stime field 15.
            (ticks(11) + ticks(12)) / 100.0
        };
        Self {
            server: read(&server.to_string()),
            client: read("self"),
        }
    }

    fn since(self, start: Self) -> Self {
        Self {
            server: self.server - start.server,
            client: self.client - start.client,
        }
    }
}

impl Workload {
    fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.seconds
    }

    fn percentile(&mut self, p: f64) -> u64 {
        self.latencies.sort_unstable();
        let at = ((self.latencies.len() as f64 - 1.0) * p) as usize;
        self.latencies.get(at).copied().unwrap_or(0)
    }

    /// Two runs of the same workload as one.
    fn merge(mut self, other: Self) -> Self {
        self.latencies.extend(other.latencies);
        self.seconds += other.seconds;
        self.failures += other.failures;
        self.cpu.server += other.cpu.server;
        self.cpu.client += other.cpu.client;
        self
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(results) = &args.report {
        return report::render(results, &args.doc, &args.plots);
    }
    let duration = Duration::from_secs(args.duration.clamp(1, 120));
    let dir = {
        use std::os::unix::fs::PermissionsExt as _;
        // A data directory must be private to this account, or Tessera refuses it.
        tempfile::Builder::new()
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()?
    };
    let database = Database::new(dir.path(), args.postgres.as_deref())?;
    let tessera = match &args.tessera {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("tessera"),
    };
    if args.ssf {
        let run = ssf::SsfRun {
            streams: args.streams.clamp(1, 100),
            users: args.users.clamp(1, 1_000_000),
            actions: args.actions.clamp(1, 10_000),
            burst: args.burst.clamp(1, 100_000),
            poll: args.poll,
            json: args.json.clone(),
        };
        ssf::prepare(&database.url, run.users).await?;
        let (mut child, base) = start_server(&tessera, dir.path(), &database.url)?;
        let outcome = ssf::run(&base, &database.url, run).await;
        stop(&mut child);
        database.drop();
        return outcome;
    }
    if args.resource {
        let run = resource::ResourceRun {
            duration,
            concurrency: args.concurrency,
            actions: args.actions.clamp(1, 10_000),
        };
        resource::prepare(&database.url, run.actions + 1).await?;
        let (mut child, base) = start_server(&tessera, dir.path(), &database.url)?;
        let outcome = resource::run(&base, run).await;
        stop(&mut child);
        database.drop();
        return outcome;
    }
    let generate = || -> anyhow::Result<Vec<SigningKey>> {
        Ok((0..args.concurrency)
            .map(|_| SigningKey::generate(Algorithm::Es256))
            .collect::<Result<_, _>>()?)
    };
    // One key per worker for the plain DPoP sessions, and one registered device per worker for
    // the device-bound ones.
    let (keys, device_keys) = (generate()?, generate()?);
    let exchange_key = SigningKey::generate(Algorithm::Es256)?;
    prepare(&database.url, &keys, &device_keys, &exchange_key).await?;

    let (mut child, base) = start_server(&tessera, dir.path(), &database.url)?;
    let backend = if args.postgres.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    if args.peer {
        let outcome = side_by_side(&args, &base, child.id(), keys, duration, backend).await;
        stop(&mut child);
        database.drop();
        return outcome;
    }

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let server_pid = child.id();
    let plain = Workers::new(keys, Kind::Refresh);
    let devices = Workers::new(device_keys, Kind::DeviceRefresh);
    let run = |name: &'static str, kind: Kind, duration: Duration| {
        let client = client.clone();
        let base = base.clone();
        let workers = if let Kind::DeviceRefresh = kind {
            devices.clone()
        } else {
            plain.clone()
        };
        async move {
            let start = Cpu::now(server_pid);
            let mut w = load(name, kind, &client, &base, duration, args.max_requests, &workers).await;
            w.cpu = Cpu::now(server_pid).since(start);
            w
        }
    };
    let mut results = vec![
        run("GET /healthz (baseline)", Kind::Health, duration).await,
        run("client_credentials, Bearer", Kind::Bearer, duration).await,
        run("client_credentials, DPoP-bound", Kind::Dpop, duration).await,
    ];
    // The two refresh workloads are compared with each other: run in halves, in the order
    // A B B A, so neither gains from going first or from a database the other has grown.
    let half = duration / 2;
    let (a1, b1) = (
        run("refresh_token, DPoP-bound, CA", Kind::Refresh, half).await,
        run("refresh_token, device-bound, CA", Kind::DeviceRefresh, half).await,
    );
    let (b2, a2) = (
        run("refresh_token, device-bound, CA", Kind::DeviceRefresh, half).await,
        run("refresh_token, DPoP-bound, CA", Kind::Refresh, half).await,
    );
    results.push(a1.merge(a2));
    results.push(b1.merge(b2));
    results.push(run("device_code poll, pending", Kind::DevicePoll, duration).await);
    let subject = subject_token(&client, &base, &exchange_key).await?;
    let exchange = plain.exchanging(subject);
    let start = Cpu::now(server_pid);
    let mut w = load(
        "token exchange, DPoP-bound",
        Kind::Exchange,
        &client,
        &base,
        duration,
        args.max_requests,
        &exchange,
    )
    .await;
    w.cpu = Cpu::now(server_pid).since(start);
    results.push(w);

    stop(&mut child);
    database.drop();

    let baseline = results[0].rate();
    println!(
        "\ntessera serve on {}, {} connections, {} s per workload, client and server on the same 2 cores",
        if args.postgres.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        args.concurrency,
        duration.as_secs()
    );
    println!(
        "{:<34} {:>9} {:>9} {:>9} {:>8} {:>9} {:>12} {:>12}",
        "workload", "req/s", "p50 µs", "p99 µs", "errors", "vs base", "server CPU", "client CPU"
    );
    for r in &mut results {
        let (p50, p99) = (r.percentile(0.50), r.percentile(0.99));
        record(
            args.json.as_deref(),
            &serde_json::json!({
                "suite": "token", "backend": backend, "workload": r.name, "rate": r.rate(),
                "p50_us": p50, "p90_us": r.percentile(0.90), "p99_us": p99, "errors": r.failures,
                "baseline_rate": baseline, "server_cores": r.cpu.server / r.seconds,
            }),
        );
        println!(
            "{:<34} {:>9.0} {:>9} {:>9} {:>8} {:>8.2}× {:>6.2} cores {:>6.2} cores",
            r.name,
            r.rate(),
            p50,
            p99,
            r.failures,
            r.rate() / baseline,
            r.cpu.server / r.seconds,
            r.cpu.client / r.seconds,
        );
    }
    println!(
        "device-bound refresh (token protection) vs DPoP-bound refresh: {:.2}×",
        results[4].rate() / results[3].rate()
    );
    if let Some(dead) = results.iter().find(|r| r.latencies.is_empty()) {
        bail!("{}: no request succeeded; the server is not answering", dead.name);
    }
    Ok(())
}

/// The user's access token for the load API that the exchange workload exchanges: one refresh
/// of its session.
async fn subject_token(client: &reqwest::Client, base: &str, key: &SigningKey) -> anyhow::Result<String> {
    let htu = format!("{base}/token");
    let proof = create_proof(
        key,
        "POST",
        &htu,
        ProofOptions::default(),
        &SystemClock,
        &SystemRandom,
    )?;
    let answer: serde_json::Value = client
        .post(&htu)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("dpop", proof)
        .body(format!(
            "grant_type=refresh_token&client_id=load-public&refresh_token={}",
            first_refresh_token(EXCHANGE_SESSION, 0)
        ))
        .send()
        .await?
        .json()
        .await?;
    answer["access_token"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no subject token for the exchange workload: {answer}"))
}

/// Asks a server started here to stop (SIGTERM: it finishes in-flight requests) and waits.
fn stop(child: &mut std::process::Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// Starts `tessera serve` on a free 127.0.0.1 port over `dir` and `database`; returns the
/// process and its base URL. Refuses anything but a loopback address.
fn start_server(
    tessera: &std::path::Path,
    dir: &std::path::Path,
    database: &str,
) -> anyhow::Result<(std::process::Child, String)> {
    eprintln!("starting {} on 127.0.0.1 …", tessera.display());
    // The load tool's push receivers listen on 127.0.0.1, which a server refuses to push to
    // unless its operator allows it.
    let config = dir.join("tessera-load.toml");
    // One automation client owns every stream of the SSF runs, beyond the 25 a receiver may
    // have by default. The token-exchange workload's API serves the subject token's audience
    // and may exchange it for the next one.
    std::fs::write(
        &config,
        format!(
            "[ssf]\npush_allowed_networks = [\"127.0.0.0/8\", \"::1/128\"]\nmax_streams_per_receiver = 1000\n\
             [introspection]\nresource_servers = {{ \"load-api\" = [\"{EXCHANGE_SUBJECT_AUDIENCE}\"] }}\n\
             [token_exchange]\naudiences = {{ \"load-api\" = [\"{EXCHANGE_AUDIENCE}\"] }}\n"
        ),
    )?;
    let mut child = Command::new(tessera)
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir)
        .args(["--database-url", database])
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
    let mut lines = std::io::BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line?;
        if let Some(rest) = line.trim().strip_prefix("listening on") {
            addr = Some(rest.trim().to_owned());
            break;
        }
    }
    // Keep reading what the server prints: with the pipe closed, its next line would fail and
    // stop it in the middle of a run.
    std::thread::spawn(move || lines.for_each(drop));
    let addr = addr.context("the server did not report its address")?;
    let ip: std::net::SocketAddr = addr.parse()?;
    if !ip.ip().is_loopback() {
        let _ = child.kill();
        bail!("refusing to load {addr}: load tests only target loopback addresses");
    }
    Ok((child, format!("http://{addr}")))
}

/// The database of one run: a SQLite file in the temporary directory, or a PostgreSQL database
/// created for the run and dropped after it.
struct Database {
    url: String,
    admin: Option<(String, String)>,
}

impl Database {
    fn new(dir: &std::path::Path, postgres: Option<&str>) -> anyhow::Result<Self> {
        let Some(server) = postgres else {
            return Ok(Self {
                url: format!("sqlite:{}", dir.join("tessera.db").display()),
                admin: None,
            });
        };
        let server = server.trim_end_matches('/');
        let name = format!("tessera_load_{}", std::process::id());
        let status = Command::new("psql")
            .args([
                &format!("{server}/postgres"),
                "-qc",
                &format!("CREATE DATABASE {name}"),
            ])
            .status()
            .context("running psql to create the load-test database")?;
        if !status.success() {
            bail!("could not create database {name} on {server}");
        }
        Ok(Self {
            url: format!("{server}/{name}"),
            admin: Some((format!("{server}/postgres"), name)),
        })
    }

    fn drop(&self) {
        if let Some((admin, name)) = &self.admin {
            let _ = Command::new("psql")
                .args([
                    admin.as_str(),
                    "-qc",
                    &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                ])
                .status();
        }
    }
}

/// The first refresh token of worker `n`'s session at `client`.
fn first_refresh_token(client: &str, n: usize) -> String {
    format!("{client}-refresh-token-{n:04}-0123456789abcdefghijklmnop")
}

/// The audience of the user token the token-exchange workload exchanges (the load API's).
const EXCHANGE_SUBJECT_AUDIENCE: &str = "https://load-api.example";
/// The audience it exchanges it for (the next API).
const EXCHANGE_AUDIENCE: &str = "https://next-api.example";
/// The session whose refresh gives the token-exchange workload its subject token.
const EXCHANGE_SESSION: &str = "load-exchange-session";
/// Pending device codes, polled in turn: enough that none is polled again within its interval
/// at the rates seen here (about 4,000 polls/s on 2 cores: a code comes round every 3 s).
const DEVICE_CODES: usize = 12_000;
/// The least time between two polls of one device code in the workload, ms.
const DEVICE_INTERVAL_MS: i64 = 1_000;

fn device_code(n: usize) -> String {
    format!("load-device-code-{n:06}-0123456789abcdefghijklmnop")
}

/// A confidential client for client credentials; a public client with one DPoP-bound session
/// per worker (each bound to that worker's key) for refresh; a desktop client under a
/// token-protection policy with one registered device and session per worker; and Conditional
/// Access policies that are evaluated on every refresh without blocking it.
async fn prepare(
    url: &str,
    keys: &[SigningKey],
    device_keys: &[SigningKey],
    exchange_key: &SigningKey,
) -> anyhow::Result<()> {
    let store = tessera_store::open(url, &tessera_store::StoreOptions::default()).await?;
    let app = |id: &str, kind, grants: &[&str]| tessera_store::Application {
        id: id.into(),
        name: "load test".into(),
        kind,
        secret_hash: (kind == tessera_store::AppKind::Confidential)
            .then(|| tessera_store::Secret::new(tessera_directory::secrets::hash_client_secret(SECRET))),
        redirect_uris: vec!["http://127.0.0.1/cb".into()],
        grant_types: grants.iter().map(|g| (*g).to_owned()).collect(),
        scopes: vec!["load".into()],
        jwks: None,
        access_token_minutes: 5,
        refresh_token_days: 1,
        cae_capable: false,
        require_dpop: false,
        require_pushed_authorization_requests: false,
        backchannel_logout_uri: None,
        fapi2: false,
        created_at: tessera_store::Timestamp(0),
        changed_at: tessera_store::Timestamp(0),
    };
    let mut uow = store.begin().await?;
    uow.put_application(&app(
        "load",
        tessera_store::AppKind::Confidential,
        &["client_credentials"],
    ))
    .await?;
    uow.put_application(&app(
        "load-public",
        tessera_store::AppKind::Public,
        &["authorization_code", "refresh_token"],
    ))
    .await?;
    uow.put_application(&app(
        "load-desktop",
        tessera_store::AppKind::Public,
        &["authorization_code", "refresh_token"],
    ))
    .await?;
    uow.put_application(&app(
        "load-tv",
        tessera_store::AppKind::Public,
        &["urn:ietf:params:oauth:grant-type:device_code"],
    ))
    .await?;
    uow.put_application(&app(
        "load-api",
        tessera_store::AppKind::Confidential,
        &["urn:ietf:params:oauth:grant-type:token-exchange"],
    ))
    .await?;
    uow.insert_user(&tessera_store::NewUser {
        id: "load-user".into(),
        username: "load-user".into(),
        email: None,
        display_name: String::new(),
        password_hash: None,
        created_at: tessera_store::Timestamp(0),
    })
    .await?;
    for n in 0..20 {
        uow.put_policy(&tessera_store::PolicyRecord {
            id: format!("p{n:02}"),
            state: "enabled".into(),
            document: serde_json::json!({
                "id": format!("p{n:02}"), "displayName": format!("MFA for team {n}"), "state": "enabled",
                "conditions": {
                    "users": {"includeUsers": [format!("someone-{n}")]},
                    "applications": {"includeApplications": ["All"]}
                },
                "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}
            }),
            changed_at: tessera_store::Timestamp(0),
        })
        .await?;
    }
    uow.put_policy(&tessera_store::PolicyRecord {
        id: "token-protection".into(),
        state: "enabled".into(),
        document: serde_json::json!({
            "id": "token-protection", "displayName": "Token protection for the desktop app",
            "state": "enabled",
            "conditions": {
                "users": {"includeUsers": ["All"]},
                "applications": {"includeApplications": ["load-desktop"]},
                "clientAppTypes": ["mobileAppsAndDesktopClients"]
            },
            "sessionControls": {"secureSignInSession": {"isEnabled": true}}
        }),
        changed_at: tessera_store::Timestamp(0),
    })
    .await?;
    for (n, key) in device_keys.iter().enumerate() {
        uow.insert_device(&tessera_store::Device {
            id: format!("load-device-{n}"),
            user_id: "load-user".into(),
            display_name: format!("load test device {n}"),
            platform: "windows".into(),
            os_version: None,
            trust_type: tessera_store::TrustType::Registered,
            compliance: tessera_store::Compliance::Compliant,
            status: tessera_store::DeviceStatus::Enabled,
            public_jwk: key.public_jwk().to_json(),
            jkt: key.thumbprint().as_str().to_owned(),
            key_protection: tessera_store::KeyProtection::Software,
            key_attestation: None,
            created_at: tessera_store::Timestamp(0),
            last_seen_at: None,
        })
        .await?;
    }
    uow.commit().await?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    let now_ms = tessera_store::Timestamp(i64::try_from(now.as_millis())?);
    let sessions = keys
        .iter()
        .enumerate()
        .map(|(n, k)| ("load-public", n, k, None))
        .chain(
            device_keys
                .iter()
                .enumerate()
                .map(|(n, k)| ("load-desktop", n, k, Some(format!("load-device-{n}")))),
        );
    // Pending device authorizations of the TV app, which the poll workload asks about.
    for n in 0..DEVICE_CODES {
        store
            .insert_device_authorization(&tessera_store::NewDeviceAuthorization {
                hash: tessera_server::oauth::token_hash(&device_code(n)),
                user_code: format!("LOAD{n:06}"),
                client_id: "load-tv".into(),
                request: serde_json::json!({"scope": "openid load", "ip": "127.0.0.1"}),
                created_at: now_ms,
                expires_at: now_ms.plus_ms(3_600_000),
                interval_ms: DEVICE_INTERVAL_MS,
            })
            .await?;
    }
    // A session for the load API's audience, whose access token the exchange workload uses.
    let exchange_session = std::iter::once((EXCHANGE_SESSION, 0, exchange_key, None));
    for (client, n, key, device) in sessions.chain(exchange_session) {
        let exchange = client == EXCHANGE_SESSION;
        // The exchange session's first refresh token is named after it, the others after
        // their client.
        let first = first_refresh_token(client, n);
        let (client, id) = if exchange {
            ("load-public", EXCHANGE_SESSION.to_owned())
        } else {
            (client, format!("{client}-session-{n}"))
        };
        let mut grant = serde_json::json!({
            "redirect_uri": "http://127.0.0.1/cb", "scope": "openid load",
            "auth_time": now.as_secs(), "amr": ["pwd"]
        });
        if exchange {
            grant["resource"] = EXCHANGE_SUBJECT_AUDIENCE.into();
        }
        store
            .start_session(
                &tessera_store::NewSession {
                    id: id.as_str().into(),
                    user_id: "load-user".into(),
                    client_id: client.into(),
                    device_id: device,
                    jkt: Some(key.thumbprint().as_str().to_owned()),
                    browser_sid: None,
                    created_at: now_ms,
                },
                &tessera_store::NewFamily {
                    id: id.as_str().into(),
                    token_hash: tessera_server::oauth::token_hash(&first),
                    expires_at: now_ms.plus_ms(86_400_000),
                    grant,
                },
            )
            .await?;
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Kind {
    Health,
    Bearer,
    Dpop,
    Refresh,
    DeviceRefresh,
    /// A TV app polls for a device code the user has not answered (`authorization_pending`).
    DevicePoll,
    /// An API exchanges a user's token for one to the next API, DPoP-bound to its key.
    Exchange,
}

impl Kind {
    /// The public client whose sessions a refresh workload rotates.
    const fn refresh_client(self) -> &'static str {
        match self {
            Self::DeviceRefresh => "load-desktop",
            _ => "load-public",
        }
    }
}

/// The workers of one kind: worker `n` signs with `keys[n]` and, for a refresh workload, holds
/// the current refresh token of its session between runs.
#[derive(Clone)]
struct Workers {
    keys: Arc<Vec<SigningKey>>,
    refresh_tokens: Arc<std::sync::Mutex<Vec<String>>>,
    /// For the exchange workload: the user's token every worker exchanges.
    subject_token: Arc<String>,
}

impl Workers {
    fn new(keys: Vec<SigningKey>, kind: Kind) -> Self {
        let tokens = (0..keys.len())
            .map(|n| first_refresh_token(kind.refresh_client(), n))
            .collect();
        Self {
            keys: Arc::new(keys),
            refresh_tokens: Arc::new(std::sync::Mutex::new(tokens)),
            subject_token: Arc::new(String::new()),
        }
    }

    /// The same workers, exchanging `token`.
    fn exchanging(&self, token: String) -> Self {
        Self {
            subject_token: Arc::new(token),
            ..self.clone()
        }
    }

    fn refresh_token(&self, n: usize) -> String {
        self.refresh_tokens
            .lock()
            .map(|t| t[n].clone())
            .unwrap_or_default()
    }

    fn keep_refresh_token(&self, n: usize, token: String) {
        if let Ok(mut t) = self.refresh_tokens.lock() {
            t[n] = token;
        }
    }
}

async fn load(
    name: &'static str,
    kind: Kind,
    client: &reqwest::Client,
    base: &str,
    duration: Duration,
    max_requests: u64,
    workers: &Workers,
) -> Workload {
    let issued = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..workers.keys.len())
        .map(|n| {
            let (client, base, workers) = (client.clone(), base.to_owned(), workers.clone());
            let (issued, failures) = (issued.clone(), failures.clone());
            tokio::spawn(async move {
                let key = &workers.keys[n];
                let refreshing = matches!(kind, Kind::Refresh | Kind::DeviceRefresh);
                let mut refresh_token = workers.refresh_token(n);
                let mut latencies = Vec::new();
                // The device poll's next code: this worker's share, in turn.
                let mut next_code = n;
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
                            if let Kind::Dpop = kind {
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
                        Kind::DevicePoll => {
                            let code = device_code(next_code % DEVICE_CODES);
                            next_code += workers.keys.len();
                            client
                                .post(format!("{base}/token"))
                                .header("content-type", "application/x-www-form-urlencoded")
                                .body(format!(
                                    "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code\
                                     &client_id=load-tv&device_code={code}"
                                ))
                        }
                        Kind::Exchange => {
                            let htu = format!("{base}/token");
                            let proof = create_proof(
                                key,
                                "POST",
                                &htu,
                                ProofOptions::default(),
                                &SystemClock,
                                &SystemRandom,
                            )
                            .unwrap_or_default();
                            client
                                .post(htu)
                                .basic_auth("load-api", Some(SECRET))
                                .header("content-type", "application/x-www-form-urlencoded")
                                .header("dpop", proof)
                                .body(format!(
                                    "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange\
                                     &subject_token={}\
                                     &subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token\
                                     &audience={EXCHANGE_AUDIENCE}",
                                    workers.subject_token
                                ))
                        }
                        Kind::Refresh | Kind::DeviceRefresh => {
                            let htu = format!("{base}/token");
                            let proof = create_proof(
                                key,
                                "POST",
                                &htu,
                                ProofOptions::default(),
                                &SystemClock,
                                &SystemRandom,
                            )
                            .unwrap_or_default();
                            client
                                .post(htu)
                                .header("content-type", "application/x-www-form-urlencoded")
                                .header("dpop", proof)
                                .body(format!(
                                    "grant_type=refresh_token&client_id={}&refresh_token={refresh_token}",
                                    kind.refresh_client()
                                ))
                        }
                    };
                    match request.send().await {
                        // The answer a pending device code must get: a 400 saying so.
                        Ok(resp) if matches!(kind, Kind::DevicePoll) => {
                            let body = resp.bytes().await.unwrap_or_default();
                            let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                            if json["error"] == "authorization_pending" {
                                latencies.push(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX));
                            } else {
                                failures.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Ok(resp) if resp.status().is_success() => {
                            let body = resp.bytes().await.unwrap_or_default();
                            if refreshing {
                                // Rotation: the next request must use the new token.
                                let json: serde_json::Value =
                                    serde_json::from_slice(&body).unwrap_or_default();
                                match json["refresh_token"].as_str() {
                                    Some(next) => refresh_token = next.to_owned(),
                                    None => {
                                        failures.fetch_add(1, Ordering::Relaxed);
                                        break;
                                    }
                                }
                            }
                            latencies.push(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX));
                        }
                        Ok(_) if refreshing => {
                            // A refused refresh ends this worker's session.
                            failures.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        _ => {
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                workers.keep_refresh_token(n, refresh_token);
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap_or_default());
    }
    Workload {
        name,
        latencies: all,
        seconds: started.elapsed().as_secs_f64(),
        failures: failures.load(Ordering::Relaxed),
        cpu: Cpu::default(),
    }
}

/// `--peer`: the comparison with oidc-provider (see `peer.rs`), printed and recorded.
async fn side_by_side(
    args: &Args,
    base: &str,
    pid: u32,
    keys: Vec<SigningKey>,
    duration: Duration,
    backend: &str,
) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let (mut child, peer_base) = peer::start_peer(&args.peer_dir)?;
    let peer_pid = child.id();
    let outcome = async {
        let seeded = peer::seed_peer(&http, &peer_base, &keys).await?;
        let ours = (0..keys.len())
            .map(|n| first_refresh_token("load-public", n))
            .collect();
        let targets = [
            peer::Target {
                name: "Tessera",
                token: format!("{base}/token"),
                introspection: format!("{base}/introspect"),
                introspectable: "",
                pid,
                refresh_tokens: Arc::new(std::sync::Mutex::new(ours)),
            },
            peer::Target {
                name: "oidc-provider",
                token: format!("{peer_base}/token"),
                introspection: format!("{peer_base}/token/introspection"),
                introspectable: "&resource=urn%3Atessera%3Aintrospect",
                pid: peer_pid,
                refresh_tokens: Arc::new(std::sync::Mutex::new(seeded)),
            },
        ];
        let keys = Arc::new(keys);
        let mut compared = peer::compare(&http, &targets, &keys, duration, args.max_requests).await?;
        println!(
            "\nTessera ({backend}, durable) and oidc-provider (in-memory) on 127.0.0.1, {} connections, {} s per workload, on the same 2 cores",
            args.concurrency,
            duration.as_secs()
        );
        println!(
            "{:<36} {:>9} {:>8} {:>8} {:>6} | {:>9} {:>8} {:>8} {:>6} | {:>8}",
            "workload", "Tessera/s", "p50 µs", "p99 µs", "cores", "peer/s", "p50 µs", "p99 µs", "cores", "ratio"
        );
        for c in &mut compared {
            let ratio = c.runs[0].rate() / c.runs[1].rate().max(1e-9);
            let mut cells = Vec::new();
            for (target, w) in targets.iter().zip(c.runs.iter_mut()) {
                let (p50, p90, p99) = (w.percentile(0.50), w.percentile(0.90), w.percentile(0.99));
                cells.push((w.rate(), p50, p99, w.cpu.server / w.seconds, w.failures));
                record(
                    args.json.as_deref(),
                    &serde_json::json!({
                        "suite": "peer", "backend": backend, "workload": c.name, "server": target.name,
                        "rate": w.rate(), "p50_us": p50, "p90_us": p90, "p99_us": p99,
                        "errors": w.failures, "server_cores": w.cpu.server / w.seconds,
                    }),
                );
            }
            println!(
                "{:<36} {:>9.0} {:>8} {:>8} {:>6.2} | {:>9.0} {:>8} {:>8} {:>6.2} | {:>7.2}×",
                c.name,
                cells[0].0,
                cells[0].1,
                cells[0].2,
                cells[0].3,
                cells[1].0,
                cells[1].1,
                cells[1].2,
                cells[1].3,
                ratio
            );
            if cells[0].4 + cells[1].4 > 0 {
                println!("  errors: Tessera {}, oidc-provider {}", cells[0].4, cells[1].4);
            }
        }
        if let Some(dead) = compared
            .iter()
            .flat_map(|c| c.runs.iter().map(move |r| (c.name, r)))
            .find(|(_, r)| r.latencies.is_empty())
        {
            bail!("{}: no request succeeded on one of the servers", dead.0);
        }
        Ok(())
    }
    .await;
    stop(&mut child);
    outcome
}
