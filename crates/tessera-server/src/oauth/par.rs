//! Pushed authorization requests (RFC 9126): `POST /par` takes an authorization request from
//! an authenticated client, checks it as `/authorize` would, keeps it, and answers with a
//! `request_uri` that `/authorize` then takes in its place.
//!
//! A `request_uri` is `urn:ietf:params:oauth:request_uri:` and 256 random bits; only its SHA-256
//! is stored. It must be opened at `/authorize` within `[authorization] pushed_request_seconds`
//! (60 s by default). Once opened it lasts as long as a sign-in may take ([`SIGN_IN_SECONDS`]),
//! so a reload of the sign-in page works (§4 allows it), and the code issued from it uses it up:
//! one request, one code. A request object sent by value to `/authorize` is kept the same way,
//! so that the sign-in pages carry a reference, not the object.
//!
//! A DPoP proof sent with the push binds the code to its key, as `dpop_jkt` would (RFC 9449
//! §10.1); with server nonces on, the endpoint hands them out as the token endpoint does.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tessera_store::{Application, NewPushedRequest, PushedLookup};

use super::authorize::{AuthRequest, Channel, Kept, Params, Refusal};
use super::client_auth;
use super::form::Form;
use crate::error::OAuthError;
use crate::state::AppState;

/// What every `request_uri` Tessera issues starts with (RFC 9126 §2.2).
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
/// How long an opened request stays usable: the time a person may take to sign in.
pub const SIGN_IN_SECONDS: i64 = 600;
/// Parameters that authenticate the client at `/par` and are not part of the request.
const CLIENT_AUTHENTICATION: [&str; 3] = ["client_secret", "client_assertion", "client_assertion_type"];

/// `POST /par`
pub async fn push(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let answer = serve(&state, &headers, &body)
        .await
        .map(|body| crate::http::no_store((StatusCode::CREATED, axum::Json(body)).into_response()));
    super::dpop_nonce::answer(&state, "par", answer)
}

async fn serve(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<serde_json::Value, OAuthError> {
    let form = Form::parse(headers, body)?;
    let client = client_auth::authenticate(state, headers, &form).await?;
    // An authorization is for one audience, as at /authorize.
    form.one_resource()?;
    if form.get("request_uri").is_some() {
        return Err(OAuthError::invalid_request(
            "request_uri cannot be pushed; push the request itself (RFC 9126 §2.1)",
        ));
    }
    let mut params: Params = match form.get("request") {
        // §3: with a request object, the object holds the request; the form holds only what
        // authenticates the client.
        Some(jwt) => super::request_object::verify(state, &client.app, jwt)
            .map_err(|e| OAuthError::bad_authorization_request("invalid_request_object", e))?,
        None => form
            .params()
            .iter()
            .filter(|(k, _)| !CLIENT_AUTHENTICATION.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    };
    if params.get("client_id").is_some_and(|id| *id != client.app.id) {
        return Err(OAuthError::invalid_request(
            "client_id differs from the authenticated client",
        ));
    }
    if let Some(jkt) = super::proof_key(state, headers, "/par").await? {
        match params.get("dpop_jkt") {
            Some(asked) if asked != jkt.as_str() => {
                return Err(OAuthError::invalid_dpop_proof(
                    "dpop_jkt is not the thumbprint of the DPoP proof's key",
                ));
            }
            _ => params.insert("dpop_jkt".to_owned(), jkt.as_str().to_owned()),
        };
    }
    let request = AuthRequest::from_params(state, client.app, &params, Channel::Pushed).map_err(
        |refusal| match refusal {
            Refusal::Page { message } => OAuthError::invalid_request(message),
            Refusal::Redirect {
                error, description, ..
            } => OAuthError::bad_authorization_request(error, description),
        },
    )?;
    let lifetime = state.config.authorization.pushed_request_seconds;
    let ms = i64::try_from(lifetime).unwrap_or(i64::MAX).saturating_mul(1000);
    let (request_uri, _) = store(state, &request.app.id, &params, ms).await?;
    Ok(json!({"request_uri": request_uri, "expires_in": lifetime}))
}

/// Keeps a verified request object's parameters for the sign-in pages: a reference good for
/// [`SIGN_IN_SECONDS`].
///
/// # Errors
/// `server_error` from the random source or the store.
pub async fn keep(state: &AppState, client_id: &str, params: &Params) -> Result<(String, Kept), OAuthError> {
    store(state, client_id, params, SIGN_IN_SECONDS * 1000).await
}

async fn store(
    state: &AppState,
    client_id: &str,
    params: &Params,
    lifetime_ms: i64,
) -> Result<(String, Kept), OAuthError> {
    let reference =
        tessera_jose::random::random_id::<32>(state.rng.as_ref()).map_err(OAuthError::server_error)?;
    let request_uri = format!("{REQUEST_URI_PREFIX}{reference}");
    let now = state.now();
    let hash = super::token_hash(&reference);
    state
        .store
        .insert_pushed_request(&NewPushedRequest {
            hash: hash.clone(),
            client_id: client_id.to_owned(),
            params: serde_json::to_value(params).map_err(OAuthError::server_error)?,
            created_at: now,
            expires_at: now.plus_ms(lifetime_ms),
        })
        .await?;
    Ok((request_uri, Kept { hash, since: now }))
}

/// The parameters of the pushed request `request_uri`, which must be `app`'s and usable.
///
/// # Errors
/// A [`Refusal::Page`]: the request, and so its redirect URI, cannot be trusted.
pub async fn open(state: &AppState, app: &Application, request_uri: &str) -> Result<(Params, Kept), Refusal> {
    let page = |m: &str| Refusal::Page {
        message: m.to_owned(),
    };
    let Some(reference) = request_uri.strip_prefix(REQUEST_URI_PREFIX) else {
        return Err(page(
            "The application referred to a sign-in request Tessera did not issue (invalid_request_uri).",
        ));
    };
    let hash = super::token_hash(reference);
    let now = state.now();
    let found = state
        .store
        .open_pushed_request(&hash, now, now.plus_ms(SIGN_IN_SECONDS * 1000))
        .await
        .map_err(|e| {
            tracing::error!(%e, "store failed opening a pushed request");
            page("The sign-in service is unavailable. Try again shortly.")
        })?;
    let gone = "Go back to the application and sign in again (invalid_request_uri).";
    match found {
        PushedLookup::Open {
            client_id,
            params,
            created_at,
        } if client_id == app.id => {
            let params: Params = serde_json::from_value(params).map_err(|e| {
                tracing::error!(%e, "a stored pushed request is unreadable");
                page("The sign-in service is unavailable. Try again shortly.")
            })?;
            Ok((
                params,
                Kept {
                    hash,
                    since: created_at,
                },
            ))
        }
        // Another client's request: as if it did not exist.
        PushedLookup::Open { .. } | PushedLookup::Unknown => Err(page(&format!(
            "The application's sign-in request is not known here. {gone}"
        ))),
        PushedLookup::Used => Err(page(&format!(
            "This sign-in request was completed already. {gone}"
        ))),
        PushedLookup::Expired => Err(page(&format!("This sign-in request has expired. {gone}"))),
    }
}

/// The query that refers to a kept request.
#[must_use]
pub fn reference_query(client_id: &str, request_uri: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", client_id)
        .append_pair("request_uri", request_uri)
        .finish()
}
