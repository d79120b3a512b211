//! Resource-server SDK for APIs that accept Tessera tokens: a tower layer that validates JWT
//! access tokens and DPoP proofs, keeps revocation state fed by SSF, enforces network
//! location policy and answers with standard `WWW-Authenticate` challenges.
//!
//! [`Resource`] validates a request's access token (RFC 9068 `at+jwt`: signature by the
//! issuer's published keys, `typ`, allow-listed algorithm, `iss`, `aud`, expiry with leeway)
//! and, for a DPoP-bound token, its proof (RFC 9449 §7: the `DPoP` scheme, one proof, `htm`,
//! `htu`, `iat`, `jti` seen once, `ath`, and the proof key's thumbprint equal to `cnf.jkt`). A
//! bound token sent as Bearer is refused. [`ResourceLayer`] puts that in front of any tower
//! service and hands the [`Principal`] to handlers as an axum extractor.
//!
//! Where the rest is: `challenge` (the [`Challenge`] refusals and their `WWW-Authenticate`
//! values), `metadata` (the protected resource metadata of RFC 9728), `receiver` (SETs by push and poll), [`signals`] (the revocation state they move),
//! [`stream`] (subscribing to the IdP's transmitter), [`location`] (network-location policy
//! under CAE), `keys` (the issuer's JWKS, refetched on an unknown `kid`).
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

mod challenge;
mod client_token;
mod keys;
mod layer;
pub mod location;
mod metadata;
mod receiver;
pub mod signals;
pub mod stream;

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, Method, StatusCode, header};
use serde_json::Value;
use tessera_jose::dpop::{DpopConfig, DpopRequest, DpopVerifier, MemoryReplayCache};
use tessera_jose::jwt::{TokenKind, Validation, verify};
use tessera_jose::{Clock, Jkt, SystemClock};

pub use challenge::{Challenge, StepUpAsked};
pub use keys::IssuerKeys;
pub use layer::{ResourceLayer, ResourceService};
pub use metadata::WELL_KNOWN as METADATA_PATH;
pub use signals::Revocations;
pub use stream::{Delivery, StreamState, Subscription};

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
    /// This API's client id at the IdP: the `aud` of the Security Event Tokens it receives
    /// [default: `audience`].
    pub client_id: Option<String>,
    /// The user risk level (`LOW`, `MEDIUM`, `HIGH`) from which a `risk-level-change` signal
    /// revokes the user's tokens.
    pub revoke_at_risk: String,
    /// This API's client secret at the IdP: with it the SDK gets its own client-credentials
    /// tokens to read the location rules and to poll ([`Resource::own_authorization`]).
    pub client_secret: Option<String>,
    /// Proxies whose `X-Forwarded-For` is believed (see [`location::client_ip`]).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Refuse (403) every use from outside a token's policy locations, instead of sending the
    /// client back to the IdP with a challenge. Tokens can also ask for it (`location_strict`).
    pub strict_location: bool,
    /// How often the location rules are fetched again.
    pub location_refresh: Duration,
    /// The key this API signs its signals to the IdP with (registered in its application's
    /// JWK Set at the IdP); without one, nothing is reported.
    pub signal_key: Option<Arc<tessera_jose::SigningKey>>,
    /// The scopes this API's routes ask for, published in its metadata (RFC 9728
    /// `scopes_supported`); none published when empty.
    pub scopes_supported: Vec<String>,
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
            client_id: None,
            revoke_at_risk: "HIGH".into(),
            client_secret: None,
            trusted_proxies: Vec::new(),
            strict_location: false,
            location_refresh: Duration::from_secs(60),
            signal_key: None,
            scopes_supported: Vec::new(),
        }
    }
}

/// A configuration the SDK cannot work with.
#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
    /// The IdP could not be reached or answered with an error.
    #[error("the IdP: {0}")]
    Idp(String),
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
    pub claims: Arc<Value>,
}

impl Principal {
    /// Who acts for the subject, current actor first: for a token another API exchanged for
    /// this one (RFC 8693 §4.1, the nested `act` claims), that API and then any before it.
    /// Empty for a token the subject's own client obtained.
    #[must_use]
    pub fn actors(&self) -> Vec<&str> {
        let mut out = Vec::new();
        let mut act = &self.claims["act"];
        while let Some(sub) = act["sub"].as_str() {
            out.push(sub);
            act = &act["act"];
        }
        out
    }

