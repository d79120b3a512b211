//! A fresh store per test, on either backend.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use tessera_store::{PgStore, SqliteStore, Store, StoreOptions};

pub const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/test";

pub fn pg_url() -> String {
    std::env::var("TESSERA_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_PG.to_owned())
}

pub fn unique_schema() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "tessera_test_{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub enum Fixture {
    /// The directory is kept alive for as long as the store.
    Sqlite(Arc<SqliteStore>, #[allow(dead_code)] tempfile::TempDir),
    Postgres(Arc<PgStore>, String),
}

impl Fixture {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("tessera.db"), &StoreOptions::default())
            .await
            .unwrap();
        Self::Sqlite(Arc::new(store), dir)
    }

    pub async fn postgres() -> Self {
        let schema = unique_schema();
        let store = PgStore::open(&pg_url(), Some(&schema), &StoreOptions::default())
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "\n\n*** PostgreSQL is required for the storage tests and is not reachable at {}: {e}\n\
                 *** Start it (pg_ctlcluster <version> main start) or set TESSERA_TEST_DATABASE_URL.\n\n",
                    pg_url()
                )
            });
        Self::Postgres(Arc::new(store), schema)
    }

    pub fn store(&self) -> Arc<dyn Store> {
        match self {
            Self::Sqlite(s, _) => s.clone(),
            Self::Postgres(s, _) => s.clone(),
        }
    }

    /// Removes the test's schema. Not called when a test fails, so its data can be looked at.
    pub async fn finish(self) {
        if let Self::Postgres(store, schema) = self {
            store.drop_schema(&schema).await.unwrap();
        }
    }
}

/// Declares each conformance test once per backend.
macro_rules! conformance {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let f = crate::fixture::Fixture::sqlite().await;
                    super::$name(f.store()).await;
                    f.finish().await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let f = crate::fixture::Fixture::postgres().await;
                    super::$name(f.store()).await;
                    f.finish().await;
                }
            )+
        }
    };
}
pub(crate) use conformance;
