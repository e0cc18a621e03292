//! Per-stream serialisation inside the process: a queue per stream, the one driver working through
//! it, and the cached (version, state) it hands on.
//!
//! Commands on one stream queue behind one driver, so in one process they never conflict with each
//! other; the backend's expected-version check still guards against other processes. The driver
//! takes every queued command and commits them together (group commit).
//!
//! A claim (an import, a unit of commands over several streams) holds a stream as its driver
//! would. A claim that waits is served before the driver's next batch, so a busy stream cannot
//! keep a unit out; a driver always runs one batch before it yields, so units cannot keep
//! single commands out either.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash};

use foldhash::fast::RandomState;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use uuid::Uuid;

use crate::backend::StreamKey;
use crate::state::AnyState;

use super::batch::Pending;

const SHARDS: usize = 64;

/// What the domain knows of a stream's head.
#[derive(Debug, Clone)]
pub(crate) struct CachedStream {
    pub(crate) version: u64,
    pub(crate) state: Arc<dyn AnyState>,
    pub(crate) deleted: bool,
    pub(crate) created_at: Option<DateTime<Utc>>,
    pub(crate) updated_at: Option<DateTime<Utc>>,
    pub(crate) updated_by: Option<String>,
}

/// One stream's queue of waiting commands, whether a driver is working through it, and the cached
/// head the driver hands on to the next one.
///
/// At most one driver runs per stream: whoever submits to an undriven slot becomes it. The driver
/// owns the head while it runs and parks it here when the queue is empty.
#[derive(Debug, Default)]
pub(crate) struct Slot {
    inner: Mutex<SlotInner>,
    /// Signalled when the stream stops being driven, for whoever waits to claim it.
    released: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct SlotInner {
    queue: VecDeque<Arc<Pending>>,
    driving: bool,
    head: Option<CachedStream>,
    /// Claims waiting for the stream: the driver yields to them after its current batch.
    claimants: usize,
}

impl Slot {
    /// Queues a command; returns whether the caller must drive the stream (nobody else is).
    pub(crate) fn submit(&self, pending: Arc<Pending>) -> bool {
        let mut inner = self.inner.lock();
        inner.queue.push_back(pending);
        !std::mem::replace(&mut inner.driving, true)
    }

    /// The head parked by the previous driver; called once by a new driver.
    pub(crate) fn take_head(&self) -> Option<CachedStream> {
        self.inner.lock().head.take()
    }

    /// The next commands to decide, oldest first, skipping those whose caller stopped waiting
    /// before they were taken. When none is left, or when `may_yield` and a claim waits, the
    /// driver parks `head` and stops driving, in one step with the check, so a command
    /// submitted meanwhile always finds a driver (a claim that ends with commands queued starts
    /// one, see [`Slot::unclaim`]).
    pub(crate) fn next_batch(
        &self,
        max: usize,
        head: &mut Option<CachedStream>,
        may_yield: bool,
    ) -> Option<Vec<Arc<Pending>>> {
        let mut inner = self.inner.lock();
        let mut batch = Vec::new();
        let yields = may_yield && inner.claimants > 0;
        while !yields && batch.len() < max {
            let Some(pending) = inner.queue.pop_front() else {
                break;
            };
            if !pending.abandoned() {
                batch.push(pending);
            }
        }
        if batch.is_empty() {
            inner.head = head.take();
            inner.driving = false;
            drop(inner);
            self.released.notify_waiters();
            return None;
        }
        Some(batch)
    }

    /// Holds the stream as its driver would if no driver runs, returning the parked head;
    /// otherwise counts the caller as a waiting claim (once: `counted` remembers it) and returns
    /// `None`. The caller waits on [`Slot::released`] and tries again, and ends a wait it gives
    /// up with [`Slot::cancel_claim`]. End a claim with [`Slot::unclaim`].
    pub(crate) fn try_claim(&self, counted: &mut bool) -> Option<Option<CachedStream>> {
        let mut inner = self.inner.lock();
        if !inner.driving {
            if std::mem::take(counted) {
                inner.claimants -= 1;
            }
            inner.driving = true;
            return Some(inner.head.take());
        }
        if !*counted {
            inner.claimants += 1;
            *counted = true;
        }
        None
    }

