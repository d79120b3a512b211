//! Request objects (RFC 9101): an authorization request signed by the client, by value in
//! `request` at `/authorize` or at `/par`. Verified with the client's registered keys (the ones
//! `private_key_jwt` uses) and an asymmetric algorithm; `alg: none`, a MAC, an embedded key or
//! another client's key are refused. `aud` must name this issuer, `iss` (when present) and
//! `client_id` the client, and `exp`/`nbf` hold.

use tessera_jose::jwt::{TokenKind, Validation, verify as verify_jwt};
use tessera_jose::{KeySet, request_object};
use tessera_store::Application;

use super::authorize::Params;
use crate::state::AppState;

/// The algorithms a request object may be signed with, as metadata lists them.
pub const ALGORITHMS: [&str; 4] = ["ES256", "EdDSA", "RS256", "PS256"];

/// The authorization request parameters of `app`'s request object `jwt`.
///
/// # Errors
/// Why it was refused, for the `invalid_request_object` description.
pub fn verify(state: &AppState, app: &Application, jwt: &str) -> Result<Params, String> {
    let Some(jwks) = &app.jwks else {
        return Err("this client has no registered keys, so it cannot sign request objects".into());
    };
    let keys = KeySet::from_jwks(jwks.to_string().as_bytes())
        .map_err(|e| format!("the client's registered keys are unusable: {e}"))?;
    let rules = Validation::new(TokenKind::RequestObject, &app.id, &state.config.issuer);
    let verified = verify_jwt(jwt, &keys, &rules, state.clock.as_ref()).map_err(|e| e.to_string())?;
    if verified.registered.client_id.as_deref() != Some(app.id.as_str()) {
        return Err("its client_id is not the client_id of the request".into());
    }
    let params = request_object::parameters(verified.payload()).map_err(|e| e.to_string())?;
    Ok(params.into_iter().collect())
}
