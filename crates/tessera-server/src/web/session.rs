//! The browser session: a JWS in an HttpOnly cookie, signed with the server's active key and
//! checked against the published keys, so any node can read it. It is refused once its user is
//! disabled or deleted, once the user's sessions are revoked (their "not before" instant), and
//! once it is signed out (the session's own "not before").

use axum::http::{HeaderMap, HeaderValue, header};
use serde::{Deserialize, Serialize};
use tessera_jose::{UnixTime, jws};
use tessera_store::{StoreError, SubjectKind, Timestamp, User, UserId, UserStatus};

use crate::error::OAuthError;
use crate::state::AppState;

/// The `typ` of a session cookie's JWS; nothing else Tessera signs carries it.
const TYP: &str = "tessera-session+jwt";

/// How long a browser session lasts without signing in again.
pub const LIFETIME_SECONDS: i64 = 12 * 3600;

/// What the session cookie says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BrowserSession {
    /// The issuer.
    pub iss: String,
    /// The user.
    pub sub: String,
    /// The session's id.
    pub sid: String,
    /// When the user authenticated (seconds, the OIDC `auth_time`).
    pub auth_time: i64,
    /// When the user authenticated, to the millisecond: what "not before" instants are
    /// compared with. Absent from cookies issued before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_in: Option<Timestamp>,
    /// How: `pwd`, `otp`, `mfa` (RFC 8176).
    pub amr: Vec<String>,
    /// When the cookie stops being accepted.
    pub exp: i64,
}

impl BrowserSession {
    /// When the user authenticated, to the millisecond where known (else the start of
    /// `auth_time`'s second).
    #[must_use]
    pub fn signed_in(&self) -> Timestamp {
        crate::revocation::signed_in(self.signed_in, self.auth_time)
    }

    /// Whether a second factor was used.
    #[must_use]
    pub fn mfa(&self) -> bool {
        self.amr.iter().any(|m| m == "mfa")
    }
}

/// Signs a session cookie value.
///
/// # Errors
/// `server_error` when signing fails.
pub fn issue(state: &AppState, session: &BrowserSession) -> Result<String, OAuthError> {
    jws::sign(state.keys.active(), Some(TYP), session).map_err(OAuthError::server_error)
}

/// The header a response sets to keep the session whose signed value is `value`.
#[must_use]
pub fn cookie_header(state: &AppState, value: &str) -> (header::HeaderName, HeaderValue) {
    (
        header::SET_COOKIE,
        super::set_cookie(
            super::SESSION_COOKIE,
            value,
            u64::try_from(LIFETIME_SECONDS).unwrap_or(0),
            state.config.issuer.starts_with("https:"),
        ),
    )
}

/// A new session for `user`, authenticated now by `amr`.
///
/// # Errors
/// `server_error` when the random source fails.
pub fn start(state: &AppState, user: &UserId, amr: Vec<String>) -> Result<BrowserSession, OAuthError> {
    let signed_in = state.now();
    let now = signed_in.unix_time().as_secs();
    Ok(BrowserSession {
        iss: state.config.issuer.clone(),
        sub: user.0.clone(),
        sid: tessera_jose::random::random_id::<16>(state.rng.as_ref()).map_err(OAuthError::server_error)?,
        auth_time: now,
        signed_in: Some(signed_in),
        amr,
        exp: now + LIFETIME_SECONDS,
    })
}

/// The request's session and its user, when the cookie is present and still good.
///
/// # Errors
/// `server_error` from the store.
pub async fn current(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(BrowserSession, User)>, OAuthError> {
    let Some(value) = super::cookie(headers, super::SESSION_COOKIE) else {
        return Ok(None);
    };
    let Some(session) = decode(state, value) else {
        return Ok(None);
    };
    let user = match state.store.user(&UserId(session.sub.clone())).await {
        Ok(u) => u,
        Err(StoreError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if user.status != UserStatus::Enabled {
        return Ok(None);
    }
    let subjects = [
        (SubjectKind::User, session.sub.as_str()),
        (SubjectKind::Session, session.sid.as_str()),
    ];
    if crate::revocation::revoked_since(state.store.as_ref(), &subjects, session.signed_in()).await? {
        return Ok(None);
    }
    Ok(Some((session, user)))
}

fn decode(state: &AppState, value: &str) -> Option<BrowserSession> {
    let session: BrowserSession = super::signed::read(state, value, TYP)?;
    let now: UnixTime = state.unix_time();
    (session.iss == state.config.issuer && session.exp > now.as_secs()).then_some(session)
}
