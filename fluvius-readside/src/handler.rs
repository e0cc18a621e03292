//! Event handlers for side effects (notifications, webhooks, calls to other services):
//! at-least-once, retried with backoff and jitter, and a poison event parks only its stream key.
//!
//! The handler's checkpoint moves past an event once it was handled or parked, so one failing
//! stream never holds the others up for more than its retries. Events of a parked key that come
//! later are parked behind it, in order, and handled when an operator retries or skips the first
//! one (see [`ParkedAdmin`]). Nothing is dropped without a record.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use fluvius_core::{BoxFuture, EventEnvelope, LogCursor, LogFilter, StreamKey};
use parking_lot::Mutex;

use crate::checkpoint::CheckpointStore;
use crate::consumer::{Batch, Consumer};
use crate::error::{ReadsideError, check_name};
use crate::park::{ParkStore, ParkedEvent, Request, SkippedEvent};

/// Does the side effect of one event. It may be called more than once for one event (after a
/// failure, or a crash before the checkpoint was stored), so it should be idempotent or
/// tolerate repeats.
pub trait EventHandler: Send + Sync + 'static {
    /// Handles one event; an error is retried, then parks the event's stream key.
    fn handle<'a>(&'a self, event: &'a EventEnvelope) -> BoxFuture<'a, Result<(), ReadsideError>>;
}

/// How often and how patiently a failing event is retried before it is parked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Retry {
    /// Calls in all before parking (at least 1).
    pub attempts: u32,
    /// The pause after the first failure; it doubles after each further one.
    pub base: Duration,
    /// The longest pause.
    pub max: Duration,
}

impl Default for Retry {
    /// 5 calls, pauses of about 50 ms, 100 ms, 200 ms, 400 ms.
    fn default() -> Self {
        Retry {
            attempts: 5,
            base: Duration::from_millis(50),
            max: Duration::from_secs(5),
        }
    }
}

impl Retry {
    /// `attempts` calls, pausing `base`, doubling up to `max`.
    pub fn new(attempts: u32, base: Duration, max: Duration) -> Retry {
        Retry {
            attempts,
            base,
            max,
        }
    }

    /// The pause before call `attempt + 1` (after `attempt` failures), with jitter.
    pub(crate) fn pause(&self, attempt: u32) -> Duration {
        let doubled = self.base.saturating_mul(
            1u32.checked_shl(attempt.saturating_sub(1))
                .unwrap_or(u32::MAX),
        );
        jitter(doubled.min(self.max))
    }
}

/// A pause between half and all of `pause`, at random, so that retries of many failing
/// consumers do not fall into step.
pub(crate) fn jitter(pause: Duration) -> Duration {
    let random = (uuid::Uuid::new_v4().as_u128() & 0xffff) as u32;
    let half = pause / 2;
    half + (pause - half).mul_f64(f64::from(random) / 65_535.0)
}

/// An [`EventHandler`] with its checkpoint, its retry policy and its parked events: a
/// [`Consumer`] for [`Subscription::spawn`](crate::Subscription::spawn).
#[derive(Debug)]
pub struct Handled<H> {
    name: String,
    handler: H,
    checkpoints: Arc<dyn CheckpointStore>,
    parked: Arc<dyn ParkStore>,
    retry: Retry,
    filter: LogFilter,
    /// The stream keys with parked events, loaded from the store on first use; only this
    /// consumer changes it afterwards.
    parked_keys: Mutex<Option<HashSet<StreamKey>>>,
}

fn stream_key(event: &EventEnvelope) -> StreamKey {
    StreamKey {
        tenant: event.tenant.clone(),
        namespace: event.namespace.clone(),
        resource: event.resource.clone(),
        id: event.identifier.clone(),
    }
}

