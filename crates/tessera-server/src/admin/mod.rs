//! The admin JSON API under `/admin/api`: users, groups, applications, named locations,
//! Conditional Access policies (with what-if) and sign-in logs, described by the OpenAPI
//! document at `/openapi.json`.
//!
//! Callers present a Tessera access token with the `tessera.admin` scope: a client-credentials
//! token of an application allowed that scope, or a user's token when the user is in the
//! `admins` group. Every change goes through [`tessera_directory`], which validates it and
//! commits it with its CAEP/RISC events.

mod applications;
mod devices;
pub mod openapi;
mod policies;

mod sign_ins;
mod streams;
mod users;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::routing::{get, post, put};
use tessera_directory::{ADMINS_GROUP, Directory};
use tessera_store::{StoreError, UserId, UserStatus};

pub use crate::api::{ApiError, JsonBody, Query};
use crate::api::{List, Page};
use crate::api::{created, ok, page_size};
use crate::state::AppState;

/// The scope that opens the admin API.
pub const ADMIN_SCOPE: &str = "tessera.admin";
/// The largest request body the admin API reads (a policy document is at most 256 KiB).
const MAX_BODY: usize = 512 * 1024;

/// The admin API's routes, to be nested under `/admin/api`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/users", get(users::list).post(users::create))
        .route(
            "/users/{id}",
            get(users::show).patch(users::update).delete(users::delete),
        )
        .route("/users/{id}/revoke-sessions", post(users::revoke_sessions))
        .route("/users/{id}/mfa-methods", post(users::add_mfa_method))
        .route(
            "/users/{id}/mfa-methods/{method}",
            axum::routing::delete(users::remove_mfa_method),
        )
        .route(
            "/devices/{id}",
            get(devices::show).patch(devices::update).delete(devices::delete),
        )
        .route("/groups", get(users::list_groups).post(users::create_group))
        .route("/groups/{id}", get(users::show_group).delete(users::delete_group))
        .route(
            "/groups/{id}/members/{user}",
            put(users::add_member).delete(users::remove_member),
        )
        .route(
            "/applications",
            get(applications::list).post(applications::create),
        )
        .route(
            "/applications/{id}",
            get(applications::show)
                .put(applications::replace)
                .delete(applications::delete),
        )
        .route("/applications/{id}/secret", post(applications::rotate_secret))
        .route("/locations", get(policies::list_locations))
        .route(
            "/locations/{id}",
            get(policies::show_location)
                .put(policies::put_location)
                .delete(policies::delete_location),
        )
        .route("/policies", get(policies::list))
        .route(
            "/policies/{id}",
            get(policies::show).put(policies::put).delete(policies::delete),
        )
        .route("/what-if", post(policies::what_if))
        .route("/sign-ins", get(sign_ins::list))
        .route("/sign-ins/{id}", get(sign_ins::show))
        .route("/streams", get(streams::list))
        .route("/streams/{id}", get(streams::show).patch(streams::update))
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such admin API resource".into())
}

/// An authenticated administrator.
#[derive(Debug)]
pub struct Admin {
    /// The user, or the client for client credentials.
    pub subject: String,
    /// The client the token was issued to.
    pub client_id: String,
    state: Arc<AppState>,
}

impl Admin {
    /// The directory, as this administrator changes it now.
    #[must_use]
    pub fn directory(&self) -> Directory {
        self.state.directory(tessera_directory::InitiatingEntity::Admin)
    }
}

impl FromRequestParts<Arc<AppState>> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, ApiError> {
        let presented = crate::oauth::bearer::authenticate_parts(state, parts).await?;
        if !presented.has_scope(ADMIN_SCOPE) {
            return Err(presented
                .insufficient_scope("the admin API needs a token with the tessera.admin scope")
                .into());
        }
        if presented.session().is_some() {
            // A user's token: the user must (still) be an enabled administrator.
            let user = UserId(presented.subject.clone());
            let admin = match state.store.user(&user).await {
                Ok(u) if u.status == UserStatus::Enabled => state
                    .store
                    .groups_of(&user)
                    .await?
                    .iter()
                    .any(|g| g.0 == ADMINS_GROUP),
                Ok(_) | Err(StoreError::NotFound(_)) => false,
                Err(e) => return Err(e.into()),
            };
            if !admin {
                return Err(ApiError::Forbidden(format!(
                    "only members of the {ADMINS_GROUP} group may use the admin API"
                )));
            }
        }
        Ok(Self {
            subject: presented.subject,
            client_id: presented.client_id,
            state: state.clone(),
        })
    }
}
