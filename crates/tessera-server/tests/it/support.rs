//! A server over a fresh SQLite database, and request helpers.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use http_body_util::BodyExt as _;
use tessera_server::{AppState, Overrides, ServerConfig};
use tessera_store::{AppKind, Application, Secret, Timestamp};
use tower::ServiceExt as _;

pub const ISSUER: &str = "http://127.0.0.1:8080";
pub const SECRET: &str = "s3cret-s3cret-s3cret-s3cret-s3cret-s3cret";

pub struct Server {
    pub state: Arc<AppState>,
    _dir: tempfile::TempDir,
    /// The PostgreSQL schema the server's store lives in, dropped with the server.
    schema: Option<String>,
    /// The OpenAPI document the server serves, read at its first admin API call.
    openapi: tokio::sync::OnceCell<serde_json::Value>,
}

/// A PostgreSQL test server's schema goes with it, unless the test failed, so that its data can
/// be looked at.
impl Drop for Server {
    fn drop(&mut self) {
        let Some(schema) = self.schema.take() else {
            return;
        };
        if std::thread::panicking() {
            eprintln!("the test failed: its data is in PostgreSQL schema {schema}");
            return;
        }
        // The test's runtime is blocked in this call, so the schema is dropped from a thread and
        // runtime of its own, on a connection of its own. A task of the server that was stopped
        // mid-transaction would hold its locks: then the schema stays, and says so.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                use sqlx::Connection as _;
                let mut conn = sqlx::PgConnection::connect(&pg_url())
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::raw_sql(&format!(
                    "SET lock_timeout = '5s'; DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
                ))
                .execute(&mut conn)
                .await
                .map_err(|e| format!("{schema}: {e}"))?;
                Ok::<_, String>(())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop the test's PostgreSQL schema {e}"),
            Err(_) => eprintln!("could not drop the test's PostgreSQL schema"),
        }
    }
}

/// Users every server has.
pub const ALICE: (&str, &str) = ("alice", "alice-password-1");
/// Bob has a one-time-code app registered with this base32 secret.
pub const BOB: (&str, &str) = ("bob", "bob-password-1");
pub const BOB_TOTP: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
/// Redirect URIs of the web clients.
pub const WEBAPP_CB: &str = "http://127.0.0.1:9999/cb";
pub const PORTAL_CB: &str = "https://portal.example/cb";

/// A temporary directory only this account can open, as a data directory must be.
pub fn private_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt as _;
    tempfile::Builder::new()
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .unwrap()
}

