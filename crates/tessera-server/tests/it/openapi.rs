//! The admin API answers as its OpenAPI document says. Every admin API call these tests make
//! (through `Server::admin`) is checked against the document the same server serves at
//! `/openapi.json`: the path is a documented operation, the status is one that operation lists,
//! the body matches the schema documented for that status (JSON Schema 2020-12, as OpenAPI 3.1
//! uses it), and a request body the server accepted matches the documented request schema (so
//! the document is never stricter than the server).

use serde_json::{Value, json};

use crate::support::Reply;

/// Panics, saying what differs, when `reply` to `method path` with `request` is not what the
/// document says.
pub fn check(document: &Value, method: &str, path: &str, request: Option<&Value>, reply: &Reply) {
    let method = method.to_lowercase();
    let Some(template) = template_of(document, &method, path) else {
        // Paths the API does not serve are refused with 404 and are no operation of it.
        assert_eq!(
            reply.status,
            axum::http::StatusCode::NOT_FOUND,
            "{method} {path} is no documented operation, yet it answered {}",
            reply.status
        );
        return;
    };
    let operation = &document["paths"][&template][&method];
    let status = reply.status.as_str();
    if let Some(request) = request
        && reply.status.is_success()
    {
        let schema = operation
            .pointer("/requestBody/content/application~1json/schema")
            .unwrap_or_else(|| panic!("{method} {template} accepted a body it documents none for"));
        let errors = mismatches(document, schema, request);
        assert!(
            errors.is_empty(),
            "{method} {template} accepted a request the document refuses:\n  {}\nrequest: {request}",
            errors.join("\n  ")
        );
    }
    let Some(response) = operation["responses"].get(status) else {
        panic!(
            "{method} {template} answered {status}, which the document does not list (it lists {:?}): {}",
            operation["responses"]
                .as_object()
                .map(|r| r.keys().collect::<Vec<_>>()),
            reply.body
        );
    };
    let Some(schema) = response.pointer("/content/application~1json/schema") else {
        assert!(
            reply.body.is_empty(),
            "{method} {template} {status} has no documented body, yet answered {}",
            reply.body
        );
        return;
    };
    let errors = mismatches(document, schema, &reply.json);
    assert!(
        errors.is_empty(),
        "{method} {template} answered {status} with a body the document does not describe:\n  {}\nbody: {}",
        errors.join("\n  "),
        reply.body
    );
}

/// Where `value` differs from `schema`, a schema of `document`.
fn mismatches(document: &Value, schema: &Value, value: &Value) -> Vec<String> {
    // The schema, with the document's components beside it so that its
    // `#/components/schemas/…` references resolve.
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": document["components"],
        "allOf": [schema],
    });
    let validator = jsonschema::validator_for(&root)
        .unwrap_or_else(|e| panic!("the schema {schema} does not compile: {e}"));
    validator
        .iter_errors(value)
        .map(|e| format!("at {}: {e}", e.instance_path()))
        .collect()
}

/// The documented path (under `/admin/api`) that `path` is an instance of, for `method`: the
/// one with the most literal segments in common when several match.
fn template_of(document: &Value, method: &str, path: &str) -> Option<String> {
    let path = path.split('?').next().unwrap_or_default();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    document["paths"]
        .as_object()?
        .iter()
        .filter(|(_, operations)| operations.get(method).is_some())
        .filter_map(|(template, _)| {
            let parts: Vec<&str> = template.strip_prefix("/admin/api/")?.split('/').collect();
            if parts.len() != segments.len() {
                return None;
            }
            let mut literal = 0;
            for (part, segment) in parts.iter().zip(&segments) {
                if part.starts_with('{') && part.ends_with('}') {
                    if segment.is_empty() {
                        return None;
                    }
                } else if part == segment {
                    literal += 1;
                } else {
                    return None;
                }
            }
            Some((literal, template.clone()))
        })
        .max_by_key(|(literal, _)| *literal)
        .map(|(_, template)| template)
}

#[test]
fn paths_are_matched_to_their_templates() {
    let document = json!({"paths": {
        "/admin/api/users": {"get": {}},
        "/admin/api/users/{id}": {"get": {}, "patch": {}},
        "/admin/api/users/{id}/revoke-sessions": {"post": {}},
        "/admin/api/users/{id}/mfa-methods/{method}": {"delete": {}},
    }});
    let of = |method: &str, path: &str| template_of(&document, method, path);
    assert_eq!(of("get", "/users?limit=2").as_deref(), Some("/admin/api/users"));
    assert_eq!(
        of("patch", "/users/u-1").as_deref(),
        Some("/admin/api/users/{id}")
    );
    assert_eq!(
        of("post", "/users/u-1/revoke-sessions").as_deref(),
        Some("/admin/api/users/{id}/revoke-sessions")
    );
    assert_eq!(
        of("delete", "/users/u-1/mfa-methods/m-2").as_deref(),
        Some("/admin/api/users/{id}/mfa-methods/{method}")
    );
    assert_eq!(of("delete", "/users/u-1"), None);
    assert_eq!(of("get", "/nothing"), None);
}
