//! `/admin/api/policies`, `/admin/api/locations` and `/admin/api/what-if`. A change reloads
//! this node's compiled policies at once; other nodes pick it up within seconds.

use std::net::IpAddr;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tessera_policy::{ClientAppType, Platform, TokenBinding};
use tessera_store::{NamedLocationRecord, PolicyRecord, RiskLevel, StoreError, UserId};

use super::{Admin, ApiError, JsonBody, created, ok, rfc3339};
use crate::access::{Attempt, context};
use crate::directory::LocationSpec;

fn policy_json(p: &PolicyRecord) -> Value {
    let mut doc = p.document.clone();
    if let Some(o) = doc.as_object_mut() {
        o.insert("modifiedDateTime".into(), rfc3339(p.changed_at).into());
    }
    doc
}

fn location_json(l: &NamedLocationRecord) -> Value {
    json!({
        "id": l.id,
        "display_name": l.display_name,
        "ip_ranges": l.ip_ranges,
        "trusted": l.trusted,
        "changed_at": rfc3339(l.changed_at),
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

/// A hypothetical sign-in: who, to what, from where, on what.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhatIf {
    /// The user's id; their groups and risk come from the directory.
    user: String,
    /// The application's id.
    application: String,
    /// The client's address.
    ip: IpAddr,
    /// `browser` (default) or `mobileAppsAndDesktopClients`.
    #[serde(default = "browser")]
    client_app_type: ClientAppType,
    /// A registered device's id; its platform and compliance come from its record.
    #[serde(default)]
    device: Option<String>,
    /// The platform of an unregistered device.
    #[serde(default)]
    platform: Option<Platform>,
    /// The user's risk, instead of the directory's.
    #[serde(default)]
    user_risk: Option<RiskLevel>,
    /// The sign-in's risk.
    #[serde(default)]
    sign_in_risk: Option<RiskLevel>,
    /// Whether MFA was done already.
    #[serde(default)]
    mfa: bool,
    /// Whether the request is bound to the device's key.
    #[serde(default = "not_applicable")]
    token_binding: TokenBinding,
}

const fn browser() -> ClientAppType {
    ClientAppType::Browser
}
const fn not_applicable() -> TokenBinding {
    TokenBinding::NotApplicable
}

fn policy_risk(r: RiskLevel) -> tessera_policy::RiskLevel {
    match r {
        RiskLevel::None => tessera_policy::RiskLevel::None,
        RiskLevel::Low => tessera_policy::RiskLevel::Low,
        RiskLevel::Medium => tessera_policy::RiskLevel::Medium,
        RiskLevel::High => tessera_policy::RiskLevel::High,
    }
}

/// `POST /what-if`: which policies would apply to the sign-in, why, and the outcome, without
/// signing anyone in. Disabled policies are evaluated too, so their report shows whether they
/// would apply; they never change the outcome.
pub(super) async fn what_if(admin: Admin, JsonBody(q): JsonBody<WhatIf>) -> Result<Response, ApiError> {
    let directory = admin.directory();
    Ok(ok(
        what_if_report(directory.store(), &admin.state.policies, &q).await?
    ))
}

/// The what-if report for `q`, as `POST /what-if` answers it: the context the policies saw,
/// and the decision with every policy's result and reasons.
///
/// # Errors
/// A field error for an unknown user, application or device; store errors.
pub async fn what_if_report(
    store: &dyn tessera_store::Store,
    policies: &crate::access::Policies,
    q: &WhatIf,
) -> Result<Value, ApiError> {
    let field = |name: &str, what: &str, e: StoreError| match e {
        StoreError::NotFound(_) => ApiError::field(name, format!("no such {what}")),
        e => e.into(),
    };
    let mut user = store
        .user(&UserId(q.user.clone()))
        .await
        .map_err(|e| field("user", "user", e))?;
    if let Some(risk) = q.user_risk {
        user.risk = risk;
    }
    let app = store
        .application(&q.application)
        .await
        .map_err(|e| field("application", "application", e))?;
    let device = match &q.device {
        Some(id) => {
            let d = store.device(id).await.map_err(|e| field("device", "device", e))?;
            if d.user_id != user.id {
                return Err(ApiError::field("device", "registered to another user"));
            }
            Some(d)
        }
        None => None,
    };
    let attempt = Attempt {
        user: &user,
        app: &app,
        device: device.as_ref(),
        groups: None,
        ip: q.ip,
        mfa: q.mfa,
        binding: q.token_binding,
        client_app_type: q.client_app_type,
    };
    let mut ctx = context(store, &attempt).await?;
    ctx.observed_platform = q.platform;
    ctx.sign_in_risk = q
        .sign_in_risk
        .map_or(tessera_policy::RiskLevel::None, policy_risk);
    let set = policies.current(store).await?;
    let decision = set.what_if(&ctx);
    let report = serde_json::to_value(decision.explain(&set)).map_err(|e| ApiError::Server(e.to_string()))?;
    Ok(json!({ "context": ctx, "decision": report }))
}
