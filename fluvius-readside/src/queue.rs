//! A durable queue of background commands, and the runner that executes them through a
//! domain.
//!
//! A queued command carries its command id; the runner executes it with that id, so the
//! domain's idempotency makes a command that ran twice (its runner died after the commit and
//! before it recorded the outcome, and another runner took the claim over) apply once: the
//! second run replays the first one's answer. A runner claims due commands for a lease; a claim
//! that expires passes to whichever runner asks next, and a runner that lost its claim cannot
//! record an outcome (the finish is fenced by the claim). A broken rule or a malformed command
//! fails for good at once; a store that is unavailable, a version conflict or an unknown
//! outcome is retried with growing, jittered pauses, and parked once the attempts run out. An
//! operator lists, retries and cancels them.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use fluvius_core::{AggRoot, BoxFuture, Context, Domain, NewRoot};
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::sync::watch;
use uuid::Uuid;

use crate::error::ReadsideError;
use crate::handler::Retry;

/// Where a queued command stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum QueueStatus {
    /// Waiting to run (again, after a retryable failure).
    Queued,
    /// It ran; [`QueuedCommand::outcome`] has the answer.
    Done,
    /// The domain refused it (a broken rule, a malformed payload, an unknown command): running
    /// it again would give the same answer.
    Failed,
    /// It failed in a way a retry could mend, as many times as allowed; an operator retries or
    /// cancels it.
    Parked,
    /// An operator cancelled it.
    Cancelled,
}

impl QueueStatus {
    /// Its name in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            QueueStatus::Queued => "queued",
            QueueStatus::Done => "done",
            QueueStatus::Failed => "failed",
            QueueStatus::Parked => "parked",
            QueueStatus::Cancelled => "cancelled",
        }
    }

    /// The status named `name`.
    pub fn parse(name: &str) -> Option<QueueStatus> {
        Some(match name {
            "queued" => QueueStatus::Queued,
            "done" => QueueStatus::Done,
            "failed" => QueueStatus::Failed,
            "parked" => QueueStatus::Parked,
            "cancelled" => QueueStatus::Cancelled,
            _ => return None,
        })
    }
}

/// A command to run in the background.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct QueuedCommand {
    /// The command id the domain runs it with (its idempotency key).
    pub id: Uuid,
    /// The domain's namespace.
    pub namespace: String,
    /// The command key (`deposit`).
    pub command: String,
    /// The resource kind it targets.
    pub resource: String,
    /// The identifier it targets; `None` for a creation whose identifier the domain generates.
    pub identifier: Option<String>,
    /// The payload, as JSON.
    pub payload: Value,
    /// Who asks, for which tenant.
    pub context: Context,
    /// Where it stands.
    pub status: QueueStatus,
    /// How many times a runner took it.
    pub attempts: u32,
    /// The last failure.
    pub last_error: Option<String>,
    /// What the domain answered once it ran: the root, the version, the log cursor.
    pub outcome: Option<Value>,
    /// When it was queued.
    pub enqueued_at: DateTime<Utc>,
    /// Not before this time.
    pub run_after: DateTime<Utc>,
    /// When it ended (done, failed, parked or cancelled).
    pub finished_at: Option<DateTime<Utc>>,
}

impl QueuedCommand {
    /// A command `command` of `namespace` on `root`, with a new command id, due now. A
    /// [`NewRoot`] target (`AggRoot::generate` style) lets the domain generate the identifier.
    pub fn new(
        namespace: impl Into<String>,
        command: impl Into<String>,
        target: impl Into<QueueTarget>,
        payload: Value,
    ) -> QueuedCommand {
        let (resource, identifier) = match target.into() {
            QueueTarget::Existing(root) => (root.resource, Some(root.id)),
            QueueTarget::New(resource) => (resource, None),
        };
        let now = Utc::now();
        QueuedCommand {
            id: Uuid::now_v7(),
            namespace: namespace.into(),
            command: command.into(),
            resource,
            identifier,
            payload,
            context: Context::default(),
            status: QueueStatus::Queued,
            attempts: 0,
            last_error: None,
            outcome: None,
            enqueued_at: now,
            run_after: now,
            finished_at: None,
        }
    }

