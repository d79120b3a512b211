//! What Tessera's JSON APIs (the admin API, device registration) share: one error type that
//! becomes the response (OAuth resource errors for authentication, `{"error",
//! "error_description", "errors": [{"field", "message"}]}` for the rest), request extractors
//! whose errors name the field at fault, and response helpers.

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tessera_store::StoreError;

use crate::error::OAuthError;
use tessera_directory::{DirectoryError, FieldError};

/// An API error: authentication problems as OAuth resource errors (RFC 6750), the rest
/// as `{"error", "error_description", "errors": [{"field", "message"}]}`.
#[derive(Debug)]
pub enum ApiError {
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
    /// Asked again too soon.
    TooMany(String),
    /// The server failed; the detail goes to the log only.
    Server(String),
    /// The database cannot be reached now; the detail goes to the log only.
    Unavailable(String),
}

impl From<OAuthError> for ApiError {
    fn from(e: OAuthError) -> Self {
        Self::Auth(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        DirectoryError::from(e).into()
    }
}

impl From<DirectoryError> for ApiError {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::Invalid(errors) => Self::Invalid(tessera_directory::summary(&errors), errors),
            DirectoryError::NotFound(what) => Self::NotFound(format!("{what} not found")),
            DirectoryError::Conflict(m) => Self::Conflict(m),
            DirectoryError::Store(e @ StoreError::Unavailable(_)) => Self::Unavailable(e.to_string()),
            DirectoryError::Store(e) => Self::Server(e.to_string()),
            DirectoryError::Secret(e) => Self::Server(e.to_string()),
        }
    }
}

impl ApiError {
    /// Bad input in one field, described as `field: message`.
    pub(crate) fn field(field: &str, message: impl Into<String>) -> Self {
        DirectoryError::field(field, message).into()
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into(), Vec::new())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, description, errors) = match self {
            Self::Auth(e) => return e.into_response(),
            Self::Forbidden(m) => (StatusCode::FORBIDDEN, "access_denied", m, Vec::new()),
            Self::Invalid(m, errors) => (StatusCode::BAD_REQUEST, "invalid_request", m, errors),
            Self::NotFound(m) => (StatusCode::NOT_FOUND, "not_found", m, Vec::new()),
            Self::Conflict(m) => (StatusCode::CONFLICT, "conflict", m, Vec::new()),
            Self::TooMany(m) => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests", m, Vec::new()),
            Self::Unavailable(detail) => failure(
                &detail,
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the server is temporarily unavailable; try again shortly",
            ),
            Self::Server(detail) => failure(
                &detail,
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "the server could not complete the request",
            ),
        };
        let body = ErrorBody {
            error: code,
            error_description: description,
            errors,
        };
        crate::http::no_store((status, axum::Json(body)).into_response())
    }
}

/// The body of every API error but authentication's (which RFC 6750 shapes).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub(crate) struct ErrorBody {
    /// `invalid_request`, `access_denied`, `not_found`, `conflict`, `too_many_requests`,
    /// `server_error` or `temporarily_unavailable`; for authentication, RFC 6750's
    /// `invalid_token` or `insufficient_scope`.
    #[schema(value_type = String)]
    error: &'static str,
    /// What went wrong, for a person.
    error_description: String,
    /// The fields at fault, for bad input.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(required = false)]
    errors: Vec<FieldError>,
}

/// A list answered whole.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct List<T> {
    /// Every item.
    pub items: Vec<T>,
}

/// A page of a long list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Page<T> {
    /// This page's items.
    pub items: Vec<T>,
    /// Pass as `after` (users) or `before` (sign-ins) for the next page; null on the last.
    pub next: Option<String>,
}

/// The answer to a failure of the server's own: `detail` goes to the log, the caller reads
/// only `description`.
fn failure(
    detail: &str,
    status: StatusCode,
    code: &'static str,
    description: &str,
) -> (StatusCode, &'static str, String, Vec<FieldError>) {
    tracing::error!(%detail, "API request failed");
    (status, code, description.to_owned(), Vec::new())
}

/// A JSON request body, with errors that name the field at fault.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
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
            return Err(ApiError::invalid("send the body as application/json"));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::invalid(format!("could not read the body: {e}")))?;
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error::deserialize(de).map(JsonBody).map_err(|e| {
            let field = e.path().to_string();
            let field = if field == "." { String::new() } else { field };
            let message = e.into_inner().to_string();
            ApiError::Invalid(
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
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|e: QueryRejection| ApiError::invalid(e.body_text()))
    }
}

/// The page size asked for, between 1 and 1000 (default 100).
pub(crate) fn page_size(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(100),
        Some(n @ 1..=1000) => Ok(n),
        Some(_) => Err(ApiError::field("limit", "must be from 1 to 1000")),
    }
}

/// `201 Created` with a `Location` and the body.
pub(crate) fn created(location: &str, body: impl Serialize) -> Response {
    let mut response = (StatusCode::CREATED, axum::Json(body)).into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(location) {
        response.headers_mut().insert(axum::http::header::LOCATION, v);
    }
    crate::http::no_store(response)
}

/// `200 OK` with a JSON body that must not be cached.
pub(crate) fn ok(body: impl Serialize) -> Response {
    crate::http::no_store(axum::Json(body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes() {
        assert_eq!(page_size(None).unwrap(), 100);
        assert_eq!(page_size(Some(1000)).unwrap(), 1000);
        assert!(page_size(Some(0)).is_err());
        assert!(page_size(Some(1001)).is_err());
    }
}
