//! `/admin/api/users` and `/admin/api/groups`.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tessera_directory::{UserPatch, UserSpec};
use tessera_store::{Group, GroupId, MfaKind, MfaMethod, RiskLevel, User, UserId, UserStatus};
use utoipa::{IntoParams, ToSchema};
use zeroize::Zeroizing;

use super::{Admin, ApiError, JsonBody, List, Page, Query, created, ok, page_size};
use crate::devices::DeviceView;

/// A user as the API shows it (never the password hash).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = User)]
pub(super) struct UserView {
    /// The user's id.
    id: String,
    /// The sign-in name.
    username: String,
    /// An email address.
    email: Option<String>,
    /// A name for people.
    display_name: String,
    /// A disabled user cannot sign in, and every API refuses their tokens.
    status: UserStatus,
    /// Set by an administrator or a risk signal; policies read it.
    risk: RiskLevel,
    /// Whether the user can sign in with a password.
    has_password: bool,
    /// RFC 3339.
    #[schema(format = DateTime)]
    created_at: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    changed_at: String,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.0.clone(),
            username: u.username.clone(),
            email: u.email.clone(),
            display_name: u.display_name.clone(),
            status: u.status,
            risk: u.risk,
            has_password: u.password_hash.is_some(),
            created_at: u.created_at.rfc3339(),
            changed_at: u.changed_at.rfc3339(),
        }
    }
}

/// A user with what hangs off them.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct UserDetail {
    #[serde(flatten)]
    user: UserView,
    /// The ids of the groups the user is in.
    groups: Vec<String>,
    /// MFA methods, without their secrets.
    mfa_methods: Vec<MfaMethodView>,
    /// Registered devices.
    devices: Vec<DeviceView>,
}

/// An MFA method, without its secret.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = MfaMethod)]
struct MfaMethodView {
    /// The method's id.
    id: String,
    /// TOTP or passkey.
    kind: MfaKind,
    /// A name the user recognises.
    label: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    created_at: String,
    /// RFC 3339; null when never used.
    #[schema(format = DateTime)]
    last_used_at: Option<String>,
}

impl From<&MfaMethod> for MfaMethodView {
    fn from(m: &MfaMethod) -> Self {
        Self {
            id: m.id.clone(),
            kind: m.kind,
            label: m.label.clone(),
            created_at: m.created_at.rfc3339(),
            last_used_at: m.last_used_at.map(tessera_store::Timestamp::rfc3339),
        }
    }
}

/// A group.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Group)]
pub(super) struct GroupView {
    /// The group's id.
    id: String,
    /// A name for people.
    name: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    created_at: String,
}

impl From<&Group> for GroupView {
    fn from(g: &Group) -> Self {
        Self {
            id: g.id.0.clone(),
            name: g.name.clone(),
            created_at: g.created_at.rfc3339(),
        }
    }
}

/// A group with its members.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct GroupDetail {
    #[serde(flatten)]
    group: GroupView,
    /// The members' user ids.
    members: Vec<String>,
}

/// How many sessions were ended.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Revoked {
    /// Sessions ended now (the user's tokens are refused whatever the count).
    revoked_sessions: u64,
}

/// `GET /users`' query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct UserQuery {
    /// The `next` value of the previous page.
    after: Option<String>,
    /// 1 to 1000, default 100.
    limit: Option<u32>,
}

/// List users by id, a page at a time.
#[utoipa::path(get, path = "/users", tag = "users", params(UserQuery),
    responses((status = 200, body = Page<UserView>)))]
pub(super) async fn list(admin: Admin, Query(page): Query<UserQuery>) -> Result<Response, ApiError> {
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
    Ok(ok(Page {
        items: users.iter().map(UserView::from).collect(),
        next,
    }))
}

/// Create a user.
#[utoipa::path(post, path = "/users", tag = "users", request_body = UserSpec,
    responses((status = 201, body = UserView)))]
pub(super) async fn create(admin: Admin, JsonBody(spec): JsonBody<UserSpec>) -> Result<Response, ApiError> {
    let user = admin.directory().create_user(&spec).await?;
    tracing::info!(admin = %admin.subject, user = %user.id.0, "user created");
    Ok(created(
        &format!("/admin/api/users/{}", user.id.0),
        UserView::from(&user),
    ))
}

/// A user with groups, MFA methods (without secrets) and devices.
#[utoipa::path(get, path = "/users/{id}", tag = "users", params(("id" = String, Path)),
    responses((status = 200, body = UserDetail)))]
pub(super) async fn show(admin: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    let directory = admin.directory();
    let store = directory.store();
    let id = UserId(id);
    let user = store.user(&id).await?;
    Ok(ok(UserDetail {
        user: UserView::from(&user),
        groups: store.groups_of(&id).await?.into_iter().map(|g| g.0).collect(),
        mfa_methods: store
            .mfa_methods_of(&id)
            .await?
            .iter()
            .map(MfaMethodView::from)
            .collect(),
        devices: store
            .devices_of(&id)
            .await?
            .iter()
            .map(DeviceView::from)
            .collect(),
    }))
}

/// Disable or enable, set risk, rename or reset the password (disable and reset end every
/// session).
#[utoipa::path(patch, path = "/users/{id}", tag = "users", params(("id" = String, Path)),
    request_body = UserPatch, responses((status = 200, body = UserView)))]
pub(super) async fn update(
    admin: Admin,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<UserPatch>,
) -> Result<Response, ApiError> {
    let user = admin.directory().update_user(&UserId(id), &patch).await?;
    tracing::info!(admin = %admin.subject, user = %user.id.0, "user changed");
    Ok(ok(UserView::from(&user)))
}

