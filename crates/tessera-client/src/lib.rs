//! Client SDK for apps that sign in with Tessera: a device key (kept in a [`KeyStore`]),
//! device registration, the authorization-code flow with PKCE (a loopback redirect for native
//! apps, RFC 8252, or a headless sign-in for tests and tools), DPoP on every token and API
//! request (server nonces handled), a token cache that refreshes before expiry, the CAE
//! capability `cp1`, and the two challenges an API sends a signed-in user back with. When an API
//! answers `insufficient_claims` (continuous access evaluation), the client goes back to the IdP
//! with those claims and retries once, or says clearly why it cannot (the account is disabled,
//! the user must sign in again). When it answers `insufficient_user_authentication` (a step-up,
//! RFC 9470), the client says what the API wants ([`ClientError::StepUpRequired`]), and the next
//! sign-in asks the IdP for exactly that (`acr_values`, `max_age`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), tessera_client::ClientError> {
//! use tessera_client::{ClientConfig, SoftwareFileKeyStore, TesseraClient};
//!
//! let config = ClientConfig::new("http://127.0.0.1:8080", "mail-app")
//!     .with_resource("http://127.0.0.1:8081");
//! let client = TesseraClient::new(config, &SoftwareFileKeyStore::new("/home/alice/.tessera"), "laptop").await?;
//! client.sign_in_loopback(|url| println!("open {url}")).await?;
//! let inbox = client.send(reqwest::Method::GET, "http://127.0.0.1:8081/inbox", None).await?;
//! # Ok(()) }
//! ```

pub mod keys;
mod login;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, Response, StatusCode, header};
use serde_json::Value;
use tessera_jose::dpop::{ProofOptions, create_proof};
use tessera_jose::{Algorithm, Jkt, Signer, SigningKey, SystemClock, SystemRandom, b64};
use tokio::sync::Mutex;

pub use keys::{
    Attester, DeviceKey, HardwareKind, KeyProtection, KeyStore, SoftwareFileKeyStore, SoftwareKey,
    SoftwareMemoryKeyStore,
};
#[cfg(feature = "pkcs11")]
pub use keys::{Pkcs11KeyStore, Pkcs11Pin};
#[cfg(feature = "tpm")]
pub use keys::{SoftwareTpm, TpmConfig, TpmKeyStore};

/// The `claims` request parameter that declares the CAE capability.
const CP1: &str = r#"{"access_token":{"xms_cc":{"values":["cp1"]}}}"#;
/// Refresh this long before the access token expires.
const EARLY: Duration = Duration::from_secs(60);

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The device key could not be read, created or kept.
    #[error("device key: {0}")]
    Keys(String),
    /// The IdP or the API could not be reached, or answered something unreadable.
    #[error("{0}")]
    Http(String),
    /// The IdP refused a request with an OAuth error.
    #[error("the IdP refused: {error}: {description}")]
    Refused {
        /// The OAuth `error` code.
        error: String,
        /// Its `error_description`.
        description: String,
    },
    /// There is no usable session: sign in (again). `reason` says why, in the IdP's words
    /// (the account is disabled, the password changed, the session was revoked, policy needs
    /// MFA, …).
    #[error("sign in again: {reason}")]
    SignInRequired {
        /// Why.
        reason: String,
    },
    /// The sign-in pages did not go as expected (wrong password, a step this client cannot
    /// do headlessly).
    #[error("sign-in: {0}")]
    SignIn(String),
    /// The API wants a stronger or more recent sign-in than the token's (RFC 9470): sign the
    /// user in again ([`TesseraClient::sign_in_loopback`]), which asks the IdP for these
    /// `acr_values` and `max_age`, then call again.
    #[error("the API needs the user to sign in again: {reason}")]
    StepUpRequired {
        /// The authentication context classes that would do, space-separated.
        acr_values: Option<String>,
        /// How long ago, at most, the user may have signed in, seconds.
        max_age: Option<u64>,
        /// The API's words.
        reason: String,
    },
}

