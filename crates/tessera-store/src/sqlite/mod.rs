//! The embedded SQLite backend: one file in WAL mode, writes serialised in-process (SQLite
//! allows one writer at a time; serialising writes in-process avoids busy-lock retries and
//! makes rotations and outbox claims trivially exclusive) and a pool of readers. The sqlx
//! writer connection and the group commit's (see [`direct`]) take turns under one lock.

pub(crate) mod direct;

use std::path::Path;
use std::str::FromStr as _;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::repo::{Backend, Store};
use crate::{StoreOptions, Waker, migration_error};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

static CLAIM_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE outbox_deliveries SET claimed_by = $1, claim_expires_at = $2, attempts = attempts + 1 \
         WHERE (stream_id, event_id) IN ({})",
        crate::shared::CLAIMABLE.replace("{}", "d.stream_id NOT IN (SELECT value FROM json_each($6))")
    )
});

/// A Tessera store in a SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    read: SqlitePool,
    write: SqlitePool,
    waker: Waker,
    claims: AtomicU64,
    direct: direct::Direct,
}

/// A unit of work on the writer connection.
pub struct SqliteUnitOfWork {
    tx: sqlx::Transaction<'static, sqlx::Sqlite>,
    appended: bool,
    failed: bool,
    waker: Waker,
}

impl std::fmt::Debug for SqliteUnitOfWork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteUnitOfWork")
            .field("appended", &self.appended)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// The ids of the user of refresh family `f`, joined by U+001F (ids never hold it).
    pub(crate) const GROUP_IDS_OF_FAMILY_USER: &'static str =
        "(SELECT group_concat(g.group_id, char(31)) FROM group_members g WHERE g.user_id = f.user_id)";

    /// How `RETURNING` names the updated table's columns in an `UPDATE … FROM`: SQLite's
    /// `RETURNING` sees only that table, and unqualified.
    pub(crate) const UPDATED: &'static str = "";

    /// `event_id` is one of the ids in `$3`, a JSON array of numbers.
    pub(crate) const EVENT_ID_IN_JSON: &'static str = "event_id IN (SELECT value FROM json_each($3))";

    /// Opens (creating if needed) the database file at `path` and brings its schema up to date.
    ///
    /// # Errors
    /// [`crate::StoreError::Corrupt`] when the file is not a SQLite database,
    /// [`crate::StoreError::SchemaVersion`] when a newer Tessera wrote it.
    pub async fn open(path: &Path, options: &StoreOptions) -> crate::Result<Self> {
        if !options.create && !path.exists() {
            return Err(crate::StoreError::NoDatabase(path.to_owned()));
        }
        create_private(path)?;
        let connect = SqliteConnectOptions::from_str("sqlite:")
            .map_err(crate::StoreError::driver)?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(std::time::Duration::from_secs(10))
            // The checkpointer thread checkpoints (see `direct`), not a committing writer.
            .pragma("wal_autocheckpoint", "0")
            .foreign_keys(true);
        let not_sqlite = |e: sqlx::Error| match &e {
            sqlx::Error::Database(db) if db.message().contains("not a database") => {
                crate::StoreError::Corrupt(format!(
                    "{} is not a Tessera database: SQLite says \"{}\"; move it away or choose another --data-dir",
                    path.display(),
                    db.message()
                ))
            }
            _ => crate::StoreError::driver(e),
        };
        // The writer connection, shared with the group commit's (see `direct`): whoever writes
        // holds the write lock. The connection lives as long as the store, so every use of it
        // is a check-out from idle, which takes the lock.
        let write_lock = direct::WriteLock::new();
        let (taking, giving, fresh) = (write_lock.clone(), write_lock.clone(), write_lock.clone());
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .max_lifetime(None)
            .idle_timeout(None)
            // A connection to a file in this process cannot go away: no ping on each use.
            .test_before_acquire(false)
            // A new connection means the one before it is gone (it never is, short of a
            // failure), and with it whatever it held.
            .after_connect(move |_, _| {
                fresh.pool_release();
                Box::pin(async { Ok(()) })
            })
            .before_acquire(move |_, _| {
                let lock = taking.clone();
                Box::pin(async move {
                    lock.pool_acquire().await?;
                    Ok(true)
                })
            })
            .after_release(move |_, _| {
                giving.pool_release();
                Box::pin(async { Ok(true) })
            })
            .acquire_timeout(options.connect_timeout)
            .connect_with(connect.clone())
            .await
            .map_err(not_sqlite)?;
        MIGRATOR
            .run(&write)
            .await
            .map_err(|e| migration_error(&path.display().to_string(), e))?;
        // SQLite reads run on the connections' own threads; more of them than about two per
        // core only adds context switches.
        let cores = std::thread::available_parallelism().map_or(2, |n| u32::try_from(n.get()).unwrap_or(2));
        let read = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(options.max_connections.clamp(1, cores.saturating_mul(2).max(2)))
            .connect_with(connect.read_only(true))
            .await
            .map_err(not_sqlite)?;
        let direct = direct::Direct::open(path, write_lock, Self::GROUP_IDS_OF_FAMILY_USER)?;
        Ok(Self {
            direct,
            read,
            write,
            waker: Waker::local(),
            claims: AtomicU64::new(0),
        })
    }
}

