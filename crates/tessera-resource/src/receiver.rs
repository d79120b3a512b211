//! The API as a Shared Signals receiver: Security Event Tokens from the IdP verified and
//! applied once each, whether pushed (RFC 8935, [`Resource::signals_router`]) or polled
//! (RFC 8936, [`Resource::spawn_poller`]).

use std::time::Duration;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use serde_json::Value;

use crate::{Resource, sha256};

impl Resource {
    /// Verifies a Security Event Token from the IdP and applies it, once per `jti`.
    ///
    /// # Errors
    /// The RFC 8935 `err` code and a description.
    pub async fn receive_set(&self, token: &str) -> Result<(), (&'static str, String)> {
        let config = &self.inner.config;
        let rules = tessera_jose::set::SetValidation {
            issuer: config.issuer.clone(),
            audience: config
                .client_id
                .clone()
                .unwrap_or_else(|| config.audience.clone()),
            leeway: config.leeway,
        };
        let clock = self.inner.clock.as_ref();
        let set = self
            .inner
            .keys
            .check_with(
                |keys| tessera_jose::set::validate(token, keys, &rules, clock),
                |e| e.rfc8935_code() == "invalid_key",
            )
            .await
            .map_err(|e| match e {
                None => ("invalid_key", "the issuer's keys are not available".to_owned()),
                Some(e) => (e.rfc8935_code(), e.to_string()),
            })?;
        let key = sha256(&set.jti);
        let now = clock.now().unix_time();
        let first = tessera_jose::dpop::ReplayCache::first_use(
            &self.inner.received,
            b"set",
            &key,
            now.plus(7 * 86_400),
            now,
        )
        .unwrap_or(true);
        if first {
            self.inner
                .stream
                .note(&set.events.event_type, &set.events.payload);
        }
        if first
            && set
                .events
                .event_type
                .ends_with("/caep/event-type/token-claims-change")
        {
            // Claims, and so perhaps policy, changed: read the location rules again.
            self.inner.locations.refetch.notify_one();
        }
        if first && self.inner.revocations.apply(&config.issuer, &set) {
            tracing::info!(event = %set.events.event_type, jti = %set.jti, "revocation state moved");
        }
        Ok(())
    }

    /// An axum router for RFC 8935 push delivery, to nest where the stream's `endpoint_url`
    /// points: `POST` a SET (`application/secevent+jwt`), `202` or `400` with `{"err",
    /// "description"}`.
    pub fn signals_router(&self) -> axum::Router {
        let resource = self.clone();
        axum::Router::new().route(
            "/",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let resource = resource.clone();
                async move {
                    let json = headers
                        .get(header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|v| v.starts_with("application/secevent+jwt"));
                    let outcome = if json {
                        resource.receive_set(body.trim()).await
                    } else {
                        Err((
                            "invalid_request",
                            "the body must be application/secevent+jwt".into(),
                        ))
                    };
                    match outcome {
                        Ok(()) => StatusCode::ACCEPTED.into_response(),
                        Err((err, description)) => (
                            StatusCode::BAD_REQUEST,
                            axum::Json(serde_json::json!({"err": err, "description": description})),
                        )
                            .into_response(),
                    }
                }
            }),
        )
    }

    /// Polls a stream (RFC 8936) at `poll_url` until the task is dropped or aborted: each SET
    /// is applied and acknowledged in the next poll. With `authorization` (`Bearer …`) every
    /// poll carries it; with `None` the API's own token ([`Resource::own_authorization`]) is
    /// used and renewed before it expires.
    pub fn spawn_poller(
        &self,
        poll_url: String,
        authorization: Option<String>,
    ) -> tokio::task::JoinHandle<()> {
        let resource = self.clone();
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut ack: Vec<String> = Vec::new();
            let mut errs = serde_json::Map::new();
            loop {
                let authorization = match &authorization {
                    Some(a) => a.clone(),
                    None => match resource.own_authorization().await {
                        Ok(a) => a,
                        Err(e) => {
                            tracing::warn!(%e, "cannot get a token to poll with");
                            tokio::time::sleep(Duration::from_secs(2)).await;
                            continue;
                        }
                    },
                };
                let body = serde_json::json!({"ack": ack, "setErrs": errs, "maxEvents": 100});
                let answer = client
                    .post(&poll_url)
                    .header(header::AUTHORIZATION, &authorization)
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(body.to_string())
                    .send()
                    .await;
                let parsed = match answer {
                    Ok(r) if r.status().is_success() => r
                        .bytes()
                        .await
                        .ok()
                        .and_then(|b| serde_json::from_slice::<Value>(&b).ok()),
                    Ok(r) => {
                        tracing::warn!(status = %r.status(), %poll_url, "polling the IdP failed");
                        if r.status() == StatusCode::UNAUTHORIZED {
                            resource.inner.client_token.forget().await;
                        }
                        None
                    }
                    Err(e) => {
                        tracing::warn!(%e, %poll_url, "polling the IdP failed");
                        None
                    }
                };
                let Some(parsed) = parsed else {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    continue;
                };
                ack.clear();
                errs.clear();
                if let Some(sets) = parsed["sets"].as_object() {
                    for (jti, set) in sets {
                        match resource.receive_set(set.as_str().unwrap_or_default()).await {
                            Ok(()) => ack.push(jti.clone()),
                            Err((err, description)) => {
                                errs.insert(
                                    jti.clone(),
                                    serde_json::json!({"err": err, "description": description}),
                                );
                            }
                        }
                    }
                }
            }
        })
    }
}