pub fn pg_url() -> String {
    std::env::var("TESSERA_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

pub fn unique_schema() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "tessera_srv_{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Which database a test server runs on.
#[derive(Debug, Clone, Copy)]
pub enum Db {
    Sqlite,
    Postgres,
}

pub async fn server_on(db: Db) -> Server {
    server_on_with(db, |_| {}).await
}

/// A server on `db` whose configuration `change` adjusts first.
pub async fn server_on_with(db: Db, change: impl FnOnce(&mut ServerConfig)) -> Server {
    match db {
        Db::Sqlite => server_with(change).await,
        Db::Postgres => {
            let schema = unique_schema();
            let store = tessera_store::PgStore::open(
                &pg_url(),
                Some(&schema),
                &tessera_store::StoreOptions::default(),
            )
            .await
            .expect("PostgreSQL must be running for the PostgreSQL server tests");
            let mut server = build_with(Some(Arc::new(store)), change).await;
            server.schema = Some(schema);
            server
        }
    }
}

/// A test server's configuration: its push receivers listen on loopback, which the operator
/// allows here (the hardening tests of push endpoints take it away again).
pub fn config(dir: &std::path::Path) -> ServerConfig {
    let mut config = ServerConfig::resolve(
        None,
        Overrides {
            data_dir: Some(dir.to_owned()),
            admin_password: Some("correct horse battery staple".into()),
            ..Overrides::default()
        },
    )
    .unwrap();
    config.ssf.push_allowed_networks = vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
    // The mail API the tests register with keys signals back, trusted for what APIs send.
    config.ssf.transmitters.push(api_transmitter("mail-api"));
    // `service` introspects as a resource server of Tessera's own audience.
    config
        .introspection
        .resource_servers
        .insert("service".into(), vec![ISSUER.into()]);
    config
}

/// The operator's trust in application `id` as a transmitter of the events an API sends.
pub fn api_transmitter(id: &str) -> tessera_server::config::TransmitterConfig {
    let caep = |name: &str| format!("https://schemas.openid.net/secevent/caep/event-type/{name}");
    tessera_server::config::TransmitterConfig {
        issuer: id.into(),
        jwks_uri: None,
        events: vec![
            caep("session-presented"),
            caep("session-revoked"),
            caep("risk-level-change"),
            "https://schemas.openid.net/secevent/risc/event-type/credential-compromise".into(),
        ],
        audience: None,
        poll_url: None,
        authorization_header: None,
    }
}

pub async fn server() -> Server {
    build(None).await
}

/// A server whose configuration `change` adjusts first.
pub async fn server_with(change: impl FnOnce(&mut ServerConfig)) -> Server {
    build_with(None, change).await
}

impl Server {
    /// Runs `sql` in a PostgreSQL test server's own schema, behind the server's back (to make
    /// the store fail in a chosen way).
    pub async fn sql_behind_its_back(&self, sql: &str) {
        use sqlx::Connection as _;
        let schema = self.schema.as_deref().expect("a PostgreSQL test server");
        let mut conn = sqlx::PgConnection::connect(&pg_url()).await.unwrap();
        sqlx::raw_sql(&format!("SET search_path TO \"{schema}\"; {sql}"))
            .execute(&mut conn)
            .await
            .unwrap();
    }
}

/// A server on SQLite that reads time from `clock`, which the test moves by hand.
pub async fn server_with_clock(clock: Arc<tessera_jose::ManualClock>) -> Server {
    build_clocked(None, |_| {}, Some(clock)).await
}

async fn build(store: Option<Arc<dyn tessera_store::Store>>) -> Server {
    build_with(store, |_| {}).await
}

async fn build_with(
    store: Option<Arc<dyn tessera_store::Store>>,
    change: impl FnOnce(&mut ServerConfig),
) -> Server {
    build_clocked(store, change, None).await
}

async fn build_clocked(
    store: Option<Arc<dyn tessera_store::Store>>,
    change: impl FnOnce(&mut ServerConfig),
    clock: Option<Arc<tessera_jose::ManualClock>>,
) -> Server {
    let dir = private_dir();
    let mut cfg = config(dir.path());
    change(&mut cfg);
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    if cfg.issuer_derived {
        cfg.issuer = ISSUER.into();
        cfg.issuer_derived = false;
    }
    let prepared = match store {
        None => tessera_server::prepare(cfg).await.unwrap(),
        Some(store) => tessera_server::prepare_with(cfg, store).await.unwrap(),
    };
    let mut state = prepared.state;
    if let Some(clock) = clock {
        Arc::get_mut(&mut state)
            .expect("nothing holds the state before it serves")
            .clock = clock;
    }
    let mut uow = state.store.begin().await.unwrap();
    let app = |id: &str, kind: AppKind, dpop: bool, grants: &[&str]| Application {
        id: id.into(),
        name: id.into(),
        kind,
        secret_hash: (kind == AppKind::Confidential)
            .then(|| Secret::new(tessera_directory::secrets::hash_client_secret(SECRET))),
        redirect_uris: vec![],
        grant_types: grants.iter().map(|g| (*g).to_owned()).collect(),
        scopes: vec!["mail.read".into(), "mail.send".into()],
        jwks: None,
        access_token_minutes: 15,
        refresh_token_days: 30,
        cae_capable: false,
        require_dpop: dpop,
        require_pushed_authorization_requests: false,
        backchannel_logout_uri: None,
        fapi2: false,
        created_at: Timestamp(0),
        changed_at: Timestamp(0),
    };
    uow.put_application(&app(
        "service",
        AppKind::Confidential,
        false,
        &["client_credentials"],
    ))
    .await
    .unwrap();
    uow.put_application(&app(
        "dpop-service",
        AppKind::Confidential,
        true,
        &["client_credentials"],
    ))
    .await
    .unwrap();
    uow.put_application(&Application {
        scopes: vec!["tessera.admin".into()],
        ..app("admin-cli", AppKind::Confidential, false, &["client_credentials"])
    })
    .await
    .unwrap();
    uow.put_application(&app(
        "no-cc",
        AppKind::Confidential,
        false,
        &["authorization_code"],
    ))
    .await
    .unwrap();
    uow.put_application(&Application {
        redirect_uris: vec!["http://127.0.0.1/callback".into()],
        ..app(
            "desktop",
            AppKind::Public,
            true,
            &["authorization_code", "refresh_token"],
        )
    })
    .await
    .unwrap();
    uow.put_application(&Application {
        redirect_uris: vec![WEBAPP_CB.into()],
        ..app(
            "webapp",
            AppKind::Public,
            false,
            &["authorization_code", "refresh_token"],
        )
    })
    .await
    .unwrap();
    uow.put_application(&Application {
        redirect_uris: vec![PORTAL_CB.into()],
        ..app(
            "portal",
            AppKind::Confidential,
            false,
            &["authorization_code", "refresh_token"],
        )
    })
    .await
    .unwrap();
    for (i, (name, password)) in [ALICE, BOB].into_iter().enumerate() {
        uow.insert_user(&tessera_store::NewUser {
            id: format!("u-{name}").as_str().into(),
            username: name.into(),
            email: Some(format!("{name}@example.com")),
            display_name: format!("User {i}"),
            password_hash: Some(tessera_directory::secrets::hash_password(password).unwrap()),
            created_at: Timestamp(0),
        })
        .await
        .unwrap();
    }
    uow.add_mfa_method(&tessera_store::MfaMethod {
        id: "totp-bob".into(),
        user_id: "u-bob".into(),
        kind: tessera_store::MfaKind::Totp,
        label: "phone".into(),
        secret: Secret::new(BOB_TOTP),
        created_at: Timestamp(0),
        last_used_at: None,
    })
    .await
    .unwrap();
    uow.commit().await.unwrap();
    Server {
        state,
        _dir: dir,
        schema: None,
        openapi: tokio::sync::OnceCell::new(),
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub json: serde_json::Value,
    pub body: String,
}

impl Reply {
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

impl Server {
    /// Another handle on a running server's state (for tasks that outlive a borrow).
    pub fn from_state(state: Arc<AppState>) -> Self {
        Self {
            state,
            _dir: private_dir(),
            schema: None,
            openapi: tokio::sync::OnceCell::new(),
        }
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = tessera_server::router(self.state.clone())
            .oneshot(request)
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        Reply {
            status,
            headers,
            json,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Request::get(path).body(Body::empty()).unwrap()).await
    }
}

impl Server {
    /// A client-credentials token of `admin-cli`, which may use the admin API.
    pub async fn admin_token(&self) -> String {
        let reply = self
            .send(token_request(
                "grant_type=client_credentials&scope=tessera.admin",
                &[("authorization", &basic("admin-cli", SECRET))],
            ))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.json["access_token"].as_str().unwrap().to_owned()
    }

    /// An admin API call with a Bearer token and an optional JSON body.
    pub async fn admin(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
    ) -> Reply {
        let mut r = Request::builder()
            .method(method)
            .uri(format!("/admin/api{path}"))
            .header("authorization", format!("Bearer {token}"));
        if body.is_some() {
            r = r.header("content-type", "application/json");
        }
        let sent = body
            .as_ref()
            .map_or_else(Body::empty, |b| Body::from(b.to_string()));
        let reply = self.send(r.body(sent).unwrap()).await;
        let document = self
            .openapi
            .get_or_init(|| async { self.get("/openapi.json").await.json })
            .await;
        crate::openapi::check(document, method, path, body.as_ref(), &reply);
        reply
    }
}

pub fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

/// A form POST to /token with optional extra headers.
pub fn token_request(body: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut r = Request::post("/token").header("content-type", "application/x-www-form-urlencoded");
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.body(Body::from(body.to_owned())).unwrap()
}

/// The current TOTP code for a base32 secret.
pub fn totp_now(base32: &str) -> String {
    let secret = tessera_server::web::totp::decode_secret(base32).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    format!(
        "{:06}",
        tessera_server::web::totp::code(&secret, now / tessera_server::web::totp::STEP)
    )
}

/// Registers `id` as a confidential client (client credentials, `mail.read`) that authenticates,
/// and signs SETs, with `key`.
pub async fn app_with_key(server: &Server, id: &str, key: &tessera_jose::SigningKey) {
    let mut uow = server.state.store.begin().await.unwrap();
    uow.put_application(&Application {
        id: id.into(),
        name: id.into(),
        kind: AppKind::Confidential,
        secret_hash: None,
        redirect_uris: vec![],
        grant_types: vec!["client_credentials".into()],
        scopes: vec!["mail.read".into()],
        jwks: Some(serde_json::json!({ "keys": [key.public_jwk().to_json()] })),
        access_token_minutes: 15,
        refresh_token_days: 30,
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
}

/// A stream (of no delivery method) that every event fans out to, so a test can claim and read
/// what a change raised.
pub async fn watch_events(server: &Server) {
    let mut uow = server.state.store.begin().await.unwrap();
    uow.put_stream(
        &tessera_store::StreamId("watch".into()),
        "test",
        tessera_store::StreamStatus::Enabled,
        &serde_json::json!({}),
        Timestamp(0),
    )
    .await
    .unwrap();
    uow.commit().await.unwrap();
}
