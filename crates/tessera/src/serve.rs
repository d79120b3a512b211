//! `tessera serve`: start the identity provider.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use tessera_directory::bootstrap::{ADMIN_USERNAME, Bootstrap};
use tessera_server::{Overrides, ServerConfig};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A TOML configuration file (flags and environment variables win over it).
    #[arg(long, env = "TESSERA_CONFIG")]
    config: Option<PathBuf>,
    /// Address and port to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "TESSERA_LISTEN")]
    listen: Option<String>,
    /// Where the embedded database and other state live [default: ./tessera-data].
    #[arg(long, env = "TESSERA_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The issuer URL [default: http://<listen>].
    #[arg(long, env = "TESSERA_ISSUER")]
    issuer: Option<String>,
    /// A database URL: sqlite:PATH or postgres://… [default: sqlite in the data directory].
    #[arg(long, env = "TESSERA_DATABASE_URL")]
    database_url: Option<String>,
    /// Password for the administrator created on first run (otherwise one is generated and
    /// shown once).
    #[arg(long, env = "TESSERA_ADMIN_PASSWORD", hide_env_values = true)]
    admin_password: Option<String>,
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TESSERA_LOG").unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let overrides = Overrides {
        listen: args.listen,
        data_dir: args.data_dir,
        issuer: args.issuer,
        database_url: args.database_url,
        admin_password: args.admin_password,
    };
    let config = ServerConfig::resolve(args.config.as_deref(), overrides)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        eprintln!(
            "Tessera {} starting (opening the database, loading keys)…",
            env!("CARGO_PKG_VERSION")
        );
        let prepared = tessera_server::prepare(config).await?;
        let summary_config = prepared.state.config.clone();
        let bound = prepared
            .listener
            .local_addr()
            .context("reading the bound address")?;
        println!("Tessera {} is running", env!("CARGO_PKG_VERSION"));
        println!("{}", summary_config.summary(bound));
        println!(
            "  signing key     {} kid={}",
            prepared.state.keys.active().algorithm(),
            prepared.state.keys.active().kid().unwrap_or("?")
        );
        match &prepared.bootstrap {
            Bootstrap::AlreadyDone => println!("  administrator   {ADMIN_USERNAME} (exists)"),
            Bootstrap::Created => {
                println!("  administrator   {ADMIN_USERNAME} (created with the password you gave)")
            }
            Bootstrap::CreatedWithPassword(p) => println!(
                "  administrator   {ADMIN_USERNAME} (created; password: {} — shown once, keep it safe)",
                p.as_str()
            ),
        }
        println!(
            "  try             curl {}/.well-known/oauth-authorization-server",
            summary_config.issuer
        );
        println!("Press Ctrl-C to stop.");
        tessera_server::serve(prepared).await?;
        eprintln!("Tessera stopped.");
        anyhow::Ok(())
    })
}