    /// With this command id (a caller's idempotency key): queueing the same id twice queues it
    /// once.
    pub fn with_id(mut self, id: Uuid) -> QueuedCommand {
        self.id = id;
        self
    }

    /// With this context (user, tenant, headers).
    pub fn with_context(mut self, context: Context) -> QueuedCommand {
        self.context = context;
        self
    }

    /// Not before `at`.
    pub fn run_after(mut self, at: DateTime<Utc>) -> QueuedCommand {
        self.run_after = at;
        self
    }
}

/// What a queued command targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueTarget {
    /// An existing (or explicitly named) root.
    Existing(AggRoot),
    /// A new root of this resource kind, its identifier generated by the domain.
    New(String),
}

impl From<AggRoot> for QueueTarget {
    fn from(root: AggRoot) -> Self {
        QueueTarget::Existing(root)
    }
}

impl From<NewRoot> for QueueTarget {
    fn from(root: NewRoot) -> Self {
        QueueTarget::New(root.0)
    }
}

/// How a run ended, as a runner records it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum QueueOutcome {
    /// It ran; the answer.
    Done(Value),
    /// Refused for good, with the error.
    Failed(String),
    /// Failed, to run again not before the time given.
    Retry(String, DateTime<Utc>),
    /// Failed as often as allowed.
    Parked(String),
}

/// Where queued commands are kept: [`MemCommandQueue`], or `postgres::PgCommandQueue` (table
/// `fluvius.command_queue`).
pub trait CommandQueue: Send + Sync + Debug + 'static {
    /// Queues `command`; a command with the same id already queued (or run) is kept as it is.
    /// Returns whether it was new.
    fn enqueue(&self, command: QueuedCommand) -> BoxFuture<'_, Result<bool, ReadsideError>>;

    /// Claims at most `limit` due commands of `namespace` for `owner` until `lease` has passed,
    /// oldest due first, counting an attempt on each; a command claimed by another owner whose
    /// claim has not expired is left alone.
    fn claim<'a>(
        &'a self,
        namespace: &'a str,
        owner: &'a str,
        limit: usize,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Vec<QueuedCommand>, ReadsideError>>;

    /// Records how `owner`'s run of `id` ended; `false` (and nothing recorded) if `owner` no
    /// longer holds the claim.
    fn finish<'a>(
        &'a self,
        id: Uuid,
        owner: &'a str,
        finish: QueueOutcome,
    ) -> BoxFuture<'a, Result<bool, ReadsideError>>;

    /// A queued command.
    fn get(&self, id: Uuid) -> BoxFuture<'_, Result<Option<QueuedCommand>, ReadsideError>>;

    /// The commands of `namespace` with `status`, oldest first, at most `limit`.
    fn list<'a>(
        &'a self,
        namespace: &'a str,
        status: QueueStatus,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<QueuedCommand>, ReadsideError>>;

    /// An operator's retry: a parked or failed command is queued again, due now, its attempts
    /// counted from zero. `false` if it is not parked or failed.
    fn retry(&self, id: Uuid) -> BoxFuture<'_, Result<bool, ReadsideError>>;

    /// An operator's cancel, with the reason: a queued or parked command will not run. `false`
    /// if it is neither, or if a runner holds it now (it may be committing: wait, and cancel a
    /// retry if one comes).
    fn cancel<'a>(
        &'a self,
        id: Uuid,
        reason: &'a str,
    ) -> BoxFuture<'a, Result<bool, ReadsideError>>;
}

/// One row of [`MemCommandQueue`].
#[derive(Debug, Clone)]
struct Row {
    command: QueuedCommand,
    claim: Option<(String, DateTime<Utc>)>,
}

