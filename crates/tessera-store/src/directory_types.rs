//! Records for the directory beyond users and groups: applications, devices, MFA methods,
//! named locations, policies, signing keys, authorization codes, sign-in logs and streams.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::types::{EventId, SessionId, StreamId, StreamStatus, Timestamp, UserId, text_enum};

/// A secret kept in the store (a sealed private key, a TOTP seed, a client secret's hash). Its
/// text is reached only through [`Secret::expose`], `Debug` never shows it, and its memory is
/// wiped when it is dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(zeroize::Zeroizing<String>);

impl Secret {
    /// A secret holding `text`.
    #[must_use]
    pub fn new(text: impl Into<String>) -> Self {
        Self(zeroize::Zeroizing::new(text.into()))
    }

    /// The secret text; use it, don't print it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

text_enum!(
    /// Whether a client can keep a secret.
    AppKind { /** A native or browser app: no secret. */ Public = "public", /** A server: has a secret or keys. */ Confidential = "confidential" }
);
text_enum!(
    /// How a device is known.
    TrustType { /** Registered by its user. */ Registered = "registered", /** Joined. */ Joined = "joined", /** Managed. */ Managed = "managed" }
);
text_enum!(
    /// Where a device's key lives, as far as Tessera knows: `attested` only when Tessera
    /// verified evidence of it (`key_attestation` says which).
    KeyProtection { /** The key is bytes in the client's memory or files. */ Software = "software", /** The client says the key is in hardware; no evidence was verified. */ Hardware = "hardware", /** Evidence verified at registration: the key cannot leave the hardware. */ Attested = "attested" }
);
text_enum!(
    /// A device's compliance state.
    Compliance { /** Not assessed. */ Unknown = "unknown", /** Compliant. */ Compliant = "compliant", /** Not compliant. */ NotCompliant = "not-compliant" }
);
text_enum!(
    /// Whether a device may be used.
    DeviceStatus { /** Usable. */ Enabled = "enabled", /** Not usable. */ Disabled = "disabled" }
);
text_enum!(
    /// An MFA method's kind.
    MfaKind { /** Time-based one-time passwords (RFC 6238). */ Totp = "totp", /** A WebAuthn passkey. */ Passkey = "passkey" }
);
text_enum!(
    /// Where a signing key is in its life.
    KeyStatus { /** Published ahead, not yet signing. */ Next = "next", /** Signing. */ Active = "active", /** Published until tokens it signed expire. */ Retired = "retired" }
);

/// An OAuth client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    /// The `client_id`.
    pub id: String,
    /// Name for people.
    pub name: String,
    /// Public or confidential.
    pub kind: AppKind,
    /// Hash of the client secret (`client_secret_basic`/`_post`).
    pub secret_hash: Option<Secret>,
    /// Exact redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Allowed grant types.
    pub grant_types: Vec<String>,
    /// Scopes the client may be granted.
    pub scopes: Vec<String>,
    /// The client's JWKS for `private_key_jwt`.
    pub jwks: Option<serde_json::Value>,
    /// Access-token lifetime for clients without CAE, in minutes.
    pub access_token_minutes: i64,
    /// How long a refresh-token family lives without being used, in days.
    pub refresh_token_days: i64,
    /// Whether the client may declare the `cp1` capability.
    pub cae_capable: bool,
    /// Whether the client's access tokens must be DPoP-bound.
    pub require_dpop: bool,
    /// Whether the client may start an authorization only with a pushed request (RFC 9126).
    pub require_pushed_authorization_requests: bool,
    /// Where the client takes OpenID Connect back-channel logout tokens, if it does.
    pub backchannel_logout_uri: Option<String>,
    /// Whether the client is held to the FAPI 2.0 Security Profile: pushed requests, DPoP,
    /// `private_key_jwt` only, and refresh tokens that are not rotated.
    pub fapi2: bool,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub changed_at: Timestamp,
}

/// A registered device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Id.
    pub id: String,
    /// Owner.
    pub user_id: UserId,
    /// Name for people.
    pub display_name: String,
    /// Platform (`windows`, `macOS`, …).
    pub platform: String,
    /// OS version.
    pub os_version: Option<String>,
    /// How it is known.
    pub trust_type: TrustType,
    /// Compliance.
    pub compliance: Compliance,
    /// Enabled or disabled.
    pub status: DeviceStatus,
    /// The device key's public JWK.
    pub public_jwk: serde_json::Value,
    /// The key's RFC 7638 thumbprint.
    pub jkt: String,
    /// Where the key lives.
    pub key_protection: KeyProtection,
    /// What the attestation showed, or why it failed; `None` when there was none.
    pub key_attestation: Option<KeyAttestation>,
    /// Registered.
    pub created_at: Timestamp,
    /// Last seen at a sign-in or refresh.
    pub last_seen_at: Option<Timestamp>,
}

