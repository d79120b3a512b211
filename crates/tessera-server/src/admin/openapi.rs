//! `GET /openapi.json`: the OpenAPI 3.1 description of the admin API. Built from the same
//! route list the router serves (a test checks that every documented operation answers), so
//! the document and the server cannot drift apart silently.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::state::AppState;

/// One documented operation: method, path under `/admin/api`, tag, summary, request body
/// schema, success statuses (`200|201`: either, with the same body; `204` has none) and
/// response schema.
struct Op {
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    body: Option<&'static str>,
    status: &'static str,
    response: Option<&'static str>,
}

const fn op(
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    body: Option<&'static str>,
    status: &'static str,
    response: Option<&'static str>,
) -> Op {
    Op {
        method,
        path,
        tag,
        summary,
        body,
        status,
        response,
    }
}

const OPERATIONS: &[Op] = &[
    op(
        "get",
        "/users",
        "users",
        "List users by id, a page at a time",
        None,
        "200",
        Some("UserPage"),
    ),
    op(
        "post",
        "/users",
        "users",
        "Create a user",
        Some("NewUser"),
        "201",
        Some("User"),
    ),
    op(
        "get",
        "/users/{id}",
        "users",
        "A user with groups, MFA methods and devices",
        None,
        "200",
        Some("UserDetail"),
    ),
    op(
        "patch",
        "/users/{id}",
        "users",
        "Disable or enable, set risk, rename or reset the password (disable and reset end every session)",
        Some("UserPatch"),
        "200",
        Some("User"),
    ),
    op(
        "delete",
        "/users/{id}",
        "users",
        "Delete a user",
        None,
        "204",
        None,
    ),
    op(
        "post",
        "/users/{id}/revoke-sessions",
        "users",
        "End every session of the user (session-revoked event)",
        None,
        "200",
        Some("Revoked"),
    ),
    op(
        "post",
        "/users/{id}/mfa-methods",
        "users",
        "Give the user a TOTP method; the secret and otpauth URI are in this response only (credential-change event)",
        Some("NewMfaMethod"),
        "201",
        Some("NewTotp"),
    ),
    op(
        "delete",
        "/users/{id}/mfa-methods/{method}",
        "users",
        "Remove an MFA method (credential-change event)",
        None,
        "204",
        None,
    ),
    op(
        "get",
        "/devices/{id}",
        "devices",
        "A registered device",
        None,
        "200",
        Some("Device"),
    ),
    op(
        "patch",
        "/devices/{id}",
        "devices",
        "Enable or disable a device, or set its compliance (device-compliance-change event)",
        Some("DevicePatch"),
        "200",
        Some("Device"),
    ),
    op(
        "delete",
        "/devices/{id}",
        "devices",
        "Delete a device",
        None,
        "204",
        None,
    ),
    op(
        "get",
        "/groups",
        "groups",
        "List groups",
        None,
        "200",
        Some("GroupList"),
    ),
    op(
        "post",
        "/groups",
        "groups",
        "Create a group",
        Some("NewGroup"),
        "201",
        Some("Group"),
    ),
    op(
        "get",
        "/groups/{id}",
        "groups",
        "A group with its members",
        None,
        "200",
        Some("GroupDetail"),
    ),
    op(
        "delete",
        "/groups/{id}",
        "groups",
        "Delete a group",
        None,
        "204",
        None,
    ),
    op(
        "put",
        "/groups/{id}/members/{user}",
        "groups",
        "Add a member (201; 204 when already one)",
        None,
        "201|204",
        None,
    ),
    op(
        "delete",
        "/groups/{id}/members/{user}",
        "groups",
        "Remove a member",
        None,
        "204",
        None,
    ),
    op(
        "get",
        "/applications",
        "applications",
        "List applications",
        None,
        "200",
        Some("ApplicationList"),
    ),
    op(
        "post",
        "/applications",
        "applications",
        "Register an application; a confidential client without keys gets a secret, shown once",
        Some("ApplicationSpec"),
        "201",
        Some("Application"),
    ),
    op(
        "get",
        "/applications/{id}",
        "applications",
        "An application",
        None,
        "200",
        Some("Application"),
    ),
    op(
        "put",
        "/applications/{id}",
        "applications",
        "Replace an application's settings (the secret is kept)",
        Some("ApplicationSpec"),
        "200",
        Some("Application"),
    ),
    op(
        "delete",
        "/applications/{id}",
        "applications",
        "Delete an application",
        None,
        "204",
        None,
    ),
    op(
        "post",
        "/applications/{id}/secret",
        "applications",
        "Make a new client secret, shown once; the old one stops working",
        None,
        "200",
        Some("ClientSecret"),
    ),
    op(
        "get",
        "/locations",
        "locations",
        "List named locations",
        None,
        "200",
        Some("LocationList"),
    ),
    op(
        "get",
        "/locations/{id}",
        "locations",
        "A named location",
        None,
        "200",
        Some("Location"),
    ),
    op(
        "put",
        "/locations/{id}",
        "locations",
        "Create (201) or replace (200) a named location",
        Some("LocationSpec"),
        "200|201",
        Some("Location"),
    ),
    op(
        "delete",
        "/locations/{id}",
        "locations",
        "Delete a named location no policy uses (409 otherwise)",
        None,
        "204",
        None,
    ),
    op(
        "get",
        "/policies",
        "policies",
        "List Conditional Access policies",
        None,
        "200",
        Some("PolicyList"),
    ),
    op(
        "get",
        "/policies/{id}",
        "policies",
        "A policy document",
        None,
        "200",
        Some("Policy"),
    ),
    op(
        "put",
        "/policies/{id}",
        "policies",
        "Create (201) or replace (200) a policy; every reference is checked",
        Some("Policy"),
        "200|201",
        Some("Policy"),
    ),
    op(
        "delete",
        "/policies/{id}",
        "policies",
        "Delete a policy",
        None,
        "204",
        None,
    ),
    op(
        "post",
        "/what-if",
        "policies",
        "Evaluate a hypothetical sign-in: which policies apply, why, and the outcome",
        Some("WhatIf"),
        "200",
        Some("WhatIfResult"),
    ),
    op(
        "get",
        "/sign-ins",
        "sign-ins",
        "The sign-in log, newest first",
        None,
        "200",
        Some("SignInPage"),
    ),
    op(
        "get",
        "/sign-ins/{id}",
        "sign-ins",
        "One sign-in with every policy's result",
        None,
        "200",
        Some("SignIn"),
    ),
    op(
        "get",
        "/streams",
        "streams",
        "Every receiver's Shared Signals streams with their delivery health",
        None,
        "200",
        Some("StreamList"),
    ),
    op(
        "get",
        "/streams/{id}",
        "streams",
        "One stream with its backlog, lag and last delivery error",
        None,
        "200",
        Some("Stream"),
    ),
    op(
        "patch",
        "/streams/{id}",
        "streams",
        "Pause, resume or disable a stream (its receiver gets a stream-updated event)",
        Some("StreamStatusChange"),
        "200",
        Some("Stream"),
    ),
];

