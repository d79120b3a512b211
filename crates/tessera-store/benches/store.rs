//! Storage throughput at concurrency 16, on SQLite and on PostgreSQL, each next to a bare
//! single-row `UPDATE` on the same backend measured in the same run.
//!
//! `cargo bench -p tessera-store --bench store` (about 40 seconds; PostgreSQL from
//! `TESSERA_TEST_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/test`, in a schema
//! of its own that is dropped afterwards). `BENCH_SECONDS` sets the time per workload.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::str::FromStr as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tessera_store::*;

const CONCURRENCY: u32 = 16;

fn seconds() -> Duration {
    Duration::from_secs_f64(
        std::env::var("BENCH_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(4.0),
    )
}

fn now() -> Timestamp {
    Timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64,
    )
}

fn hash(task: u32, n: u64) -> Vec<u8> {
    let mut h = vec![0u8; 32];
    h[..4].copy_from_slice(&task.to_be_bytes());
    h[4..12].copy_from_slice(&n.to_be_bytes());
    h
}

/// Runs `op` from `CONCURRENCY` tasks for the bench duration; returns operations per second.
async fn run<F, Fut>(op: F) -> f64
where
    F: Fn(u32, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + seconds();
    let started = Instant::now();
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|t| {
            let (op, done) = (op.clone(), done.clone());
            tokio::spawn(async move {
                let mut n = 0u64;
                while Instant::now() < deadline {
                    op(t, n).await;
                    n += 1;
                }
                done.fetch_add(n, Ordering::Relaxed);
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

async fn workloads(store: Arc<dyn Store>, baseline: f64) -> Vec<(&'static str, f64, f64)> {
    // One user and one session per task, so tasks rotate independent families.
    let mut uow = store.begin().await.unwrap();
    for t in 0..CONCURRENCY {
        uow.insert_user(&NewUser {
            id: format!("u{t}").as_str().into(),
            username: format!("u{t}"),
            email: None,
            display_name: String::new(),
            password_hash: None,
            created_at: now(),
        })
        .await
        .unwrap();
    }
    uow.put_stream(
        &"bench".into(),
        "receiver",
        StreamStatus::Enabled,
        &json!({}),
        now(),
    )
    .await
    .unwrap();
    uow.commit().await.unwrap();
    for t in 0..CONCURRENCY {
        let session = NewSession {
            id: format!("s{t}").as_str().into(),
            user_id: format!("u{t}").as_str().into(),
            client_id: "app".into(),
            device_id: Some("d".into()),
            jkt: Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I".into()),
            browser_sid: None,
            created_at: now(),
        };
        let family = NewFamily {
            id: format!("f{t}").as_str().into(),
            token_hash: hash(t, 0),
            expires_at: now().plus_ms(86_400_000),
            grant: serde_json::json!({"scope": "openid"}),
        };
        store.start_session(&session, &family).await.unwrap();
    }

    let s = store.clone();
    let rotation = run(move |t, n| {
        let s = s.clone();
        async move {
            let (presented, next) = (hash(t, n), hash(t, n + 1));
            let r = Rotate {
                presented: &presented,
                next: &next,
                now: now(),
                expires_at: now().plus_ms(86_400_000),
            };
            let outcome = s.rotate(&r).await.unwrap();
            assert!(matches!(outcome, Rotation::Rotated(_)), "{outcome:?}");
        }
    })
    .await;

    let s = store.clone();
    let outbox = run(move |t, n| {
        let s = s.clone();
        async move {
            let mut uow = s.begin().await.unwrap();
            uow.append_event(&NewEvent {
                event_type: "https://schemas.openid.net/secevent/caep/event-type/session-revoked".into(),
                subject: json!({"format": "opaque", "id": format!("u{t}")}),
                payload: json!({"n": n}),
                created_at: now(),
            })
            .await
            .unwrap();
            uow.commit().await.unwrap();
            for d in s
                .claim(&format!("w{t}"), 1, now(), Duration::from_secs(30))
                .await
                .unwrap()
            {
                s.acknowledge(&d.stream_id, d.event_id, now()).await.unwrap();
            }
        }
    })
    .await;
    vec![
        ("bare single-row UPDATE (baseline)", baseline, 1.0),
        ("refresh-token rotation", rotation, rotation / baseline),
        ("outbox append + claim + ack", outbox, outbox / baseline),
    ]
}

async fn sqlite() -> Vec<(&'static str, f64, f64)> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.db");
    // The baseline uses the same settings as the store: WAL, synchronous=NORMAL, one writer.
    let opts = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .synchronous(sqlx::sqlite::SqliteSynchronous::Normal);
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(opts)
        .await
        .unwrap();
    let baseline = bare_update(pool.clone()).await;
    pool.close().await;
    let store = SqliteStore::open(&path, &StoreOptions::default()).await.unwrap();
    workloads(Arc::new(store), baseline).await
}

async fn postgres() -> Vec<(&'static str, f64, f64)> {
    let url = std::env::var("TESSERA_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let schema = format!("tessera_bench_{}", std::process::id());
    let opts = sqlx::postgres::PgConnectOptions::from_str(&url).unwrap();
    let admin = sqlx::PgPool::connect_with(opts.clone()).await.unwrap();
    sqlx::query(&format!("CREATE SCHEMA \"{schema}\""))
        .execute(&admin)
        .await
        .unwrap();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(CONCURRENCY)
        .connect_with(opts.options([("search_path", schema.as_str())]))
        .await
        .unwrap();
    let baseline = bare_update(pool.clone()).await;
    pool.close().await;
    let store = Arc::new(
        PgStore::open(&url, Some(&schema), &StoreOptions::default())
            .await
            .unwrap(),
    );
    let rows = workloads(store.clone(), baseline).await;
    store.drop_schema(&schema).await.unwrap();
    rows
}

async fn bare_update<DB>(pool: sqlx::Pool<DB>) -> f64
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'c> &'c sqlx::Pool<DB>: sqlx::Executor<'c, Database = DB>,
{
    sqlx::query("CREATE TABLE bench_counter (id BIGINT PRIMARY KEY, n BIGINT NOT NULL)")
        .execute(&pool)
        .await
        .unwrap();
    for t in 0..i64::from(CONCURRENCY) {
        sqlx::query("INSERT INTO bench_counter (id, n) VALUES ($1, 0)")
            .bind(t)
            .execute(&pool)
            .await
            .unwrap();
    }
    run(move |t, _| {
        let pool = pool.clone();
        async move {
            sqlx::query("UPDATE bench_counter SET n = n + 1 WHERE id = $1")
                .bind(i64::from(t))
                .execute(&pool)
                .await
                .unwrap();
        }
    })
    .await
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "concurrency {CONCURRENCY}, {:.0} s per workload",
        seconds().as_secs_f64()
    );
    for (backend, rows) in [
        ("SQLite", rt.block_on(sqlite())),
        ("PostgreSQL", rt.block_on(postgres())),
    ] {
        println!("\n{backend}");
        println!("  {:<36} {:>10} {:>8}", "workload", "ops/s", "ratio");
        for (name, ops, ratio) in rows {
            println!("  {name:<36} {ops:>10.0} {ratio:>7.2}×");
        }
    }
}
