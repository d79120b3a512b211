//! The OAuth 2.0 endpoints, one file per concern.

pub mod access_token;
pub mod authorization_code;
pub mod authorize;
pub mod backchannel_logout;
pub mod bearer;
pub mod client_auth;
pub mod client_credentials;
pub mod device_authorization;
pub mod device_code;
pub mod dpop_nonce;
pub mod form;
pub mod introspect;
pub mod metadata;
pub mod par;
pub mod refresh;
pub mod registration;
pub mod request_object;
pub mod revoke;
pub mod token;
pub mod token_exchange;
pub mod user_tokens;
pub mod userinfo;

/// The request's `DPoP` headers (RFC 9449 §4.1); the verifier refuses more than one.
#[must_use]
pub fn dpop_proofs(headers: &axum::http::HeaderMap) -> Vec<&str> {
    headers
        .get_all("dpop")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect()
}

/// A request's DPoP proof for `POST {path}`, once checked (server nonce included, when
/// required); none without a proof.
///
/// # Errors
/// `invalid_dpop_proof` (or `use_dpop_nonce`), `invalid_request` for two `DPoP` headers.
pub async fn verified_proof(
    state: &crate::state::AppState,
    headers: &axum::http::HeaderMap,
    path: &str,
) -> Result<Option<tessera_jose::dpop::VerifiedProof>, crate::OAuthError> {
    let proofs = dpop_proofs(headers);
    if proofs.is_empty() {
        return Ok(None);
    }
    let uri = state.endpoint(path);
    let request = tessera_jose::dpop::DpopRequest {
        proofs: &proofs,
        method: "POST",
        uri: &uri,
        access_token: None,
        bound_jkt: None,
        nonce: state
            .nonces
            .as_ref()
            .map(|n| n as &dyn tessera_jose::dpop::NonceCheck),
    };
    let proof = state.verify_dpop(&request).await.map_err(|e| match e {
        tessera_jose::dpop::DpopError::MultipleHeaders => {
            crate::OAuthError::invalid_request("more than one DPoP header")
        }
        other => crate::OAuthError::from(other),
    })?;
    Ok(Some(proof))
}

/// The key of a request's DPoP proof for `POST {path}` ([`verified_proof`]).
///
/// # Errors
/// As [`verified_proof`].
pub async fn proof_key(
    state: &crate::state::AppState,
    headers: &axum::http::HeaderMap,
    path: &str,
) -> Result<Option<tessera_jose::Jkt>, crate::OAuthError> {
    Ok(verified_proof(state, headers, path).await?.map(|p| p.jkt))
}

/// How codes and refresh tokens are kept: SHA-256 of the token, never the token itself.
#[must_use]
pub fn token_hash(token: &str) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes())
        .as_ref()
        .to_vec()
}

/// The PKCE S256 challenge of a verifier (RFC 7636 §4.2): base64url(SHA-256(verifier)).
#[must_use]
pub fn pkce_challenge(verifier: &str) -> String {
    tessera_jose::b64::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        verifier.as_bytes(),
    ))
}
