//! `tessera admin streams …`: Shared Signals streams' health, and pausing, resuming or
//! disabling one.

use clap::Subcommand;
use serde_json::json;
use tessera_directory::Directory;

use super::report;
use crate::db;

#[derive(Debug, Subcommand)]
pub(super) enum StreamsCommand {
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

pub(super) async fn streams(dir: &Directory, cmd: StreamsCommand, as_json: bool) -> anyhow::Result<()> {
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
