//! The narrow traits for the directory beyond users and groups. Changes that other systems must
//! hear about (devices, MFA methods, applications, locations, policies) are written through the
//! [`crate::UnitOfWork`]; bookkeeping that carries no event (last seen, codes, logs, keys,
//! stream subjects) is written here directly.

use async_trait::async_trait;

use crate::Result;
use crate::directory_types::{
    Application, ClientRegistration, Device, DeviceAuthorization, DeviceDecision, DevicePoll, EventSummary,
    LogoutDelivery, LogoutOutcome, MfaMethod, NamedLocationRecord, NewCode, NewDeviceAuthorization,
    NewPushedRequest, PolicyRecord, PushedLookup, ReceivedSet, Redemption, Secret, SignInFilter, SignInLog,
    SigningKeyRecord, StreamHealth, StreamRecord,
};
use crate::types::{Family, Rotate, SessionId, StreamId, Timestamp, UserId};

/// OAuth clients.
#[async_trait]
pub trait ClientRepo: Send + Sync {
    /// A client by `client_id`.
    async fn application(&self, id: &str) -> Result<Application>;
    /// Every client, ordered by id.
    async fn applications(&self) -> Result<Vec<Application>>;
    /// How a client registered itself; `NotFound` for one an administrator registered.
    async fn client_registration(&self, client_id: &str) -> Result<ClientRegistration>;
}

/// Registered devices.
#[async_trait]
pub trait DeviceRepo: Send + Sync {
    /// A device by id.
    async fn device(&self, id: &str) -> Result<Device>;
    /// The device whose key has this thumbprint.
    async fn device_by_jkt(&self, jkt: &str) -> Result<Device>;
    /// Devices ordered by id, after `after`, at most `limit`: for operators.
    async fn devices(&self, after: Option<&str>, limit: u32) -> Result<Vec<Device>>;
    /// A user's devices, ordered by id.
    async fn devices_of(&self, user: &UserId) -> Result<Vec<Device>>;
    /// Records that a device was seen.
    async fn touch_device(&self, id: &str, now: Timestamp) -> Result<()>;
}

/// MFA methods.
#[async_trait]
pub trait CredentialRepo: Send + Sync {
    /// A user's MFA methods, ordered by id.
    async fn mfa_methods_of(&self, user: &UserId) -> Result<Vec<MfaMethod>>;
    /// Records use of a TOTP time step. Returns `false` if this step (or a later one) was used
    /// already, so a code cannot be replayed within its window.
    async fn use_totp_step(&self, method: &str, step: i64, now: Timestamp) -> Result<bool>;
    /// Records a passkey's use, with its credential record (`secret`) when the authenticator's
    /// signature counter moved, so a cloned authenticator shows itself by going back.
    async fn use_passkey(&self, method: &str, secret: Option<&str>, now: Timestamp) -> Result<()>;
}

/// Conditional Access policies and named locations.
#[async_trait]
pub trait PolicyRepo: Send + Sync {
    /// Every policy, ordered by id.
    async fn policies(&self) -> Result<Vec<PolicyRecord>>;
    /// A policy by id.
    async fn policy(&self, id: &str) -> Result<PolicyRecord>;
    /// Every named location, ordered by id.
    async fn named_locations(&self) -> Result<Vec<NamedLocationRecord>>;
}

/// Token-signing keys.
#[async_trait]
pub trait KeyRepo: Send + Sync {
    /// Stores a new key (`next` or `active`; at most one key is active).
    async fn insert_key(&self, key: &SigningKeyRecord) -> Result<()>;
    /// Replaces the stored private part of key `kid` (to seal a key stored in the clear).
    async fn reseal_key(&self, kid: &str, private_jwk: &Secret) -> Result<()>;
    /// Every key, oldest first.
    async fn keys(&self) -> Result<Vec<SigningKeyRecord>>;
    /// Retires the active key and activates the oldest `next` one, atomically. Returns the newly
    /// active key id, or `None` when there is no `next` key (nothing changes then).
    async fn promote_next_key(&self, now: Timestamp) -> Result<Option<String>>;
    /// Deletes keys retired before `cutoff`; returns how many.
    async fn delete_retired_keys(&self, cutoff: Timestamp) -> Result<u64>;
    /// The deployment's secret called `name`: `candidate` if none existed (it is stored), else
    /// the one stored first. Every node that asks gets the same secret.
    async fn server_secret(&self, name: &str, candidate: &Secret, now: Timestamp) -> Result<Secret>;
}

