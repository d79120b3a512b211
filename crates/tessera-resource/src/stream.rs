//! Setting up the API's own Shared Signals stream at the IdP: found or created from the IdP's
//! `/.well-known/ssf-configuration`, then verified; and what the IdP says about it since
//! (verification, `stream-updated`).

use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};

use crate::{Resource, ResourceError};

/// The events the SDK acts on.
pub const EVENTS: [&str; 8] = [
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked",
    "https://schemas.openid.net/secevent/caep/event-type/credential-change",
    "https://schemas.openid.net/secevent/caep/event-type/token-claims-change",
    "https://schemas.openid.net/secevent/caep/event-type/risk-level-change",
    "https://schemas.openid.net/secevent/caep/event-type/device-compliance-change",
    "https://schemas.openid.net/secevent/risc/event-type/account-disabled",
    "https://schemas.openid.net/secevent/risc/event-type/account-purged",
    "https://schemas.openid.net/secevent/risc/event-type/credential-compromise",
];

const VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";
const STREAM_UPDATED: &str = "https://schemas.openid.net/secevent/ssf/event-type/stream-updated";

/// How the IdP delivers to this API.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// The IdP pushes to `endpoint_url`, where [`Resource::signals_router`] is mounted, with
    /// this exact `Authorization` header if given.
    Push {
        /// The API's signals endpoint, as the IdP reaches it.
        endpoint_url: String,
        /// The header value the IdP sends.
        authorization_header: Option<String>,
    },
    /// The API polls ([`Resource::spawn_poller`]).
    Poll,
}

/// The stream the API subscribed.
#[derive(Debug, Clone)]
pub struct Subscription {
    /// Its id at the IdP.
    pub stream_id: String,
    /// Where to poll it, for poll delivery.
    pub poll_url: Option<String>,
}

/// What the IdP last said about the stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamState {
    /// The `state` of the last verification event received.
    pub verified_state: Option<String>,
    /// The status of the last `stream-updated` event (`enabled`, `paused`, `disabled`).
    pub status: Option<String>,
    /// The `state` of a verification [`Resource::spawn_stream_check`] asked for and has not
    /// received yet.
    pub awaiting: Option<String>,
    /// Whether a verification asked for did not arrive before the next was due: events may
    /// not be reaching this API.
    pub overdue: bool,
}

/// Shared between the receiver and [`Resource::stream_state`].
#[derive(Debug, Default)]
pub(crate) struct StreamTracker(pub(crate) Mutex<StreamState>);

impl StreamTracker {
    /// Notes an SSF event about the stream; other events are not this tracker's.
    pub(crate) fn note(&self, event_type: &str, payload: &serde_json::Map<String, Value>) {
        let Ok(mut s) = self.0.lock() else { return };
        if event_type == VERIFICATION {
            s.verified_state = payload.get("state").and_then(Value::as_str).map(str::to_owned);
            if s.awaiting.is_some() && s.awaiting == s.verified_state {
                s.awaiting = None;
                if s.overdue {
                    tracing::info!("the stream is verified again");
                }
                s.overdue = false;
            }
        } else if event_type == STREAM_UPDATED {
            s.status = payload.get("status").and_then(Value::as_str).map(str::to_owned);
            tracing::warn!(status = ?s.status, reason = ?payload.get("reason"), "the IdP changed this API's stream");
        }
    }
}

fn http(e: impl std::fmt::Display) -> ResourceError {
    ResourceError::Http(e.to_string())
}

