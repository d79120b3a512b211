//! `tessera admin applications …`: applications (OAuth clients); `tessera apps create`
//! registers one.

use clap::Subcommand;
use serde_json::json;
use tessera_directory::Directory;
use tessera_store::StoreError;

use super::{deleted, report};

#[derive(Debug, Subcommand)]
pub(super) enum ApplicationsCommand {
    /// Every application with its kind, grants and redirect URIs.
    List,
    /// One application in full.
    Show { id: String },
    /// Give a confidential client a new secret (printed once); the old one stops working.
    RotateSecret { id: String },
    /// Delete an application.
    Delete { id: String },
}

pub(super) fn application_json(a: &tessera_store::Application) -> serde_json::Value {
    json!({"id": a.id, "name": a.name, "kind": a.kind.as_str(), "grant_types": a.grant_types,
           "redirect_uris": a.redirect_uris, "scopes": a.scopes, "cae_capable": a.cae_capable,
           "require_dpop": a.require_dpop,
           "require_pushed_authorization_requests": a.require_pushed_authorization_requests,
           "backchannel_logout_uri": a.backchannel_logout_uri, "fapi2": a.fapi2,
           "access_token_minutes": a.access_token_minutes,
           "refresh_token_days": a.refresh_token_days, "has_jwks": a.jwks.is_some()})
}

pub(super) async fn applications(
    dir: &Directory,
    cmd: ApplicationsCommand,
    as_json: bool,
) -> anyhow::Result<()> {
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
            deleted(as_json, "application", &id);
        }
    }
    Ok(())
}