/// What a device's key attestation showed at registration (kept as JSON): the TPM it was
/// verified in, or, for a device registered unattested, why the evidence failed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct KeyAttestation {
    /// The evidence format (`tpm2`).
    pub format: String,
    /// The TPM manufacturer, from the EK certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    /// The TPM model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The TPM version, from the EK certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The firmware version the TPM reported in its certification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware: Option<String>,
    /// When the evidence was verified, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<i64>,
    /// Why the evidence did not verify (the device was registered as unattested hardware).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Changes to a device; `None` leaves a field alone.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeviceChange {
    /// New status.
    pub status: Option<DeviceStatus>,
    /// New compliance.
    pub compliance: Option<Compliance>,
}

/// An MFA method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaMethod {
    /// Id.
    pub id: String,
    /// Owner.
    pub user_id: UserId,
    /// TOTP or passkey.
    pub kind: MfaKind,
    /// Name for people.
    pub label: String,
    /// The TOTP seed, or the passkey credential (JSON).
    pub secret: Secret,
    /// Created.
    pub created_at: Timestamp,
    /// Last used.
    pub last_used_at: Option<Timestamp>,
}

/// A named location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedLocationRecord {
    /// Id.
    pub id: String,
    /// Name for people.
    pub display_name: String,
    /// CIDR ranges.
    pub ip_ranges: Vec<String>,
    /// Counts as trusted.
    pub trusted: bool,
    /// Last changed.
    pub changed_at: Timestamp,
}

/// A Conditional Access policy as stored (the document is validated by `tessera-policy`).
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyRecord {
    /// Id.
    pub id: String,
    /// `enabled`, `disabled` or `enabledForReportingButNotEnforced`.
    pub state: String,
    /// The policy document.
    pub document: serde_json::Value,
    /// Last changed.
    pub changed_at: Timestamp,
}

/// A token-signing key.
#[derive(Debug, Clone, PartialEq)]
pub struct SigningKeyRecord {
    /// Key id.
    pub kid: String,
    /// Algorithm.
    pub alg: String,
    /// The private JWK.
    pub private_jwk: Secret,
    /// The public JWK.
    pub public_jwk: serde_json::Value,
    /// Next, active or retired.
    pub status: KeyStatus,
    /// Created.
    pub created_at: Timestamp,
    /// Last status change.
    pub changed_at: Timestamp,
}

/// An authorization code to store (by hash; the code itself is never stored).
#[derive(Debug, Clone)]
pub struct NewCode {
    /// Hash of the code.
    pub hash: Vec<u8>,
    /// The client it was issued to.
    pub client_id: String,
    /// The user who signed in.
    pub user_id: UserId,
    /// Everything the token request needs (redirect URI, PKCE challenge, scope, nonce, claims,
    /// authentication time and methods), as the server defines it.
    pub grant: serde_json::Value,
    /// Now.
    pub created_at: Timestamp,
    /// Expiry (short: a minute or so).
    pub expires_at: Timestamp,
}

/// How a client registered itself (RFC 7591), kept beside its application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRegistration {
    /// The client.
    pub client_id: String,
    /// SHA-256 of its registration access token (RFC 7592).
    pub token_hash: Vec<u8>,
    /// The informational metadata it registered, a JSON object.
    pub metadata: serde_json::Value,
    /// Registered.
    pub created_at: Timestamp,
}

/// A back-channel logout owed to a client (OpenID Connect Back-Channel Logout 1.0), queued in
/// the transaction that revoked the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutDelivery {
    /// Id.
    pub id: i64,
    /// The client to tell.
    pub client_id: String,
    /// Its `backchannel_logout_uri` when the session was revoked.
    pub uri: String,
    /// The user.
    pub user_id: UserId,
    /// The session that ended (the ID tokens' `sid`).
    pub session_id: SessionId,
    /// Why it ended.
    pub reason: String,
    /// Queued.
    pub created_at: Timestamp,
    /// Attempts made before this one.
    pub attempts: u32,
}

/// How a back-channel logout ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoutOutcome {
    /// The client answered 2xx.
    Delivered,
    /// The client answered 400: it has the token and refuses it; sending it again would not help.
    Refused,
    /// Every attempt failed.
    Failed,
}