impl<H: EventHandler> Handled<H> {
    /// `handler` named `name`, with its checkpoint in `checkpoints` and its parked events in
    /// `parked`.
    pub fn new(
        name: impl Into<String>,
        handler: H,
        checkpoints: Arc<dyn CheckpointStore>,
        parked: Arc<dyn ParkStore>,
    ) -> Handled<H> {
        Handled {
            name: name.into(),
            handler,
            checkpoints,
            parked,
            retry: Retry::default(),
            filter: LogFilter::default(),
            parked_keys: Mutex::new(None),
        }
    }

    /// The retry policy (default [`Retry::default`]); `attempts` must be at least 1.
    pub fn retry(mut self, retry: Retry) -> Result<Handled<H>, ReadsideError> {
        if retry.attempts == 0 {
            return Err(ReadsideError::Invalid(
                "a handler's retry policy must allow at least 1 attempt".into(),
            ));
        }
        self.retry = retry;
        Ok(self)
    }

    /// Only the events passing `filter`.
    pub fn filter(mut self, filter: LogFilter) -> Handled<H> {
        self.filter = filter;
        self
    }

    /// Lists, retries and skips this handler's parked events.
    pub fn admin(&self) -> ParkedAdmin {
        ParkedAdmin {
            name: self.name.clone(),
            store: Arc::clone(&self.parked),
        }
    }

    /// Calls the handler up to `attempts` times (at least once); the last error and the number
    /// of calls when every one failed.
    async fn attempt(&self, event: &EventEnvelope, attempts: u32) -> Result<(), (String, u32)> {
        let mut calls = 0;
        loop {
            calls += 1;
            match self.handler.handle(event).await {
                Ok(()) => return Ok(()),
                Err(err) if calls >= attempts => return Err((err.to_string(), calls)),
                Err(err) => {
                    tracing::debug!(handler = %self.name, stream = %stream_key(event),
                        version = event.version, attempt = calls, error = %err, "handler failed; retrying");
                    tokio::time::sleep(self.retry.pause(calls)).await;
                }
            }
        }
    }

    async fn keys(&self) -> Result<HashSet<StreamKey>, ReadsideError> {
        if let Some(keys) = self.parked_keys.lock().clone() {
            return Ok(keys);
        }
        let keys: HashSet<StreamKey> = self
            .parked
            .list(&self.name)
            .await?
            .into_iter()
            .map(|p| p.stream)
            .collect();
        self.set_keys(keys.clone());
        Ok(keys)
    }

    fn set_keys(&self, keys: HashSet<StreamKey>) {
        metrics::gauge!(crate::metric::PARKED_KEYS, crate::metric::SUBSCRIPTION => self.name.clone())
            .set(keys.len() as f64);
        *self.parked_keys.lock() = Some(keys);
    }

    async fn take(&self, batch: &Batch) -> Result<(), ReadsideError> {
        let mut keys = self.keys().await?;
        for (cursor, event) in &batch.entries {
            let stream = stream_key(event);
            let failure = if keys.contains(&stream) {
                // Waits behind the key's first parked event.
                Some((None, 0))
            } else {
                match self.attempt(event, self.retry.attempts).await {
                    Ok(()) => None,
                    Err((error, calls)) => Some((Some(error), calls)),
                }
            };
            if let Some((error, attempts)) = failure {
                if let Some(error) = &error {
                    tracing::warn!(handler = %self.name, stream = %stream, version = event.version,
                        attempts, error = %error, "event parked: its stream waits for a retry or a skip");
                }
                self.parked
                    .park(
                        &self.name,
                        ParkedEvent {
                            stream: stream.clone(),
                            cursor: *cursor,
                            event: event.clone(),
                            error,
                            attempts,
                            parked_at: Utc::now(),
                            request: None,
                        },
                    )
                    .await?;
                keys.insert(stream);
                self.set_keys(keys.clone());
            }
        }
        self.checkpoints
            .save(&self.name, batch.after, batch.next, batch.fence.as_ref())
            .await
    }

