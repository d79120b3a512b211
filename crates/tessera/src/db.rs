//! Opening the database an offline command works on.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::bail;
use clap::Args;

/// Where the database is.
#[derive(Debug, Args)]
pub struct DbArgs {
    /// The data directory of an embedded database.
    #[arg(long, env = "TESSERA_DATA_DIR", default_value = "tessera-data", global = true)]
    pub data_dir: PathBuf,
    /// A database URL (sqlite:PATH or postgres://…); overrides --data-dir.
    #[arg(long, env = "TESSERA_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// The server's issuer URL, which the security events a change raises name.
    #[arg(
        long,
        env = "TESSERA_ISSUER",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub issuer: String,
}

/// Opens the database, refusing to create an embedded one that `tessera serve` never made.
pub async fn open(
    data_dir: &Path,
    database_url: Option<String>,
) -> anyhow::Result<Arc<dyn tessera_store::Store>> {
    let url = database_url.unwrap_or_else(|| format!("sqlite:{}", data_dir.join("tessera.db").display()));
    let existing = tessera_store::StoreOptions {
        create: false,
        ..tessera_store::StoreOptions::default()
    };
    match tessera_store::open(&url, &existing).await {
        Ok(store) => Ok(store),
        Err(tessera_store::StoreError::NoDatabase(path)) => bail!(
            "no database at {}; run `tessera serve` once first, or pass --database-url",
            path.display()
        ),
        Err(e) => Err(e.into()),
    }
}

/// Runs `f` on a single-threaded runtime.
pub fn block_on<F: std::future::Future<Output = anyhow::Result<()>>>(f: F) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(f)
}

/// Now, from the same clock the server reads.
pub fn now() -> tessera_store::Timestamp {
    tessera_jose::Clock::now(&tessera_jose::SystemClock)
}
