//! `grant_type=authorization_code` (RFC 6749 §4.1.3) with PKCE (RFC 7636). A code works once:
//! a second use revokes everything issued from the first (RFC 6749 §4.1.2).

use tessera_directory::GrantType;
use tessera_jose::Jkt;
use tessera_store::{
    FamilyId, NewFamily, NewSession, Redemption, SessionId, StoreError, SubjectKind, UserStatus,
};

use super::authorize::CodeGrant;
use super::client_auth::Client;
use super::form::Form;
use super::user_tokens::{self, Caller, Issue};
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
    let grant: CodeGrant = serde_json::from_value(grant).map_err(OAuthError::server_error)?;
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
    let user = match state.store.user(&user_id).await {
        Ok(u) => u,
        Err(StoreError::NotFound(_)) => return Err(OAuthError::invalid_grant("the user no longer exists")),
        Err(e) => return Err(e.into()),
    };
    if user.status != UserStatus::Enabled {
        return Err(OAuthError::invalid_grant("the user account is disabled"));
    }
    if crate::revocation::revoked_since(
        state.store.as_ref(),
        &[(SubjectKind::User, &user.id.0)],
        crate::revocation::signed_in(grant.signed_in, grant.auth_time),
    )
    .await?
    {
        return Err(OAuthError::invalid_grant(
            "the user's sessions were revoked; sign in again",
        ));
    }
    let device = user_tokens::device_of(state, &user, caller.jkt).await?;
    let (decision, _, logged) =
        user_tokens::enforce(state, caller, &user, &client.app, &grant, device.as_ref(), None).await?;
    logged.wait().await;

    // A public client's refresh token must be sender-constrained: without a proof it gets none.
    let wants_refresh = client.app.grant_types.iter().any(|g| g == "refresh_token")
        && (client.app.kind == tessera_store::AppKind::Confidential || caller.jkt.is_some());
    let sid = tessera_jose::random::random_id::<16>(state.rng.as_ref()).map_err(OAuthError::server_error)?;
    let refresh_token = if wants_refresh {
        let token =
            tessera_jose::random::random_id::<32>(state.rng.as_ref()).map_err(OAuthError::server_error)?;
        let session = NewSession {
            id: SessionId(sid.clone()),
            user_id: user.id.clone(),
            client_id: client.app.id.clone(),
            device_id: device.as_ref().map(|d| d.id.clone()),
            jkt: caller.jkt.map(|j| j.as_str().to_owned()),
            created_at: now,
        };
        let family = NewFamily {
            // One family per session: revoking the session revokes the family by the same id.
            id: FamilyId(sid.clone()),
            token_hash: super::token_hash(&token),
            expires_at: now.plus_ms(client.app.refresh_token_days.max(1).saturating_mul(86_400_000)),
            grant: serde_json::to_value(&grant).map_err(OAuthError::server_error)?,
        };
        state.store.start_session(&session, &family).await?;
        state.store.attach_session(&hash, &SessionId(sid.clone())).await?;
        Some(token)
    } else {
        None
    };
    user_tokens::respond(
        state,
        &Issue {
            user: &user,
            app: &client.app,
            grant: &grant,
            sid: &sid,
            jkt: caller.jkt,
            session_jkt: caller.session_jkt,
            device: device.as_ref(),
            decision: &decision,
            with_nonce: true,
            refresh_token: refresh_token.as_deref(),
        },
    )
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
