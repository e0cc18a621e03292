//! What a subscription feeds: a [`Consumer`] that takes pages of the log and keeps its own
//! checkpoint, so it can write the checkpoint together with its effects.

use fluvius_core::{BoxFuture, EventEnvelope, LogCursor, LogFilter};

use crate::error::ReadsideError;
use crate::lease::Fence;

/// One page of the log handed to a consumer: the events after `after` up to `next`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Batch {
    /// Where the consumer stood before this batch (its checkpoint).
    pub after: LogCursor,
    /// The matching events with their cursors, in log order (may be empty when the reader only
    /// moved past events its filter does not take).
    pub entries: Vec<(LogCursor, EventEnvelope)>,
    /// Where the consumer stands once it has taken the batch: its new checkpoint.
    pub next: LogCursor,
    /// The lease the subscription runs under, if a worker owns it: every checkpoint write of
    /// the batch must check it in the same transaction (see [`Fence`]).
    pub fence: Option<Fence>,
}

impl Batch {
    /// A batch.
    pub fn new(
        after: LogCursor,
        entries: Vec<(LogCursor, EventEnvelope)>,
        next: LogCursor,
    ) -> Batch {
        Batch {
            after,
            entries,
            next,
            fence: None,
        }
    }

    /// The batch under a lease.
    pub fn fenced(mut self, fence: Option<Fence>) -> Batch {
        self.fence = fence;
        self
    }
}

/// A reader of the log with a checkpoint of its own: a projection, an event handler, or any
/// subscriber wrapped in [`Checkpointed`](crate::Checkpointed).
///
/// The subscription reads pages after [`checkpoint`](Consumer::checkpoint) and calls
/// [`consume`](Consumer::consume) with each; a consumer must move its checkpoint from
/// `batch.after` to `batch.next` when (and only when) it took the batch. A failed `consume` is
/// retried later from the stored checkpoint, never skipped.
pub trait Consumer: Send + Sync + 'static {
    /// The subscription's name: the key of its checkpoint.
    fn name(&self) -> &str;

    /// Which events it wants; the subscription may narrow it further.
    fn filter(&self) -> LogFilter {
        LogFilter::default()
    }

    /// Where it stands now.
    fn checkpoint(&self) -> BoxFuture<'_, Result<LogCursor, ReadsideError>>;

    /// Takes one batch and moves the checkpoint to `batch.next`.
    fn consume<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<(), ReadsideError>>;

    /// Called when the subscription has caught up, before it waits: background work such as
    /// retrying parked events.
    fn idle(&self) -> BoxFuture<'_, Result<(), ReadsideError>> {
        Box::pin(std::future::ready(Ok(())))
    }
}

/// A shared consumer is a consumer: several subscriptions over time (a worker restarting one
/// after it takes the lease again) can feed the same one.
impl<C: Consumer> Consumer for std::sync::Arc<C> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn filter(&self) -> LogFilter {
        (**self).filter()
    }

    fn checkpoint(&self) -> BoxFuture<'_, Result<LogCursor, ReadsideError>> {
        (**self).checkpoint()
    }

    fn consume<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<(), ReadsideError>> {
        (**self).consume(batch)
    }

    fn idle(&self) -> BoxFuture<'_, Result<(), ReadsideError>> {
        (**self).idle()
    }
}
