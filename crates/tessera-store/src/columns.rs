//! A row's columns by name, whichever driver read the row: the decoders of users, devices and
//! refresh families are written once over [`Columns`], for sqlx's rows (both backends) and for
//! the rows the embedded backend reads on its hot paths without sqlx (see `sqlite::direct`).

use crate::Result;
use crate::error::Context as _;

/// Typed access to a row's columns. `what` names the record in errors.
pub(crate) trait Columns {
    fn text(&self, what: &'static str, column: &str) -> Result<String>;
    fn opt_text(&self, what: &'static str, column: &str) -> Result<Option<String>>;
    fn int(&self, what: &'static str, column: &str) -> Result<i64>;
    fn opt_int(&self, what: &'static str, column: &str) -> Result<Option<i64>>;
}

macro_rules! sqlx_columns {
    ($row:ty) => {
        impl Columns for $row {
            fn text(&self, what: &'static str, column: &str) -> Result<String> {
                sqlx::Row::try_get(self, column).ctx(what)
            }
            fn opt_text(&self, what: &'static str, column: &str) -> Result<Option<String>> {
                sqlx::Row::try_get(self, column).ctx(what)
            }
            fn int(&self, what: &'static str, column: &str) -> Result<i64> {
                sqlx::Row::try_get(self, column).ctx(what)
            }
            fn opt_int(&self, what: &'static str, column: &str) -> Result<Option<i64>> {
                sqlx::Row::try_get(self, column).ctx(what)
            }
        }
    };
}

sqlx_columns!(sqlx::sqlite::SqliteRow);
sqlx_columns!(sqlx::postgres::PgRow);

impl Columns for rusqlite::Row<'_> {
    fn text(&self, what: &'static str, column: &str) -> Result<String> {
        self.get(column).ctx(what)
    }
    fn opt_text(&self, what: &'static str, column: &str) -> Result<Option<String>> {
        self.get(column).ctx(what)
    }
    fn int(&self, what: &'static str, column: &str) -> Result<i64> {
        self.get(column).ctx(what)
    }
    fn opt_int(&self, what: &'static str, column: &str) -> Result<Option<i64>> {
        self.get(column).ctx(what)
    }
}
