//! Conditional Access: the list with state badges, the editor (a field for every condition and
//! control Tessera evaluates, and the JSON document beside it), import and export. The what-if
//! tool is [`super::what_if`].
//!
//! The editor's fields are named after the last part of the document's JSON path
//! (`includeUsers` for `conditions.users.includeUsers`), so a validation error from
//! [`tessera_directory::Directory::put_policy`] lands beside its input.

use askama::Template;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tessera_directory::FieldError;
use tessera_store::{NamedLocationRecord, PolicyRecord, StoreError};

use super::{Chrome, Console, DirectoryError, Fields, FormErrors, Post, Refused, Section, message};

/// The policy states: (value, badge class, words).
const STATES: [(&str, &str, &str); 3] = [
    ("enabled", "on", "On"),
    ("enabledForReportingButNotEnforced", "report", "Report-only"),
    ("disabled", "off", "Off"),
];

fn state_badge(state: &str) -> (&'static str, &'static str) {
    STATES
        .iter()
        .find(|(v, _, _)| *v == state)
        .map_or(("muted", "unknown"), |(_, class, words)| (*class, *words))
}

/// A policy as a list row.
#[derive(Debug)]
struct Row {
    id: String,
    name: String,
    state: String,
    badge: (&'static str, &'static str),
    grants: String,
    sessions: String,
}

fn row(p: &PolicyRecord) -> Row {
    let d = &p.document;
    let list = |v: &Value| {
        v.as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))
            .unwrap_or_default()
    };
    let grants = match list(&d["grantControls"]["builtInControls"]) {
        g if g.is_empty() => String::new(),
        g => format!(
            "{g} ({})",
            d["grantControls"]["operator"].as_str().unwrap_or("OR")
        ),
    };
    let mut sessions = Vec::new();
    let s = &d["sessionControls"];
    if s["secureSignInSession"]["isEnabled"] == true {
        sessions.push(match s["secureSignInSession"]["requireKeyProtection"].as_str() {
            Some("attested") => "token protection (attested hardware key)".to_owned(),
            Some("hardware") => "token protection (hardware key)".to_owned(),
            _ => "token protection".to_owned(),
        });
    }
    if s["signInFrequency"]["isEnabled"] == true {
        sessions.push("sign-in frequency".into());
    }
    if let Some(mode) = s["continuousAccessEvaluation"]["mode"].as_str() {
        sessions.push(format!("CAE {mode}"));
    }
    if s["accessTokenLifetime"]["isEnabled"] == true {
        sessions.push("token lifetime".into());
    }
    Row {
        id: p.id.clone(),
        name: d["displayName"].as_str().unwrap_or(&p.id).to_owned(),
        state: p.state.clone(),
        badge: state_badge(&p.state),
        grants,
        sessions: sessions.join(", "),
    }
}

#[derive(Template)]
#[template(path = "console/policies.html")]
struct List {
    l: Chrome,
    policies: Vec<Row>,
    import: String,
    errors: FormErrors,
}

async fn list_page(console: &Console, import: String, errors: FormErrors) -> Result<Response, Refused> {
    let policies = console.state().store.policies().await?.iter().map(row).collect();
    let status = errors.status();
    let page = List {
        l: console.chrome(Section::Policies),
        policies,
        import,
        errors,
    };
    Ok(console.page(status, &page))
}

/// `GET /admin/policies`
pub(super) async fn list(console: Console) -> Result<Response, Refused> {
    list_page(&console, String::new(), FormErrors::none()).await
}

#[derive(Template)]
#[template(path = "console/policy.html")]
struct Editor {
    l: Chrome,
    existing: Option<String>,
    f: Fields,
    errors: FormErrors,
    locations: Vec<NamedLocationRecord>,
    document: String,
}

impl Editor {
    fn client_app_types(&self) -> [(&'static str, &'static str); 4] {
        [
            ("all", "Any client"),
            ("browser", "Browser"),
            ("mobileAppsAndDesktopClients", "Mobile apps and desktop clients"),
            ("other", "Other clients"),
        ]
    }

    fn transfer_methods(&self) -> [(&'static str, &'static str); 2] {
        [
            (
                "deviceCodeFlow",
                "Device code flow (a code shown on one device, approved on another)",
            ),
            ("authenticationTransfer", "Authentication transfer"),
        ]
    }

