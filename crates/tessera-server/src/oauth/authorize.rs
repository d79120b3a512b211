//! The authorization request of the authorization-code flow (RFC 6749 §4.1) and the code it
//! ends in: PKCE S256 only (RFC 7636), exact redirect-URI matching, `iss` in every response
//! (RFC 9207), OpenID Connect's `nonce`, `prompt`, `max_age`, `claims` and `login_hint`, and
//! `dpop_jkt` (RFC 9449 §10). The parameters come in the query, as a signed request object
//! (RFC 9101, [`super::request_object`]) or by reference to a pushed request (RFC 9126,
//! [`super::par`]); from either of the last two, the sign-in pages carry only the reference, and
//! the code uses it up.
//!
//! Until the client and redirect URI are known to be good, a refusal is for the user to read;
//! after that it goes back to the client (RFC 6749 §4.1.2.1) ([`Refusal`]). The browser's side,
//! `GET /authorize` with the sign-in pages, Conditional Access and the MFA step, is the `web`
//! module's `authorize`; it asks here for the code.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use tessera_jose::b64;
use tessera_store::{Application, NewCode, StoreError};

use crate::state::AppState;

/// Longest query string accepted.
const MAX_QUERY: usize = 8 * 1024;
/// How long a code may wait to be redeemed.
const CODE_SECONDS: i64 = 60;
/// Scopes every client may ask for, on top of its registered ones.
pub const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// Authorization request parameters, each present once with a non-empty value.
pub type Params = HashMap<String, String>;

/// How the parameters arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// In the query, in the clear.
    Query,
    /// Pushed to `/par` by the authenticated client (RFC 9126).
    Pushed,
    /// In a request object signed by the client (RFC 9101).
    RequestObject,
}

/// A request kept by reference between the sign-in pages (a pushed request, or a request
/// object once verified): one code uses it up.
#[derive(Debug, Clone)]
pub struct Kept {
    /// SHA-256 of the reference.
    pub hash: Vec<u8>,
    /// When it was made: a sign-in after this satisfies its `prompt=login`.
    pub since: tessera_store::Timestamp,
}

/// `acr` of a sign-in with one factor (a password).
pub const ACR_PASSWORD: &str = "pwd";
/// `acr` of a sign-in with two or more (a password and a one-time code, or a passkey).
pub const ACR_MFA: &str = "mfa";
/// The `acr` values Tessera issues (metadata `acr_values_supported`). A client's `acr_values`
/// need no handling of their own: a user with a second factor is always asked for it, so `mfa`
/// is reached whenever the user can reach it, and `acr_values` are voluntary (OpenID Connect
/// Core §3.1.2.1), so a user without one signs in at `pwd` and the API decides.
pub const ACR_VALUES: [&str; 2] = [ACR_PASSWORD, ACR_MFA];

/// A validated authorization request.
#[derive(Debug)]
pub struct AuthRequest {
    /// The client.
    pub app: Application,
    /// Where to send the response (one of the client's registered URIs, exactly).
    pub redirect_uri: String,
    /// The client's `state`, returned verbatim.
    pub state: Option<String>,
    /// What is granted.
    pub grant: CodeGrant,
    /// `prompt=none`: never show a page.
    pub prompt_none: bool,
    /// `prompt=login`: authenticate again.
    pub prompt_login: bool,
    /// `max_age`, seconds.
    pub max_age: Option<i64>,
    /// `login_hint`.
    pub login_hint: Option<String>,
    /// The query the sign-in pages carry back to `/authorize`: the original one, or the
    /// reference to a kept request.
    pub query: String,
    /// The kept request this one is, if any.
    pub kept: Option<Kept>,
}

