//! Authorization-server metadata (RFC 8414) and the JWKS. Only what is implemented is
//! advertised: the authorization endpoint and OpenID Connect discovery arrive together with
//! the authorization-code flow.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::json;

use crate::state::AppState;

/// `GET /.well-known/oauth-authorization-server`
pub async fn authorization_server(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let doc = json!({
        "issuer": state.config.issuer,
        "token_endpoint": state.endpoint("/token"),
        "jwks_uri": state.endpoint("/jwks"),
        "introspection_endpoint": state.endpoint("/introspect"),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint": state.endpoint("/revoke"),
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "grant_types_supported": ["client_credentials"],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "dpop_signing_alg_values_supported": ["ES256", "EdDSA"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
    });
    ([(header::CACHE_CONTROL, "public, max-age=300")], Json(doc))
}

/// `GET /jwks`
pub async fn jwks(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [
            (header::CACHE_CONTROL, "public, max-age=300"),
            (header::CONTENT_TYPE, "application/jwk-set+json"),
        ],
        state.keys.published().to_json().to_string(),
    )
}
