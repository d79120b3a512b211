//! `tessera admin …`: the directory changes an operator makes, from the command line, straight
//! into the database through the same `tessera-directory` crate as the admin API. Each change
//! writes its CAEP/RISC events with it, so every subscribed API hears of it.
//!
//! A user is named by username or by id. `--json` prints what changed as JSON for scripts.

mod applications;
mod devices;
mod policies;
mod streams;
mod users;

use anyhow::bail;
use clap::{Args, Subcommand};
use serde_json::json;
use tessera_directory::{Directory, InitiatingEntity};
use tessera_store::{StoreError, User, UserId};

use crate::db::{self, DbArgs};
use applications::{ApplicationsCommand, applications};
use devices::{DevicesCommand, devices};
use policies::{LocationsCommand, PoliciesCommand, locations, policies};
use streams::{StreamsCommand, streams};
use users::{GroupsCommand, UsersCommand, groups, users};

#[derive(Debug, Args)]
pub struct AdminArgs {
    #[command(subcommand)]
    command: AdminCommand,
    /// Print the result as JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(flatten)]
    db: DbArgs,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Users: show, disable, enable, reset a password, set risk, revoke sessions, MFA.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Group membership.
    #[command(subcommand)]
    Groups(GroupsCommand),
    /// Registered devices: compliance, disable, enable, delete.
    #[command(subcommand)]
    Devices(DevicesCommand),
    /// Applications (OAuth clients): list, show, rotate a secret, delete. `tessera apps
    /// create` registers one.
    #[command(subcommand)]
    Applications(ApplicationsCommand),
    /// Named locations (IP ranges) that policies target.
    #[command(subcommand)]
    Locations(LocationsCommand),
    /// Conditional Access policies: list, export, import, what-if, delete.
    #[command(subcommand)]
    Policies(PoliciesCommand),
    /// Sign-in sessions.
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// Shared Signals streams: health, pause, resume, disable.
    #[command(subcommand)]
    Streams(StreamsCommand),
}

#[derive(Debug, Subcommand)]
enum SessionsCommand {
    /// End every session of a user (`session-revoked`).
    Revoke { user: String },
}

/// Finds a user by username, then by id.
async fn find_user(dir: &Directory, name: &str) -> anyhow::Result<User> {
    match dir.store().user_by_username(name).await {
        Ok(u) => return Ok(u),
        Err(StoreError::NotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    match dir.store().user(&UserId(name.to_owned())).await {
        Ok(u) => Ok(u),
        Err(StoreError::NotFound(_)) => bail!("no user {name:?} (give a username or a user id)"),
        Err(e) => Err(e.into()),
    }
}

fn user_json(u: &User) -> serde_json::Value {
    json!({"id": u.id.0, "username": u.username, "email": u.email, "display_name": u.display_name,
           "status": u.status.as_str(), "risk": u.risk.as_str()})
}

/// Prints `text` for people, or `value` with `--json`.
fn report(as_json: bool, text: &str, value: &serde_json::Value) {
    if as_json {
        println!("{value}");
    } else {
        println!("{text}");
    }
}

/// Says that `what` `id` was deleted, for people or with `--json`.
fn deleted(as_json: bool, what: &str, id: &str) {
    report(
        as_json,
        &format!("deleted {what} {id}"),
        &json!({ "deleted": id }),
    );
}

pub fn run(args: AdminArgs) -> anyhow::Result<()> {
    let AdminArgs { command, json, db } = args;
    db::block_on(async move {
        let store = db::open(&db.data_dir, db.database_url.clone()).await?;
        let dir = Directory::new(
            store,
            std::sync::Arc::new(tessera_jose::SystemRandom),
            db.issuer.trim_end_matches('/'),
            db::now(),
            InitiatingEntity::Admin,
        );
        match command {
            AdminCommand::Users(cmd) => users(&dir, cmd, json).await,
            AdminCommand::Groups(cmd) => groups(&dir, cmd, json).await,
            AdminCommand::Devices(cmd) => devices(&dir, cmd, json).await,
            AdminCommand::Applications(cmd) => applications(&dir, cmd, json).await,
            AdminCommand::Locations(cmd) => locations(&dir, cmd, json).await,
            AdminCommand::Policies(cmd) => policies(&dir, cmd, json).await,
            AdminCommand::Sessions(SessionsCommand::Revoke { user }) => {
                users(&dir, UsersCommand::RevokeSessions { user }, json).await
            }
            AdminCommand::Streams(cmd) => streams(&dir, cmd, json).await,
        }
    })
}
