//! Opening databases: from empty, again, and the ones Tessera must refuse clearly.

use tessera_store::{PgStore, SqliteStore, StoreError, StoreOptions};

use crate::fixture::{pg_url, unique_schema};

#[tokio::test]
async fn sqlite_migrates_from_empty_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    drop(SqliteStore::open(&path, &StoreOptions::default()).await.unwrap());
    drop(SqliteStore::open(&path, &StoreOptions::default()).await.unwrap());
    let store = tessera_store::open(&format!("sqlite:{}", path.display()), &StoreOptions::default())
        .await
        .unwrap();
    assert_eq!(store.backend(), tessera_store::Backend::Sqlite);
}

/// Opened not to create one, a missing embedded database is refused and no file is made.
#[tokio::test]
async fn sqlite_opened_not_to_create_refuses_a_missing_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let existing = StoreOptions {
        create: false,
        ..StoreOptions::default()
    };
    let err = SqliteStore::open(&path, &existing).await.unwrap_err();
    assert!(matches!(&err, StoreError::NoDatabase(p) if *p == path), "{err}");
    assert!(!path.exists());
    drop(SqliteStore::open(&path, &StoreOptions::default()).await.unwrap());
    let store = SqliteStore::open(&path, &existing).await.unwrap();
    assert!(!tessera_store::Store::shared_by_nodes(&store));
}

#[tokio::test]
async fn sqlite_refuses_a_file_that_is_not_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    std::fs::write(&path, vec![0x42u8; 8192]).unwrap();
    let err = SqliteStore::open(&path, &StoreOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
    assert!(err.to_string().contains("is not a Tessera database"), "{err}");
}

#[tokio::test]
async fn sqlite_refuses_a_database_from_a_newer_tessera() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    drop(SqliteStore::open(&path, &StoreOptions::default()).await.unwrap());
    let pool = sqlx::SqlitePool::connect(&format!("sqlite:{}", path.display()))
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', 1, x'00', 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let err = SqliteStore::open(&path, &StoreOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::SchemaVersion(_)), "{err}");
    assert!(err.to_string().contains("written by a newer Tessera"), "{err}");
}

#[tokio::test]
async fn sqlite_refuses_a_foreign_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite:{}?mode=rwc", path.display()))
        .await
        .unwrap();
    sqlx::query("CREATE TABLE users (name TEXT)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let err = SqliteStore::open(&path, &StoreOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
    assert!(err.to_string().contains("tables Tessera did not create"), "{err}");
}

#[tokio::test]
async fn postgres_migrates_from_empty_reopens_and_refuses_a_newer_schema() {
    let schema = unique_schema();
    let opts = StoreOptions::default();
    drop(PgStore::open(&pg_url(), Some(&schema), &opts).await.unwrap());
    let store = PgStore::open(&pg_url(), Some(&schema), &opts).await.unwrap();
    let pool = sqlx::PgPool::connect(&pg_url()).await.unwrap();
    sqlx::query(&format!(
        "INSERT INTO \"{schema}\"._sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', true, '\\x00', 0)"
    ))
    .execute(&pool)
    .await
    .unwrap();
    let err = PgStore::open(&pg_url(), Some(&schema), &opts).await.unwrap_err();
    assert!(matches!(err, StoreError::SchemaVersion(_)), "{err}");
    store.drop_schema(&schema).await.unwrap();
    assert!(matches!(
        PgStore::open(&pg_url(), Some("bad;name"), &opts)
            .await
            .unwrap_err(),
        StoreError::Invalid(_)
    ));
}

#[tokio::test]
async fn postgres_unreachable_is_unavailable_not_a_panic() {
    let opts = StoreOptions {
        connect_timeout: std::time::Duration::from_secs(1),
        ..StoreOptions::default()
    };
    let err = PgStore::open("postgres://postgres@127.0.0.1:1/none", None, &opts)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
}
