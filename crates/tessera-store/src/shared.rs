//! The SQL both backends share, written once. Every statement uses `$n` placeholders in
//! ascending order of first use, which PostgreSQL and SQLite both read the same way, and only
//! portable SQL (`ON CONFLICT`, `RETURNING`, row-value `IN`). The macro instantiates it for a
//! backend's concrete pool and transaction types; what differs between the backends (row
//! locking when claiming, wake-ups, how writes are serialised) stays in the backend modules.

use std::time::Duration;

use crate::columns::Columns;
use crate::directory_types::{Compliance, Device, DeviceStatus, KeyProtection, TrustType};
use crate::types::{
    Family, FamilyId, Group, GroupId, PresentedToken, Rotate, SessionId, Timestamp, User, UserId,
};
use crate::{Result, RiskLevel, StoreError, UserStatus};

pub(crate) const USER_COLUMNS: &str =
    "id, username, email, display_name, status, password_hash, risk_level, created_at, changed_at";

pub(crate) const DEVICE_COLUMNS: &str = "id, user_id, display_name, platform, os_version, trust_type, \
     compliance, status, public_jwk, jkt, key_protection, key_attestation, created_at, last_seen_at";

/// Back-channel logouts owed when live refresh-token families are revoked: one per family whose
/// client takes logout tokens. `{}` picks the families (`f.…` with `$3`); `$1` is now, `$2` the
/// reason. Run before the revocation itself (in its transaction), which makes the families no
/// longer live; every path that revokes a family runs it once.
pub(crate) const OWE_LOGOUTS: &str = "INSERT INTO logout_deliveries \
     (client_id, uri, user_id, session_id, reason, created_at, next_attempt_at) \
     SELECT f.client_id, a.backchannel_logout_uri, f.user_id, f.session_id, $2, $1, $1 \
     FROM refresh_families f JOIN applications a ON a.id = f.client_id \
     WHERE f.revoked_at IS NULL AND f.expires_at > $1 AND a.backchannel_logout_uri IS NOT NULL AND {}";

pub(crate) const FAMILY_COLUMNS: &str = "id, session_id, user_id, client_id, device_id, jkt, generation, \
     created_at, rotated_at, expires_at, revoked_at, revoked_reason, grant_data";

/// The deliveries a claim may take: unacknowledged, due, unclaimed or with an expired lease, on
/// an enabled stream; oldest event first. Backends append their locking clause.
/// `{}` is the backend's test that `d.stream_id` is not among the ids in `$6`, a JSON array.
pub(crate) const CLAIMABLE: &str = "SELECT d.stream_id, d.event_id FROM outbox_deliveries d \
     JOIN ssf_streams s ON s.id = d.stream_id \
     WHERE d.acknowledged_at IS NULL AND s.status = 'enabled' AND d.next_attempt_at <= $3 \
     AND (d.claim_expires_at IS NULL OR d.claim_expires_at <= $3) \
     AND ($4 = '' OR s.delivery = $4) AND ($5 = '' OR d.stream_id = $5) AND {} \
     ORDER BY d.event_id LIMIT $7";

/// `text` with LIKE's wildcards taken literally (worker names are letters, digits and `-`; the
/// others are dropped rather than escaped, which both backends would spell differently).
pub(crate) fn like_literal(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect()
}

/// The happy path of `n` rotations in one statement: each rotation, a row `(presented, next,
/// now, expires_at)` bound from `$1` in that order (see [`rotate_swap_sql`]).
pub(crate) fn rotate_swap_many_sql(n: usize, updated: &str) -> String {
    let rows: Vec<String> = (0..n)
        .map(|i| {
            let b = i * 4;
            format!("(${}, ${}, ${}, ${})", b + 1, b + 2, b + 3, b + 4)
        })
        .collect();
    rotate_swap_sql(
        "",
        &format!("VALUES {}", rows.join(", ")),
        PRESENTED_TOKENS,
        updated,
    )
}

