//! Group commit for the token endpoint's writes: sign-in log entries and refresh-token
//! rotations. Each request hands its write over and waits until it is committed, so nothing is
//! lost on a crash; one task commits whatever has queued up meanwhile in one transaction
//! ([`crate::SignInLogRepo::commit_group`]), so under load a few dozen requests cost one turn
//! at the database's writer (one commit, one connection) instead of one each.
//!
//! The queue is first in, first out and one task commits it in order: once a write is
//! committed, so is everything the same request queued before it. A refresh queues its sign-in
//! log entry without waiting ([`GroupCommit::sign_in`]) and then waits only for its rotation.
//!
//! A batch that fails is rolled back whole, and each of its writes is then committed alone, so
//! every error a request sees is its own. A database that cannot be reached is reported to every
//! write of the batch at once.

use std::sync::Arc;

use crate::batch::{Batcher, Outcome, Pending};
use crate::{Family, Result, Rotate, SignInLog, Store, StoreError, Timestamp};

/// Writes committed together at most.
const MAX_BATCH: usize = 256;

/// One write handed to the writer.
enum Write {
    SignIn(SignInLog),
    Rotate(OwnedRotate),
}

/// A [`Rotate`] that owns its hashes, to wait in the queue.
struct OwnedRotate {
    presented: Vec<u8>,
    next: Vec<u8>,
    now: Timestamp,
    expires_at: Timestamp,
}

impl OwnedRotate {
    fn borrow(&self) -> Rotate<'_> {
        Rotate {
            presented: &self.presented,
            next: &self.next,
            now: self.now,
            expires_at: self.expires_at,
        }
    }
}

/// A write's answer: for a rotation, the rotated family, or `None` when the presented token was
/// not swapped; for a sign-in log entry, `None`.
type Answer = Result<Option<Family>>;

/// The group-commit writer over one store.
pub struct GroupCommit {
    writes: Batcher<Write, Answer>,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").finish_non_exhaustive()
    }
}

impl GroupCommit {
    /// A writer into `store`. Its task starts with the first write, on that write's runtime,
    /// and ends when the writer is dropped or that runtime stops.
    #[must_use]
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            writes: Batcher::new("group commit", MAX_BATCH, move |writes| {
                let store = store.clone();
                async move { commit(store.as_ref(), writes).await }
            }),
        }
    }

    /// Hands `entry` to the writer; the returned handle waits for its commit.
    pub async fn sign_in(&self, entry: SignInLog) -> Committed {
        Committed(self.writes.submit(Write::SignIn(entry)).await)
    }

    /// Commits the happy path of a rotation: the rotated family, or `None` when the presented
    /// token was not swapped ([`crate::TokenRepo::rotate`] then says why).
    ///
    /// # Errors
    /// The store's error for this rotation; [`StoreError::Unavailable`] when the database could
    /// not be reached or the writer has stopped.
    pub async fn rotate(&self, rotate: &Rotate<'_>) -> Result<Option<Family>> {
        let write = Write::Rotate(OwnedRotate {
            presented: rotate.presented.to_vec(),
            next: rotate.next.to_vec(),
            now: rotate.now,
            expires_at: rotate.expires_at,
        });
        answer(self.writes.call(write).await)
    }
}

/// A sign-in log entry handed to the writer; [`Committed::wait`] waits for its commit.
#[derive(Debug)]
#[must_use = "wait for the entry, or for a later write of the same request"]
pub struct Committed(Pending<Answer>);

impl Default for Committed {
    /// A handle with nothing to wait for (the entry could not even be made).
    fn default() -> Self {
        Self(Pending::none())
    }
}

impl Committed {
    /// Waits until the entry is committed. A failure is logged, not returned: the decision the
    /// entry records was already made.
    pub async fn wait(self) {
        if self.0.is_none() {
            return;
        }
        if let Err(e) = answer(self.0.wait().await) {
            tracing::error!(%e, "could not write the sign-in log");
        }
    }
}

fn answer(outcome: Outcome<Answer>) -> Answer {
    match outcome {
        Outcome::Answered(answer) => answer,
        Outcome::Unreachable => Err(StoreError::unavailable("the database did not answer in time")),
        Outcome::RunAlone => Err(StoreError::unavailable("the writer has stopped")),
    }
}

/// Commits `writes` in one transaction, or, when that fails for another reason than an
/// unreachable database, each alone.
async fn commit(store: &dyn Store, writes: Vec<Write>) -> Result<Vec<Answer>> {
    // Which of the writes, in order, are rotations.
    let mut is_rotation = Vec::with_capacity(writes.len());
    let mut entries = Vec::new();
    let mut owned = Vec::new();
    for w in writes {
        is_rotation.push(matches!(w, Write::Rotate(_)));
        match w {
            Write::SignIn(entry) => entries.push(entry),
            Write::Rotate(r) => owned.push(r),
        }
    }
    let rotations: Vec<Rotate<'_>> = owned.iter().map(OwnedRotate::borrow).collect();
    let (logged, rotated): (Vec<Result<()>>, Vec<Answer>) = match store
        .commit_group(&entries, &rotations)
        .await
    {
        Ok(families) => (
            entries.iter().map(|_| Ok(())).collect(),
            families.into_iter().map(Ok).collect(),
        ),
        Err(e @ StoreError::Unavailable(_)) => return Err(e),
        Err(e) => {
            tracing::warn!(%e, writes = is_rotation.len(), "a group commit failed; each write is committed alone");
            let mut logged = Vec::with_capacity(entries.len());
            for entry in &entries {
                logged.push(store.append_sign_in(entry).await);
            }
            let mut rotated = Vec::with_capacity(rotations.len());
            for rotation in &rotations {
                rotated.push(
                    store
                        .commit_group(&[], std::slice::from_ref(rotation))
                        .await
                        .map(|families| families.into_iter().next().flatten()),
                );
            }
            (logged, rotated)
        }
    };
    let (mut logged, mut rotated) = (logged.into_iter(), rotated.into_iter());
    Ok(is_rotation
        .into_iter()
        .map(|rotation| {
            if rotation {
                rotated.next().unwrap_or(Ok(None))
            } else {
                logged.next().unwrap_or(Ok(())).map(|()| None)
            }
        })
        .collect())
}
