//! Per-stream serialisation inside the process: a keyed lock guarding a cached (version, state),
//! and the queue of commands waiting for it.
//!
//! Commands on one stream queue behind its lock, so in one process they never conflict with each
//! other; the backend's expected-version check still guards against other processes. Whoever
//! holds the lock takes every queued command with it and commits them together (group commit).

use std::collections::HashMap;
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

/// One stream's lock (guarding its cached head) and its queue of waiting commands.
#[derive(Debug, Default)]
pub(crate) struct Slot {
    pub(crate) head: tokio::sync::Mutex<Option<CachedStream>>,
    queue: Mutex<Vec<Arc<Pending>>>,
}

impl Slot {
    pub(crate) fn enqueue(&self, pending: &Arc<Pending>) {
        self.queue.lock().push(pending.clone());
    }

    /// Removes a command that gave up waiting before anyone took it.
    pub(crate) fn withdraw(&self, pending: &Arc<Pending>) {
        self.queue.lock().retain(|p| !Arc::ptr_eq(p, pending));
    }

    /// Whether no command waits in the queue.
    pub(crate) fn is_idle(&self) -> bool {
        self.queue.lock().is_empty()
    }

    /// Takes up to `max` waiting commands, oldest first.
    pub(crate) fn drain(&self, max: usize) -> Vec<Arc<Pending>> {
        let mut queue = self.queue.lock();
        let n = queue.len().min(max);
        queue.drain(..n).collect()
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
            shard.retain(|_, slot| Arc::strong_count(slot) > 1);
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
