//! The plainest consumer: a [`Subscriber`] that sees every batch, with its checkpoint in a
//! [`CheckpointStore`] written after the batch (at-least-once: a crash between the two hands the
//! batch over again).

use std::sync::Arc;

use fluvius_core::{BoxFuture, EventEnvelope, LogCursor, LogFilter};

use crate::checkpoint::CheckpointStore;
use crate::consumer::{Batch, Consumer};
use crate::error::ReadsideError;

/// Sees the events of a subscription, in log order, a batch at a time.
pub trait Subscriber: Send + Sync + 'static {
    /// Takes a batch of events with their cursors. An error hands the same events over again
    /// later.
    fn handle<'a>(
        &'a self,
        events: &'a [(LogCursor, EventEnvelope)],
    ) -> BoxFuture<'a, Result<(), ReadsideError>>;
}

/// A [`Subscriber`] with its checkpoint in a store: a [`Consumer`] for
/// [`Subscription::spawn`](crate::Subscription::spawn).
#[derive(Debug)]
pub struct Checkpointed<S> {
    name: String,
    store: Arc<dyn CheckpointStore>,
    filter: LogFilter,
    subscriber: S,
}

impl<S: Subscriber> Checkpointed<S> {
    /// `subscriber` under the checkpoint `name` of `store`.
    pub fn new(name: impl Into<String>, store: Arc<dyn CheckpointStore>, subscriber: S) -> Self {
        Checkpointed {
            name: name.into(),
            store,
            filter: LogFilter::default(),
            subscriber,
        }
    }

    /// Only the events passing `filter`.
    pub fn filter(mut self, filter: LogFilter) -> Self {
        self.filter = filter;
        self
    }

    /// The subscriber.
    pub fn subscriber(&self) -> &S {
        &self.subscriber
    }
}

impl<S: Subscriber> Consumer for Checkpointed<S> {
    fn name(&self) -> &str {
        &self.name
    }

    fn filter(&self) -> LogFilter {
        self.filter.clone()
    }

    fn checkpoint(&self) -> BoxFuture<'_, Result<LogCursor, ReadsideError>> {
        Box::pin(async move {
            Ok(self
                .store
                .load(&self.name)
                .await?
                .unwrap_or(LogCursor::START))
        })
    }

    fn consume<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<(), ReadsideError>> {
        Box::pin(async move {
            if !batch.entries.is_empty() {
                self.subscriber.handle(&batch.entries).await?;
            }
            self.store
                .save(&self.name, batch.after, batch.next, batch.fence.as_ref())
                .await
        })
    }
}
