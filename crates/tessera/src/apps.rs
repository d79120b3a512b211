//! `tessera apps …` and `tessera users …`: register applications and users from the command
//! line, straight into the database (the admin API does the same over HTTP).

use std::io::BufRead as _;

use anyhow::bail;
use clap::{Subcommand, ValueEnum};
use tessera_directory::{ApplicationSpec, Directory, DirectoryError, InitiatingEntity, UserSpec};
use tessera_store::AppKind;

use crate::db::{self, DbArgs};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Kind {
    /// A native, desktop or browser app that cannot keep a secret.
    Public,
    /// A server-side app; gets a client secret.
    Confidential,
}

#[derive(Debug, Subcommand)]
pub enum AppsCommand {
    /// Register an application (OAuth client). A confidential client's secret is printed once.
    Create {
        /// The client id.
        #[arg(long)]
        id: String,
        /// A name shown on the sign-in page [default: the id].
        #[arg(long)]
        name: Option<String>,
        /// Public or confidential.
        #[arg(long, value_enum, default_value_t = Kind::Public)]
        kind: Kind,
        /// A redirect URI (repeat for several); matched exactly.
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// A grant type (repeat) [default: authorization_code and refresh_token].
        #[arg(long = "grant")]
        grants: Vec<String>,
        /// An API scope the client may request (repeat); OpenID scopes are always allowed.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Refuse token requests without a DPoP proof.
        #[arg(long)]
        require_dpop: bool,
        /// Accept authorization requests only when pushed first to `/par` (RFC 9126).
        #[arg(long = "require-par")]
        require_pushed_authorization_requests: bool,
        /// Where the client takes OpenID Connect back-channel logout tokens.
        #[arg(long, value_name = "URL")]
        backchannel_logout_uri: Option<String>,
        /// Hold the client to the FAPI 2.0 Security Profile (needs `--kind confidential` and
        /// `--jwks`): pushed requests, DPoP and `private_key_jwt` required, refresh tokens not
        /// rotated.
        #[arg(long)]
        fapi2: bool,
        /// A file with the client's public keys (a JWK Set), for `private_key_jwt` and signed
        /// request objects; a confidential client with keys gets no secret.
        #[arg(long, value_name = "FILE")]
        jwks: Option<std::path::PathBuf>,
        /// Treat the client as CAE-capable (`cp1`) even when it does not say so.
        #[arg(long)]
        cae_capable: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List the registered applications.
    List {
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user. The password is read from the first line of standard input.
    Create {
        /// The username.
        #[arg(long)]
        username: String,
        /// The email address.
        #[arg(long)]
        email: Option<String>,
        /// A display name [default: the username].
        #[arg(long, default_value = "", hide_default_value = true)]
        display_name: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

/// The directory as an administrator at this terminal changes it.
fn directory(store: std::sync::Arc<dyn tessera_store::Store>, db: &DbArgs) -> Directory {
    Directory::new(
        store,
        std::sync::Arc::new(tessera_jose::SystemRandom),
        db.issuer.trim_end_matches('/'),
        db::now(),
        InitiatingEntity::Admin,
    )
}

pub fn run_apps(cmd: AppsCommand) -> anyhow::Result<()> {
    match cmd {
        AppsCommand::Create {
            id,
            name,
            kind,
            redirect_uris,
            grants,
            scopes,
            require_dpop,
            require_pushed_authorization_requests,
            backchannel_logout_uri,
            fapi2,
            jwks,
            cae_capable,
            db,
        } => {
            let jwks = jwks
                .map(|path| -> anyhow::Result<serde_json::Value> {
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
                    serde_json::from_str(&text)
                        .map_err(|e| anyhow::anyhow!("{} is not JSON: {e}", path.display()))
                })
                .transpose()?;
            let spec = ApplicationSpec {
                name,
                kind: match kind {
                    Kind::Public => AppKind::Public,
                    Kind::Confidential => AppKind::Confidential,
                },
                redirect_uris,
                grant_types: grants,
                scopes,
                cae_capable,
                require_dpop,
                require_pushed_authorization_requests,
                backchannel_logout_uri,
                fapi2,
                jwks,
                ..ApplicationSpec::new(&id)
            };
            // Check the input before touching the database, so a typo never needs a data dir.
            spec.validate().map_err(explain)?;
            db::block_on(async {
                let store = db::open(&db.data_dir, db.database_url.clone()).await?;
                let made = directory(store, &db)
                    .create_application(&spec)
                    .await
                    .map_err(explain)?;
                println!("created application {id}");
                if let Some(secret) = &made.secret {
                    println!("client secret (shown once, keep it safe): {}", secret.as_str());
                }
                Ok(())
            })
        }
        AppsCommand::List { db } => db::block_on(async {
            let store = db::open(&db.data_dir, db.database_url).await?;
            for app in store.applications().await? {
                println!(
                    "{}\t{}\t{}\t{}",
                    app.id,
                    app.kind.as_str(),
                    app.grant_types.join(","),
                    app.redirect_uris.join(" ")
                );
            }
            Ok(())
        }),
    }
}

/// A directory error as a CLI error, one line per field, named as the flags are.
pub fn explain(e: DirectoryError) -> anyhow::Error {
    match e {
        DirectoryError::Invalid(errors) => anyhow::anyhow!(
            "{}",
            errors
                .iter()
                .map(|e| {
                    let flag = e.field.split('[').next().unwrap_or_default();
                    let flag = match flag {
                        "redirect_uris" => "--redirect-uri",
                        "grant_types" => "--grant",
                        "scopes" => "--scope",
                        other => other,
                    };
                    format!("{flag}: {}", e.message)
                })
                .collect::<Vec<_>>()
                .join("\n")
        ),
        other => other.into(),
    }
}

pub fn run_users(cmd: UsersCommand) -> anyhow::Result<()> {
    match cmd {
        UsersCommand::Create {
            username,
            email,
            display_name,
            db,
        } => {
            let mut password = String::new();
            std::io::stdin().lock().read_line(&mut password)?;
            let password =
                tessera_directory::Zeroizing::new(password.trim_end_matches(['\r', '\n']).to_owned());
            if password.is_empty() {
                bail!("give the password on the first line of standard input");
            }
            let spec = UserSpec {
                username,
                email,
                display_name: (!display_name.is_empty()).then_some(display_name),
                password: Some(password),
            };
            db::block_on(async {
                let store = db::open(&db.data_dir, db.database_url.clone()).await?;
                let user = directory(store, &db).create_user(&spec).await.map_err(explain)?;
                println!("created user {} ({})", user.username, user.id.0);
                Ok(())
            })
        }
    }
}
