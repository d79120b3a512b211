//! `tessera admin locations …` and `tessera admin policies …`: named locations, Conditional
//! Access policies (export, import) and what-if.

use clap::{Subcommand, ValueEnum};
use serde_json::json;
use tessera_directory::Directory;
use tessera_store::StoreError;

use super::{deleted, find_user, report};

#[derive(Debug, Subcommand)]
pub(super) enum LocationsCommand {
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

#[derive(Debug, Subcommand)]
pub(super) enum PoliciesCommand {
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

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum ClientAppArg {
    Browser,
    Desktop,
}

pub(super) async fn locations(dir: &Directory, cmd: LocationsCommand, as_json: bool) -> anyhow::Result<()> {
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
            deleted(as_json, "location", &id);
        }
    }
    Ok(())
}

pub(super) async fn policies(dir: &Directory, cmd: PoliciesCommand, as_json: bool) -> anyhow::Result<()> {
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
            deleted(as_json, "policy", &id);
        }
    }
    Ok(())
}

/// The what-if report for people: the outcome, then each policy's result and reasons.
pub(super) fn print_what_if(report: &serde_json::Value) {
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

pub(super) fn compact(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