/// A command queue in memory, for tests and single-process applications (it is gone with the
/// process: use `postgres::PgCommandQueue` for a durable one).
#[derive(Debug, Default)]
pub struct MemCommandQueue {
    rows: Mutex<BTreeMap<Uuid, Row>>,
}

impl MemCommandQueue {
    /// An empty queue.
    pub fn new() -> MemCommandQueue {
        MemCommandQueue::default()
    }
}

/// `d` from now, or the end of time for a `d` too long to add (a lease or pause from the
/// caller's settings must not overflow the clock).
fn from_now(d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| Utc::now().checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

impl CommandQueue for MemCommandQueue {
    fn enqueue(&self, command: QueuedCommand) -> BoxFuture<'_, Result<bool, ReadsideError>> {
        Box::pin(async move {
            let mut rows = self.rows.lock();
            if rows.contains_key(&command.id) {
                return Ok(false);
            }
            let mut command = command;
            command.status = QueueStatus::Queued;
            command.attempts = 0;
            rows.insert(
                command.id,
                Row {
                    command,
                    claim: None,
                },
            );
            Ok(true)
        })
    }

    fn claim<'a>(
        &'a self,
        namespace: &'a str,
        owner: &'a str,
        limit: usize,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Vec<QueuedCommand>, ReadsideError>> {
        Box::pin(async move {
            let now = Utc::now();
            let mut rows = self.rows.lock();
            let mut due: Vec<&mut Row> = rows
                .values_mut()
                .filter(|r| {
                    r.command.namespace == namespace
                        && r.command.status == QueueStatus::Queued
                        && r.command.run_after <= now
                        && r.claim.as_ref().is_none_or(|(_, until)| *until < now)
                })
                .collect();
            due.sort_by_key(|r| (r.command.run_after, r.command.enqueued_at, r.command.id));
            let until = from_now(lease);
            Ok(due
                .into_iter()
                .take(limit)
                .map(|r| {
                    r.claim = Some((owner.to_owned(), until));
                    r.command.attempts += 1;
                    r.command.clone()
                })
                .collect())
        })
    }

    fn finish<'a>(
        &'a self,
        id: Uuid,
        owner: &'a str,
        finish: QueueOutcome,
    ) -> BoxFuture<'a, Result<bool, ReadsideError>> {
        Box::pin(async move {
            let mut rows = self.rows.lock();
            let Some(row) = rows.get_mut(&id) else {
                return Ok(false);
            };
            let held = row.claim.as_ref().is_some_and(|(o, _)| o == owner)
                && row.command.status == QueueStatus::Queued;
            if !held {
                return Ok(false);
            }
            row.claim = None;
            apply_finish(&mut row.command, finish);
            Ok(true)
        })
    }

    fn get(&self, id: Uuid) -> BoxFuture<'_, Result<Option<QueuedCommand>, ReadsideError>> {
        Box::pin(async move { Ok(self.rows.lock().get(&id).map(|r| r.command.clone())) })
    }

    fn list<'a>(
        &'a self,
        namespace: &'a str,
        status: QueueStatus,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<QueuedCommand>, ReadsideError>> {
        Box::pin(async move {
            let rows = self.rows.lock();
            let mut found: Vec<QueuedCommand> = rows
                .values()
                .filter(|r| r.command.namespace == namespace && r.command.status == status)
                .map(|r| r.command.clone())
                .collect();
            found.sort_by_key(|c| (c.enqueued_at, c.id));
            found.truncate(limit);
            Ok(found)
        })
    }

    fn retry(&self, id: Uuid) -> BoxFuture<'_, Result<bool, ReadsideError>> {
        Box::pin(async move {
            let mut rows = self.rows.lock();
            match rows.get_mut(&id) {
                Some(row)
                    if matches!(
                        row.command.status,
                        QueueStatus::Parked | QueueStatus::Failed
                    ) =>
                {
                    row.command.status = QueueStatus::Queued;
                    row.command.attempts = 0;
                    row.command.run_after = Utc::now();
                    row.command.finished_at = None;
                    row.claim = None;
                    Ok(true)
                }
                _ => Ok(false),
            }
        })
    }

    fn cancel<'a>(
        &'a self,
        id: Uuid,
        reason: &'a str,
    ) -> BoxFuture<'a, Result<bool, ReadsideError>> {
        Box::pin(async move {
            let mut rows = self.rows.lock();
            match rows.get_mut(&id) {
                Some(row)
                    if matches!(
                        row.command.status,
                        QueueStatus::Queued | QueueStatus::Parked
                    ) && row
                        .claim
                        .as_ref()
                        .is_none_or(|(_, until)| *until < Utc::now()) =>
                {
                    row.command.status = QueueStatus::Cancelled;
                    row.command.last_error = Some(format!("cancelled: {reason}"));
                    row.command.finished_at = Some(Utc::now());
                    row.claim = None;
                    Ok(true)
                }
                _ => Ok(false),
            }
        })
    }
}

