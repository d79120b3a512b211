//! `tessera admin …`: the directory changes an operator makes, from the command line, straight
//! into the database through the same `directory` module as the admin API. Each change writes
//! its CAEP/RISC events with it, so every subscribed API hears of it.
//!
//! A user is named by username or by id. `--json` prints what changed as JSON for scripts.

use std::io::BufRead as _;

use anyhow::bail;
use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;
use tessera_directory::{DevicePatch, Directory, InitiatingEntity, UserPatch, Zeroizing};
use tessera_store::{Compliance, DeviceStatus, RiskLevel, StoreError, User, UserId, UserStatus};

use crate::db::{self, DbArgs};

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
enum ApplicationsCommand {
    /// Every application with its kind, grants and redirect URIs.
    List,
    /// One application in full.
    Show { id: String },
    /// Give a confidential client a new secret (printed once); the old one stops working.
    RotateSecret { id: String },
    /// Delete an application.
    Delete { id: String },
}

#[derive(Debug, Subcommand)]
enum LocationsCommand {
    /// List the named locations.
    List,
    /// Create or replace a named location.
    Set {
        id: String,
        /// A name for people [default: the id].
        #[arg(long)]
        name: Option<String>,
        /// An IPv4 or IPv6 range in CIDR notation (repeat).
        #[arg(long = "range", required = true)]
        ranges: Vec<String>,
        /// Count it as trusted (`AllTrusted` in policies).
        #[arg(long)]
        trusted: bool,
    },
    /// Delete a named location (refused while a policy uses it).
    Delete { id: String },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ClientAppArg {
    Browser,
    Desktop,
}

#[derive(Debug, Subcommand)]
enum PoliciesCommand {
    /// List the policies with their state.
    List,
    /// Print policy documents as JSON (all of them as an array, or one).
    Export { id: Option<String> },
    /// Create or replace policies from a JSON file (`-` for standard input): one policy
    /// document, or an array of them. Every document is parsed before any is written; the
    /// first that the directory refuses stops the import.
    Import { file: std::path::PathBuf },
    /// Which policies would apply to a sign-in, and why; signs no one in.
    WhatIf {
        /// The user (username or id).
        #[arg(long)]
        user: String,
        /// The application's client id.
        #[arg(long)]
        app: String,
        /// The client's address.
        #[arg(long)]
        ip: std::net::IpAddr,
        /// A browser or a desktop/mobile app.
        #[arg(long, value_enum, default_value_t = ClientAppArg::Browser)]
        client_app: ClientAppArg,
        /// A registered device's id.
        #[arg(long)]
        device: Option<String>,
        /// MFA was done already.
        #[arg(long)]
        mfa: bool,
    },
    /// Delete a policy.
    Delete { id: String },
}

#[derive(Debug, Subcommand)]
enum SessionsCommand {
    /// End every session of a user (`session-revoked`).
    Revoke { user: String },
}

#[derive(Debug, Subcommand)]
enum StreamsCommand {
    /// Every stream with its status, delivery, lag and last error.
    List,
    /// Pause a stream: events are kept until it is resumed (`stream-updated`).
    Pause {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Resume a paused or disabled stream.
    Resume { id: String },
    /// Disable a stream: events are dropped until it is enabled again.
    Disable {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Risk {
    None,
    Low,
    Medium,
    High,
}

#[derive(Debug, Subcommand)]
enum UsersCommand {
    /// Show a user with groups, MFA methods and devices.
    Show { user: String },
    /// Stop a user signing in and end every session (`account-disabled`).
    Disable { user: String },
    /// Let a user sign in again (`account-enabled`).
    Enable { user: String },
    /// Set a new password, read from the first line of standard input; ends every session
    /// (`credential-change`).
    ResetPassword { user: String },
    /// Set the user's risk level, which Conditional Access reads (`risk-level-change`).
    SetRisk {
        user: String,
        #[arg(value_enum)]
        level: Risk,
    },
    /// End every session of the user (`session-revoked`).
    RevokeSessions { user: String },
    /// Give the user a TOTP method; prints its secret and otpauth URI once.
    AddTotp {
        user: String,
        /// A name for the method.
        #[arg(long, default_value = "authenticator app")]
        label: String,
    },
    /// Remove an MFA method by id (`credential-change`).
    RemoveMfa { user: String, method: String },
}

#[derive(Debug, Subcommand)]
enum GroupsCommand {
    /// Create a group.
    Create {
        id: String,
        /// Its name [default: the id].
        #[arg(long)]
        name: Option<String>,
    },
    /// Add a user to a group (`token-claims-change`).
    AddMember { group: String, user: String },
    /// Remove a user from a group (`token-claims-change`).
    RemoveMember { group: String, user: String },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ComplianceArg {
    Compliant,
    NotCompliant,
}

#[derive(Debug, Subcommand)]
enum DevicesCommand {
    /// Mark a device compliant or not (`device-compliance-change`).
    SetCompliance {
        device: String,
        #[arg(value_enum)]
        compliance: ComplianceArg,
    },
    /// Disable a device: its sessions end and it no longer satisfies token protection.
    Disable { device: String },
    /// Enable a device again.
    Enable { device: String },
    /// Delete a device.
    Delete { device: String },
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

async fn patch_user(dir: &Directory, user: &User, patch: UserPatch) -> anyhow::Result<User> {
    dir.update_user(&user.id, &patch)
        .await
        .map_err(crate::apps::explain)
}

async fn users(dir: &Directory, cmd: UsersCommand, as_json: bool) -> anyhow::Result<()> {
    match cmd {
        UsersCommand::Show { user } => {
            let u = find_user(dir, &user).await?;
            let groups = dir.store().groups_of(&u.id).await?;
            let methods = dir.store().mfa_methods_of(&u.id).await?;
            let devices = dir.store().devices_of(&u.id).await?;
            let mut value = user_json(&u);
            value["groups"] = groups.iter().map(|g| g.0.clone()).collect();
            value["mfa_methods"] = methods
                .iter()
                .map(|m| json!({"id": m.id, "kind": m.kind.as_str(), "label": m.label}))
                .collect();
            value["devices"] = devices
                .iter()
                .map(|d| {
                    json!({"id": d.id, "name": d.display_name, "platform": d.platform,
                                "compliance": d.compliance.as_str(), "status": d.status.as_str(),
                                "key_protection": d.key_protection.as_str(), "key_attestation": d.key_attestation})
                })
                .collect();
            let mut text = format!(
                "{} ({})\n  status    {}\n  risk      {}\n  email     {}\n  groups    {}",
                u.username,
                u.id.0,
                u.status.as_str(),
                u.risk.as_str(),
                u.email.as_deref().unwrap_or("-"),
                if groups.is_empty() {
                    "-".to_owned()
                } else {
                    groups.iter().map(|g| g.0.as_str()).collect::<Vec<_>>().join(", ")
                }
            );
            for m in &methods {
                text.push_str(&format!(
                    "\n  mfa       {} {} ({})",
                    m.id,
                    m.kind.as_str(),
                    m.label
                ));
            }
            for d in &devices {
                text.push_str(&format!(
                    "\n  device    {} {} {} {} key {} {}",
                    d.id,
                    d.platform,
                    d.compliance.as_str(),
                    d.status.as_str(),
                    key_protection_text(d),
                    d.display_name
                ));
            }
            report(as_json, &text, &value);
        }
        UsersCommand::Disable { user } => {
            let u = find_user(dir, &user).await?;
            let patch = UserPatch {
                status: Some(UserStatus::Disabled),
                ..UserPatch::default()
            };
            let u = patch_user(dir, &u, patch).await?;
            report(
                as_json,
                &format!("disabled {}; every session ended", u.username),
                &user_json(&u),
            );
        }
        UsersCommand::Enable { user } => {
            let u = find_user(dir, &user).await?;
            let patch = UserPatch {
                status: Some(UserStatus::Enabled),
                ..UserPatch::default()
            };
            let u = patch_user(dir, &u, patch).await?;
            report(as_json, &format!("enabled {}", u.username), &user_json(&u));
        }
        UsersCommand::ResetPassword { user } => {
            let u = find_user(dir, &user).await?;
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            let password = Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_owned());
            if password.is_empty() {
                bail!("give the new password on the first line of standard input");
            }
            let patch = UserPatch {
                password: Some(password),
                ..UserPatch::default()
            };
            let u = patch_user(dir, &u, patch).await?;
            report(
                as_json,
                &format!("password of {} reset; every session ended", u.username),
                &user_json(&u),
            );
        }
        UsersCommand::SetRisk { user, level } => {
            let u = find_user(dir, &user).await?;
            let risk = match level {
                Risk::None => RiskLevel::None,
                Risk::Low => RiskLevel::Low,
                Risk::Medium => RiskLevel::Medium,
                Risk::High => RiskLevel::High,
            };
            let patch = UserPatch {
                risk: Some(risk),
                ..UserPatch::default()
            };
            let u = patch_user(dir, &u, patch).await?;
            report(
                as_json,
                &format!("risk of {} is {}", u.username, u.risk.as_str()),
                &user_json(&u),
            );
        }
        UsersCommand::RevokeSessions { user } => {
            let u = find_user(dir, &user).await?;
            let n = dir.revoke_sessions(&u.id).await.map_err(crate::apps::explain)?;
            report(
                as_json,
                &format!(
                    "ended {n} session(s) of {}; tokens issued before now are refused",
                    u.username
                ),
                &json!({"user": u.id.0, "revoked_families": n}),
            );
        }
        UsersCommand::AddTotp { user, label } => {
            let u = find_user(dir, &user).await?;
            let totp = dir.add_totp(&u.id, &label).await.map_err(crate::apps::explain)?;
            report(
                as_json,
                &format!(
                    "added TOTP method {} to {} (shown once, keep it safe)\n  secret  {}\n  uri     {}",
                    totp.method.id,
                    u.username,
                    totp.secret.as_str(),
                    totp.uri.as_str()
                ),
                &json!({"id": totp.method.id, "secret": totp.secret.as_str(), "uri": totp.uri.as_str()}),
            );
        }
        UsersCommand::RemoveMfa { user, method } => {
            let u = find_user(dir, &user).await?;
            dir.remove_mfa_method(&u.id, &method)
                .await
                .map_err(crate::apps::explain)?;
            report(
                as_json,
                &format!("removed MFA method {method} of {}", u.username),
                &json!({"user": u.id.0, "removed": method}),
            );
        }
    }
    Ok(())
}

async fn groups(dir: &Directory, cmd: GroupsCommand, as_json: bool) -> anyhow::Result<()> {
    match cmd {
        GroupsCommand::Create { id, name } => {
            let name = name.unwrap_or_else(|| id.clone());
            let g = dir.create_group(&id, &name).await.map_err(crate::apps::explain)?;
            report(
                as_json,
                &format!("created group {}", g.id.0),
                &json!({"id": g.id.0, "name": g.name}),
            );
        }
        GroupsCommand::AddMember { group, user } => {
            let u = find_user(dir, &user).await?;
            let changed = dir
                .set_membership(&group.as_str().into(), &u.id, true)
                .await
                .map_err(crate::apps::explain)?;
            let text = if changed {
                format!("added {} to {group}", u.username)
            } else {
                format!("{} was already in {group}", u.username)
            };
            report(
                as_json,
                &text,
                &json!({"group": group, "user": u.id.0, "changed": changed}),
            );
        }
        GroupsCommand::RemoveMember { group, user } => {
            let u = find_user(dir, &user).await?;
            let changed = dir
                .set_membership(&group.as_str().into(), &u.id, false)
                .await
                .map_err(crate::apps::explain)?;
            let text = if changed {
                format!("removed {} from {group}", u.username)
            } else {
                format!("{} was not in {group}", u.username)
            };
            report(
                as_json,
                &text,
                &json!({"group": group, "user": u.id.0, "changed": changed}),
            );
        }
    }
    Ok(())
}

/// `software`, `hardware (unattested)`, `hardware (attestation failed: …)` or
/// `attested (TPM 2.0, IFX, firmware 0x…)`.
fn key_protection_text(d: &tessera_store::Device) -> String {
    let a = d.key_attestation.clone().unwrap_or_default();
    let shown = |v: Option<String>| v.unwrap_or_else(|| "?".into());
    match d.key_protection {
        tessera_store::KeyProtection::Software => "software".into(),
        tessera_store::KeyProtection::Hardware if d.key_attestation.is_some() => {
            format!("hardware (attestation failed: {})", shown(a.error))
        }
        tessera_store::KeyProtection::Hardware => "hardware (unattested)".into(),
        tessera_store::KeyProtection::Attested => format!(
            "attested (TPM 2.0, {} {}, firmware {})",
            shown(a.manufacturer),
            shown(a.model),
            shown(a.firmware)
        ),
    }
}

async fn devices(dir: &Directory, cmd: DevicesCommand, as_json: bool) -> anyhow::Result<()> {
    let (device, patch) = match cmd {
        DevicesCommand::Delete { device } => {
            dir.delete_device(&device).await.map_err(crate::apps::explain)?;
            report(
                as_json,
                &format!("deleted device {device}"),
                &json!({"deleted": device}),
            );
            return Ok(());
        }
        DevicesCommand::SetCompliance { device, compliance } => {
            let compliance = match compliance {
                ComplianceArg::Compliant => Compliance::Compliant,
                ComplianceArg::NotCompliant => Compliance::NotCompliant,
            };
            (
                device,
                DevicePatch {
                    compliance: Some(compliance),
                    ..DevicePatch::default()
                },
            )
        }
        DevicesCommand::Disable { device } => (
            device,
            DevicePatch {
                status: Some(DeviceStatus::Disabled),
                ..DevicePatch::default()
            },
        ),
        DevicesCommand::Enable { device } => (
            device,
            DevicePatch {
                status: Some(DeviceStatus::Enabled),
                ..DevicePatch::default()
            },
        ),
    };
    let d = dir
        .update_device(&device, patch)
        .await
        .map_err(crate::apps::explain)?;
    report(
        as_json,
        &format!(
            "device {} ({}): {}, {}, key {}",
            d.id,
            d.display_name,
            d.status.as_str(),
            d.compliance.as_str(),
            key_protection_text(&d)
        ),
        &json!({"id": d.id, "status": d.status.as_str(), "compliance": d.compliance.as_str(), "user_id": d.user_id.0,
                "key_protection": d.key_protection.as_str()}),
    );
    Ok(())
}

async fn locations(dir: &Directory, cmd: LocationsCommand, as_json: bool) -> anyhow::Result<()> {
    match cmd {
        LocationsCommand::List => {
            let all = dir.store().named_locations().await?;
            let items: Vec<_> = all
                .iter()
                .map(|l| json!({"id": l.id, "display_name": l.display_name, "ip_ranges": l.ip_ranges, "trusted": l.trusted}))
                .collect();
            let mut text = format!("{:<20} {:<8} {:<28} ranges", "id", "trusted", "name");
            for l in &all {
                text.push_str(&format!(
                    "\n{:<20} {:<8} {:<28} {}",
                    l.id,
                    if l.trusted { "yes" } else { "no" },
                    l.display_name,
                    l.ip_ranges.join(" ")
                ));
            }
            if all.is_empty() {
                text = "no named locations".into();
            }
            report(as_json, &text, &json!(items));
        }
        LocationsCommand::Set {
            id,
            name,
            ranges,
            trusted,
        } => {
            let spec = tessera_directory::LocationSpec {
                display_name: name.unwrap_or_else(|| id.clone()),
                ip_ranges: ranges,
                trusted,
            };
            let (l, created) = dir.put_location(&id, &spec).await.map_err(crate::apps::explain)?;
            report(
                as_json,
                &format!(
                    "{} location {} ({})",
                    if created { "created" } else { "replaced" },
                    l.id,
                    l.ip_ranges.join(" ")
                ),
                &json!({"id": l.id, "display_name": l.display_name, "ip_ranges": l.ip_ranges, "trusted": l.trusted, "created": created}),
            );
        }
        LocationsCommand::Delete { id } => {
            dir.delete_location(&id).await.map_err(crate::apps::explain)?;
            report(
                as_json,
                &format!("deleted location {id}"),
                &json!({"deleted": id}),
            );
        }
    }
    Ok(())
}

async fn policies(dir: &Directory, cmd: PoliciesCommand, as_json: bool) -> anyhow::Result<()> {
    match cmd {
        PoliciesCommand::List => {
            let all = dir.store().policies().await?;
            let mut text = format!("{:<28} {:<36} name", "id", "state");
            for p in &all {
                text.push_str(&format!(
                    "\n{:<28} {:<36} {}",
                    p.id,
                    p.state,
                    p.document["displayName"].as_str().unwrap_or("")
                ));
            }
            if all.is_empty() {
                text = "no policies".into();
            }
            let items: Vec<_> = all
                .iter()
                .map(|p| json!({"id": p.id, "state": p.state}))
                .collect();
            report(as_json, &text, &json!(items));
        }
        PoliciesCommand::Export { id } => {
            let value = match id {
                Some(id) => dir
                    .store()
                    .policy(&id)
                    .await
                    .map(|p| p.document)
                    .map_err(|e| match e {
                        StoreError::NotFound(_) => {
                            anyhow::anyhow!("no policy {id:?} (see `tessera admin policies list`)")
                        }
                        e => e.into(),
                    })?,
                None => serde_json::Value::Array(
                    dir.store()
                        .policies()
                        .await?
                        .into_iter()
                        .map(|p| p.document)
                        .collect(),
                ),
            };
            println!("{}", serde_json::to_string_pretty(&value)?);
        }
        PoliciesCommand::Import { file } => {
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&file)
                    .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?
            };
            let value: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("{} is not JSON: {e}", file.display()))?;
            let documents = match value {
                serde_json::Value::Array(items) => items,
                one => vec![one],
            };
            // Validate every document before writing any.
            let mut ids = Vec::new();
            for (n, doc) in documents.iter().enumerate() {
                let id = doc["id"]
                    .as_str()
                    .ok_or_else(|| anyhow::anyhow!("policy #{n}: it has no \"id\""))?;
                tessera_policy::parse_policy(doc.to_string().as_bytes())
                    .map_err(|e| anyhow::anyhow!("policy {id}: {}: {}", e.path, e.message))?;
                ids.push(id.to_owned());
            }
            let mut written = Vec::new();
            for (id, doc) in ids.iter().zip(documents) {
                let (record, created) = dir
                    .put_policy(id, doc)
                    .await
                    .map_err(|e| anyhow::anyhow!("policy {id}: {}", crate::apps::explain(e)))?;
                written.push(json!({"id": record.id, "state": record.state, "created": created}));
            }
            report(
                as_json,
                &format!(
                    "imported {} polic{} ({}); a running server reads them within 5 seconds",
                    written.len(),
                    if written.len() == 1 { "y" } else { "ies" },
                    ids.join(", ")
                ),
                &json!(written),
            );
        }
        PoliciesCommand::WhatIf {
            user,
            app,
            ip,
            client_app,
            device,
            mfa,
        } => {
            let user = find_user(dir, &user).await?;
            let query: tessera_directory::what_if::WhatIf = serde_json::from_value(json!({
                "user": user.id.0, "application": app, "ip": ip,
                "client_app_type": match client_app {
                    ClientAppArg::Browser => "browser",
                    ClientAppArg::Desktop => "mobileAppsAndDesktopClients",
                },
                "device": device, "mfa": mfa,
            }))?;
            let policies = tessera_directory::access::Policies::default();
            let report_value = tessera_directory::what_if::report(dir.store(), &policies, &query)
                .await
                .map_err(|e| match e {
                    e @ tessera_directory::DirectoryError::Invalid(_) => {
                        anyhow::anyhow!("{e} (see `tessera apps list`, `tessera admin devices`)")
                    }
                    other => anyhow::anyhow!(other),
                })?
                .to_json();
            if as_json {
                println!("{report_value}");
            } else {
                print_what_if(&report_value);
            }
        }
        PoliciesCommand::Delete { id } => {
            dir.delete_policy(&id).await.map_err(crate::apps::explain)?;
            report(as_json, &format!("deleted policy {id}"), &json!({"deleted": id}));
        }
    }
    Ok(())
}

/// The what-if report for people: the outcome, then each policy's result and reasons.
fn print_what_if(report: &serde_json::Value) {
    let decision = &report["decision"];
    println!("outcome: {}", compact(&decision["outcome"]));
    for p in decision["policies"].as_array().into_iter().flatten() {
        println!(
            "  {:<28} {:<22} {}",
            p["id"].as_str().unwrap_or("?"),
            p["result"].as_str().unwrap_or("?"),
            p["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["reason"].as_str())
                .filter(|r| *r != "not configured")
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
}

fn compact(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

async fn streams(dir: &Directory, cmd: StreamsCommand, as_json: bool) -> anyhow::Result<()> {
    let store = dir.store();
    let find = |id: String| async move {
        store
            .stream_health()
            .await?
            .into_iter()
            .find(|h| h.stream.id.0 == id)
            .ok_or_else(|| anyhow::anyhow!("no stream {id:?} (see `tessera admin streams list`)"))
    };
    let (id, status, reason) = match cmd {
        StreamsCommand::List => {
            let now = db::now();
            let all = store.stream_health().await?;
            let items: Vec<_> = all
                .iter()
                .map(|h| tessera_directory::streams::StreamReport::new(h, now))
                .collect();
            let mut text = format!(
                "{:<24} {:<16} {:<9} {:<6} {:>7} {:>8}  last error",
                "id", "receiver", "status", "method", "pending", "lag s"
            );
            for i in &items {
                text.push_str(&format!(
                    "\n{:<24} {:<16} {:<9} {:<6} {:>7} {:>8}  {}",
                    i.id,
                    i.receiver,
                    i.status.as_str(),
                    i.method(),
                    i.pending,
                    i.lag_seconds.map_or_else(|| "-".into(), |l| l.to_string()),
                    i.last_error.as_deref().unwrap_or("")
                ));
            }
            if items.is_empty() {
                text = "no streams".into();
            }
            report(as_json, &text, &json!(items));
            return Ok(());
        }
        StreamsCommand::Pause { id, reason } => (id, tessera_store::StreamStatus::Paused, reason),
        StreamsCommand::Resume { id } => (id, tessera_store::StreamStatus::Enabled, None),
        StreamsCommand::Disable { id, reason } => (id, tessera_store::StreamStatus::Disabled, reason),
    };
    let current = find(id.clone()).await?;
    tessera_directory::streams::set_status(store, &current.stream.id, status, reason.as_deref(), db::now())
        .await?;
    report(
        as_json,
        &format!("stream {id}: {}", status.as_str()),
        &json!({"id": id, "status": status.as_str(), "reason": reason}),
    );
    Ok(())
}

fn application_json(a: &tessera_store::Application) -> serde_json::Value {
    json!({"id": a.id, "name": a.name, "kind": a.kind.as_str(), "grant_types": a.grant_types,
           "redirect_uris": a.redirect_uris, "scopes": a.scopes, "cae_capable": a.cae_capable,
           "require_dpop": a.require_dpop, "access_token_minutes": a.access_token_minutes,
           "refresh_token_days": a.refresh_token_days, "has_jwks": a.jwks.is_some()})
}

async fn applications(dir: &Directory, cmd: ApplicationsCommand, as_json: bool) -> anyhow::Result<()> {
    let missing = |id: &str| anyhow::anyhow!("no application {id:?} (see `tessera admin applications list`)");
    match cmd {
        ApplicationsCommand::List => {
            let all = dir.store().applications().await?;
            let mut text = format!("{:<24} {:<13} {:<40} redirect URIs", "id", "kind", "grants");
            for a in &all {
                text.push_str(&format!(
                    "\n{:<24} {:<13} {:<40} {}",
                    a.id,
                    a.kind.as_str(),
                    a.grant_types.join(","),
                    a.redirect_uris.join(" ")
                ));
            }
            if all.is_empty() {
                text = "no applications (register one with `tessera apps create`)".into();
            }
            let items: Vec<_> = all.iter().map(application_json).collect();
            report(as_json, &text, &json!(items));
        }
        ApplicationsCommand::Show { id } => {
            let a = dir.store().application(&id).await.map_err(|e| match e {
                StoreError::NotFound(_) => missing(&id),
                e => e.into(),
            })?;
            let value = application_json(&a);
            let text = serde_json::to_string_pretty(&value)?;
            report(as_json, &text, &value);
        }
        ApplicationsCommand::RotateSecret { id } => {
            let secret = dir.rotate_secret(&id).await.map_err(crate::apps::explain)?;
            report(
                as_json,
                &format!(
                    "client secret of {id} (shown once, keep it safe): {}",
                    secret.as_str()
                ),
                &json!({"id": id, "client_secret": secret.as_str()}),
            );
        }
        ApplicationsCommand::Delete { id } => {
            dir.delete_application(&id).await.map_err(crate::apps::explain)?;
            report(
                as_json,
                &format!("deleted application {id}"),
                &json!({"deleted": id}),
            );
        }
    }
    Ok(())
}