impl crate::shared::Backend for SqliteStore {
    /// See [`crate::TokenRepo::presented_token`]: on the calling thread (see [`direct`]).
    async fn read_presented(
        &self,
        hash: &[u8],
        jkt: Option<&str>,
    ) -> crate::Result<Option<crate::PresentedToken>> {
        self.direct.presented_token(hash, jkt)
    }

    /// See [`crate::TokenRepo::first_proof_use`]: SQLite records each proof on its own.
    async fn batched_proof_use(
        &self,
        _key: &[u8],
        _expires_at: crate::Timestamp,
    ) -> crate::Result<Option<bool>> {
        Ok(None)
    }

    /// See [`crate::SignInLogRepo::commit_group`]: on the calling thread (see [`direct`]).
    async fn write_group(
        &self,
        entries: &[crate::SignInLog],
        rotations: &[crate::Rotate<'_>],
    ) -> crate::Result<Vec<Option<crate::Family>>> {
        self.direct.commit_group(entries, rotations).await
    }

    fn claim_sql(&self) -> &'static str {
        &CLAIM_SQL
    }

    fn claim_token(&self, worker: &str) -> String {
        format!("{worker}#{}", self.claims.fetch_add(1, Ordering::Relaxed))
    }

    async fn wait(&self, timeout: std::time::Duration) -> crate::Result<()> {
        self.waker.wait(timeout).await;
        Ok(())
    }
}

/// Creates the database file, readable and writable by this account only, before SQLite does
/// (which would follow the umask): SQLite gives its `-wal` and `-shm` files the database file's
/// mode, so all three stay private.
fn create_private(path: &Path) -> crate::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(crate::StoreError::io(format!(
            "cannot create {}: {e}",
            path.display()
        ))),
    }
}

impl crate::shared::BackendUnitOfWork for SqliteUnitOfWork {
    async fn on_append(&mut self) -> crate::Result<()> {
        self.appended = true;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn begin(&self) -> crate::Result<Box<dyn crate::UnitOfWork>> {
        let tx = self.write.begin().await.map_err(crate::StoreError::driver)?;
        Ok(Box::new(SqliteUnitOfWork {
            tx,
            appended: false,
            failed: false,
            waker: self.waker.clone(),
        }))
    }

    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    fn shared_by_nodes(&self) -> bool {
        false
    }
}

crate::shared::shared_impl!(SqliteStore, SqliteUnitOfWork, sqlx::Sqlite);
crate::shared_directory::directory_impl!(SqliteStore, SqliteUnitOfWork, sqlx::Sqlite);