    /// A future that completes when the stream stops being driven; enable it before
    /// [`Slot::try_claim`] so that a release in between is not missed.
    pub(crate) fn released(&self) -> tokio::sync::futures::Notified<'_> {
        self.released.notified()
    }

    /// Gives up a counted wait for a claim. Returns true when the caller must start a driver:
    /// a driver stopped for the claims, commands are queued, and no claim is left to take the
    /// stream (the slot is then marked driven).
    pub(crate) fn cancel_claim(&self) -> bool {
        let mut inner = self.inner.lock();
        inner.claimants -= 1;
        if inner.claimants == 0 && !inner.driving && !inner.queue.is_empty() {
            inner.driving = true;
            return true;
        }
        false
    }

    /// Ends a claim, parking `head`. Returns true when commands queued meanwhile: the slot is
    /// still marked driven and the caller must start a driver for them.
    pub(crate) fn unclaim(&self, head: Option<CachedStream>) -> bool {
        let mut inner = self.inner.lock();
        inner.head = head;
        if !inner.queue.is_empty() {
            return true;
        }
        inner.driving = false;
        drop(inner);
        self.released.notify_waiters();
        false
    }

    /// Ends a driver that did not finish (it panicked, or was dropped with no runtime to finish
    /// it on): the cached head is forgotten and the waiting commands are handed back to be failed.
    pub(crate) fn abandon_driving(&self) -> Vec<Arc<Pending>> {
        let mut inner = self.inner.lock();
        inner.head = None;
        inner.driving = false;
        let queued = inner.queue.drain(..).collect();
        drop(inner);
        self.released.notify_waiters();
        queued
    }

    /// Whether commands wait for the driver.
    pub(crate) fn has_waiting(&self) -> bool {
        !self.inner.lock().queue.is_empty()
    }

    /// Whether a driver is running or commands wait (for cache eviction).
    fn busy(&self) -> bool {
        let inner = self.inner.lock();
        inner.driving || !inner.queue.is_empty()
    }
}

pub(crate) type StreamSlot = Arc<Slot>;
type Shard<K, V> = Mutex<HashMap<K, V, RandomState>>;
type CommandLock = Arc<tokio::sync::Mutex<()>>;

#[derive(Debug)]
pub(crate) struct StreamCache {
    hasher: RandomState,
    streams: Box<[Shard<StreamKey, StreamSlot>]>,
    commands: Box<[Shard<(String, Uuid), CommandLock>]>,
    per_shard: usize,
}

impl StreamCache {
    pub(crate) fn new(capacity: usize) -> Self {
        StreamCache {
            hasher: RandomState::default(),
            streams: (0..SHARDS).map(|_| Mutex::default()).collect(),
            commands: (0..SHARDS).map(|_| Mutex::default()).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    fn shard_of<K: Hash>(&self, key: &K) -> usize {
        (self.hasher.hash_one(key) as usize) % SHARDS
    }

    /// The lock of a stream, with whatever is cached for it.
    pub(crate) fn slot(&self, key: &StreamKey) -> StreamSlot {
        let mut shard = self.streams[self.shard_of(key)].lock();
        if let Some(slot) = shard.get(key) {
            return slot.clone();
        }
        if shard.len() >= self.per_shard {
            // Streams nobody is working on can be dropped: the store still has them.
            shard.retain(|_, slot| Arc::strong_count(slot) > 1 || slot.busy());
        }
        let slot = StreamSlot::default();
        shard.insert(key.clone(), slot.clone());
        slot
    }

    /// A lock that makes concurrent commands with the same caller-supplied id wait for each other.
    pub(crate) fn command_lock(&self, tenant: &str, id: Uuid) -> CommandLock {
        let key = (tenant.to_owned(), id);
        let mut shard = self.commands[self.shard_of(&key)].lock();
        shard.retain(|_, lock| Arc::strong_count(lock) > 1);
        shard.entry(key).or_default().clone()
    }
}
