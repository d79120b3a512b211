//! The store's error: typed, so callers can tell "not found" from "already exists" from "the
//! database is unreachable", and never a panic.

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such record.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A unique value is taken (a username, a group name, an id).
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// A reference points at nothing (a membership of a user that does not exist, …).
    #[error("{0} refers to a record that does not exist")]
    MissingReference(&'static str),
    /// A value the database refused (a check constraint).
    #[error("invalid value: {0}")]
    Invalid(String),
    /// The database was written by a newer Tessera, or its schema history does not match.
    #[error("{0}")]
    SchemaVersion(String),
    /// The file is not a Tessera database (or not a database at all).
    #[error("{0}")]
    Corrupt(String),
    /// There is no embedded database at this path, and the store was opened not to create one.
    #[error("there is no database at {}", .0.display())]
    NoDatabase(std::path::PathBuf),
    /// An earlier operation in this unit of work failed, so it can only be rolled back.
    #[error("the transaction was aborted by an earlier error and was rolled back")]
    Aborted,
    /// The database failed (a statement, a file, the embedded or the remote database).
    #[error("database error: {0}")]
    Database(#[source] DatabaseError),
    /// The database cannot be reached now (no connection in time, the pool is closed, the
    /// server refused or went away): worth trying again later, a `503` to a caller.
    #[error("the database is unavailable: {0}")]
    Unavailable(#[source] DatabaseError),
}

/// What the database driver said, kept whole as the error's source, but as no driver's type:
/// callers of the store never depend on which driver it uses.
#[derive(Debug)]
pub struct DatabaseError(Box<dyn std::error::Error + Send + Sync>);

impl std::fmt::Display for DatabaseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for DatabaseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// Shorthand.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    /// A driver error that is not about a record: `Unavailable` when the database could not be
    /// reached, else `Database`.
    pub(crate) fn driver(e: sqlx::Error) -> Self {
        let unreachable = matches!(
            e,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_)
        );
        let e = DatabaseError(Box::new(e));
        if unreachable {
            Self::Unavailable(e)
        } else {
            Self::Database(e)
        }
    }

    /// The store's own failure to reach the database (`what` says why).
    pub(crate) fn unavailable(what: impl Into<String>) -> Self {
        Self::Unavailable(DatabaseError(what.into().into()))
    }

    /// A failure of the database's files, said in `what`.
    pub(crate) fn io(what: String) -> Self {
        Self::Database(DatabaseError(what.into()))
    }

    /// Maps a database error for an operation on `what`.
    pub(crate) fn from_sqlx(what: &'static str, e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => Self::NotFound(what),
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Conflict(what),
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => Self::MissingReference(what),
            sqlx::Error::Database(db) if db.is_check_violation() => Self::Invalid(db.message().to_owned()),
            _ => Self::driver(e),
        }
    }

    /// Maps an error of the embedded database, read or written without sqlx, the way
    /// [`StoreError::from_sqlx`] maps sqlx's.
    pub(crate) fn from_sqlite(what: &'static str, e: rusqlite::Error) -> Self {
        use rusqlite::ffi;
        match &e {
            rusqlite::Error::QueryReturnedNoRows => Self::NotFound(what),
            rusqlite::Error::SqliteFailure(f, message) => match f.extended_code {
                ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => Self::Conflict(what),
                ffi::SQLITE_CONSTRAINT_FOREIGNKEY => Self::MissingReference(what),
                ffi::SQLITE_CONSTRAINT_CHECK => {
                    Self::Invalid(message.clone().unwrap_or_else(|| f.to_string()))
                }
                _ => Self::Database(DatabaseError(Box::new(e))),
            },
            _ => Self::Database(DatabaseError(Box::new(e))),
        }
    }
}

pub(crate) trait Context<T> {
    fn ctx(self, what: &'static str) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, sqlx::Error> {
    fn ctx(self, what: &'static str) -> Result<T> {
        self.map_err(|e| StoreError::from_sqlx(what, e))
    }
}

impl<T> Context<T> for std::result::Result<T, rusqlite::Error> {
    fn ctx(self, what: &'static str) -> Result<T> {
        self.map_err(|e| StoreError::from_sqlite(what, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The embedded database's constraint failures map as sqlx's do.
    #[test]
    fn sqlite_errors_map_like_sqlx_errors() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        c.execute_batch(
            "PRAGMA foreign_keys = ON;
             CREATE TABLE parent (id TEXT PRIMARY KEY);
             CREATE TABLE child (id TEXT PRIMARY KEY, name TEXT UNIQUE, n INTEGER CHECK (n > 0),
                                 parent TEXT REFERENCES parent (id));
             INSERT INTO parent VALUES ('p');
             INSERT INTO child VALUES ('a', 'x', 1, 'p');",
        )
        .unwrap();
        let run = |sql: &str| c.execute(sql, []).map(drop).ctx("child").unwrap_err();
        assert!(matches!(
            run("INSERT INTO child VALUES ('a', 'y', 1, 'p')"),
            StoreError::Conflict("child")
        ));
        assert!(matches!(
            run("INSERT INTO child VALUES ('b', 'x', 1, 'p')"),
            StoreError::Conflict("child")
        ));
        assert!(matches!(
            run("INSERT INTO child VALUES ('b', 'y', 1, 'nobody')"),
            StoreError::MissingReference("child")
        ));
        assert!(matches!(
            run("INSERT INTO child VALUES ('b', 'y', 0, 'p')"),
            StoreError::Invalid(_)
        ));
        assert!(matches!(run("SELECT * FROM nowhere"), StoreError::Database(_)));
        let none = c
            .query_row("SELECT id FROM child WHERE id = 'z'", [], |r| {
                r.get::<_, String>(0)
            })
            .ctx("child")
            .unwrap_err();
        assert!(matches!(none, StoreError::NotFound("child")));
    }
}
