//! The Shared Signals transmitter (OpenID SSF 1.0): metadata, stream management, and the SETs
//! that carry the directory's CAEP/RISC events to receivers by push (RFC 8935) or poll
//! (RFC 8936).
//!
//! Receivers are OAuth clients. They authenticate with their own access token (client
//! credentials): scope [`MANAGE_SCOPE`] to create and change streams, [`READ_SCOPE`] to read them
//! and to poll. A receiver sees only its own streams: another receiver's stream id is answered
//! 404, as an unknown one is.
//!
//! Events reach the outbox in the transaction of the change that raised them (see
//! `directory`). Each enabled stream gets its own delivery of each event; the delivery leaves
//! the outbox only when the receiver acknowledged it (push answered 202, or a poll `ack`).

pub mod locations;
pub mod poll;
pub mod push;
pub mod receive;
pub mod sets;
pub mod streams;

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::{get, post};
use tessera_signals::TransmitterMetadata;

use crate::api::{ApiError, ok};
use crate::state::AppState;

/// The scope that lets a receiver create, change and delete its streams.
pub const MANAGE_SCOPE: &str = "ssf.manage";
/// The scope that lets a receiver read its streams and poll them.
pub const READ_SCOPE: &str = "ssf.read";

/// The stream-management and poll routes, nested at `/ssf`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/streams",
            get(streams::read)
                .post(streams::create)
                .patch(streams::update)
                .put(streams::replace)
                .delete(streams::delete),
        )
        .route("/status", get(streams::status).post(streams::set_status))
        .route("/subjects:add", post(streams::add_subject))
        .route("/subjects:remove", post(streams::remove_subject))
        .route("/verify", post(streams::verify))
        .route("/poll/{stream_id}", post(poll::poll))
        .route("/receive", post(receive::receive))
}

/// `GET /.well-known/ssf-configuration` (and the legacy `risc-configuration`).
pub async fn metadata(State(state): State<Arc<AppState>>) -> Response {
    let m = TransmitterMetadata::for_issuer(&state.config.issuer, state.config.ssf.default_subjects_all());
    ok(serde_json::to_value(m).unwrap_or_default())
}

/// A receiver: an OAuth client presenting its own access token.
#[derive(Debug)]
pub struct Receiver {
    /// The client.
    pub client_id: String,
    manage: bool,
}

impl Receiver {
    /// Refuses a receiver whose token may only read.
    ///
    /// # Errors
    /// `403 insufficient_scope`.
    pub fn require_manage(&self) -> Result<(), ApiError> {
        if self.manage {
            Ok(())
        } else {
            Err(crate::error::OAuthError::insufficient_scope(
                "changing streams needs a token with the ssf.manage scope",
                crate::oauth::bearer::challenge(false, Some("insufficient_scope")),
            )
            .into())
        }
    }
}

impl FromRequestParts<Arc<AppState>> for Receiver {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, ApiError> {
        let presented = crate::oauth::bearer::authenticate_parts(state, parts).await?;
        if presented.session().is_some() {
            return Err(ApiError::Forbidden(
                "stream management is for receivers (OAuth clients), not users".into(),
            ));
        }
        let manage = presented.has_scope(MANAGE_SCOPE);
        if !manage && !presented.has_scope(READ_SCOPE) {
            return Err(presented
                .insufficient_scope("the SSF endpoints need a token with the ssf.manage or ssf.read scope")
                .into());
        }
        Ok(Self {
            client_id: presented.client_id,
            manage,
        })
    }
}