/// What an authorization code stands for; stored with the code and, from it, with the session.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct CodeGrant {
    /// The redirect URI the code was sent to.
    pub redirect_uri: String,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// The OpenID Connect nonce.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The PKCE challenge (S256).
    #[serde(default)]
    pub code_challenge: String,
    /// The DPoP key the code is bound to (RFC 9449 §10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<String>,
    /// The resource (RFC 8707) the tokens are for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The client declared the CAE capability `cp1`.
    #[serde(default)]
    pub cp1: bool,
    /// When the user authenticated (seconds).
    #[serde(default)]
    pub auth_time: i64,
    /// When the user authenticated, to the millisecond.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_in: Option<tessera_store::Timestamp>,
    /// How (RFC 8176).
    #[serde(default)]
    pub amr: Vec<String>,
    /// The browser session.
    #[serde(default)]
    pub browser_sid: String,
    /// How the sign-in came from another machine, when it did (the device code flow): where
    /// the device asked from and where the user approved. Kept with the session, so its
    /// refreshes are known for what they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<tessera_directory::access::Transfer>,
}

impl CodeGrant {
    /// Whether `scope` was granted.
    #[must_use]
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.split(' ').any(|s| s == scope)
    }

    /// Whether a second factor was used.
    #[must_use]
    pub fn mfa(&self) -> bool {
        self.amr.iter().any(|m| m == "mfa")
    }

    /// The authentication context class reached (`acr`): [`ACR_MFA`] with a second factor,
    /// [`ACR_PASSWORD`] with one.
    #[must_use]
    pub fn acr(&self) -> &'static str {
        if self.mfa() { ACR_MFA } else { ACR_PASSWORD }
    }
}

/// Why an authorization request was refused.
#[derive(Debug)]
pub enum Refusal {
    /// The client or redirect URI cannot be trusted: tell the user, not the client.
    Page {
        /// What went wrong, for the user.
        message: String,
    },
    /// Tell the client, at its redirect URI.
    Redirect {
        /// The redirect URI.
        redirect_uri: String,
        /// The client's state.
        state: Option<String>,
        /// The OAuth error code.
        error: &'static str,
        /// What was wrong.
        description: String,
    },
}

