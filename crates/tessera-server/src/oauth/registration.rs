//! Dynamic client registration (RFC 7591) and its management protocol (RFC 7592), switched on
//! by the operator (`[registration] enabled`).
//!
//! `POST /register` takes client metadata and registers a client through the same validation
//! as the admin API (so no `javascript:` redirect URI, no scope the operator did not offer),
//! answering `201` with the client's id, its secret when it authenticates with one, and a
//! *registration access token* for `GET`/`PUT`/`DELETE /register/{client_id}`. Unless the
//! operator opens registration to anyone (`open`), the request needs an *initial access token*:
//! a Tessera access token with the `tessera.register` (or `tessera.admin`) scope, which an
//! operator's provisioning client gets by client credentials.
//!
//! A *software statement* (RFC 7591 §2.3), when sent, must be a JWT signed by a publisher key
//! the operator trusts (`software_statement_keys`); its claims take precedence over the same
//! metadata in the request. Metadata Tessera does not understand is ignored (§2); metadata it
//! understands but does not offer (`jwks_uri`, another ID-token algorithm, an unknown
//! authentication method) is refused with `invalid_client_metadata`.
//!
//! The registration access token is stored only as its SHA-256; a wrong or unknown one is
//! `401 invalid_token`, as is any token once its client is deleted (RFC 7592 §2).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tessera_directory::{ApplicationSpec, DirectoryError, InitiatingEntity};
use tessera_store::{AppKind, Application, ClientRegistration, StoreError};

use crate::error::OAuthError;
use crate::state::AppState;

/// The scope of an initial access token.
pub const REGISTER_SCOPE: &str = "tessera.register";

/// The client authentication methods a client may register (RFC 7591 §2).
pub const AUTH_METHODS: [&str; 4] = [
    "none",
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
];

/// Metadata kept as registered and returned, without meaning to Tessera (RFC 7591 §2).
const INFORMATIONAL_URIS: [&str; 4] = ["client_uri", "logo_uri", "tos_uri", "policy_uri"];
const INFORMATIONAL_TEXT: [&str; 2] = ["software_id", "software_version"];

/// What `RFC 7592 §2.2` says an update must not carry.
const SERVER_ONLY: [&str; 4] = [
    "registration_access_token",
    "registration_client_uri",
    "client_secret_expires_at",
    "client_id_issued_at",
];

fn metadata_error(description: impl Into<String>) -> OAuthError {
    OAuthError::registration("invalid_client_metadata", description)
}

fn enabled(state: &AppState) -> Result<(), OAuthError> {
    if state.config.registration.enabled {
        Ok(())
    } else {
        Err(OAuthError::not_found(
            "dynamic client registration is not enabled on this server",
        ))
    }
}

