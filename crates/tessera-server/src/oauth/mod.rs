//! The OAuth 2.0 endpoints, one file per concern.

pub mod access_token;
pub mod authorization_code;
pub mod authorize;
pub mod bearer;
pub mod client_auth;
pub mod client_credentials;
pub mod dpop_nonce;
pub mod form;
pub mod introspect;
pub mod metadata;
pub mod par;
pub mod refresh;
pub mod request_object;
pub mod revoke;
pub mod token;
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
