//! `/admin/api/policies`, `/admin/api/locations` and `/admin/api/what-if`. A change reloads
//! this node's compiled policies at once; other nodes pick it up within seconds.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use tessera_directory::LocationSpec;
use tessera_directory::what_if::{WhatIf, WhatIfAnswer};
use tessera_policy::Policy;
use tessera_store::{NamedLocationRecord, PolicyRecord};
use utoipa::ToSchema;

use super::{Admin, ApiError, JsonBody, List, created, ok};

fn policy_json(p: &PolicyRecord) -> Value {
    let mut doc = p.document.clone();
    if let Some(o) = doc.as_object_mut() {
        o.insert("modifiedDateTime".into(), p.changed_at.rfc3339().into());
    }
    doc
}

/// A named location.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Location)]
struct LocationView {
    /// The id policies name it by.
    id: String,
    /// A name for people.
    display_name: String,
    /// IPv4 and IPv6 ranges in CIDR notation.
    ip_ranges: Vec<String>,
    /// Whether it counts as trusted (`AllTrusted`).
    trusted: bool,
    /// RFC 3339.
    #[schema(format = DateTime)]
    changed_at: String,
}

impl From<&NamedLocationRecord> for LocationView {
    fn from(l: &NamedLocationRecord) -> Self {
        Self {
            id: l.id.clone(),
            display_name: l.display_name.clone(),
            ip_ranges: l.ip_ranges.clone(),
            trusted: l.trusted,
            changed_at: l.changed_at.rfc3339(),
        }
    }
}

async fn reload(admin: &Admin) -> Result<(), ApiError> {
    admin.state.policies.reload(admin.state.store.as_ref()).await?;
    Ok(())
}

/// List Conditional Access policies.
#[utoipa::path(get, path = "/policies", tag = "policies", responses((status = 200, body = List<Policy>)))]
pub(super) async fn list(admin: Admin) -> Result<Response, ApiError> {
    let policies = admin.directory().store().policies().await?;
    Ok(ok(List {
        items: policies.iter().map(policy_json).collect(),
    }))
}

/// A policy document.
#[utoipa::path(get, path = "/policies/{id}", tag = "policies", params(("id" = String, Path)),
    responses((status = 200, body = Policy)))]
pub(super) async fn show(admin: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    let policy = admin.directory().store().policy(&id).await?;
    Ok(ok(policy_json(&policy)))
}

/// Create (201) or replace (200) a policy; every reference is checked.
///
/// The document is Microsoft Graph's `conditionalAccessPolicy`; its `id` may be left out (the
/// URL gives it). Graph members Tessera does not implement are accepted when empty or null.
#[utoipa::path(put, path = "/policies/{id}", tag = "policies", params(("id" = String, Path)),
    request_body = Policy, responses((status = 200, body = Policy), (status = 201, body = Policy)))]
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

/// Delete a policy.
#[utoipa::path(delete, path = "/policies/{id}", tag = "policies", params(("id" = String, Path)),
    responses((status = 204)))]
pub(super) async fn delete(admin: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    admin.directory().delete_policy(&id).await?;
    reload(&admin).await?;
    tracing::info!(admin = %admin.subject, policy = %id, "policy deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// List named locations.
#[utoipa::path(get, path = "/locations", tag = "locations",
    responses((status = 200, body = List<LocationView>)))]
pub(super) async fn list_locations(admin: Admin) -> Result<Response, ApiError> {
    let locations = admin.directory().store().named_locations().await?;
    Ok(ok(List {
        items: locations.iter().map(LocationView::from).collect(),
    }))
}

/// A named location.
#[utoipa::path(get, path = "/locations/{id}", tag = "locations", params(("id" = String, Path)),
    responses((status = 200, body = LocationView)))]
pub(super) async fn show_location(admin: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    let locations = admin.directory().store().named_locations().await?;
    let location = locations
        .iter()
        .find(|l| l.id == id)
        .ok_or_else(|| ApiError::NotFound("named location not found".into()))?;
    Ok(ok(LocationView::from(location)))
}

/// Create (201) or replace (200) a named location.
#[utoipa::path(put, path = "/locations/{id}", tag = "locations", params(("id" = String, Path)),
    request_body = LocationSpec,
    responses((status = 200, body = LocationView), (status = 201, body = LocationView)))]
pub(super) async fn put_location(
    admin: Admin,
    Path(id): Path<String>,
    JsonBody(spec): JsonBody<LocationSpec>,
) -> Result<Response, ApiError> {
    let (record, is_new) = admin.directory().put_location(&id, &spec).await?;
    reload(&admin).await?;
    Ok(if is_new {
        created(&format!("/admin/api/locations/{id}"), LocationView::from(&record))
    } else {
        ok(LocationView::from(&record))
    })
}

/// Delete a named location no policy uses (409 otherwise).
#[utoipa::path(delete, path = "/locations/{id}", tag = "locations", params(("id" = String, Path)),
    responses((status = 204)))]
pub(super) async fn delete_location(admin: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    admin.directory().delete_location(&id).await?;
    reload(&admin).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Evaluate a hypothetical sign-in: which policies apply, why, and the outcome.
///
/// Nobody is signed in. Disabled policies are evaluated too, so their report shows whether
/// they would apply; they never change the outcome.
#[utoipa::path(post, path = "/what-if", tag = "policies", request_body = WhatIf,
    responses((status = 200, body = WhatIfAnswer)))]
pub(super) async fn what_if(admin: Admin, JsonBody(q): JsonBody<WhatIf>) -> Result<Response, ApiError> {
    let report =
        tessera_directory::what_if::report(admin.directory().store(), &admin.state.policies, &q).await?;
    Ok(ok(report.answer()))
}
