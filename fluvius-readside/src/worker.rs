//! The worker: runs subscriptions (projections, handlers, subscribers) it owns by lease, in
//! cooperation with the other workers of the same lease store, on this machine or others.
//!
//! Each subscription has a lease named after it. A worker announces itself with a presence
//! lease (`worker:<id>`), takes at most its fair share of the subscriptions (the number of
//! subscriptions over the number of live workers, rounded up), renews what it holds every third
//! of the lease time, gives back what exceeds its share when another worker joins, and stops a
//! subscription the moment a renewal fails, and gives back (without starting it again) one that
//! ended on its own, swapped out by a rebuild. A worker that dies or is paused stops renewing; its
//! leases expire and the others take them with the next fencing epoch, and its own late writes
//! fail the fence check (see [`Fence`]). A graceful shutdown lets each batch in flight finish,
//! then releases the leases at once so the others take over without waiting for expiry.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use crate::consumer::Consumer;
use crate::error::{ReadsideError, check_name};
use crate::lease::{Fence, LeaseStore};
use crate::subscription::{Subscription, SubscriptionHandle};

/// The lease time of a worker that sets none.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(10);
/// The shortest lease time accepted.
pub const MIN_LEASE_TTL: Duration = Duration::from_millis(100);
/// The prefix of the workers' presence leases.
const PRESENCE: &str = "worker:";

type Start = Box<dyn Fn(Fence) -> Result<SubscriptionHandle, ReadsideError> + Send + Sync>;

struct Job {
    name: String,
    start: Start,
}

