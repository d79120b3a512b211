//! The PostgreSQL backend, for production and for several Tessera nodes on one database.
//! Outbox claims lock rows with `FOR UPDATE SKIP LOCKED`, so workers on any node take disjoint
//! deliveries; appending an event sends `NOTIFY tessera_outbox` on commit, so idle workers on
//! every node wake at once.

use std::str::FromStr as _;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use tokio::sync::Mutex;

use crate::repo::{Backend, Store};
use crate::{PresentedToken, StoreOptions, Waker, migration_error};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A pooled connection idle this long is pinged before it is used again.
const PING_WHEN_IDLE_FOR: std::time::Duration = std::time::Duration::from_secs(1);

/// Connections for the batched statements: one batch of each kind at a time, and the group
/// commit.
const HOT_CONNECTIONS: u32 = 4;

/// A pool of at most `max` connections, pinged only after an idle second: a connection in
/// steady use is known to be alive, and a ping on every check-out would double the round trips
/// of a busy pool. One idle long enough for the server, or the network between, to have
/// dropped it is pinged (and replaced if dead) first.
fn pool_options(options: &StoreOptions, max: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max)
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_WHEN_IDLE_FOR {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
        .acquire_timeout(options.connect_timeout)
}

/// A presented refresh token's hash, and the key thumbprint of the request's DPoP proof.
type PresentedKey = (Vec<u8>, Option<String>);

/// The channel appended events are announced on.
pub const OUTBOX_CHANNEL: &str = "tessera_outbox";

static CLAIM_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE outbox_deliveries SET claimed_by = $1, claim_expires_at = $2, attempts = attempts + 1 \
         WHERE (stream_id, event_id) IN ({} FOR UPDATE OF d SKIP LOCKED)",
        crate::shared::CLAIMABLE.replace(
            "{}",
            "NOT (d.stream_id = ANY(ARRAY(SELECT jsonb_array_elements_text($6::jsonb))))"
        )
    )
});

/// Requests in one batched statement at most.
const STATEMENT_BATCH: usize = 128;

/// A Tessera store in PostgreSQL.
#[derive(Debug)]
pub struct PgStore {
    read: PgPool,
    write: PgPool,
    /// Connections for the batched statements and the group commit, planned once (see `open`).
    hot: PgPool,
    waker: Waker,
    listener: Mutex<Option<PgListener>>,
    claims: AtomicU64,
    node: String,
    /// DPoP proof ids recorded together (see [`crate::batch`]): a key and when it may be forgotten,
    /// answered with whether it was new.
    proofs: crate::batch::Batcher<(Vec<u8>, i64), bool>,
    /// Presented refresh tokens read together: a token's hash and the proof's key thumbprint.
    presented: crate::batch::Batcher<PresentedKey, crate::Result<Option<PresentedToken>>>,
}

/// A unit of work in one PostgreSQL transaction.
pub struct PgUnitOfWork {
    tx: sqlx::Transaction<'static, sqlx::Postgres>,
    appended: bool,
    failed: bool,
    waker: Waker,
}

