//! `/admin/api/applications`. A client secret appears in a response once, when it is made.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tessera_directory::{ApplicationSpec, GrantType};
use tessera_store::{AppKind, Application};
use utoipa::ToSchema;
use zeroize::Zeroizing;

use super::{Admin, ApiError, JsonBody, List, created, ok};

/// How a client authenticates at the token endpoint (RFC 7591's names).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum AuthMethod {
    /// A public client: none.
    None,
    /// A confidential client with a secret.
    ClientSecretBasic,
    /// A confidential client with keys (RFC 7523).
    PrivateKeyJwt,
}

/// An application as the API shows it: its settings and what follows from them.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Application)]
struct ApplicationView {
    /// The `client_id`.
    id: String,
    /// A name shown on the sign-in page.
    name: String,
    /// Public or confidential.
    kind: AppKind,
    /// How it authenticates at the token endpoint.
    token_endpoint_auth_method: AuthMethod,
    /// Redirect URIs, matched exactly.
    redirect_uris: Vec<String>,
    /// The grant types it may use.
    #[schema(value_type = Vec<GrantType>)]
    grant_types: Vec<String>,
    /// API scopes it may request; OpenID scopes are always allowed.
    scopes: Vec<String>,
    /// Public keys for `private_key_jwt`.
    #[schema(value_type = Option<Object>)]
    jwks: Option<serde_json::Value>,
    /// Access-token lifetime for clients that are not CAE-capable.
    access_token_minutes: i64,
    /// Refresh-token family lifetime.
    refresh_token_days: i64,
    /// Treated as CAE-capable (`cp1`) even when it does not say so.
    cae_capable: bool,
    /// Token requests without a DPoP proof are refused.
    require_dpop: bool,
    /// Authorization requests are accepted only when pushed first (RFC 9126).
    require_pushed_authorization_requests: bool,
    /// Where it takes back-channel logout tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    backchannel_logout_uri: Option<String>,
    /// Held to the FAPI 2.0 Security Profile.
    fapi2: bool,
    /// Only in the response that made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, required = false)]
    client_secret: Option<Zeroizing<String>>,
    /// RFC 3339.
    #[schema(format = DateTime)]
    created_at: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    changed_at: String,
}

impl ApplicationView {
    fn new(a: &Application, client_secret: Option<Zeroizing<String>>) -> Self {
        let token_endpoint_auth_method = match (a.kind, &a.jwks) {
            (AppKind::Public, _) => AuthMethod::None,
            (AppKind::Confidential, Some(_)) => AuthMethod::PrivateKeyJwt,
            (AppKind::Confidential, None) => AuthMethod::ClientSecretBasic,
        };
        Self {
            id: a.id.clone(),
            name: a.name.clone(),
            kind: a.kind,
            token_endpoint_auth_method,
            redirect_uris: a.redirect_uris.clone(),
            grant_types: a.grant_types.clone(),
            scopes: a.scopes.clone(),
            jwks: a.jwks.clone(),
            access_token_minutes: a.access_token_minutes,
            refresh_token_days: a.refresh_token_days,
            cae_capable: a.cae_capable,
            require_dpop: a.require_dpop,
            require_pushed_authorization_requests: a.require_pushed_authorization_requests,
            backchannel_logout_uri: a.backchannel_logout_uri.clone(),
            fapi2: a.fapi2,
            client_secret,
            created_at: a.created_at.rfc3339(),
            changed_at: a.changed_at.rfc3339(),
        }
    }
}

/// A new client secret, shown once.
#[derive(Debug, Serialize, ToSchema)]
struct ClientSecret {
    /// The application's `client_id`.
    client_id: String,
    /// The secret; the old one no longer works.
    #[schema(value_type = String)]
    client_secret: Zeroizing<String>,
}

/// List applications.
#[utoipa::path(get, path = "/applications", tag = "applications",
    responses((status = 200, body = List<ApplicationView>)))]
pub(super) async fn list(admin: Admin) -> Result<Response, ApiError> {
    let apps = admin.directory().store().applications().await?;
    Ok(ok(List {
        items: apps.iter().map(|a| ApplicationView::new(a, None)).collect(),
    }))
}

/// Register an application; a confidential client without keys gets a secret, shown once.
#[utoipa::path(post, path = "/applications", tag = "applications", request_body = ApplicationSpec,
    responses((status = 201, body = ApplicationView)))]
pub(super) async fn create(
    admin: Admin,
    JsonBody(spec): JsonBody<ApplicationSpec>,
) -> Result<Response, ApiError> {
    let made = admin.directory().create_application(&spec).await?;
    tracing::info!(admin = %admin.subject, app = %made.app.id, "application created");
    Ok(created(
        &format!("/admin/api/applications/{}", made.app.id),
        ApplicationView::new(&made.app, made.secret),
    ))
}

/// An application.
#[utoipa::path(get, path = "/applications/{id}", tag = "applications",
    params(("id" = String, Path)), responses((status = 200, body = ApplicationView)))]
pub(super) async fn show(admin: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    let app = admin.directory().store().application(&id).await?;
    Ok(ok(ApplicationView::new(&app, None)))
}

/// Replace an application's settings (the secret is kept).
#[utoipa::path(put, path = "/applications/{id}", tag = "applications",
    params(("id" = String, Path)), request_body = ApplicationSpec,
    responses((status = 200, body = ApplicationView)))]
pub(super) async fn replace(
    admin: Admin,
    Path(id): Path<String>,
    JsonBody(spec): JsonBody<ApplicationSpec>,
) -> Result<Response, ApiError> {
    if spec.id != id {
        return Err(ApiError::field("id", "must match the URL"));
    }
    let app = admin.directory().replace_application(&spec).await?;
    Ok(ok(ApplicationView::new(&app, None)))
}

/// Delete an application.
#[utoipa::path(delete, path = "/applications/{id}", tag = "applications",
    params(("id" = String, Path)), responses((status = 204)))]
pub(super) async fn delete(admin: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    admin.directory().delete_application(&id).await?;
    tracing::info!(admin = %admin.subject, app = %id, "application deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Make a new client secret, shown once; the old one stops working.
#[utoipa::path(post, path = "/applications/{id}/secret", tag = "applications",
    params(("id" = String, Path)), responses((status = 200, body = ClientSecret)))]
pub(super) async fn rotate_secret(admin: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    let client_secret = admin.directory().rotate_secret(&id).await?;
    tracing::info!(admin = %admin.subject, app = %id, "client secret rotated");
    Ok(ok(ClientSecret {
        client_id: id,
        client_secret,
    }))
}
