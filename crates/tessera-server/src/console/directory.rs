//! Users, groups, devices, applications and named locations. Every change goes through
//! [`crate::directory::Directory`], which validates it and raises its CAEP/RISC events; the
//! console shows the field errors it returns beside the inputs.

use askama::Template;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;
use tessera_store::{
    AppKind, Application, Compliance, Device, DeviceStatus, Group, GroupId, MfaMethod, NamedLocationRecord,
    RiskLevel, StoreError, User, UserId, UserStatus,
};
use zeroize::Zeroizing;

use super::{Chrome, Console, DirectoryError, Fields, FormErrors, Post, Refused, Section, message, when};
use crate::directory::{ApplicationSpec, DevicePatch, GRANT_TYPES, LocationSpec, UserPatch, UserSpec};

/// Rows per page in lists.
const PAGE: u32 = 50;
/// Users a search looks through.
const SEARCH_SCAN: u32 = 5000;

/// Field errors for a form, or the refusal for anything else.
fn form_errors(e: DirectoryError) -> Result<FormErrors, Refused> {
    match e {
        DirectoryError::Invalid(errors) => Ok(FormErrors(errors)),
        DirectoryError::Conflict(m) => Ok(FormErrors::one("", m)),
        other => Err(other.into()),
    }
}

fn parse_enum<T: serde::de::DeserializeOwned>(value: &str) -> Option<T> {
    serde_json::from_value(Value::String(value.to_owned())).ok()
}

fn not_found(what: &str) -> Response {
    message(
        StatusCode::NOT_FOUND,
        "Not found",
        &format!("There is no such {what}."),
    )
}

// ----- users -----

#[derive(Debug, Deserialize)]
pub(super) struct UserQuery {
    q: Option<String>,
    after: Option<String>,
}

#[derive(Template)]
#[template(path = "console/users.html")]
struct Users {
    l: Chrome,
    q: String,
    users: Vec<User>,
    next: Option<String>,
    note: Option<String>,
    form: Fields,
    errors: FormErrors,
}