/// What an API's step-up challenge asked for, kept for the next sign-in.
#[derive(Debug, Clone, Default)]
struct StepUp {
    acr_values: Option<String>,
    max_age: Option<u64>,
}

fn http(e: impl std::fmt::Display) -> ClientError {
    ClientError::Http(e.to_string())
}

/// Which app signs in where.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The IdP's issuer.
    pub issuer: String,
    /// This app's client id.
    pub client_id: String,
    /// The scopes to ask for [default: `openid offline_access`].
    pub scope: String,
    /// The API the access tokens are for (RFC 8707 `resource`).
    pub resource: Option<String>,
    /// The redirect URI for [`TesseraClient::sign_in_with_password`] (any registered one; the
    /// loopback flow makes its own).
    pub redirect_uri: String,
}

impl ClientConfig {
    /// An app `client_id` signing in at `issuer`.
    #[must_use]
    pub fn new(issuer: &str, client_id: &str) -> Self {
        Self {
            issuer: issuer.trim_end_matches('/').to_owned(),
            client_id: client_id.to_owned(),
            scope: "openid offline_access".into(),
            resource: None,
            redirect_uri: "http://127.0.0.1/callback".into(),
        }
    }

    /// The same, with tokens for `resource`.
    #[must_use]
    pub fn with_resource(mut self, resource: &str) -> Self {
        self.resource = Some(resource.to_owned());
        self
    }

    /// The same, asking for `scope`.
    #[must_use]
    pub fn with_scope(mut self, scope: &str) -> Self {
        self.scope = scope.to_owned();
        self
    }
}

/// The tokens of the current session.
#[derive(Debug, Clone)]
struct Tokens {
    access: String,
    dpop: bool,
    /// The access token is bound to the session key, not the device key.
    session_bound: bool,
    expires_at: Instant,
    refresh: Option<String>,
}

/// An app's session with Tessera, on one device.
pub struct TesseraClient {
    config: ClientConfig,
    key: Arc<dyn DeviceKey>,
    /// With a hardware device key and tokens for an API: a software key for this session only,
    /// never written anywhere, that signs the API calls (the device key signs at the token
    /// endpoint, vouching for it). See `tessera_jose::dpop`.
    session: Option<SigningKey>,
    http: reqwest::Client,
    tokens: Mutex<Option<Tokens>>,
    /// The latest `DPoP-Nonce` per server (origin).
    nonces: std::sync::Mutex<HashMap<String, String>>,
    /// An API's step-up challenge the next sign-in must meet.
    step_up: std::sync::Mutex<Option<StepUp>>,
}

impl std::fmt::Debug for TesseraClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TesseraClient")
            .field("config", &self.config)
            .field("key", &self.key.thumbprint())
            .finish_non_exhaustive()
    }
}

/// The result of an API call after the client did what it could.
pub type ApiResponse = Response;

impl TesseraClient {
    /// A client for `config` whose device key is `profile` in `keys`.
    ///
    /// # Errors
    /// [`ClientError::Keys`] or [`ClientError::Http`] (the HTTP client cannot be built).
    pub async fn new(config: ClientConfig, keys: &dyn KeyStore, profile: &str) -> Result<Self, ClientError> {
        let key = keys.load_or_create(profile)?;
        // A hardware signature costs milliseconds (tens on a real TPM): API calls are signed by
        // a session key the device key vouches for at every token request instead.
        let session = (matches!(key.protection(), KeyProtection::Hardware(_)) && config.resource.is_some())
            .then(|| SigningKey::generate(Algorithm::Es256))
            .transpose()
            .map_err(|e| ClientError::Keys(e.to_string()))?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(http)?;
        Ok(Self {
            config,
            key,
            session,
            http,
            tokens: Mutex::new(None),
            nonces: std::sync::Mutex::default(),
            step_up: std::sync::Mutex::default(),
        })
    }

