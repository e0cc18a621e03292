//! Catch-up subscriptions: a task that reads the global log from a consumer's checkpoint, page
//! by page, hands each page to the consumer, and waits when it has caught up.
//!
//! The subscription never skips ahead on a timer: it only moves to a page's `next`, which the
//! backend guarantees no late commit can fall behind (on PostgreSQL, the transaction horizon).
//! It waits on the backend's [commit signal](fluvius_core::Backend::commit_signal) (and any
//! other signal given, such as a PostgreSQL commit listener), with polling as the safety net.
//! A failed read or consume is retried with a growing pause, from the stored checkpoint.

use std::sync::Arc;
use std::time::Duration;

use fluvius_core::{Backend, CommitSignal, CommitWatch, Domain, LogCursor, LogFilter, LogQuery};
use tokio::sync::watch;

use crate::consumer::{Batch, Consumer};
use crate::error::{ReadsideError, check_name};
use crate::lease::Fence;

/// How often a caught-up subscription reads the log when no signal wakes it, by default.
pub const DEFAULT_POLL: Duration = Duration::from_millis(200);
/// How often a running subscription measures its lag and the horizon's age, by default.
pub const DEFAULT_LAG_EVERY: Duration = Duration::from_secs(1);
/// How many events a subscription reads per page by default.
pub const DEFAULT_BATCH: usize = 500;
/// The largest page a subscription may ask for.
pub const MAX_BATCH: usize = 10_000;

/// The settings of a subscription; [`spawn`](Subscription::spawn) starts it.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use fluvius_core::Backend;
/// use fluvius_memory::MemBackend;
/// use fluvius_readside::{MapProjection, Subscription};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), fluvius_readside::ReadsideError> {
/// let backend: Arc<dyn Backend> = Arc::new(MemBackend::new());
/// let counts = MapProjection::<String, u64>::new("counts").on_any(|map, event| {
///     map.update(event.evt_key.clone(), 0, |n| *n += 1);
///     Ok(())
/// });
/// let handle = Subscription::new(backend)
///     .namespace("banking")
///     .poll_every(Duration::from_millis(50))
///     .spawn(counts.clone())?;
/// handle.wait_for(fluvius_core::LogCursor::START, Duration::from_secs(1)).await?;
/// assert!(counts.is_empty());
/// handle.stop().await;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Subscription {
    backend: Arc<dyn Backend>,
    narrow: LogFilter,
    batch: usize,
    poll: Duration,
    signals: Vec<Arc<CommitSignal>>,
    upcast: Option<Domain>,
    fence: Option<Fence>,
    lag_every: Duration,
}

/// What a running subscription has done.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Where its consumer stands: every event up to here has been taken.
    pub cursor: LogCursor,
    /// Events handed to the consumer since the start (a batch retried after a failure counts
    /// once per attempt that succeeded, so once).
    pub events: u64,
    /// Whether the last read found nothing more.
    pub caught_up: bool,
    /// The last failure, until the next success.
    pub last_error: Option<String>,
    /// When the store recorded the last event handed over.
    pub last_recorded_at: Option<chrono::DateTime<chrono::Utc>>,
    /// How long after it was recorded the last event was handed over (its delivery lag); zero
    /// once a read finds nothing more.
    pub lag: Duration,
    /// Events it could read now and has not, as last measured (see
    /// [`Subscription::measure_lag_every`]); `None` before the first measure or when the
    /// backend cannot tell.
    pub lag_events: Option<u64>,
    /// How long the oldest transaction still running in the store had been open when last
    /// measured: events committed after it wait for it (PostgreSQL's horizon). `None` when
    /// none was running or the backend cannot tell.
    pub horizon_age: Option<Duration>,
}

impl Subscription {
    /// A subscription over `backend`'s log (use `domain.backend().clone()`).
    pub fn new(backend: Arc<dyn Backend>) -> Subscription {
        Subscription {
            backend,
            narrow: LogFilter::default(),
            batch: DEFAULT_BATCH,
            poll: DEFAULT_POLL,
            signals: Vec::new(),
            upcast: None,
            fence: None,
            lag_every: DEFAULT_LAG_EVERY,
        }
    }

    /// Runs under a lease: every batch carries `fence`, and its consumer's checkpoint write
    /// fails with [`ReadsideError::LeaseLost`] once another worker took the lease. A
    /// [`Worker`](crate::Worker) sets it; set it yourself only with a lease you renew.
    pub fn fenced(mut self, fence: Fence) -> Subscription {
        self.fence = Some(fence);
        self
    }

