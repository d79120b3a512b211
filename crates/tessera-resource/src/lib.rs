//! Resource-server SDK for APIs that accept Tessera tokens: a tower layer that validates JWT
//! access tokens and DPoP proofs, keeps revocation state fed by SSF, enforces network
//! location policy and answers with standard `WWW-Authenticate` challenges.
//!
//! Built so far: [`Resource`] validates a request's access token (RFC 9068 `at+jwt`: signature
//! by the issuer's published keys, `typ`, allow-listed algorithm, `iss`, `aud`, expiry with
//! leeway) and, for a DPoP-bound token, its proof (RFC 9449 §7: the `DPoP` scheme, one proof,
//! `htm`, `htu`, `iat`, `jti` seen once, `ath`, and the proof key's thumbprint equal to
//! `cnf.jkt`). A bound token sent as Bearer is refused. [`ResourceLayer`] puts that in front
//! of any tower service and hands the [`Principal`] to handlers as an axum extractor.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tessera_resource::ResourceError> {
//! use axum::{Router, routing::get};
//! use tessera_resource::{Principal, Resource, ResourceConfig, ResourceLayer};
//!
//! let resource = Resource::new(ResourceConfig::new("https://idp.example", "https://mail.example"))?;
//! let app: Router = Router::new()
//!     .route("/inbox", get(|p: Principal| async move { format!("hello {}", p.subject) }))
//!     .layer(ResourceLayer::new(resource));
//! # Ok(()) }
//! ```

mod keys;
mod layer;

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tessera_jose::dpop::{DpopConfig, DpopRequest, DpopVerifier, MemoryReplayCache};
use tessera_jose::jwt::{TokenKind, Validation, verify};
use tessera_jose::{Clock, Jkt, SystemClock};

pub use keys::IssuerKeys;
pub use layer::{ResourceLayer, ResourceService};

/// What an API accepts.
#[derive(Debug, Clone)]
pub struct ResourceConfig {
    /// The IdP's issuer (its tokens' `iss`).
    pub issuer: String,
    /// This API's identifier: tokens must carry it in `aud`.
    pub audience: String,
    /// Where the IdP's keys are [default: `{issuer}/jwks`].
    pub jwks_uri: Option<String>,
    /// This API's own base URL, as clients address it (DPoP `htu`) [default: from the
    /// request's `Host`, over `https`].
    pub public_url: Option<String>,
    /// Clock-skew tolerance for `exp`/`nbf`, seconds.
    pub leeway: u64,
    /// How old a DPoP proof may be, seconds.
    pub dpop_max_age: u64,
}

impl ResourceConfig {
    /// Settings for tokens from `issuer` meant for `audience`, with defaults for the rest.
    #[must_use]
    pub fn new(issuer: &str, audience: &str) -> Self {
        Self {
            issuer: issuer.trim_end_matches('/').to_owned(),
            audience: audience.to_owned(),
            jwks_uri: None,
            public_url: None,
            leeway: 30,
            dpop_max_age: 60,
        }
    }
}

/// A configuration the SDK cannot work with.
#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
}

/// The caller of a request that passed: who, through which client, with what.
#[derive(Debug, Clone)]
pub struct Principal {
    /// `sub`: the user, or the client itself for client credentials.
    pub subject: String,
    /// `client_id`.
    pub client_id: String,
    /// The granted scopes.
    pub scopes: Vec<String>,
    /// The device the token was issued to, under token protection.
    pub device_id: Option<String>,
    /// The sign-in session, for a user's token.
    pub session_id: Option<String>,
    /// `cnf.jkt` of a DPoP-bound token (the proof was checked against it).
    pub jkt: Option<Jkt>,
    /// Whether the client declared the CAE capability (`xms_cc` holds `cp1`).
    pub cae_capable: bool,
    /// Every claim of the token.
    pub claims: Value,
}

impl Principal {
    /// Whether the token grants `scope`.
    #[must_use]
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// A refusal, with the `WWW-Authenticate` challenge RFC 6750 / RFC 9449 give for it.
#[derive(Debug, Clone)]
pub struct Challenge {
    /// 401, or 403 for `insufficient_scope`.
    pub status: StatusCode,
    /// `DPoP` or `Bearer`.
    pub dpop: bool,
    /// `invalid_token`, `invalid_request`, `invalid_dpop_proof`, …; none when no credentials
    /// came at all.
    pub error: Option<&'static str>,
    /// For people (and the log); not sent in the header.
    pub description: String,
}

impl Challenge {
    fn new(dpop: bool, error: Option<&'static str>, description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            dpop,
            error,
            description: description.into(),
        }
    }

    /// The `WWW-Authenticate` value.
    #[must_use]
    pub fn header_value(&self) -> String {
        let mut value = format!("{} realm=\"api\"", if self.dpop { "DPoP" } else { "Bearer" });
        if let Some(e) = self.error {
            value.push_str(&format!(", error=\"{e}\""));
        }
        if self.dpop {
            value.push_str(", algs=\"ES256 EdDSA\"");
        }
        value
    }
}

impl IntoResponse for Challenge {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            axum::Json(serde_json::json!({
                "error": self.error.unwrap_or("invalid_token"),
                "error_description": self.description,
            })),
        )
            .into_response();
        if let Ok(v) = HeaderValue::from_str(&self.header_value()) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        response
    }
}