    fn platforms(&self) -> [(&'static str, &'static str); 6] {
        [
            ("all", "Any"),
            ("windows", "Windows"),
            ("macOS", "macOS"),
            ("linux", "Linux"),
            ("iOS", "iOS"),
            ("android", "Android"),
        ]
    }

    fn location_choices(&self) -> Vec<(String, String)> {
        let mut choices = vec![
            ("All".to_owned(), "Any location".to_owned()),
            ("AllTrusted".to_owned(), "All trusted locations".to_owned()),
        ];
        choices.extend(
            self.locations
                .iter()
                .map(|l| (l.id.clone(), l.display_name.clone())),
        );
        choices
    }

    fn risks(&self) -> [&'static str; 4] {
        ["none", "low", "medium", "high"]
    }

    fn trust_types(&self) -> [&'static str; 3] {
        ["registered", "joined", "managed"]
    }

    fn key_protections(&self) -> [&'static str; 3] {
        ["software", "hardware", "attested"]
    }

    fn controls(&self) -> [(&'static str, &'static str); 4] {
        [
            ("block", "Block access"),
            ("mfa", "Require multifactor authentication"),
            ("compliantDevice", "Require a compliant device"),
            ("registeredDevice", "Require a registered device"),
        ]
    }

    fn states(&self) -> [(&'static str, &'static str, &'static str); 3] {
        STATES
    }
}

async fn editor(
    console: &Console,
    existing: Option<String>,
    f: Fields,
    errors: FormErrors,
    document: String,
) -> Result<Response, Refused> {
    let status = errors.status();
    let page = Editor {
        l: console.chrome(Section::Policies),
        locations: console.state().store.named_locations().await?,
        existing,
        f,
        errors,
        document,
    };
    Ok(console.page(status, &page))
}

/// `GET /admin/policies/new`: a new policy, starting in report-only.
pub(super) async fn new(console: Console) -> Result<Response, Refused> {
    let mut f = Fields::default();
    f.set("state", "enabledForReportingButNotEnforced");
    f.set("includeApplications", "All");
    f.push("clientAppTypes", "all");
    f.set("operator", "OR");
    editor(&console, None, f, FormErrors::none(), String::new()).await
}

/// `GET /admin/policies/{id}`
pub(super) async fn edit(console: Console, Path(id): Path<String>) -> Result<Response, Refused> {
    let policy = console.state().store.policy(&id).await?;
    let document = serde_json::to_string_pretty(&policy.document).unwrap_or_default();
    editor(
        &console,
        Some(id),
        fields_of(&policy.document),
        FormErrors::none(),
        document,
    )
    .await
}

/// The editor's fields for a policy document.
fn fields_of(d: &Value) -> Fields {
    let mut f = Fields::default();
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default()
    };
    f.set("displayName", text(&d["displayName"]));
    f.set("state", text(&d["state"]));
    let c = &d["conditions"];
    for (name, v) in [
        ("includeUsers", &c["users"]["includeUsers"]),
        ("excludeUsers", &c["users"]["excludeUsers"]),
        ("includeGroups", &c["users"]["includeGroups"]),
        ("excludeGroups", &c["users"]["excludeGroups"]),
        ("includeApplications", &c["applications"]["includeApplications"]),
        ("excludeApplications", &c["applications"]["excludeApplications"]),
    ] {
        f.set(name, strings(v).join("\n"));
    }
    for (name, v) in [
        ("clientAppTypes", &c["clientAppTypes"]),
        ("includePlatforms", &c["platforms"]["includePlatforms"]),
        ("excludePlatforms", &c["platforms"]["excludePlatforms"]),
        ("includeLocations", &c["locations"]["includeLocations"]),
        ("excludeLocations", &c["locations"]["excludeLocations"]),
        ("userRiskLevels", &c["userRiskLevels"]),
        ("signInRiskLevels", &c["signInRiskLevels"]),
        ("trustTypes", &c["devices"]["deviceFilter"]["rule"]["trustTypes"]),
        (
            "keyProtections",
            &c["devices"]["deviceFilter"]["rule"]["keyProtections"],
        ),
        ("builtInControls", &d["grantControls"]["builtInControls"]),
    ] {
        for s in strings(v) {
            f.push(name, s);
        }
    }
    // Graph keeps the methods as one comma-separated string.
    for method in c["authenticationFlows"]["transferMethods"]
        .as_str()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
    {
        f.push("transferMethods", method);
    }
    let filter = &c["devices"]["deviceFilter"];
    f.set("mode", text(&filter["mode"]));
    for name in ["isRegistered", "isCompliant"] {
        f.set(
            name,
            filter["rule"][name]
                .as_bool()
                .map_or(String::new(), |b| b.to_string()),
        );
    }
    f.set(
        "operator",
        d["grantControls"]["operator"].as_str().unwrap_or("OR"),
    );
    let s = &d["sessionControls"];
    if s["secureSignInSession"]["isEnabled"] == true {
        f.set("secureSignInSession", "on");
        if let Some(k) = s["secureSignInSession"]["requireKeyProtection"].as_str() {
            f.set("requireKeyProtection", k);
        }
    }
    let sif = &s["signInFrequency"];
    if sif["isEnabled"] == true {
        f.set(
            "frequencyInterval",
            sif["frequencyInterval"].as_str().unwrap_or("timeBased"),
        );
        f.set(
            "value",
            sif["value"].as_u64().map_or(String::new(), |v| v.to_string()),
        );
        f.set("type", text(&sif["type"]));
    }
    f.set("mode_cae", text(&s["continuousAccessEvaluation"]["mode"]));
    if s["accessTokenLifetime"]["isEnabled"] == true {
        f.set(
            "minutes",
            s["accessTokenLifetime"]["minutes"]
                .as_u64()
                .map_or(String::new(), |v| v.to_string()),
        );
    }
    f
}