impl Resource {
    /// What the IdP last said about this API's stream.
    #[must_use]
    pub fn stream_state(&self) -> StreamState {
        self.inner.stream.0.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Finds this API's stream at the IdP (same delivery) or creates it, then asks the IdP to
    /// verify it. `access_token` is the API's own token at the IdP (client credentials with
    /// `ssf.manage`).
    ///
    /// # Errors
    /// [`ResourceError::Http`] when the IdP cannot be reached or refuses.
    pub async fn subscribe(
        &self,
        access_token: &str,
        delivery: Delivery,
    ) -> Result<Subscription, ResourceError> {
        let client = reqwest::Client::new();
        let issuer = &self.inner.config.issuer;
        let metadata: Value =
            get_json(&client, &format!("{issuer}/.well-known/ssf-configuration"), None).await?;
        let streams_url = metadata["configuration_endpoint"]
            .as_str()
            .ok_or_else(|| http("the IdP's SSF metadata has no configuration_endpoint"))?
            .to_owned();
        let existing: Value = get_json(&client, &streams_url, Some(access_token)).await?;
        let wanted = match &delivery {
            Delivery::Push { endpoint_url, .. } => ("urn:ietf:rfc:8935", Some(endpoint_url.as_str())),
            Delivery::Poll => ("urn:ietf:rfc:8936", None),
        };
        let found = existing.as_array().into_iter().flatten().find(|s| {
            s["delivery"]["method"] == wanted.0
                && wanted
                    .1
                    .is_none_or(|url| s["delivery"]["endpoint_url"].as_str() == Some(url))
        });
        let stream = match found {
            Some(s) => s.clone(),
            None => {
                let delivery_json = match &delivery {
                    Delivery::Push {
                        endpoint_url,
                        authorization_header,
                    } => {
                        json!({"method": wanted.0, "endpoint_url": endpoint_url, "authorization_header": authorization_header})
                    }
                    Delivery::Poll => json!({"method": wanted.0}),
                };
                let body = json!({"events_requested": EVENTS, "delivery": delivery_json, "description": "tessera-resource"});
                let r = client
                    .post(&streams_url)
                    .bearer_auth(access_token)
                    .header("content-type", "application/json")
                    .body(body.to_string())
                    .send()
                    .await
                    .map_err(http)?;
                if r.status() != 201 {
                    return Err(http(format!("creating the stream: {}", r.status())));
                }
                serde_json::from_slice(&r.bytes().await.map_err(http)?).map_err(http)?
            }
        };
        let stream_id = stream["stream_id"]
            .as_str()
            .ok_or_else(|| http("the stream has no stream_id"))?
            .to_owned();
        if let Some(verify) = metadata["verification_endpoint"].as_str() {
            request_verification(&client, verify, access_token, &stream_id).await?;
        }
        let poll_url = matches!(delivery, Delivery::Poll)
            .then(|| stream["delivery"]["endpoint_url"].as_str().map(str::to_owned))
            .flatten();
        Ok(Subscription { stream_id, poll_url })
    }
}

/// Asks the IdP to send a verification event with a fresh `state`; returns the state, or
/// `None` when the IdP declined (429: verified recently enough; other errors are logged).
async fn request_verification(
    client: &reqwest::Client,
    verify: &str,
    access_token: &str,
    stream_id: &str,
) -> Result<Option<String>, ResourceError> {
    let state = format!(
        "tessera-resource-{}",
        tessera_jose::random::random_id::<8>(&tessera_jose::SystemRandom).map_err(http)?
    );
    let r = client
        .post(verify)
        .bearer_auth(access_token)
        .header("content-type", "application/json")
        .body(json!({"stream_id": stream_id, "state": state}).to_string())
        .send()
        .await
        .map_err(http)?;
    if r.status().is_success() {
        return Ok(Some(state));
    }
    if r.status() != 429 {
        tracing::warn!(status = %r.status(), "the IdP did not take the verification request");
    }
    Ok(None)
}

impl Resource {
    /// Verifies the stream every `every` until the task is dropped or aborted (SSF §8.1.4),
    /// with this API's own token ([`Resource::own_authorization`]). A verification that has
    /// not arrived when the next is due marks the stream [`StreamState::overdue`] and logs an
    /// error: the IdP's events may not be reaching this API. `every` should exceed the IdP's
    /// `min_verification_interval`.
    pub fn spawn_stream_check(&self, stream_id: String, every: Duration) -> tokio::task::JoinHandle<()> {
        let resource = self.clone();
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let verify = format!("{}/ssf/verify", resource.inner.config.issuer);
            loop {
                tokio::time::sleep(every).await;
                if let Ok(mut s) = resource.inner.stream.0.lock()
                    && s.awaiting.is_some()
                    && !s.overdue
                {
                    s.overdue = true;
                    tracing::error!(%stream_id, "the stream's last verification never arrived; events may not be reaching this API");
                }
                let requested = match resource.own_authorization().await {
                    Ok(a) => {
                        let token = a.trim_start_matches("Bearer ");
                        request_verification(&client, &verify, token, &stream_id).await
                    }
                    Err(e) => Err(e),
                };
                match requested {
                    Ok(Some(state)) => {
                        if let Ok(mut s) = resource.inner.stream.0.lock() {
                            s.awaiting = Some(state);
                        }
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(%e, "cannot ask the IdP to verify the stream"),
                }
            }
        })
    }
}

async fn get_json(client: &reqwest::Client, url: &str, token: Option<&str>) -> Result<Value, ResourceError> {
    let mut r = client.get(url);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let r = r.send().await.map_err(http)?;
    if !r.status().is_success() {
        return Err(http(format!("{url} answered {}", r.status())));
    }
    serde_json::from_slice(&r.bytes().await.map_err(http)?).map_err(http)
}