impl LogoutOutcome {
    /// As stored.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Refused => "refused",
            Self::Failed => "failed",
        }
    }
}

/// A pushed authorization request to keep (RFC 9126).
#[derive(Debug, Clone, PartialEq)]
pub struct NewPushedRequest {
    /// SHA-256 of the `request_uri`'s reference.
    pub hash: Vec<u8>,
    /// The client that pushed it.
    pub client_id: String,
    /// The validated authorization request parameters, a JSON object of strings.
    pub params: serde_json::Value,
    /// Pushed.
    pub created_at: Timestamp,
    /// Unusable after this unless opened before.
    pub expires_at: Timestamp,
}

/// What opening a pushed request at the authorization endpoint found.
#[derive(Debug, Clone, PartialEq)]
pub enum PushedLookup {
    /// Usable: no code has been issued from it and it has not expired.
    Open {
        /// The client that pushed it.
        client_id: String,
        /// Its parameters.
        params: serde_json::Value,
        /// When it was pushed.
        created_at: Timestamp,
    },
    /// A code was issued from it already.
    Used,
    /// It expired.
    Expired,
    /// No such request.
    Unknown,
}

/// A device authorization request to keep (RFC 8628 §3.2).
#[derive(Debug, Clone, PartialEq)]
pub struct NewDeviceAuthorization {
    /// SHA-256 of the device code.
    pub hash: Vec<u8>,
    /// The user code, normalised (upper case, no separators).
    pub user_code: String,
    /// The client.
    pub client_id: String,
    /// What the device asked for, as JSON.
    pub request: serde_json::Value,
    /// Asked.
    pub created_at: Timestamp,
    /// Unusable after this.
    pub expires_at: Timestamp,
    /// The least time between polls, ms.
    pub interval_ms: i64,
}

/// A device authorization as the verification page reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceAuthorization {
    /// SHA-256 of the device code.
    pub hash: Vec<u8>,
    /// The client.
    pub client_id: String,
    /// What the device asked for.
    pub request: serde_json::Value,
    /// Asked.
    pub created_at: Timestamp,
    /// Unusable after this.
    pub expires_at: Timestamp,
    /// Whether a user approved or denied it yet (or it was redeemed).
    pub status: DeviceGrantStatus,
}

/// Where a device authorization stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceGrantStatus {
    /// Waiting for the user.
    Pending,
    /// Approved, tokens not yet taken.
    Approved,
    /// Denied by the user.
    Denied,
    /// Tokens were issued.
    Redeemed,
}

impl DeviceGrantStatus {
    /// The stored word.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Redeemed => "redeemed",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Approved, Self::Denied, Self::Redeemed]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

impl std::str::FromStr for DeviceGrantStatus {
    type Err = crate::StoreError;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Self::parse(s).ok_or_else(|| crate::StoreError::Corrupt(format!("unknown device grant status {s:?}")))
    }
}

/// The user's answer to a device authorization.
#[derive(Debug, Clone, PartialEq)]
pub enum DeviceDecision {
    /// Approved by `user`, with how they signed in and from where (JSON).
    Approve {
        /// The approving user.
        user_id: UserId,
        /// The approval: sign-in and address.
        approval: serde_json::Value,
    },
    /// Denied.
    Deny,
}

/// What a device's poll of the token endpoint found (RFC 8628 §3.5).
#[derive(Debug, Clone, PartialEq)]
pub enum DevicePoll {
    /// Approved: now redeemed, by this poll alone.
    Approved {
        /// What the device asked for.
        request: serde_json::Value,
        /// The approving user.
        user_id: UserId,
        /// How they approved it.
        approval: serde_json::Value,
    },
    /// The user has not answered yet.
    Pending,
    /// Polled sooner than the interval allows: the interval grew by five seconds.
    SlowDown,
    /// Denied by the user.
    Denied,
    /// Tokens were issued already.
    Redeemed,
    /// It expired.
    Expired,
    /// The device code is another client's: nothing about it was read or changed.
    OtherClient,
    /// No such device code.
    Unknown,
}

/// What redeeming a code found.
#[derive(Debug, Clone, PartialEq)]
pub enum Redemption {
    /// The code was valid and is now used up.
    Redeemed {
        /// The client.
        client_id: String,
        /// The user.
        user_id: UserId,
        /// The stored grant.
        grant: serde_json::Value,
    },
    /// The code was used before; tokens issued from it (this session) must be revoked.
    Reused {
        /// The session the first redemption started, if it got that far.
        session_id: Option<SessionId>,
    },
    /// The code expired unused.
    Expired,
    /// No such code.
    Unknown,
}