/// `POST /register` (RFC 7591 §3.1).
pub async fn register(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    match register_inner(&state, &headers, &body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn register_inner(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Response, OAuthError> {
    enabled(state)?;
    if !state.config.registration.open {
        let presented = super::bearer::authenticate(state, &Method::POST, "/register", headers).await?;
        if !presented.has_scope(REGISTER_SCOPE) && !presented.has_scope(crate::admin::ADMIN_SCOPE) {
            return Err(presented.insufficient_scope(
                "registering a client needs an initial access token with the tessera.register scope",
            ));
        }
    }
    let request = parse_body(headers, body)?;
    let (metadata, statement) = with_software_statement(state, request).await?;
    let client_id = format!(
        "dcr-{}",
        tessera_jose::random::random_id::<12>(state.rng.as_ref()).map_err(OAuthError::server_error)?
    );
    let (spec, kept) = to_spec(&state.config.registration, &client_id, &metadata)?;
    let token =
        tessera_jose::random::random_id::<32>(state.rng.as_ref()).map_err(OAuthError::server_error)?;
    let now = state.now();
    let registration = ClientRegistration {
        client_id: client_id.clone(),
        token_hash: super::token_hash(&token),
        metadata: kept_with_statement(kept, statement),
        created_at: now,
    };
    let made = state
        .directory(InitiatingEntity::System)
        .create_registered_application(&spec, &registration)
        .await
        .map_err(directory_error)?;
    tracing::info!(client = %client_id, "a client registered itself");
    let mut answer = information(state, &made.app, &registration);
    answer.insert("registration_access_token".into(), token.into());
    if let Some(secret) = &made.secret {
        answer.insert("client_secret".into(), secret.as_str().into());
        // RFC 7591 §3.2.1: 0 is "does not expire".
        answer.insert("client_secret_expires_at".into(), 0.into());
    }
    Ok(crate::http::no_store(
        (StatusCode::CREATED, axum::Json(Value::Object(answer))).into_response(),
    ))
}

/// `GET /register/{client_id}` (RFC 7592 §2.1).
pub async fn read(
    State(state): State<Arc<AppState>>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let (app, registration) = authorised(&state, &client_id, &headers).await?;
        Ok::<_, OAuthError>(crate::http::no_store(
            axum::Json(Value::Object(information(&state, &app, &registration))).into_response(),
        ))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `PUT /register/{client_id}` (RFC 7592 §2.2): the full metadata, replacing what was
/// registered.
pub async fn update(
    State(state): State<Arc<AppState>>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let (app, registration) = authorised(&state, &client_id, &headers).await?;
        let mut request = parse_body(&headers, &body)?;
        if request.get("client_id").and_then(Value::as_str) != Some(client_id.as_str()) {
            return Err(metadata_error("client_id must be the client's own"));
        }
        if let Some(field) = SERVER_ONLY.iter().find(|f| request.contains_key(**f)) {
            return Err(metadata_error(format!(
                "{field} is the server's to set, not the client's"
            )));
        }
        if let Some(secret) = request.remove("client_secret") {
            let matches = secret
                .as_str()
                .zip(app.secret_hash.as_ref())
                .is_some_and(|(s, h)| tessera_directory::secrets::verify_client_secret(h.expose(), s));
            if !matches {
                return Err(metadata_error("client_secret is not the client's current secret"));
            }
        }
        request.remove("client_id");
        let (metadata, statement) = with_software_statement(&state, request).await?;
        let (spec, kept) = to_spec(&state.config.registration, &client_id, &metadata)?;
        let registration = ClientRegistration {
            metadata: kept_with_statement(kept, statement),
            ..registration
        };
        let app = state
            .directory(InitiatingEntity::System)
            .replace_registered_application(&spec, &registration)
            .await
            .map_err(directory_error)?;
        Ok(crate::http::no_store(
            axum::Json(Value::Object(information(&state, &app, &registration))).into_response(),
        ))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `DELETE /register/{client_id}` (RFC 7592 §2.3): the client and its registration go.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        authorised(&state, &client_id, &headers).await?;
        state
            .directory(InitiatingEntity::System)
            .delete_application(&client_id)
            .await
            .map_err(directory_error)?;
        tracing::info!(client = %client_id, "a registered client deleted itself");
        Ok::<_, OAuthError>(crate::http::no_store(StatusCode::NO_CONTENT.into_response()))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// The client and its registration, when `headers` carry its registration access token.
async fn authorised(
    state: &AppState,
    client_id: &str,
    headers: &HeaderMap,
) -> Result<(Application, ClientRegistration), OAuthError> {
    enabled(state)?;
    let refused = |description: &str| {
        OAuthError::invalid_token(
            description,
            super::bearer::challenge(false, Some("invalid_token")),
        )
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or_else(|| {
            OAuthError::invalid_token(
                "the registration access token is required",
                super::bearer::challenge(false, None),
            )
        })?;
    let registration = match state.store.client_registration(client_id).await {
        Ok(r) => r,
        Err(StoreError::NotFound(_)) => return Err(refused("not a valid registration access token")),
        Err(e) => return Err(e.into()),
    };
    let presented = super::token_hash(token);
    if aws_lc_rs::constant_time::verify_slices_are_equal(&presented, &registration.token_hash).is_err() {
        return Err(refused("not a valid registration access token"));
    }
    let app = match state.store.application(client_id).await {
        Ok(a) => a,
        Err(StoreError::NotFound(_)) => return Err(refused("not a valid registration access token")),
        Err(e) => return Err(e.into()),
    };
    Ok((app, registration))
}

fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, OAuthError> {
    let json_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
    if !json_type {
        return Err(OAuthError::invalid_request(
            "client metadata must be sent as application/json",
        ));
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(metadata_error("client metadata must be a JSON object")),
        Err(e) => Err(metadata_error(format!("client metadata is not JSON: {e}"))),
    }
}

/// The request's metadata with a software statement's claims laid over it (RFC 7591 §2.3), and
/// the statement itself, to be returned unmodified.
async fn with_software_statement(
    state: &AppState,
    mut request: Map<String, Value>,
) -> Result<(Map<String, Value>, Option<String>), OAuthError> {
    let config = &state.config.registration;
    let statement = match request.remove("software_statement") {
        None if config.require_software_statement => {
            return Err(OAuthError::registration(
                "invalid_software_statement",
                "this server registers only software with a software statement",
            ));
        }
        None => return Ok((request, None)),
        Some(Value::String(s)) => s,
        Some(_) => {
            return Err(OAuthError::registration(
                "invalid_software_statement",
                "software_statement must be a JWT",
            ));
        }
    };
    let invalid = |why: String| OAuthError::registration("invalid_software_statement", why);
    let Some(path) = &config.software_statement_keys else {
        return Err(OAuthError::registration(
            "unapproved_software_statement",
            "this server trusts no software publisher",
        ));
    };
    let keys = tokio::fs::read(path)
        .await
        .map_err(|e| OAuthError::server_error(format!("cannot read {}: {e}", path.display())))?;
    let keys = tessera_jose::KeySet::from_jwks(&keys)
        .map_err(|e| OAuthError::server_error(format!("{} is not a JWK Set: {e}", path.display())))?;
    let jws = tessera_jose::jws::decode(&statement).map_err(|e| invalid(format!("not a signed JWT: {e}")))?;
    jws.verify_with_set(&keys).map_err(|_| {
        OAuthError::registration(
            "unapproved_software_statement",
            "the software statement is not signed by a publisher this server trusts",
        )
    })?;
    let claims: Map<String, Value> = serde_json::from_slice(jws.unverified_payload())
        .map_err(|_| invalid("the software statement's claims are not a JSON object".into()))?;
    if !claims.get("iss").is_some_and(Value::is_string) {
        return Err(invalid(
            "the software statement has no iss (RFC 7591 §2.3)".into(),
        ));
    }
    if let Some(exp) = claims.get("exp") {
        let Some(exp) = exp.as_i64() else {
            return Err(invalid("the software statement's exp is not a number".into()));
        };
        if exp < state.unix_time().0 {
            return Err(invalid("the software statement has expired".into()));
        }
    }
    for (name, value) in claims {
        if !matches!(
            name.as_str(),
            "iss" | "iat" | "exp" | "nbf" | "jti" | "aud" | "sub"
        ) {
            request.insert(name, value);
        }
    }
    Ok((request, Some(statement)))
}

fn kept_with_statement(mut kept: Map<String, Value>, statement: Option<String>) -> Value {
    if let Some(s) = statement {
        kept.insert("software_statement".into(), s.into());
    }
    Value::Object(kept)
}

fn strings(metadata: &Map<String, Value>, field: &str) -> Result<Option<Vec<String>>, OAuthError> {
    match metadata.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or_else(|| metadata_error(format!("{field} must be an array of strings"))),
        Some(_) => Err(metadata_error(format!("{field} must be an array of strings"))),
    }
}

fn string<'m>(metadata: &'m Map<String, Value>, field: &str) -> Result<Option<&'m str>, OAuthError> {
    match metadata.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(metadata_error(format!("{field} must be a string"))),
    }
}

fn boolean(metadata: &Map<String, Value>, field: &str) -> Result<bool, OAuthError> {
    match metadata.get(field) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(metadata_error(format!("{field} must be true or false"))),
    }
}

/// The application spec the metadata asks for, and the informational metadata to keep.
fn to_spec(
    config: &crate::config::RegistrationConfig,
    client_id: &str,
    metadata: &Map<String, Value>,
) -> Result<(ApplicationSpec, Map<String, Value>), OAuthError> {
    let method = string(metadata, "token_endpoint_auth_method")?.unwrap_or("client_secret_basic");
    if !AUTH_METHODS.contains(&method) {
        return Err(metadata_error(format!(
            "token_endpoint_auth_method {method} is not supported; use one of {}",
            AUTH_METHODS.join(", ")
        )));
    }
    let grant_types = strings(metadata, "grant_types")?.unwrap_or_else(|| vec!["authorization_code".into()]);
    for g in &grant_types {
        if !config.grant_types.contains(g) {
            return Err(metadata_error(format!(
                "grant type {g} may not be registered here; this server offers {}",
                config.grant_types.join(", ")
            )));
        }
    }
    let response_types = strings(metadata, "response_types")?.unwrap_or_else(|| vec!["code".into()]);
    if response_types.iter().any(|r| r != "code") {
        return Err(metadata_error("the only response type is code"));
    }
    // RFC 7591 §2.1: the code grant and the code response type go together.
    let code_grant = grant_types.iter().any(|g| g == "authorization_code");
    if code_grant != response_types.iter().any(|r| r == "code") && metadata.contains_key("response_types") {
        return Err(metadata_error(
            "response_types code goes with grant_types authorization_code",
        ));
    }
    let mut scopes = Vec::new();
    if let Some(scope) = string(metadata, "scope")? {
        for s in scope.split(' ').filter(|s| !s.is_empty()) {
            if super::authorize::OIDC_SCOPES.contains(&s) {
                continue;
            }
            if !config.scopes.iter().any(|allowed| allowed == s) {
                return Err(metadata_error(format!("scope {s} may not be registered here")));
            }
            scopes.push(s.to_owned());
        }
    }
    if metadata.contains_key("jwks_uri") {
        return Err(metadata_error(
            "jwks_uri is not supported; register the keys by value (jwks)",
        ));
    }
    let jwks = metadata.get("jwks").filter(|v| !v.is_null()).cloned();
    match (method, &jwks) {
        ("private_key_jwt", None) => return Err(metadata_error("private_key_jwt needs jwks")),
        ("none" | "client_secret_basic" | "client_secret_post", Some(_)) => {
            return Err(metadata_error("jwks goes with private_key_jwt"));
        }
        _ => {}
    }
    if let Some(alg) = string(metadata, "id_token_signed_response_alg")?
        && !matches!(alg, "ES256" | "EdDSA")
    {
        return Err(metadata_error(format!(
            "ID tokens are signed with ES256 or EdDSA, not {alg}"
        )));
    }
    boolean(metadata, "backchannel_logout_session_required")?;
    let spec = ApplicationSpec {
        name: string(metadata, "client_name")?.map(str::to_owned),
        kind: if method == "none" {
            AppKind::Public
        } else {
            AppKind::Confidential
        },
        redirect_uris: strings(metadata, "redirect_uris")?.unwrap_or_default(),
        grant_types,
        scopes,
        jwks,
        require_dpop: boolean(metadata, "dpop_bound_access_tokens")?,
        require_pushed_authorization_requests: boolean(metadata, "require_pushed_authorization_requests")?,
        backchannel_logout_uri: string(metadata, "backchannel_logout_uri")?.map(str::to_owned),
        ..ApplicationSpec::new(client_id)
    };
    let mut kept = Map::new();
    kept.insert("token_endpoint_auth_method".into(), method.into());
    if let Some(scope) = string(metadata, "scope")? {
        kept.insert("scope".into(), scope.into());
    }
    for field in INFORMATIONAL_URIS {
        if let Some(uri) = string(metadata, field)? {
            let ok = url::Url::parse(uri)
                .is_ok_and(|u| matches!(u.scheme(), "https" | "http") && u.host_str().is_some());
            if !ok {
                return Err(metadata_error(format!("{field} must be an http(s) URL")));
            }
            kept.insert(field.into(), uri.into());
        }
    }
    for field in INFORMATIONAL_TEXT {
        if let Some(text) = string(metadata, field)? {
            kept.insert(field.into(), text.into());
        }
    }
    if let Some(contacts) = strings(metadata, "contacts")? {
        kept.insert("contacts".into(), contacts.into());
    }
    Ok((spec, kept))
}

/// A directory refusal as RFC 7591 §3.2.2 says it.
fn directory_error(e: DirectoryError) -> OAuthError {
    match e {
        DirectoryError::Invalid(errors) => {
            let redirect = errors.iter().find(|e| e.field.starts_with("redirect_uris"));
            match redirect {
                Some(e) => {
                    OAuthError::registration("invalid_redirect_uri", format!("{}: {}", e.field, e.message))
                }
                None => metadata_error(
                    errors
                        .iter()
                        .map(|e| format!("{}: {}", registration_name(&e.field), e.message))
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
            }
        }
        DirectoryError::Conflict(m) => metadata_error(m),
        DirectoryError::NotFound(_) => OAuthError::invalid_token(
            "not a valid registration access token",
            super::bearer::challenge(false, Some("invalid_token")),
        ),
        e => OAuthError::server_error(e),
    }
}

/// The RFC 7591 name of an application field.
fn registration_name(field: &str) -> &str {
    match field {
        "name" => "client_name",
        "kind" => "token_endpoint_auth_method",
        "scopes" => "scope",
        "require_dpop" => "dpop_bound_access_tokens",
        other => other,
    }
}

/// The client information response (RFC 7591 §3.2.1, RFC 7592 §3).
fn information(state: &AppState, app: &Application, registration: &ClientRegistration) -> Map<String, Value> {
    let mut info = Map::new();
    info.insert("client_id".into(), app.id.clone().into());
    info.insert(
        "client_id_issued_at".into(),
        (registration.created_at.0 / 1000).into(),
    );
    info.insert("client_name".into(), app.name.clone().into());
    info.insert("redirect_uris".into(), app.redirect_uris.clone().into());
    info.insert("grant_types".into(), app.grant_types.clone().into());
    let code = app.grant_types.iter().any(|g| g == "authorization_code");
    info.insert(
        "response_types".into(),
        if code { json!(["code"]) } else { json!([]) },
    );
    if let Some(jwks) = &app.jwks {
        info.insert("jwks".into(), jwks.clone());
    }
    if let Some(uri) = &app.backchannel_logout_uri {
        info.insert("backchannel_logout_uri".into(), uri.clone().into());
        info.insert("backchannel_logout_session_required".into(), true.into());
    }
    info.insert("dpop_bound_access_tokens".into(), app.require_dpop.into());
    info.insert(
        "require_pushed_authorization_requests".into(),
        app.require_pushed_authorization_requests.into(),
    );
    if let Value::Object(kept) = &registration.metadata {
        for (k, v) in kept {
            info.insert(k.clone(), v.clone());
        }
    }
    info.insert(
        "registration_client_uri".into(),
        state.endpoint(&format!("/register/{}", app.id)).into(),
    );
    info
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::config::RegistrationConfig;

    /// Whatever a client sends, reading its metadata answers (an error or a spec the
    /// directory then validates) and never panics.
    #[test]
    fn hostile_metadata_is_refused_not_a_panic() {
        let config = RegistrationConfig {
            enabled: true,
            scopes: vec!["mail.read".into()],
            ..RegistrationConfig::default()
        };
        let odd = [
            json!(null),
            json!(true),
            json!(-1),
            json!(1e308),
            json!("x".repeat(100_000)),
            json!([[[[[]]]]]),
            json!({"": {"": {}}}),
            json!([null, 1, "a", {"b": []}]),
            json!("\u{0}\u{202e}javascript:alert(1)"),
        ];
        let fields = [
            "redirect_uris",
            "grant_types",
            "response_types",
            "token_endpoint_auth_method",
            "scope",
            "jwks",
            "jwks_uri",
            "client_name",
            "id_token_signed_response_alg",
            "backchannel_logout_uri",
            "backchannel_logout_session_required",
            "dpop_bound_access_tokens",
            "require_pushed_authorization_requests",
            "logo_uri",
            "contacts",
            "software_id",
        ];
        let mut answered = 0;
        for field in fields {
            for value in &odd {
                let mut metadata = serde_json::Map::new();
                metadata.insert(field.to_owned(), value.clone());
                if let Ok((spec, _)) = super::to_spec(&config, "dcr-x", &metadata) {
                    // What passes here still meets the directory's rules before it is kept.
                    let _ = spec.validate();
                }
                answered += 1;
            }
        }
        assert_eq!(answered, fields.len() * odd.len());
        // The shapes the RFC allows are read; the others are named.
        let wrong: Value = json!({"redirect_uris": "https://rp.example/cb"});
        let Value::Object(map) = wrong else { unreachable!() };
        let Err(e) = super::to_spec(&config, "dcr-x", &map) else {
            panic!("a string for redirect_uris was taken")
        };
        assert!(format!("{e:?}").contains("redirect_uris"), "{e:?}");
    }
}
