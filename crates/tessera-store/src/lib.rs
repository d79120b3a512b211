//! Persistence for Tessera: narrow repository traits ([`UserRepo`], [`TokenRepo`],
//! [`OutboxRepo`], [`ClientRepo`], [`DeviceRepo`], [`CredentialRepo`], [`PolicyRepo`],
//! [`KeyRepo`], [`CodeRepo`], [`SignInLogRepo`], [`StreamRepo`]) and a [`UnitOfWork`] that commits a directory change together with the
//! outbox events describing it, with two backends behind them: embedded SQLite (the default)
//! and PostgreSQL (production, several nodes). Each backend has its own migrations, embedded in
//! the binary and applied on open; the SQL they share is written once (`shared`).
//!
//! Nothing outside this crate knows which backend it talks to: [`open`] returns a
//! `dyn Store`.

mod batch;
mod columns;
mod directory_repo;
mod directory_types;
mod error;
mod group_commit;
mod postgres;
mod repo;
mod shared;
mod shared_directory;
mod shared_outbox;
mod shared_writes;
mod sqlite;
mod types;

use std::sync::Arc;
use std::time::Duration;

pub use directory_repo::{
    ClientRepo, CodeRepo, CredentialRepo, DeviceGrantRepo, DeviceRepo, KeyRepo, LogoutRepo, PolicyRepo,
    PushedRequestRepo, SignInLogRepo, StreamRepo,
};
pub use directory_types::*;
pub use error::{DatabaseError, Result, StoreError};
pub use group_commit::{Committed, GroupCommit};
pub use postgres::{OUTBOX_CHANNEL, PgStore, PgUnitOfWork};
pub use repo::{Backend, OutboxRepo, Store, TokenRepo, UnitOfWork, UserRepo};
pub use shared_directory::Table;
pub use sqlite::{SqliteStore, SqliteUnitOfWork};
pub use types::*;

/// Settings common to both backends.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Connections in the (reader) pool.
    pub max_connections: u32,
    /// A name for this node, used in outbox claim tokens.
    pub node_name: String,
    /// How long to keep trying to get a connection before reporting the database unreachable.
    pub connect_timeout: Duration,
    /// Whether opening an embedded database that does not exist yet creates it (`tessera
    /// serve`), or refuses with [`StoreError::NoDatabase`] (the offline commands, which must not
    /// make a database no server uses).
    pub create: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            node_name: "tessera".into(),
            connect_timeout: Duration::from_secs(10),
            create: true,
        }
    }
}

/// Opens a store from a URL: `sqlite:PATH` (or a plain file path) for the embedded backend,
/// `postgres://…` for PostgreSQL.
///
/// # Errors
/// [`StoreError`] when the database cannot be opened or its schema is not one this Tessera
/// understands.
pub async fn open(url: &str, options: &StoreOptions) -> Result<Arc<dyn Store>> {
    match sqlite_path(url) {
        None => Ok(Arc::new(PgStore::open(url, None, options).await?)),
        Some(path) => Ok(Arc::new(SqliteStore::open(path, options).await?)),
    }
}

/// The file of the embedded database `url` names (`sqlite:PATH`, `sqlite://PATH` or a plain
/// path), or `None` for PostgreSQL.
#[must_use]
pub fn sqlite_path(url: &str) -> Option<&std::path::Path> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return None;
    }
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    Some(std::path::Path::new(path))
}

fn migration_error(what: &str, e: sqlx::migrate::MigrateError) -> StoreError {
    use sqlx::migrate::MigrateError as M;
    match e {
        M::VersionMissing(v) => StoreError::SchemaVersion(format!(
            "{what} has schema version {v}, which this Tessera does not know: it was written by a newer \
             Tessera. Upgrade Tessera, or point it at another database."
        )),
        M::VersionMismatch(v) => StoreError::SchemaVersion(format!(
            "{what}: schema migration {v} differs from the one this Tessera ships; the database was \
             changed by hand or by another build."
        )),
        M::Dirty(v) => StoreError::SchemaVersion(format!(
            "{what}: schema migration {v} was interrupted part-way; restore a backup."
        )),
        M::Execute(sqlx::Error::Database(db)) | M::ExecuteMigration(sqlx::Error::Database(db), _)
            if db.message().contains("already exists") =>
        {
            StoreError::Corrupt(format!(
                "{what} already holds tables Tessera did not create ({}); use an empty database.",
                db.message()
            ))
        }
        M::Execute(e) | M::ExecuteMigration(e, _) => StoreError::driver(e),
        other => StoreError::SchemaVersion(format!("{what}: {other}")),
    }
}

/// Wakes delivery workers when events are appended: in-process for SQLite (one node), a no-op
/// for PostgreSQL, where `NOTIFY` reaches every node.
#[derive(Debug, Clone)]
pub(crate) struct Waker(Option<Arc<tokio::sync::Notify>>);

impl Waker {
    fn local() -> Self {
        Self(Some(Arc::new(tokio::sync::Notify::new())))
    }

    fn remote() -> Self {
        Self(None)
    }

    pub(crate) fn wake(&self) {
        if let Some(n) = &self.0 {
            n.notify_waiters();
            // Also leave a permit, so a worker that starts waiting just after this append (it
            // found the outbox empty a moment before) does not sleep through it.
            n.notify_one();
        }
    }

    async fn wait(&self, timeout: Duration) {
        match &self.0 {
            Some(n) => {
                let _ = tokio::time::timeout(timeout, n.notified()).await;
            }
            None => tokio::time::sleep(timeout).await,
        }
    }
}