    /// Hands every event of `domain`'s namespace over in its current shape, through the
    /// domain's upcasters ([`Domain::upcast_page`]): older schema versions lifted, retired keys
    /// read as the events they stand for. A consumer's event-key filter then applies to the
    /// current keys (a retired key read as one the consumer takes reaches it).
    pub fn upcast_with(mut self, domain: &Domain) -> Subscription {
        self.upcast = Some(domain.clone());
        self
    }

    /// Only events of this namespace.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Subscription {
        self.narrow.namespace = Some(namespace.into());
        self
    }

    /// Only events of this tenant.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Subscription {
        self.narrow.tenant = Some(tenant.into());
        self
    }

    /// Only events of this resource kind.
    pub fn resource(mut self, resource: impl Into<String>) -> Subscription {
        self.narrow.resource = Some(resource.into());
        self
    }

    /// Only events with this key (or another given one); combined with the consumer's own keys,
    /// only the keys both take.
    pub fn evt_key(mut self, evt_key: impl Into<String>) -> Subscription {
        self.narrow.evt_keys.push(evt_key.into());
        self
    }

    /// Events per page, 1 to [`MAX_BATCH`] (default [`DEFAULT_BATCH`]).
    pub fn batch_size(mut self, events: usize) -> Subscription {
        self.batch = events;
        self
    }

    /// How long a caught-up subscription waits for a signal before it reads again (default
    /// [`DEFAULT_POLL`]).
    pub fn poll_every(mut self, poll: Duration) -> Subscription {
        self.poll = poll;
        self
    }

    /// How often the running subscription asks the backend how far behind it is
    /// ([`Backend::log_lag`](fluvius_core::Backend::log_lag)), for [`Progress::lag_events`],
    /// [`Progress::horizon_age`] and their [metrics](crate::metric) (default
    /// [`DEFAULT_LAG_EVERY`]; one statement each time on PostgreSQL).
    pub fn measure_lag_every(mut self, every: Duration) -> Subscription {
        self.lag_every = every;
        self
    }

    /// Also wakes on this signal (the backend's own commit signal is always used).
    pub fn wake_on(mut self, signal: Arc<CommitSignal>) -> Subscription {
        self.signals.push(signal);
        self
    }

    /// The filter the subscription reads with: the consumer's, narrowed by this subscription's.
    fn filter_for(&self, consumer: &dyn Consumer) -> Result<LogFilter, ReadsideError> {
        let mut filter = consumer.filter();
        let narrow = |mine: &mut Option<String>, theirs: &Option<String>, what: &str| match (
            mine.as_ref(),
            theirs,
        ) {
            (_, None) => Ok(()),
            (None, Some(t)) => {
                *mine = Some(t.clone());
                Ok(())
            }
            (Some(m), Some(t)) if m == t => Ok(()),
            (Some(m), Some(t)) => Err(ReadsideError::Invalid(format!(
                "`{}` reads {what} `{m}`, the subscription asks for {what} `{t}`: no event has both",
                consumer.name()
            ))),
        };
        narrow(&mut filter.namespace, &self.narrow.namespace, "namespace")?;
        narrow(&mut filter.tenant, &self.narrow.tenant, "tenant")?;
        narrow(&mut filter.resource, &self.narrow.resource, "resource")?;
        if !self.narrow.evt_keys.is_empty() {
            if filter.evt_keys.is_empty() {
                filter.evt_keys = self.narrow.evt_keys.clone();
            } else {
                filter.evt_keys.retain(|k| self.narrow.evt_keys.contains(k));
                if filter.evt_keys.is_empty() {
                    return Err(ReadsideError::Invalid(format!(
                        "`{}` handles none of the event keys the subscription asks for",
                        consumer.name()
                    )));
                }
            }
        }
        Ok(filter)
    }

    fn check(&self, consumer: &dyn Consumer) -> Result<LogFilter, ReadsideError> {
        check_name(consumer.name())?;
        if self.batch == 0 || self.batch > MAX_BATCH {
            return Err(ReadsideError::Invalid(format!(
                "a subscription's batch size must be 1 to {MAX_BATCH}, not {}",
                self.batch
            )));
        }
        if self.poll.is_zero() {
            return Err(ReadsideError::Invalid(
                "a subscription's poll interval must be longer than zero".into(),
            ));
        }
        self.filter_for(consumer)
    }

    /// Starts the subscription on the current Tokio runtime. Refuses a bad name, batch size,
    /// poll interval or a filter nothing can pass, starting nothing.
    pub fn spawn<C: Consumer>(self, consumer: C) -> Result<SubscriptionHandle, ReadsideError> {
        let filter = self.check(&consumer)?;
        let name = consumer.name().to_owned();
        let (progress, watch_progress) = watch::channel(Progress::default());
        let (stop, stopped) = watch::channel(false);
        let runner = Runner {
            meters: Meters::new(&name),
            settings: self,
            filter,
            consumer: Arc::new(consumer),
            progress,
            stopped,
            ahead: None,
            lag_measured: None,
        };
        let task = tokio::spawn(runner.run());
        Ok(SubscriptionHandle {
            name,
            progress: watch_progress,
            stop,
            task: Some(task),
        })
    }

    /// Reads from the consumer's checkpoint until the log is caught up, in this task, and
    /// returns how many events the consumer took. Stops at the first failure.
    pub async fn catch_up<C: Consumer>(&self, consumer: &C) -> Result<u64, ReadsideError> {
        let filter = self.check(consumer)?;
        let after = consumer.checkpoint().await?;
        let mut taken = 0;
        let mut page = self.read(&filter, after).await?;
        loop {
            let (batch, caught_up) = page;
            let Some(batch) = batch else {
                return Ok(taken);
            };
            let ahead = self.take(consumer, &filter, &batch, caught_up).await?;
            taken += batch.entries.len() as u64;
            match ahead {
                Some(next) => page = next,
                None => return Ok(taken),
            }
        }
    }

    /// Hands `batch` to the consumer and, unless the read was caught up, reads the page after
    /// it meanwhile: the next read overlaps the consumer's work. Returns that page.
    async fn take(
        &self,
        consumer: &dyn Consumer,
        filter: &LogFilter,
        batch: &Batch,
        caught_up: bool,
    ) -> Result<Option<ReadPage>, ReadsideError> {
        if caught_up {
            consumer.consume(batch).await?;
            return Ok(None);
        }
        let (consumed, ahead) =
            futures::future::join(consumer.consume(batch), self.read(filter, batch.next)).await;
        consumed?;
        Ok(Some(ahead?))
    }

    /// One page after `after`, as a batch when there is anything to take or to move past.
    async fn read(&self, filter: &LogFilter, after: LogCursor) -> Result<ReadPage, ReadsideError> {
        let mut query = LogQuery::after(after)
            .limit(self.batch)
            .filter(filter.clone());
        if let Some(domain) = &self.upcast
            && !filter.evt_keys.is_empty()
        {
            // A stored event of a retired key may be read as one of the keys asked for.
            let retired = domain
                .resources()
                .into_iter()
                .flat_map(|r| r.retired.iter());
            query
                .filter
                .evt_keys
                .extend(retired.map(|r| r.evt_key.to_owned()));
        }
        let mut page = self.backend.read_log(&query).await?;
        if let Some(domain) = &self.upcast {
            page = domain.upcast_page(page).map_err(ReadsideError::Upcast)?;
            if !filter.evt_keys.is_empty() {
                let keep: Vec<bool> = page.events.iter().map(|e| filter.matches(e)).collect();
                let mut flags = keep.iter();
                page.events.retain(|_| *flags.next().unwrap_or(&false));
                let mut flags = keep.iter();
                page.cursors.retain(|_| *flags.next().unwrap_or(&false));
            }
        }
        let caught_up = page.caught_up;
        if page.events.is_empty() && page.next <= after {
            return Ok((None, caught_up));
        }
        let next = page.next;
        let entries = page.cursors.into_iter().zip(page.events).collect();
        let batch = Batch::new(after, entries, next).fenced(self.fence.clone());
        Ok((Some(batch), caught_up))
    }

    fn watches(&self) -> Vec<CommitWatch> {
        self.backend
            .commit_signal()
            .map(CommitSignal::watch)
            .into_iter()
            .chain(self.signals.iter().map(|s| s.watch()))
            .collect()
    }
}

