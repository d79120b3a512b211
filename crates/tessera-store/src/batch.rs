//! Requests for one statement (or one transaction), taken together. While a batch is at the
//! database the next requests queue; they go as the next batch. Under load a few dozen requests
//! then cost one round trip, one commit and one pooled connection instead of one each; a request
//! that finds nothing queued costs what it would alone. PostgreSQL's batched statements over
//! arrays and the group commit of both backends ([`crate::GroupCommit`]) are batchers.
//!
//! A batch that fails answers nobody: each of its requests runs alone, so every error a caller
//! sees is its own, typed as ever. The exception is a database that cannot be reached: the
//! batch waited for a connection as long as a request would have, so each of its requests is
//! told so at once rather than waiting again.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use tokio::sync::{mpsc, oneshot};

/// Requests that may queue before callers wait to hand theirs over.
const QUEUE: usize = 4096;

type Answer<R> = oneshot::Sender<Outcome<R>>;

/// What a request hears back from its batch.
#[derive(Debug)]
pub(crate) enum Outcome<R> {
    /// The statement's answer to it.
    Answered(R),
    /// No answer: the batch failed, so the caller runs the request alone.
    RunAlone,
    /// The database could not be reached in time.
    Unreachable,
}
type Run<T, R> =
    Arc<dyn Fn(Vec<T>) -> Pin<Box<dyn Future<Output = crate::Result<Vec<R>>> + Send>> + Send + Sync>;

/// Batches requests of type `T` into one statement that answers each with an `R`, in order.
pub(crate) struct Batcher<T, R> {
    what: &'static str,
    max: usize,
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
    /// A batcher whose statement is `run`, over at most `max` requests at a time: given the
    /// requests in order, it answers each, in the same order. Its task starts with the first
    /// request, on that request's runtime.
    pub(crate) fn new<F>(
        what: &'static str,
        max: usize,
        run: impl Fn(Vec<T>) -> F + Send + Sync + 'static,
    ) -> Self
    where
        F: Future<Output = crate::Result<Vec<R>>> + Send + 'static,
    {
        Self {
            what,
            max: max.max(1),
            run: Arc::new(move |items| Box::pin(run(items))),
            queue: OnceLock::new(),
        }
    }

    /// The answer to `item` from the next batch, or what to do without one. A batcher whose
    /// task has ended (with its runtime) has the caller run the request alone.
    pub(crate) async fn call(&self, item: T) -> Outcome<R> {
        self.submit(item).await.wait().await
    }

    /// Queues `item` and returns at once; [`Pending::wait`] waits for its answer. Requests are
    /// answered in the order they were queued.
    pub(crate) async fn submit(&self, item: T) -> Pending<R> {
        let queue = self.queue.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(QUEUE);
            tokio::spawn(serve(self.what, self.max, self.run.clone(), receiver));
            sender
        });
        let (answer, answered) = oneshot::channel();
        // A task that has ended drops the request with its answer: the caller hears `RunAlone`.
        let _ = queue.send((item, answer)).await;
        Pending(Some(answered))
    }
}

/// A request handed to a [`Batcher`], not yet answered.
#[derive(Debug)]
pub(crate) struct Pending<R>(Option<oneshot::Receiver<Outcome<R>>>);

impl<R> Pending<R> {
    /// A request that was never queued.
    pub(crate) const fn none() -> Self {
        Self(None)
    }

    /// Whether the request was never queued.
    pub(crate) const fn is_none(&self) -> bool {
        self.0.is_none()
    }

    /// Waits for the answer of the batch the request went in.
    pub(crate) async fn wait(self) -> Outcome<R> {
        match self.0 {
            Some(answered) => answered.await.unwrap_or(Outcome::RunAlone),
            None => Outcome::RunAlone,
        }
    }
}

/// The batcher's task: takes what has queued, runs it, answers each request; ends when the
/// batcher (every sender) is gone.
async fn serve<T, R>(
    what: &'static str,
    max: usize,
    run: Run<T, R>,
    mut receiver: mpsc::Receiver<(T, Answer<R>)>,
) {
    let mut queued = Vec::with_capacity(max);
    while receiver.recv_many(&mut queued, max).await > 0 {
        let (items, answers): (Vec<T>, Vec<Answer<R>>) = queued.drain(..).unzip();
        let n = items.len();
        match run(items).await {
            Ok(results) if results.len() == n => {
                for (answer, result) in answers.into_iter().zip(results) {
                    // A caller that has gone away (its request was cancelled) needs no answer.
                    let _ = answer.send(Outcome::Answered(result));
                }
            }
            Ok(results) => tracing::error!(
                what,
                requests = n,
                answers = results.len(),
                "a batched statement answered the wrong number of requests; each runs alone"
            ),
            Err(crate::StoreError::Unavailable(_)) => {
                for answer in answers {
                    let _ = answer.send(Outcome::Unreachable);
                }
            }
            Err(e) => {
                tracing::warn!(%e, what, requests = n, "a batched statement failed; each request runs alone")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::{Batcher, Outcome};
    use crate::StoreError;

    /// Requests queued while a batch runs go together in the next one, each answered with its
    /// own result.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queued_requests_go_together_and_each_gets_its_answer() {
        let batches = Arc::new(AtomicUsize::new(0));
        let counted = batches.clone();
        let batcher = Arc::new(Batcher::new("test", 128, move |items: Vec<u32>| {
            counted.fetch_add(1, Ordering::Relaxed);
            async move {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                Ok(items.into_iter().map(|n| n * 10).collect::<Vec<_>>())
            }
        }));
        let calls: Vec<_> = (0..50u32)
            .map(|n| {
                let batcher = batcher.clone();
                tokio::spawn(async move { (n, batcher.call(n).await) })
            })
            .collect();
        for call in calls {
            let (n, outcome) = call.await.unwrap();
            assert!(
                matches!(outcome, Outcome::Answered(a) if a == n * 10),
                "{n}: {outcome:?}"
            );
        }
        let batches = batches.load(Ordering::Relaxed);
        assert!(batches < 50, "{batches} batches for 50 requests");
    }

    /// A failed batch, or one that answers the wrong number of requests, has each request run
    /// alone; a database that cannot be reached is reported to each at once.
    #[tokio::test]
    async fn a_failed_batch_has_each_request_run_alone() {
        let failing = Batcher::new("test", 8, |_: Vec<u32>| async {
            Err::<Vec<u32>, _>(StoreError::Invalid("no".into()))
        });
        assert!(matches!(failing.call(1).await, Outcome::RunAlone));
        let short = Batcher::new("test", 8, |_: Vec<u32>| async { Ok(Vec::<u32>::new()) });
        assert!(matches!(short.call(1).await, Outcome::RunAlone));
        let unreachable = Batcher::new("test", 8, |_: Vec<u32>| async {
            Err::<Vec<u32>, _>(StoreError::unavailable("no connection in time"))
        });
        assert!(matches!(unreachable.call(1).await, Outcome::Unreachable));
    }
}