/// Authorization codes: single use, short-lived.
#[async_trait]
pub trait CodeRepo: Send + Sync {
    /// Stores a code (by hash).
    async fn insert_code(&self, code: &NewCode) -> Result<()>;
    /// Redeems a code, atomically: exactly one redemption of a code can succeed.
    async fn redeem_code(&self, hash: &[u8], now: Timestamp) -> Result<Redemption>;
    /// Records the session a redeemed code started, so a second redemption can revoke it.
    async fn attach_session(&self, hash: &[u8], session: &SessionId) -> Result<()>;
    /// Deletes codes that expired before `before`, redeemed or not; returns how many. (A code
    /// kept past its expiry still tells a reuse from a guess; past `before`, it tells nothing
    /// worth keeping.)
    async fn prune_codes(&self, before: Timestamp) -> Result<u64>;
}

/// Pushed authorization requests (RFC 9126): short-lived until first opened, then good for one
/// code.
#[async_trait]
pub trait PushedRequestRepo: Send + Sync {
    /// Stores a pushed request (by the hash of its reference).
    async fn insert_pushed_request(&self, request: &NewPushedRequest) -> Result<()>;
    /// The request, if it is still usable at `now`. The first time, it is given until
    /// `open_until` (the time a sign-in may take) instead of its short push lifetime.
    async fn open_pushed_request(
        &self,
        hash: &[u8],
        now: Timestamp,
        open_until: Timestamp,
    ) -> Result<PushedLookup>;
    /// Marks the request used, atomically: returns `true` for exactly one caller, while it is
    /// usable.
    async fn use_pushed_request(&self, hash: &[u8], now: Timestamp) -> Result<bool>;
    /// Deletes requests that expired before `now`; returns how many.
    async fn prune_pushed_requests(&self, now: Timestamp) -> Result<u64>;
}

/// Device authorization grants (RFC 8628): a device asks, a user answers at the verification
/// page, the device polls.
#[async_trait]
pub trait DeviceGrantRepo: Send + Sync {
    /// Stores a new device authorization; `Conflict` when its user code is taken.
    async fn insert_device_authorization(&self, grant: &NewDeviceAuthorization) -> Result<()>;
    /// The authorization with this (normalised) user code, whatever its state.
    async fn device_authorization(&self, user_code: &str) -> Result<DeviceAuthorization>;
    /// Records the user's answer, atomically: `true` for exactly one answer while the
    /// authorization is pending and unexpired.
    async fn decide_device_authorization(
        &self,
        user_code: &str,
        decision: &DeviceDecision,
        now: Timestamp,
    ) -> Result<bool>;
    /// A device's poll: where the authorization stands, with `slow_down` for polls closer than
    /// the interval (which then grows by five seconds, RFC 8628 §3.5); an approved one is
    /// redeemed by exactly one poll. A poll by another client than `client_id`'s changes
    /// nothing.
    async fn poll_device_authorization(
        &self,
        hash: &[u8],
        client_id: &str,
        now: Timestamp,
    ) -> Result<DevicePoll>;
    /// Deletes authorizations that expired before `now`; returns how many.
    async fn prune_device_authorizations(&self, now: Timestamp) -> Result<u64>;
}

