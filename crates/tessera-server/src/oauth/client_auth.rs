//! Client authentication at the token, introspection and revocation endpoints:
//! `client_secret_basic` and `client_secret_post` (RFC 6749 §2.3.1), `private_key_jwt`
//! (RFC 7523 §2.2, OpenID Connect Core §9) and public clients (`none`). One method per request;
//! a failure is `invalid_client` (401).

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use tessera_jose::dpop::ReplayCache as _;
use tessera_jose::jwt::{TokenKind, Validation, verify};
use tessera_jose::{KeySet, jws};
use tessera_store::{AppKind, Application, StoreError};

use super::form::Form;
use crate::error::OAuthError;
use crate::state::AppState;

/// The only `client_assertion_type` (RFC 7523 §2.2).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The methods Tessera accepts, as metadata names them.
pub const METHODS: [&str; 4] = [
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "none",
];
/// An assertion may be valid for at most this long (as RFC 7523 profiles such as FAPI ask);
/// its `jti` is remembered that long.
pub const MAX_ASSERTION_LIFETIME: u64 = 300;

/// An authenticated (or, for public clients, identified) client.
#[derive(Debug)]
pub struct Client {
    /// The client's record.
    pub app: Application,
}

/// How the request tried to authenticate.
enum Credentials {
    Secret { id: String, secret: String, basic: bool },
    Assertion { id: Option<String>, jwt: String },
    None { id: String },
}

/// Authenticates the client of a token, introspection or revocation request.
///
/// # Errors
/// `invalid_request` for two methods at once or a malformed request, `invalid_client` for an
/// unknown client, a wrong secret or a bad assertion.
pub async fn authenticate(state: &AppState, headers: &HeaderMap, form: &Form) -> Result<Client, OAuthError> {
    let credentials = credentials(headers, form)?;
    let (id, basic) = match &credentials {
        Credentials::Secret { id, basic, .. } => (id.clone(), *basic),
        Credentials::None { id } => (id.clone(), false),
        Credentials::Assertion { id, jwt } => (asserted_client(id.as_deref(), jwt)?, false),
    };
    let refused = || OAuthError::invalid_client("client authentication failed", basic);
    let app = match state.applications.get(state.store.as_ref(), &id).await {
        Ok(app) => Application::clone(&app),
        Err(StoreError::NotFound(_)) => return Err(refused()),
        Err(e) => return Err(e.into()),
    };
    match (credentials, app.kind) {
        (Credentials::Secret { secret, .. }, AppKind::Confidential) => match &app.secret_hash {
            Some(stored) if tessera_directory::secrets::verify_client_secret(stored.expose(), &secret) => {
                Ok(Client { app })
            }
            _ => Err(refused()),
        },
        (Credentials::Assertion { jwt, .. }, AppKind::Confidential) => {
            check_assertion(state, &app, &jwt)?;
            Ok(Client { app })
        }
        (Credentials::None { .. }, AppKind::Public) => Ok(Client { app }),
        _ => Err(refused()),
    }
}

fn credentials(headers: &HeaderMap, form: &Form) -> Result<Credentials, OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("basic")
                .then(|| rest.trim().to_owned())
        });
    let assertion = match (form.get("client_assertion_type"), form.get("client_assertion")) {
        (None, None) => None,
        (Some(JWT_BEARER), Some(jwt)) => Some(jwt.to_owned()),
        (Some(JWT_BEARER), None) => {
            return Err(OAuthError::invalid_request("client_assertion is missing"));
        }
        (None, Some(_)) => return Err(OAuthError::invalid_request("client_assertion_type is missing")),
        (Some(other), _) => {
            return Err(OAuthError::invalid_request(format!(
                "client_assertion_type {other} is not supported; use {JWT_BEARER}"
            )));
        }
    };
    let methods = usize::from(basic.is_some())
        + usize::from(form.get("client_secret").is_some())
        + usize::from(assertion.is_some());
    if methods > 1 {
        return Err(OAuthError::invalid_request(
            "use one client authentication method, not two",
        ));
    }
    if let Some(credentials) = basic {
        let malformed = || OAuthError::invalid_client("malformed Basic credentials", true);
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(credentials)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(malformed)?;
        let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
        // RFC 6749 §2.3.1: both parts are form-urlencoded before being joined.
        let id = form_decode(id);
        if form.get("client_id").is_some_and(|body_id| body_id != id) {
            return Err(OAuthError::invalid_request(
                "client_id in the body differs from the authenticated client",
            ));
        }
        return Ok(Credentials::Secret {
            id,
            secret: form_decode(secret),
            basic: true,
        });
    }
    if let Some(jwt) = assertion {
        return Ok(Credentials::Assertion {
            id: form.get("client_id").map(str::to_owned),
            jwt,
        });
    }
    // RFC 6749 §5.2: a request with no client authentication at all is invalid_client.
    let id = form
        .get("client_id")
        .ok_or_else(|| OAuthError::invalid_client("no client authentication", false))?
        .to_owned();
    Ok(match form.get("client_secret") {
        Some(secret) => Credentials::Secret {
            id,
            secret: secret.to_owned(),
            basic: false,
        },
        None => Credentials::None { id },
    })
}

