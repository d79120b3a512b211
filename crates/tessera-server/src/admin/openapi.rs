//! `GET /openapi.json`: the OpenAPI 3.1 description of the admin API, generated from the
//! handlers' `#[utoipa::path]` attributes and the request and response types they read and
//! answer with, so a field or an enum value cannot be documented one way and served another.
//!
//! What every operation shares is added here, by one rule, rather than written 34 times: the
//! `/admin/api` prefix, an `operationId` made from the method and path, the error answers
//! (`400` for bad input, `401`/`403` for the token, `404` under an id, `409` for a change that
//! conflicts) and the two security schemes.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, ResponseBuilder, ServerBuilder};
use utoipa::{Modify, OpenApi};

use super::{applications, devices, policies, sign_ins, streams, users};
use crate::state::AppState;

/// Where the admin API is served.
const PREFIX: &str = "/admin/api";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tessera admin API",
        description = "Users, groups, applications, named locations, Conditional Access policies (with what-if), sign-in logs and Shared Signals streams. Authenticate with a Tessera access token that has the tessera.admin scope (client credentials, or a user in the admins group), sent with the Bearer or, for DPoP-bound tokens, the DPoP scheme.",
    ),
    paths(
        users::list, users::create, users::show, users::update, users::delete,
        users::revoke_sessions, users::add_mfa_method, users::remove_mfa_method,
        devices::show, devices::update, devices::delete,
        users::list_groups, users::create_group, users::show_group, users::delete_group,
        users::add_member, users::remove_member,
        applications::list, applications::create, applications::show, applications::replace,
        applications::delete, applications::rotate_secret,
        policies::list_locations, policies::show_location, policies::put_location,
        policies::delete_location,
        policies::list, policies::show, policies::put, policies::delete, policies::what_if,
        sign_ins::list, sign_ins::show,
        streams::list, streams::show, streams::update,
    ),
    components(schemas(crate::api::ErrorBody)),
    modifiers(&Shared),
)]
struct AdminApi;

/// What every operation of the admin API has in common.
struct Shared;

impl Modify for Shared {
    fn modify(&self, doc: &mut Document) {
        doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
        doc.info.license = None;
        let paths = std::mem::take(&mut doc.paths.paths);
        for (path, mut item) in paths {
            for (method, operation) in operations_mut(&mut item) {
                complete(method, &path, operation);
            }
            doc.paths.paths.insert(format!("{PREFIX}{path}"), item);
        }
        let components = doc.components.get_or_insert_with(Default::default);
        let bearer = Http::builder()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .build();
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
        // `dpop` is added to the JSON by `document`: utoipa's HTTP schemes are a closed list.
        doc.security = Some(vec![
            utoipa::openapi::security::SecurityRequirement::new::<_, _, &str>("bearer", []),
            utoipa::openapi::security::SecurityRequirement::new::<_, _, &str>("dpop", []),
        ]);
    }
}

/// The operations a path item has, with their methods as OpenAPI spells them.
fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("get", item.get.as_mut()),
        ("put", item.put.as_mut()),
        ("post", item.post.as_mut()),
        ("delete", item.delete.as_mut()),
        ("patch", item.patch.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, operation)| Some((method, operation?)))
}

/// Gives `operation` (of `method path`, path without the prefix) its id and the answers every
/// operation shares.
fn complete(method: &str, path: &str, operation: &mut Operation) {
    operation.operation_id = Some(format!("{method}{}", path.replace(['/', '{', '}', '-'], "_")));
    let responses = &mut operation.responses.responses;
    for (status, response) in responses.iter_mut() {
        if let utoipa::openapi::RefOr::T(response) = response
            && response.description.is_empty()
        {
            response.description = if status == "204" { "Done" } else { "OK" }.to_owned();
        }
    }
    let has_id = path.contains('{');
    let mut error = |status: &str, description: &str| {
        let body = ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Error")))
            .build();
        let response = ResponseBuilder::new()
            .description(description)
            .content("application/json", body)
            .build();
        responses.entry(status.to_owned()).or_insert(response.into());
    };
    if operation.request_body.is_some() || has_id || method == "get" {
        error("400", "Bad input; `errors` names the fields");
    }
    error("401", "No token, or an invalid, expired or revoked one");
    error(
        "403",
        "The token lacks the tessera.admin scope, or its user is not in the admins group",
    );
    if has_id {
        error("404", "No such resource");
    }
    if matches!(method, "post" | "put" | "delete") {
        error("409", "Conflicts with what exists");
    }
}

/// Every documented `(method, path)` under `/admin/api`, for tests.
#[must_use]
pub fn operations() -> Vec<(&'static str, String)> {
    let mut doc = AdminApi::openapi();
    let mut out = Vec::new();
    for (path, item) in &mut doc.paths.paths {
        let path = path.strip_prefix(PREFIX).unwrap_or(path).to_owned();
        out.extend(operations_mut(item).map(|(method, _)| (method, path.clone())));
    }
    out
}

/// The document, for this server's issuer.
#[must_use]
pub fn document(issuer: &str) -> serde_json::Value {
    let mut doc = AdminApi::openapi();
    doc.servers = Some(vec![ServerBuilder::new().url(issuer).build()]);
    let mut json = serde_json::to_value(&doc).unwrap_or_default();
    json["components"]["securitySchemes"]["dpop"] = serde_json::json!({
        "type": "http",
        "scheme": "dpop",
        "description": "RFC 9449: the token with the DPoP scheme and a DPoP proof header.",
    });
    json
}

/// `GET /openapi.json`
pub async fn openapi(State(state): State<Arc<AppState>>) -> Response {
    axum::Json(document(&state.config.issuer)).into_response()
}