    /// Whether the token grants `scope`.
    #[must_use]
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// Refuses a token without `scope` with `403` and RFC 6750's `insufficient_scope`
    /// challenge naming it (in the `DPoP` scheme for a DPoP-bound token).
    ///
    /// # Errors
    /// The [`Challenge`] to answer with.
    pub fn require_scope(&self, scope: &str) -> Result<(), Challenge> {
        if self.has_scope(scope) {
            return Ok(());
        }
        Err(Challenge {
            status: StatusCode::FORBIDDEN,
            scope: Some(scope.to_owned()),
            ..Challenge::new(
                self.jkt.is_some(),
                Some("insufficient_scope"),
                format!("this needs the {scope} scope"),
            )
        })
    }
}

/// How recently and how strongly a route wants the user to have signed in (RFC 9470): the
/// token's `acr` must be one of `acr_values` (when any are given) and its `auth_time` at most
/// `max_age` seconds old (when given). Tessera issues `acr` `pwd` (one factor) and `mfa` (two).
#[derive(Debug, Clone, Copy, Default)]
pub struct StepUp<'a> {
    /// Acceptable `acr` values; empty for any.
    pub acr_values: &'a [&'a str],
    /// The longest time since the user authenticated, seconds.
    pub max_age: Option<u64>,
}

impl Principal {
    /// The authentication context class the user reached (`acr`), if the token says.
    #[must_use]
    pub fn acr(&self) -> Option<&str> {
        self.claims["acr"].as_str()
    }

    /// When the user authenticated (`auth_time`, Unix seconds), if the token says.
    #[must_use]
    pub fn auth_time(&self) -> Option<i64> {
        self.claims["auth_time"].as_i64()
    }

    /// Refuses a token whose sign-in does not meet `step_up` with `401` and RFC 9470's
    /// `insufficient_user_authentication` challenge naming what would (a client then signs
    /// the user in again with those `acr_values` and `max_age`). A token that does not say how
    /// its user signed in (a client's own) meets no requirement.
    ///
    /// # Errors
    /// The [`Challenge`] to answer with.
    pub fn require_authentication(&self, step_up: &StepUp<'_>) -> Result<(), Challenge> {
        let now = tessera_jose::Clock::now(&SystemClock).unix_time().as_secs();
        self.require_authentication_at(step_up, now)
    }

