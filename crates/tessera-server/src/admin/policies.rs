//! `/admin/api/policies`, `/admin/api/locations` and `/admin/api/what-if`. A change reloads
//! this node's compiled policies at once; other nodes pick it up within seconds.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tessera_directory::LocationSpec;
use tessera_store::{NamedLocationRecord, PolicyRecord};

use super::{Admin, ApiError, JsonBody, created, ok};

fn policy_json(p: &PolicyRecord) -> Value {
    let mut doc = p.document.clone();
    if let Some(o) = doc.as_object_mut() {
        o.insert("modifiedDateTime".into(), p.changed_at.rfc3339().into());
    }
    doc
}

fn location_json(l: &NamedLocationRecord) -> Value {
    json!({
        "id": l.id,
        "display_name": l.display_name,
        "ip_ranges": l.ip_ranges,
        "trusted": l.trusted,
        "changed_at": l.changed_at.rfc3339(),
    })
}

async fn reload(admin: &Admin) -> Result<(), ApiError> {
    admin.state.policies.reload(admin.state.store.as_ref()).await?;
    Ok(())
}

/// `GET /policies`: every policy document.
pub(super) async fn list(admin: Admin) -> Result<Response, ApiError> {
    let policies = admin.directory().store().policies().await?;
    Ok(ok(
        json!({ "items": policies.iter().map(policy_json).collect::<Vec<_>>() }),
    ))
}

/// `GET /policies/{id}`
pub(super) async fn show(admin: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    let policy = admin.directory().store().policy(&id).await?;
    Ok(ok(policy_json(&policy)))
}

/// `PUT /policies/{id}`: creates (201) or replaces (200) a policy document.
pub(super) async fn put(
    admin: Admin,
    Path(id): Path<String>,
    JsonBody(document): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let (record, is_new) = admin.directory().put_policy(&id, document).await?;
    reload(&admin).await?;
    tracing::info!(admin = %admin.subject, policy = %id, state = %record.state, "policy written");
    Ok(if is_new {
        created(&format!("/admin/api/policies/{id}"), policy_json(&record))
    } else {
        ok(policy_json(&record))
    })
}

/// `DELETE /policies/{id}`
pub(super) async fn delete(admin: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    admin.directory().delete_policy(&id).await?;
    reload(&admin).await?;
    tracing::info!(admin = %admin.subject, policy = %id, "policy deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /locations`
pub(super) async fn list_locations(admin: Admin) -> Result<Response, ApiError> {
    let locations = admin.directory().store().named_locations().await?;
    Ok(ok(
        json!({ "items": locations.iter().map(location_json).collect::<Vec<_>>() }),
    ))
}

/// `GET /locations/{id}`
pub(super) async fn show_location(admin: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    let locations = admin.directory().store().named_locations().await?;
    let location = locations
        .iter()
        .find(|l| l.id == id)
        .ok_or_else(|| ApiError::NotFound("named location not found".into()))?;
    Ok(ok(location_json(location)))
}

/// `PUT /locations/{id}`: creates (201) or replaces (200).
pub(super) async fn put_location(
    admin: Admin,
    Path(id): Path<String>,
    JsonBody(spec): JsonBody<LocationSpec>,
) -> Result<Response, ApiError> {
    let (record, is_new) = admin.directory().put_location(&id, &spec).await?;
    reload(&admin).await?;
    Ok(if is_new {
        created(&format!("/admin/api/locations/{id}"), location_json(&record))
    } else {
        ok(location_json(&record))
    })
}

/// `DELETE /locations/{id}`: 409 while a policy uses it.
pub(super) async fn delete_location(admin: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    admin.directory().delete_location(&id).await?;
    reload(&admin).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /what-if`: which policies would apply to the sign-in, why, and the outcome, without
/// signing anyone in. Disabled policies are evaluated too, so their report shows whether they
/// would apply; they never change the outcome.
pub(super) async fn what_if(
    admin: Admin,
    JsonBody(q): JsonBody<tessera_directory::what_if::WhatIf>,
) -> Result<Response, ApiError> {
    let report =
        tessera_directory::what_if::report(admin.directory().store(), &admin.state.policies, &q).await?;
    Ok(ok(report.to_json()))
}
