//! What the authorization-code and refresh grants share: Conditional Access at the token
//! endpoint with the device behind the DPoP proof, and the response with the access token, the
//! ID token and the refresh token.

use serde::Serialize;
use tessera_directory::access::{Attempt, KeyBindingReason, LogEntry, TokenProtection, client_app_type};
use tessera_jose::{Jkt, jws};
use tessera_policy::{Decision, Need, Outcome, PolicySet, TokenBinding};
use tessera_store::{Application, Committed, Device, DeviceStatus, StoreError, User};

use super::access_token::{self, Grant};
use super::authorize::CodeGrant;
use crate::access;
use crate::error::OAuthError;
use crate::state::AppState;

/// The request as the token endpoint saw it.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// The client's address.
    pub ip: std::net::IpAddr,
    /// The DPoP proof's key, when there was a proof.
    pub jkt: Option<&'a Jkt>,
    /// The session key the proof's key vouched for (`tessera_session_jkt`), when it did.
    pub session_jkt: Option<&'a Jkt>,
    /// The grant being served, for the log.
    pub stage: &'static str,
}

impl Caller<'_> {
    /// The sign-in log entry of this request, refused with `invalid_grant` as `outcome`.
    #[must_use]
    pub fn refused<'a>(
        &'a self,
        outcome: &'static str,
        token_protection: TokenProtection,
        user: &'a tessera_store::UserId,
        client_id: &'a str,
        device_id: Option<&'a str>,
    ) -> LogEntry<'a> {
        LogEntry {
            stage: self.stage,
            user: Some(user),
            client_id: Some(client_id),
            ip: self.ip,
            outcome,
            token_protection,
            device_id,
            jkt: self.jkt.map(Jkt::as_str),
            error: Some("invalid_grant"),
            key_binding: None,
            transfer: None,
        }
    }
}

/// How stale a device's "last seen" may get before a request records it again, ms.
const LAST_SEEN_PRECISION_MS: i64 = 60_000;

