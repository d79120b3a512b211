//! This API's own access token at the IdP (client credentials, RFC 6749 §4.4), for the calls
//! the SDK makes on its behalf: reading the location rules. Kept until a minute before it
//! expires.

use std::time::{Duration, Instant};

use axum::http::header;

use crate::ResourceConfig;

/// Renew this long before the token expires.
const EARLY: Duration = Duration::from_secs(60);

/// The cached token.
#[derive(Debug, Default)]
pub(crate) struct ClientToken {
    cached: tokio::sync::Mutex<Option<(String, Instant)>>,
}

impl ClientToken {
    /// An `Authorization` value: the cached token, or a new one from `{issuer}/token`.
    pub(crate) async fn authorization(
        &self,
        http: &reqwest::Client,
        config: &ResourceConfig,
    ) -> Result<String, String> {
        let mut cached = self.cached.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(format!("Bearer {token}"));
        }
        let secret = config
            .client_secret
            .as_deref()
            .ok_or("no client_secret is configured, so the SDK cannot get a token of its own")?;
        let client_id = config.client_id.as_deref().unwrap_or(&config.audience);
        let url = format!("{}/token", config.issuer);
        // RFC 6749 §2.3.1: both parts form-urlencoded before the Basic encoding.
        let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let basic = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{}:{}", encode(client_id), encode(secret)),
        );
        let answer = http
            .post(&url)
            .header(header::AUTHORIZATION, format!("Basic {basic}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let status = answer.status();
        let bytes = answer.bytes().await.map_err(|e| format!("{url}: {e}"))?;
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        if !status.is_success() {
            return Err(format!(
                "{url} refused client credentials for {client_id}: {} {}",
                body["error"].as_str().unwrap_or_default(),
                body["error_description"].as_str().unwrap_or_default()
            ));
        }
        let token = body["access_token"]
            .as_str()
            .ok_or_else(|| format!("{url} sent no access_token"))?
            .to_owned();
        let lifetime = Duration::from_secs(body["expires_in"].as_u64().unwrap_or(300));
        *cached = Some((token.clone(), Instant::now() + lifetime.saturating_sub(EARLY)));
        Ok(format!("Bearer {token}"))
    }

    /// Drops the cached token (the IdP refused it).
    pub(crate) async fn forget(&self) {
        *self.cached.lock().await = None;
    }
}
