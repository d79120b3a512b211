//! The embedded backend's two hottest paths, run on the calling thread instead of through
//! sqlx's connection threads: reading a presented refresh token (every refresh) and committing
//! a group of token-endpoint writes (see `tessera_server::group_commit`).
//!
//! sqlx gives each SQLite connection a thread of its own and hands it every statement over a
//! channel, and checks a connection out of and back into its pool with a ping each way. On a
//! machine with few cores each hand-over waits for a core, and a refresh made about a dozen of
//! them. Here a read is a function call on a connection from a small pool (microseconds: the
//! database is in memory or the page cache), and a group commit is one transaction on a writer
//! connection of its own, with no hand-over in between.
//!
//! That writer is SQLite's second writer connection beside the sqlx pool's. SQLite allows one
//! writer at a time, and a deferred transaction that has read cannot wait for another writer
//! (it fails with `SQLITE_BUSY`), so both writers take the same in-process [`WriteLock`] first:
//! the group commit for its transaction, the sqlx pool for as long as its connection is
//! checked out (`before_acquire` / `after_release`). Writes stay serialised as they were.

use std::path::{Path, PathBuf};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{OpenFlags, Transaction, TransactionBehavior};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::Context as _;
use crate::types::{Family, PresentedToken, Rotate};
use crate::{Result, SignInLog, StoreError};

/// Connections kept for reading; more may be opened at a busy moment and are then closed.
const READERS_KEPT: usize = 8;
/// Prepared statements kept per connection: the group commit's SQL depends on the group's size.
const STATEMENTS_KEPT: usize = 128;

/// The one-writer-at-a-time lock both writer connections take.
#[derive(Debug, Clone)]
pub(crate) struct WriteLock {
    semaphore: Arc<Semaphore>,
    /// The permit of the sqlx pool's connection while it is checked out.
    pool_permit: Arc<Mutex<Option<OwnedSemaphorePermit>>>,
}

impl WriteLock {
    pub(crate) fn new() -> Self {
        Self {
            semaphore: Arc::new(Semaphore::new(1)),
            pool_permit: Arc::new(Mutex::new(None)),
        }
    }

    /// Takes the lock for the sqlx pool's connection being checked out.
    pub(crate) async fn pool_acquire(&self) -> std::result::Result<(), sqlx::Error> {
        let permit = self
            .semaphore
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        *lock(&self.pool_permit) = Some(permit);
        Ok(())
    }

    /// Gives the lock back as the sqlx pool's connection returns to the pool.
    pub(crate) fn pool_release(&self) {
        lock(&self.pool_permit).take();
    }

    async fn acquire(&self) -> Result<OwnedSemaphorePermit> {
        self.semaphore
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::unavailable("the store is closed"))
    }
}

/// A poisoned lock only means another thread panicked while holding it; what it guards (a
/// connection, a permit) is still sound.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Reader connections and the group-commit writer of one database file.
pub(crate) struct Direct {
    path: PathBuf,
    readers: Mutex<Vec<rusqlite::Connection>>,
    writer: Mutex<rusqlite::Connection>,
    write_lock: WriteLock,
    presented_sql: String,
    /// Dropped with the store, which stops the checkpointer.
    _checkpointer: std::sync::mpsc::Sender<()>,
}

impl std::fmt::Debug for Direct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Direct")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Direct {
    /// Opens the writer connection of `path`, a database whose schema is up to date.
    pub(crate) fn open(path: &Path, write_lock: WriteLock, group_ids: &str) -> Result<Self> {
        let writer = connect(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        Ok(Self {
            path: path.to_owned(),
            readers: Mutex::new(Vec::new()),
            writer: Mutex::new(writer),
            write_lock: write_lock.clone(),
            presented_sql: crate::shared::presented_token_sql(group_ids, "$1", "$2"),
            _checkpointer: checkpointer(path, write_lock.clone())?,
        })
    }

    /// See [`crate::TokenRepo::presented_token`].
    pub(crate) fn presented_token(&self, hash: &[u8], jkt: Option<&str>) -> Result<Option<PresentedToken>> {
        self.read(|c| {
            let mut statement = c.prepare_cached(&self.presented_sql).ctx("refresh token")?;
            // By name: `$2` comes first in the text, and SQLite numbers names as they appear.
            let mut rows = statement
                .query(rusqlite::named_params! {"$1": hash, "$2": jkt})
                .ctx("refresh token")?;
            rows.next()
                .ctx("refresh token")?
                .map(crate::shared::presented_from_row)
                .transpose()
        })
    }

    /// See [`crate::SignInLogRepo::commit_group`]: the same statements, in one transaction.
    pub(crate) async fn commit_group(
        &self,
        entries: &[SignInLog],
        rotations: &[Rotate<'_>],
    ) -> Result<Vec<Option<Family>>> {
        let _permit = self.write_lock.acquire().await?;
        let mut writer = lock(&self.writer);
        let tx = writer
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx("sign-in log entry")?;
        let rotated = swap(&tx, rotations)?;
        append(&tx, entries)?;
        tx.commit().ctx("sign-in log entry")?;
        Ok(rotated)
    }

    /// Runs `f` on a reader connection.
    fn read<T>(&self, f: impl FnOnce(&rusqlite::Connection) -> Result<T>) -> Result<T> {
        let reader = lock(&self.readers).pop();
        let reader = match reader {
            Some(c) => c,
            None => connect(&self.path, OpenFlags::SQLITE_OPEN_READ_ONLY)?,
        };
        let result = f(&reader);
        let mut readers = lock(&self.readers);
        if readers.len() < READERS_KEPT {
            readers.push(reader);
        }
        result
    }
}

/// How often the checkpointer copies what the write-ahead log holds into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
/// Frames (pages) in the write-ahead log past which the checkpointer starts it over.
const RESTART_FRAMES: i64 = 16_384;
/// How long a restart waits for readers still reading from the log before trying again later.
const RESTART_WAITS: Duration = Duration::from_millis(100);

/// Starts the thread that checkpoints the write-ahead log, so that no writer does: SQLite's
/// own checkpoints run inside a commit, every thousand pages, and hold up every request waiting
/// on that commit for the copying and the `fsync` (the writers turn theirs off, see
/// `SqliteStore::open`). Stops when the returned sender is dropped.
///
/// A passive checkpoint runs beside readers and the writer, but under a steady stream of
/// commits it never catches up with the last one, and SQLite starts the log over only after a
/// checkpoint that did: the file would grow without end. So once the log holds
/// [`RESTART_FRAMES`], the checkpointer catches up passively, then takes the write lock for the
/// moment it takes to copy the last few frames and truncate the log.
fn checkpointer(path: &Path, write_lock: WriteLock) -> Result<std::sync::mpsc::Sender<()>> {
    let connection = connect(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    connection.busy_timeout(RESTART_WAITS).ctx("database")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| StoreError::Corrupt(format!("could not start the checkpointer: {e}")))?;
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let checkpoint = move |mode: &str| -> Result<i64> {
        // (busy, frames in the log, frames checkpointed)
        let (_, frames, _): (i64, i64, i64) = connection
            .query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .ctx("checkpoint")?;
        Ok(frames)
    };
    let tick = move || -> Result<()> {
        if checkpoint("PASSIVE")? >= RESTART_FRAMES {
            checkpoint("PASSIVE")?;
            let _permit = runtime.block_on(write_lock.acquire())?;
            checkpoint("TRUNCATE")?;
        }
        Ok(())
    };
    std::thread::Builder::new()
        .name("tessera-sqlite-checkpoint".into())
        .spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_EVERY) {
                if let Err(e) = tick() {
                    // A reader may have held the log past the wait; the next turn tries again.
                    tracing::warn!(%e, "could not checkpoint the database's write-ahead log");
                }
            }
        })
        .map_err(|e| StoreError::Corrupt(format!("could not start the checkpointer: {e}")))?;
    Ok(stop)
}

