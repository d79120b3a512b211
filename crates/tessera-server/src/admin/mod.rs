//! The admin JSON API under `/admin/api`: users, groups, applications, named locations,
//! Conditional Access policies (with what-if) and sign-in logs, described by the OpenAPI
//! document at `/openapi.json`.
//!
//! Callers present a Tessera access token with the `tessera.admin` scope: a client-credentials
//! token of an application allowed that scope, or a user's token when the user is in the
//! `admins` group. Every change goes through [`crate::directory`], which validates it and
//! commits it with its CAEP/RISC events.

mod applications;
pub mod openapi;
mod policies;
mod sign_ins;
mod users;

use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, FromRequestParts, OriginalUri, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::de::DeserializeOwned;
use serde_json::json;
use tessera_store::{StoreError, Timestamp, UserId, UserStatus};

use crate::directory::{Directory, DirectoryError, FieldError};
use crate::error::OAuthError;
use crate::state::AppState;

/// The scope that opens the admin API.
pub const ADMIN_SCOPE: &str = "tessera.admin";
/// Users in this group may use the admin API (and console) with a token that has the scope.
pub const ADMINS_GROUP: &str = "admins";
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
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
}

async fn not_found() -> AdminError {
    AdminError::NotFound("no such admin API resource".into())
}

/// An admin API error: authentication problems as OAuth resource errors (RFC 6750), the rest
/// as `{"error", "error_description", "errors": [{"field", "message"}]}`.
#[derive(Debug)]
pub enum AdminError {
    /// No, a bad, or an insufficient token.
    Auth(OAuthError),
    /// A valid token of someone who is not an administrator.
    Forbidden(String),
    /// Bad input, with the fields at fault.
    Invalid(String, Vec<FieldError>),
    /// No such thing.
    NotFound(String),
    /// The change conflicts with what exists.
    Conflict(String),
    /// The server failed; the detail goes to the log only.
    Server(String),
}

impl From<OAuthError> for AdminError {
    fn from(e: OAuthError) -> Self {
        Self::Auth(e)
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        DirectoryError::from(e).into()
    }
}

impl From<DirectoryError> for AdminError {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::Invalid(errors) => {
                let summary = errors
                    .iter()
                    .map(|e| {
                        if e.field.is_empty() {
                            e.message.clone()
                        } else {
                            format!("{}: {}", e.field, e.message)
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                Self::Invalid(summary, errors)
            }
            DirectoryError::NotFound(what) => Self::NotFound(format!("{what} not found")),
            DirectoryError::Conflict(m) => Self::Conflict(m),
            DirectoryError::Store(e) => Self::Server(e.to_string()),
        }
    }
}

impl AdminError {
    fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into(), Vec::new())
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let (status, code, description, errors) = match self {
            Self::Auth(e) => return e.into_response(),
            Self::Forbidden(m) => (StatusCode::FORBIDDEN, "access_denied", m, Vec::new()),
            Self::Invalid(m, errors) => (StatusCode::BAD_REQUEST, "invalid_request", m, errors),
            Self::NotFound(m) => (StatusCode::NOT_FOUND, "not_found", m, Vec::new()),
            Self::Conflict(m) => (StatusCode::CONFLICT, "conflict", m, Vec::new()),
            Self::Server(detail) => {
                tracing::error!(%detail, "admin request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "the server could not complete the request".to_owned(),
                    Vec::new(),
                )
            }
        };
        let mut body = json!({ "error": code, "error_description": description });
        if !errors.is_empty() {
            body["errors"] = serde_json::to_value(errors).unwrap_or_default();
        }
        crate::oauth::no_store((status, axum::Json(body)).into_response())
    }
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
        Directory::by_admin(
            self.state.store.clone(),
            self.state.rng.clone(),
            &self.state.config.issuer,
            self.state.now_ms(),
        )
    }
}

impl FromRequestParts<Arc<AppState>> for Admin {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, AdminError> {
        // Nested routers see a shortened path; the DPoP proof names the whole one.
        let path = parts
            .extensions
            .get::<OriginalUri>()
            .map_or_else(|| parts.uri.path().to_owned(), |u| u.path().to_owned());
        let presented =
            crate::oauth::bearer::authenticate(state, &parts.method, &path, &parts.headers).await?;
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
                return Err(AdminError::Forbidden(format!(
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

/// A JSON request body, with errors that name the field at fault.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = AdminError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AdminError> {
        let json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                let v = v.trim();
                v.eq_ignore_ascii_case("application/json") || v.to_ascii_lowercase().ends_with("+json")
            });
        if !json {
            return Err(AdminError::invalid("send the body as application/json"));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| AdminError::invalid(format!("could not read the body: {e}")))?;
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error::deserialize(de).map(JsonBody).map_err(|e| {
            let field = e.path().to_string();
            let field = if field == "." { String::new() } else { field };
            let message = e.into_inner().to_string();
            AdminError::Invalid(
                format!("the body is not valid: {message}"),
                vec![FieldError::new(field, message)],
            )
        })
    }
}

/// Query parameters, with a JSON error for bad ones.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AdminError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|e: QueryRejection| AdminError::invalid(e.body_text()))
    }
}

/// The page size asked for, between 1 and 1000 (default 100).
fn page_size(limit: Option<u32>) -> Result<u32, AdminError> {
    match limit {
        None => Ok(100),
        Some(n @ 1..=1000) => Ok(n),
        Some(_) => Err(AdminError::Invalid(
            "limit must be from 1 to 1000".into(),
            vec![FieldError::new("limit", "must be from 1 to 1000")],
        )),
    }
}

/// An instant as RFC 3339 (UTC), as the API writes times.
fn rfc3339(t: Timestamp) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.0) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// `201 Created` with a `Location` and the body.
fn created(location: &str, body: serde_json::Value) -> Response {
    let mut response = (StatusCode::CREATED, axum::Json(body)).into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(location) {
        response.headers_mut().insert(axum::http::header::LOCATION, v);
    }
    crate::oauth::no_store(response)
}

/// `200 OK` with a JSON body that must not be cached.
fn ok(body: serde_json::Value) -> Response {
    crate::oauth::no_store(axum::Json(body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_pages() {
        assert_eq!(rfc3339(Timestamp(0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(Timestamp(1_790_000_000_123)), "2026-09-21T14:13:20.123Z");
        assert_eq!(page_size(None).unwrap(), 100);
        assert_eq!(page_size(Some(1000)).unwrap(), 1000);
        assert!(page_size(Some(0)).is_err());
        assert!(page_size(Some(1001)).is_err());
    }
}