    /// [`require_authentication`](Self::require_authentication) at the instant `now` (Unix
    /// seconds).
    ///
    /// # Errors
    /// The [`Challenge`] to answer with.
    pub fn require_authentication_at(&self, step_up: &StepUp<'_>, now: i64) -> Result<(), Challenge> {
        let class_met =
            step_up.acr_values.is_empty() || self.acr().is_some_and(|acr| step_up.acr_values.contains(&acr));
        let recent = step_up.max_age.is_none_or(|max| {
            self.auth_time()
                .is_some_and(|t| now.saturating_sub(t) <= i64::try_from(max).unwrap_or(i64::MAX))
        });
        if class_met && recent {
            return Ok(());
        }
        let description = match (class_met, recent) {
            (false, _) => format!(
                "this needs a sign-in of class {}; the token's is {}",
                step_up.acr_values.join(" or "),
                self.acr().unwrap_or("not stated")
            ),
            _ => format!(
                "this needs a sign-in within the last {} s",
                step_up.max_age.unwrap_or_default()
            ),
        };
        Err(Challenge {
            step_up: Some(Box::new(challenge::StepUpAsked {
                acr_values: (!step_up.acr_values.is_empty()).then(|| step_up.acr_values.join(" ")),
                max_age: step_up.max_age,
            })),
            ..Challenge::new(
                self.jkt.is_some(),
                Some("insufficient_user_authentication"),
                description,
            )
        })
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
    revocations: Revocations,
    received: MemoryReplayCache,
    verified: moka::sync::Cache<[u8; 32], Arc<Checked>>,
    stream: stream::StreamTracker,
    locations: location::Locations,
    client_token: client_token::ClientToken,
    http: reqwest::Client,
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
        let revocations = Revocations::with_risk_threshold(&config.revoke_at_risk);
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                keys,
                dpop,
                clock: Arc::new(SystemClock),
                revocations,
                received: MemoryReplayCache::default(),
                stream: stream::StreamTracker::default(),
                locations: location::Locations::default(),
                client_token: client_token::ClientToken::default(),
                http: reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .map_err(|e| ResourceError::Http(e.to_string()))?,
                verified: moka::sync::Cache::builder()
                    .max_capacity(VERIFIED_CAPACITY)
                    .time_to_live(VERIFIED_TTL)
                    .build(),
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

    /// Checks the credentials of a request whose peer address is unknown (location policy, if
    /// a token names one, then treats the client as outside).
    ///
    /// # Errors
    /// A [`Challenge`] to answer with.
    pub async fn authenticate(
        &self,
        method: &Method,
        path_and_query: &str,
        headers: &HeaderMap,
    ) -> Result<Principal, Challenge> {
        self.authenticate_from(method, path_and_query, headers, None)
            .await
    }

    /// Checks the credentials of a request from `peer` (the connection's address).
    ///
    /// # Errors
    /// A [`Challenge`] to answer with.
    pub async fn authenticate_from(
        &self,
        method: &Method,
        path_and_query: &str,
        headers: &HeaderMap,
        peer: Option<std::net::IpAddr>,
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
        // The signature is checked once per token; everything after (DPoP, revocation) on every
        // request.
        let key = sha256(token);
        let checked = match self.inner.verified.get(&key) {
            Some(c) if c.exp + i64::try_from(config.leeway).unwrap_or(0) > clock.now().unix_time().0 => c,
            _ => {
                let c = Arc::new(self.check_signature(token, &rules, dpop).await?);
                self.inner.verified.insert(key, c.clone());
                c
            }
        };
        let principal = &checked.principal;
        let claims = &principal.claims;
        match (&principal.jkt, dpop) {
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
        let (subject, sid, cae_capable) = (
            &principal.subject,
            principal.session_id.as_deref(),
            principal.cae_capable,
        );
        if let Some(nb) = self
            .inner
            .revocations
            .not_before(subject, sid, principal.device_id.as_deref())
            && checked.issued_ms <= nb
        {
            return Err(self.revoked(dpop, cae_capable, nb));
        }
        if let Some(policies) = claims["location_policies"].as_array().filter(|p| !p.is_empty()) {
            let ip = location::client_ip(peer, headers, &config.trusted_proxies);
            match self.inner.locations.check(policies, ip) {
                location::Verdict::Inside => {}
                location::Verdict::Unknown => {
                    return Err(Challenge {
                        status: StatusCode::SERVICE_UNAVAILABLE,
                        ..Challenge::new(
                            dpop,
                            None,
                            "this API has not yet read the IdP's location rules; try again shortly",
                        )
                    });
                }
                location::Verdict::Outside { policy, ip } => {
                    tracing::info!(subject = %subject, %policy, ip = ?ip, "a token used from outside its policy's locations");
                    if let Some(ip) = ip {
                        self.report_presented(subject, sid, ip);
                    }
                    let strict = config.strict_location || claims["location_strict"] == true;
                    return Err(self.outside_locations(dpop, cae_capable, strict));
                }
            }
        }
        Ok(principal.clone())
    }
}

/// What a token's signature check established, kept so each token is checked once: the
/// principal it makes (built once), and its times.
#[derive(Debug)]
struct Checked {
    principal: Principal,
    /// The first millisecond the token may have been issued at (see [`signals`]).
    issued_ms: i64,
    /// `exp`, seconds.
    exp: i64,
}

impl Checked {
    fn new(claims: Value, issued_ms: i64, exp: i64) -> Self {
        let text = |name: &str| claims[name].as_str().map(str::to_owned);
        let principal = Principal {
            subject: text("sub").unwrap_or_default(),
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
            jkt: claims["cnf"]["jkt"].as_str().and_then(|j| j.parse().ok()),
            cae_capable: claims["xms_cc"]
                .as_array()
                .is_some_and(|c| c.iter().any(|v| v == "cp1")),
            claims: Arc::new(claims),
        };
        Self {
            principal,
            issued_ms,
            exp,
        }
    }
}

/// SHA-256 of a text: the cache key of a token, the replay key of a SET's `jti`.
fn sha256(text: &str) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    let mut key = [0u8; 32];
    key.copy_from_slice(digest.as_ref());
    key
}

/// Tokens whose signature and claims were checked, by hash, at most this many.
const VERIFIED_CAPACITY: u64 = 100_000;
/// …and for at most this long (never past a token's own expiry: that is checked on each use).
const VERIFIED_TTL: Duration = Duration::from_secs(600);

impl Resource {
    /// Verifies a token's signature and claims, fetching the issuer's keys again once if the
    /// token names a key not among them.
    async fn check_signature(
        &self,
        token: &str,
        rules: &Validation,
        dpop: bool,
    ) -> Result<Checked, Challenge> {
        let invalid = |m: &str| Challenge::new(dpop, Some("invalid_token"), m);
        let clock = self.inner.clock.as_ref();
        let verified = self
            .inner
            .keys
            .check_with(
                |keys| verify(token, keys, rules, clock),
                // A key this API has not seen may be new at the IdP.
                |e| {
                    matches!(
                        e,
                        tessera_jose::jwt::JwtError::Jws(tessera_jose::jws::JwsError::UnknownKey(_))
                    )
                },
            )
            .await
            .map_err(|e| match e {
                None => invalid("the issuer's keys are not available"),
                Some(_) => invalid("the access token is not valid"),
            })?;
        Ok(Checked::new(
            verified.claims().unwrap_or(Value::Null),
            verified.registered.issued_at_earliest().map_or(0, |t| t.0),
            verified.registered.exp.map_or(0, |t| t.0),
        ))
    }