impl AuthRequest {
    /// Parses and validates the query of `GET /authorize`: the parameters themselves, a
    /// request object (`request`), or a pushed request (`request_uri`).
    ///
    /// # Errors
    /// A [`Refusal`] saying where the error goes.
    pub async fn parse(state: &AppState, query: &str) -> Result<Self, Refusal> {
        if query.len() > MAX_QUERY {
            return Err(page("The sign-in request is too long."));
        }
        let mut params = Params::new();
        let mut repeated = None;
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            if v.is_empty() {
                continue;
            }
            if params.insert(k.clone().into_owned(), v.into_owned()).is_some() {
                repeated = Some(k.into_owned());
            }
        }
        let get = |k: &str| params.get(k).map(String::as_str);
        let Some(client_id) = get("client_id") else {
            return Err(page(
                "The application did not say who it is (client_id is missing).",
            ));
        };
        if matches!(
            repeated.as_deref(),
            Some("client_id" | "redirect_uri" | "request" | "request_uri")
        ) {
            return Err(page(
                "The sign-in request repeats client_id, redirect_uri, request or request_uri.",
            ));
        }
        let app = match state.store.application(client_id).await {
            Ok(app) => app,
            Err(StoreError::NotFound(_)) => return Err(page("The application is not registered here.")),
            Err(e) => {
                tracing::error!(%e, "store failed during authorize");
                return Err(page("The sign-in service is unavailable. Try again shortly."));
            }
        };
        // RFC 9101 §6.3 and RFC 9126 §4: with a request object or a pushed request, only its
        // parameters count; the query's others are ignored.
        match (get("request"), get("request_uri")) {
            (Some(_), Some(_)) => Err(page(
                "The sign-in request has both request and request_uri; it may have only one.",
            )),
            (None, Some(uri)) => {
                let (pushed, kept) = super::par::open(state, &app, uri).await?;
                let carried = super::par::reference_query(&app.id, uri);
                Self::from_params(state, app, &pushed, Channel::Pushed).map(|r| r.carried(carried, kept))
            }
            (Some(jwt), None) => {
                let object = super::request_object::verify(state, &app, jwt).map_err(|reason| {
                    Refusal::Page {
                        message: format!(
                            "The application's signed sign-in request was refused (invalid_request_object): {reason}."
                        ),
                    }
                })?;
                let request = Self::from_params(state, app, &object, Channel::RequestObject)?;
                // Kept by reference, so the sign-in pages need not carry the object.
                let (uri, kept) = super::par::keep(state, &request.app.id, &object)
                    .await
                    .map_err(|_| page("The sign-in service is unavailable. Try again shortly."))?;
                let carried = super::par::reference_query(&request.app.id, &uri);
                Ok(request.carried(carried, kept))
            }
            (None, None) => {
                if let Some(name) = repeated {
                    return Err(Self::refuse_repeated(&app, &params, &name));
                }
                Self::from_params(state, app, &params, Channel::Query).map(|mut r| {
                    r.query = query.to_owned();
                    r
                })
            }
        }
    }

    /// This request, carried between pages by `query` and used up by its code.
    fn carried(mut self, query: String, kept: Kept) -> Self {
        self.query = query;
        self.kept = Some(kept);
        self
    }

    /// A repeated parameter (other than the client's identity and redirect URI) goes back to
    /// the client when its redirect URI is good.
    fn refuse_repeated(app: &Application, params: &Params, name: &str) -> Refusal {
        match params.get("redirect_uri") {
            Some(uri) if app.redirect_uris.iter().any(|r| redirect_matches(r, uri)) => Refusal::Redirect {
                redirect_uri: uri.clone(),
                state: params.get("state").filter(|_| name != "state").cloned(),
                error: "invalid_request",
                description: format!("parameter {name} is repeated"),
            },
            _ => page("The sign-in request repeats a parameter."),
        }
    }

    /// Validates the parameters of an authorization request from `app`, which arrived by
    /// `channel`. The query the sign-in pages carry is left for the caller to set.
    ///
    /// # Errors
    /// A [`Refusal`] saying where the error goes.
    pub fn from_params(
        state: &AppState,
        app: Application,
        params: &Params,
        channel: Channel,
    ) -> Result<Self, Refusal> {
        let get = |k: &str| params.get(k).map(String::as_str);
        let Some(redirect_uri) = get("redirect_uri") else {
            return Err(page(
                "The application did not say where to return (redirect_uri is missing).",
            ));
        };
        if !app
            .redirect_uris
            .iter()
            .any(|r| redirect_matches(r, redirect_uri))
        {
            return Err(page(
                "The application asked to return to an address it has not registered.",
            ));
        }
        let client_state = get("state").map(str::to_owned);
        let fail = |error: &'static str, description: &str| Refusal::Redirect {
            redirect_uri: redirect_uri.to_owned(),
            state: client_state.clone(),
            error,
            description: description.to_owned(),
        };
        let must_push = app.require_pushed_authorization_requests
            || state.config.authorization.require_pushed_authorization_requests;
        if must_push && channel != Channel::Pushed {
            return Err(fail(
                "invalid_request",
                "this client must push its authorization requests to the pushed authorization request endpoint (RFC 9126)",
            ));
        }
        match get("response_type") {
            Some("code") => {}
            None => return Err(fail("invalid_request", "response_type is missing")),
            Some(_) => {
                return Err(fail(
                    "unsupported_response_type",
                    "only response_type=code is supported",
                ));
            }
        }
        if get("response_mode").is_some_and(|m| m != "query") {
            return Err(fail("invalid_request", "only response_mode=query is supported"));
        }
        if !app.grant_types.iter().any(|g| g == "authorization_code") {
            return Err(fail(
                "unauthorized_client",
                "this client may not use the authorization code flow",
            ));
        }
        let code_challenge = get("code_challenge")
            .ok_or_else(|| fail("invalid_request", "code_challenge is required (PKCE with S256)"))?;
        match get("code_challenge_method") {
            Some("S256") => {}
            Some("plain") | None => {
                return Err(fail("invalid_request", "code_challenge_method must be S256"));
            }
            Some(_) => return Err(fail("invalid_request", "unsupported code_challenge_method")),
        }
        // base64url of a SHA-256 digest: exactly 43 characters.
        if code_challenge.len() != 43 || b64::decode(code_challenge).is_err() {
            return Err(fail(
                "invalid_request",
                "code_challenge is not a base64url SHA-256 digest",
            ));
        }
        let mut allowed = app.scopes.clone();
        allowed.extend(OIDC_SCOPES.iter().map(|s| (*s).to_owned()));
        let scope = super::client_credentials::granted_scopes(&allowed, get("scope"))
            .map_err(|_| fail("invalid_scope", "the client may not request one of these scopes"))?;
        let (mut prompt_none, mut prompt_login) = (false, false);
        if let Some(prompt) = get("prompt") {
            for p in prompt.split(' ').filter(|p| !p.is_empty()) {
                match p {
                    "none" => prompt_none = true,
                    "login" => prompt_login = true,
                    "consent" | "select_account" => {}
                    _ => return Err(fail("invalid_request", "unknown prompt value")),
                }
            }
            if prompt_none && prompt.split(' ').filter(|p| !p.is_empty()).count() > 1 {
                return Err(fail(
                    "invalid_request",
                    "prompt=none cannot be combined with other values",
                ));
            }
        }
        let max_age = match get("max_age") {
            None => None,
            Some(v) => Some(
                v.parse::<u32>()
                    .map_err(|_| fail("invalid_request", "max_age must be a non-negative integer"))?,
            ),
        };
        let cp1 = match get("claims") {
            None => false,
            Some(c) => parse_claims(c).map_err(|m| fail("invalid_request", m))?,
        };
        let dpop_jkt = match get("dpop_jkt") {
            None => None,
            Some(j) if j.len() == 43 && b64::decode(j).is_ok() => Some(j.to_owned()),
            Some(_) => {
                return Err(fail(
                    "invalid_request",
                    "dpop_jkt is not a JWK SHA-256 thumbprint",
                ));
            }
        };
        let resource = match get("resource") {
            None => None,
            Some(r) => Some(super::client_credentials::check_resource(r).map_err(|_| {
                fail(
                    "invalid_target",
                    "resource must be an absolute URI without a fragment",
                )
            })?),
        };
        Ok(Self {
            redirect_uri: redirect_uri.to_owned(),
            state: client_state.clone(),
            grant: CodeGrant {
                redirect_uri: redirect_uri.to_owned(),
                scope,
                nonce: get("nonce").map(str::to_owned),
                code_challenge: code_challenge.to_owned(),
                dpop_jkt,
                resource,
                cp1: cp1 || app.cae_capable,
                ..CodeGrant::default()
            },
            prompt_none,
            prompt_login,
            max_age: max_age.map(i64::from),
            login_hint: get("login_hint").map(str::to_owned),
            query: String::new(),
            kept: None,
            app,
        })
    }
}

