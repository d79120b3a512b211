//! `tessera apps …` and `tessera users …`: register applications and users from the command
//! line, straight into the database (the admin API does the same over HTTP).

use std::io::BufRead as _;

use anyhow::{Context as _, bail};
use clap::{Subcommand, ValueEnum};
use tessera_store::{AppKind, Application, NewUser, Secret};

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
        /// A display name.
        #[arg(long, default_value = "")]
        display_name: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

const GRANTS: [&str; 3] = ["authorization_code", "refresh_token", "client_credentials"];

pub fn run_apps(cmd: AppsCommand) -> anyhow::Result<()> {
    match cmd {
        AppsCommand::Create {
            id,
            name,
            kind,
            redirect_uris,
            mut grants,
            scopes,
            require_dpop,
            cae_capable,
            db,
        } => {
            if id.is_empty() || id.len() > 128 || id.chars().any(|c| c.is_whitespace() || c.is_control()) {
                bail!("--id must be 1 to 128 characters without spaces");
            }
            if grants.is_empty() {
                grants = vec!["authorization_code".into(), "refresh_token".into()];
            }
            for g in &grants {
                if !GRANTS.contains(&g.as_str()) {
                    bail!("unknown grant {g}; use one of {}", GRANTS.join(", "));
                }
            }
            if grants.iter().any(|g| g == "authorization_code") && redirect_uris.is_empty() {
                bail!("the authorization_code grant needs at least one --redirect-uri");
            }
            for uri in &redirect_uris {
                let parsed = url::Url::parse(uri).with_context(|| format!("{uri} is not an absolute URI"))?;
                if parsed.fragment().is_some() {
                    bail!("{uri}: a redirect URI must not have a fragment");
                }
            }
            if matches!(kind, Kind::Public) && grants.iter().any(|g| g == "client_credentials") {
                bail!("public clients cannot use client_credentials");
            }
            let secret = match kind {
                Kind::Confidential => Some(tessera_server::secrets::new_client_secret()?),
                Kind::Public => None,
            };
            let now = db::now();
            let app = Application {
                name: name.unwrap_or_else(|| id.clone()),
                id: id.clone(),
                kind: match kind {
                    Kind::Public => AppKind::Public,
                    Kind::Confidential => AppKind::Confidential,
                },
                secret_hash: secret
                    .as_deref()
                    .map(|s| Secret(tessera_server::secrets::hash_client_secret(s))),
                redirect_uris,
                grant_types: grants,
                scopes,
                jwks: None,
                access_token_minutes: 60,
                refresh_token_days: 30,
                cae_capable,
                require_dpop,
                created_at: now,
                changed_at: now,
            };
            db::block_on(async {
                let store = db::open(&db.data_dir, db.database_url).await?;
                if store.application(&id).await.is_ok() {
                    bail!("an application with id {id} exists already");
                }
                let mut uow = store.begin().await?;
                uow.put_application(&app).await?;
                uow.commit().await?;
                println!("created application {id}");
                if let Some(secret) = &secret {
                    println!("client secret (shown once, keep it safe): {secret}");
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
            let password = password.trim_end_matches(['\r', '\n']);
            if password.chars().count() < 8 {
                bail!("the password (on standard input) must be at least 8 characters");
            }
            let hash = tessera_server::secrets::hash_password(password).map_err(anyhow::Error::msg)?;
            db::block_on(async {
                let store = db::open(&db.data_dir, db.database_url).await?;
                let id = format!(
                    "u-{}",
                    tessera_jose::random::random_id::<12>(&tessera_jose::SystemRandom)?
                );
                let mut uow = store.begin().await?;
                uow.insert_user(&NewUser {
                    id: id.as_str().into(),
                    username: username.clone(),
                    email,
                    display_name,
                    password_hash: Some(hash),
                    created_at: db::now(),
                })
                .await?;
                uow.commit().await?;
                println!("created user {username} ({id})");
                Ok(())
            })
        }
    }
}