fn connect(path: &Path, access: OpenFlags) -> Result<rusqlite::Connection> {
    let c = rusqlite::Connection::open_with_flags(path, access | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .ctx("database")?;
    c.busy_timeout(Duration::from_secs(10)).ctx("database")?;
    // The journal mode (WAL) belongs to the file; these belong to the connection.
    c.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 0;")
        .ctx("database")?;
    c.set_prepared_statement_cache_capacity(STATEMENTS_KEPT);
    Ok(c)
}

/// The rotations' compare-and-swap (see `shared::rotate_swap_many_sql`).
fn swap(tx: &Transaction<'_>, rotations: &[Rotate<'_>]) -> Result<Vec<Option<Family>>> {
    let mut rotated = vec![None; rotations.len()];
    for (c, chunk) in rotations.chunks(crate::shared::ROTATIONS_PER_SWAP).enumerate() {
        let sql = crate::shared::rotate_swap_many_sql(chunk.len(), super::SqliteStore::UPDATED);
        let mut statement = tx.prepare_cached(&sql).ctx("refresh token")?;
        for (i, r) in chunk.iter().enumerate() {
            let b = i * 4;
            statement
                .raw_bind_parameter(b + 1, r.presented)
                .ctx("refresh token")?;
            statement.raw_bind_parameter(b + 2, r.next).ctx("refresh token")?;
            statement
                .raw_bind_parameter(b + 3, r.now.0)
                .ctx("refresh token")?;
            statement
                .raw_bind_parameter(b + 4, r.expires_at.0)
                .ctx("refresh token")?;
        }
        let mut rows = statement.raw_query();
        while let Some(row) = rows.next().ctx("refresh token")? {
            let to: Vec<u8> = row.get("swapped_to").ctx("refresh token")?;
            let family = crate::shared::family_from_row(row)?;
            let first = c * crate::shared::ROTATIONS_PER_SWAP;
            crate::shared::place_swapped(&mut rotated[first..], chunk, &to, family);
        }
    }
    Ok(rotated)
}

/// The entries, a multi-row statement per chunk.
fn append(tx: &Transaction<'_>, entries: &[SignInLog]) -> Result<()> {
    for chunk in entries.chunks(crate::shared::SIGN_INS_PER_INSERT) {
        let sql = crate::shared::sign_in_insert_sql(chunk.len());
        let mut statement = tx.prepare_cached(&sql).ctx("sign-in log entry")?;
        for (i, e) in chunk.iter().enumerate() {
            let b = i * 11;
            let bind = |statement: &mut rusqlite::CachedStatement<'_>, n: usize, v: &dyn rusqlite::ToSql| {
                statement.raw_bind_parameter(b + n, v).ctx("sign-in log entry")
            };
            bind(&mut statement, 1, &e.id)?;
            bind(&mut statement, 2, &e.at.0)?;
            bind(&mut statement, 3, &e.user_id.as_ref().map(|u| u.0.as_str()))?;
            bind(&mut statement, 4, &e.client_id)?;
            bind(&mut statement, 5, &e.ip)?;
            bind(&mut statement, 6, &e.outcome)?;
            bind(&mut statement, 7, &e.token_protection)?;
            bind(&mut statement, 8, &e.device_id)?;
            bind(&mut statement, 9, &e.jkt)?;
            bind(&mut statement, 10, &e.error)?;
            bind(&mut statement, 11, &e.details.text())?;
        }
        statement.raw_execute().ctx("sign-in log entry")?;
    }
    Ok(())
}
