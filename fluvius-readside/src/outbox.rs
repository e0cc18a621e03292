//! The outbox relay: delivers the messages actions and handlers sent (see
//! [`fluvius_core::outbox`]) at least once, in order per topic and key (of one tenant and
//! namespace), with the parking rules of event handlers.
//!
//! A relay claims the first due message of each topic and key from the backend's
//! [`OutboxStore`] for a lease, hands each to its [`Deliver`], and reports the outcome while it
//! still holds the claim. A failure is retried with backoff and jitter (its key waits meanwhile;
//! other keys keep flowing); after the last attempt the message is parked, and its key with it,
//! until an operator retries or skips it through [`OutboxAdmin`]. A relay that dies or hangs
//! loses its claims when their lease ends, and another relay delivers the messages again. Any
//! number of relays, in any number of processes, may serve one outbox.
//!
//! A running relay keeps up to its batch size of deliveries in flight, each in a task of its
//! own, and claims more as soon as any ends: a slow delivery holds back its own key only, never
//! the claims of the others (a key in flight is not claimed again: its first open message is
//! the one being delivered, under its claim).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use fluvius_core::{
    Backend, BoxFuture, CommitSignal, CommitWatch, MessageClaim, MessageStatus, OutboxCounts,
    OutboxEntry, OutboxQuery, OutboxStore, Resolution, Settlement,
};
use futures::FutureExt;
use tokio::sync::watch;
use uuid::Uuid;

use crate::error::ReadsideError;
use crate::handler::{Retry, jitter};

/// How often a relay asks for due messages when nothing woke it (100 ms).
pub const DEFAULT_RELAY_POLL: Duration = Duration::from_millis(100);
/// How long a relay's claim on a message lasts (30 s).
pub const DEFAULT_RELAY_LEASE: Duration = Duration::from_secs(30);
/// How long one delivery may take before it counts as failed (10 s).
pub const DEFAULT_DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// Delivers one message: to a broker, a webhook, a mail service. It may be called more than
/// once for one message (after a failure, or when a relay died before it reported), so the
/// receiving end should deduplicate by [`OutboxEntry`]'s message id, or tolerate repeats.
pub trait Deliver: Send + Sync + 'static {
    /// Delivers `message`; an error is retried, then parks the message and its key.
    fn deliver<'a>(&'a self, message: &'a OutboxEntry) -> BoxFuture<'a, Result<(), ReadsideError>>;
}

/// Relays a backend's outbox to a [`Deliver`].
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use fluvius_core::{BoxFuture, OutboxEntry};
/// use fluvius_readside::{Deliver, OutboxRelay, ReadsideError};
///
/// struct Print;
/// impl Deliver for Print {
///     fn deliver<'a>(&'a self, m: &'a OutboxEntry) -> BoxFuture<'a, Result<(), ReadsideError>> {
///         Box::pin(async move {
///             println!("{} {}: {}", m.message.topic, m.message.key, m.message.payload);
///             Ok(())
///         })
///     }
/// }
///
/// # async fn run(backend: Arc<dyn fluvius_core::Backend>) -> Result<(), ReadsideError> {
/// let relay = OutboxRelay::new(backend, Arc::new(Print))
///     .topics(["email"])
///     .lease(Duration::from_secs(10))
///     .spawn()?;
/// // ...
/// relay.stop().await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct OutboxRelay {
    backend: Arc<dyn Backend>,
    deliver: Arc<dyn Deliver>,
    owner: String,
    topics: Option<Vec<String>>,
    tenant: Option<String>,
    batch: usize,
    poll: Duration,
    lease: Duration,
    timeout: Duration,
    retry: Retry,
    measure_every: Duration,
    signals: Vec<Arc<CommitSignal>>,
}

impl std::fmt::Debug for OutboxRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxRelay")
            .field("owner", &self.owner)
            .field("topics", &self.topics)
            .field("batch", &self.batch)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

