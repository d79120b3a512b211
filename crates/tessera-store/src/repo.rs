//! The repository traits. Each is narrow; a backend implements all of them, and nothing above
//! the store knows which backend it talks to.

use std::time::Duration;

use async_trait::async_trait;

use crate::Result;
use crate::directory_repo::{
    ClientRepo, CodeRepo, CredentialRepo, DeviceGrantRepo, DeviceRepo, KeyRepo, LogoutRepo, PolicyRepo,
    PushedRequestRepo, SignInLogRepo, StreamRepo,
};
use crate::directory_types::{
    Application, Device, DeviceChange, MfaMethod, NamedLocationRecord, PolicyRecord,
};
use crate::shared_directory::Table;
use crate::types::{
    ClaimScope, ClaimedDelivery, EventId, Family, FamilyId, Group, GroupId, NewEvent, NewFamily, NewSession,
    NewUser, PresentedToken, Rotate, Rotation, SessionId, StreamId, StreamStatus, SubjectKind, Timestamp,
    User, UserChange, UserId,
};

/// Reading users and groups. Writes go through a [`UnitOfWork`], so they can carry events.
#[async_trait]
pub trait UserRepo: Send + Sync {
    /// A user by id.
    async fn user(&self, id: &UserId) -> Result<User>;
    /// A user by sign-in name.
    async fn user_by_username(&self, username: &str) -> Result<User>;
    /// Users ordered by id, after `after`, at most `limit`.
    async fn list_users(&self, after: Option<&UserId>, limit: u32) -> Result<Vec<User>>;
    /// A group by id.
    async fn group(&self, id: &GroupId) -> Result<Group>;
    /// Every group, ordered by id.
    async fn groups(&self) -> Result<Vec<Group>>;
    /// The groups a user is a member of, ordered by id.
    async fn groups_of(&self, user: &UserId) -> Result<Vec<GroupId>>;
    /// The members of a group, ordered by id.
    async fn members_of(&self, group: &GroupId) -> Result<Vec<UserId>>;
}

