//! JWT access tokens (RFC 9068): `typ: at+jwt`, signed with the active key, bound to a DPoP key
//! by `cnf.jkt` when the request carried a proof.

use serde::Serialize;
use tessera_jose::{Jkt, Timestamp, UnixTime, jws, random::random_id};
use tessera_policy::PolicyId;

use crate::error::OAuthError;
use crate::state::AppState;

#[derive(Serialize)]
struct Confirmation<'a> {
    jkt: &'a str,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    client_id: &'a str,
    iat: UnixTime,
    /// `iat` to the millisecond, so that an API can tell a token issued just after a
    /// revocation from one issued just before it in the same second.
    tessera_iat_ms: Timestamp,
    exp: UnixTime,
    jti: String,
    #[serde(skip_serializing_if = "str::is_empty")]
    scope: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<Confirmation<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    device_id: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    xms_cc: &'a [&'a str],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    location_policies: &'a [PolicyId],
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    location_strict: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    act: Option<&'a serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    acr: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    amr: Option<&'a [String]>,
}

/// What an access token says.
#[derive(Debug)]
pub struct Grant<'a> {
    /// The subject (a user, or the client itself for client credentials).
    pub subject: &'a str,
    /// The client.
    pub client_id: &'a str,
    /// The audience.
    pub audience: &'a str,
    /// Space-separated scopes.
    pub scope: &'a str,
    /// Lifetime in seconds.
    pub lifetime: u64,
    /// The DPoP key it is bound to.
    pub jkt: Option<&'a Jkt>,
    /// The sign-in session it belongs to (user tokens).
    pub sid: Option<&'a str>,
    /// The registered device whose key it is bound to.
    pub device_id: Option<&'a str>,
    /// Whether the client declared the CAE capability `cp1`.
    pub cp1: bool,
    /// Policies that did not apply only because of the client's address (claim
    /// `location_policies`): an API seeing the token used elsewhere checks them again.
    pub location_policies: &'a [PolicyId],
    /// Whether APIs must refuse (403) rather than challenge a use from outside those policies'
    /// locations (claim `location_strict`, from a policy's strict CAE session control).
    pub location_strict: bool,
    /// Who acts for the subject (RFC 8693 §4.1 `act`): on an exchanged token, the API that
    /// exchanged it, and within it whoever acted before.
    pub act: Option<&'a serde_json::Value>,
    /// How the user signed in (RFC 9068 §2.2.1, for step-up at APIs, RFC 9470 §6.1): `acr`,
    /// `auth_time` (seconds) and `amr`; none for a client's own token.
    pub authentication: Option<Authentication<'a>>,
}

/// How the user of a token signed in.
#[derive(Debug, Clone, Copy)]
pub struct Authentication<'a> {
    /// The authentication context class reached (`pwd`, `mfa`).
    pub acr: &'a str,
    /// When, seconds.
    pub auth_time: i64,
    /// The methods (RFC 8176).
    pub amr: &'a [String],
}

/// A signed access token and its lifetime.
#[derive(Debug)]
pub struct Issued {
    /// The JWT.
    pub token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

/// Signs an access token.
///
/// # Errors
/// `server_error` when signing or the random source fails.
pub fn issue(state: &AppState, grant: &Grant<'_>) -> Result<Issued, OAuthError> {
    let issued = state.now();
    let now = issued.unix_time();
    let claims = Claims {
        iss: &state.config.issuer,
        sub: grant.subject,
        aud: grant.audience,
        client_id: grant.client_id,
        iat: now,
        tessera_iat_ms: issued,
        exp: now.plus(grant.lifetime),
        jti: random_id::<16>(state.rng.as_ref()).map_err(OAuthError::server_error)?,
        scope: grant.scope,
        cnf: grant.jkt.map(|j| Confirmation { jkt: j.as_str() }),
        sid: grant.sid,
        device_id: grant.device_id,
        xms_cc: if grant.cp1 { &["cp1"] } else { &[] },
        location_policies: grant.location_policies,
        location_strict: grant.location_strict,
        act: grant.act,
        acr: grant.authentication.map(|a| a.acr),
        auth_time: grant.authentication.map(|a| a.auth_time),
        amr: grant.authentication.map(|a| a.amr),
    };
    let token = jws::sign(state.keys.active(), Some("at+jwt"), &claims).map_err(OAuthError::server_error)?;
    Ok(Issued {
        token,
        expires_in: grant.lifetime,
    })
}