/// A page as read: the batch to take (if any) and whether the read was caught up.
type ReadPage = (Option<Batch>, bool);

/// The running side of a subscription.
struct Runner {
    settings: Subscription,
    filter: LogFilter,
    consumer: Arc<dyn Consumer>,
    progress: watch::Sender<Progress>,
    stopped: watch::Receiver<bool>,
    /// The page after the consumer's position, read while it took the previous one.
    ahead: Option<ReadPage>,
    /// When lag was last measured.
    lag_measured: Option<tokio::time::Instant>,
    meters: Meters,
}

/// The subscription's [metrics](crate::metric), registered once.
struct Meters {
    lag_events: metrics::Gauge,
    lag_seconds: metrics::Gauge,
    horizon_age: metrics::Gauge,
    events: metrics::Counter,
    failures: metrics::Counter,
}

impl Meters {
    fn new(name: &str) -> Meters {
        use crate::metric::*;
        let label = [(SUBSCRIPTION, name.to_owned())];
        Meters {
            lag_events: metrics::gauge!(LAG_EVENTS, &label),
            lag_seconds: metrics::gauge!(LAG_SECONDS, &label),
            horizon_age: metrics::gauge!(HORIZON_AGE_SECONDS, &label),
            events: metrics::counter!(EVENTS, &label),
            failures: metrics::counter!(FAILURES, &label),
        }
    }
}