    /// The settings.
    #[must_use]
    pub const fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The device key's JWK thumbprint (what DPoP-bound tokens name in `cnf.jkt`).
    #[must_use]
    pub fn thumbprint(&self) -> &Jkt {
        self.key.thumbprint()
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.config.issuer)
    }

    /// A DPoP proof for `method` `url` by `key`, with the server's latest nonce.
    fn proof(
        &self,
        key: &dyn Signer,
        method: &str,
        url: &str,
        options: ProofOptions<'_>,
    ) -> Result<String, ClientError> {
        let origin = origin(url);
        let nonce = self.nonces.lock().ok().and_then(|n| n.get(&origin).cloned());
        create_proof(
            key,
            method,
            url,
            ProofOptions {
                nonce: nonce.as_deref(),
                ..options
            },
            &SystemClock,
            &SystemRandom,
        )
        .map_err(|e| ClientError::Keys(e.to_string()))
    }

    fn remember_nonce(&self, url: &str, response: &Response) {
        if let Some(n) = response.headers().get("dpop-nonce").and_then(|v| v.to_str().ok())
            && let Ok(mut nonces) = self.nonces.lock()
        {
            nonces.insert(origin(url), n.to_owned());
        }
    }

    /// The URL that starts a sign-in: code flow with PKCE S256 (`challenge`), `cp1` declared,
    /// the code bound to this device's key (`dpop_jkt`), and, after an API's step-up
    /// challenge, the `acr_values` and `max_age` it named.
    #[must_use]
    pub fn authorization_url(&self, redirect_uri: &str, state: &str, challenge: &str) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.config.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", &self.config.scope)
            .append_pair("state", state)
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("claims", CP1)
            .append_pair("dpop_jkt", self.key.thumbprint().as_str());
        if let Some(r) = &self.config.resource {
            query.append_pair("resource", r);
        }
        let step_up = self.step_up.lock().map(|s| s.clone()).unwrap_or_default();
        if let Some(step_up) = step_up {
            if let Some(acr) = &step_up.acr_values {
                query.append_pair("acr_values", acr);
            }
            if let Some(max_age) = step_up.max_age {
                query.append_pair("max_age", &max_age.to_string());
            }
        }
        format!("{}?{}", self.endpoint("/authorize"), query.finish())
    }

    /// Signs in a native app the RFC 8252 way: a one-shot listener on a random 127.0.0.1 port
    /// is the redirect URI; `open` is given the URL to show in the user's browser. Waits up to
    /// five minutes for the browser to come back.
    ///
    /// # Errors
    /// [`ClientError::SignIn`] when the IdP sends an error or the state does not match;
    /// errors of [`TesseraClient::redeem`].
    pub async fn sign_in_loopback(&self, open: impl FnOnce(&str)) -> Result<(), ClientError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(http)?;
        let redirect_uri = format!(
            "http://127.0.0.1:{}/callback",
            listener.local_addr().map_err(http)?.port()
        );
        let (verifier, challenge) = pkce()?;
        let state = random(16)?;
        open(&self.authorization_url(&redirect_uri, &state, &challenge));
        let query = tokio::time::timeout(Duration::from_secs(300), login::one_redirect(&listener))
            .await
            .map_err(|_| ClientError::SignIn("the browser did not come back within five minutes".into()))??;
        let code = login::code_from(&query, &state)?;
        self.redeem(&code, &redirect_uri, &verifier).await
    }

    /// Signs in without a browser, filling in the IdP's own sign-in pages with `username`,
    /// `password` and, when asked, the one-time code `otp` gives. For tests, tools and the
    /// demo; apps people use should use [`TesseraClient::sign_in_loopback`].
    ///
    /// # Errors
    /// [`ClientError::SignIn`] for a wrong password or an unexpected page;
    /// [`ClientError::SignInRequired`]-like refusals from policy come back as
    /// [`ClientError::SignIn`] with the page's message.
    pub async fn sign_in_with_password(
        &self,
        username: &str,
        password: &str,
        otp: Option<&(dyn Fn() -> String + Sync)>,
    ) -> Result<(), ClientError> {
        let (verifier, challenge) = pkce()?;
        let state = random(16)?;
        let redirect_uri = self.config.redirect_uri.clone();
        let url = self.authorization_url(&redirect_uri, &state, &challenge);
        let query = login::Browser::new(&self.http, &self.config.issuer)
            .sign_in(&url, &redirect_uri, username, password, otp)
            .await?;
        let code = login::code_from(&query, &state)?;
        self.redeem(&code, &redirect_uri, &verifier).await
    }

    /// Plays the user's browser without one: opens `authorize_url` (as shown by
    /// [`TesseraClient::sign_in_loopback`]), fills in the sign-in pages, and returns the URL the
    /// IdP finally redirects to (starting with `redirect_prefix`), without following it. For
    /// tests and demos of the loopback flow.
    ///
    /// # Errors
    /// As [`TesseraClient::sign_in_with_password`].
    pub async fn play_browser(
        issuer: &str,
        authorize_url: &str,
        redirect_prefix: &str,
        username: &str,
        password: &str,
    ) -> Result<String, ClientError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(http)?;
        let (_, to) = login::Browser::new(&http, issuer)
            .follow_to(authorize_url, redirect_prefix, username, password, None)
            .await?;
        Ok(to)
    }

    /// Exchanges an authorization code (with its PKCE verifier) for tokens.
    ///
    /// # Errors
    /// [`ClientError::Refused`] with the IdP's OAuth error.
    pub async fn redeem(&self, code: &str, redirect_uri: &str, verifier: &str) -> Result<(), ClientError> {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
            ("client_id", &self.config.client_id),
        ];
        let body = self.token_request(&form).await?;
        // A new sign-in is what a step-up asked for: the API judges whether it was enough.
        if let Ok(mut step_up) = self.step_up.lock() {
            *step_up = None;
        }
        self.keep(&body).await
    }

    /// Refreshes now, passing `claims` (a claims challenge's JSON) when given.
    ///
    /// # Errors
    /// [`ClientError::SignInRequired`] when there is no session or the IdP refuses it
    /// (`invalid_grant`); [`ClientError::Refused`] for other errors.
    pub async fn refresh(&self, claims: Option<&str>) -> Result<(), ClientError> {
        let refresh = self
            .tokens
            .lock()
            .await
            .as_ref()
            .and_then(|t| t.refresh.clone())
            .ok_or_else(|| ClientError::SignInRequired {
                reason: "there is no session to refresh".into(),
            })?;
        // A claims challenge carries `nbf`; the CAE capability is declared with it.
        let claims = match claims {
            Some(c) => merge_cp1(c),
            None => CP1.to_owned(),
        };
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
            ("client_id", &self.config.client_id),
            ("claims", &claims),
        ];
        match self.token_request(&form).await {
            Ok(body) => self.keep(&body).await,
            Err(ClientError::Refused { error, description }) if error == "invalid_grant" => {
                *self.tokens.lock().await = None;
                Err(ClientError::SignInRequired { reason: description })
            }
            Err(e) => Err(e),
        }
    }

    /// The current refresh token, if any (for tools that must hand it over, and for showing
    /// that a copy of it is useless on another device).
    pub async fn refresh_token(&self) -> Option<String> {
        self.tokens.lock().await.as_ref().and_then(|t| t.refresh.clone())
    }

    /// A valid access token, refreshed first when it expires within a minute.
    ///
    /// # Errors
    /// As [`TesseraClient::refresh`].
    pub async fn access_token(&self) -> Result<String, ClientError> {
        let current = self.tokens.lock().await.clone();
        match current {
            Some(t) if t.expires_at > Instant::now() + EARLY => Ok(t.access),
            Some(_) => {
                self.refresh(None).await?;
                self.tokens
                    .lock()
                    .await
                    .as_ref()
                    .map(|t| t.access.clone())
                    .ok_or_else(|| ClientError::SignInRequired {
                        reason: "the refresh gave no token".into(),
                    })
            }
            None => Err(ClientError::SignInRequired {
                reason: "not signed in".into(),
            }),
        }
    }

    /// Registers this device with the IdP for the signed-in user (the request is signed by
    /// the device key). A key store that can attest (a TPM) first asks the IdP for a challenge
    /// and sends its evidence with the key. Returns the device as the IdP describes it.
    ///
    /// # Errors
    /// [`ClientError::Refused`] when the IdP refuses (too many devices, the key is taken, the
    /// evidence does not verify); [`ClientError::Keys`] when the hardware cannot attest, or
    /// when this client's tokens are for an API and bound to a session key (register with a
    /// client for the IdP itself).
    pub async fn register_device(&self, display_name: &str, platform: &str) -> Result<Value, ClientError> {
        if self.session.is_some() {
            // Its tokens are bound to the session key, which must never be what is registered.
            return Err(ClientError::Keys(
                "register the device with a client for the IdP itself (a ClientConfig without a resource)"
                    .into(),
            ));
        }
        let mut body = serde_json::json!({
            "display_name": display_name,
            "platform": platform,
            "key_protection": self.key.protection().as_str(),
        });
        if let Some(attester) = self.key.attester() {
            let start = attester.begin()?;
            let challenge = self.post_json("/devices/attestation", &start).await?;
            body["attestation"] = attester.finish(&challenge)?;
        }
        self.post_json("/devices", &body).await
    }

    /// The device key (for its thumbprint, protection and attestation).
    #[must_use]
    pub fn device_key(&self) -> &dyn DeviceKey {
        self.key.as_ref()
    }

    async fn post_json(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        let response = self.send(Method::POST, &self.endpoint(path), Some(body)).await?;
        let status = response.status();
        let json: Value = serde_json::from_slice(&response.bytes().await.map_err(http)?).unwrap_or_default();
        if status.is_success() {
            Ok(json)
        } else {
            Err(refused(&json, status))
        }
    }

    /// Calls an API (or the IdP) with the access token, DPoP-signed when the token is bound.
    /// An `insufficient_claims` challenge sends the client back to the IdP with the claims it
    /// names, then the call is made once more; a DPoP nonce challenge is answered the same way.
    /// An `insufficient_user_authentication` challenge needs the user: it comes back as
    /// [`ClientError::StepUpRequired`]. Any other answer is returned as it is.
    ///
    /// # Errors
    /// [`ClientError::SignInRequired`] when the IdP will not issue the token the API asks
    /// for; [`ClientError::StepUpRequired`] when the API wants the user to sign in again;
    /// [`ClientError::Http`] when the API cannot be reached.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<ApiResponse, ClientError> {
        self.send_with_headers(method, url, body, &header::HeaderMap::new())
            .await
    }

    /// As [`TesseraClient::send`], with `headers` added to the request.
    ///
    /// # Errors
    /// As [`TesseraClient::send`].
    pub async fn send_with_headers(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        headers: &header::HeaderMap,
    ) -> Result<ApiResponse, ClientError> {
        let mut challenged = false;
        let mut nonce_retry = false;
        loop {
            let token = self.access_token().await?;
            let (dpop, session_bound) = self
                .tokens
                .lock()
                .await
                .as_ref()
                .map_or((false, false), |t| (t.dpop, t.session_bound));
            let mut request = self.http.request(method.clone(), url).headers(headers.clone());
            if dpop {
                let key: &dyn Signer = match &self.session {
                    Some(session) if session_bound => session,
                    _ => self.key.as_ref(),
                };
                let options = ProofOptions {
                    access_token: Some(&token),
                    ..ProofOptions::default()
                };
                request = request
                    .header(header::AUTHORIZATION, format!("DPoP {token}"))
                    .header("dpop", self.proof(key, method.as_str(), url, options)?);
            } else {
                request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
            }
            if let Some(b) = body {
                request = request
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(b.to_string());
            }
            let response = request.send().await.map_err(http)?;
            self.remember_nonce(url, &response);
            if response.status() != StatusCode::UNAUTHORIZED {
                return Ok(response);
            }
            let challenge = response
                .headers()
                .get(header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .map(parse_challenge)
                .unwrap_or_default();
            match challenge.get("error").map(String::as_str) {
                Some("use_dpop_nonce") if !nonce_retry => nonce_retry = true,
                Some("insufficient_claims") if !challenged => {
                    challenged = true;
                    let claims = challenge
                        .get("claims")
                        .and_then(|c| decode_claims(c))
                        .ok_or_else(|| http("the API's claims challenge has no readable claims"))?;
                    self.refresh(Some(&claims)).await?;
                }
                Some("insufficient_user_authentication") => {
                    let step_up = StepUp {
                        acr_values: challenge.get("acr_values").cloned(),
                        max_age: challenge.get("max_age").and_then(|m| m.parse().ok()),
                    };
                    if let Ok(mut pending) = self.step_up.lock() {
                        *pending = Some(step_up.clone());
                    }
                    let body = response.bytes().await.unwrap_or_default();
                    let reason = serde_json::from_slice::<Value>(&body)
                        .ok()
                        .and_then(|b| b["error_description"].as_str().map(str::to_owned))
                        .unwrap_or_else(|| "a stronger or more recent sign-in".into());
                    return Err(ClientError::StepUpRequired {
                        acr_values: step_up.acr_values,
                        max_age: step_up.max_age,
                        reason,
                    });
                }
                _ => return Ok(response),
            }
        }
    }

    /// POSTs a token request with a DPoP proof, answering one `use_dpop_nonce` challenge.
    async fn token_request(&self, form: &[(&str, &str)]) -> Result<Value, ClientError> {
        let url = self.endpoint("/token");
        for _ in 0..2 {
            let options = ProofOptions {
                session_jkt: self.session.as_ref().map(|k| k.thumbprint().as_str()),
                ..ProofOptions::default()
            };
            let proof = self.proof(self.key.as_ref(), "POST", &url, options)?;
            let response = self
                .http
                .post(&url)
                .header("dpop", proof)
                .form(form)
                .send()
                .await
                .map_err(http)?;
            self.remember_nonce(&url, &response);
            let status = response.status();
            let json: Value = serde_json::from_slice(&response.bytes().await.map_err(http)?)
                .map_err(|e| http(format!("{url}: {e}")))?;
            if status.is_success() {
                return Ok(json);
            }
            if json["error"] != "use_dpop_nonce" {
                return Err(refused(&json, status));
            }
        }
        Err(http("the IdP kept asking for a new DPoP nonce"))
    }

    async fn keep(&self, body: &Value) -> Result<(), ClientError> {
        let access = body["access_token"]
            .as_str()
            .ok_or_else(|| http("the token response has no access_token"))?;
        let lifetime = Duration::from_secs(body["expires_in"].as_u64().unwrap_or(300));
        let mut tokens = self.tokens.lock().await;
        let refresh = body["refresh_token"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| tokens.as_ref().and_then(|t| t.refresh.clone()));
        let session_bound = self
            .session
            .as_ref()
            .is_some_and(|k| bound_jkt(access).as_deref() == Some(k.thumbprint().as_str()));
        *tokens = Some(Tokens {
            access: access.to_owned(),
            session_bound,
            dpop: body["token_type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("dpop")),
            expires_at: Instant::now() + lifetime,
            refresh,
        });
        Ok(())
    }
}

/// The `cnf.jkt` of a JWT access token (read, not verified: the client only needs to know
/// which of its keys the IdP bound it to).
fn bound_jkt(access_token: &str) -> Option<String> {
    let payload = b64::decode(access_token.split('.').nth(1)?).ok()?;
    let claims: Value = serde_json::from_slice(&payload).ok()?;
    claims["cnf"]["jkt"].as_str().map(str::to_owned)
}

fn refused(json: &Value, status: StatusCode) -> ClientError {
    ClientError::Refused {
        error: json["error"].as_str().unwrap_or(status.as_str()).to_owned(),
        description: json["error_description"].as_str().unwrap_or_default().to_owned(),
    }
}

/// `scheme://host:port` of a URL, the key for DPoP nonces.
fn origin(url: &str) -> String {
    url::Url::parse(url).map_or_else(|_| url.to_owned(), |u| u.origin().ascii_serialization())
}

fn random(bytes: usize) -> Result<String, ClientError> {
    let mut buf = vec![0u8; bytes];
    tessera_jose::Random::fill(&SystemRandom, &mut buf)
        .map_err(|_| ClientError::Keys("no randomness".into()))?;
    Ok(b64::encode(buf))
}

/// A PKCE verifier and its S256 challenge (RFC 7636).
fn pkce() -> Result<(String, String), ClientError> {
    let verifier = random(32)?;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    Ok((verifier, b64::encode(digest.as_ref())))
}

/// The parameters of a `WWW-Authenticate` challenge (`error`, `claims`, …), lower-cased names.
fn parse_challenge(value: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = value.split_once(' ').map_or("", |(_, r)| r);
    while let Some((name, after)) = rest.split_once('=') {
        let name = name.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (val, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            (&quoted[..end], quoted.get(end + 1..).unwrap_or(""))
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim(), &after[end..])
        };
        out.insert(name, val.to_owned());
        rest = next;
    }
    out
}

