//! `grant_type=refresh_token` (RFC 6749 §6): every use rotates the token (except for FAPI 2.0
//! clients, design record 008); an old token used again revokes its whole family. A token bound to a DPoP key is refused without a proof by
//! that key, before anything changes, and the attempt is logged as a replay. Conditional Access
//! runs again on every refresh.

use tessera_directory::GrantType;
use tessera_directory::access::TokenProtection;
use tessera_jose::Jkt;
use tessera_store::{Rotate, Rotation, UserStatus};

use super::authorize::{CodeGrant, parse_claims};
use super::client_auth::Client;
use super::form::Form;
use super::user_tokens::{self, Caller, Issue};
use crate::access;
use crate::error::OAuthError;
use crate::state::AppState;

/// `grant_type=refresh_token`.
#[derive(Debug)]
pub struct RefreshToken;

impl super::token::Grant for RefreshToken {
    const TYPE: GrantType = GrantType::RefreshToken;
    const NOT_GIVEN: &'static str = "this client may not use refresh tokens";

    async fn serve(r: &super::token::GrantRequest<'_>) -> Result<serde_json::Value, OAuthError> {
        grant(r.state, r.client, r.form, r.caller).await
    }
}

/// Handles the grant.
///
/// # Errors
/// `invalid_grant` for an unknown, expired, revoked, reused or foreign token, a missing or
/// wrong DPoP key, a disabled user, revoked sessions, or a policy refusal; `invalid_scope` for
/// a scope beyond the original grant.
pub async fn grant(
    state: &AppState,
    client: &Client,
    form: &Form,
    caller: &Caller<'_>,
) -> Result<serde_json::Value, OAuthError> {
    let presented = form.require("refresh_token")?;
    let hash = super::token_hash(presented);
    let Some(mut presented) = state
        .store
        .presented_token(&hash, caller.jkt.map(Jkt::as_str))
        .await?
    else {
        return Err(OAuthError::invalid_grant("the refresh token is not valid"));
    };
    let family = &presented.family;
    if family.client_id != client.app.id {
        return Err(OAuthError::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    if let Some(bound) = family.jkt.as_deref()
        && caller.jkt.map(Jkt::as_str) != Some(bound)
    {
        user_tokens::log_replay(
            state,
            caller,
            &family.user_id,
            &client.app.id,
            family.device_id.as_deref(),
        )
        .await;
        tracing::warn!(user = %family.user_id, family = %family.id, "bound refresh token presented without its key");
        let directory = state.directory(tessera_directory::InitiatingEntity::Policy);
        if family.device_id.is_some() {
            // Token protection: the key lives on a registered device, so the copy is inert.
            // The replay is blocked and logged, the user's risk is raised to medium for
            // Conditional Access to weigh, and the device keeps its session.
            if let Err(e) = directory
                .raise_risk(&family.user_id, tessera_store::RiskLevel::Medium)
                .await
            {
                tracing::error!(%e, user = %family.user_id, "could not raise the risk of a replay's user");
            }
        } else if let Err(e) = directory.token_replay(family).await {
            // A key held only in software may have been copied with the token: end the
            // session and raise the user's risk, so every API hears of it.
            tracing::error!(%e, family = %family.id, "could not revoke a replayed session");
        }
        return Err(OAuthError::invalid_grant(
            "the refresh token is bound to a DPoP key; the request must carry a proof made with it",
        ));
    }
    let mut grant: CodeGrant =
        serde_json::from_value(family.grant.clone()).map_err(OAuthError::server_error)?;
    // This token's audience; the session keeps the one it was authorized for.
    grant.resource = super::client_credentials::token_resource(form, grant.resource.as_deref())?;
    if let Some(requested) = form.get("scope") {
        let allowed: Vec<String> = grant.scope.split(' ').map(str::to_owned).collect();
        grant.scope = super::client_credentials::granted_scopes(&allowed, Some(requested))
            .map_err(|_| OAuthError::invalid_scope("a refresh cannot widen the original scope"))?;
    }
    let mut issue_after = None;
    if let Some(claims) = form.get("claims") {
        grant.cp1 |= parse_claims(claims).map_err(OAuthError::invalid_request)?;
        issue_after = claims_challenge_wait(claims, state.now())?;
    }

    let Some(user) = presented.user.take() else {
        return Err(OAuthError::invalid_grant("the user no longer exists"));
    };
    if user.status != UserStatus::Enabled {
        return Err(OAuthError::invalid_grant("the user account is disabled"));
    }
    // Read with the token: the user's and the session's "not before" instants.
    if presented.revoked_since_issue() {
        return Err(OAuthError::invalid_grant(
            "the session was revoked, or its device disabled; sign in again",
        ));
    }
    let device = user_tokens::registered(state, &user, presented.device.take()).await;
    let (decision, _, logged) = user_tokens::enforce(
        state,
        caller,
        &user,
        &client.app,
        &grant,
        device.as_ref(),
        Some(&presented.groups),
    )
    .await?;
    // An API reported the session used from another address where a location policy would
    // apply (a `session-presented` signal): policy must be met from there as well.
    let reported = presented
        .presented_ip
        .as_deref()
        .and_then(|ip| ip.parse::<std::net::IpAddr>().ok())
        .filter(|ip| *ip != caller.ip);
    let mut logged_elsewhere = None;
    if let Some(ip) = reported {
        let elsewhere = Caller {
            ip,
            stage: "refresh_token (address reported by an API)",
            ..*caller
        };
        let (_, _, logged) = user_tokens::enforce(
            state,
            &elsewhere,
            &user,
            &client.app,
            &grant,
            device.as_ref(),
            Some(&presented.groups),
        )
        .await?;
        logged_elsewhere = Some(logged);
    }

    if let Some(wait) = issue_after {
        // Everything is checked: only the clock stands between the client and its token.
        tokio::time::sleep(wait).await;
    }
    let next = tessera_jose::random::random_id::<32>(state.rng.as_ref()).map_err(OAuthError::server_error)?;
    let now = state.now();
    let rotate = Rotate {
        presented: &hash,
        next: &super::token_hash(&next),
        now,
        expires_at: now.plus_ms(client.app.refresh_token_days.max(1).saturating_mul(86_400_000)),
    };
    let rotation = if client.app.fapi2 {
        // FAPI 2.0 §5.3.2.1: no rotation, so that a retry after a lost response succeeds
        // (design record 008).
        let kept = state.store.refresh_in_place(&rotate).await?;
        logged.wait().await;
        if let Some(logged) = logged_elsewhere {
            logged.wait().await;
        }
        kept
    } else {
        // The swap is committed together with other requests' writes (and this request's log
        // entries, queued before it); only when it did not happen does the store find out why.
        let swapped = state.writes.rotate(&rotate).await?;
        logged.wait().await;
        if let Some(logged) = logged_elsewhere {
            logged.wait().await;
        }
        match swapped {
            Some(family) => Rotation::Rotated(family),
            None => state.store.rotate(&rotate).await?,
        }
    };
    let family = match rotation {
        Rotation::Rotated(f) => {
            if let Some(ip) = presented.presented_ip.as_deref() {
                state.store.clear_presented(&f.session_id, ip).await?;
            }
            f
        }
        Rotation::Reused(f) => {
            tracing::warn!(user = %f.user_id, family = %f.id, "refresh token reused: a copy was stolen; session ended");
            if let Err(e) = state
                .directory(tessera_directory::InitiatingEntity::Policy)
                .refresh_token_reuse(&f)
                .await
            {
                tracing::error!(%e, family = %f.id, "could not end the session of a reused refresh token");
            }
            let protection = if caller.jkt.is_some() {
                TokenProtection::BoundToDevice
            } else {
                TokenProtection::Missing
            };
            let entry = caller.refused(
                "theft",
                protection,
                &f.user_id,
                &client.app.id,
                f.device_id.as_deref(),
            );
            access::log(state, &entry, None).await;
            return Err(OAuthError::invalid_grant(
                "the refresh token was already used; the session is revoked",
            ));
        }
        Rotation::Revoked(_) => return Err(OAuthError::invalid_grant("the session was revoked")),
        Rotation::Expired(_) => return Err(OAuthError::invalid_grant("the refresh token has expired")),
        Rotation::Unknown => return Err(OAuthError::invalid_grant("the refresh token is not valid")),
    };
    user_tokens::respond(
        state,
        &Issue {
            user: &user,
            app: &client.app,
            grant: &grant,
            sid: &family.session_id.0,
            jkt: caller.jkt,
            session_jkt: caller.session_jkt,
            device: device.as_ref(),
            decision: &decision,
            with_nonce: false,
            // Without a new one, the client keeps the one it has (RFC 6749 §5.1).
            refresh_token: (!client.app.fapi2).then_some(next.as_str()),
        },
    )
}

/// A claims challenge returned by a resource asks for a token issued after the instant
/// `access_token.nbf.value` (Unix seconds, as every `nbf`). Tessera's APIs compare the token's
/// `tessera_iat_ms` and need no wait; an API that compares whole seconds refuses a token whose
/// `iat` is in the challenge's second. So a challenge naming the current second (a client
/// following it at once) means waiting for the next second before the token is issued: the
/// wait returned, at most two seconds. An instant further ahead cannot be met.
fn claims_challenge_wait(
    claims: &str,
    now: tessera_store::Timestamp,
) -> Result<Option<std::time::Duration>, OAuthError> {
    let value: serde_json::Value = serde_json::from_str(claims).unwrap_or_default();
    let nbf = &value["access_token"]["nbf"]["value"];
    let Some(instant) = nbf.as_i64().or_else(|| nbf.as_str().and_then(|s| s.parse().ok())) else {
        return Ok(None);
    };
    let now_ms = now.0;
    let wanted_ms = instant.saturating_add(1).saturating_mul(1000);
    match wanted_ms - now_ms {
        wait if wait <= 0 => Ok(None),
        wait if wait <= 2_000 => Ok(Some(std::time::Duration::from_millis(wait.unsigned_abs()))),
        _ => Err(OAuthError::invalid_grant(
            "the claims challenge asks for a token from the future",
        )),
    }
}
