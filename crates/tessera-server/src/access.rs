//! Conditional Access at a request: the policies evaluated for a sign-in or token request (the
//! inputs come from [`tessera_directory::access`]), and the sign-in log entry written through
//! the store's group commit ([`tessera_store::GroupCommit`]).

use std::sync::Arc;

use tessera_directory::access::{Attempt, LogEntry, context, outcome_label};
use tessera_policy::{Decision, PolicySet};
use tessera_store::Committed;

use crate::error::OAuthError;
use crate::state::AppState;

/// Evaluates the policies for `attempt`.
///
/// # Errors
/// `server_error` (or `temporarily_unavailable`) from the store: evaluation fails closed.
pub async fn evaluate(
    state: &AppState,
    attempt: &Attempt<'_>,
) -> Result<(Decision, Arc<PolicySet>), OAuthError> {
    let set = state.policies.current(state.store.as_ref()).await?;
    let ctx = context(state.store.as_ref(), attempt).await?;
    let decision = set.evaluate(&ctx);
    state.telemetry.policy_outcome(outcome_label(&decision));
    Ok((decision, set))
}

/// Writes a sign-in log entry, with the explained decision when there was one, and waits for
/// its commit. A failure to write is logged and does not fail the sign-in (the decision was
/// already made).
pub async fn log(state: &AppState, entry: &LogEntry<'_>, decision: Option<(&Decision, &PolicySet)>) {
    log_queued(state, entry, decision).await.wait().await;
}

/// Hands a sign-in log entry to the writer without waiting for its commit: the request waits
/// for the returned handle, or for a later write of its own (see [`tessera_store::GroupCommit`]).
pub async fn log_queued(
    state: &AppState,
    entry: &LogEntry<'_>,
    decision: Option<(&Decision, &PolicySet)>,
) -> Committed {
    let id = match tessera_jose::random::random_id::<16>(state.rng.as_ref()) {
        Ok(id) => id,
        Err(e) => {
            tracing::error!(%e, "no randomness for a sign-in log id");
            return Committed::default();
        }
    };
    match entry.record(id, state.now(), decision) {
        Ok(record) => state.writes.sign_in(record).await,
        Err(e) => {
            tracing::error!(%e, "could not write a sign-in log entry's report");
            Committed::default()
        }
    }
}
