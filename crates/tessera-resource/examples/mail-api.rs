//! A small mail API protected by `tessera-resource`, for trying Tessera out.
//!
//! With `tessera serve` running on the default address:
//!
//! ```sh
//! tessera apps create --id mail-api --kind confidential --grant client_credentials \
//!   --scope ssf.manage --scope ssf.read --scope mail.read
//! MAIL_API_SECRET=… cargo run -p tessera-resource --example mail-api
//! ```
//!
//! It listens on 127.0.0.1:8081 (`MAIL_API_LISTEN`), accepts tokens from `TESSERA_ISSUER`
//! (default `http://127.0.0.1:8080`) whose audience is `MAIL_API_AUDIENCE` (default
//! `http://127.0.0.1:8081`), and — when `MAIL_API_SECRET` is set — subscribes its own Shared
//! Signals stream (poll) with the client id `mail-api`, so an account disabled at the IdP is
//! refused at the next request, and keeps the IdP's location rules, so a token used from
//! outside its policy's locations is challenged. Its protected resource metadata (RFC 9728) is at
//! `/.well-known/oauth-protected-resource`, and every refusal names it.

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use serde_json::{Value, json};
use tessera_resource::{Challenge, Delivery, Principal, Resource, ResourceConfig, ResourceLayer};

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

async fn inbox(p: Principal) -> Result<axum::Json<Value>, Challenge> {
    p.require_scope("mail.read")?;
    Ok(axum::Json(json!({
        "owner": p.subject,
        "messages": [
            {"id": "1", "from": "it@example.com", "subject": "Your laptop is registered"},
            {"id": "2", "from": "alice@example.com", "subject": "Lunch?"}
        ]
    })))
}

async fn message(p: Principal, Path(id): Path<String>) -> Result<axum::Json<Value>, Challenge> {
    p.require_scope("mail.read")?;
    Ok(axum::Json(json!({"id": id, "owner": p.subject, "body": "…"})))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let issuer = env("TESSERA_ISSUER", "http://127.0.0.1:8080");
    let listen = env("MAIL_API_LISTEN", "127.0.0.1:8081");
    let audience = env("MAIL_API_AUDIENCE", &format!("http://{listen}"));
    let secret = std::env::var("MAIL_API_SECRET").ok();
    let resource = Resource::new(ResourceConfig {
        public_url: Some(audience.clone()),
        client_id: Some("mail-api".into()),
        scopes_supported: vec!["mail.read".into()],
        client_secret: secret.clone(),
        // Behind a reverse proxy, name it here so X-Forwarded-For is believed.
        trusted_proxies: env("MAIL_API_TRUSTED_PROXIES", "")
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::parse)
            .collect::<Result<_, _>>()?,
        ..ResourceConfig::new(&issuer, &audience)
    })?;

    if secret.is_some() {
        // The SDK gets (and renews) its own client-credentials token for these calls.
        let token = resource.own_authorization().await?;
        let token = token.trim_start_matches("Bearer ");
        let stream = resource.subscribe(token, Delivery::Poll).await?;
        println!("subscribed to {issuer}'s signals (stream {})", stream.stream_id);
        if let Some(poll_url) = stream.poll_url {
            resource.spawn_poller(poll_url, None);
        }
        resource.spawn_location_sync();
    } else {
        println!(
            "MAIL_API_SECRET is not set: tokens are checked, but revocations are not heard and \
             tokens naming a location policy are answered 503"
        );
    }

    let app = Router::new()
        .route("/inbox", get(inbox))
        .route("/messages/{id}", get(message))
        .layer(ResourceLayer::new(resource.clone()))
        // Public: the protected resource metadata (RFC 9728) and health.
        .merge(resource.metadata_router())
        .route("/healthz", get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("mail API on http://{listen}, accepting tokens from {issuer} for {audience}");
    // The peer's address is what location policy checks.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
