//! Group commit for the token endpoint's writes: sign-in log entries and refresh-token
//! rotations. Each request hands its write to one writer task and waits until it is committed,
//! so nothing is lost on a crash; the writer commits whatever has queued up meanwhile in one
//! transaction, so under load a few dozen requests cost one turn at the database's writer (one
//! commit, one connection checked out of the pool) instead of one each.
//!
//! The queue is first in, first out and one task commits it in order: once a write is
//! committed, so is everything the same request queued before it. A refresh queues its sign-in
//! log entry without waiting and then waits only for its rotation.

use std::sync::{Arc, OnceLock};

use tessera_store::{Family, Rotate, SignInLog, Store, Timestamp};
use tokio::sync::{mpsc, oneshot};

/// Writes committed together at most.
const MAX_BATCH: usize = 256;
/// Writes that may wait for the writer before requests wait to hand theirs over.
const QUEUE: usize = 4096;

/// A rotation to commit (see [`tessera_store::TokenRepo::rotate`]).
#[derive(Debug)]
pub struct Rotation {
    /// Hash of the presented refresh token.
    pub presented: Vec<u8>,
    /// Hash of the token that replaces it.
    pub next: Vec<u8>,
    /// Now.
    pub now: Timestamp,
    /// When the family expires after this rotation.
    pub expires_at: Timestamp,
}

enum Write {
    SignIn(SignInLog, oneshot::Sender<Result<(), String>>),
    Rotate(Rotation, oneshot::Sender<Result<Option<Family>, String>>),
}

/// A sign-in log entry handed to the writer; [`Committed::wait`] waits for its commit.
#[derive(Debug, Default)]
#[must_use = "wait for the entry, or for a later write of the same request"]
pub struct Committed(Option<oneshot::Receiver<Result<(), String>>>);

impl Committed {
    /// Waits until the entry is committed. A failure is logged, not returned: the decision the
    /// entry records was already made.
    pub async fn wait(self) {
        let Some(receiver) = self.0 else { return };
        match receiver.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(%e, "could not write the sign-in log"),
            Err(_) => tracing::error!("the sign-in log writer has stopped"),
        }
    }
}

/// The group-commit writer of one server.
pub struct GroupCommit {
    store: Arc<dyn Store>,
    queue: OnceLock<mpsc::Sender<Write>>,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").finish_non_exhaustive()
    }
}

impl GroupCommit {
    /// A writer into `store`; its task starts with the first write.
    #[must_use]
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            queue: OnceLock::new(),
        }
    }

    fn queue(&self) -> &mpsc::Sender<Write> {
        self.queue.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(QUEUE);
            tokio::spawn(write(self.store.clone(), receiver));
            sender
        })
    }

    /// Hands `entry` to the writer; the returned handle waits for its commit.
    pub async fn sign_in(&self, entry: SignInLog) -> Committed {
        let (done, committed) = oneshot::channel();
        if self.queue().send(Write::SignIn(entry, done)).await.is_err() {
            tracing::error!("the sign-in log writer has stopped");
            return Committed(None);
        }
        Committed(Some(committed))
    }

    /// Commits the happy path of a rotation: the rotated family, or `None` when the presented
    /// token was not swapped ([`tessera_store::TokenRepo::rotate`] then says why).
    ///
    /// # Errors
    /// The store's error, as text.
    pub async fn rotate(&self, rotation: Rotation) -> Result<Option<Family>, String> {
        let (done, rotated) = oneshot::channel();
        self.queue()
            .send(Write::Rotate(rotation, done))
            .await
            .map_err(|_| "the token writer has stopped".to_owned())?;
        rotated
            .await
            .map_err(|_| "the token writer has stopped".to_owned())?
    }
}

/// The writer task: takes what has queued, commits it, tells each request; ends when the
/// server (every sender) is gone.
async fn write(store: Arc<dyn Store>, mut receiver: mpsc::Receiver<Write>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let mut entries = Vec::new();
        let mut logged = Vec::new();
        let mut rotations = Vec::new();
        let mut rotating = Vec::new();
        for w in batch.drain(..) {
            match w {
                Write::SignIn(entry, done) => {
                    entries.push(entry);
                    logged.push(done);
                }
                Write::Rotate(rotation, done) => {
                    rotations.push(rotation);
                    rotating.push(done);
                }
            }
        }
        let borrowed: Vec<Rotate<'_>> = rotations
            .iter()
            .map(|r| Rotate {
                presented: &r.presented,
                next: &r.next,
                now: r.now,
                expires_at: r.expires_at,
            })
            .collect();
        let result = store.commit_group(&entries, &borrowed).await;
        tracing::trace!(
            entries = entries.len(),
            rotations = rotations.len(),
            "group committed"
        );
        match result {
            Ok(families) => {
                for (done, family) in rotating.into_iter().zip(families) {
                    let _ = done.send(Ok(family));
                }
                for done in logged {
                    let _ = done.send(Ok(()));
                }
            }
            Err(e) => {
                let e = e.to_string();
                for done in rotating {
                    let _ = done.send(Err(e.clone()));
                }
                for done in logged {
                    let _ = done.send(Err(e.clone()));
                }
            }
        }
    }
}