/// The policy document the editor's fields describe (without `id`).
fn document_of(f: &Fields) -> Result<Value, FormErrors> {
    let mut errors = Vec::new();
    let mut number = |name: &str| -> Option<u64> {
        let t = f.text(name);
        if t.is_empty() {
            return None;
        }
        t.parse().map_or_else(
            |_| {
                errors.push(FieldError::new(name, "must be a whole number"));
                None
            },
            Some,
        )
    };
    let sif_value = number("value");
    let minutes = number("minutes");
    let mut conditions = json!({
        "users": {
            "includeUsers": f.lines("includeUsers"),
            "excludeUsers": f.lines("excludeUsers"),
            "includeGroups": f.lines("includeGroups"),
            "excludeGroups": f.lines("excludeGroups"),
        },
        "applications": {
            "includeApplications": f.lines("includeApplications"),
            "excludeApplications": f.lines("excludeApplications"),
        },
        "clientAppTypes": f.all("clientAppTypes"),
        "userRiskLevels": f.all("userRiskLevels"),
        "signInRiskLevels": f.all("signInRiskLevels"),
    });
    let (include_platforms, exclude_platforms) = (f.all("includePlatforms"), f.all("excludePlatforms"));
    if !include_platforms.is_empty() || !exclude_platforms.is_empty() {
        conditions["platforms"] = json!({
            "includePlatforms": include_platforms,
            "excludePlatforms": exclude_platforms,
        });
    }
    let (include_locations, exclude_locations) = (f.all("includeLocations"), f.all("excludeLocations"));
    if !include_locations.is_empty() || !exclude_locations.is_empty() {
        conditions["locations"] = json!({
            "includeLocations": include_locations,
            "excludeLocations": exclude_locations,
        });
    }
    let methods = f.all("transferMethods");
    if !methods.is_empty() {
        conditions["authenticationFlows"] = json!({ "transferMethods": methods.join(",") });
    }
    match f.text("mode") {
        "" => {}
        mode => {
            let mut rule = Map::new();
            for name in ["isRegistered", "isCompliant"] {
                match f.text(name) {
                    "true" => rule.insert(name.into(), true.into()),
                    "false" => rule.insert(name.into(), false.into()),
                    _ => None,
                };
            }
            for name in ["trustTypes", "keyProtections"] {
                let chosen = f.all(name);
                if !chosen.is_empty() {
                    rule.insert(name.into(), chosen.into());
                }
            }
            conditions["devices"] = json!({ "deviceFilter": { "mode": mode, "rule": rule } });
        }
    }
    let mut doc = json!({
        "displayName": f.text("displayName"),
        "state": f.text("state"),
        "conditions": conditions,
    });
    let controls = f.all("builtInControls");
    if !controls.is_empty() {
        doc["grantControls"] = json!({
            "operator": Some(f.text("operator")).filter(|o| !o.is_empty()).unwrap_or("OR"),
            "builtInControls": controls,
        });
    }
    let mut session = Map::new();
    if f.has("secureSignInSession", "on") {
        let mut control = json!({ "isEnabled": true });
        if let k @ ("hardware" | "attested") = f.text("requireKeyProtection") {
            control["requireKeyProtection"] = k.into();
        }
        session.insert("secureSignInSession".into(), control);
    }
    match f.text("frequencyInterval") {
        "" => {}
        "everyTime" => {
            session.insert(
                "signInFrequency".into(),
                json!({ "isEnabled": true, "frequencyInterval": "everyTime" }),
            );
        }
        interval => {
            session.insert(
                "signInFrequency".into(),
                json!({
                    "isEnabled": true,
                    "frequencyInterval": interval,
                    "value": sif_value,
                    "type": Some(f.text("type")).filter(|t| !t.is_empty()),
                }),
            );
        }
    }
    if let Some(mode) = f.optional("mode_cae") {
        session.insert("continuousAccessEvaluation".into(), json!({ "mode": mode }));
    }
    if let Some(minutes) = minutes {
        session.insert(
            "accessTokenLifetime".into(),
            json!({ "isEnabled": true, "minutes": minutes }),
        );
    }
    if !session.is_empty() {
        doc["sessionControls"] = Value::Object(session);
    }
    if errors.is_empty() {
        Ok(doc)
    } else {
        Err(FormErrors(errors))
    }
}

