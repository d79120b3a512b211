//! `/admin/api/applications`. A client secret appears in a response once, when it is made.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tessera_directory::ApplicationSpec;
use tessera_store::{AppKind, Application};

use super::{Admin, ApiError, JsonBody, created, ok};

fn app_json(a: &Application) -> Value {
    let auth_method = match (a.kind, &a.jwks) {
        (AppKind::Public, _) => "none",
        (AppKind::Confidential, Some(_)) => "private_key_jwt",
        (AppKind::Confidential, None) => "client_secret_basic",
    };
    json!({
        "id": a.id,
        "name": a.name,
        "kind": a.kind.as_str(),
        "token_endpoint_auth_method": auth_method,
        "redirect_uris": a.redirect_uris,
        "grant_types": a.grant_types,
        "scopes": a.scopes,
        "jwks": a.jwks,
        "access_token_minutes": a.access_token_minutes,
        "refresh_token_days": a.refresh_token_days,
        "cae_capable": a.cae_capable,
        "require_dpop": a.require_dpop,
        "created_at": a.created_at.rfc3339(),
        "changed_at": a.changed_at.rfc3339(),
    })
}

/// `GET /applications`
pub(super) async fn list(admin: Admin) -> Result<Response, ApiError> {
    let apps = admin.directory().store().applications().await?;
    Ok(ok(
        json!({ "items": apps.iter().map(app_json).collect::<Vec<_>>() }),
    ))
}

/// `POST /applications`: 201 with `client_secret` for a confidential client without keys.
pub(super) async fn create(
    admin: Admin,
    JsonBody(spec): JsonBody<ApplicationSpec>,
) -> Result<Response, ApiError> {
    let made = admin.directory().create_application(&spec).await?;
    tracing::info!(admin = %admin.subject, app = %made.app.id, "application created");
    let mut body = app_json(&made.app);
    if let Some(secret) = &made.secret {
        body["client_secret"] = Value::from(secret.as_str());
    }
    Ok(created(&format!("/admin/api/applications/{}", made.app.id), body))
}

/// `GET /applications/{id}`
pub(super) async fn show(admin: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    let app = admin.directory().store().application(&id).await?;
    Ok(ok(app_json(&app)))
}

/// `PUT /applications/{id}`: replaces the settings; the secret is kept.
pub(super) async fn replace(
    admin: Admin,
    Path(id): Path<String>,
    JsonBody(spec): JsonBody<ApplicationSpec>,
) -> Result<Response, ApiError> {
    if spec.id != id {
        return Err(ApiError::field("id", "must match the URL"));
    }
    let app = admin.directory().replace_application(&spec).await?;
    Ok(ok(app_json(&app)))
}

/// `DELETE /applications/{id}`
pub(super) async fn delete(admin: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    admin.directory().delete_application(&id).await?;
    tracing::info!(admin = %admin.subject, app = %id, "application deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /applications/{id}/secret`: a new secret, shown once; the old one stops working.
pub(super) async fn rotate_secret(admin: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    let secret = admin.directory().rotate_secret(&id).await?;
    tracing::info!(admin = %admin.subject, app = %id, "client secret rotated");
    Ok(ok(json!({ "client_id": id, "client_secret": secret.as_str() })))
}