/// Checks access tokens and DPoP proofs for one API.
#[derive(Clone)]
pub struct Resource {
    inner: Arc<Inner>,
}

struct Inner {
    config: ResourceConfig,
    keys: IssuerKeys,
    dpop: DpopVerifier<MemoryReplayCache>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resource")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Resource {
    /// A resource accepting what `config` says, with the system clock.
    ///
    /// # Errors
    /// [`ResourceError`] when the HTTP client for fetching keys cannot be built.
    pub fn new(config: ResourceConfig) -> Result<Self, ResourceError> {
        let jwks_uri = config
            .jwks_uri
            .clone()
            .unwrap_or_else(|| format!("{}/jwks", config.issuer));
        let keys = IssuerKeys::new(&jwks_uri)?;
        let dpop = DpopVerifier::new(
            DpopConfig {
                max_age: config.dpop_max_age,
                ..DpopConfig::default()
            },
            MemoryReplayCache::default(),
        );
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                keys,
                dpop,
                clock: Arc::new(SystemClock),
            }),
        })
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &ResourceConfig {
        &self.inner.config
    }

    /// The absolute URL of a request, as its DPoP proof must name it.
    fn request_url(&self, headers: &HeaderMap, path_and_query: &str) -> String {
        let path = path_and_query.split(['?', '#']).next().unwrap_or("/");
        match &self.inner.config.public_url {
            Some(base) => format!("{}{path}", base.trim_end_matches('/')),
            None => {
                let host = headers
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or("localhost");
                format!("https://{host}{path}")
            }
        }
    }

    /// Checks the credentials of a request.
    ///
    /// # Errors
    /// A [`Challenge`] to answer with.
    pub async fn authenticate(
        &self,
        method: &Method,
        path_and_query: &str,
        headers: &HeaderMap,
    ) -> Result<Principal, Challenge> {
        let authorization = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Challenge::new(false, None, "an access token is required"))?;
        let (scheme, token) = authorization.split_once(' ').unwrap_or((authorization, ""));
        let token = token.trim();
        let dpop = if scheme.eq_ignore_ascii_case("dpop") {
            true
        } else if scheme.eq_ignore_ascii_case("bearer") {
            false
        } else {
            return Err(Challenge::new(
                false,
                Some("invalid_request"),
                "use the Bearer or DPoP scheme",
            ));
        };
        let invalid = |m: &str| Challenge::new(dpop, Some("invalid_token"), m);
        let config = &self.inner.config;
        let mut rules = Validation::new(TokenKind::AccessToken, &config.issuer, &config.audience);
        rules.leeway = config.leeway;
        let clock = self.inner.clock.as_ref();
        let mut verified = None;
        for refresh in [false, true] {
            let keys = self.inner.keys.get(refresh).await;
            let Some(keys) = keys else {
                return Err(invalid("the issuer's keys are not available"));
            };
            match verify(token, &keys, &rules, clock) {
                Ok(v) => {
                    verified = Some(v);
                    break;
                }
                // A key this API has not seen may be new at the IdP: fetch once more.
                Err(tessera_jose::jwt::JwtError::Jws(tessera_jose::jws::JwsError::UnknownKey(_)))
                    if !refresh => {}
                Err(_) => return Err(invalid("the access token is not valid")),
            }
        }
        let Some(verified) = verified else {
            return Err(invalid("the access token is not valid"));
        };
        let claims: Value = verified.claims().unwrap_or(Value::Null);
        let bound: Option<Jkt> = claims["cnf"]["jkt"].as_str().and_then(|j| j.parse().ok());
        match (&bound, dpop) {
            (Some(jkt), true) => {
                let proofs: Vec<&str> = headers
                    .get_all("dpop")
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .collect();
                let url = self.request_url(headers, path_and_query);
                let request = DpopRequest {
                    proofs: &proofs,
                    method: method.as_str(),
                    uri: &url,
                    access_token: Some(token),
                    bound_jkt: Some(jkt),
                    nonce: None,
                };
                self.inner
                    .dpop
                    .verify(&request, clock)
                    .map_err(|e| Challenge::new(true, Some(e.error_code()), e.to_string()))?;
            }
            (Some(_), false) => {
                return Err(Challenge::new(
                    true,
                    Some("invalid_token"),
                    "this token is DPoP-bound; present it with the DPoP scheme and a proof",
                ));
            }
            (None, true) => return Err(invalid("this token is not DPoP-bound; use the Bearer scheme")),
            (None, false) => {}
        }
        let text = |name: &str| claims[name].as_str().map(str::to_owned);
        Ok(Principal {
            subject: verified.registered.sub.clone().unwrap_or_default(),
            client_id: text("client_id").unwrap_or_default(),
            scopes: claims["scope"]
                .as_str()
                .map(|s| {
                    s.split(' ')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            device_id: text("device_id"),
            session_id: text("sid"),
            jkt: bound,
            cae_capable: claims["xms_cc"]
                .as_array()
                .is_some_and(|c| c.iter().any(|v| v == "cp1")),
            claims,
        })
    }
}

/// How long fetched keys are trusted before they are fetched again (they are kept, and used,
/// when the IdP cannot be reached).
pub const KEYS_REFRESH: Duration = Duration::from_secs(300);
