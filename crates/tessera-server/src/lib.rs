//! The Tessera identity provider: the HTTP service around the stores, policies and keys.
//!
//! It serves: discovery (RFC 8414 and OpenID Connect) and the JWKS; `/authorize` with the
//! sign-in pages (password, one-time codes, passkeys); the token endpoint (authorization code
//! with PKCE, refresh with rotation and reuse detection, client credentials; DPoP per RFC 9449);
//! device registration with TPM attestation; Conditional Access at `/authorize` and at every
//! token request, with sign-in logs; `/userinfo`, RP-initiated logout, introspection (RFC 7662)
//! and revocation (RFC 7009); the Shared Signals transmitter (push and poll) and receiver; the
//! admin JSON API with its OpenAPI document, the admin console, the account pages; health and
//! Prometheus metrics. ARCHITECTURE.md maps each module.

// The OpenAPI document's schemas are one `json!` literal.
#![recursion_limit = "256"]

pub mod access;
pub mod admin;
pub mod api;
pub mod attestation;
pub mod config;
pub mod connections;
pub mod console;
pub mod data_dir;
pub mod devices;
pub mod error;
pub mod health;
pub mod http;
pub mod oauth;
pub mod outbound;
pub mod password_checks;
pub mod revocation;
pub mod ssf;
pub mod state;
pub mod telemetry;
pub mod web;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

pub use config::{ConfigError, Overrides, ServerConfig};
pub use error::OAuthError;
pub use state::AppState;

