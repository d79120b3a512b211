//! Client authentication at the token endpoint: `client_secret_basic` and `client_secret_post`
//! (RFC 6749 §2.3.1). One method per request; a failure is `invalid_client` (401).

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use tessera_store::{AppKind, Application, StoreError};

use super::form::Form;
use crate::error::OAuthError;
use crate::state::AppState;

/// An authenticated (or, for public clients, identified) client.
#[derive(Debug)]
pub struct Client {
    /// The client's record.
    pub app: Application,
}

/// Authenticates the client of a token request.
///
/// # Errors
/// `invalid_request` for two methods at once or a malformed header, `invalid_client` for an
/// unknown client or a wrong secret.
pub async fn authenticate(state: &AppState, headers: &HeaderMap, form: &Form) -> Result<Client, OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("basic")
                .then(|| rest.trim().to_owned())
        });
    let (client_id, secret, used_basic) = match (basic, form.get("client_secret")) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_request(
                "use one client authentication method, not two",
            ));
        }
        (Some(credentials), None) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(credentials)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials", true))?;
            let (id, secret) = decoded
                .split_once(':')
                .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials", true))?;
            // RFC 6749 §2.3.1: both parts are form-urlencoded before being joined.
            let id = form_decode(id);
            let secret = form_decode(secret);
            if form.get("client_id").is_some_and(|body_id| body_id != id) {
                return Err(OAuthError::invalid_request(
                    "client_id in the body differs from the authenticated client",
                ));
            }
            (id, Some(secret), true)
        }
        (None, secret) => {
            // RFC 6749 §5.2: a request with no client authentication at all is invalid_client.
            let id = form
                .get("client_id")
                .ok_or_else(|| OAuthError::invalid_client("no client authentication", false))?;
            (id.to_owned(), secret.map(str::to_owned), false)
        }
    };
    let app = match state.store.application(&client_id).await {
        Ok(app) => app,
        Err(StoreError::NotFound(_)) => {
            return Err(OAuthError::invalid_client(
                "client authentication failed",
                used_basic,
            ));
        }
        Err(e) => return Err(e.into()),
    };
    match (app.kind, &app.secret_hash, secret) {
        (AppKind::Confidential, Some(stored), Some(secret))
            if crate::secrets::verify_client_secret(stored.expose(), &secret) =>
        {
            Ok(Client { app })
        }
        (AppKind::Public, _, None) => Ok(Client { app }),
        _ => Err(OAuthError::invalid_client(
            "client authentication failed",
            used_basic,
        )),
    }
}

fn form_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}