/// Back-channel logouts owed to clients (queued by the revocations themselves, see
/// [`crate::UnitOfWork::revoke_family`]), delivered by a worker with leased claims, as the
/// outbox is.
#[async_trait]
pub trait LogoutRepo: Send + Sync {
    /// Claims up to `limit` due deliveries, unclaimed or with an expired lease, for `lease`,
    /// oldest first. Claims by concurrent workers are disjoint.
    async fn claim_logouts(
        &self,
        worker: &str,
        limit: u32,
        now: Timestamp,
        lease: std::time::Duration,
    ) -> Result<Vec<LogoutDelivery>>;
    /// Settles a delivery with its outcome (and the last error, if any).
    async fn settle_logout(
        &self,
        id: i64,
        outcome: LogoutOutcome,
        error: Option<&str>,
        now: Timestamp,
    ) -> Result<()>;
    /// Counts a failed attempt and releases the claim until `at`.
    async fn retry_logout(&self, id: i64, error: &str, at: Timestamp) -> Result<()>;
    /// Deliveries not yet settled.
    async fn unsettled_logouts(&self) -> Result<u64>;
    /// Deletes deliveries settled before `before`; returns how many.
    async fn prune_logouts(&self, before: Timestamp) -> Result<u64>;
}

/// The sign-in log.
#[async_trait]
pub trait SignInLogRepo: Send + Sync {
    /// Appends entries, in one commit.
    async fn append_sign_ins(&self, entries: &[SignInLog]) -> Result<()>;
    /// Group commit for the token endpoint: appends `entries` and performs the swap of each of
    /// `rotations` (the happy path of [`crate::TokenRepo::rotate`]), all in one transaction.
    /// Returns, for each rotation in order, the rotated family, or `None` where the presented
    /// token was not swapped (unknown, reused, revoked, expired, or taken by a concurrent use):
    /// [`crate::TokenRepo::rotate`] then finds out which, and acts on it.
    async fn commit_group(
        &self,
        entries: &[SignInLog],
        rotations: &[Rotate<'_>],
    ) -> Result<Vec<Option<Family>>>;
    /// Appends an entry.
    async fn append_sign_in(&self, entry: &SignInLog) -> Result<()> {
        self.append_sign_ins(std::slice::from_ref(entry)).await
    }
    /// Entries matching the filter, newest first.
    async fn sign_ins(&self, filter: &SignInFilter) -> Result<Vec<SignInLog>>;
    /// One entry.
    async fn sign_in(&self, id: &str) -> Result<SignInLog>;
}

/// SSF streams as receivers see them.
#[async_trait]
pub trait StreamRepo: Send + Sync {
    /// A stream by id.
    async fn stream(&self, id: &StreamId) -> Result<StreamRecord>;
    /// A receiver's streams, ordered by id.
    async fn streams_of(&self, receiver: &str) -> Result<Vec<StreamRecord>>;
    /// Every stream with its delivery health, ordered by id: for operators.
    async fn stream_health(&self) -> Result<Vec<StreamHealth>>;
    /// How many events were ever written to the outbox (the highest event id).
    async fn events_created(&self) -> Result<u64>;
    /// The newest events in the outbox, newest first, with how many streams have and have not
    /// acknowledged each: for operators.
    async fn recent_events(&self, limit: u32) -> Result<Vec<EventSummary>>;
    /// The SETs most recently received from other transmitters, newest first.
    async fn received_sets(&self, limit: u32) -> Result<Vec<ReceivedSet>>;
    /// Adds a subject (a subject identifier document); returns whether it was new.
    async fn add_subject(
        &self,
        stream: &StreamId,
        subject: &serde_json::Value,
        now: Timestamp,
    ) -> Result<bool>;
    /// Removes a subject; returns whether it was there.
    async fn remove_subject(&self, stream: &StreamId, subject: &serde_json::Value) -> Result<bool>;
    /// A stream's subjects.
    async fn subjects(&self, stream: &StreamId) -> Result<Vec<serde_json::Value>>;
    /// Records a verification request unless one was recorded less than `min_interval_ms`
    /// ago. Returns whether it was recorded (`false` means: too soon, answer 429).
    async fn record_verification(
        &self,
        stream: &StreamId,
        now: Timestamp,
        min_interval_ms: i64,
    ) -> Result<bool>;
}