/// The presented tokens of [`rotate_swap_sql`] by a join.
pub(crate) const PRESENTED_TOKENS: &str = "JOIN refresh_tokens t ON t.hash = v.presented";

/// The happy path of rotations in one statement. `rows` is a query of the rotations, each a
/// row `(presented, next, now, expires_at)`: each swaps in its next token only if the presented
/// one is still its family's current generation and the family is live and unexpired. The
/// rotate trigger records the new token and the session's activity inside the same statement;
/// of two uses of one token, only one can see its generation current. Each swapped family
/// comes back with the hash it now holds as `swapped_to`, which says which rotation it was.
/// Should two rotations present the same token, the database applies one of them.
///
/// The presented tokens are found first, in a materialized expression, and their families
/// then by id: the plan cannot start from the families and scan every token each one ever had,
/// which a planner short of statistics (a new or never-analyzed database) would otherwise
/// choose, at a cost that grows with every rotation. `tokens` is how they are found from `v`,
/// giving `t.family_id` and `t.generation` ([`PRESENTED_TOKENS`], or a backend's own form).
///
/// `with` is put before the rotations' own common table expressions, ending in a comma (or
/// empty); `updated` is how the backend's `RETURNING` names the updated table's columns.
pub(crate) fn rotate_swap_sql(with: &str, rows: &str, tokens: &str, updated: &str) -> String {
    format!(
        "WITH {with}v (presented, next, now, expires_at) AS ({rows}), \
         swap AS MATERIALIZED (SELECT t.family_id, t.generation, v.next, v.now, v.expires_at \
         FROM v {tokens}) \
         UPDATE refresh_families AS f SET generation = f.generation + 1, current_hash = swap.next, \
         rotated_at = swap.now, expires_at = swap.expires_at FROM swap \
         WHERE f.id = swap.family_id AND f.generation = swap.generation AND f.revoked_at IS NULL \
         AND f.expires_at >= swap.now RETURNING {updated}current_hash AS swapped_to, {updated}{}",
        FAMILY_COLUMNS.replace(", ", &format!(", {updated}")),
    )
}

/// Records a family returned by [`rotate_swap_sql`] at the place of its rotation in `rotated`
/// (parallel to `rotations`): the first rotation that asked for the hash it now holds, which
/// next tokens being random, is the one.
pub(crate) fn place_swapped(
    rotated: &mut [Option<Family>],
    rotations: &[Rotate<'_>],
    swapped_to: &[u8],
    family: Family,
) {
    if let Some(i) = rotations.iter().position(|r| r.next == swapped_to) {
        rotated[i] = Some(family);
    }
}

/// Rotations swapped by one statement at most (4 parameters each).
pub(crate) const ROTATIONS_PER_SWAP: usize = 2_000;

/// Sign-in log entries written by one statement at most (11 parameters each).
pub(crate) const SIGN_INS_PER_INSERT: usize = 500;

/// The sign-in log's columns, in the order [`sign_in_insert_sql`] binds them.
pub(crate) const SIGN_IN_INSERT: &str = "INSERT INTO sign_in_logs (id, at, user_id, client_id, ip, \
     outcome, token_protection, device_id, jkt, error, details) ";

/// A multi-row `INSERT` of `n` sign-in log entries, parameters in the order id, at, user_id,
/// client_id, ip, outcome, token_protection, device_id, jkt, error, details.
pub(crate) fn sign_in_insert_sql(n: usize) -> String {
    let mut sql = format!("{SIGN_IN_INSERT}VALUES ");
    for i in 0..n {
        let b = i * 11;
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for k in 1..=11 {
            if k > 1 {
                sql.push_str(", ");
            }
            sql.push('$');
            sql.push_str(&(b + k).to_string());
        }
        sql.push(')');
    }
    sql
}

pub(crate) fn lease_ms(lease: Duration) -> i64 {
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX)
}

