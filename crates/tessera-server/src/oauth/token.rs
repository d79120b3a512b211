//! `POST /token`: parse, authenticate the client, check the DPoP proof, hand over to the grant
//! ([`Grant`], one module each).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Extensions, HeaderMap};
use axum::response::{IntoResponse, Response};
use tessera_directory::GrantType;
use tessera_jose::Jkt;

use super::authorization_code::AuthorizationCode;
use super::client_auth::{self, Client};
use super::client_credentials::ClientCredentials;
use super::form::Form;
use super::refresh::RefreshToken;
use super::user_tokens::Caller;
use crate::error::OAuthError;
use crate::state::AppState;

/// `POST /token`
pub async fn token(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    extensions: Extensions,
    body: Bytes,
) -> Response {
    let ip = crate::http::client_ip(&extensions);
    let answer = serve(&state, &headers, ip, &body).await.map(|(grant, json)| {
        let token_type = if json["token_type"] == "DPoP" {
            "DPoP"
        } else {
            "Bearer"
        };
        state.telemetry.token_issued(grant, token_type);
        crate::http::no_store(axum::Json(json).into_response())
    });
    super::dpop_nonce::answer(&state, "token", answer)
}

/// A grant of the token endpoint, one module each (the handler-per-grant shape): the endpoint
/// authenticates the client and asks the grant whether the client may use it, then checks the
/// DPoP proof and hands the request over. A new grant is a [`GrantType`] variant and a module
/// implementing this; the others stay as they are.
pub(crate) trait Grant {
    /// Which grant this is.
    const TYPE: GrantType;
    /// What a client that was not given the grant is told.
    const NOT_GIVEN: &'static str;

    /// Whether the client may use the grant; checked before its DPoP proof, so that the error
    /// says what is actually wrong. By default: whether it was [`given`](Self::given) the grant.
    ///
    /// # Errors
    /// `unauthorized_client`.
    fn check_client(client: &Client) -> Result<(), OAuthError> {
        Self::given(client)
    }

    /// Whether the client was given the grant.
    ///
    /// # Errors
    /// `unauthorized_client` saying [`NOT_GIVEN`](Self::NOT_GIVEN).
    fn given(client: &Client) -> Result<(), OAuthError> {
        if Self::TYPE.allowed_for(&client.app) {
            Ok(())
        } else {
            Err(OAuthError::unauthorized_client(Self::NOT_GIVEN))
        }
    }

    /// Serves the request; the answer's JSON body.
    fn serve(
        request: &GrantRequest<'_>,
    ) -> impl Future<Output = Result<serde_json::Value, OAuthError>> + Send;
}

/// What a grant is handed: the request from an authenticated client whose DPoP proof, if any,
/// was checked.
pub(crate) struct GrantRequest<'a> {
    /// The server.
    pub state: &'a AppState,
    /// The authenticated client.
    pub client: &'a Client,
    /// The request's parameters.
    pub form: &'a Form,
    /// The caller's address and proof keys.
    pub caller: &'a Caller<'a>,
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
    let request = Request {
        state,
        headers,
        ip,
        form: &form,
        client: &client,
    };
    match GrantType::parse(grant_type) {
        Some(GrantType::AuthorizationCode) => request.serve::<AuthorizationCode>().await,
        Some(GrantType::RefreshToken) => request.serve::<RefreshToken>().await,
        Some(GrantType::ClientCredentials) => request.serve::<ClientCredentials>().await,
        Some(GrantType::DeviceCode) => request.serve::<super::device_code::DeviceCode>().await,
        Some(GrantType::TokenExchange) => request.serve::<super::token_exchange::TokenExchange>().await,
        None => Err(OAuthError::unsupported_grant_type(format!(
            "grant type {grant_type} is not supported"
        ))),
    }
}

/// A token request from an authenticated client, before its grant is served.
struct Request<'a> {
    state: &'a AppState,
    headers: &'a HeaderMap,
    ip: std::net::IpAddr,
    form: &'a Form,
    client: &'a Client,
}

impl Request<'_> {
    /// Checks the client may use `G` and the DPoP proof, then serves `G`: the grant type served
    /// and the answer's body.
    async fn serve<G: Grant>(&self) -> Result<(&'static str, serde_json::Value), OAuthError> {
        G::check_client(self.client)?;
        let (jkt, session_jkt) = self.proof().await?;
        let caller = Caller {
            ip: self.ip,
            jkt: jkt.as_ref(),
            session_jkt: session_jkt.as_ref(),
            stage: G::TYPE.as_str(),
        };
        let request = GrantRequest {
            state: self.state,
            client: self.client,
            form: self.form,
            caller: &caller,
        };
        let body = G::serve(&request).await?;
        Ok((G::TYPE.as_str(), body))
    }

    /// The key of the request's DPoP proof and the session key it vouches for, once the proof
    /// is checked; none without a proof, unless the client must send one.
    async fn proof(&self) -> Result<(Option<Jkt>, Option<Jkt>), OAuthError> {
        match super::verified_proof(self.state, self.headers, "/token").await? {
            Some(proof) => Ok((Some(proof.jkt), proof.session_jkt)),
            None if self.client.app.require_dpop => Err(OAuthError::invalid_dpop_proof(
                "this client must send a DPoP proof",
            )),
            None => Ok((None, None)),
        }
    }
}
