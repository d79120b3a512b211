//! Writing the sign-in log with group commit. Each request hands its entry to one writer task
//! and waits until the entry is committed, so no entry is lost on a crash; the writer commits
//! whatever has queued up meanwhile in one statement, so under load a few hundred entries cost
//! one commit instead of one each.

use std::sync::{Arc, OnceLock};

use tessera_store::{SignInLog, Store};
use tokio::sync::{mpsc, oneshot};

/// Entries committed together at most.
const MAX_BATCH: usize = 256;
/// Entries that may wait for the writer before requests wait to hand theirs over.
const QUEUE: usize = 4096;

type Pending = (SignInLog, oneshot::Sender<Result<(), String>>);

/// The sign-in log writer of one server.
pub struct SignInLogWriter {
    store: Arc<dyn Store>,
    queue: OnceLock<mpsc::Sender<Pending>>,
}

impl std::fmt::Debug for SignInLogWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInLogWriter").finish_non_exhaustive()
    }
}

impl SignInLogWriter {
    /// A writer into `store`; its task starts with the first entry.
    #[must_use]
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            queue: OnceLock::new(),
        }
    }

    /// Appends `entry` and returns once it is committed.
    ///
    /// # Errors
    /// The store's error, as text.
    pub async fn append(&self, entry: SignInLog) -> Result<(), String> {
        let queue = self.queue.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(QUEUE);
            tokio::spawn(write(self.store.clone(), receiver));
            sender
        });
        let (done, committed) = oneshot::channel();
        queue
            .send((entry, done))
            .await
            .map_err(|_| "the sign-in log writer has stopped".to_owned())?;
        committed
            .await
            .map_err(|_| "the sign-in log writer has stopped".to_owned())?
    }
}

/// The writer task: takes what has queued, commits it, tells each request; ends when the
/// server (every sender) is gone.
async fn write(store: Arc<dyn Store>, mut receiver: mpsc::Receiver<Pending>) {
    let mut entries = Vec::with_capacity(MAX_BATCH);
    let mut waiting = Vec::with_capacity(MAX_BATCH);
    while let Some((entry, done)) = receiver.recv().await {
        entries.push(entry);
        waiting.push(done);
        while entries.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok((entry, done)) => {
                    entries.push(entry);
                    waiting.push(done);
                }
                Err(_) => break,
            }
        }
        let result = store.append_sign_ins(&entries).await.map_err(|e| e.to_string());
        tracing::trace!(size = entries.len(), "sign-in log batch committed");
        for done in waiting.drain(..) {
            let _ = done.send(result.clone());
        }
        entries.clear();
    }
}