/// Sign-in sessions, refresh-token families and revocation instants.
#[async_trait]
pub trait TokenRepo: Send + Sync {
    /// Starts a session with the first token of its refresh-token family.
    async fn start_session(&self, session: &NewSession, family: &NewFamily) -> Result<Family>;
    /// The family a refresh token (by hash) belongs to.
    async fn family_by_token(&self, hash: &[u8]) -> Result<Family>;
    /// What a refresh must check about a presented token, read at once: its family, whether it
    /// is the current one (not yet rotated out), its user, the "not before" instants of the
    /// user, the session and the device, the user's groups, and the device registered with
    /// `jkt` (the key of the request's DPoP proof). `None` for a token never issued.
    async fn presented_token(&self, hash: &[u8], jkt: Option<&str>) -> Result<Option<PresentedToken>>;
    /// Rotates a refresh token, atomically: of two uses of the same token at most one
    /// rotates; the other is treated as reuse, and the family is revoked.
    async fn rotate(&self, rotate: &Rotate<'_>) -> Result<Rotation>;
    /// A refresh that keeps the presented token, for a client whose refresh tokens are not
    /// rotated (FAPI 2.0, design record 008): the family's last use and expiry move, its token
    /// and generation stay, so a retried request succeeds. `rotate.next` is not used. An old
    /// token of the family, unknown, revoked or expired tokens answer as for [`Self::rotate`].
    async fn refresh_in_place(&self, rotate: &Rotate<'_>) -> Result<Rotation>;
    /// Revokes a family (and so every token in it). Returns whether it was live.
    async fn revoke_family(&self, id: &FamilyId, reason: &str, now: Timestamp) -> Result<bool>;
    /// The "not before" instant of a subject: tokens issued earlier are refused.
    async fn not_before(&self, kind: SubjectKind, id: &str) -> Result<Option<Timestamp>>;
    /// Records that an API saw `session` (or, without one, every live session of the user)
    /// used from `ip`, where a location policy would apply: the next refresh evaluates policy
    /// from that address too. Returns how many sessions were marked.
    async fn mark_presented(&self, user: &UserId, session: Option<&SessionId>, ip: &str) -> Result<u64>;
    /// Clears the mark once a refresh met policy from `ip` (if the mark is still `ip`).
    async fn clear_presented(&self, session: &SessionId, ip: &str) -> Result<()>;
    /// Records a DPoP proof's key (SHA-256 of `jkt.jti`) until `expires_at`: `true` the first
    /// time, `false` for a replay, whichever node saw it first.
    async fn first_proof_use(&self, key: &[u8], expires_at: Timestamp) -> Result<bool>;
    /// Forgets proofs whose window has passed; returns how many.
    async fn prune_proofs(&self, now: Timestamp) -> Result<u64>;
}

/// The event outbox, seen by delivery workers.
#[async_trait]
pub trait OutboxRepo: Send + Sync {
    /// Claims up to `limit` due deliveries of enabled streams in `scope` for `worker`, leased
    /// for `lease`. A claim is
    /// exclusive until acknowledged, retried, or its lease expires; several workers (and
    /// several nodes) can claim at once without overlap.
    async fn claim_from(
        &self,
        scope: ClaimScope<'_>,
        worker: &str,
        limit: u32,
        now: Timestamp,
        lease: Duration,
    ) -> Result<Vec<ClaimedDelivery>>;
    /// [`OutboxRepo::claim_from`] any stream.
    async fn claim(
        &self,
        worker: &str,
        limit: u32,
        now: Timestamp,
        lease: Duration,
    ) -> Result<Vec<ClaimedDelivery>> {
        self.claim_from(ClaimScope::Any, worker, limit, now, lease).await
    }
    /// Marks a delivery done (push answered 202, or poll acknowledged). Returns whether it was
    /// pending.
    async fn acknowledge(&self, stream: &StreamId, event: EventId, now: Timestamp) -> Result<bool>;
    /// Marks several deliveries of one stream done, in one transaction. Returns how many were
    /// pending.
    async fn acknowledge_all(&self, stream: &StreamId, events: &[EventId], now: Timestamp) -> Result<u64>;
    /// Extends to `until` the unexpired claims that `worker` holds on `stream`'s deliveries (a
    /// heartbeat while it pushes them); returns how many.
    async fn extend_claims(
        &self,
        stream: &StreamId,
        worker: &str,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<u64>;
    /// Ends at once every claim of a worker whose name contains `worker_prefix` (a node that
    /// restarted takes back what it held before it died); returns how many.
    async fn release_claims(&self, worker_prefix: &str, now: Timestamp) -> Result<u64>;
    /// Releases a claimed delivery to be tried again at `next_attempt_at`, recording the error.
    async fn retry_later(
        &self,
        stream: &StreamId,
        event: EventId,
        next_attempt_at: Timestamp,
        error: &str,
    ) -> Result<()>;
    /// How many deliveries a stream has not had acknowledged.
    async fn pending(&self, stream: &StreamId) -> Result<u64>;
    /// Waits until an event is appended (by any node) or `timeout` passes.
    async fn wait_for_events(&self, timeout: Duration) -> Result<()>;
    /// Deletes what delivery no longer needs from before `before`: acknowledged deliveries,
    /// events no stream still waits for (the newest event is always kept), and received `jti`s.
    /// Returns how many rows went.
    async fn prune_outbox(&self, before: Timestamp) -> Result<u64>;
    /// Records a received SET's `jti` from `issuer`. Returns `true` the first time only, so a
    /// redelivered SET is acknowledged but not applied twice.
    async fn first_receipt(&self, issuer: &str, jti: &str, now: Timestamp) -> Result<bool>;
}

/// A transaction: directory changes and the outbox events that describe them, committed
/// together or not at all. Dropping it without [`UnitOfWork::commit`] rolls everything back.
///
/// Once an operation fails, the unit of work is poisoned: later operations and `commit` return
/// [`crate::StoreError::Aborted`] and nothing is written. (PostgreSQL aborts a transaction on
/// the first error; SQLite would carry on. Tessera makes both behave the same way.)
#[async_trait]
pub trait UnitOfWork: Send {
    /// Creates a user.
    async fn insert_user(&mut self, user: &NewUser) -> Result<()>;
    /// Changes a user; returns the user as changed.
    async fn update_user(&mut self, id: &UserId, change: &UserChange, now: Timestamp) -> Result<User>;
    /// Deletes a user (with memberships and sessions).
    async fn delete_user(&mut self, id: &UserId) -> Result<()>;
    /// Creates a group.
    async fn insert_group(&mut self, group: &Group) -> Result<()>;
    /// Adds a member; returns whether they were not a member before.
    async fn add_member(&mut self, group: &GroupId, user: &UserId) -> Result<bool>;
    /// Removes a member; returns whether they were a member.
    async fn remove_member(&mut self, group: &GroupId, user: &UserId) -> Result<bool>;
    /// Raises a subject's "not before" instant (never lowers it).
    async fn set_not_before(&mut self, kind: SubjectKind, id: &str, at: Timestamp) -> Result<()>;
    /// Revokes a refresh-token family; returns whether it was live. A live family's client,
    /// when it takes back-channel logout tokens, is owed one ([`crate::LogoutRepo`]), queued
    /// here; so it is by every revocation below.
    async fn revoke_family(&mut self, id: &FamilyId, reason: &str, now: Timestamp) -> Result<bool>;
    /// Revokes every live session and refresh-token family of a user; returns how many
    /// families were revoked.
    async fn revoke_user_sessions(&mut self, user: &UserId, reason: &str, now: Timestamp) -> Result<u64>;
    /// Ends a browser session (sign-out): sets its own "not before" instant, and revokes every
    /// session started from it (families, sessions, their "not before" instants). Returns the
    /// sessions that were live, by id.
    async fn end_browser_session(
        &mut self,
        browser_sid: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<Vec<SessionId>>;
    /// Creates or replaces a stream's record.
    async fn put_stream(
        &mut self,
        id: &StreamId,
        receiver: &str,
        status: StreamStatus,
        config: &serde_json::Value,
        now: Timestamp,
    ) -> Result<()>;
    /// Changes a stream's status, with the reason its status endpoint reports. A disabled
    /// stream drops its undelivered events.
    async fn set_stream_status(
        &mut self,
        id: &StreamId,
        status: StreamStatus,
        reason: Option<&str>,
        now: Timestamp,
    ) -> Result<()>;
    /// Deletes a stream with its subjects and undelivered events.
    async fn delete_stream(&mut self, id: &StreamId) -> Result<()>;
    /// Appends an event, with one delivery per enabled or paused stream.
    async fn append_event(&mut self, event: &NewEvent) -> Result<EventId>;
    /// Appends an event for one stream only (verification, `stream-updated`); none when the
    /// stream is disabled.
    async fn append_stream_event(&mut self, stream: &StreamId, event: &NewEvent) -> Result<EventId>;
    /// Creates or replaces an application (client).
    async fn put_application(&mut self, app: &Application) -> Result<()>;
    /// Creates or replaces how a client registered itself (its application must exist).
    async fn put_client_registration(&mut self, registration: &crate::ClientRegistration) -> Result<()>;
    /// Registers a device. A key (`jkt`) can be registered once.
    async fn insert_device(&mut self, device: &Device) -> Result<()>;
    /// How many devices `user` has, with the user locked until the unit of work ends, so a
    /// cap on the count holds however many register at once.
    async fn lock_user_devices(&mut self, user: &UserId) -> Result<u64>;
    /// How many streams `receiver` has, with the receiver locked likewise.
    async fn lock_receiver_streams(&mut self, receiver: &str) -> Result<u64>;
    /// Changes a device's status or compliance; returns the device as changed.
    async fn update_device(&mut self, id: &str, change: DeviceChange) -> Result<Device>;
    /// Adds an MFA method.
    async fn add_mfa_method(&mut self, method: &MfaMethod) -> Result<()>;
    /// Creates or replaces a named location.
    async fn put_named_location(&mut self, location: &NamedLocationRecord) -> Result<()>;
    /// Creates or replaces a policy.
    async fn put_policy(&mut self, policy: &PolicyRecord) -> Result<()>;
    /// Deletes an application, device, group (with its memberships), MFA method, named location,
    /// policy or stream by id.
    async fn delete(&mut self, table: Table, id: &str) -> Result<()>;
    /// Commits.
    async fn commit(self: Box<Self>) -> Result<()>;
}

/// Which database a store uses; for start-up summaries and metrics labels only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// Everything Tessera keeps.
#[async_trait]
pub trait Store:
    UserRepo
    + TokenRepo
    + OutboxRepo
    + ClientRepo
    + DeviceRepo
    + CredentialRepo
    + PolicyRepo
    + KeyRepo
    + CodeRepo
    + PushedRequestRepo
    + DeviceGrantRepo
    + LogoutRepo
    + SignInLogRepo
    + StreamRepo
{
    /// Starts a unit of work.
    async fn begin(&self) -> Result<Box<dyn UnitOfWork>>;
    /// The backend.
    fn backend(&self) -> Backend;
    /// Whether several Tessera nodes may serve from this database at once (PostgreSQL). Then
    /// what one node must know of another's requests goes through the store too: the ids of
    /// DPoP proofs ([`TokenRepo::first_proof_use`]), which the one node an embedded database
    /// has keeps in memory.
    fn shared_by_nodes(&self) -> bool;
}