/// The JSON of a challenge's `claims`: standard base64 with padding (as Entra sends it) or
/// base64url.
fn decode_claims(encoded: &str) -> Option<String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
        .or_else(|| b64::decode(encoded.trim_end_matches('=')).ok())?;
    let text = String::from_utf8(bytes).ok()?;
    serde_json::from_str::<Value>(&text).ok()?;
    Some(text)
}

/// A claims challenge's JSON with the CAE capability declared too.
fn merge_cp1(claims: &str) -> String {
    let mut value: Value = serde_json::from_str(claims).unwrap_or_default();
    if !value.is_object() {
        value = Value::Object(serde_json::Map::new());
    }
    value["access_token"]["xms_cc"] = serde_json::json!({"values": ["cp1"]});
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_are_parsed() {
        let c = parse_challenge(
            r#"Bearer realm="api", authorization_uri="https://idp/authorize", error="insufficient_claims", claims="eyJhIjoxfQ==""#,
        );
        assert_eq!(c["error"], "insufficient_claims");
        assert_eq!(c["claims"], "eyJhIjoxfQ==");
        assert_eq!(c["authorization_uri"], "https://idp/authorize");
        let c = parse_challenge(r#"DPoP algs="ES256", error=use_dpop_nonce"#);
        assert_eq!(c["error"], "use_dpop_nonce");
        assert!(parse_challenge("Bearer").is_empty());
    }

    #[test]
    fn claims_decode_from_either_base64_and_keep_cp1() {
        let json = r#"{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}"#;
        use base64::Engine as _;
        let std = base64::engine::general_purpose::STANDARD.encode(json);
        let url = b64::encode(json);
        assert_eq!(decode_claims(&std).as_deref(), Some(json));
        assert_eq!(decode_claims(&url).as_deref(), Some(json));
        assert_eq!(decode_claims("!!"), None);
        assert_eq!(decode_claims(&b64::encode("not json")), None);
        let merged: Value = serde_json::from_str(&merge_cp1(json)).unwrap();
        assert_eq!(merged["access_token"]["nbf"]["value"], "1700000000");
        assert_eq!(merged["access_token"]["xms_cc"]["values"][0], "cp1");
    }
}
