//! `POST /token`: parse, authenticate the client, check the DPoP proof, dispatch by grant type.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Extensions, HeaderMap};
use axum::response::{IntoResponse, Response};
use tessera_jose::dpop::{DpopError, DpopRequest};

use super::user_tokens::Caller;
use super::{authorization_code, client_auth, client_credentials, form::Form, refresh};
use crate::error::OAuthError;
use crate::state::AppState;

/// `POST /token`
pub async fn token(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    extensions: Extensions,
    body: Bytes,
) -> Response {
    let ip = crate::web::client_ip(&extensions);
    // With nonces on, every answer hands out the current one (RFC 9449 §8.2), so a client
    // never needs a failed request to learn it again.
    let nonce = state.nonces.as_ref().map(|n| n.issue(state.clock.now()));
    match serve(&state, &headers, ip, &body).await {
        Ok((grant, json)) => {
            let token_type = if json["token_type"] == "DPoP" {
                "DPoP"
            } else {
                "Bearer"
            };
            state.telemetry.token_issued(grant, token_type);
            let mut response = super::no_store(axum::Json(json).into_response());
            if let Some(v) = nonce.and_then(|n| axum::http::HeaderValue::from_str(&n).ok()) {
                response.headers_mut().insert("dpop-nonce", v);
            }
            response
        }
        Err(e) => {
            state.telemetry.oauth_error("token", e.code());
            match nonce {
                Some(n) => e.with_dpop_nonce(n).into_response(),
                None => e.into_response(),
            }
        }
    }
}

/// Serves a token request; returns the grant type served and the response body.
pub(crate) async fn serve(
    state: &AppState,
    headers: &HeaderMap,
    ip: std::net::IpAddr,
    body: &[u8],
) -> Result<(&'static str, serde_json::Value), OAuthError> {
    let form = Form::parse(headers, body)?;
    let grant_type = form.require("grant_type")?;
    let client = client_auth::authenticate(state, headers, &form).await?;
    match grant_type {
        "client_credentials" => client_credentials::check_client(&client)?,
        "authorization_code" => authorization_code::check_client(&client)?,
        "refresh_token" => refresh::check_client(&client)?,
        other => {
            return Err(OAuthError::unsupported_grant_type(format!(
                "grant type {other} is not supported"
            )));
        }
    }

    let proofs = super::dpop_proofs(headers);
    let (jkt, session_jkt) = if proofs.is_empty() {
        if client.app.require_dpop {
            return Err(OAuthError::invalid_dpop_proof(
                "this client must send a DPoP proof",
            ));
        }
        (None, None)
    } else {
        let uri = state.endpoint("/token");
        let request = DpopRequest {
            proofs: &proofs,
            method: "POST",
            uri: &uri,
            access_token: None,
            bound_jkt: None,
            nonce: state
                .nonces
                .as_ref()
                .map(|n| n as &dyn tessera_jose::dpop::NonceCheck),
        };
        let proof = state.verify_dpop(&request).await.map_err(|e| match e {
            DpopError::MultipleHeaders => OAuthError::invalid_request("more than one DPoP header"),
            other => OAuthError::from(other),
        })?;
        (Some(proof.jkt), proof.session_jkt)
    };

    let caller = |stage| Caller {
        ip,
        jkt: jkt.as_ref(),
        session_jkt: session_jkt.as_ref(),
        stage,
    };
    match grant_type {
        "client_credentials" => Ok((
            "client_credentials",
            client_credentials::grant(state, &client, &form, jkt.as_ref())?,
        )),
        "authorization_code" => Ok((
            "authorization_code",
            authorization_code::grant(state, &client, &form, &caller("authorization_code")).await?,
        )),
        "refresh_token" => Ok((
            "refresh_token",
            refresh::grant(state, &client, &form, &caller("refresh_token")).await?,
        )),
        other => Err(OAuthError::unsupported_grant_type(format!(
            "grant type {other} is not supported"
        ))),
    }
}
