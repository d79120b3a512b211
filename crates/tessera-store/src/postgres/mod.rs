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
use crate::{StoreOptions, Waker, migration_error};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

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

/// A Tessera store in PostgreSQL.
#[derive(Debug)]
pub struct PgStore {
    read: PgPool,
    write: PgPool,
    waker: Waker,
    listener: Mutex<Option<PgListener>>,
    claims: AtomicU64,
    node: String,
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
    /// [`crate::StoreError::Database`] when PostgreSQL cannot be reached,
    /// [`crate::StoreError::SchemaVersion`] when a newer Tessera wrote the schema.
    pub async fn open(url: &str, schema: Option<&str>, options: &StoreOptions) -> crate::Result<Self> {
        let mut connect = PgConnectOptions::from_str(url).map_err(crate::StoreError::Database)?;
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
            let admin = admin.map_err(crate::StoreError::Database)?;
            sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
                .execute(&admin)
                .await
                .map_err(crate::StoreError::Database)?;
            admin.close().await;
            connect = connect.options([("search_path", schema)]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(2))
            .acquire_timeout(options.connect_timeout)
            .connect_with(connect)
            .await
            .map_err(crate::StoreError::Database)?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| migration_error("the PostgreSQL database", e))?;
        Ok(Self {
            read: pool.clone(),
            write: pool,
            waker: Waker::remote(),
            listener: Mutex::new(None),
            claims: AtomicU64::new(0),
            node: format!("{}-{}", std::process::id(), options.node_name),
        })
    }

    /// PostgreSQL has no path around sqlx (see `crate::sqlite::direct`).
    #[allow(clippy::unused_self)]
    pub(crate) const fn direct(&self) -> Option<&crate::sqlite::direct::Direct> {
        None
    }

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
                .map_err(crate::StoreError::Database)?;
            listener
                .listen(OUTBOX_CHANNEL)
                .await
                .map_err(crate::StoreError::Database)?;
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

    /// Drops the schema this store was opened in (tests clean up with it).
    ///
    /// # Errors
    /// [`crate::StoreError::Database`] on failure.
    pub async fn drop_schema(&self, schema: &str) -> crate::Result<()> {
        sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .execute(&self.write)
            .await
            .map_err(crate::StoreError::Database)?;
        Ok(())
    }
}

impl PgUnitOfWork {
    async fn on_append(&mut self) -> crate::Result<()> {
        if !self.appended {
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(OUTBOX_CHANNEL)
                .execute(&mut *self.tx)
                .await
                .map_err(crate::StoreError::Database)?;
        }
        self.appended = true;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Store for PgStore {
    async fn begin(&self) -> crate::Result<Box<dyn crate::UnitOfWork>> {
        let tx = self.write.begin().await.map_err(crate::StoreError::Database)?;
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
}

crate::shared::shared_impl!(PgStore, PgUnitOfWork, sqlx::Postgres);
crate::shared_directory::directory_impl!(PgStore, PgUnitOfWork, sqlx::Postgres);