/// A refusal for the user's eyes.
fn page(message: &str) -> Refusal {
    Refusal::Page {
        message: message.to_owned(),
    }
}

/// Reads the `claims` request parameter (OIDC Core §5.5): a JSON object. Returns whether the
/// client declared the CAE capability `cp1` (`access_token.xms_cc.values`).
///
/// # Errors
/// A description when it is not a JSON object.
pub fn parse_claims(claims: &str) -> Result<bool, &'static str> {
    let value: serde_json::Value =
        serde_json::from_str(claims).map_err(|_| "claims must be a JSON object")?;
    if !value.is_object() {
        return Err("claims must be a JSON object");
    }
    let values = &value["access_token"]["xms_cc"]["values"];
    Ok(values
        .as_array()
        .is_some_and(|v| v.iter().any(|c| c.as_str() == Some("cp1"))))
}

/// The authorization response location: `redirect_uri` with the parameters added to its query.
#[must_use]
pub fn response_location(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return redirect_uri.to_owned();
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    url.into()
}

/// How the user authenticated, as the code remembers it (from the browser session).
#[derive(Debug)]
pub struct Authenticated<'a> {
    /// When, in seconds (the OIDC `auth_time`).
    pub auth_time: i64,
    /// When, to the millisecond.
    pub signed_in: tessera_store::Timestamp,
    /// How (RFC 8176).
    pub amr: &'a [String],
    /// The browser session's id.
    pub browser_sid: &'a str,
}