    /// The answer to a revoked token: a claims challenge for a CAE-capable client (RFC 6750
    /// `insufficient_claims` with `claims` asking for a token from `nb` on, base64 with padding
    /// as Entra sends it), `invalid_token` for the rest. `nb_ms` is milliseconds; the claim,
    /// like every `nbf`, is whole seconds.
    fn revoked(&self, dpop: bool, cae_capable: bool, nb_ms: i64) -> Challenge {
        if !cae_capable {
            return Challenge::new(dpop, Some("invalid_token"), "the access token has been revoked");
        }
        let nbf = nb_ms.div_euclid(1000);
        let wanted =
            serde_json::json!({"access_token": {"nbf": {"essential": true, "value": nbf.to_string()}}});
        // Standard base64 with padding, as Entra sends it.
        let claims = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, wanted.to_string());
        Challenge {
            claims: Some(Box::new((
                claims,
                format!("{}/authorize", self.inner.config.issuer),
            ))),
            ..Challenge::new(
                dpop,
                Some("insufficient_claims"),
                "the access token was revoked; get a new one with these claims",
            )
        }
    }

    /// The answer to a token used from where one of its policies would apply: `403` when
    /// strict; otherwise a claims challenge asking for a token from now (the IdP evaluates
    /// policy again from the client's address), or `invalid_token` for a client without CAE.
    fn outside_locations(&self, dpop: bool, cae_capable: bool, strict: bool) -> Challenge {
        const WHY: &str = "the request comes from outside the network locations its sign-in policy allows";
        if strict {
            return Challenge {
                status: StatusCode::FORBIDDEN,
                ..Challenge::new(dpop, Some("access_denied"), WHY)
            };
        }
        let now = self.inner.clock.now().as_millis();
        Challenge {
            description: format!("{WHY}; get a new token with these claims"),
            ..self.revoked(dpop, cae_capable, now)
        }
    }

