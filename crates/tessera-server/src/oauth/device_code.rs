//! `grant_type=urn:ietf:params:oauth:grant-type:device_code` (RFC 8628 §3.4–3.5): the device
//! polls until the user has answered at `/device`.
//!
//! Until then it hears `authorization_pending`; polling sooner than the interval, `slow_down`
//! (and the interval grows by five seconds); `access_denied` when the user said no;
//! `expired_token` after ten minutes. A device code is the client's own: another client polling
//! it learns nothing and changes nothing. Once approved, exactly one poll gets the tokens, bound
//! to the DPoP key the device proved when it asked, after Conditional Access has judged the
//! request as the token endpoint sees it: from the polling machine's address, as a device code
//! sign-in, so a policy on the `deviceCodeFlow` authentication flow applies. The sign-in log
//! keeps both machines: the one that asked and polled, and the one the user approved on.

use serde::{Deserialize, Serialize};
use tessera_directory::GrantType;
use tessera_directory::access::Transfer;
use tessera_jose::Jkt;
use tessera_policy::TransferMethod;
use tessera_store::DevicePoll;

use super::authorize::CodeGrant;
use super::device_authorization::DeviceRequest;
use super::user_tokens;
use crate::error::OAuthError;

/// How the user approved a device authorization, kept with it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Approval {
    /// When the user authenticated (seconds, the OIDC `auth_time`).
    pub auth_time: i64,
    /// When, to the millisecond.
    pub signed_in: tessera_store::Timestamp,
    /// How (RFC 8176).
    pub amr: Vec<String>,
    /// The browser session that approved.
    pub browser_sid: String,
    /// The address the user approved from.
    pub ip: std::net::IpAddr,
    /// When, RFC 3339.
    pub at: String,
}

/// `grant_type=urn:ietf:params:oauth:grant-type:device_code`.
#[derive(Debug)]
pub struct DeviceCode;

impl super::token::Grant for DeviceCode {
    const TYPE: GrantType = GrantType::DeviceCode;
    const NOT_GIVEN: &'static str = "this client may not use the device authorization grant";

    async fn serve(r: &super::token::GrantRequest<'_>) -> Result<serde_json::Value, OAuthError> {
        let state = r.state;
        let device_code = r.form.require("device_code")?;
        let hash = super::token_hash(device_code);
        let polled = state
            .store
            .poll_device_authorization(&hash, &r.client.app.id, state.now())
            .await?;
        let (request, user_id, approval) = match polled {
            DevicePoll::Approved {
                request,
                user_id,
                approval,
            } => (request, user_id, approval),
            DevicePoll::Pending => {
                return Err(OAuthError::device_flow(
                    "authorization_pending",
                    "the user has not answered yet; poll again after the interval",
                ));
            }
            DevicePoll::SlowDown => {
                return Err(OAuthError::device_flow(
                    "slow_down",
                    "polled too soon: wait five seconds longer between polls from now on",
                ));
            }
            DevicePoll::Denied => {
                return Err(OAuthError::device_flow(
                    "access_denied",
                    "the user denied the request",
                ));
            }
            DevicePoll::Expired => {
                return Err(OAuthError::device_flow(
                    "expired_token",
                    "the device code has expired; start again",
                ));
            }
            DevicePoll::Redeemed => {
                return Err(OAuthError::invalid_grant(
                    "tokens were issued for this device code already",
                ));
            }
            DevicePoll::OtherClient | DevicePoll::Unknown => {
                return Err(OAuthError::invalid_grant("the device code is not valid"));
            }
        };
        let request: DeviceRequest = serde_json::from_value(request).map_err(OAuthError::server_error)?;
        let approval: Approval = serde_json::from_value(approval).map_err(OAuthError::server_error)?;
        if let Some(bound) = &request.jkt
            && r.caller.jkt.map(Jkt::as_str) != Some(bound.as_str())
        {
            // The device code left the device that asked for it: logged like a replayed token.
            user_tokens::log_replay(state, r.caller, &user_id, &r.client.app.id, None).await;
            return Err(OAuthError::invalid_grant(
                "the device code is bound to a DPoP key and the proof was not made with it",
            ));
        }
        let grant = CodeGrant {
            scope: request.scope,
            dpop_jkt: request.jkt,
            resource: super::client_credentials::token_resource(r.form, request.resource.as_deref())?,
            cp1: request.cp1,
            auth_time: approval.auth_time,
            signed_in: Some(approval.signed_in),
            amr: approval.amr,
            browser_sid: approval.browser_sid,
            transfer: Some(Transfer {
                method: TransferMethod::DeviceCodeFlow,
                requested_from: request.ip,
                approved_from: Some(approval.ip),
                approved_at: Some(approval.at),
            }),
            ..CodeGrant::default()
        };
        let (body, _) = user_tokens::sign_in(state, r.client, r.caller, &user_id, &grant).await?;
        Ok(body)
    }
}