async fn write(console: &Console, id: &str, document: Value) -> Result<Result<bool, FormErrors>, Refused> {
    match console.directory().put_policy(id, document).await {
        Ok((_, is_new)) => {
            let state = console.state();
            state.policies.reload(state.store.as_ref()).await?;
            tracing::info!(admin = %console.admin_id(), policy = %id, "policy written in the console");
            Ok(Ok(is_new))
        }
        Err(DirectoryError::Invalid(errors)) => Ok(Err(FormErrors(errors))),
        Err(DirectoryError::Conflict(m)) => Ok(Err(FormErrors::one("", m))),
        Err(e) => Err(e.into()),
    }
}

/// `POST /admin/policies/{id}` (`new` with an `id` field creates one): from the fields, or
/// from the JSON document when `source=json`.
pub(super) async fn save(Path(id): Path<String>, post: Post) -> Result<Response, Refused> {
    save_policy(id, post).await
}

/// `POST /admin/policies/new`: create one (its `id` is a field).
pub(super) async fn create(post: Post) -> Result<Response, Refused> {
    save_policy("new".into(), post).await
}

async fn save_policy(id: String, post: Post) -> Result<Response, Refused> {
    let f = &post.fields;
    let (existing, id) = if id == "new" {
        (None, f.text("id").to_owned())
    } else {
        (Some(id), String::new())
    };
    let id = existing.clone().unwrap_or(id);
    let from_json = f.get("source") == Some("json");
    let document = if from_json {
        serde_json::from_str::<Value>(f.text("document"))
            .map_err(|e| FormErrors::one("document", format!("not JSON: {e}")))
    } else {
        document_of(f)
    };
    let outcome = match document {
        Ok(doc) => write(&post.console, &id, doc).await?,
        Err(errors) => Err(errors),
    };
    match outcome {
        Ok(is_new) => {
            let notice = if is_new {
                "Policy created."
            } else {
                "Policy saved."
            };
            Ok(post.console.redirect(&format!("/admin/policies/{id}"), notice))
        }
        Err(errors) => {
            let mut fields = if from_json {
                serde_json::from_str::<Value>(f.text("document"))
                    .map_or_else(|_| f.clone(), |d| fields_of(&d))
            } else {
                f.clone()
            };
            if existing.is_none() {
                fields.set("id", id);
            }
            let document = f.get("document").unwrap_or_default().to_owned();
            editor(&post.console, existing, fields, errors, document).await
        }
    }
}