impl std::fmt::Debug for PgUnitOfWork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgUnitOfWork")
            .field("appended", &self.appended)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// The ids of the user of refresh family `f`, joined by U+001F (ids never hold it).
    pub(crate) const GROUP_IDS_OF_FAMILY_USER: &'static str =
        "(SELECT string_agg(g.group_id, chr(31)) FROM group_members g WHERE g.user_id = f.user_id)";

    /// How `RETURNING` names the updated table's columns in an `UPDATE … FROM`: by its alias
    /// `f`, since the joined tables have columns of the same names.
    pub(crate) const UPDATED: &'static str = "f.";

    /// `event_id` is one of the ids in `$3`, a JSON array of numbers. As `= ANY(ARRAY(…))` the
    /// primary key is probed per id; `IN (subquery)` would hash-join the stream's whole backlog.
    pub(crate) const EVENT_ID_IN_JSON: &'static str =
        "event_id = ANY(ARRAY(SELECT (jsonb_array_elements_text($3::jsonb))::bigint))";

    /// Connects to `url` and brings the schema up to date. With `schema`, every table lives in
    /// that schema (created if missing): several Tessera instances, or test runs, can share one
    /// database without seeing each other.
    ///
    /// # Errors
    /// [`crate::StoreError::Unavailable`] when PostgreSQL cannot be reached,
    /// [`crate::StoreError::SchemaVersion`] when a newer Tessera wrote the schema.
    pub async fn open(url: &str, schema: Option<&str>, options: &StoreOptions) -> crate::Result<Self> {
        let mut connect = PgConnectOptions::from_str(url).map_err(crate::StoreError::driver)?;
        if let Some(schema) = schema {
            if schema.is_empty() || !schema.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(crate::StoreError::Invalid(format!(
                    "schema name {schema:?} must be [A-Za-z0-9_]+"
                )));
            }
            let admin = PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(options.connect_timeout)
                .connect_with(connect.clone())
                .await;
            let admin = admin.map_err(crate::StoreError::driver)?;
            sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
                .execute(&admin)
                .await
                .map_err(crate::StoreError::driver)?;
            admin.close().await;
            connect = connect.options([("search_path", schema)]);
        }
        // The batched statements of the token endpoint run on connections of their own, which
        // plan each statement once: left to choose, PostgreSQL plans them afresh on every
        // execution (the arrays' sizes make each custom plan look cheaper than the generic
        // one), which was a quarter of its work under load. A plan kept for the connection's
        // life must not depend on the tables' sizes when it was made (a new database's tables
        // are small, and look smaller still before they are analyzed): these statements touch
        // rows by key only, so their connections never plan a sequential scan. At most one
        // batch of each kind is at the database at a time.
        let hot = pool_options(options, HOT_CONNECTIONS).connect_lazy_with(connect.clone().options([
            ("plan_cache_mode", "force_generic_plan"),
            ("enable_seqscan", "off"),
        ]));
        let pool = pool_options(options, options.max_connections.max(2))
            .connect_with(connect)
            .await
            .map_err(crate::StoreError::driver)?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| migration_error("the PostgreSQL database", e))?;
        Ok(Self {
            waker: Waker::remote(),
            listener: Mutex::new(None),
            claims: AtomicU64::new(0),
            node: format!("{}-{}", std::process::id(), options.node_name),
            proofs: crate::batch::Batcher::new("DPoP proof", STATEMENT_BATCH, {
                let hot = hot.clone();
                move |proofs| hot::record_proofs(hot.clone(), proofs)
            }),
            presented: crate::batch::Batcher::new("refresh token", STATEMENT_BATCH, {
                let hot = hot.clone();
                move |presented| hot::read_presented_batch(hot.clone(), presented)
            }),
            hot,
            read: pool.clone(),
            write: pool,
        })
    }

    /// Drops the schema this store was opened in (tests clean up with it).
    ///
    /// # Errors
    /// [`crate::StoreError::Database`] on failure.
    pub async fn drop_schema(&self, schema: &str) -> crate::Result<()> {
        sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .execute(&self.write)
            .await
            .map_err(crate::StoreError::driver)?;
        Ok(())
    }
}

impl crate::shared::Backend for PgStore {
    fn claim_sql(&self) -> &'static str {
        &CLAIM_SQL
    }

    fn claim_token(&self, worker: &str) -> String {
        format!(
            "{}/{worker}#{}",
            self.node,
            self.claims.fetch_add(1, Ordering::Relaxed)
        )
    }

    async fn wait(&self, timeout: std::time::Duration) -> crate::Result<()> {
        let mut guard = self.listener.lock().await;
        if guard.is_none() {
            let mut listener = PgListener::connect_with(&self.read)
                .await
                .map_err(crate::StoreError::driver)?;
            listener
                .listen(OUTBOX_CHANNEL)
                .await
                .map_err(crate::StoreError::driver)?;
            *guard = Some(listener);
        }
        if let Some(listener) = guard.as_mut() {
            match tokio::time::timeout(timeout, listener.recv()).await {
                Ok(Ok(_)) | Err(_) => {}
                // A broken connection: drop it and listen afresh next time.
                Ok(Err(_)) => *guard = None,
            }
        }
        Ok(())
    }

    async fn read_presented(
        &self,
        hash: &[u8],
        jkt: Option<&str>,
    ) -> crate::Result<Option<crate::PresentedToken>> {
        self.read_presented_batched(hash, jkt).await
    }

    async fn batched_proof_use(
        &self,
        key: &[u8],
        expires_at: crate::Timestamp,
    ) -> crate::Result<Option<bool>> {
        self.proof_use_batched(key, expires_at).await
    }

    async fn write_group(
        &self,
        entries: &[crate::SignInLog],
        rotations: &[crate::Rotate<'_>],
    ) -> crate::Result<Vec<Option<crate::Family>>> {
        self.write_group_batched(entries, rotations).await
    }
}

