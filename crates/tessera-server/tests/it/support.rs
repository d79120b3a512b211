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
}

pub fn config(dir: &std::path::Path) -> ServerConfig {
    ServerConfig::resolve(
        None,
        Overrides {
            data_dir: Some(dir.to_owned()),
            admin_password: Some("correct horse battery staple".into()),
            ..Overrides::default()
        },
    )
    .unwrap()
}

pub async fn server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    cfg.issuer = ISSUER.into();
    cfg.issuer_derived = false;
    let prepared = tessera_server::prepare(cfg).await.unwrap();
    let state = prepared.state;
    let mut uow = state.store.begin().await.unwrap();
    let app = |id: &str, kind: AppKind, dpop: bool, grants: &[&str]| Application {
        id: id.into(),
        name: id.into(),
        kind,
        secret_hash: (kind == AppKind::Confidential)
            .then(|| Secret(tessera_server::secrets::hash_client_secret(SECRET))),
        redirect_uris: vec![],
        grant_types: grants.iter().map(|g| (*g).to_owned()).collect(),
        scopes: vec!["mail.read".into(), "mail.send".into()],
        jwks: None,
        access_token_minutes: 15,
        refresh_token_days: 30,
        cae_capable: false,
        require_dpop: dpop,
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
    uow.put_application(&app(
        "no-cc",
        AppKind::Confidential,
        false,
        &["authorization_code"],
    ))
    .await
    .unwrap();
    uow.put_application(&app(
        "desktop",
        AppKind::Public,
        true,
        &["authorization_code", "refresh_token"],
    ))
    .await
    .unwrap();
    uow.commit().await.unwrap();
    Server { state, _dir: dir }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub json: serde_json::Value,
}

impl Server {
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
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Request::get(path).body(Body::empty()).unwrap()).await
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
