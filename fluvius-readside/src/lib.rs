//! The read side of Fluvius: catch-up subscriptions over the global log, projections whose
//! state is written together with their checkpoint, read-your-writes waits, and event handlers
//! for side effects with retries and poison isolation.
//!
//! A [`Subscription`] reads the log of a backend from a [`Consumer`]'s checkpoint, in pages, and
//! hands each page over; it never skips ahead on a timer (the backend's cursor already makes the
//! log gap-free), wakes on the backend's commit signal, and polls as the safety net. Consumers:
//!
//! | consumer | state | checkpoint | effect of an event |
//! |---|---|---|---|
//! | [`MapProjection`] | a typed map in memory | beside the map, same lock | exactly once |
//! | `postgres::PgProjection` (feature `postgres`) | the user's tables | `fluvius.checkpoints`, same transaction | exactly once |
//! | [`Checkpointed`] around a [`Subscriber`] | the subscriber's | a [`CheckpointStore`], after the batch | at least once |
//! | [`Handled`] around an [`EventHandler`] | side effects | a [`CheckpointStore`] | at least once; retries, then parks the stream key |
//!
//! A PostgreSQL projection is rebuilt into a new version without read downtime by
//! `postgres::PgRebuild`. Lag, the horizon's age, parked keys and lease changes are reported
//! in [`Progress`] and through the `metrics` facade ([`metric`] names them).
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use fluvius_core::{Backend, CommitBatch, EventEnvelope, EventMetadata, ExpectedVersion,
//!     StateDoc, StateWrite, StreamKey, StreamWrite};
//! use fluvius_memory::MemBackend;
//! use fluvius_readside::{MapProjection, Subscription};
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! struct Deposited { amount: i64 }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let backend = Arc::new(MemBackend::new());
//! let totals = MapProjection::<String, i64>::new("totals")
//!     .on("deposit-made", |map, data: Deposited, event| {
//!         map.update(event.identifier.clone(), 0, |total| *total += data.amount);
//!         Ok(())
//!     });
//! let handle = Subscription::new(backend.clone()).spawn(totals.clone())?;
//!
//! // A write, as a domain would commit it.
//! let key = StreamKey { tenant: String::new(), namespace: "bank".into(),
//!     resource: "account".into(), id: "a-1".into() };
//! let now = chrono::Utc::now();
//! let event = EventEnvelope::new(&key, 1, "deposit-made", 1,
//!     serde_json::json!({"amount": 5}), EventMetadata::default(), now);
//! let state = StateWrite::new(1, StateDoc::Json(serde_json::json!({})), false, now, now, None);
//! let receipt = backend.commit(CommitBatch::single(StreamWrite::new(
//!     key, ExpectedVersion::NoStream, vec![event], state, Vec::new()))).await?;
//!
//! // Read-your-writes: wait (bounded) until the projection has passed the commit.
//! handle.wait_for(receipt.cursor(), Duration::from_secs(5)).await?;
//! assert_eq!(totals.get(&"a-1".to_string()), Some(5));
//! handle.stop().await;
//! # Ok(())
//! # }
//! ```

mod checkpoint;
mod consumer;
mod decode;
mod error;
mod handler;
mod lease;
pub mod metric;
mod outbox;
mod park;
mod projection;
mod queue;
mod subscriber;
mod subscription;
mod worker;

#[cfg(feature = "postgres")]
pub mod postgres;

pub use checkpoint::{CheckpointStore, MemCheckpoints};
pub use consumer::{Batch, Consumer};
pub use decode::decode;
pub use error::{MAX_NAME_LEN, ReadsideError};
pub use handler::{EventHandler, Handled, ParkedAdmin, Retry};
pub use lease::{Fence, LeaseStore, MemLeases};
pub use outbox::{
    DEFAULT_DELIVERY_TIMEOUT, DEFAULT_RELAY_LEASE, DEFAULT_RELAY_POLL, Deliver, OutboxAdmin,
    OutboxRelay, RelayHandle,
};
pub use park::{MemParkStore, ParkStore, ParkedEvent, Request, SkippedEvent};
pub use projection::{MapProjection, MapView};
pub use queue::{
    CommandQueue, DEFAULT_QUEUE_LEASE, DEFAULT_QUEUE_POLL, MemCommandQueue, QueueOutcome,
    QueueRunner, QueueRunnerHandle, QueueStatus, QueueTarget, QueuedCommand, wait_for_command,
};
pub use subscriber::{Checkpointed, Subscriber};
pub use subscription::{
    DEFAULT_BATCH, DEFAULT_LAG_EVERY, DEFAULT_POLL, MAX_BATCH, Progress, Subscription,
    SubscriptionHandle, wait_for_checkpoint,
};
pub use worker::{DEFAULT_LEASE_TTL, MIN_LEASE_TTL, Worker, WorkerHandle};
