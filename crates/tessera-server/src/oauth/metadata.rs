//! Authorization-server metadata (RFC 8414), OpenID Connect discovery (the same document) and
//! the JWKS. Only what is implemented is advertised.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::json;

use crate::state::AppState;

/// `GET /.well-known/oauth-authorization-server`
fn document(state: &AppState) -> serde_json::Value {
    let auth_methods = super::client_auth::METHODS;
    let assertion_algs = ["ES256", "EdDSA", "RS256", "PS256"];
    let mut document = json!({
        "issuer": state.config.issuer,
        "authorization_endpoint": state.endpoint("/authorize"),
        "pushed_authorization_request_endpoint": state.endpoint("/par"),
        "device_authorization_endpoint": state.endpoint("/device_authorization"),
        "require_pushed_authorization_requests": state.config.authorization.require_pushed_authorization_requests,
        "token_endpoint": state.endpoint("/token"),
        "userinfo_endpoint": state.endpoint("/userinfo"),
        "end_session_endpoint": state.endpoint("/logout"),
        // OpenID Connect Back-Channel Logout 1.0 §2.1: logout tokens carry `sid` always.
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "jwks_uri": state.endpoint("/jwks"),
        "introspection_endpoint": state.endpoint("/introspect"),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "introspection_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "revocation_endpoint": state.endpoint("/revoke"),
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "grant_types_supported": tessera_directory::GRANT_TYPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "scopes_supported": super::authorize::OIDC_SCOPES,
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid",
            "preferred_username", "name", "email"],
        "claims_parameter_supported": true,
        "acr_values_supported": super::authorize::ACR_VALUES,
        // Request objects by value (RFC 9101), at /authorize and /par. A request_uri is only
        // one /par issued: Tessera fetches none (OpenID Connect's request_uri is by reference).
        "request_parameter_supported": true,
        "request_object_signing_alg_values_supported": super::request_object::ALGORITHMS,
        "request_uri_parameter_supported": false,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256", "EdDSA"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "token_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "dpop_signing_alg_values_supported": ["ES256", "EdDSA"],
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "authorization_response_iss_parameter_supported": true,
        // Tessera: where APIs read the location rules they enforce (see docs/resource-sdk.md).
        "location_rules_endpoint": state.endpoint("/policy/locations"),
    });
    // Only what is switched on is said to be there (RFC 8414 §2).
    if state.config.registration.enabled {
        document["registration_endpoint"] = state.endpoint("/register").into();
    }
    document
}

/// `GET /.well-known/oauth-authorization-server` (RFC 8414)
pub async fn authorization_server(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(document(&state)),
    )
}

/// `GET /.well-known/openid-configuration` (OpenID Connect Discovery 1.0)
pub async fn openid_configuration(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(document(&state)),
    )
}

pub async fn jwks(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [
            (header::CACHE_CONTROL, "public, max-age=300"),
            (header::CONTENT_TYPE, "application/jwk-set+json"),
        ],
        state.keys.published().to_json().to_string(),
    )
}