/// A code for `user`, who authenticated as `how`, standing for `request`'s grant.
///
/// # Errors
/// `server_error` from the random source or the store; `invalid_request` when the request
/// was kept and has been used up already.
pub async fn issue_code(
    state: &AppState,
    request: &AuthRequest,
    user: &tessera_store::UserId,
    how: &Authenticated<'_>,
) -> Result<String, crate::OAuthError> {
    let code =
        tessera_jose::random::random_id::<32>(state.rng.as_ref()).map_err(crate::OAuthError::server_error)?;
    let grant = CodeGrant {
        auth_time: how.auth_time,
        signed_in: Some(how.signed_in),
        amr: how.amr.to_vec(),
        browser_sid: how.browser_sid.to_owned(),
        ..request.grant.clone()
    };
    let now = state.now();
    if let Some(kept) = &request.kept
        && !state.store.use_pushed_request(&kept.hash, now).await?
    {
        return Err(crate::OAuthError::invalid_request(
            "this authorization request was used for a code already, or has expired",
        ));
    }
    state
        .store
        .insert_code(&NewCode {
            hash: super::token_hash(&code),
            client_id: request.app.id.clone(),
            user_id: user.clone(),
            grant: serde_json::to_value(&grant).map_err(crate::OAuthError::server_error)?,
            created_at: now,
            expires_at: now.plus_ms(CODE_SECONDS * 1000),
        })
        .await?;
    Ok(code)
}

/// Whether `requested` is the registered redirect URI: the same string, or — for a loopback
/// IP literal registered without a port (RFC 8252 §7.3: a native app listens on whatever port
/// it gets) — the same URI on any port. `localhost` is not given this leeway (§8.3).
#[must_use]
pub fn redirect_matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    let (Ok(r), Ok(q)) = (url::Url::parse(registered), url::Url::parse(requested)) else {
        return false;
    };
    let loopback = matches!(r.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
        || matches!(r.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback());
    loopback
        && r.scheme() == "http"
        && r.port().is_none()
        && q.port().is_some()
        && q.scheme() == r.scheme()
        && q.host() == r.host()
        && q.path() == r.path()
        && q.query() == r.query()
        && q.fragment().is_none()
        && q.username().is_empty()
        && q.password().is_none()
}

#[cfg(test)]
mod redirect_tests {
    use super::redirect_matches;

    #[test]
    fn loopback_redirects_may_name_any_port_and_nothing_else_varies() {
        let cases = [
            ("https://app.example/cb", "https://app.example/cb", true),
            ("https://app.example/cb", "https://app.example/cb/", false),
            ("https://app.example/cb", "https://app.example:8443/cb", false),
            (
                "http://127.0.0.1/callback",
                "http://127.0.0.1:53121/callback",
                true,
            ),
            ("http://[::1]/callback", "http://[::1]:53121/callback", true),
            ("http://127.0.0.1/callback", "http://127.0.0.1:53121/other", false),
            (
                "http://127.0.0.1/callback",
                "http://127.0.0.1:53121/callback?x=1",
                false,
            ),
            (
                "http://127.0.0.1/callback",
                "http://127.0.0.2:53121/callback",
                false,
            ),
            (
                "http://127.0.0.1/callback",
                "https://127.0.0.1:53121/callback",
                false,
            ),
            (
                "http://127.0.0.1/callback",
                "http://evil@127.0.0.1:53121/callback",
                false,
            ),
            (
                "http://127.0.0.1:8000/callback",
                "http://127.0.0.1:9000/callback",
                false,
            ),
            (
                "http://localhost/callback",
                "http://localhost:53121/callback",
                false,
            ),
        ];
        for (registered, requested, ok) in cases {
            assert_eq!(
                redirect_matches(registered, requested),
                ok,
                "{registered} vs {requested}"
            );
        }
    }
}