async fn users_page(
    console: &Console,
    query: UserQuery,
    form: Fields,
    errors: FormErrors,
) -> Result<Response, Refused> {
    let store = console.state().store.as_ref();
    let q = query.q.unwrap_or_default().trim().to_lowercase();
    let (users, next, note) = if q.is_empty() {
        let after = query.after.map(UserId);
        let users = store.list_users(after.as_ref(), PAGE).await?;
        let next = (users.len() == PAGE as usize)
            .then(|| users.last().map(|u| u.id.0.clone()))
            .flatten();
        (users, next, None)
    } else {
        let scanned = store.list_users(None, SEARCH_SCAN).await?;
        let note = (scanned.len() == SEARCH_SCAN as usize)
            .then(|| format!("Searched the first {SEARCH_SCAN} users."));
        let found: Vec<User> = scanned
            .into_iter()
            .filter(|u| {
                u.username.to_lowercase().contains(&q)
                    || u.display_name.to_lowercase().contains(&q)
                    || u.email.as_deref().is_some_and(|e| e.to_lowercase().contains(&q))
                    || u.id.0.to_lowercase().contains(&q)
            })
            .take(PAGE as usize)
            .collect();
        (found, None, note)
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = Users {
        l: console.chrome(Section::Users),
        q,
        users,
        next,
        note,
        form,
        errors,
    };
    Ok(console.page(status, &page))
}

/// `GET /admin/users?q=`
pub(super) async fn users(console: Console, Query(query): Query<UserQuery>) -> Result<Response, Refused> {
    users_page(&console, query, Fields::default(), FormErrors::none()).await
}

/// `POST /admin/users`: create a user.
pub(super) async fn create_user(post: Post) -> Result<Response, Refused> {
    let f = &post.fields;
    let spec = UserSpec {
        username: f.text("username").to_owned(),
        email: f.optional("email"),
        display_name: f.optional("display_name"),
        password: f
            .get("password")
            .filter(|p| !p.is_empty())
            .map(|p| Zeroizing::new(p.to_owned())),
    };
    match post.console.directory().create_user(&spec).await {
        Ok(user) => Ok(post.console.redirect(
            &format!("/admin/users/{}", user.id.0),
            &format!("User {} created.", user.username),
        )),
        Err(e) => {
            let errors = form_errors(e)?;
            let mut form = post.fields.clone();
            form.set("password", "");
            let query = UserQuery { q: None, after: None };
            users_page(&post.console, query, form, errors).await
        }
    }
}

#[derive(Template)]
#[template(path = "console/user.html")]
struct UserPage {
    l: Chrome,
    user: User,
    created: String,
    methods: Vec<MfaMethod>,
    devices: Vec<Device>,
    groups: Vec<GroupId>,
    other_groups: Vec<Group>,
    errors: FormErrors,
    new_totp: Option<(String, String)>,
}

async fn user_page(
    console: &Console,
    id: &str,
    errors: FormErrors,
    new_totp: Option<(String, String)>,
) -> Result<Response, Refused> {
    let store = console.state().store.as_ref();
    let user = match store.user(&UserId(id.to_owned())).await {
        Ok(u) => u,
        Err(StoreError::NotFound(_)) => return Ok(not_found("user")),
        Err(e) => return Err(e.into()),
    };
    let groups = store.groups_of(&user.id).await?;
    let other_groups = store
        .groups()
        .await?
        .into_iter()
        .filter(|g| !groups.contains(&g.id))
        .collect();
    let page = UserPage {
        l: console.chrome(Section::Users),
        created: when(user.created_at.0),
        methods: store.mfa_methods_of(&user.id).await?,
        devices: store.devices_of(&user.id).await?,
        groups,
        other_groups,
        user,
        new_totp,
        errors,
    };
    let status = if page.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(console.page(status, &page))
}

/// `GET /admin/users/{id}`
pub(super) async fn user(console: Console, Path(id): Path<String>) -> Result<Response, Refused> {
    user_page(&console, &id, FormErrors::none(), None).await
}

/// `POST /admin/users/{id}/{action}`: `status`, `password`, `revoke-sessions`, `risk`,
/// `add-totp`, `remove-mfa`, `join-group`, `leave-group`, `delete`.
pub(super) async fn user_action(
    Path((id, action)): Path<(String, String)>,
    post: Post,
) -> Result<Response, Refused> {
    let here = format!("/admin/users/{id}");
    let url = format!("{here}/{action}");
    let uid = UserId(id.clone());
    let f = &post.fields;
    let directory = post.console.directory();
    let done = |notice: &str| Ok(post.console.redirect(&here, notice));
    let ask = |question: &str, button: &str| post.confirm(Section::Users, &url, question, button, &here);
    let result = match action.as_str() {
        "status" => {
            let Some(status) = parse_enum::<UserStatus>(f.text("status")) else {
                return user_page(
                    &post.console,
                    &id,
                    FormErrors::one("status", "choose enabled or disabled"),
                    None,
                )
                .await;
            };
            if status == UserStatus::Disabled
                && let Some(page) = ask(
                    &format!(
                        "Disable {id}? Their sessions end now, and every API subscribed to Tessera's signals refuses their tokens."
                    ),
                    "Disable user",
                )
            {
                return Ok(page);
            }
            let patch = UserPatch {
                status: Some(status),
                ..UserPatch::default()
            };
            directory
                .update_user(&uid, &patch)
                .await
                .map(|_| format!("User {}.", status.as_str()))
        }
        "password" => {
            if let Some(page) = ask(
                &format!("Reset {id}'s password? Their sessions end and they sign in with the new password."),
                "Reset password",
            ) {
                return Ok(page);
            }
            let patch = UserPatch {
                password: Some(Zeroizing::new(f.get("password").unwrap_or_default().to_owned())),
                ..UserPatch::default()
            };
            directory
                .update_user(&uid, &patch)
                .await
                .map(|_| "Password reset.".into())
        }
        "revoke-sessions" => {
            if let Some(page) = ask(
                &format!(
                    "Revoke all of {id}'s sessions? Every refresh token stops working and APIs refuse their access tokens."
                ),
                "Revoke sessions",
            ) {
                return Ok(page);
            }
            directory
                .revoke_sessions(&uid)
                .await
                .map(|n| format!("{n} session(s) revoked."))
        }
        "risk" => {
            let Some(risk) = parse_enum::<RiskLevel>(f.text("risk")) else {
                return user_page(
                    &post.console,
                    &id,
                    FormErrors::one("risk", "choose a risk level"),
                    None,
                )
                .await;
            };
            let patch = UserPatch {
                risk: Some(risk),
                ..UserPatch::default()
            };
            directory
                .update_user(&uid, &patch)
                .await
                .map(|_| format!("Risk set to {}.", risk.as_str()))
        }
        "add-totp" => {
            let label = Some(f.text("label"))
                .filter(|l| !l.is_empty())
                .unwrap_or("Authenticator app");
            return match directory.add_totp(&uid, label).await {
                Ok(totp) => {
                    let shown = (totp.secret.to_string(), totp.uri.to_string());
                    user_page(&post.console, &id, FormErrors::none(), Some(shown)).await
                }
                Err(e) => user_page(&post.console, &id, form_errors(e)?, None).await,
            };
        }
        "remove-mfa" => {
            let method = f.text("method");
            if let Some(page) = ask(
                &format!("Remove the sign-in method {method} from {id}?"),
                "Remove method",
            ) {
                return Ok(page);
            }
            directory
                .remove_mfa_method(&uid, method)
                .await
                .map(|()| "Method removed.".into())
        }
        "join-group" => directory
            .set_membership(&GroupId(f.text("group").to_owned()), &uid, true)
            .await
            .map(|_| "Added to the group.".into()),
        "leave-group" => {
            let group = f.text("group");
            if let Some(page) = ask(
                &format!("Remove {id} from the group {group}?"),
                "Remove from group",
            ) {
                return Ok(page);
            }
            directory
                .set_membership(&GroupId(group.to_owned()), &uid, false)
                .await
                .map(|_| "Removed from the group.".into())
        }
        "delete" => {
            if let Some(page) = ask(
                &format!(
                    "Delete {id}? This cannot be undone: their sessions, devices and methods go with them."
                ),
                "Delete user",
            ) {
                return Ok(page);
            }
            return match directory.delete_user(&uid).await {
                Ok(()) => Ok(post
                    .console
                    .redirect("/admin/users", &format!("User {id} deleted."))),
                Err(e) => user_page(&post.console, &id, form_errors(e)?, None).await,
            };
        }
        _ => return Ok(not_found("action")),
    };
    match result {
        Ok(notice) => done(&notice),
        Err(DirectoryError::NotFound(what)) => Ok(not_found(what)),
        Err(e) => user_page(&post.console, &id, form_errors(e)?, None).await,
    }
}

// ----- groups -----

#[derive(Template)]
#[template(path = "console/groups.html")]
struct Groups {
    l: Chrome,
    groups: Vec<Group>,
    form: Fields,
    errors: FormErrors,
}

/// `GET /admin/groups`
pub(super) async fn groups(console: Console) -> Result<Response, Refused> {
    let page = Groups {
        l: console.chrome(Section::Groups),
        groups: console.state().store.groups().await?,
        form: Fields::default(),
        errors: FormErrors::none(),
    };
    Ok(console.page(StatusCode::OK, &page))
}

/// `POST /admin/groups`: create a group.
pub(super) async fn create_group(post: Post) -> Result<Response, Refused> {
    let id = post.fields.text("id");
    let name = Some(post.fields.text("name"))
        .filter(|n| !n.is_empty())
        .unwrap_or(id);
    match post.console.directory().create_group(id, name).await {
        Ok(g) => Ok(post.console.redirect(
            &format!("/admin/groups/{}", g.id.0),
            &format!("Group {} created.", g.name),
        )),
        Err(e) => {
            let page = Groups {
                l: post.console.chrome(Section::Groups),
                groups: post.console.state().store.groups().await?,
                errors: form_errors(e)?,
                form: post.fields.clone(),
            };
            Ok(post.console.page(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
    }
}

#[derive(Template)]
#[template(path = "console/group.html")]
struct GroupPage {
    l: Chrome,
    group: Group,
    members: Vec<UserId>,
    errors: FormErrors,
}

async fn group_page(console: &Console, id: &str, errors: FormErrors) -> Result<Response, Refused> {
    let store = console.state().store.as_ref();
    let group = match store.group(&GroupId(id.to_owned())).await {
        Ok(g) => g,
        Err(StoreError::NotFound(_)) => return Ok(not_found("group")),
        Err(e) => return Err(e.into()),
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = GroupPage {
        l: console.chrome(Section::Groups),
        members: store.members_of(&group.id).await?,
        group,
        errors,
    };
    Ok(console.page(status, &page))
}

/// `GET /admin/groups/{id}`
pub(super) async fn group(console: Console, Path(id): Path<String>) -> Result<Response, Refused> {
    group_page(&console, &id, FormErrors::none()).await
}

/// `POST /admin/groups/{id}/{action}`: `add-member`, `remove-member`, `delete`.
pub(super) async fn group_action(
    Path((id, action)): Path<(String, String)>,
    post: Post,
) -> Result<Response, Refused> {
    let here = format!("/admin/groups/{id}");
    let url = format!("{here}/{action}");
    let gid = GroupId(id.clone());
    let directory = post.console.directory();
    let user = UserId(post.fields.text("user").to_owned());
    let result = match action.as_str() {
        "add-member" => {
            if user.0.is_empty() {
                return group_page(&post.console, &id, FormErrors::one("user", "enter a user id")).await;
            }
            directory
                .set_membership(&gid, &user, true)
                .await
                .map(|_| format!("{} added.", user.0))
        }
        "remove-member" => {
            if let Some(page) = post.confirm(
                Section::Groups,
                &url,
                &format!("Remove {} from {id}?", user.0),
                "Remove member",
                &here,
            ) {
                return Ok(page);
            }
            directory
                .set_membership(&gid, &user, false)
                .await
                .map(|_| format!("{} removed.", user.0))
        }
        "delete" => {
            if let Some(page) = post.confirm(
                Section::Groups,
                &url,
                &format!("Delete the group {id}? Policies naming it must be changed first."),
                "Delete group",
                &here,
            ) {
                return Ok(page);
            }
            return match directory.delete_group(&gid).await {
                Ok(()) => Ok(post
                    .console
                    .redirect("/admin/groups", &format!("Group {id} deleted."))),
                Err(e) => group_page(&post.console, &id, form_errors(e)?).await,
            };
        }
        _ => return Ok(not_found("action")),
    };
    match result {
        Ok(notice) => Ok(post.console.redirect(&here, &notice)),
        Err(DirectoryError::NotFound(what)) => {
            group_page(
                &post.console,
                &id,
                FormErrors::one("user", format!("no such {what}")),
            )
            .await
        }
        Err(e) => group_page(&post.console, &id, form_errors(e)?).await,
    }
}

// ----- devices -----

#[derive(Debug, Deserialize)]
pub(super) struct After {
    after: Option<String>,
}

#[derive(Template)]
#[template(path = "console/devices.html")]
struct Devices {
    l: Chrome,
    devices: Vec<Device>,
    next: Option<String>,
}

/// `GET /admin/devices`
pub(super) async fn devices(console: Console, Query(q): Query<After>) -> Result<Response, Refused> {
    let devices = console.state().store.devices(q.after.as_deref(), PAGE).await?;
    let next = (devices.len() == PAGE as usize)
        .then(|| devices.last().map(|d| d.id.clone()))
        .flatten();
    let page = Devices {
        l: console.chrome(Section::Devices),
        devices,
        next,
    };
    Ok(console.page(StatusCode::OK, &page))
}

#[derive(Template)]
#[template(path = "console/device.html")]
struct DevicePage {
    l: Chrome,
    device: Device,
    /// What the key's attestation showed, in words.
    key_detail: String,
    created: String,
    seen: String,
}

/// "TPM 2.0 by IFX (SLB9670), firmware 0x…, verified …" or why attestation failed.
fn key_detail(d: &Device) -> String {
    let Some(a) = &d.key_attestation else {
        return match d.key_protection {
            tessera_store::KeyProtection::Hardware => {
                "in hardware, by the client's word (no evidence)".into()
            }
            _ => "in the client's files or memory".into(),
        };
    };
    let shown = |v: &Option<String>| v.as_deref().unwrap_or("?").to_owned();
    if let Some(error) = &a.error {
        return format!("attestation failed: {error}");
    }
    format!(
        "TPM 2.0 by {} ({} {}), firmware {}, verified {}",
        shown(&a.manufacturer),
        shown(&a.model),
        shown(&a.version),
        shown(&a.firmware),
        a.verified_at.map_or_else(|| "?".into(), |t| when(t * 1000))
    )
}

/// `GET /admin/devices/{id}`
pub(super) async fn device(console: Console, Path(id): Path<String>) -> Result<Response, Refused> {
    let device = match console.state().store.device(&id).await {
        Ok(d) => d,
        Err(StoreError::NotFound(_)) => return Ok(not_found("device")),
        Err(e) => return Err(e.into()),
    };
    let page = DevicePage {
        l: console.chrome(Section::Devices),
        created: when(device.created_at.0),
        seen: device.last_seen_at.map_or_else(|| "never".into(), |t| when(t.0)),
        key_detail: key_detail(&device),
        device,
    };
    Ok(console.page(StatusCode::OK, &page))
}

/// `POST /admin/devices/{id}/{action}`: `compliance`, `status`, `delete`.
pub(super) async fn device_action(
    Path((id, action)): Path<(String, String)>,
    post: Post,
) -> Result<Response, Refused> {
    let here = format!("/admin/devices/{id}");
    let url = format!("{here}/{action}");
    let directory = post.console.directory();
    let f = &post.fields;
    let invalid = |m: &str| Ok(message(StatusCode::UNPROCESSABLE_ENTITY, "Not valid", m));
    let result = match action.as_str() {
        "compliance" => {
            let Some(compliance) = parse_enum::<Compliance>(f.text("compliance")) else {
                return invalid("compliance must be unknown, compliant or not-compliant");
            };
            let patch = DevicePatch {
                compliance: Some(compliance),
                status: None,
            };
            directory
                .update_device(&id, patch)
                .await
                .map(|_| format!("Compliance set to {}.", compliance.as_str()))
        }
        "status" => {
            let Some(status) = parse_enum::<DeviceStatus>(f.text("status")) else {
                return invalid("status must be enabled or disabled");
            };
            if status == DeviceStatus::Disabled
                && let Some(page) = post.confirm(
                    Section::Devices,
                    &url,
                    &format!("Disable device {id}? Sign-ins bound to its key stop meeting token protection."),
                    "Disable device",
                    &here,
                )
            {
                return Ok(page);
            }
            let patch = DevicePatch {
                status: Some(status),
                compliance: None,
            };
            directory
                .update_device(&id, patch)
                .await
                .map(|_| format!("Device {}.", status.as_str()))
        }
        "delete" => {
            if let Some(page) = post.confirm(
                Section::Devices,
                &url,
                &format!("Delete device {id}? Its key no longer counts as a registered device."),
                "Delete device",
                &here,
            ) {
                return Ok(page);
            }
            return match directory.delete_device(&id).await {
                Ok(()) => Ok(post
                    .console
                    .redirect("/admin/devices", &format!("Device {id} deleted."))),
                Err(e) => Err(e.into()),
            };
        }
        _ => return Ok(not_found("action")),
    };
    match result {
        Ok(notice) => Ok(post.console.redirect(&here, &notice)),
        Err(e) => Err(e.into()),
    }
}

// ----- applications -----

#[derive(Template)]
#[template(path = "console/applications.html")]
struct Applications {
    l: Chrome,
    apps: Vec<Application>,
}

/// `GET /admin/applications`
pub(super) async fn applications(console: Console) -> Result<Response, Refused> {
    let page = Applications {
        l: console.chrome(Section::Applications),
        apps: console.state().store.applications().await?,
    };
    Ok(console.page(StatusCode::OK, &page))
}

#[derive(Template)]
#[template(path = "console/application.html")]
struct ApplicationForm {
    l: Chrome,
    /// `None` for a new application.
    existing: Option<String>,
    form: Fields,
    errors: FormErrors,
    grant_types: &'static [&'static str],
}

#[derive(Template)]
#[template(path = "console/secret.html")]
struct SecretShown {
    l: Chrome,
    app: String,
    secret: String,
}

fn app_fields(app: &Application) -> Fields {
    let mut f = Fields::default();
    f.set("id", app.id.clone());
    f.set("name", app.name.clone());
    f.set("kind", app.kind.as_str());
    f.set("redirect_uris", app.redirect_uris.join("\n"));
    for g in &app.grant_types {
        f.push("grant_types", g.clone());
    }
    f.set("scopes", app.scopes.join(" "));
    f.set(
        "jwks",
        app.jwks
            .as_ref()
            .map(|j| serde_json::to_string_pretty(j).unwrap_or_default())
            .unwrap_or_default(),
    );
    f.set("access_token_minutes", app.access_token_minutes.to_string());
    f.set("refresh_token_days", app.refresh_token_days.to_string());
    if app.cae_capable {
        f.set("cae_capable", "on");
    }
    if app.require_dpop {
        f.set("require_dpop", "on");
    }
    f
}

fn app_spec(id: &str, f: &Fields) -> Result<ApplicationSpec, FormErrors> {
    let mut errors = Vec::new();
    let mut number = |name: &str| -> i64 {
        f.text(name).parse().unwrap_or_else(|_| {
            errors.push(crate::directory::FieldError::new(name, "must be a whole number"));
            0
        })
    };
    let access_token_minutes = number("access_token_minutes");
    let refresh_token_days = number("refresh_token_days");
    let jwks = match f.optional("jwks") {
        None => None,
        Some(text) => match serde_json::from_str(&text) {
            Ok(v) => Some(v),
            Err(e) => {
                errors.push(crate::directory::FieldError::new(
                    "jwks",
                    format!("not JSON: {e}"),
                ));
                None
            }
        },
    };
    let kind = match f.text("kind") {
        "confidential" => AppKind::Confidential,
        _ => AppKind::Public,
    };
    if !errors.is_empty() {
        return Err(FormErrors(errors));
    }
    Ok(ApplicationSpec {
        id: id.to_owned(),
        name: f.optional("name"),
        kind,
        redirect_uris: f.lines("redirect_uris"),
        grant_types: f.all("grant_types"),
        scopes: f.text("scopes").split_whitespace().map(str::to_owned).collect(),
        jwks,
        access_token_minutes,
        refresh_token_days,
        cae_capable: f.has("cae_capable", "on"),
        require_dpop: f.has("require_dpop", "on"),
    })
}

/// `GET /admin/applications/{id}`; `new` is the form for a new one.
pub(super) async fn application(console: Console, Path(id): Path<String>) -> Result<Response, Refused> {
    let (existing, form) = if id == "new" {
        let mut f = Fields::default();
        f.set("access_token_minutes", "60");
        f.set("refresh_token_days", "30");
        f.set("scopes", "openid profile email offline_access");
        f.push("grant_types", "authorization_code");
        f.push("grant_types", "refresh_token");
        (None, f)
    } else {
        match console.state().store.application(&id).await {
            Ok(app) => (Some(app.id.clone()), app_fields(&app)),
            Err(StoreError::NotFound(_)) => return Ok(not_found("application")),
            Err(e) => return Err(e.into()),
        }
    };
    let page = ApplicationForm {
        l: console.chrome(Section::Applications),
        existing,
        form,
        errors: FormErrors::none(),
        grant_types: &GRANT_TYPES,
    };
    Ok(console.page(StatusCode::OK, &page))
}

fn app_form_again(post: &Post, existing: Option<String>, errors: FormErrors) -> Response {
    let page = ApplicationForm {
        l: post.console.chrome(Section::Applications),
        existing,
        form: post.fields.clone(),
        errors,
        grant_types: &GRANT_TYPES,
    };
    post.console.page(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

/// `POST /admin/applications`: create one; a confidential client's secret is shown once.
pub(super) async fn create_application(post: Post) -> Result<Response, Refused> {
    let spec = match app_spec(post.fields.text("id"), &post.fields) {
        Ok(s) => s,
        Err(errors) => return Ok(app_form_again(&post, None, errors)),
    };
    match post.console.directory().create_application(&spec).await {
        Ok(created) => match created.secret {
            Some(secret) => {
                let page = SecretShown {
                    l: post.console.chrome(Section::Applications),
                    app: created.app.id,
                    secret: secret.to_string(),
                };
                Ok(post.console.page(StatusCode::CREATED, &page))
            }
            None => Ok(post.console.redirect(
                &format!("/admin/applications/{}", created.app.id),
                "Application created.",
            )),
        },
        Err(e) => Ok(app_form_again(&post, None, form_errors(e)?)),
    }
}

/// `POST /admin/applications/{id}/{action}`: `save`, `rotate-secret`, `delete`.
pub(super) async fn application_action(
    Path((id, action)): Path<(String, String)>,
    post: Post,
) -> Result<Response, Refused> {
    let here = format!("/admin/applications/{id}");
    let url = format!("{here}/{action}");
    let directory = post.console.directory();
    match action.as_str() {
        "save" => {
            let spec = match app_spec(&id, &post.fields) {
                Ok(s) => s,
                Err(errors) => return Ok(app_form_again(&post, Some(id), errors)),
            };
            match directory.replace_application(&spec).await {
                Ok(_) => Ok(post.console.redirect(&here, "Application saved.")),
                Err(DirectoryError::NotFound(w)) => Ok(not_found(w)),
                Err(e) => Ok(app_form_again(&post, Some(id), form_errors(e)?)),
            }
        }
        "rotate-secret" => {
            if let Some(page) = post.confirm(
                Section::Applications,
                &url,
                &format!("Give {id} a new client secret? The old one stops working at once."),
                "Rotate secret",
                &here,
            ) {
                return Ok(page);
            }
            let secret = directory.rotate_secret(&id).await?;
            let page = SecretShown {
                l: post.console.chrome(Section::Applications),
                app: id,
                secret: secret.to_string(),
            };
            Ok(post.console.page(StatusCode::OK, &page))
        }
        "delete" => {
            if let Some(page) = post.confirm(
                Section::Applications,
                &url,
                &format!("Delete the application {id}? Its tokens stop being renewed."),
                "Delete application",
                &here,
            ) {
                return Ok(page);
            }
            directory.delete_application(&id).await?;
            Ok(post
                .console
                .redirect("/admin/applications", &format!("Application {id} deleted.")))
        }
        _ => Ok(not_found("action")),
    }
}

// ----- named locations -----

#[derive(Template)]
#[template(path = "console/locations.html")]
struct Locations {
    l: Chrome,
    locations: Vec<NamedLocationRecord>,
    form: Fields,
    errors: FormErrors,
    editing: bool,
}

async fn locations_page(
    console: &Console,
    form: Fields,
    errors: FormErrors,
    editing: bool,
) -> Result<Response, Refused> {
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = Locations {
        l: console.chrome(Section::Locations),
        locations: console.state().store.named_locations().await?,
        form,
        errors,
        editing,
    };
    Ok(console.page(status, &page))
}

/// `GET /admin/locations`
pub(super) async fn locations(console: Console) -> Result<Response, Refused> {
    locations_page(&console, Fields::default(), FormErrors::none(), false).await
}

/// `GET /admin/locations/{id}`: the list with the location in the editor.
pub(super) async fn location(console: Console, Path(id): Path<String>) -> Result<Response, Refused> {
    let all = console.state().store.named_locations().await?;
    let Some(l) = all.iter().find(|l| l.id == id) else {
        return Ok(not_found("named location"));
    };
    let mut f = Fields::default();
    f.set("id", l.id.clone());
    f.set("display_name", l.display_name.clone());
    f.set("ip_ranges", l.ip_ranges.join("\n"));
    if l.trusted {
        f.set("trusted", "on");
    }
    locations_page(&console, f, FormErrors::none(), true).await
}

/// `POST /admin/locations`: create or replace one by id.
pub(super) async fn save_location(post: Post) -> Result<Response, Refused> {
    let f = &post.fields;
    let id = f.text("id");
    let spec = LocationSpec {
        display_name: f.text("display_name").to_owned(),
        ip_ranges: f.lines("ip_ranges"),
        trusted: f.has("trusted", "on"),
    };
    match post.console.directory().put_location(id, &spec).await {
        Ok((record, _)) => {
            let state = post.console.state();
            state.policies.reload(state.store.as_ref()).await?;
            Ok(post.console.redirect(
                "/admin/locations",
                &format!("Location {} saved.", record.display_name),
            ))
        }
        Err(e) => {
            let editing = f.has("editing", "yes");
            locations_page(&post.console, post.fields.clone(), form_errors(e)?, editing).await
        }
    }
}

/// `POST /admin/locations/{id}/delete`
pub(super) async fn delete_location(Path(id): Path<String>, post: Post) -> Result<Response, Refused> {
    if let Some(page) = post.confirm(
        Section::Locations,
        &format!("/admin/locations/{id}/delete"),
        &format!("Delete the named location {id}?"),
        "Delete location",
        "/admin/locations",
    ) {
        return Ok(page);
    }
    match post.console.directory().delete_location(&id).await {
        Ok(()) => {
            let state = post.console.state();
            state.policies.reload(state.store.as_ref()).await?;
            Ok(post
                .console
                .redirect("/admin/locations", &format!("Location {id} deleted.")))
        }
        Err(e) => locations_page(&post.console, Fields::default(), form_errors(e)?, false).await,
    }
}