/// `POST /admin/policies/{id}/state` (switch on, off or to report-only) and `.../delete`.
pub(super) async fn action(
    Path((id, action)): Path<(String, String)>,
    post: Post,
) -> Result<Response, Refused> {
    let url = format!("/admin/policies/{id}/{action}");
    match action.as_str() {
        "state" => {
            let state = post.fields.text("state").to_owned();
            if state == "enabled" {
                post.confirm(
                    Section::Policies,
                    &url,
                    &format!(
                        "Switch {id} on? It is enforced at the next sign-in and token refresh. Check its report-only results in the sign-in logs first."
                    ),
                    "Switch on",
                    "/admin/policies",
                )?;
            }
            let mut document = post.console.state().store.policy(&id).await?.document;
            document["state"] = state.clone().into();
            if let Some(o) = document.as_object_mut() {
                o.remove("modifiedDateTime");
            }
            match write(&post.console, &id, document).await? {
                Ok(_) => Ok(post.console.redirect(
                    "/admin/policies",
                    &format!("{id} is now {}.", state_badge(&state).1.to_lowercase()),
                )),
                Err(errors) => list_page(&post.console, String::new(), errors).await,
            }
        }
        "delete" => {
            post.confirm(
                Section::Policies,
                &url,
                &format!("Delete the policy {id}? Sign-ins stop being evaluated against it."),
                "Delete policy",
                "/admin/policies",
            )?;
            post.console.directory().delete_policy(&id).await?;
            let state = post.console.state();
            state.policies.reload(state.store.as_ref()).await?;
            Ok(post
                .console
                .redirect("/admin/policies", &format!("Policy {id} deleted.")))
        }
        _ => Ok(message(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no such action.",
        )),
    }
}

fn download(name: &str, body: &Value) -> Response {
    let mut response = (
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_string_pretty(body).unwrap_or_default(),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}.json\"")) {
        response.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /admin/policies/{id}/export`: the document, as the admin API and `tessera admin policies`
/// read and write it.
pub(super) async fn export(console: Console, Path(id): Path<String>) -> Result<Response, Refused> {
    match console.state().store.policy(&id).await {
        Ok(p) => Ok(download(&id, &p.document)),
        Err(StoreError::NotFound(_)) => Ok(message(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no such policy.",
        )),
        Err(e) => Err(e.into()),
    }
}

/// `GET /admin/policies/export`: every policy, as a JSON array.
pub(super) async fn export_all(console: Console) -> Result<Response, Refused> {
    let all: Vec<Value> = console
        .state()
        .store
        .policies()
        .await?
        .into_iter()
        .map(|p| p.document)
        .collect();
    Ok(download("policies", &Value::Array(all)))
}

/// `POST /admin/policies/import`: one document or an array of them, each with its `id`. All are
/// checked before any is written.
pub(super) async fn import(post: Post) -> Result<Response, Refused> {
    let text = post.fields.text("document").to_owned();
    let again = |errors: FormErrors| list_page(&post.console, text.clone(), errors);
    let documents = match serde_json::from_str::<Value>(&text) {
        Ok(Value::Array(a)) => a,
        Ok(one @ Value::Object(_)) => vec![one],
        Ok(_) => {
            return again(FormErrors::one(
                "document",
                "a policy document or an array of them",
            ))
            .await;
        }
        Err(e) => return again(FormErrors::one("document", format!("not JSON: {e}"))).await,
    };
    let mut errors = Vec::new();
    for (i, d) in documents.iter().enumerate() {
        let Some(id) = d["id"].as_str() else {
            errors.push(FieldError::new(
                format!("document[{i}].id"),
                "every imported policy needs an id",
            ));
            continue;
        };
        let mut probe = d.clone();
        if let Some(o) = probe.as_object_mut() {
            o.remove("modifiedDateTime");
        }
        if let Err(e) = tessera_policy::parse_policy(probe.to_string().as_bytes()) {
            errors.push(FieldError::new(format!("{id}.{}", e.path), e.message));
        }
    }
    if !errors.is_empty() {
        return again(FormErrors(errors)).await;
    }
    let mut written = 0;
    for mut d in documents {
        let id = d["id"].as_str().unwrap_or_default().to_owned();
        if let Some(o) = d.as_object_mut() {
            o.remove("modifiedDateTime");
        }
        match write(&post.console, &id, d).await? {
            Ok(_) => written += 1,
            Err(FormErrors(es)) => {
                let errors = es
                    .into_iter()
                    .map(|e| FieldError::new(format!("{id}.{}", e.field), e.message))
                    .collect();
                let mut errors = FormErrors(errors);
                errors.0.insert(
                    0,
                    FieldError::new(
                        "",
                        format!("{written} policies were imported before this one was refused"),
                    ),
                );
                return again(errors).await;
            }
        }
    }
    Ok(post
        .console
        .redirect("/admin/policies", &format!("{written} policies imported.")))
}