    /// Carries out the operators' requests: for each parked key asked to be retried or skipped,
    /// handles its parked events in order until one fails again (one attempt each) or none is left.
    async fn serve_requests(&self) -> Result<(), ReadsideError> {
        let parked = self.parked.list(&self.name).await?;
        let mut keys: HashSet<StreamKey> = parked.iter().map(|p| p.stream.clone()).collect();
        let mut i = 0;
        while i < parked.len() {
            let stream = parked[i].stream.clone();
            let end = parked[i..]
                .iter()
                .position(|p| p.stream != stream)
                .map_or(parked.len(), |n| i + n);
            let group = &parked[i..end];
            i = end;
            let Some(request) = group[0].request.clone() else {
                continue;
            };
            let mut rest = group;
            if let Request::Skip(reason) = request {
                tracing::warn!(handler = %self.name, stream = %stream, version = rest[0].event.version,
                    reason = %reason, "parked event skipped");
                self.parked
                    .unpark(&self.name, &stream, rest[0].cursor, Some(reason))
                    .await?;
                rest = &rest[1..];
            }
            let mut cleared = true;
            for p in rest {
                match self.attempt(&p.event, 1).await {
                    Ok(()) => {
                        self.parked
                            .unpark(&self.name, &stream, p.cursor, None)
                            .await?
                    }
                    Err((error, calls)) => {
                        self.parked
                            .failed(&self.name, &stream, p.cursor, error, p.attempts + calls)
                            .await?;
                        cleared = false;
                        break;
                    }
                }
            }
            if cleared {
                keys.remove(&stream);
            }
        }
        self.set_keys(keys);
        Ok(())
    }
}

impl<H: EventHandler> Consumer for Handled<H> {
    fn name(&self) -> &str {
        &self.name
    }

    fn filter(&self) -> LogFilter {
        self.filter.clone()
    }

    fn checkpoint(&self) -> BoxFuture<'_, Result<LogCursor, ReadsideError>> {
        Box::pin(async move {
            Ok(self
                .checkpoints
                .load(&self.name)
                .await?
                .unwrap_or(LogCursor::START))
        })
    }

    fn consume<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<(), ReadsideError>> {
        Box::pin(self.take(batch))
    }

    fn idle(&self) -> BoxFuture<'_, Result<(), ReadsideError>> {
        Box::pin(self.serve_requests())
    }
}

/// The operator's view of one handler's parked events: list them, ask for a retry or a skip
/// (carried out by the handler's subscription when it is next idle), and list what was skipped.
/// Works from any process sharing the park store.
#[derive(Debug, Clone)]
pub struct ParkedAdmin {
    name: String,
    store: Arc<dyn ParkStore>,
}

impl ParkedAdmin {
    /// The admin of handler `name` in `store`.
    pub fn new(
        name: impl Into<String>,
        store: Arc<dyn ParkStore>,
    ) -> Result<ParkedAdmin, ReadsideError> {
        let name = name.into();
        check_name(&name)?;
        Ok(ParkedAdmin { name, store })
    }

    /// Every parked event, by stream key, then in log order.
    pub async fn list(&self) -> Result<Vec<ParkedEvent>, ReadsideError> {
        self.store.list(&self.name).await
    }

    /// Asks for the parked events of `stream` to be handled again, in order.
    pub async fn retry(&self, stream: &StreamKey) -> Result<(), ReadsideError> {
        self.store.request(&self.name, stream, Request::Retry).await
    }

    /// Asks for the first parked event of `stream` to be skipped (recorded with `reason`) and
    /// the ones behind it handled. The reason must not be empty.
    pub async fn skip(&self, stream: &StreamKey, reason: &str) -> Result<(), ReadsideError> {
        if reason.trim().is_empty() {
            return Err(ReadsideError::Invalid(
                "a skip needs a reason: it is recorded with the skipped event".into(),
            ));
        }
        self.store
            .request(&self.name, stream, Request::Skip(reason.to_owned()))
            .await
    }

    /// The skipped events, oldest first.
    pub async fn skipped(&self) -> Result<Vec<SkippedEvent>, ReadsideError> {
        self.store.skipped(&self.name).await
    }
}