/// Every documented `(method, path)` under `/admin/api`, for tests.
pub fn operations() -> impl Iterator<Item = (&'static str, &'static str)> {
    OPERATIONS.iter().map(|o| (o.method, o.path))
}

fn schema(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn list_of(item: &str) -> Value {
    json!({ "type": "object", "required": ["items"], "properties": { "items": { "type": "array", "items": schema(item) } } })
}

fn page_of(item: &str) -> Value {
    json!({
        "type": "object",
        "required": ["items", "next"],
        "properties": {
            "items": { "type": "array", "items": schema(item) },
            "next": { "type": ["string", "null"], "description": "Pass as `after` (users) or `before` (sign-ins) for the next page; null on the last." }
        }
    })
}

fn schemas() -> Value {
    let time = json!({ "type": "string", "format": "date-time" });
    let opt_string = json!({ "type": ["string", "null"] });
    let strings = json!({ "type": "array", "items": { "type": "string" } });
    let application_spec = json!({
        "type": "object", "required": ["id"], "additionalProperties": false,
        "properties": {
            "id": { "type": "string" }, "name": { "type": "string" },
            "kind": { "type": "string", "enum": ["public", "confidential"], "default": "public" },
            "redirect_uris": strings,
            "grant_types": { "type": "array", "items": { "type": "string", "enum": ["authorization_code", "refresh_token", "client_credentials"] } },
            "scopes": strings,
            "jwks": { "type": "object", "description": "Public keys for private_key_jwt; a confidential client with keys gets no secret." },
            "access_token_minutes": { "type": "integer", "minimum": 5, "maximum": 1680, "default": 60 },
            "refresh_token_days": { "type": "integer", "minimum": 1, "maximum": 365, "default": 30 },
            "cae_capable": { "type": "boolean" }, "require_dpop": { "type": "boolean" }
        }
    });
    let location_spec = json!({
        "type": "object", "required": ["display_name", "ip_ranges"], "additionalProperties": false,
        "properties": { "display_name": { "type": "string" }, "ip_ranges": strings, "trusted": { "type": "boolean" } }
    });
    json!({
        "Error": {
            "type": "object",
            "required": ["error", "error_description"],
            "properties": {
                "error": { "type": "string", "enum": ["invalid_request", "invalid_token", "insufficient_scope", "access_denied", "not_found", "conflict", "server_error"] },
                "error_description": { "type": "string" },
                "errors": { "type": "array", "items": {
                    "type": "object", "required": ["field", "message"],
                    "properties": { "field": { "type": "string" }, "message": { "type": "string" } }
                } }
            }
        },
        "User": {
            "type": "object",
            "properties": {
                "id": { "type": "string" }, "username": { "type": "string" }, "email": opt_string,
                "display_name": { "type": "string" },
                "status": { "type": "string", "enum": ["enabled", "disabled"] },
                "risk": { "type": "string", "enum": ["none", "low", "medium", "high"] },
                "has_password": { "type": "boolean" }, "created_at": time, "changed_at": time
            }
        },
        "UserDetail": { "allOf": [schema("User"), {
            "type": "object",
            "properties": {
                "groups": strings,
                "mfa_methods": { "type": "array", "items": { "type": "object" } },
                "devices": { "type": "array", "items": { "type": "object" } }
            }
        }] },
        "UserPage": page_of("User"),
        "NewUser": {
            "type": "object", "required": ["username"], "additionalProperties": false,
            "properties": {
                "username": { "type": "string", "maxLength": 64 }, "email": { "type": "string" },
                "display_name": { "type": "string" }, "password": { "type": "string", "minLength": 8, "maxLength": 256 }
            }
        },
        "UserPatch": {
            "type": "object", "additionalProperties": false,
            "properties": {
                "status": { "type": "string", "enum": ["enabled", "disabled"] },
                "risk": { "type": "string", "enum": ["none", "low", "medium", "high"] },
                "display_name": { "type": "string" }, "password": { "type": "string", "minLength": 8, "maxLength": 256 }
            }
        },
        "Device": {
            "type": "object",
            "properties": {
                "id": { "type": "string" }, "user_id": { "type": "string" }, "display_name": { "type": "string" },
                "platform": { "type": "string", "enum": ["windows", "macOS", "linux", "iOS", "android"] },
                "os_version": opt_string,
                "trust_type": { "type": "string", "enum": ["registered", "joined", "managed"] },
                "compliance": { "type": "string", "enum": ["unknown", "compliant", "not-compliant"] },
                "status": { "type": "string", "enum": ["enabled", "disabled"] },
                "jkt": { "type": "string", "description": "RFC 7638 thumbprint of the device key" },
                "key_protection": { "type": "string", "enum": ["software", "hardware", "attested"],
                    "description": "Where the device key lives: attested when Tessera verified TPM evidence at registration" },
                "key_attestation": { "type": ["object", "null"],
                    "description": "What the evidence showed (format, manufacturer, model, version, firmware, verified_at), or why it failed (error)" },
                "created_at": time, "last_seen_at": { "type": ["string", "null"], "format": "date-time" }
            }
        },
        "Stream": {
            "type": "object",
            "properties": {
                "id": { "type": "string" }, "receiver": { "type": "string", "description": "The client that owns it" },
                "status": { "type": "string", "enum": ["enabled", "paused", "disabled"] },
                "reason": opt_string,
                "delivery_method": { "type": "string", "enum": ["urn:ietf:rfc:8935", "urn:ietf:rfc:8936"] },
                "endpoint_url": { "type": "string" },
                "events_delivered": { "type": "array", "items": { "type": "string" } },
                "description": opt_string, "created_at": time,
                "pending": { "type": "integer", "description": "Deliveries not yet acknowledged" },
                "lag_seconds": { "type": ["integer", "null"], "description": "Age of the oldest unacknowledged event" },
                "last_error": { "type": ["string", "null"], "description": "The latest failed push among pending deliveries" }
            }
        },
        "StreamList": list_of("Stream"),
        "StreamStatusChange": {
            "type": "object", "additionalProperties": false, "required": ["status"],
            "properties": {
                "status": { "type": "string", "enum": ["enabled", "paused", "disabled"] },
                "reason": { "type": "string" }
            }
        },
        "DevicePatch": {
            "type": "object", "additionalProperties": false,
            "properties": {
                "status": { "type": "string", "enum": ["enabled", "disabled"] },
                "compliance": { "type": "string", "enum": ["unknown", "compliant", "not-compliant"] }
            }
        },
        "NewMfaMethod": {
            "type": "object", "required": ["kind", "label"], "additionalProperties": false,
            "properties": { "kind": { "type": "string", "enum": ["totp"] }, "label": { "type": "string" } }
        },
        "NewTotp": {
            "type": "object",
            "properties": {
                "id": { "type": "string" }, "kind": { "type": "string" }, "label": { "type": "string" },
                "secret": { "type": "string", "description": "Base32, for authenticator apps." },
                "otpauth_uri": { "type": "string" }, "created_at": time
            }
        },
        "Revoked": { "type": "object", "properties": { "revoked_sessions": { "type": "integer" } } },
        "Group": { "type": "object", "properties": { "id": { "type": "string" }, "name": { "type": "string" }, "created_at": time } },
        "GroupDetail": { "allOf": [schema("Group"), { "type": "object", "properties": { "members": strings } }] },
        "GroupList": list_of("Group"),
        "NewGroup": {
            "type": "object", "required": ["id", "name"], "additionalProperties": false,
            "properties": { "id": { "type": "string" }, "name": { "type": "string" } }
        },
        "ApplicationSpec": application_spec,
        "Application": answer_of(&application_spec, json!({
            "jwks": { "type": ["object", "null"], "description": "Public keys for private_key_jwt." },
            "token_endpoint_auth_method": { "type": "string", "enum": ["none", "client_secret_basic", "private_key_jwt"] },
            "client_secret": { "type": "string", "description": "Only in the response that made it." },
            "created_at": time, "changed_at": time
        })),
        "ApplicationList": list_of("Application"),
        "ClientSecret": { "type": "object", "properties": { "client_id": { "type": "string" }, "client_secret": { "type": "string" } } },
        "LocationSpec": location_spec,
        "Location": answer_of(&location_spec, json!({ "id": { "type": "string" }, "changed_at": time })),
        "LocationList": list_of("Location"),
        "Policy": {
            "type": "object",
            "description": "A Conditional Access policy in Microsoft Graph's conditionalAccessPolicy shape: id, displayName, state (enabled, disabled, enabledForReportingButNotEnforced), conditions, grantControls, sessionControls. docs/admin-api.md has an example; the tessera-policy crate documents every member Tessera implements.",
            "required": ["displayName", "state", "conditions"]
        },
        "PolicyList": list_of("Policy"),
        "WhatIf": {
            "type": "object", "required": ["user", "application", "ip"], "additionalProperties": false,
            "properties": {
                "user": { "type": "string" }, "application": { "type": "string" },
                "ip": { "type": "string", "format": "ip" },
                "client_app_type": { "type": "string", "enum": ["browser", "mobileAppsAndDesktopClients", "other"] },
                "device": { "type": "string" },
                "platform": { "type": "string", "enum": ["android", "iOS", "windows", "macOS", "linux"] },
                "user_risk": { "type": "string", "enum": ["none", "low", "medium", "high"] },
                "sign_in_risk": { "type": "string", "enum": ["none", "low", "medium", "high"] },
                "mfa": { "type": "boolean" },
                "token_binding": { "type": "string", "enum": ["notApplicable", "missing", "boundToDevice"] }
            }
        },
        "WhatIfResult": {
            "type": "object",
            "properties": { "context": { "type": "object" }, "decision": { "type": "object", "description": "outcome, session controls, matched locations and one report per policy with each condition's verdict and reason." } }
        },
        "SignIn": {
            "type": "object",
            "properties": {
                "id": { "type": "string" }, "at": time, "user_id": opt_string, "client_id": opt_string,
                "ip": { "type": "string" },
                "outcome": { "type": "string", "enum": ["success", "failure", "blocked", "interrupted", "replay", "theft"] },
                "stage": { "type": "string" },
                "token_protection": { "type": "string", "enum": ["notApplicable", "missing", "boundToDevice", "unbound", "replay"] },
                "device_id": opt_string, "jkt": opt_string, "error": opt_string,
                "details": { "type": "object", "description": "Only on GET /sign-ins/{id}: the Conditional Access report." }
            }
        },
        "SignInPage": page_of("SignIn")
    })
}

/// What the API answers for a record written as `spec`: the same members, more of them
/// (`extra`), and no refusal of members it does not know, as a request's schema has.
fn answer_of(spec: &Value, extra: Value) -> Value {
    let mut properties = spec["properties"].as_object().cloned().unwrap_or_default();
    if let Value::Object(extra) = extra {
        properties.extend(extra);
    }
    json!({ "type": "object", "properties": properties })
}

fn parameters(path: &str) -> Vec<Value> {
    let mut out: Vec<Value> = path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
        .collect();
    let query = |name: &str, description: &str, ty: &str| json!({ "name": name, "in": "query", "required": false, "description": description, "schema": { "type": ty } });
    match path {
        "/users" => {
            out.push(query("after", "The `next` value of the previous page", "string"));
            out.push(query("limit", "1 to 1000, default 100", "integer"));
        }
        "/sign-ins" => {
            out.push(query("user", "Only this user's sign-ins", "string"));
            out.push(query("outcome", "Only this outcome", "string"));
            out.push(query("before", "The `next` value of the previous page", "string"));
            out.push(query("limit", "1 to 1000, default 100", "integer"));
        }
        _ => {}
    }
    out
}

/// The document, for this server's issuer.
#[must_use]
pub fn document(issuer: &str) -> Value {
    let error = |description: &str| json!({ "description": description, "content": { "application/json": { "schema": schema("Error") } } });
    let mut paths = Map::new();
    for o in OPERATIONS {
        let mut responses = Map::new();
        for status in o.status.split('|') {
            let success = match o.response {
                Some(r) if status != "204" => {
                    json!({ "description": "OK", "content": { "application/json": { "schema": schema(r) } } })
                }
                _ => json!({ "description": "Done" }),
            };
            responses.insert(status.into(), success);
        }
        if o.body.is_some() || o.path.contains('{') || o.method == "get" {
            responses.insert("400".into(), error("Bad input; `errors` names the fields"));
        }
        responses.insert(
            "401".into(),
            error("No token, or an invalid, expired or revoked one"),
        );
        responses.insert(
            "403".into(),
            error("The token lacks the tessera.admin scope, or its user is not in the admins group"),
        );
        if o.path.contains('{') {
            responses.insert("404".into(), error("No such resource"));
        }
        if o.method == "post" || o.method == "put" || o.method == "delete" {
            responses.insert("409".into(), error("Conflicts with what exists"));
        }
        let mut operation = json!({
            "tags": [o.tag],
            "summary": o.summary,
            "operationId": format!("{}{}", o.method, o.path.replace(['/', '{', '}', '-'], "_")),
            "parameters": parameters(o.path),
            "responses": responses,
        });
        if let Some(body) = o.body {
            operation["requestBody"] = json!({
                "required": true,
                "content": { "application/json": { "schema": schema(body) } }
            });
        }
        let entry = paths
            .entry(format!("/admin/api{}", o.path))
            .or_insert_with(|| Value::Object(Map::new()));
        entry[o.method] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Tessera admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Users, groups, applications, named locations, Conditional Access policies (with what-if) and sign-in logs. Authenticate with a Tessera access token that has the tessera.admin scope (client credentials, or a user in the admins group), sent with the Bearer or, for DPoP-bound tokens, the DPoP scheme."
        },
        "servers": [{ "url": issuer }],
        "security": [{ "bearer": [] }, { "dpop": [] }],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" },
                "dpop": { "type": "http", "scheme": "dpop", "description": "RFC 9449: the token with the DPoP scheme and a DPoP proof header." }
            },
            "schemas": schemas()
        }
    })
}

/// `GET /openapi.json`
pub async fn openapi(State(state): State<Arc<AppState>>) -> Response {
    axum::Json(document(&state.config.issuer)).into_response()
}