impl Runner {
    async fn run(mut self) {
        // Watches are made before the first read: a commit during any read wakes the next wait.
        let mut watches = self.settings.watches();
        let mut after: Option<LogCursor> = None;
        let mut pause = Duration::from_millis(20);
        while !*self.stopped.borrow() {
            match self.step(&mut after).await {
                Ok(true) => {
                    pause = Duration::from_millis(20);
                    if let Err(err) = self.consumer.idle().await {
                        self.failed(&err);
                    }
                    self.wait(&mut watches, self.settings.poll).await;
                }
                Ok(false) => pause = Duration::from_millis(20),
                Err(err @ ReadsideError::Retired { .. }) => {
                    // Swapped out by a rebuild: nothing this consumer does can land any more.
                    tracing::info!(subscription = self.consumer.name(), error = %err, "projection swapped out; subscription stopped");
                    let message = err.to_string();
                    self.progress.send_modify(|p| p.last_error = Some(message));
                    break;
                }
                Err(err) => {
                    self.failed(&err);
                    // Start again from what is stored: the failed batch is read again.
                    after = None;
                    self.ahead = None;
                    let jittered = crate::handler::jitter(pause);
                    self.wait_stop_only(jittered).await;
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Reads and consumes one page; `Ok(true)` when caught up.
    async fn step(&mut self, after: &mut Option<LogCursor>) -> Result<bool, ReadsideError> {
        let from = match *after {
            Some(cursor) => cursor,
            None => {
                let stored = self.consumer.checkpoint().await?;
                self.progress
                    .send_modify(|p| p.cursor = p.cursor.max(stored));
                *after = Some(stored);
                stored
            }
        };
        let (batch, caught_up) = match self.ahead.take() {
            Some(page) => page,
            None => self.settings.read(&self.filter, from).await?,
        };
        if let Some(batch) = batch {
            self.ahead = self
                .settings
                .take(&*self.consumer, &self.filter, &batch, caught_up)
                .await?;
            *after = Some(batch.next);
            let taken = batch.entries.len() as u64;
            let last = batch.entries.last().map(|(_, e)| e.recorded_at);
            let lag = last
                .and_then(|at| (chrono::Utc::now() - at).to_std().ok())
                .unwrap_or_default();
            tracing::debug!(
                target: "fluvius.subscription",
                subscription = self.consumer.name(),
                taken,
                cursor = %batch.next,
                lag_ms = lag.as_millis() as u64,
                caught_up,
                "batch taken"
            );
            self.meters.events.increment(taken);
            self.meters.lag_seconds.set(lag.as_secs_f64());
            self.progress.send_modify(|p| {
                p.cursor = batch.next;
                p.events += taken;
                p.caught_up = caught_up;
                p.last_error = None;
                if last.is_some() {
                    p.last_recorded_at = last;
                    p.lag = lag;
                }
            });
        } else {
            if caught_up {
                self.meters.lag_seconds.set(0.0);
            }
            self.progress.send_if_modified(|p| {
                let lag = if caught_up { Duration::ZERO } else { p.lag };
                let changed = p.caught_up != caught_up || p.last_error.is_some() || p.lag != lag;
                p.caught_up = caught_up;
                p.last_error = None;
                p.lag = lag;
                changed
            });
        }
        self.measure_lag(*after).await;
        Ok(caught_up)
    }

    /// Asks the backend how far behind the consumer is, at most every `lag_every`.
    async fn measure_lag(&mut self, after: Option<LogCursor>) {
        let Some(after) = after else { return };
        let now = tokio::time::Instant::now();
        if self
            .lag_measured
            .is_some_and(|at| now.duration_since(at) < self.settings.lag_every)
        {
            return;
        }
        self.lag_measured = Some(now);
        let lag = match self.settings.backend.log_lag(after, &self.filter).await {
            Ok(lag) => lag,
            Err(err) => {
                tracing::debug!(subscription = self.consumer.name(), error = %err, "could not measure the lag");
                None
            }
        };
        let (events, horizon_age) = lag.map_or((None, None), |l| (Some(l.events), l.horizon_age));
        self.meters
            .lag_events
            .set(events.unwrap_or_default() as f64);
        self.meters
            .horizon_age
            .set(horizon_age.unwrap_or_default().as_secs_f64());
        tracing::debug!(
            target: "fluvius.subscription.lag",
            subscription = self.consumer.name(),
            cursor = %after,
            lag_events = events,
            horizon_age_ms = horizon_age.map(|a| a.as_millis() as u64),
            "lag measured"
        );
        self.progress.send_if_modified(|p| {
            let changed = p.lag_events != events || p.horizon_age != horizon_age;
            p.lag_events = events;
            p.horizon_age = horizon_age;
            changed
        });
    }

    fn failed(&self, err: &ReadsideError) {
        self.meters.failures.increment(1);
        tracing::warn!(subscription = self.consumer.name(), error = %err, "subscription step failed; retrying");
        let message = err.to_string();
        self.progress.send_modify(|p| p.last_error = Some(message));
    }

    async fn wait(&mut self, watches: &mut [CommitWatch], poll: Duration) {
        let signalled = async {
            if watches.is_empty() {
                std::future::pending::<()>().await;
            }
            futures::future::select_all(watches.iter_mut().map(|w| Box::pin(w.changed()))).await;
        };
        tokio::select! {
            () = signalled => {}
            () = tokio::time::sleep(poll) => {}
            _ = self.stopped.changed() => {}
        }
    }

    async fn wait_stop_only(&mut self, pause: Duration) {
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = self.stopped.changed() => {}
        }
    }
}

/// A running subscription. Dropping it stops the task at once (a batch in flight is not
/// taken, and is read again at the next start); [`stop`](SubscriptionHandle::stop) lets the
/// batch in flight finish first.
#[derive(Debug)]
pub struct SubscriptionHandle {
    name: String,
    progress: watch::Receiver<Progress>,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl SubscriptionHandle {
    /// The subscription's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What it has done so far.
    pub fn progress(&self) -> Progress {
        self.progress.borrow().clone()
    }

    /// Where its consumer stands.
    pub fn cursor(&self) -> LogCursor {
        self.progress.borrow().cursor
    }

    /// Read-your-writes: waits until the consumer has passed `cursor` (a command's
    /// [`Response::cursor`](fluvius_core::Response::cursor)), at most `timeout`. Returns where it
    /// stands then; [`ReadsideError::Timeout`] if it did not get there in time,
    /// [`ReadsideError::Stopped`] if the subscription ended.
    pub async fn wait_for(
        &self,
        cursor: LogCursor,
        timeout: Duration,
    ) -> Result<LogCursor, ReadsideError> {
        let mut progress = self.progress.clone();
        let waited = tokio::time::timeout(timeout, progress.wait_for(|p| p.cursor >= cursor)).await;
        match waited {
            Ok(Ok(p)) => Ok(p.cursor),
            Ok(Err(_)) => Err(ReadsideError::Stopped(self.name.clone())),
            Err(_) => Err(ReadsideError::Timeout {
                name: self.name.clone(),
                cursor,
                reached: self.progress.borrow().cursor,
                waited: timeout,
            }),
        }
    }

    /// Whether the subscription has ended on its own: its projection version was swapped out by
    /// a rebuild ([`ReadsideError::Retired`], kept in [`Progress::last_error`]), so nothing it
    /// does can land any more. A subscription that is merely failing keeps retrying and has not
    /// ended.
    pub fn has_ended(&self) -> bool {
        self.task
            .as_ref()
            .is_none_or(tokio::task::JoinHandle::is_finished)
    }

    /// Stops the subscription once its batch in flight (if any) is taken, and waits for it.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SubscriptionHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Read-your-writes from a process that does not run the subscription: waits until the
/// checkpoint `name` in `store` has passed `cursor`, reading it every few milliseconds, at most
/// `timeout`.
pub async fn wait_for_checkpoint(
    store: &dyn crate::CheckpointStore,
    name: &str,
    cursor: LogCursor,
    timeout: Duration,
) -> Result<LogCursor, ReadsideError> {
    let start = tokio::time::Instant::now();
    let mut pause = Duration::from_millis(2);
    loop {
        let reached = store.load(name).await?.unwrap_or(LogCursor::START);
        if reached >= cursor {
            return Ok(reached);
        }
        let elapsed = start.elapsed();
        if elapsed >= timeout {
            return Err(ReadsideError::Timeout {
                name: name.to_owned(),
                cursor,
                reached,
                waited: timeout,
            });
        }
        tokio::time::sleep(pause.min(timeout - elapsed)).await;
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}