/// One sign-in or token request, as the log keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct SignInLog {
    /// Id.
    pub id: String,
    /// When.
    pub at: Timestamp,
    /// The user, when known.
    pub user_id: Option<UserId>,
    /// The client, when known.
    pub client_id: Option<String>,
    /// The client's IP address.
    pub ip: String,
    /// `success`, `failure`, `interrupted`, …
    pub outcome: String,
    /// `notApplicable`, `bound`, `replayBlocked`, `unbound`, `reportOnlyWouldFail`, …
    pub token_protection: String,
    /// The device, when one was proven.
    pub device_id: Option<String>,
    /// The key thumbprint presented, if any.
    pub jkt: Option<String>,
    /// The OAuth error returned, if any.
    pub error: Option<String>,
    /// The Conditional Access report and anything else worth keeping.
    pub details: SignInDetails,
}

/// A sign-in log entry's details (the Conditional Access report and anything else worth
/// keeping) as the JSON text that is stored: written once by the request that made the
/// decision, parsed only by whoever reads the entry back.
#[derive(Debug, Clone)]
pub struct SignInDetails(Box<serde_json::value::RawValue>);

impl SignInDetails {
    /// Serialises `value`.
    ///
    /// # Errors
    /// When `value` cannot be written as JSON (a map with non-string keys, say).
    pub fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        serde_json::value::to_raw_value(value).map(Self)
    }

    /// Details read back from their stored text.
    ///
    /// # Errors
    /// When `text` is not JSON.
    pub fn from_text(text: String) -> Result<Self, serde_json::Error> {
        serde_json::value::RawValue::from_string(text).map(Self)
    }

    /// The JSON text.
    #[must_use]
    pub fn text(&self) -> &str {
        self.0.get()
    }

    /// The details as a JSON value to look into.
    #[must_use]
    pub fn value(&self) -> serde_json::Value {
        serde_json::from_str(self.0.get()).unwrap_or_default()
    }
}

impl PartialEq for SignInDetails {
    fn eq(&self, other: &Self) -> bool {
        self.text() == other.text()
    }
}

impl From<serde_json::Value> for SignInDetails {
    fn from(value: serde_json::Value) -> Self {
        // A `Value` is always valid JSON, so this cannot fail.
        Self::to_json(&value).unwrap_or_else(|_| Self(serde_json::value::RawValue::NULL.to_owned()))
    }
}

/// Which sign-in logs to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct SignInFilter {
    /// Only this user's.
    pub user_id: Option<UserId>,
    /// Only with this outcome.
    pub outcome: Option<String>,
    /// Only older than this entry (`at`, `id`), for paging.
    pub before: Option<(Timestamp, String)>,
    /// At most this many.
    pub limit: u32,
}

/// An SSF stream's stored record.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamRecord {
    /// Id.
    pub id: StreamId,
    /// The receiver (client id) that owns it.
    pub receiver: String,
    /// Status.
    pub status: StreamStatus,
    /// Why it is paused or disabled, when a reason was given.
    pub status_reason: Option<String>,
    /// The stream configuration document.
    pub config: serde_json::Value,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub changed_at: Timestamp,
    /// Last verification request.
    pub last_verification_at: Option<Timestamp>,
}

/// A stream and how its deliveries are going.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamHealth {
    /// The stream.
    pub stream: StreamRecord,
    /// Deliveries not yet acknowledged.
    pub pending: u64,
    /// When the oldest unacknowledged event happened.
    pub oldest_pending_at: Option<Timestamp>,
    /// The error of the most recent failed attempt among the pending deliveries.
    pub last_error: Option<String>,
}

/// An outbox event as operators see it.
#[derive(Debug, Clone, PartialEq)]
pub struct EventSummary {
    /// The event's id.
    pub id: EventId,
    /// The event type URI.
    pub event_type: String,
    /// The subject, as stored.
    pub subject: String,
    /// When it happened.
    pub created_at: Timestamp,
    /// Streams that acknowledged it.
    pub delivered: u64,
    /// Streams still to acknowledge it.
    pub pending: u64,
}

/// A SET received from another transmitter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedSet {
    /// Its issuer.
    pub issuer: String,
    /// Its `jti`.
    pub jti: String,
    /// When it arrived.
    pub received_at: Timestamp,
}