/// A worker's settings and subscriptions; [`spawn`](Worker::spawn) starts it.
pub struct Worker {
    id: String,
    leases: Arc<dyn LeaseStore>,
    ttl: Duration,
    jobs: Vec<Job>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("id", &self.id)
            .field("ttl", &self.ttl)
            .field(
                "subscriptions",
                &self.jobs.iter().map(|j| &j.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Worker {
    /// A worker named `id` (unique among the workers sharing `leases`; a host name and a
    /// process id, say) cooperating through `leases`.
    pub fn new(id: impl Into<String>, leases: Arc<dyn LeaseStore>) -> Worker {
        Worker {
            id: id.into(),
            leases,
            ttl: DEFAULT_LEASE_TTL,
            jobs: Vec::new(),
        }
    }

    /// How long a lease lasts without renewal (default [`DEFAULT_LEASE_TTL`], at least
    /// [`MIN_LEASE_TTL`]). Ownership moves within about 1.3 times this after a worker dies.
    pub fn lease_ttl(mut self, ttl: Duration) -> Worker {
        self.ttl = ttl;
        self
    }

    /// Runs `consumer` through `subscription` whenever this worker owns it. The lease is named
    /// after the consumer; its checkpoint store must check fences (`PgCheckpoints`,
    /// `PgProjection`, or `MemCheckpoints::fenced_by` in one process).
    pub fn run<C: Consumer>(mut self, subscription: Subscription, consumer: C) -> Worker {
        let name = consumer.name().to_owned();
        let consumer = Arc::new(consumer);
        self.jobs.push(Job {
            name,
            start: Box::new(move |fence| {
                subscription.clone().fenced(fence).spawn(consumer.clone())
            }),
        });
        self
    }

    /// Starts the worker on the current Tokio runtime. Refuses an empty id, a lease time below
    /// [`MIN_LEASE_TTL`], a bad or repeated subscription name, starting nothing.
    pub fn spawn(self) -> Result<WorkerHandle, ReadsideError> {
        check_name(&self.id)?;
        if self.ttl < MIN_LEASE_TTL {
            return Err(ReadsideError::Invalid(format!(
                "a worker's lease time must be at least {MIN_LEASE_TTL:?}, not {:?}",
                self.ttl
            )));
        }
        let mut names = BTreeSet::new();
        for job in &self.jobs {
            check_name(&job.name)?;
            if job.name.starts_with(PRESENCE) || !names.insert(job.name.clone()) {
                return Err(ReadsideError::Invalid(format!(
                    "worker `{}` runs `{}` twice or under a reserved name",
                    self.id, job.name
                )));
            }
        }
        let (owned_tx, owned) = watch::channel(BTreeSet::new());
        let (stop, stopped) = watch::channel(false);
        let changes = Arc::new(AtomicU64::new(0));
        let runner = Runner {
            worker: self,
            owned: BTreeMap::new(),
            ended: BTreeSet::new(),
            presence: None,
            owned_tx,
            changes: changes.clone(),
        };
        let task = tokio::spawn(runner.run(stopped));
        Ok(WorkerHandle {
            owned,
            stop,
            task: Some(task),
            changes,
        })
    }
}

/// A running worker. Dropping it (or [`kill`](WorkerHandle::kill)) stops everything at once
/// without releasing a lease, as a crash would; [`shutdown`](WorkerHandle::shutdown) is the
/// graceful way.
#[derive(Debug)]
pub struct WorkerHandle {
    owned: watch::Receiver<BTreeSet<String>>,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
    changes: Arc<AtomicU64>,
}

impl WorkerHandle {
    /// The subscriptions this worker runs now.
    pub fn owned(&self) -> BTreeSet<String> {
        self.owned.borrow().clone()
    }

    /// How many times it took or gave up a subscription's lease.
    pub fn lease_changes(&self) -> u64 {
        self.changes.load(Ordering::Relaxed)
    }

    /// Lets each subscription's batch in flight finish, releases every lease, and waits.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Stops at once, releasing nothing: the leases expire and other workers take them.
    pub fn kill(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

struct Runner {
    worker: Worker,
    owned: BTreeMap<String, (Fence, SubscriptionHandle)>,
    /// Subscriptions that ended on their own (swapped out by a rebuild): not started again.
    ended: BTreeSet<String>,
    presence: Option<Fence>,
    owned_tx: watch::Sender<BTreeSet<String>>,
    changes: Arc<AtomicU64>,
}

impl Runner {
    async fn run(mut self, mut stopped: watch::Receiver<bool>) {
        let every = self.worker.ttl / 3;
        loop {
            if let Err(err) = self.round().await {
                tracing::warn!(worker = %self.worker.id, error = %err, "worker round failed; retrying");
            }
            self.publish();
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                _ = stopped.changed() => break,
            }
        }
        self.release_all().await;
        self.publish();
    }

    /// Renews what it holds, drops what it lost, gives back what exceeds its share, takes what
    /// is free up to its share.
    async fn round(&mut self) -> Result<(), ReadsideError> {
        let (leases, ttl, id) = (&self.worker.leases, self.worker.ttl, &self.worker.id);
        let presence_name = format!("{PRESENCE}{id}");
        self.presence = match self.presence.take() {
            Some(fence) if leases.renew(&fence, ttl).await? => Some(fence),
            _ => leases.acquire(&presence_name, id, ttl).await?,
        };
        let names: Vec<String> = self.owned.keys().cloned().collect();
        for name in names {
            let ended = self.owned.get(&name).is_some_and(|(_, h)| h.has_ended());
            if ended {
                // Swapped out by a rebuild: it writes nothing more, so its lease is given back
                // (not renewed forever) and this worker does not start it again.
                if let Some((fence, handle)) = self.owned.remove(&name) {
                    let reason = handle.progress().last_error.unwrap_or_default();
                    // Marked first: a failed release must not let a later round start it again.
                    self.ended.insert(name.clone());
                    self.lease_changed();
                    leases.release(&fence).await?;
                    tracing::info!(worker = %id, subscription = %name, reason = %reason, "subscription ended on its own; lease given back");
                }
                continue;
            }
            let renewed = match self.owned.get(&name) {
                Some((fence, _)) => leases.renew(fence, ttl).await?,
                None => continue,
            };
            if !renewed {
                // Dropping the handle stops the subscription at once; its batch in flight, if
                // any, fails the fence check.
                self.owned.remove(&name);
                self.lease_changed();
                tracing::warn!(worker = %id, subscription = %name, "lease lost; subscription stopped");
            }
        }
        let live = leases.held(PRESENCE).await?.len().max(1);
        let running = self.worker.jobs.len() - self.ended.len();
        let share = running.div_ceil(live);
        while self.owned.len() > share {
            let Some(name) = self.owned.keys().next_back().cloned() else {
                break;
            };
            if let Some((fence, handle)) = self.owned.remove(&name) {
                handle.stop().await;
                leases.release(&fence).await?;
                self.lease_changed();
                tracing::info!(worker = %id, subscription = %name, "lease given back to balance the workers");
            }
        }
        for job in &self.worker.jobs {
            if self.owned.len() >= share {
                break;
            }
            if self.owned.contains_key(&job.name) || self.ended.contains(&job.name) {
                continue;
            }
            let Some(fence) = leases.acquire(&job.name, id, ttl).await? else {
                continue;
            };
            match (job.start)(fence.clone()) {
                Ok(handle) => {
                    tracing::info!(worker = %id, subscription = %job.name, epoch = fence.epoch, "lease taken");
                    self.lease_changed();
                    self.owned.insert(job.name.clone(), (fence, handle));
                }
                Err(err) => {
                    leases.release(&fence).await?;
                    return Err(err);
                }
            }
        }
        Ok(())
    }

    fn lease_changed(&self) {
        self.changes.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(crate::metric::LEASE_CHANGES, crate::metric::WORKER => self.worker.id.clone())
            .increment(1);
    }

    async fn release_all(&mut self) {
        let leases = self.worker.leases.clone();
        for (_, (fence, handle)) in std::mem::take(&mut self.owned) {
            handle.stop().await;
            if let Err(err) = leases.release(&fence).await {
                tracing::warn!(worker = %self.worker.id, error = %err, "could not release a lease; it expires instead");
            }
        }
        if let Some(fence) = self.presence.take() {
            let _ = leases.release(&fence).await;
        }
    }

    fn publish(&self) {
        let owned: BTreeSet<String> = self.owned.keys().cloned().collect();
        self.owned_tx.send_if_modified(|current| {
            let changed = *current != owned;
            *current = owned;
            changed
        });
    }
}