/// Applies a run's end to the command (the memory queue's update; PostgreSQL's statement does
/// the same).
fn apply_finish(command: &mut QueuedCommand, finish: QueueOutcome) {
    let now = Utc::now();
    match finish {
        QueueOutcome::Done(outcome) => {
            command.status = QueueStatus::Done;
            command.outcome = Some(outcome);
            command.finished_at = Some(now);
        }
        QueueOutcome::Failed(error) => {
            command.status = QueueStatus::Failed;
            command.last_error = Some(error);
            command.finished_at = Some(now);
        }
        QueueOutcome::Retry(error, at) => {
            command.last_error = Some(error);
            command.run_after = at;
        }
        QueueOutcome::Parked(error) => {
            command.status = QueueStatus::Parked;
            command.last_error = Some(error);
            command.finished_at = Some(now);
        }
    }
}

/// How often an idle runner asks the queue for due commands, by default.
pub const DEFAULT_QUEUE_POLL: Duration = Duration::from_millis(200);
/// How long a runner's claim on a command lasts, by default.
pub const DEFAULT_QUEUE_LEASE: Duration = Duration::from_secs(30);

/// Runs the due commands of a domain's namespace from a [`CommandQueue`].
///
/// Several runners (in one process or many) can share one queue: each claims its own commands.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use fluvius_core::{AggRoot, Backend};
/// use fluvius_memory::MemBackend;
/// use fluvius_readside::{CommandQueue, MemCommandQueue, QueueRunner, QueueStatus, QueuedCommand};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let backend: Arc<dyn Backend> = Arc::new(MemBackend::new());
/// // A domain of namespace `conformance` with an `open-account` command.
/// let domain = fluvius_conformance::domain::domain(backend);
/// let queue = Arc::new(MemCommandQueue::new());
/// let queued = QueuedCommand::new(
///     domain.namespace(),
///     "open-account",
///     AggRoot::new("account", "a-1"),
///     serde_json::json!({"owner": "ann", "initial": 10, "tags": []}),
/// );
/// let id = queued.id;
/// queue.enqueue(queued).await?;
///
/// let runner = QueueRunner::new(domain, queue.clone()).spawn()?;
/// let done = runner.wait_for(id, Duration::from_secs(5)).await?;
/// assert_eq!(done.status, QueueStatus::Done);
/// runner.stop().await;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct QueueRunner {
    domain: Domain,
    queue: Arc<dyn CommandQueue>,
    owner: String,
    batch: usize,
    poll: Duration,
    lease: Duration,
    retry: Retry,
}

impl QueueRunner {
    /// A runner of `domain`'s commands from `queue`, named by a new id.
    pub fn new(domain: Domain, queue: Arc<dyn CommandQueue>) -> QueueRunner {
        QueueRunner {
            domain,
            queue,
            owner: format!("runner-{}", Uuid::new_v4()),
            batch: 16,
            poll: DEFAULT_QUEUE_POLL,
            lease: DEFAULT_QUEUE_LEASE,
            retry: Retry::default(),
        }
    }