/// The client an assertion is about: its `sub` (which must equal `iss`, and `client_id` when
/// the body has one). Read before the signature is checked, only to find the client's keys.
fn asserted_client(client_id: Option<&str>, jwt: &str) -> Result<String, OAuthError> {
    let bad = |m: &str| OAuthError::invalid_client(m.to_owned(), false);
    let parsed = jws::decode(jwt).map_err(|_| bad("client_assertion is not a JWS"))?;
    let claims: serde_json::Value = serde_json::from_slice(parsed.unverified_payload())
        .map_err(|_| bad("client_assertion has no JSON claims"))?;
    let sub = claims["sub"]
        .as_str()
        .ok_or_else(|| bad("client_assertion has no sub"))?;
    if claims["iss"].as_str() != Some(sub) {
        return Err(bad("client_assertion iss and sub must both be the client_id"));
    }
    if client_id.is_some_and(|id| id != sub) {
        return Err(OAuthError::invalid_request(
            "client_id in the body differs from the client_assertion's subject",
        ));
    }
    Ok(sub.to_owned())
}

/// Checks a `private_key_jwt` assertion against the client's registered keys (RFC 7523 §3):
/// signature by one of them with an asymmetric algorithm, `iss` = `sub` = the client, Tessera
/// (its issuer or the endpoint) in `aud`, not expired, not valid for more than five minutes, and
/// its `jti` never seen before.
fn check_assertion(state: &AppState, app: &Application, jwt: &str) -> Result<(), OAuthError> {
    let bad = |m: String| OAuthError::invalid_client(m, false);
    let Some(jwks) = &app.jwks else {
        return Err(bad(
            "this client has no registered keys; it cannot use private_key_jwt".into(),
        ));
    };
    let keys = KeySet::from_jwks(jwks.to_string().as_bytes())
        .map_err(|e| OAuthError::server_error(format!("stored keys of client {}: {e}", app.id)))?;
    let rules = Validation::new(TokenKind::ClientAssertion, &app.id, "").any_audience();
    let verified = verify(jwt, &keys, &rules, state.clock.as_ref())
        .map_err(|e| bad(format!("client_assertion refused: {e}")))?;
    if verified.registered.sub.as_deref() != Some(app.id.as_str()) {
        return Err(bad("client_assertion sub must be the client_id".into()));
    }
    let audiences = [
        state.config.issuer.clone(),
        state.endpoint("/token"),
        // RFC 9126 §2: the pushed authorization request endpoint names itself too.
        state.endpoint("/par"),
        state.endpoint("/introspect"),
        state.endpoint("/revoke"),
    ];
    let for_us = verified
        .registered
        .aud
        .as_ref()
        .is_some_and(|aud| audiences.iter().any(|a| aud.contains(a)));
    if !for_us {
        return Err(bad(format!(
            "client_assertion aud must include {}",
            state.config.issuer
        )));
    }
    let now = state.unix_time();
    let exp = verified.registered.exp.unwrap_or(now);
    if exp.as_secs() > now.plus(MAX_ASSERTION_LIFETIME).as_secs() {
        return Err(bad(format!(
            "client_assertion must expire within {MAX_ASSERTION_LIFETIME} seconds"
        )));
    }
    let jti = verified.registered.jti.as_deref().unwrap_or_default();
    let mut key = [0u8; 32];
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("{}\0{jti}", app.id).as_bytes(),
    );
    key.copy_from_slice(digest.as_ref());
    match state
        .assertion_ids
        .first_use(app.id.as_bytes(), &key, exp.plus(rules.leeway), now)
    {
        Ok(true) => Ok(()),
        Ok(false) => Err(bad("client_assertion was used before (jti replay)".into())),
        Err(_) => Err(bad(format!(
            "this client has {} unexpired client assertions in use; use one per request, short-lived",
            state.config.tokens.assertion_ids_per_client
        ))),
    }
}

fn form_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}