pub(crate) fn user_from_row(row: &impl Columns) -> Result<User> {
    user_from_columns(row, "")
}

/// `columns` of `table` selected under another name each, starting with `prefix`.
pub(crate) fn columns_as(columns: &str, table: &str, prefix: &str) -> String {
    columns
        .split(", ")
        .map(|c| format!("{table}.{c} AS {prefix}{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A user from columns named with `prefix` (see [`columns_as`] and [`USER_COLUMNS`]).
pub(crate) fn user_from_columns(row: &impl Columns, prefix: &str) -> Result<User> {
    let c = |c: &str| format!("{prefix}{c}");
    Ok(User {
        id: UserId(row.text("user", &c("id"))?),
        username: row.text("user", &c("username"))?,
        email: row.opt_text("user", &c("email"))?,
        display_name: row.text("user", &c("display_name"))?,
        status: UserStatus::parse(&row.text("user", &c("status"))?)?,
        password_hash: row.opt_text("user", &c("password_hash"))?,
        risk: RiskLevel::parse(&row.text("user", &c("risk_level"))?)?,
        created_at: Timestamp(row.int("user", &c("created_at"))?),
        changed_at: Timestamp(row.int("user", &c("changed_at"))?),
    })
}

/// A device from columns named with `prefix` (see [`columns_as`] and [`DEVICE_COLUMNS`]).
pub(crate) fn device_from_columns(row: &impl Columns, prefix: &str) -> Result<Device> {
    let c = |c: &str| format!("{prefix}{c}");
    let s = |name: &str| row.text("device", &c(name));
    let public_jwk = serde_json::from_str(&s("public_jwk")?)
        .map_err(|e| StoreError::Corrupt(format!("column public_jwk holds invalid JSON: {e}")))?;
    Ok(Device {
        id: s("id")?,
        user_id: UserId(s("user_id")?),
        display_name: s("display_name")?,
        platform: s("platform")?,
        os_version: row.opt_text("device", &c("os_version"))?,
        trust_type: TrustType::parse(&s("trust_type")?)?,
        compliance: Compliance::parse(&s("compliance")?)?,
        status: DeviceStatus::parse(&s("status")?)?,
        public_jwk,
        jkt: s("jkt")?,
        key_protection: KeyProtection::parse(&s("key_protection")?)?,
        key_attestation: row
            .opt_text("device", &c("key_attestation"))?
            .map(|t| serde_json::from_str(&t))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("column key_attestation holds invalid JSON: {e}")))?,
        created_at: Timestamp(row.int("device", &c("created_at"))?),
        last_seen_at: row.opt_int("device", &c("last_seen_at"))?.map(Timestamp),
    })
}

pub(crate) fn group_from_row(row: &impl Columns) -> Result<Group> {
    Ok(Group {
        id: GroupId(row.text("group", "id")?),
        name: row.text("group", "name")?,
        created_at: Timestamp(row.int("group", "created_at")?),
    })
}

/// A refresh-token family from its [`FAMILY_COLUMNS`].
pub(crate) fn family_from_row(row: &impl Columns) -> Result<Family> {
    const WHAT: &str = "refresh-token family";
    Ok(Family {
        id: FamilyId(row.text(WHAT, "id")?),
        session_id: SessionId(row.text(WHAT, "session_id")?),
        user_id: UserId(row.text(WHAT, "user_id")?),
        client_id: row.text(WHAT, "client_id")?,
        device_id: row.opt_text(WHAT, "device_id")?,
        jkt: row.opt_text(WHAT, "jkt")?,
        generation: row.int(WHAT, "generation")?,
        created_at: Timestamp(row.int(WHAT, "created_at")?),
        rotated_at: Timestamp(row.int(WHAT, "rotated_at")?),
        expires_at: Timestamp(row.int(WHAT, "expires_at")?),
        revoked_at: row.opt_int(WHAT, "revoked_at")?.map(Timestamp),
        revoked_reason: row.opt_text(WHAT, "revoked_reason")?,
        grant: serde_json::from_str(&row.text(WHAT, "grant_data")?)
            .map_err(|e| StoreError::Corrupt(format!("refresh-token family grant: {e}")))?,
    })
}

/// One round trip for everything a refresh checks before rotating: the family of the token
/// whose hash is `hash`, whether the token is its current one, the user, the "not before"
/// instants of the user, the session and the device, the user's groups for Conditional Access
/// (`group_ids` lists them as the backend does, see `GROUP_IDS_OF_FAMILY_USER`), and the device
/// registered with key `jkt`, whose key signed the request's proof. `hash` and `jkt` are SQL
/// expressions: parameters, or the columns of a batch.
pub(crate) fn presented_token_sql(group_ids: &str, hash: &str, jkt: &str) -> String {
    format!(
        "SELECT t.generation AS token_generation, f.{}, {}, {}, \
         (SELECT n.not_before FROM not_before n WHERE n.subject_kind = 'user' \
          AND n.subject_id = f.user_id) AS user_not_before, \
         (SELECT n.not_before FROM not_before n WHERE n.subject_kind = 'session' \
          AND n.subject_id = f.session_id) AS session_not_before, \
         (SELECT n.not_before FROM not_before n WHERE n.subject_kind = 'device' \
          AND n.subject_id = f.device_id) AS device_not_before, \
         (SELECT s.presented_ip FROM sessions s WHERE s.id = f.session_id) AS presented_ip, \
         {group_ids} AS group_ids \
         FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id \
         LEFT JOIN users u ON u.id = f.user_id LEFT JOIN devices d ON d.jkt = {jkt} \
         WHERE t.hash = {hash}",
        FAMILY_COLUMNS.replace(", ", ", f."),
        columns_as(USER_COLUMNS, "u", "u_"),
        columns_as(DEVICE_COLUMNS, "d", "d_"),
    )
}

/// A row of [`presented_token_sql`].
pub(crate) fn presented_from_row(row: &impl Columns) -> Result<PresentedToken> {
    let generation = row.int("refresh token", "token_generation")?;
    let family = family_from_row(row)?;
    let instant = |c: &str| Ok::<_, StoreError>(row.opt_int("not-before instant", c)?.map(Timestamp));
    let mut groups: Vec<GroupId> = row
        .opt_text("group membership", "group_ids")?
        .map(|ids| ids.split('\u{1f}').map(|g| GroupId(g.to_owned())).collect())
        .unwrap_or_default();
    groups.sort();
    let user = match row.opt_text("user", "u_id")? {
        Some(_) => Some(user_from_columns(row, "u_")?),
        None => None,
    };
    let device = match row.opt_text("device", "d_id")? {
        Some(_) => Some(device_from_columns(row, "d_")?),
        None => None,
    };
    Ok(PresentedToken {
        user,
        device,
        current: generation == family.generation,
        user_not_before: instant("user_not_before")?,
        session_not_before: instant("session_not_before")?,
        device_not_before: instant("device_not_before")?,
        presented_ip: row.opt_text("session", "presented_ip")?,
        groups,
        family,
    })
}

/// What a backend gives the SQL both share: everything [`shared_impl`] and `directory_impl`
/// call on a store beyond its `read` and `write` pools. A trait, so that the compiler checks
/// each backend provides all of it, with these signatures.
pub(crate) trait Backend: Send + Sync {
    /// The statement that claims deliveries ([`CLAIMABLE`] with this backend's locking).
    fn claim_sql(&self) -> &'static str;
    /// A claim's unique token for `worker`.
    fn claim_token(&self, worker: &str) -> String;
    /// Waits until an event may have been appended, or `timeout`.
    fn wait(&self, timeout: Duration) -> impl Future<Output = Result<()>> + Send;
    /// The presented refresh token's family and all a refresh checks, on this backend's fast
    /// path (see `TokenRepo::presented_token`).
    fn read_presented(
        &self,
        hash: &[u8],
        jkt: Option<&str>,
    ) -> impl Future<Output = Result<Option<PresentedToken>>> + Send;
    /// Records a DPoP proof id batched with other requests'; `None` when it must be recorded
    /// on its own (no batching here, or the batch failed).
    fn batched_proof_use(
        &self,
        key: &[u8],
        expires_at: Timestamp,
    ) -> impl Future<Output = Result<Option<bool>>> + Send;
    /// Commits sign-in log entries and refresh rotations in one transaction (see
    /// `SignInLogRepo::commit_group`).
    fn write_group(
        &self,
        entries: &[crate::SignInLog],
        rotations: &[Rotate<'_>],
    ) -> impl Future<Output = Result<Vec<Option<Family>>>> + Send;
}

/// What a backend's unit of work gives the shared SQL beyond its transaction (`tx`).
pub(crate) trait BackendUnitOfWork: Send {
    /// Called when the unit of work appends an event (PostgreSQL notifies listeners once).
    fn on_append(&mut self) -> impl Future<Output = Result<()>> + Send;
}

/// Implements the repository traits and the unit of work for one backend: users and tokens
/// here, the outbox in `shared_outbox.rs`, the unit of work's writes in `shared_writes.rs`.
///
/// `$store` must have `read` and `write` pools and implement [`Backend`]; `$uow` wraps a
/// `sqlx::Transaction<'static, $db>` in `tx` and implements [`BackendUnitOfWork`].
macro_rules! shared_impl {
    ($store:ty, $uow:ident, $db:ty) => {
        use std::time::Duration as __Duration;

        use async_trait::async_trait;
        use sqlx::Row as _;

        use crate::error::Context as _;
        use crate::repo::{OutboxRepo, TokenRepo, UserRepo};
        use crate::shared::{
            lease_ms, family_from_row, group_from_row, user_from_row, FAMILY_COLUMNS, USER_COLUMNS,
        };
        use crate::types::*;
        use crate::{Result, StoreError};

        #[async_trait]
        impl UserRepo for $store {
            async fn user(&self, id: &UserId) -> Result<User> {
                let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
                let row = sqlx::query(&sql).bind(&id.0).fetch_one(&self.read).await.ctx("user")?;
                user_from_row(&row)
            }

            async fn user_by_username(&self, username: &str) -> Result<User> {
                let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1");
                let key = crate::types::username_key(username);
                let row = sqlx::query(&sql).bind(&key).fetch_optional(&self.read).await.ctx("user")?;
                let row = match row {
                    Some(row) => row,
                    // A name stored before names were kept in their canonical form, whose
                    // canonical form another user already had.
                    None if key != username.trim() => {
                        sqlx::query(&sql).bind(username.trim()).fetch_one(&self.read).await.ctx("user")?
                    }
                    None => return Err(StoreError::NotFound("user")),
                };
                user_from_row(&row)
            }

            async fn list_users(&self, after: Option<&UserId>, limit: u32) -> Result<Vec<User>> {
                let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id > $1 ORDER BY id LIMIT $2");
                let rows = sqlx::query(&sql)
                    .bind(after.map_or("", |a| a.0.as_str()))
                    .bind(i64::from(limit))
                    .fetch_all(&self.read)
                    .await
                    .ctx("user")?;
                rows.iter().map(user_from_row).collect()
            }

            async fn group(&self, id: &GroupId) -> Result<Group> {
                let row = sqlx::query("SELECT id, name, created_at FROM user_groups WHERE id = $1")
                    .bind(&id.0)
                    .fetch_one(&self.read)
                    .await
                    .ctx("group")?;
                group_from_row(&row)
            }

            async fn groups(&self) -> Result<Vec<Group>> {
                let rows = sqlx::query("SELECT id, name, created_at FROM user_groups ORDER BY id")
                    .fetch_all(&self.read)
                    .await
                    .ctx("group")?;
                rows.iter().map(group_from_row).collect()
            }

            async fn groups_of(&self, user: &UserId) -> Result<Vec<GroupId>> {
                let rows = sqlx::query("SELECT group_id FROM group_members WHERE user_id = $1 ORDER BY group_id")
                    .bind(&user.0)
                    .fetch_all(&self.read)
                    .await
                    .ctx("group membership")?;
                rows.iter().map(|r| r.try_get::<String, _>(0).map(GroupId).ctx("group membership")).collect()
            }

            async fn members_of(&self, group: &GroupId) -> Result<Vec<UserId>> {
                let rows = sqlx::query("SELECT user_id FROM group_members WHERE group_id = $1 ORDER BY user_id")
                    .bind(&group.0)
                    .fetch_all(&self.read)
                    .await
                    .ctx("group membership")?;
                rows.iter().map(|r| r.try_get::<String, _>(0).map(UserId).ctx("group membership")).collect()
            }
        }

        impl $store {
            /// Why a presented refresh token was not swapped (or kept): unknown, revoked,
            /// expired, or an old one presented again (which revokes its family).
            async fn not_swapped(&self, presented: &[u8], now: Timestamp) -> Result<Rotation> {
                let sql = format!(
                    "SELECT t.generation AS token_generation, f.{} FROM refresh_tokens t \
                     JOIN refresh_families f ON f.id = t.family_id WHERE t.hash = $1",
                    FAMILY_COLUMNS.replace(", ", ", f.")
                );
                let Some(row) = sqlx::query(&sql).bind(presented).fetch_optional(&self.write).await.ctx("refresh token")?
                else {
                    return Ok(Rotation::Unknown);
                };
                let token_generation: i64 = row.try_get("token_generation").ctx("refresh token")?;
                let family = family_from_row(&row)?;
                if family.revoked_at.is_some() {
                    Ok(Rotation::Revoked(family))
                } else if token_generation == family.generation && now > family.expires_at {
                    Ok(Rotation::Expired(family))
                } else {
                    // An old token presented again, or this use lost the swap to a concurrent use
                    // of the same token: reuse either way.
                    self.revoke_for_reuse(&family.id, now).await
                }
            }

            async fn revoke_for_reuse(&self, id: &FamilyId, now: Timestamp) -> Result<Rotation> {
                let mut tx = self.write.begin().await.ctx("refresh-token family")?;
                owe_logouts_in(&mut tx, "f.id = $3", &id.0, "refresh token reuse", now).await?;
                revoke_family_in(&mut tx, &id.0, "refresh token reuse", now).await?;
                let family = Self::family_in(&mut *tx, &id.0).await?;
                tx.commit().await.ctx("refresh-token family")?;
                Ok(Rotation::Reused(family))
            }

            async fn family_in<'c, E>(executor: E, id: &str) -> Result<Family>
            where
                E: sqlx::Executor<'c, Database = $db>,
            {
                let sql = format!("SELECT {FAMILY_COLUMNS} FROM refresh_families WHERE id = $1");
                let row = sqlx::query(&sql).bind(id).fetch_one(executor).await.ctx("refresh-token family")?;
                family_from_row(&row)
            }
        }

        async fn revoke_family_in(
            tx: &mut sqlx::Transaction<'static, $db>,
            id: &str,
            reason: &str,
            now: Timestamp,
        ) -> Result<bool> {
            let done = sqlx::query(
                "UPDATE refresh_families SET revoked_at = $1, revoked_reason = $2 WHERE id = $3 AND revoked_at IS NULL",
            )
            .bind(now.0)
            .bind(reason)
            .bind(id)
            .execute(&mut **tx)
            .await
            .ctx("refresh-token family")?;
            Ok(done.rows_affected() == 1)
        }

        /// Queues the back-channel logouts of the live families `which` picks (see
        /// [`crate::shared::OWE_LOGOUTS`]); returns how many.
        async fn owe_logouts_in(
            tx: &mut sqlx::Transaction<'static, $db>,
            which: &str,
            id: &str,
            reason: &str,
            now: Timestamp,
        ) -> Result<u64> {
            let sql = crate::shared::OWE_LOGOUTS.replace("{}", which);
            let done = sqlx::query(&sql)
                .bind(now.0)
                .bind(reason)
                .bind(id)
                .execute(&mut **tx)
                .await
                .ctx("back-channel logout")?;
            Ok(done.rows_affected())
        }

        async fn set_not_before_in(
            tx: &mut sqlx::Transaction<'static, $db>,
            kind: SubjectKind,
            id: &str,
            at: Timestamp,
        ) -> Result<()> {
            sqlx::query(
                "INSERT INTO not_before (subject_kind, subject_id, not_before) VALUES ($1, $2, $3) \
                 ON CONFLICT (subject_kind, subject_id) DO UPDATE SET not_before = excluded.not_before \
                 WHERE excluded.not_before > not_before.not_before",
            )
            .bind(kind.as_str())
            .bind(id)
            .bind(at.0)
            .execute(&mut **tx)
            .await
            .ctx("not-before instant")?;
            Ok(())
        }

        #[async_trait]
        impl TokenRepo for $store {
            async fn start_session(&self, session: &NewSession, family: &NewFamily) -> Result<Family> {
                let mut tx = self.write.begin().await.ctx("session")?;
                sqlx::query(
                    "INSERT INTO sessions (id, user_id, client_id, device_id, jkt, created_at, last_seen_at, browser_sid) \
                     VALUES ($1, $2, $3, $4, $5, $6, $6, $7)",
                )
                .bind(&session.id.0)
                .bind(&session.user_id.0)
                .bind(&session.client_id)
                .bind(&session.device_id)
                .bind(&session.jkt)
                .bind(session.created_at.0)
                .bind(&session.browser_sid)
                .execute(&mut *tx)
                .await
                .ctx("session")?;
                // The insert trigger records the first refresh token.
                sqlx::query(
                    "INSERT INTO refresh_families (id, session_id, user_id, client_id, device_id, jkt, generation, \
                     current_hash, created_at, rotated_at, expires_at, grant_data) \
                     VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, $8, $9, $10)",
                )
                .bind(&family.id.0)
                .bind(&session.id.0)
                .bind(&session.user_id.0)
                .bind(&session.client_id)
                .bind(&session.device_id)
                .bind(&session.jkt)
                .bind(&family.token_hash)
                .bind(session.created_at.0)
                .bind(family.expires_at.0)
                .bind(family.grant.to_string())
                .execute(&mut *tx)
                .await
                .ctx("refresh-token family")?;
                let created = Self::family_in(&mut *tx, &family.id.0).await?;
                tx.commit().await.ctx("session")?;
                Ok(created)
            }

            async fn family_by_token(&self, hash: &[u8]) -> Result<Family> {
                let sql = format!(
                    "SELECT {FAMILY_COLUMNS} FROM refresh_families \
                     WHERE id = (SELECT family_id FROM refresh_tokens WHERE hash = $1)"
                );
                let row = sqlx::query(&sql).bind(hash).fetch_one(&self.read).await.ctx("refresh token")?;
                family_from_row(&row)
            }

            async fn presented_token(&self, hash: &[u8], jkt: Option<&str>) -> Result<Option<PresentedToken>> {
                crate::shared::Backend::read_presented(self, hash, jkt).await
            }

            async fn rotate(&self, r: &Rotate<'_>) -> Result<Rotation> {
                let sql = crate::shared::rotate_swap_many_sql(1, <$store>::UPDATED);
                let swapped = sqlx::query(&sql)
                    .bind(r.presented)
                    .bind(r.next)
                    .bind(r.now.0)
                    .bind(r.expires_at.0)
                    .fetch_optional(&self.write)
                    .await
                    .ctx("refresh token")?;
                if let Some(row) = swapped {
                    return Ok(Rotation::Rotated(family_from_row(&row)?));
                }
                self.not_swapped(r.presented, r.now).await
            }

            async fn refresh_in_place(&self, r: &Rotate<'_>) -> Result<Rotation> {
                let sql = format!(
                    "UPDATE refresh_families SET rotated_at = $2, expires_at = $3 \
                     WHERE id = (SELECT family_id FROM refresh_tokens WHERE hash = $1) AND current_hash = $1 \
                     AND revoked_at IS NULL AND expires_at >= $2 RETURNING {FAMILY_COLUMNS}"
                );
                let kept = sqlx::query(&sql)
                    .bind(r.presented)
                    .bind(r.now.0)
                    .bind(r.expires_at.0)
                    .fetch_optional(&self.write)
                    .await
                    .ctx("refresh token")?;
                if let Some(row) = kept {
                    return Ok(Rotation::Rotated(family_from_row(&row)?));
                }
                self.not_swapped(r.presented, r.now).await
            }

            async fn revoke_family(&self, id: &FamilyId, reason: &str, now: Timestamp) -> Result<bool> {
                let mut tx = self.write.begin().await.ctx("refresh-token family")?;
                owe_logouts_in(&mut tx, "f.id = $3", &id.0, reason, now).await?;
                let revoked = revoke_family_in(&mut tx, &id.0, reason, now).await?;
                tx.commit().await.ctx("refresh-token family")?;
                Ok(revoked)
            }

            async fn not_before(&self, kind: SubjectKind, id: &str) -> Result<Option<Timestamp>> {
                let row = sqlx::query("SELECT not_before FROM not_before WHERE subject_kind = $1 AND subject_id = $2")
                    .bind(kind.as_str())
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await
                    .ctx("not-before instant")?;
                row.map(|r| r.try_get::<i64, _>(0).map(Timestamp).ctx("not-before instant")).transpose()
            }

            async fn mark_presented(&self, user: &UserId, session: Option<&SessionId>, ip: &str) -> Result<u64> {
                let done = sqlx::query(
                    "UPDATE sessions SET presented_ip = $1 WHERE user_id = $2 AND revoked_at IS NULL \
                     AND ($3 IS NULL OR id = $3)",
                )
                .bind(ip)
                .bind(&user.0)
                .bind(session.map(|s| s.0.as_str()))
                .execute(&self.write)
                .await
                .ctx("session")?;
                Ok(done.rows_affected())
            }

            async fn clear_presented(&self, session: &SessionId, ip: &str) -> Result<()> {
                sqlx::query("UPDATE sessions SET presented_ip = NULL WHERE id = $1 AND presented_ip = $2")
                    .bind(&session.0)
                    .bind(ip)
                    .execute(&self.write)
                    .await
                    .ctx("session")?;
                Ok(())
            }

            async fn first_proof_use(&self, key: &[u8], expires_at: Timestamp) -> Result<bool> {
                if let Some(first) = crate::shared::Backend::batched_proof_use(self, key, expires_at).await? {
                    return Ok(first);
                }
                let done = sqlx::query(
                    "INSERT INTO dpop_proofs (key, expires_at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                )
                .bind(key)
                .bind(expires_at.0)
                .execute(&self.write)
                .await
                .ctx("DPoP proof")?;
                Ok(done.rows_affected() == 1)
            }

            async fn prune_proofs(&self, now: Timestamp) -> Result<u64> {
                let done = sqlx::query("DELETE FROM dpop_proofs WHERE expires_at < $1")
                    .bind(now.0)
                    .execute(&self.write)
                    .await
                    .ctx("DPoP proof")?;
                Ok(done.rows_affected())
            }
        }

        crate::shared_outbox::outbox_impl!($store);

        crate::shared_writes::unit_of_work_impl!($uow);
    };
}

pub(crate) use shared_impl;
