//! Users and groups in the console. Every change goes through [`tessera_directory::Directory`],
//! which validates it and raises its CAEP/RISC events; the pages show the field errors it
//! returns beside the inputs.

use askama::Template;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use tessera_directory::{UserPatch, UserSpec};
use tessera_store::{Device, Group, GroupId, MfaMethod, RiskLevel, StoreError, User, UserId, UserStatus};
use zeroize::Zeroizing;

use super::directory::{PAGE, form_errors, not_found, parse_enum};
use super::{Chrome, Console, DirectoryError, Fields, FormErrors, Post, Refused, Section, when};

/// Users a search looks through.
const SEARCH_SCAN: u32 = 5000;

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
    let status = errors.status();
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
    let status = page.errors.status();
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
            if status == UserStatus::Disabled {
                ask(
                    &format!(
                        "Disable {id}? Their sessions end now, and every API subscribed to Tessera's signals refuses their tokens."
                    ),
                    "Disable user",
                )?;
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
            ask(
                &format!("Reset {id}'s password? Their sessions end and they sign in with the new password."),
                "Reset password",
            )?;
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
            ask(
                &format!(
                    "Revoke all of {id}'s sessions? Every refresh token stops working and APIs refuse their access tokens."
                ),
                "Revoke sessions",
            )?;
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
            ask(
                &format!("Remove the sign-in method {method} from {id}?"),
                "Remove method",
            )?;
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
            ask(
                &format!("Remove {id} from the group {group}?"),
                "Remove from group",
            )?;
            directory
                .set_membership(&GroupId(group.to_owned()), &uid, false)
                .await
                .map(|_| "Removed from the group.".into())
        }
        "delete" => {
            ask(
                &format!(
                    "Delete {id}? This cannot be undone: their sessions, devices and methods go with them."
                ),
                "Delete user",
            )?;
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
    let status = errors.status();
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
            post.confirm(
                Section::Groups,
                &url,
                &format!("Remove {} from {id}?", user.0),
                "Remove member",
                &here,
            )?;
            directory
                .set_membership(&gid, &user, false)
                .await
                .map(|_| format!("{} removed.", user.0))
        }
        "delete" => {
            post.confirm(
                Section::Groups,
                &url,
                &format!("Delete the group {id}? Policies naming it must be changed first."),
                "Delete group",
                &here,
            )?;
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