    /// Its name in the claims (unique among the runners of one queue).
    pub fn owner(mut self, owner: impl Into<String>) -> QueueRunner {
        self.owner = owner.into();
        self
    }

    /// How many commands it claims at a time (default 16), 1 to 1,000.
    pub fn batch_size(mut self, commands: usize) -> QueueRunner {
        self.batch = commands;
        self
    }

    /// How often it asks for due commands when there were none (default
    /// [`DEFAULT_QUEUE_POLL`]).
    pub fn poll_every(mut self, poll: Duration) -> QueueRunner {
        self.poll = poll;
        self
    }

    /// How long its claim on a command lasts (default [`DEFAULT_QUEUE_LEASE`]): a command whose
    /// runner died runs again this long after it was claimed. Make it longer than a command
    /// takes.
    pub fn lease(mut self, lease: Duration) -> QueueRunner {
        self.lease = lease;
        self
    }

    /// How often and how patiently a retryable failure is retried before the command is parked
    /// (default [`Retry::default`]: 5 attempts).
    pub fn retry(mut self, retry: Retry) -> QueueRunner {
        self.retry = retry;
        self
    }

    fn check(&self) -> Result<(), ReadsideError> {
        if self.batch == 0 || self.batch > 1_000 {
            return Err(ReadsideError::Invalid(format!(
                "a queue runner's batch size must be 1 to 1000, not {}",
                self.batch
            )));
        }
        if self.poll.is_zero() || self.lease.is_zero() {
            return Err(ReadsideError::Invalid(
                "a queue runner's poll interval and lease must be longer than zero".into(),
            ));
        }
        if self.retry.attempts == 0 {
            return Err(ReadsideError::Invalid(
                "a queue runner's retry policy must allow at least 1 attempt".into(),
            ));
        }
        Ok(())
    }

    /// Claims and runs one batch of due commands; returns how many it ran.
    pub async fn run_once(&self) -> Result<usize, ReadsideError> {
        self.check()?;
        let claimed = self
            .queue
            .claim(self.domain.namespace(), &self.owner, self.batch, self.lease)
            .await?;
        let ran = claimed.len();
        let runs = claimed.into_iter().map(|command| self.run(command));
        futures::future::join_all(runs).await;
        Ok(ran)
    }

    /// Runs one claimed command and records how it ended.
    async fn run(&self, queued: QueuedCommand) {
        let finish = self.execute(&queued).await;
        let id = queued.id;
        match self.queue.finish(id, &self.owner, finish.clone()).await {
            Ok(true) => {
                tracing::debug!(target: "fluvius.queue", command_id = %id, command = %queued.command, outcome = ?finish, "queued command ran");
            }
            Ok(false) => {
                tracing::warn!(target: "fluvius.queue", command_id = %id, owner = %self.owner,
                    "the claim on a queued command passed to another runner; its outcome is theirs to record");
            }
            Err(err) => {
                tracing::warn!(target: "fluvius.queue", command_id = %id, error = %err,
                    "could not record a queued command's outcome; it runs again when its claim expires");
            }
        }
    }

