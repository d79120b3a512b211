//! Requests for one statement, taken together. While a batch is at the database the next
//! requests queue; they go as the next batch, in one statement over arrays. Under load a few
//! dozen requests then cost one round trip, one execution and one pooled connection instead of
//! one each; a request that finds nothing queued costs what it would alone.
//!
//! A batch that fails answers nobody: each of its requests runs alone, so every error a caller
//! sees is its own, typed as ever.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use tokio::sync::{mpsc, oneshot};

/// Requests in one statement at most.
const MAX_BATCH: usize = 128;
/// Requests that may queue before callers wait to hand theirs over.
const QUEUE: usize = 4096;

type Answer<R> = oneshot::Sender<R>;
type Run<T, R> =
    Arc<dyn Fn(Vec<T>) -> Pin<Box<dyn Future<Output = crate::Result<Vec<R>>> + Send>> + Send + Sync>;

/// Batches requests of type `T` into one statement that answers each with an `R`, in order.
pub(super) struct Batcher<T, R> {
    what: &'static str,
    run: Run<T, R>,
    queue: OnceLock<mpsc::Sender<(T, Answer<R>)>>,
}

impl<T, R> std::fmt::Debug for Batcher<T, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher")
            .field("what", &self.what)
            .finish_non_exhaustive()
    }
}

impl<T: Send + 'static, R: Send + 'static> Batcher<T, R> {
    /// A batcher whose statement is `run`: given the requests in order, it answers each, in the
    /// same order. Its task starts with the first request, on that request's runtime.
    pub(super) fn new<F>(what: &'static str, run: impl Fn(Vec<T>) -> F + Send + Sync + 'static) -> Self
    where
        F: Future<Output = crate::Result<Vec<R>>> + Send + 'static,
    {
        Self {
            what,
            run: Arc::new(move |items| Box::pin(run(items))),
            queue: OnceLock::new(),
        }
    }

    /// The answer to `item` from the next batch; `None` when that batch failed (or the
    /// batcher's task has ended with its runtime): the caller then runs the request alone.
    pub(super) async fn call(&self, item: T) -> Option<R> {
        let queue = self.queue.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(QUEUE);
            tokio::spawn(serve(self.what, self.run.clone(), receiver));
            sender
        });
        let (answer, answered) = oneshot::channel();
        queue.send((item, answer)).await.ok()?;
        answered.await.ok()
    }
}

/// The batcher's task: takes what has queued, runs it, answers each request; ends when the
/// batcher (every sender) is gone.
async fn serve<T, R>(what: &'static str, run: Run<T, R>, mut receiver: mpsc::Receiver<(T, Answer<R>)>) {
    let mut queued = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut queued, MAX_BATCH).await > 0 {
        let (items, answers): (Vec<T>, Vec<Answer<R>>) = queued.drain(..).unzip();
        let n = items.len();
        match run(items).await {
            Ok(results) if results.len() == n => {
                for (answer, result) in answers.into_iter().zip(results) {
                    // A caller that has gone away (its request was cancelled) needs no answer.
                    let _ = answer.send(result);
                }
            }
            Ok(results) => tracing::error!(
                what,
                requests = n,
                answers = results.len(),
                "a batched statement answered the wrong number of requests; each runs alone"
            ),
            Err(e) => {
                tracing::warn!(%e, what, requests = n, "a batched statement failed; each request runs alone")
            }
        }
    }
}
