//! `tessera admin users …` and `tessera admin groups …`: users and group membership.

use std::io::BufRead as _;

use anyhow::bail;
use clap::{Subcommand, ValueEnum};
use serde_json::json;
use tessera_directory::{Directory, UserPatch, Zeroizing};
use tessera_store::{RiskLevel, User, UserStatus};

use super::devices::key_protection_text;
use super::{find_user, report, user_json};

#[derive(Debug, Subcommand)]
pub(super) enum UsersCommand {
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

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum Risk {
    None,
    Low,
    Medium,
    High,
}

#[derive(Debug, Subcommand)]
pub(super) enum GroupsCommand {
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

pub(super) async fn patch_user(dir: &Directory, user: &User, patch: UserPatch) -> anyhow::Result<User> {
    dir.update_user(&user.id, &patch)
        .await
        .map_err(crate::apps::explain)
}

pub(super) async fn users(dir: &Directory, cmd: UsersCommand, as_json: bool) -> anyhow::Result<()> {
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

pub(super) async fn groups(dir: &Directory, cmd: GroupsCommand, as_json: bool) -> anyhow::Result<()> {
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