impl crate::shared::BackendUnitOfWork for PgUnitOfWork {
    async fn on_append(&mut self) -> crate::Result<()> {
        if !self.appended {
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(OUTBOX_CHANNEL)
                .execute(&mut *self.tx)
                .await
                .map_err(crate::StoreError::driver)?;
        }
        self.appended = true;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Store for PgStore {
    async fn begin(&self) -> crate::Result<Box<dyn crate::UnitOfWork>> {
        let tx = self.write.begin().await.map_err(crate::StoreError::driver)?;
        Ok(Box::new(PgUnitOfWork {
            tx,
            appended: false,
            failed: false,
            waker: self.waker.clone(),
        }))
    }

    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    fn shared_by_nodes(&self) -> bool {
        true
    }
}

crate::shared::shared_impl!(PgStore, PgUnitOfWork, sqlx::Postgres);
crate::shared_directory::directory_impl!(PgStore, PgUnitOfWork, sqlx::Postgres);

/// The hot paths of the token endpoint: the DPoP proof's id, the refresh grant's read (both
/// batched across requests, see [`super::batch`]) and the group commit.
mod hot {
    use std::collections::HashSet;
    use std::sync::LazyLock;

    use sqlx::Row as _;
    use sqlx::postgres::PgPool;

    use super::PgStore;
    use crate::batch::Outcome;
    use crate::error::Context as _;
    use crate::{Family, PresentedToken, Result, Rotate, SignInLog, Timestamp};

    /// The error of a batch that found no connection in time, for each of its requests.
    fn unreachable() -> crate::StoreError {
        crate::StoreError::unavailable("no connection to PostgreSQL in time")
    }

    /// Everything a refresh checks, in one statement (see `shared::presented_token_sql`).
    static PRESENTED_SQL: LazyLock<String> =
        LazyLock::new(|| crate::shared::presented_token_sql(PgStore::GROUP_IDS_OF_FAMILY_USER, "$1", "$2"));

    /// The same for a batch: hashes `$1` and thumbprints `$2`, answered by position
    /// (`presented_index`, from 1). Each token is one primary-key lookup (`LIMIT 1` keeps the
    /// lateral subquery from being merged into a join the planner might hash).
    pub(super) static PRESENTED_BATCH_SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT p.i AS presented_index, x.* \
             FROM unnest($1::bytea[], $2::text[]) WITH ORDINALITY AS p(hash, jkt, i) \
             CROSS JOIN LATERAL ({} LIMIT 1) x",
            crate::shared::presented_token_sql(PgStore::GROUP_IDS_OF_FAMILY_USER, "p.hash", "p.jkt")
        )
    });

    /// Records a batch of proof keys (distinct), returning those that were new.
    pub(super) const PROOFS_SQL: &str = "INSERT INTO dpop_proofs (key, expires_at) \
         SELECT * FROM unnest($1::bytea[], $2::bigint[]) ON CONFLICT (key) DO NOTHING RETURNING key";

    /// Records `proofs` (key, expiry) in one statement; answers each with whether it was the
    /// key's first use. A key twice in one batch is used first by the earlier request.
    pub(super) async fn record_proofs(pool: PgPool, proofs: Vec<(Vec<u8>, i64)>) -> Result<Vec<bool>> {
        let mut distinct = HashSet::with_capacity(proofs.len());
        let (keys, expiries): (Vec<&[u8]>, Vec<i64>) = proofs
            .iter()
            .filter(|(key, _)| distinct.insert(key.as_slice()))
            .map(|(key, expires_at)| (key.as_slice(), *expires_at))
            .unzip();
        let mut new: HashSet<Vec<u8>> = sqlx::query_scalar(PROOFS_SQL)
            .bind(keys)
            .bind(expiries)
            .fetch_all(&pool)
            .await
            .ctx("DPoP proof")?
            .into_iter()
            .collect();
        Ok(proofs.iter().map(|(key, _)| new.remove(key)).collect())
    }

    /// Reads `presented` (hash, thumbprint) in one statement, answering each in order.
    pub(super) async fn read_presented_batch(
        pool: PgPool,
        presented: Vec<super::PresentedKey>,
    ) -> Result<Vec<Result<Option<PresentedToken>>>> {
        let (hashes, jkts): (Vec<&[u8]>, Vec<Option<&str>>) = presented
            .iter()
            .map(|(hash, jkt)| (hash.as_slice(), jkt.as_deref()))
            .unzip();
        let rows = sqlx::query(&PRESENTED_BATCH_SQL)
            .bind(hashes)
            .bind(jkts)
            .fetch_all(&pool)
            .await
            .ctx("refresh token")?;
        let mut answers: Vec<Result<Option<PresentedToken>>> = presented.iter().map(|_| Ok(None)).collect();
        for row in rows {
            let index: i64 = row.try_get("presented_index").ctx("refresh token")?;
            let answer = usize::try_from(index - 1)
                .ok()
                .and_then(|i| answers.get_mut(i))
                .ok_or_else(|| {
                    crate::StoreError::Corrupt(format!("refresh token batch: no request {index}"))
                })?;
            *answer = crate::shared::presented_from_row(&row).map(Some);
        }
        Ok(answers)
    }

    /// A group commit as one statement: one round trip, and a transaction of its own without
    /// `BEGIN` and `COMMIT`. The rotations are arrays `$1`–`$4`, column by column (see
    /// `shared::rotate_swap_sql`); the sign-in log entries, arrays `$5`–`$15` in the order of
    /// `shared::SIGN_IN_INSERT`, are inserted by a data-modifying `WITH`, which runs to completion
    /// whether the `UPDATE` reads it or not. Arrays make it one text whatever the group's size, so
    /// each connection prepares it once (and, being a hot connection, plans it once: see
    /// `PgStore::open`).
    pub(super) static GROUP_SQL: LazyLock<String> = LazyLock::new(|| {
        crate::shared::rotate_swap_sql(
            &format!(
                "logged AS ({}SELECT * FROM unnest($5::text[], $6::bigint[], $7::text[], $8::text[], \
                 $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[])), ",
                crate::shared::SIGN_IN_INSERT
            ),
            "SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::bigint[], $4::bigint[])",
            // A subquery with a limit is not merged into the join: each presented token is one
            // primary-key lookup, never a hash join over the whole table, which a plan cached
            // while the table was small would keep choosing after it has grown.
            "CROSS JOIN LATERAL (SELECT family_id, generation FROM refresh_tokens \
             WHERE hash = v.presented LIMIT 1) t",
            PgStore::UPDATED,
        )
    });

    impl PgStore {
        /// See [`crate::TokenRepo::first_proof_use`]: batched with other requests'. `None`
        /// when the batch failed: the proof is then recorded on its own.
        pub(crate) async fn proof_use_batched(
            &self,
            key: &[u8],
            expires_at: Timestamp,
        ) -> Result<Option<bool>> {
            match self.proofs.call((key.to_vec(), expires_at.0)).await {
                Outcome::Answered(first) => Ok(Some(first)),
                Outcome::Unreachable => Err(unreachable()),
                Outcome::RunAlone => Ok(None),
            }
        }

        /// See [`crate::TokenRepo::presented_token`]: batched with other requests' reads.
        pub(crate) async fn read_presented_batched(
            &self,
            hash: &[u8],
            jkt: Option<&str>,
        ) -> Result<Option<PresentedToken>> {
            match self.presented.call((hash.to_vec(), jkt.map(str::to_owned))).await {
                Outcome::Answered(answer) => return answer,
                Outcome::Unreachable => return Err(unreachable()),
                Outcome::RunAlone => {}
            }
            sqlx::query(&PRESENTED_SQL)
                .bind(hash)
                .bind(jkt)
                .fetch_optional(&self.read)
                .await
                .ctx("refresh token")?
                .map(|row| crate::shared::presented_from_row(&row))
                .transpose()
        }

        /// See [`crate::SignInLogRepo::commit_group`]: [`GROUP_SQL`], one round trip.
        pub(crate) async fn write_group_batched(
            &self,
            entries: &[SignInLog],
            rotations: &[Rotate<'_>],
        ) -> Result<Vec<Option<Family>>> {
            let mut rotated = vec![None; rotations.len()];
            if entries.is_empty() && rotations.is_empty() {
                return Ok(rotated);
            }
            let column = |f: fn(&SignInLog) -> Option<&str>| entries.iter().map(f).collect::<Vec<_>>();
            let rows = sqlx::query(&GROUP_SQL)
                .bind(rotations.iter().map(|r| r.presented).collect::<Vec<_>>())
                .bind(rotations.iter().map(|r| r.next).collect::<Vec<_>>())
                .bind(rotations.iter().map(|r| r.now.0).collect::<Vec<_>>())
                .bind(rotations.iter().map(|r| r.expires_at.0).collect::<Vec<_>>())
                .bind(column(|e| Some(&e.id)))
                .bind(entries.iter().map(|e| e.at.0).collect::<Vec<_>>())
                .bind(column(|e| e.user_id.as_ref().map(|u| u.0.as_str())))
                .bind(column(|e| e.client_id.as_deref()))
                .bind(column(|e| Some(&e.ip)))
                .bind(column(|e| Some(&e.outcome)))
                .bind(column(|e| Some(&e.token_protection)))
                .bind(column(|e| e.device_id.as_deref()))
                .bind(column(|e| e.jkt.as_deref()))
                .bind(column(|e| e.error.as_deref()))
                .bind(column(|e| Some(e.details.text())))
                .fetch_all(&self.hot)
                .await
                .ctx("sign-in log entry")?;
            for row in rows {
                let to: Vec<u8> = row.try_get("swapped_to").ctx("refresh token")?;
                crate::shared::place_swapped(
                    &mut rotated,
                    rotations,
                    &to,
                    crate::shared::family_from_row(&row)?,
                );
            }
            Ok(rotated)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{PgStore, hot};
    use crate::StoreOptions;

    /// The token endpoint's statements keep one plan for their connection's life, made when
    /// the tables may be empty and never analyzed (as here): each must still touch rows by key
    /// only, or its cost would grow with every token ever issued.
    #[tokio::test]
    async fn hot_statements_never_scan_a_table() {
        let url = std::env::var("TESSERA_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let schema = format!("tessera_plans_{}", std::process::id());
        let store = PgStore::open(&url, Some(&schema), &StoreOptions::default())
            .await
            .expect("PostgreSQL is required for this test");
        let mut conn = store.hot.acquire().await.unwrap();
        for (name, sql, parameters) in [
            ("proofs", hot::PROOFS_SQL, 2),
            ("presented", hot::PRESENTED_BATCH_SQL.as_str(), 2),
            ("group_commit", hot::GROUP_SQL.as_str(), 15),
        ] {
            sqlx::raw_sql(&format!("PREPARE {name} AS {sql}"))
                .execute(&mut *conn)
                .await
                .unwrap();
            let nulls = vec!["NULL"; parameters].join(", ");
            let plan: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN EXECUTE {name}({nulls})"))
                .fetch_all(&mut *conn)
                .await
                .unwrap();
            let plan = plan.join("\n");
            assert!(!plan.contains("Seq Scan"), "{name}:\n{plan}");
            assert!(plan.contains("Index Scan") || name == "proofs", "{name}:\n{plan}");
        }
        drop(conn);
        store.drop_schema(&schema).await.unwrap();
    }
}