    async fn execute(&self, queued: &QueuedCommand) -> QueueOutcome {
        let payload = queued.payload.clone();
        let built = match &queued.identifier {
            Some(id) => self.domain.create_command(
                &queued.command,
                payload,
                AggRoot::new(&queued.resource, id),
            ),
            None => self.domain.create_command(
                &queued.command,
                payload,
                NewRoot(queued.resource.clone()),
            ),
        };
        let command = match built {
            Ok(command) => command
                .with_context(queued.context.clone())
                .with_id(queued.id),
            Err(err) => return QueueOutcome::Failed(format!("{}: {err}", err.code())),
        };
        // In a task of its own: a panic there is the command's failure, not the runner's.
        let domain = self.domain.clone();
        let outcome = tokio::spawn(async move { domain.process_command(command).await }).await;
        match outcome {
            Ok(Ok(response)) => QueueOutcome::Done(json!({
                "resource": response.root.resource,
                "identifier": response.root.id,
                "version": response.version,
                "cursor": response.cursor.to_string(),
                "events": response.events.len(),
                "replayed": response.replayed,
            })),
            Ok(Err(err)) => {
                let message = format!("{}: {err}", err.code());
                let retryable = err.is_retryable()
                    || matches!(err.innermost(), fluvius_core::Error::OutcomeUnknown { .. });
                if !retryable {
                    QueueOutcome::Failed(message)
                } else if queued.attempts >= self.retry.attempts {
                    QueueOutcome::Parked(message)
                } else {
                    let pause = self.retry.pause(queued.attempts);
                    QueueOutcome::Retry(message, from_now(pause))
                }
            }
            Err(join) => QueueOutcome::Failed(format!("the command's task failed: {join}")),
        }
    }

    /// Starts the runner on the current Tokio runtime: it claims and runs due commands, and
    /// polls when there are none. Refuses bad settings, starting nothing.
    pub fn spawn(self) -> Result<QueueRunnerHandle, ReadsideError> {
        self.check()?;
        let (stop, mut stopped) = watch::channel(false);
        let queue = Arc::clone(&self.queue);
        let task = tokio::spawn(async move {
            let mut pause = Duration::from_millis(20);
            while !*stopped.borrow() {
                let wait = match self.run_once().await {
                    Ok(0) => self.poll,
                    Ok(_) => {
                        pause = Duration::from_millis(20);
                        continue;
                    }
                    Err(err) => {
                        tracing::warn!(target: "fluvius.queue", owner = %self.owner, error = %err, "claiming queued commands failed; retrying");
                        pause = (pause * 2).min(Duration::from_secs(5));
                        crate::handler::jitter(pause)
                    }
                };
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    _ = stopped.changed() => {}
                }
            }
        });
        Ok(QueueRunnerHandle {
            queue,
            stop,
            task: Some(task),
        })
    }
}

/// A running [`QueueRunner`]. Dropping it stops the task at once (a command in flight runs
/// again once its claim expires); [`stop`](QueueRunnerHandle::stop) lets the batch in flight
/// finish.
#[derive(Debug)]
pub struct QueueRunnerHandle {
    queue: Arc<dyn CommandQueue>,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl QueueRunnerHandle {
    /// Waits (reading the queue every few milliseconds, at most `timeout`) until command `id`
    /// has ended: done, failed, parked or cancelled. [`ReadsideError::Invalid`] if the queue
    /// has no such command, [`ReadsideError::QueueWait`] if it did not end in time.
    pub async fn wait_for(
        &self,
        id: Uuid,
        timeout: Duration,
    ) -> Result<QueuedCommand, ReadsideError> {
        wait_for_command(&*self.queue, id, timeout).await
    }

    /// Stops the runner once its batch in flight is recorded, and waits for it.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for QueueRunnerHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Waits until command `id` of `queue` has ended (done, failed, parked or cancelled), at most
/// `timeout`, from any process.
pub async fn wait_for_command(
    queue: &dyn CommandQueue,
    id: Uuid,
    timeout: Duration,
) -> Result<QueuedCommand, ReadsideError> {
    let start = tokio::time::Instant::now();
    let mut pause = Duration::from_millis(2);
    loop {
        let Some(command) = queue.get(id).await? else {
            return Err(ReadsideError::Invalid(format!(
                "the queue holds no command {id}"
            )));
        };
        if command.status != QueueStatus::Queued {
            return Ok(command);
        }
        let elapsed = start.elapsed();
        if elapsed >= timeout {
            return Err(ReadsideError::QueueWait {
                id,
                waited: timeout,
                attempts: command.attempts,
                last_error: command.last_error,
            });
        }
        tokio::time::sleep(pause.min(timeout - elapsed)).await;
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}