/// Delete a user.
#[utoipa::path(delete, path = "/users/{id}", tag = "users", params(("id" = String, Path)),
    responses((status = 204)))]
pub(super) async fn delete(admin: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    admin.directory().delete_user(&UserId(id.clone())).await?;
    tracing::info!(admin = %admin.subject, user = %id, "user deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// End every session of the user (session-revoked event).
#[utoipa::path(post, path = "/users/{id}/revoke-sessions", tag = "users",
    params(("id" = String, Path)), responses((status = 200, body = Revoked)))]
pub(super) async fn revoke_sessions(admin: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    let revoked_sessions = admin.directory().revoke_sessions(&UserId(id.clone())).await?;
    tracing::info!(admin = %admin.subject, user = %id, revoked_sessions, "sessions revoked");
    Ok(ok(Revoked { revoked_sessions }))
}

/// List groups.
#[utoipa::path(get, path = "/groups", tag = "groups", responses((status = 200, body = List<GroupView>)))]
pub(super) async fn list_groups(admin: Admin) -> Result<Response, ApiError> {
    let groups = admin.directory().store().groups().await?;
    Ok(ok(List {
        items: groups.iter().map(GroupView::from).collect(),
    }))
}

/// A group to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewGroup {
    /// The group's id, which policies name.
    id: String,
    /// A name for people.
    name: String,
}

/// Create a group.
#[utoipa::path(post, path = "/groups", tag = "groups", request_body = NewGroup,
    responses((status = 201, body = GroupView)))]
pub(super) async fn create_group(
    admin: Admin,
    JsonBody(g): JsonBody<NewGroup>,
) -> Result<Response, ApiError> {
    let group = admin.directory().create_group(&g.id, &g.name).await?;
    Ok(created(
        &format!("/admin/api/groups/{}", group.id.0),
        GroupView::from(&group),
    ))
}

/// A group with its members.
#[utoipa::path(get, path = "/groups/{id}", tag = "groups", params(("id" = String, Path)),
    responses((status = 200, body = GroupDetail)))]
pub(super) async fn show_group(admin: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    let directory = admin.directory();
    let id = GroupId(id);
    let group = directory.store().group(&id).await?;
    Ok(ok(GroupDetail {
        group: GroupView::from(&group),
        members: directory
            .store()
            .members_of(&id)
            .await?
            .into_iter()
            .map(|u| u.0)
            .collect(),
    }))
}

/// Delete a group.
#[utoipa::path(delete, path = "/groups/{id}", tag = "groups", params(("id" = String, Path)),
    responses((status = 204)))]
pub(super) async fn delete_group(admin: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    admin.directory().delete_group(&GroupId(id)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Add a member (201; 204 when already one).
#[utoipa::path(put, path = "/groups/{id}/members/{user}", tag = "groups",
    params(("id" = String, Path), ("user" = String, Path)),
    responses((status = 201), (status = 204)))]
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

/// Remove a member (404 when not one).
#[utoipa::path(delete, path = "/groups/{id}/members/{user}", tag = "groups",
    params(("id" = String, Path), ("user" = String, Path)), responses((status = 204)))]
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

/// The kinds of MFA method an administrator can give: passkeys are registered by their user.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
pub(super) enum GivenMfaKind {
    /// Time-based one-time passwords (RFC 6238).
    #[serde(rename = "totp")]
    Totp,
}

/// An MFA method to give a user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewMfaMethod {
    /// Only `totp`.
    #[expect(dead_code, reason = "one kind yet: the type is the check")]
    kind: GivenMfaKind,
    /// A name the user will recognise ("phone").
    label: String,
}

/// A TOTP method just made: the only answer that holds its secret.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct NewTotp {
    /// The method's id.
    id: String,
    /// `totp`.
    kind: MfaKind,
    /// A name the user recognises.
    label: String,
    /// Base32, for authenticator apps.
    #[schema(value_type = String)]
    secret: Zeroizing<String>,
    /// The `otpauth://` URI, for a QR code.
    #[schema(value_type = String)]
    otpauth_uri: Zeroizing<String>,
    /// RFC 3339.
    #[schema(format = DateTime)]
    created_at: String,
}

/// Give the user a TOTP method; the secret and otpauth URI are in this response only
/// (credential-change event).
#[utoipa::path(post, path = "/users/{id}/mfa-methods", tag = "users", params(("id" = String, Path)),
    request_body = NewMfaMethod, responses((status = 201, body = NewTotp)))]
pub(super) async fn add_mfa_method(
    admin: Admin,
    Path(id): Path<String>,
    JsonBody(m): JsonBody<NewMfaMethod>,
) -> Result<Response, ApiError> {
    let tessera_directory::NewTotp { method, secret, uri } =
        admin.directory().add_totp(&UserId(id.clone()), &m.label).await?;
    tracing::info!(admin = %admin.subject, user = %id, method = %method.id, "TOTP method added");
    Ok(created(
        &format!("/admin/api/users/{id}/mfa-methods/{}", method.id),
        NewTotp {
            created_at: method.created_at.rfc3339(),
            id: method.id,
            kind: method.kind,
            label: method.label,
            secret,
            otpauth_uri: uri,
        },
    ))
}

/// Remove an MFA method (credential-change event).
#[utoipa::path(delete, path = "/users/{id}/mfa-methods/{method}", tag = "users",
    params(("id" = String, Path), ("method" = String, Path)), responses((status = 204)))]
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
