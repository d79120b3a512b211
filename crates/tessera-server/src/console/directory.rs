//! Devices, applications and named locations in the console, and what every directory page
//! shares (users and groups are in [`super::users`]). Every change goes through
//! [`tessera_directory::Directory`], which validates it and raises its CAEP/RISC events; the
//! pages show the field errors it returns beside the inputs.

use askama::Template;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;
use tessera_directory::{ApplicationSpec, DevicePatch, GRANT_TYPES, LocationSpec};
use tessera_store::{
    AppKind, Application, Compliance, Device, DeviceStatus, NamedLocationRecord, StoreError,
};

use super::{Chrome, Console, DirectoryError, Fields, FormErrors, Post, Refused, Section, message, when};

/// Rows per page in lists.
pub(super) const PAGE: u32 = 50;

/// Field errors for a form, or the refusal for anything else.
pub(super) fn form_errors(e: DirectoryError) -> Result<FormErrors, Refused> {
    match e {
        DirectoryError::Invalid(errors) => Ok(FormErrors(errors)),
        DirectoryError::Conflict(m) => Ok(FormErrors::one("", m)),
        other => Err(other.into()),
    }
}

pub(super) fn parse_enum<T: serde::de::DeserializeOwned>(value: &str) -> Option<T> {
    serde_json::from_value(Value::String(value.to_owned())).ok()
}

pub(super) fn not_found(what: &str) -> Response {
    message(
        StatusCode::NOT_FOUND,
        "Not found",
        &format!("There is no such {what}."),
    )
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
            if status == DeviceStatus::Disabled {
                post.confirm(
                    Section::Devices,
                    &url,
                    &format!("Disable device {id}? Sign-ins bound to its key stop meeting token protection."),
                    "Disable device",
                    &here,
                )?;
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
            post.confirm(
                Section::Devices,
                &url,
                &format!("Delete device {id}? Its key no longer counts as a registered device."),
                "Delete device",
                &here,
            )?;
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
    if app.require_pushed_authorization_requests {
        f.set("require_pushed_authorization_requests", "on");
    }
    if let Some(uri) = &app.backchannel_logout_uri {
        f.set("backchannel_logout_uri", uri.clone());
    }
    if app.fapi2 {
        f.set("fapi2", "on");
    }
    f
}

fn app_spec(id: &str, f: &Fields) -> Result<ApplicationSpec, FormErrors> {
    let mut errors = Vec::new();
    let mut number = |name: &str| -> i64 {
        f.text(name).parse().unwrap_or_else(|_| {
            errors.push(tessera_directory::FieldError::new(name, "must be a whole number"));
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
                errors.push(tessera_directory::FieldError::new(
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
        require_pushed_authorization_requests: f.has("require_pushed_authorization_requests", "on"),
        backchannel_logout_uri: f.optional("backchannel_logout_uri"),
        fapi2: f.has("fapi2", "on"),
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
            post.confirm(
                Section::Applications,
                &url,
                &format!("Give {id} a new client secret? The old one stops working at once."),
                "Rotate secret",
                &here,
            )?;
            let secret = directory.rotate_secret(&id).await?;
            let page = SecretShown {
                l: post.console.chrome(Section::Applications),
                app: id,
                secret: secret.to_string(),
            };
            Ok(post.console.page(StatusCode::OK, &page))
        }
        "delete" => {
            post.confirm(
                Section::Applications,
                &url,
                &format!("Delete the application {id}? Its tokens stop being renewed."),
                "Delete application",
                &here,
            )?;
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
    let status = errors.status();
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
    post.confirm(
        Section::Locations,
        &format!("/admin/locations/{id}/delete"),
        &format!("Delete the named location {id}?"),
        "Delete location",
        "/admin/locations",
    )?;
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
