//! `grant_type=authorization_code` (RFC 6749 §4.1.3) with PKCE (RFC 7636). A code works once:
//! a second use revokes everything issued from the first (RFC 6749 §4.1.2).

use tessera_directory::GrantType;
use tessera_jose::Jkt;
use tessera_store::{FamilyId, Redemption, SessionId, SubjectKind};

use super::authorize::CodeGrant;
use super::client_auth::Client;
use super::form::Form;
use super::user_tokens::{self, Caller};
use crate::error::OAuthError;
use crate::state::AppState;

/// `grant_type=authorization_code`.
#[derive(Debug)]
pub struct AuthorizationCode;

impl super::token::Grant for AuthorizationCode {
    const TYPE: GrantType = GrantType::AuthorizationCode;
    const NOT_GIVEN: &'static str = "this client may not use the authorization code grant";

    async fn serve(r: &super::token::GrantRequest<'_>) -> Result<serde_json::Value, OAuthError> {
        grant(r.state, r.client, r.form, r.caller).await
    }
}

/// RFC 7636 §4.1: 43–128 characters from the unreserved set.
fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Handles the grant.
///
/// # Errors
/// `invalid_grant` for a bad, expired, reused or foreign code, a wrong verifier or redirect
/// URI, a DPoP key other than the one the code is bound to, a disabled user, or a policy
/// refusal; `invalid_request` for missing parameters.
pub async fn grant(
    state: &AppState,
    client: &Client,
    form: &Form,
    caller: &Caller<'_>,
) -> Result<serde_json::Value, OAuthError> {
    let code = form.require("code")?;
    let verifier = form.require("code_verifier")?;
    let redirect_uri = form.require("redirect_uri")?;
    if !valid_verifier(verifier) {
        return Err(OAuthError::invalid_grant(
            "code_verifier must be 43 to 128 unreserved characters",
        ));
    }
    // A malformed resource is refused before the code is spent.
    if let Some(resource) = form.one_resource()? {
        super::client_credentials::check_resource(resource)?;
    }
    let hash = super::token_hash(code);
    let now = state.now();
    let (client_id, user_id, grant) = match state.store.redeem_code(&hash, now).await? {
        Redemption::Redeemed {
            client_id,
            user_id,
            grant,
        } => (client_id, user_id, grant),
        Redemption::Reused { session_id } => {
            if let Some(sid) = session_id {
                revoke_session(state, &sid, "authorization code reused").await?;
            }
            return Err(OAuthError::invalid_grant(
                "the authorization code was already used; tokens issued from it are revoked",
            ));
        }
        Redemption::Expired => return Err(OAuthError::invalid_grant("the authorization code has expired")),
        Redemption::Unknown => return Err(OAuthError::invalid_grant("the authorization code is not valid")),
    };
    if client_id != client.app.id {
        return Err(OAuthError::invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    let mut grant: CodeGrant = serde_json::from_value(grant).map_err(OAuthError::server_error)?;
    grant.resource = super::client_credentials::token_resource(form, grant.resource.as_deref())?;
    if grant.redirect_uri != redirect_uri {
        return Err(OAuthError::invalid_grant(
            "redirect_uri differs from the authorization request",
        ));
    }
    let computed = super::pkce_challenge(verifier);
    if aws_lc_rs::constant_time::verify_slices_are_equal(computed.as_bytes(), grant.code_challenge.as_bytes())
        .is_err()
    {
        return Err(OAuthError::invalid_grant(
            "code_verifier does not match the code_challenge",
        ));
    }
    if let Some(bound) = &grant.dpop_jkt
        && caller.jkt.map(Jkt::as_str) != Some(bound.as_str())
    {
        // The code left the client that asked for it (RFC 9449 §10): logged like a replayed
        // refresh token. The code is spent, so nothing else can come of it.
        user_tokens::log_replay(state, caller, &user_id, &client.app.id, None).await;
        return Err(OAuthError::invalid_grant(
            "the code is bound to a DPoP key and the proof was not made with it",
        ));
    }
    let (body, session) = user_tokens::sign_in(state, client, caller, &user_id, &grant).await?;
    if let Some(sid) = &session {
        state.store.attach_session(&hash, sid).await?;
    }
    Ok(body)
}

/// Revokes a sign-in session: its refresh tokens, and access tokens carrying its `sid` at
/// resources that check the session's "not before".
///
/// # Errors
/// `server_error` from the store.
pub async fn revoke_session(state: &AppState, sid: &SessionId, reason: &str) -> Result<(), OAuthError> {
    let now = state.now();
    // Together: a crash between the two would leave the session's access tokens working.
    let mut uow = state.store.begin().await?;
    uow.revoke_family(&FamilyId(sid.0.clone()), reason, now).await?;
    uow.set_not_before(SubjectKind::Session, &sid.0, now).await?;
    uow.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn verifier_rules() {
        assert!(super::valid_verifier(&"a".repeat(43)));
        assert!(super::valid_verifier(&"-._~".repeat(32)));
        assert!(!super::valid_verifier(&"a".repeat(42)));
        assert!(!super::valid_verifier(&"a".repeat(129)));
        assert!(!super::valid_verifier(&format!("{}+", "a".repeat(43))));
    }
}