/// The HTTP routes, each with a deadline for its body and for its answer.
pub fn router(state: Arc<AppState>) -> Router {
    let limits = &state.config.http;
    let answer_within = |seconds: u64| {
        tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            std::time::Duration::from_secs(seconds),
        )
    };
    // A long poll waits for events by design: its deadline is its wait plus the usual one.
    let ssf = ssf::router().layer(answer_within(
        limits.request_timeout_seconds + state.config.ssf.poll_wait_seconds,
    ));
    let body_within = tower_http::timeout::RequestBodyTimeoutLayer::new(std::time::Duration::from_secs(
        limits.body_read_timeout_seconds,
    ));
    Router::new()
        .route(
            "/.well-known/oauth-authorization-server",
            get(oauth::metadata::authorization_server),
        )
        .route(
            "/.well-known/openid-configuration",
            get(oauth::metadata::openid_configuration),
        )
        .route("/jwks", get(oauth::metadata::jwks))
        .route("/authorize", get(web::authorize::authorize))
        .route("/par", post(oauth::par::push))
        .route(
            "/device_authorization",
            post(oauth::device_authorization::device_authorization),
        )
        .route("/login", post(web::login::password))
        .route("/device", get(web::device::show).post(web::device::enter))
        .route("/device/callback", get(web::device::callback))
        .route("/device/decide", post(web::device::decide))
        .route("/login/mfa", post(web::login::one_time_code))
        .route(
            "/userinfo",
            get(oauth::userinfo::userinfo).post(oauth::userinfo::userinfo),
        )
        .route(
            "/logout",
            get(web::logout::logout_get).post(web::logout::logout_post),
        )
        .route("/register", post(oauth::registration::register))
        .route(
            "/register/{client_id}",
            get(oauth::registration::read)
                .put(oauth::registration::update)
                .delete(oauth::registration::delete),
        )
        .route("/assets/tessera.css", get(web::stylesheet))
        .route("/favicon.ico", get(web::no_icon))
        .route("/assets/passkey.js", get(web::passkey_script))
        .route("/login/passkey/options", post(web::passkeys::options))
        .route("/login/passkey", post(web::passkeys::finish))
        .route("/account", get(web::account::show))
        .route("/account/sign-in", get(web::account::sign_in))
        .route("/account/callback", get(web::account::callback))
        .route("/account/totp", post(web::account::start_totp))
        .route("/account/totp/confirm", post(web::account::confirm_totp))
        .route("/account/passkeys/options", post(web::account::passkey_options))
        .route("/account/passkeys", post(web::account::register_passkey))
        .route("/account/methods/{id}/remove", post(web::account::remove))
        .route("/token", post(oauth::token::token))
        .route("/introspect", post(oauth::introspect::introspect))
        .route("/revoke", post(oauth::revoke::revoke))
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(telemetry::metrics_on_main))
        .route("/openapi.json", get(admin::openapi::openapi))
        .route("/devices", get(devices::list).post(devices::register))
        .route("/devices/attestation", post(devices::attestation_challenge))
        .nest("/admin/api", admin::router())
        .merge(console::router())
        .route("/.well-known/ssf-configuration", get(ssf::metadata))
        .route(
            "/.well-known/ssf-configuration/{*issuer_path}",
            get(ssf::metadata),
        )
        .route("/.well-known/risc-configuration", get(ssf::metadata))
        .route("/policy/locations", get(ssf::locations::rules))
        .layer(answer_within(limits.request_timeout_seconds))
        .nest("/ssf", ssf)
        .layer(body_within)
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            telemetry::track,
        ))
        .layer(DefaultBodyLimit::max(oauth::form::MAX_BODY))
        .with_state(state)
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened.
    #[error("database: {0}")]
    Store(#[from] tessera_store::StoreError),
    /// The data directory is missing and cannot be made, or is open to other users.
    #[error(transparent)]
    DataDir(#[from] data_dir::DataDirError),
    /// The signing keys could not be loaded.
    #[error(transparent)]
    Keys(#[from] tessera_directory::keys::KeyRingError),
    /// The administrator could not be created.
    #[error("first-run set-up: {0}")]
    Bootstrap(tessera_directory::DirectoryError),
    /// The data directory or the listening socket failed.
    #[error("{0}")]
    Io(String),
}

/// A server ready to accept connections.
#[derive(Debug)]
pub struct Prepared {
    /// The state.
    pub state: Arc<AppState>,
    /// What the first-run set-up did.
    pub bootstrap: tessera_directory::bootstrap::Bootstrap,
    /// The listening socket.
    pub listener: tokio::net::TcpListener,
}

/// Opens the database, loads keys, bootstraps the administrator and binds the socket.
///
/// # Errors
/// [`StartError`] with a message for the operator.
pub async fn prepare(config: ServerConfig) -> Result<Prepared, StartError> {
    data_dir::prepare(&config)?;
    let store = tessera_store::open(&config.database_url, &tessera_store::StoreOptions::default()).await?;
    start(config, store).await
}

/// As [`prepare`], over a store already opened (a PostgreSQL schema of its own, in tests).
///
/// # Errors
/// [`StartError`] with a message for the operator.
pub async fn prepare_with(
    config: ServerConfig,
    store: std::sync::Arc<dyn tessera_store::Store>,
) -> Result<Prepared, StartError> {
    data_dir::prepare(&config)?;
    start(config, store).await
}

/// Loads keys, bootstraps the administrator and binds the socket, over a data directory
/// already prepared.
async fn start(
    mut config: ServerConfig,
    store: std::sync::Arc<dyn tessera_store::Store>,
) -> Result<Prepared, StartError> {
    let now = tessera_jose::Clock::now(&tessera_jose::SystemClock);
    let keys =
        tessera_directory::keys::KeyRing::load_or_create(store.as_ref(), &config.key_encryption, now).await?;
    let bootstrap = tessera_directory::bootstrap::ensure_admin(
        store.as_ref(),
        config.admin_password.as_deref().map(String::as_str),
        now,
    )
    .await
    .map_err(StartError::Bootstrap)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| StartError::Io(format!("cannot listen on {}: {e}", config.listen)))?;
    if config.issuer_derived {
        // With port 0 the system picks the port; the issuer follows what was bound.
        let bound = listener.local_addr().map_err(|e| StartError::Io(e.to_string()))?;
        config.issuer = config::issuer_for(bound);
    }
    let nonces = if config.tokens.require_dpop_nonce {
        Some(
            oauth::dpop_nonce::DpopNonces::shared(store.as_ref(), oauth::dpop_nonce::WINDOW_SECONDS, now)
                .await?,
        )
    } else {
        None
    };
    let mut state = AppState::new(config, store, keys);
    state.nonces = nonces;
    let state = Arc::new(state);
    Ok(Prepared {
        state,
        bootstrap,
        listener,
    })
}

/// Serves until Ctrl-C (or SIGTERM), then finishes in-flight requests.
///
/// # Errors
/// When the socket fails.
pub async fn serve(prepared: Prepared) -> Result<(), StartError> {
    serve_until(prepared, shutdown()).await
}

/// Serves until `stop` completes, then finishes in-flight requests (for at most the request
/// deadline).
///
/// # Errors
/// When the socket fails.
pub async fn serve_until(
    prepared: Prepared,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), StartError> {
    let _push = ssf::push::spawn(prepared.state.clone());
    let _pollers = ssf::receive::spawn_pollers(&prepared.state);
    let _logouts = oauth::backchannel_logout::spawn(prepared.state.clone());
    let _pruning = state::spawn_pruning(prepared.state.clone());
    let http = prepared.state.config.http.clone();
    let grace = std::time::Duration::from_secs(http.request_timeout_seconds);
    let _metrics = match prepared.state.config.metrics.listen {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| StartError::Io(format!("cannot listen for metrics on {addr}: {e}")))?;
            let app = Router::new()
                .route("/metrics", get(telemetry::metrics))
                .with_state(prepared.state.clone());
            Some(tokio::spawn(async move { axum::serve(listener, app).await }))
        }
        None => None,
    };
    let app = router(prepared.state);
    connections::serve(prepared.listener, app, &http, stop, grace)
        .await
        .map_err(|e| StartError::Io(e.to_string()))
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}
