//! Parked events: what an event handler could not handle after its retries, per stream key, so
//! that later events of that key wait behind it while other keys flow, and an operator can see,
//! retry or skip it. A skip is recorded, never silent.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use fluvius_core::{BoxFuture, EventEnvelope, LogCursor, StreamKey};
use parking_lot::Mutex;

use crate::error::ReadsideError;

/// One parked event of a handler. The first of its stream key (in log order) is the one that
/// failed: it carries the error and the attempts; the later ones wait behind it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ParkedEvent {
    /// The event's stream.
    pub stream: StreamKey,
    /// The event's log cursor.
    pub cursor: LogCursor,
    /// The event.
    pub event: EventEnvelope,
    /// The last failure (`None` for an event waiting behind another).
    pub error: Option<String>,
    /// How many times the handler was called on it.
    pub attempts: u32,
    /// When it was parked.
    pub parked_at: DateTime<Utc>,
    /// What an operator asked for, until the handler's subscription does it.
    pub request: Option<Request>,
}

/// What an operator asked of a parked stream key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request {
    /// Call the handler again on the parked events, in order.
    Retry,
    /// Record the first parked event as skipped (with this reason), then handle the rest.
    Skip(String),
}

/// A parked event an operator skipped.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SkippedEvent {
    /// The event's stream.
    pub stream: StreamKey,
    /// The event's log cursor.
    pub cursor: LogCursor,
    /// The event.
    pub event: EventEnvelope,
    /// Its last failure.
    pub error: Option<String>,
    /// How many times the handler was called on it.
    pub attempts: u32,
    /// Why it was skipped.
    pub reason: String,
    /// When.
    pub skipped_at: DateTime<Utc>,
}

/// Where handlers keep their parked and skipped events.
pub trait ParkStore: Send + Sync + Debug + 'static {
    /// Every parked event of handler `name`, by stream key, then in log order.
    fn list<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Vec<ParkedEvent>, ReadsideError>>;

    /// Parks an event (parking the same event twice keeps one).
    fn park<'a>(
        &'a self,
        name: &'a str,
        parked: ParkedEvent,
    ) -> BoxFuture<'a, Result<(), ReadsideError>>;

    /// Records an operator's request on the first parked event of `stream`;
    /// [`ReadsideError::NotParked`] when the key has none.
    fn request<'a>(
        &'a self,
        name: &'a str,
        stream: &'a StreamKey,
        request: Request,
    ) -> BoxFuture<'a, Result<(), ReadsideError>>;

    /// Records another failure of a parked event and clears its request.
    fn failed<'a>(
        &'a self,
        name: &'a str,
        stream: &'a StreamKey,
        cursor: LogCursor,
        error: String,
        attempts: u32,
    ) -> BoxFuture<'a, Result<(), ReadsideError>>;

    /// Removes a parked event: handled at last (`skip` is `None`), or skipped for this reason,
    /// which records it among the skipped events.
    fn unpark<'a>(
        &'a self,
        name: &'a str,
        stream: &'a StreamKey,
        cursor: LogCursor,
        skip: Option<String>,
    ) -> BoxFuture<'a, Result<(), ReadsideError>>;

    /// The events of handler `name` that were skipped, oldest first.
    fn skipped<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Vec<SkippedEvent>, ReadsideError>>;
}

type Parked = BTreeMap<(String, StreamKey, LogCursor), ParkedEvent>;
type Skipped = Vec<(String, SkippedEvent)>;

/// Parked events in memory, shared by clones.
#[derive(Debug, Clone, Default)]
pub struct MemParkStore {
    inner: Arc<Mutex<(Parked, Skipped)>>,
}

impl MemParkStore {
    /// Nothing parked.
    pub fn new() -> MemParkStore {
        MemParkStore::default()
    }
}

fn not_parked(name: &str, stream: &StreamKey) -> ReadsideError {
    ReadsideError::NotParked {
        name: name.to_owned(),
        stream: stream.to_string(),
    }
}

impl ParkStore for MemParkStore {
    fn list<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Vec<ParkedEvent>, ReadsideError>> {
        Box::pin(async move {
            let inner = self.inner.lock();
            Ok(inner
                .0
                .iter()
                .filter(|((n, _, _), _)| n == name)
                .map(|(_, p)| p.clone())
                .collect())
        })
    }

    fn park<'a>(
        &'a self,
        name: &'a str,
        parked: ParkedEvent,
    ) -> BoxFuture<'a, Result<(), ReadsideError>> {
        Box::pin(async move {
            let key = (name.to_owned(), parked.stream.clone(), parked.cursor);
            self.inner.lock().0.entry(key).or_insert(parked);
            Ok(())
        })
    }

    fn request<'a>(
        &'a self,
        name: &'a str,
        stream: &'a StreamKey,
        request: Request,
    ) -> BoxFuture<'a, Result<(), ReadsideError>> {
        Box::pin(async move {
            let mut inner = self.inner.lock();
            let head = inner
                .0
                .iter_mut()
                .find(|((n, s, _), _)| n == name && s == stream)
                .ok_or_else(|| not_parked(name, stream))?;
            head.1.request = Some(request);
            Ok(())
        })
    }

    fn failed<'a>(
        &'a self,
        name: &'a str,
        stream: &'a StreamKey,
        cursor: LogCursor,
        error: String,
        attempts: u32,
    ) -> BoxFuture<'a, Result<(), ReadsideError>> {
        Box::pin(async move {
            let mut inner = self.inner.lock();
            let key = (name.to_owned(), stream.clone(), cursor);
            let parked = inner
                .0
                .get_mut(&key)
                .ok_or_else(|| not_parked(name, stream))?;
            parked.error = Some(error);
            parked.attempts = attempts;
            parked.request = None;
            Ok(())
        })
    }

    fn unpark<'a>(
        &'a self,
        name: &'a str,
        stream: &'a StreamKey,
        cursor: LogCursor,
        skip: Option<String>,
    ) -> BoxFuture<'a, Result<(), ReadsideError>> {
        Box::pin(async move {
            let mut inner = self.inner.lock();
            let key = (name.to_owned(), stream.clone(), cursor);
            let parked = inner
                .0
                .remove(&key)
                .ok_or_else(|| not_parked(name, stream))?;
            if let Some(reason) = skip {
                inner.1.push((
                    name.to_owned(),
                    SkippedEvent {
                        stream: parked.stream,
                        cursor: parked.cursor,
                        event: parked.event,
                        error: parked.error,
                        attempts: parked.attempts,
                        reason,
                        skipped_at: Utc::now(),
                    },
                ));
            }
            Ok(())
        })
    }

    fn skipped<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Vec<SkippedEvent>, ReadsideError>> {
        Box::pin(async move {
            Ok(self
                .inner
                .lock()
                .1
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, s)| s.clone())
                .collect())
        })
    }
}
