//! `/admin/api/users` and `/admin/api/groups`.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tessera_directory::{UserPatch, UserSpec};
use tessera_store::{Group, GroupId, User, UserId};

use super::{Admin, ApiError, JsonBody, Query, created, ok, page_size};

/// A user as the API shows it (never the password hash).
pub(super) fn user_json(u: &User) -> Value {
    json!({
        "id": u.id.0,
        "username": u.username,
        "email": u.email,
        "display_name": u.display_name,
        "status": u.status.as_str(),
        "risk": u.risk.as_str(),
        "has_password": u.password_hash.is_some(),
        "created_at": u.created_at.rfc3339(),
        "changed_at": u.changed_at.rfc3339(),
    })
}

fn group_json(g: &Group) -> Value {
    json!({ "id": g.id.0, "name": g.name, "created_at": g.created_at.rfc3339() })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Page {
    after: Option<String>,
    limit: Option<u32>,
}

/// `GET /users?after=&limit=`: users ordered by id, a page at a time.
pub(super) async fn list(admin: Admin, Query(page): Query<Page>) -> Result<Response, ApiError> {
    let limit = page_size(page.limit)?;
    let after = page.after.map(UserId);
    let users = admin
        .directory()
        .store()
        .list_users(after.as_ref(), limit)
        .await?;
    let next = (users.len() == limit as usize)
        .then(|| users.last().map(|u| u.id.0.clone()))
        .flatten();
    Ok(ok(json!({
        "items": users.iter().map(user_json).collect::<Vec<_>>(),
        "next": next,
    })))
}

/// `POST /users`
pub(super) async fn create(admin: Admin, JsonBody(spec): JsonBody<UserSpec>) -> Result<Response, ApiError> {
    let user = admin.directory().create_user(&spec).await?;
    tracing::info!(admin = %admin.subject, user = %user.id.0, "user created");
    Ok(created(
        &format!("/admin/api/users/{}", user.id.0),
        user_json(&user),
    ))
}

/// `GET /users/{id}`: the user with groups, MFA methods (without secrets) and devices.
pub(super) async fn show(admin: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    let directory = admin.directory();
    let store = directory.store();
    let id = UserId(id);
    let user = store.user(&id).await?;
    let mut body = user_json(&user);
    body["groups"] = store
        .groups_of(&id)
        .await?
        .into_iter()
        .map(|g| Value::from(g.0))
        .collect();
    body["mfa_methods"] = store
        .mfa_methods_of(&id)
        .await?
        .iter()
        .map(|m| {
            json!({
                "id": m.id,
                "kind": m.kind.as_str(),
                "label": m.label,
                "created_at": m.created_at.rfc3339(),
                "last_used_at": m.last_used_at.map(tessera_store::Timestamp::rfc3339),
            })
        })
        .collect();
    body["devices"] = store
        .devices_of(&id)
        .await?
        .iter()
        .map(crate::devices::device_json)
        .collect();
    Ok(ok(body))
}

/// `PATCH /users/{id}`: status, risk, display name, password.
pub(super) async fn update(
    admin: Admin,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<UserPatch>,
) -> Result<Response, ApiError> {
    let user = admin.directory().update_user(&UserId(id), &patch).await?;
    tracing::info!(admin = %admin.subject, user = %user.id.0, "user changed");
    Ok(ok(user_json(&user)))
}

/// `DELETE /users/{id}`
pub(super) async fn delete(admin: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    admin.directory().delete_user(&UserId(id.clone())).await?;
    tracing::info!(admin = %admin.subject, user = %id, "user deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /users/{id}/revoke-sessions`
pub(super) async fn revoke_sessions(admin: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    let revoked = admin.directory().revoke_sessions(&UserId(id.clone())).await?;
    tracing::info!(admin = %admin.subject, user = %id, revoked, "sessions revoked");
    Ok(ok(json!({ "revoked_sessions": revoked })))
}

/// `GET /groups`
pub(super) async fn list_groups(admin: Admin) -> Result<Response, ApiError> {
    let groups = admin.directory().store().groups().await?;
    Ok(ok(
        json!({ "items": groups.iter().map(group_json).collect::<Vec<_>>() }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewGroup {
    id: String,
    name: String,
}

/// `POST /groups`
pub(super) async fn create_group(
    admin: Admin,
    JsonBody(g): JsonBody<NewGroup>,
) -> Result<Response, ApiError> {
    let group = admin.directory().create_group(&g.id, &g.name).await?;
    Ok(created(
        &format!("/admin/api/groups/{}", group.id.0),
        group_json(&group),
    ))
}

/// `GET /groups/{id}`: the group with its members.
pub(super) async fn show_group(admin: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    let directory = admin.directory();
    let id = GroupId(id);
    let group = directory.store().group(&id).await?;
    let mut body = group_json(&group);
    body["members"] = directory
        .store()
        .members_of(&id)
        .await?
        .into_iter()
        .map(|u| Value::from(u.0))
        .collect();
    Ok(ok(body))
}

/// `DELETE /groups/{id}`
pub(super) async fn delete_group(admin: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    admin.directory().delete_group(&GroupId(id)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PUT /groups/{id}/members/{user}`: 201 when added, 204 when already a member.
pub(super) async fn add_member(
    admin: Admin,
    Path((group, user)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let added = admin
        .directory()
        .set_membership(&GroupId(group), &UserId(user), true)
        .await?;
    Ok(if added {
        StatusCode::CREATED
    } else {
        StatusCode::NO_CONTENT
    }
    .into_response())
}

/// `DELETE /groups/{id}/members/{user}`: 204, or 404 when not a member.
pub(super) async fn remove_member(
    admin: Admin,
    Path((group, user)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let removed = admin
        .directory()
        .set_membership(&GroupId(group), &UserId(user), false)
        .await?;
    if removed {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::NotFound("the user is not a member of the group".into()))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewMfaMethod {
    /// Only `totp` can be made by an administrator; passkeys are registered by their user.
    kind: String,
    /// A name the user will recognise ("phone").
    label: String,
}

/// `POST /users/{id}/mfa-methods`: a TOTP method; the secret and `otpauth://` URI are in this
/// response only.
pub(super) async fn add_mfa_method(
    admin: Admin,
    Path(id): Path<String>,
    JsonBody(m): JsonBody<NewMfaMethod>,
) -> Result<Response, ApiError> {
    if m.kind != "totp" {
        return Err(ApiError::field("kind", "only totp methods can be added here"));
    }
    let made = admin.directory().add_totp(&UserId(id.clone()), &m.label).await?;
    tracing::info!(admin = %admin.subject, user = %id, method = %made.method.id, "TOTP method added");
    Ok(created(
        &format!("/admin/api/users/{id}/mfa-methods/{}", made.method.id),
        json!({
            "id": made.method.id,
            "kind": "totp",
            "label": made.method.label,
            "secret": made.secret.as_str(),
            "otpauth_uri": made.uri.as_str(),
            "created_at": made.method.created_at.rfc3339(),
        }),
    ))
}

/// `DELETE /users/{id}/mfa-methods/{method}`
pub(super) async fn remove_mfa_method(
    admin: Admin,
    Path((id, method)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    admin
        .directory()
        .remove_mfa_method(&UserId(id.clone()), &method)
        .await?;
    tracing::info!(admin = %admin.subject, user = %id, %method, "MFA method removed");
    Ok(StatusCode::NO_CONTENT.into_response())
}