/// The device whose key signed the proof, when it is one of `user`'s registered devices.
///
/// # Errors
/// `server_error` from the store.
pub async fn device_of(
    state: &AppState,
    user: &User,
    jkt: Option<&Jkt>,
) -> Result<Option<Device>, OAuthError> {
    let Some(jkt) = jkt else { return Ok(None) };
    match state.store.device_by_jkt(jkt.as_str()).await {
        Ok(d) => Ok(registered(state, user, Some(d)).await),
        Err(StoreError::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// `device` (the one registered with the proof's key, already read) when it is one of `user`'s
/// and enabled; records its activity.
pub async fn registered(state: &AppState, user: &User, device: Option<Device>) -> Option<Device> {
    let d = device.filter(|d| d.user_id == user.id && d.status == DeviceStatus::Enabled)?;
    // "Last seen" to the minute is what an administrator needs; a write on every refresh would
    // cost every device-bound session a turn at the database's writer.
    let now = state.now();
    if d.last_seen_at
        .is_none_or(|seen| now.0 - seen.0 >= LAST_SEEN_PRECISION_MS)
        && let Err(e) = state.store.touch_device(&d.id, now).await
    {
        tracing::warn!(%e, "could not record device activity");
    }
    Some(d)
}

/// Logs a token or code bound to a DPoP key presented without a proof by that key: token
/// protection `replay` (another key's proof) or `unbound` (none), with the presenting address
/// and key.
pub async fn log_replay(
    state: &AppState,
    caller: &Caller<'_>,
    user: &tessera_store::UserId,
    client_id: &str,
    device_id: Option<&str>,
) {
    let protection = if caller.jkt.is_some() {
        TokenProtection::Replay
    } else {
        TokenProtection::Unbound
    };
    let entry = caller.refused("replay", protection, user, client_id, device_id);
    access::log(state, &entry, None).await;
}

/// Runs Conditional Access for a token request and logs the result. Anything but "allow"
/// (after what the grant already satisfied) refuses the request with `invalid_grant`, once
/// the log entry is committed. On "allow" the entry's commit is returned to wait for, so that
/// a refresh can wait for it and its rotation at once.
///
/// # Errors
/// `invalid_grant` saying what policy requires.
pub async fn enforce(
    state: &AppState,
    caller: &Caller<'_>,
    user: &User,
    app: &Application,
    grant: &CodeGrant,
    device: Option<&Device>,
    groups: Option<&[tessera_store::GroupId]>,
) -> Result<(Decision, std::sync::Arc<PolicySet>, Committed), OAuthError> {
    let binding = if device.is_some() {
        TokenBinding::BoundToDevice
    } else {
        TokenBinding::Missing
    };
    let attempt = Attempt {
        user,
        app,
        device,
        groups,
        ip: caller.ip,
        mfa: grant.mfa(),
        binding,
        // A device polling for its tokens is a native client, whatever it is registered as.
        client_app_type: if grant.transfer.is_some() {
            tessera_policy::ClientAppType::MobileAppsAndDesktopClients
        } else {
            client_app_type(app, Some(&grant.redirect_uri))
        },
        flow: grant.transfer.as_ref().map(|t| t.method),
    };
    let (decision, set) = access::evaluate(state, &attempt).await?;
    let refusal = match &decision.outcome {
        Outcome::Allow => None,
        Outcome::Block { .. } => Some((
            "blocked",
            "access is blocked by Conditional Access policy".to_owned(),
        )),
        Outcome::Interrupt { requirements } => {
            let mut needs: Vec<Need> = requirements
                .iter()
                .flat_map(|r| r.any_of.iter().copied())
                .collect();
            needs.sort();
            needs.dedup();
            let words: Vec<&str> = needs.iter().map(|n| describe(*n)).collect();
            Some((
                "interrupted",
                format!("Conditional Access policy requires {}", words.join(" or ")),
            ))
        }
    };
    let entry = LogEntry {
        stage: caller.stage,
        user: Some(&user.id),
        client_id: Some(&app.id),
        ip: caller.ip,
        outcome: refusal.as_ref().map_or("success", |(o, _)| *o),
        token_protection: binding.into(),
        device_id: device.map(|d| d.id.as_str()),
        jkt: caller.jkt.map(Jkt::as_str),
        error: refusal.as_ref().map(|_| "invalid_grant"),
        key_binding: Some(KeyBindingReason::of(caller.jkt.map(Jkt::as_str), device)),
        transfer: grant.transfer.clone(),
    };
    let committed = access::log_queued(state, &entry, Some((&decision, &set))).await;
    match refusal {
        Some((_, description)) => {
            committed.wait().await;
            Err(OAuthError::invalid_grant(description))
        }
        None => Ok((decision, set, committed)),
    }
}

/// Signs `user_id` in to `client` for `grant` (a redeemed code or an approved device code): the
/// user must still be enabled and not revoked since signing in, Conditional Access must allow
/// the request as the token endpoint sees it, and then a session starts (with a refresh token
/// when the client may have one) and the token response is made. Returns the response and
/// the session, when one was stored.
///
/// # Errors
/// `invalid_grant` for a user who is gone, disabled or revoked, or a policy refusal.
pub async fn sign_in(
    state: &AppState,
    client: &super::client_auth::Client,
    caller: &Caller<'_>,
    user_id: &tessera_store::UserId,
    grant: &CodeGrant,
) -> Result<(serde_json::Value, Option<tessera_store::SessionId>), OAuthError> {
    use tessera_store::{FamilyId, NewFamily, NewSession, SessionId, SubjectKind, UserStatus};
    let now = state.now();
    let user = match state.store.user(user_id).await {
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
    let device = device_of(state, &user, caller.jkt).await?;
    let (decision, _, logged) =
        enforce(state, caller, &user, &client.app, grant, device.as_ref(), None).await?;
    logged.wait().await;

    // A public client's refresh token must be sender-constrained: without a proof it gets none.
    let wants_refresh = client.app.grant_types.iter().any(|g| g == "refresh_token")
        && (client.app.kind == tessera_store::AppKind::Confidential || caller.jkt.is_some());
    // A client that takes back-channel logout tokens must be told when the session ends, so
    // the session is kept even when the client gets no refresh token (its family then holds a
    // token no one was given).
    let keep_session = wants_refresh || client.app.backchannel_logout_uri.is_some();
    let sid = tessera_jose::random::random_id::<16>(state.rng.as_ref()).map_err(OAuthError::server_error)?;
    let refresh_token = if keep_session {
        let token =
            tessera_jose::random::random_id::<32>(state.rng.as_ref()).map_err(OAuthError::server_error)?;
        let session = NewSession {
            id: SessionId(sid.clone()),
            user_id: user.id.clone(),
            client_id: client.app.id.clone(),
            device_id: device.as_ref().map(|d| d.id.clone()),
            jkt: caller.jkt.map(|j| j.as_str().to_owned()),
            // A sign-in carried to another machine (the device code flow) is not ended by
            // signing out of the browser that approved it.
            browser_sid: Some(grant.browser_sid.clone())
                .filter(|b| !b.is_empty() && grant.transfer.is_none()),
            created_at: now,
        };
        let family = NewFamily {
            // One family per session: revoking the session revokes the family by the same id.
            id: FamilyId(sid.clone()),
            token_hash: super::token_hash(&token),
            expires_at: now.plus_ms(client.app.refresh_token_days.max(1).saturating_mul(86_400_000)),
            grant: serde_json::to_value(grant).map_err(OAuthError::server_error)?,
        };
        state.store.start_session(&session, &family).await?;
        wants_refresh.then_some(token)
    } else {
        None
    };
    let body = respond(
        state,
        &Issue {
            user: &user,
            app: &client.app,
            grant,
            sid: &sid,
            jkt: caller.jkt,
            session_jkt: caller.session_jkt,
            device: device.as_ref(),
            decision: &decision,
            with_nonce: true,
            refresh_token: refresh_token.as_deref(),
        },
    )?;
    let session = refresh_token.is_some().then_some(SessionId(sid));
    Ok((body, session))
}

fn describe(need: Need) -> &'static str {
    match need {
        Need::Mfa => "multi-factor authentication (sign in again)",
        Need::CompliantDevice => "a compliant device",
        Need::RegisteredDevice => "a registered device",
        Need::DeviceBoundToken => {
            "token protection (a DPoP proof signed by the key of one of the user's registered devices)"
        }
        Need::HardwareBoundToken => {
            "token protection with a hardware key (a DPoP proof signed by a registered device's key kept in a TPM or security token)"
        }
        Need::AttestedBoundToken => {
            "token protection with an attested hardware key (a DPoP proof signed by a registered device's key whose TPM attestation Tessera verified)"
        }
    }
}

#[derive(Serialize)]
struct IdClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    amr: &'a [String],
    acr: &'a str,
    sid: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    preferred_username: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
}

/// Lifetime of an ID token, seconds.
const ID_TOKEN_SECONDS: u64 = 3600;

/// What the response is made of.
#[derive(Debug)]
pub struct Issue<'a> {
    /// The user.
    pub user: &'a User,
    /// The client.
    pub app: &'a Application,
    /// The grant (scope, authentication, capabilities).
    pub grant: &'a CodeGrant,
    /// The session id.
    pub sid: &'a str,
    /// The DPoP key the tokens are bound to.
    pub jkt: Option<&'a Jkt>,
    /// A session key the device key vouched for: access tokens are bound to it instead, the
    /// refresh token stays bound to `jkt` (see `tessera_jose::dpop`).
    pub session_jkt: Option<&'a Jkt>,
    /// The device behind that key.
    pub device: Option<&'a Device>,
    /// The policy decision (session controls).
    pub decision: &'a Decision,
    /// Include the nonce (only in the ID token of the code grant).
    pub with_nonce: bool,
    /// The refresh token to return, if any.
    pub refresh_token: Option<&'a str>,
}

/// Builds the token response.
///
/// # Errors
/// `server_error` when signing fails.
pub fn respond(state: &AppState, issue: &Issue<'_>) -> Result<serde_json::Value, OAuthError> {
    let grant = issue.grant;
    let cp1 = grant.cp1 && !issue.decision.session.cae_disabled;
    let minutes = issue
        .decision
        .session
        .access_token_lifetime_minutes
        .map(i64::from)
        .unwrap_or(if cp1 {
            i64::from(state.config.tokens.cae_access_token_minutes)
        } else {
            issue.app.access_token_minutes
        });
    let lifetime = u64::try_from(minutes.max(1)).unwrap_or(60) * 60;
    let audience = grant
        .resource
        .clone()
        .unwrap_or_else(|| state.config.issuer.clone());
    // A session key is honoured only for a registered device's key: it is the device that
    // vouches for it.
    let access_jkt = issue.session_jkt.filter(|_| issue.device.is_some()).or(issue.jkt);
    let access = access_token::issue(
        state,
        &Grant {
            subject: &issue.user.id.0,
            client_id: &issue.app.id,
            audience: &audience,
            scope: &grant.scope,
            lifetime,
            jkt: access_jkt,
            sid: Some(issue.sid),
            device_id: issue.device.map(|d| d.id.as_str()),
            cp1,
            location_policies: &issue.decision.location_dependent,
            location_strict: issue.decision.session.cae_strict_location,
            act: None,
            authentication: Some(access_token::Authentication {
                acr: grant.acr(),
                auth_time: grant.auth_time,
                amr: &grant.amr,
            }),
        },
    )?;
    let mut body = serde_json::json!({
        "access_token": access.token,
        "token_type": if issue.jkt.is_some() { "DPoP" } else { "Bearer" },
        "expires_in": access.expires_in,
        "scope": grant.scope,
    });
    if grant.has_scope("openid") {
        let now = state.unix_time().as_secs();
        let profile = grant.has_scope("profile");
        let claims = IdClaims {
            iss: &state.config.issuer,
            sub: &issue.user.id.0,
            aud: &issue.app.id,
            iat: now,
            exp: now.saturating_add_unsigned(ID_TOKEN_SECONDS),
            auth_time: grant.auth_time,
            nonce: if issue.with_nonce {
                grant.nonce.as_deref()
            } else {
                None
            },
            amr: &grant.amr,
            acr: grant.acr(),
            sid: issue.sid,
            preferred_username: profile.then_some(issue.user.username.as_str()),
            name: profile
                .then_some(issue.user.display_name.as_str())
                .filter(|n| !n.is_empty()),
            email: if grant.has_scope("email") {
                issue.user.email.as_deref()
            } else {
                None
            },
        };
        body["id_token"] = jws::sign(state.keys.active(), Some("JWT"), &claims)
            .map_err(OAuthError::server_error)?
            .into();
    }
    if let Some(rt) = issue.refresh_token {
        body["refresh_token"] = rt.into();
    }
    Ok(body)
}