impl OutboxRelay {
    /// A relay of `backend`'s outbox to `deliver`, named by a new id, for every topic.
    pub fn new(backend: Arc<dyn Backend>, deliver: Arc<dyn Deliver>) -> OutboxRelay {
        OutboxRelay {
            backend,
            deliver,
            owner: format!("relay-{}", Uuid::new_v4()),
            topics: None,
            tenant: None,
            batch: 32,
            poll: DEFAULT_RELAY_POLL,
            lease: DEFAULT_RELAY_LEASE,
            timeout: DEFAULT_DELIVERY_TIMEOUT,
            retry: Retry::default(),
            measure_every: crate::subscription::DEFAULT_LAG_EVERY,
            signals: Vec::new(),
        }
    }

    /// Its name in the claims (unique among the relays of one outbox) and in its metrics.
    pub fn owner(mut self, owner: impl Into<String>) -> OutboxRelay {
        self.owner = owner.into();
        self
    }

    /// Delivers only messages of these topics (default: all).
    pub fn topics<I, S>(mut self, topics: I) -> OutboxRelay
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.topics = Some(topics.into_iter().map(Into::into).collect());
        self
    }

    /// Delivers only the messages of `tenant` (default: every tenant's), as a tenant's own
    /// webhook relay would; behind PostgreSQL's row-level security its claims are scoped to it.
    pub fn tenant(mut self, tenant: impl Into<String>) -> OutboxRelay {
        self.tenant = Some(tenant.into());
        self
    }

    /// How many messages it delivers at a time (default 32), 1 to 1,000: concurrently, one per
    /// topic and key.
    pub fn batch_size(mut self, messages: usize) -> OutboxRelay {
        self.batch = messages;
        self
    }

    /// How often it asks for due messages when no commit woke it (default
    /// [`DEFAULT_RELAY_POLL`]).
    pub fn poll_every(mut self, poll: Duration) -> OutboxRelay {
        self.poll = poll;
        self
    }

    /// How long its claim on a message lasts (default [`DEFAULT_RELAY_LEASE`]); longer than
    /// the delivery timeout.
    pub fn lease(mut self, lease: Duration) -> OutboxRelay {
        self.lease = lease;
        self
    }

    /// How long one delivery may take before it counts as a failure (default
    /// [`DEFAULT_DELIVERY_TIMEOUT`]).
    pub fn delivery_timeout(mut self, timeout: Duration) -> OutboxRelay {
        self.timeout = timeout;
        self
    }

    /// How often and how patiently a failing message is retried before it is parked (default
    /// [`Retry::default`]).
    pub fn retry(mut self, retry: Retry) -> OutboxRelay {
        self.retry = retry;
        self
    }

    /// How often it measures the pending and parked counts for its metrics (default one
    /// second).
    pub fn measure_every(mut self, every: Duration) -> OutboxRelay {
        self.measure_every = every;
        self
    }

    /// Also wakes when `signal` is raised (the backend's own commit signal always wakes it).
    pub fn wake_on(mut self, signal: Arc<CommitSignal>) -> OutboxRelay {
        self.signals.push(signal);
        self
    }

    fn store(&self) -> Result<&dyn OutboxStore, ReadsideError> {
        self.backend.outbox().ok_or_else(|| {
            ReadsideError::Invalid(format!(
                "the {} backend keeps no outbox",
                self.backend.name()
            ))
        })
    }

    fn check(&self) -> Result<(), ReadsideError> {
        self.store()?;
        if self.owner.is_empty() {
            return Err(ReadsideError::Invalid("a relay needs a name".into()));
        }
        if self.batch == 0 || self.batch > fluvius_core::outbox::MAX_OUTBOX_PAGE {
            return Err(ReadsideError::Invalid(format!(
                "a relay's batch size must be 1 to {}, not {}",
                fluvius_core::outbox::MAX_OUTBOX_PAGE,
                self.batch
            )));
        }
        if self.poll.is_zero() || self.timeout.is_zero() || self.measure_every.is_zero() {
            return Err(ReadsideError::Invalid(
                "a relay's poll interval, delivery timeout and measuring interval must be \
                 longer than zero"
                    .into(),
            ));
        }
        if self.lease <= self.timeout {
            return Err(ReadsideError::Invalid(format!(
                "a relay's lease ({:?}) must be longer than its delivery timeout ({:?}), or a \
                 slow delivery would lose its claim to another relay",
                self.lease, self.timeout
            )));
        }
        if self.retry.attempts == 0 {
            return Err(ReadsideError::Invalid(
                "a relay's retry policy must allow at least 1 attempt".into(),
            ));
        }
        if self.topics.as_ref().is_some_and(Vec::is_empty) {
            return Err(ReadsideError::Invalid(
                "a relay's topic list is empty: name at least one topic, or leave it out".into(),
            ));
        }
        Ok(())
    }

    fn claim(&self, limit: usize) -> MessageClaim {
        let mut claim = MessageClaim::new(self.owner.clone(), limit, self.lease);
        if let Some(topics) = &self.topics {
            claim = claim.topics(topics.clone());
        }
        if let Some(tenant) = &self.tenant {
            claim = claim.tenant(tenant.clone());
        }
        claim
    }

    /// Claims and delivers one batch of due messages; returns how many it delivered or
    /// settled otherwise.
    pub async fn run_once(&self) -> Result<usize, ReadsideError> {
        self.check()?;
        self.step(&Meters::new(&self.owner)).await
    }

    async fn step(&self, meters: &Meters) -> Result<usize, ReadsideError> {
        let store = self.store()?;
        let claimed = store.claim_messages(&self.claim(self.batch)).await?;
        let count = claimed.len();
        let runs = claimed
            .iter()
            .map(|entry| self.deliver_one(store, entry, meters));
        futures::future::join_all(runs).await;
        Ok(count)
    }

    async fn deliver_one(&self, store: &dyn OutboxStore, entry: &OutboxEntry, meters: &Meters) {
        let delivery = AssertUnwindSafe(self.deliver.deliver(entry)).catch_unwind();
        let failure = match tokio::time::timeout(self.timeout, delivery).await {
            Ok(Ok(Ok(()))) => None,
            Ok(Ok(Err(err))) => Some(err.to_string()),
            Ok(Err(_)) => Some("the delivery panicked".to_owned()),
            Err(_) => Some(format!("the delivery took longer than {:?}", self.timeout)),
        };
        let id = entry.message.id;
        let settlement = match failure {
            None => {
                meters.delivered.increment(1);
                Settlement::Delivered
            }
            Some(error) => {
                meters.failures.increment(1);
                tracing::warn!(target: "fluvius.outbox", message_id = %id, topic = %entry.message.topic,
                    key = %entry.message.key, attempts = entry.attempts, %error, "delivering a message failed");
                if entry.attempts >= self.retry.attempts {
                    Settlement::Park { error }
                } else {
                    Settlement::Retry {
                        error,
                        at: from_now(self.retry.pause(entry.attempts)),
                    }
                }
            }
        };
        match store.settle_message(id, &self.owner, settlement).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(target: "fluvius.outbox", message_id = %id, owner = %self.owner,
                    "the claim on a message passed to another relay; its outcome is theirs to record");
            }
            Err(err) => {
                tracing::warn!(target: "fluvius.outbox", message_id = %id, error = %err,
                    "could not record a delivery; the message goes again when its claim ends");
            }
        }
    }

    fn watches(&self) -> Vec<CommitWatch> {
        self.backend
            .commit_signal()
            .map(CommitSignal::watch)
            .into_iter()
            .chain(self.signals.iter().map(|s| s.watch()))
            .collect()
    }

    /// Starts the relay on the current Tokio runtime: it claims and delivers due messages,
    /// wakes on commits and polls, and reports its metrics. Refuses bad settings, starting
    /// nothing.
    pub fn spawn(self) -> Result<RelayHandle, ReadsideError> {
        self.check()?;
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(Arc::new(self).run(stopped));
        Ok(RelayHandle {
            stop,
            task: Some(task),
        })
    }

    /// The running relay: deliveries in tasks of their own, up to the batch size in flight;
    /// more are claimed whenever one ends, a commit is signalled or the poll interval passes.
    async fn run(self: Arc<Self>, mut stopped: watch::Receiver<bool>) {
        let mut watches = self.watches();
        let meters = Arc::new(Meters::new(&self.owner));
        let mut deliveries = tokio::task::JoinSet::new();
        let mut measured: Option<tokio::time::Instant> = None;
        let mut pause = Duration::from_millis(20);
        while !*stopped.borrow() {
            if measured.is_none_or(|at| at.elapsed() >= self.measure_every) {
                measured = Some(tokio::time::Instant::now());
                self.measure(&meters).await;
            }
            while deliveries.try_join_next().is_some() {}
            let room = self.batch.saturating_sub(deliveries.len());
            let wait = if room == 0 {
                self.poll
            } else {
                match self.claim_into(room, &mut deliveries, &meters).await {
                    Ok(0) => self.poll,
                    Ok(claimed) => {
                        pause = Duration::from_millis(20);
                        if claimed == room {
                            // Perhaps more are due: claim again at once.
                            continue;
                        }
                        // All that was due is on its way: claim again when a delivery ends, a
                        // commit is signalled, or the poll interval passes.
                        self.poll
                    }
                    Err(err) => {
                        tracing::warn!(target: "fluvius.outbox", owner = %self.owner, error = %err,
                            "claiming outbox messages failed; retrying");
                        pause = (pause * 2).min(Duration::from_secs(5));
                        jitter(pause)
                    }
                }
            };
            let signalled = async {
                if watches.is_empty() {
                    std::future::pending::<()>().await;
                }
                futures::future::select_all(watches.iter_mut().map(|w| Box::pin(w.changed())))
                    .await;
            };
            tokio::select! {
                () = signalled => {}
                () = tokio::time::sleep(wait) => {}
                _ = stopped.changed() => {}
                Some(_) = deliveries.join_next(), if !deliveries.is_empty() => {}
            }
        }
        // Stopping gracefully: the deliveries in flight are reported first.
        while deliveries.join_next().await.is_some() {}
    }

    /// Claims up to `limit` due messages and starts a delivery task for each; returns how many.
    async fn claim_into(
        self: &Arc<Self>,
        limit: usize,
        deliveries: &mut tokio::task::JoinSet<()>,
        meters: &Arc<Meters>,
    ) -> Result<usize, ReadsideError> {
        let claimed = self.store()?.claim_messages(&self.claim(limit)).await?;
        let count = claimed.len();
        for entry in claimed {
            let (relay, meters) = (Arc::clone(self), Arc::clone(meters));
            deliveries.spawn(async move {
                if let Ok(store) = relay.store() {
                    relay.deliver_one(store, &entry, &meters).await;
                }
            });
        }
        Ok(count)
    }

    async fn measure(&self, meters: &Meters) {
        let Ok(store) = self.store() else { return };
        match store.outbox_counts(self.topics.as_deref()).await {
            Ok(counts) => {
                meters.pending.set(counts.pending as f64);
                meters.parked.set(counts.parked as f64);
            }
            Err(err) => {
                tracing::debug!(target: "fluvius.outbox", error = %err, "counting outbox messages failed");
            }
        }
    }
}