    /// Tells the IdP, once per session and address every few minutes, that the session was
    /// used from `ip` (a CAEP `session-presented` SET pushed to its receiver). Best effort: a
    /// failure is logged.
    fn report_presented(&self, subject: &str, sid: Option<&str>, ip: std::net::IpAddr) {
        let Some(key) = self.inner.config.signal_key.clone() else {
            return;
        };
        if !self.inner.locations.should_report(sid.unwrap_or(subject), ip) {
            return;
        }
        let config = &self.inner.config;
        let subject_id = tessera_jose::SubjectId::Complex(tessera_jose::subject::ComplexSubject {
            user: Some(Box::new(tessera_jose::SubjectId::iss_sub(
                &config.issuer,
                subject,
            ))),
            session: sid.map(|s| Box::new(tessera_jose::SubjectId::opaque(s))),
            ..Default::default()
        });
        let now = self.inner.clock.now();
        let event = tessera_signals::SecurityEvent::SessionPresented {
            common: tessera_signals::Common {
                event_timestamp: Some(now.unix_time().0),
                initiating_entity: Some(tessera_signals::InitiatingEntity::Policy),
                ..Default::default()
            },
            session: tessera_signals::SessionDetails {
                ips: vec![ip.to_string()],
                ..Default::default()
            },
        };
        let set = tessera_jose::set::SecurityEventToken {
            iss: config
                .client_id
                .clone()
                .unwrap_or_else(|| config.audience.clone()),
            aud: tessera_jose::jwt::Audience::One(config.issuer.clone()),
            iat: now.unix_time(),
            jti: tessera_jose::random::random_id::<16>(&tessera_jose::random::SystemRandom)
                .unwrap_or_default(),
            sub_id: subject_id,
            events: event.to_set_event(),
            txn: None,
            toe: None,
            toe_ms: None,
        };
        let signed = match set.sign(&key) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(%e, "cannot sign a signal to the IdP");
                return;
            }
        };
        let url = format!("{}/ssf/receive", config.issuer);
        let http = self.inner.http.clone();
        tokio::spawn(async move {
            let answer = http
                .post(&url)
                .header(header::CONTENT_TYPE, "application/secevent+jwt")
                .body(signed)
                .send()
                .await;
            match answer {
                Ok(r) if r.status() == StatusCode::ACCEPTED => {
                    tracing::debug!(%url, "session-presented signal accepted");
                }
                Ok(r) => {
                    let status = r.status();
                    let body = r.text().await.unwrap_or_default();
                    tracing::warn!(%status, %body, "the IdP refused a session-presented signal");
                }
                Err(e) => tracing::warn!(%e, "cannot send a signal to the IdP"),
            }
        });
    }

    /// Fetches the IdP's location rules now (`GET {issuer}/policy/locations`, with a
    /// client-credentials token from [`ResourceConfig::client_secret`]). Returns how many
    /// policies they hold.
    ///
    /// # Errors
    /// [`ResourceError::Idp`] when there is no secret, the IdP cannot be reached, refuses, or
    /// sends rules that do not compile (the rules held before are kept).
    pub async fn sync_locations(&self) -> Result<usize, ResourceError> {
        let config = &self.inner.config;
        let authorization = self.own_authorization().await?;
        let url = format!("{}/policy/locations", config.issuer);
        let answer = self
            .inner
            .http
            .get(&url)
            .header(header::AUTHORIZATION, authorization)
            .send()
            .await
            .map_err(|e| ResourceError::Idp(format!("{url}: {e}")))?;
        if !answer.status().is_success() {
            let status = answer.status();
            if status == StatusCode::UNAUTHORIZED {
                self.inner.client_token.forget().await;
            }
            return Err(ResourceError::Idp(format!("{url} answered {status}")));
        }
        let bytes = answer
            .bytes()
            .await
            .map_err(|e| ResourceError::Idp(format!("{url}: {e}")))?;
        let rules: tessera_policy::LocationRules =
            serde_json::from_slice(&bytes).map_err(|e| ResourceError::Idp(format!("{url}: {e}")))?;
        self.inner.locations.load(&rules).map_err(ResourceError::Idp)
    }

    /// Keeps the location rules current until the task is dropped or aborted: fetched now,
    /// every [`ResourceConfig::location_refresh`], and soon after a token names a policy the
    /// API does not know or a `token-claims-change` signal arrives (at most every 5 seconds).
    /// Failures are retried every 5 seconds while no rules are held.
    pub fn spawn_location_sync(&self) -> tokio::task::JoinHandle<()> {
        let resource = self.clone();
        tokio::spawn(async move {
            let period = resource.inner.config.location_refresh;
            loop {
                let wait = match resource.sync_locations().await {
                    Ok(n) => {
                        tracing::debug!(policies = n, "location rules fetched");
                        period
                    }
                    Err(e) => {
                        tracing::warn!(%e, "cannot fetch the location rules");
                        if resource.inner.locations.loaded() {
                            period
                        } else {
                            MIN_LOCATION_FETCH
                        }
                    }
                };
                tokio::time::sleep(MIN_LOCATION_FETCH.min(wait)).await;
                let rest = wait.saturating_sub(MIN_LOCATION_FETCH);
                let _ = tokio::time::timeout(rest, resource.inner.locations.refetch.notified()).await;
            }
        })
    }

    /// The revocation state the IdP's signals feed.
    #[must_use]
    pub fn revocations(&self) -> &Revocations {
        &self.inner.revocations
    }

    /// This API's own access token at the IdP, as an `Authorization` value (`Bearer …`):
    /// client credentials with [`ResourceConfig::client_secret`], kept until a minute before
    /// it expires. For calls such as [`Resource::subscribe`].
    ///
    /// # Errors
    /// [`ResourceError::Idp`] without a secret, or when the IdP refuses or cannot be reached.
    pub async fn own_authorization(&self) -> Result<String, ResourceError> {
        self.inner
            .client_token
            .authorization(&self.inner.http, &self.inner.config)
            .await
            .map_err(ResourceError::Idp)
    }
}

/// The shortest time between two fetches of the location rules.
const MIN_LOCATION_FETCH: Duration = Duration::from_secs(5);

/// How long fetched keys are trusted before they are fetched again (they are kept, and used,
/// when the IdP cannot be reached).
pub const KEYS_REFRESH: Duration = Duration::from_secs(300);