struct Meters {
    pending: metrics::Gauge,
    parked: metrics::Gauge,
    delivered: metrics::Counter,
    failures: metrics::Counter,
}

impl Meters {
    fn new(owner: &str) -> Meters {
        use crate::metric::{
            OUTBOX_DELIVERED, OUTBOX_FAILURES, OUTBOX_PARKED, OUTBOX_PENDING, RELAY,
        };
        let label = [(RELAY, owner.to_owned())];
        Meters {
            pending: metrics::gauge!(OUTBOX_PENDING, &label),
            parked: metrics::gauge!(OUTBOX_PARKED, &label),
            delivered: metrics::counter!(OUTBOX_DELIVERED, &label),
            failures: metrics::counter!(OUTBOX_FAILURES, &label),
        }
    }
}

/// `pause` from now, or the end of time when that lies beyond it.
fn from_now(pause: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(pause)
        .ok()
        .and_then(|pause| Utc::now().checked_add_signed(pause))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// A running [`OutboxRelay`]. Dropping it stops the task at once (messages in flight go again
/// once their claims end); [`stop`](RelayHandle::stop) lets the deliveries in flight finish.
#[derive(Debug)]
pub struct RelayHandle {
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RelayHandle {
    /// Stops the relay once its deliveries in flight are reported, and waits for it.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RelayHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// An operator's view of an outbox: what waits, what is parked, and the decisions on parked
/// messages (a retry, or a skip recorded with who and why).
#[derive(Clone)]
pub struct OutboxAdmin {
    backend: Arc<dyn Backend>,
}

impl std::fmt::Debug for OutboxAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxAdmin")
            .field("backend", &self.backend.name())
            .finish()
    }
}

impl OutboxAdmin {
    /// The admin of `backend`'s outbox; [`ReadsideError::Invalid`] if it keeps none.
    pub fn new(backend: Arc<dyn Backend>) -> Result<OutboxAdmin, ReadsideError> {
        let admin = OutboxAdmin { backend };
        admin.store()?;
        Ok(admin)
    }

    fn store(&self) -> Result<&dyn OutboxStore, ReadsideError> {
        self.backend.outbox().ok_or_else(|| {
            ReadsideError::Invalid(format!(
                "the {} backend keeps no outbox",
                self.backend.name()
            ))
        })
    }

    /// Stored messages matching `query`, in outbox order.
    pub async fn list(&self, query: &OutboxQuery) -> Result<Vec<OutboxEntry>, ReadsideError> {
        Ok(self.store()?.outbox_entries(query).await?)
    }

    /// The parked messages (up to the largest page), oldest first.
    pub async fn parked(&self) -> Result<Vec<OutboxEntry>, ReadsideError> {
        self.list(&OutboxQuery::all().status(MessageStatus::Parked))
            .await
    }

    /// One message.
    pub async fn get(&self, id: Uuid) -> Result<Option<OutboxEntry>, ReadsideError> {
        Ok(self.store()?.outbox_entry(id).await?)
    }

    /// How many messages are pending and parked.
    pub async fn counts(&self) -> Result<OutboxCounts, ReadsideError> {
        Ok(self.store()?.outbox_counts(None).await?)
    }

    /// Delivers a parked message again, its attempts counted from zero.
    pub async fn retry(&self, id: Uuid) -> Result<(), ReadsideError> {
        self.resolve(id, Resolution::Retry).await
    }

    /// Skips a parked message for good; its key moves on. `by` and `reason` are recorded.
    pub async fn skip(&self, id: Uuid, by: &str, reason: &str) -> Result<(), ReadsideError> {
        if by.trim().is_empty() || reason.trim().is_empty() {
            return Err(ReadsideError::Invalid(
                "skipping a message needs who skips it and why".into(),
            ));
        }
        self.resolve(
            id,
            Resolution::Skip {
                by: by.to_owned(),
                reason: reason.to_owned(),
            },
        )
        .await
    }

    async fn resolve(&self, id: Uuid, resolution: Resolution) -> Result<(), ReadsideError> {
        let store = self.store()?;
        if store.resolve_message(id, resolution).await? {
            return Ok(());
        }
        Err(match store.outbox_entry(id).await? {
            None => ReadsideError::Invalid(format!("the outbox holds no message {id}")),
            Some(entry) => ReadsideError::Invalid(format!(
                "message {id} is {}, not parked: only a parked message is retried or skipped",
                entry.status
            )),
        })
    }

    /// Deletes delivered and skipped messages settled more than `age` ago; answers how many.
    pub async fn purge_settled(&self, age: Duration) -> Result<u64, ReadsideError> {
        let before = chrono::Duration::from_std(age)
            .ok()
            .and_then(|age| Utc::now().checked_sub_signed(age))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        Ok(self.store()?.purge_messages(before).await?)
    }
}
