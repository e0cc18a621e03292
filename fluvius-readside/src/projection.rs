//! Projections into a typed map held in memory: handlers per event key, typed events, and the
//! map and its checkpoint changed under one lock, so each event's effect happens exactly once.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use fluvius_core::{BoxFuture, EventEnvelope, LogCursor, LogFilter};
use parking_lot::RwLock;
use serde::de::DeserializeOwned;

use crate::consumer::{Batch, Consumer};
use crate::decode::decode;
use crate::error::ReadsideError;
use crate::lease::MemLeases;

type MapHandler<K, V> =
    Arc<dyn Fn(&mut MapView<'_, K, V>, &EventEnvelope) -> Result<(), ReadsideError> + Send + Sync>;

/// A projection whose state is a `BTreeMap<K, V>` in memory.
///
/// Clones share the map. Declare a handler per event key with [`on`](MapProjection::on) (typed
/// event data) or take every event with [`on_any`](MapProjection::on_any); the subscription then
/// reads only the handled keys. A batch is applied as a whole or not at all: handlers write
/// through a [`MapView`] whose changes, with the new checkpoint, replace the map only when every
/// event of the batch was handled.
pub struct MapProjection<K, V> {
    name: Arc<str>,
    handlers: HashMap<String, MapHandler<K, V>>,
    any: Option<MapHandler<K, V>>,
    state: Arc<RwLock<MapState<K, V>>>,
    leases: Option<MemLeases>,
}

struct MapState<K, V> {
    map: BTreeMap<K, V>,
    checkpoint: LogCursor,
}

impl<K, V> Clone for MapProjection<K, V> {
    fn clone(&self) -> Self {
        MapProjection {
            name: Arc::clone(&self.name),
            handlers: self.handlers.clone(),
            any: self.any.clone(),
            state: Arc::clone(&self.state),
            leases: self.leases.clone(),
        }
    }
}

impl<K, V> fmt::Debug for MapProjection<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut keys: Vec<&String> = self.handlers.keys().collect();
        keys.sort();
        f.debug_struct("MapProjection")
            .field("name", &self.name)
            .field("evt_keys", &keys)
            .field("any", &self.any.is_some())
            .finish()
    }
}

impl<K, V> MapProjection<K, V>
where
    K: Ord + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// An empty projection named `name` (its checkpoint's name).
    pub fn new(name: impl Into<String>) -> Self {
        MapProjection {
            name: Arc::from(name.into()),
            handlers: HashMap::new(),
            any: None,
            state: Arc::new(RwLock::new(MapState {
                map: BTreeMap::new(),
                checkpoint: LogCursor::START,
            })),
            leases: None,
        }
    }

    /// Checks the fence of every batch a [`Worker`](crate::Worker) hands over against
    /// `leases`, in the same step as the write: a stale owner's batch changes nothing.
    pub fn fenced_by(mut self, leases: MemLeases) -> Self {
        self.leases = Some(leases);
        self
    }

    /// Handles events with key `evt_key`, their data decoded as `E` at schema version 1.
    pub fn on<E, F>(self, evt_key: impl Into<String>, handler: F) -> Self
    where
        E: DeserializeOwned + 'static,
        F: Fn(&mut MapView<'_, K, V>, E, &EventEnvelope) -> Result<(), ReadsideError>
            + Send
            + Sync
            + 'static,
    {
        self.on_version(evt_key, 1, handler)
    }

    /// Handles events with key `evt_key` whose data is `E` at `schema_version`.
    pub fn on_version<E, F>(
        mut self,
        evt_key: impl Into<String>,
        schema_version: u32,
        handler: F,
    ) -> Self
    where
        E: DeserializeOwned + 'static,
        F: Fn(&mut MapView<'_, K, V>, E, &EventEnvelope) -> Result<(), ReadsideError>
            + Send
            + Sync
            + 'static,
    {
        self.handlers.insert(
            evt_key.into(),
            Arc::new(move |view, event| handler(view, decode(event, schema_version)?, event)),
        );
        self
    }

    /// Handles every event the subscription reads (the keys given to [`on`](Self::on) still
    /// go to their own handlers).
    pub fn on_any<F>(mut self, handler: F) -> Self
    where
        F: Fn(&mut MapView<'_, K, V>, &EventEnvelope) -> Result<(), ReadsideError>
            + Send
            + Sync
            + 'static,
    {
        self.any = Some(Arc::new(handler));
        self
    }

    /// The value at `key`.
    pub fn get(&self, key: &K) -> Option<V> {
        self.state.read().map.get(key).cloned()
    }

    /// A copy of the whole map.
    pub fn snapshot(&self) -> BTreeMap<K, V> {
        self.state.read().map.clone()
    }

    /// Reads the map in place, with its checkpoint (the map reflects every event up to it).
    pub fn with<R>(&self, read: impl FnOnce(&BTreeMap<K, V>, LogCursor) -> R) -> R {
        let state = self.state.read();
        read(&state.map, state.checkpoint)
    }

    /// How many entries the map holds.
    pub fn len(&self) -> usize {
        self.state.read().map.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.state.read().map.is_empty()
    }

    fn apply(&self, batch: &Batch) -> Result<(), ReadsideError> {
        match (&batch.fence, &self.leases) {
            (None, _) => self.apply_unfenced(batch),
            (Some(fence), Some(leases)) => leases.while_held(fence, || self.apply_unfenced(batch)),
            (Some(fence), None) => Err(ReadsideError::Invalid(format!(
                "`{}` runs under the lease {fence} but cannot check it: make it with `fenced_by(leases)`",
                self.name
            ))),
        }
    }

    fn apply_unfenced(&self, batch: &Batch) -> Result<(), ReadsideError> {
        let mut state = self.state.write();
        if state.checkpoint != batch.after {
            return Err(ReadsideError::CheckpointMoved {
                name: self.name.to_string(),
                expected: batch.after,
                actual: state.checkpoint,
            });
        }
        let mut view = MapView {
            base: &state.map,
            changes: BTreeMap::new(),
        };
        for (_, event) in &batch.entries {
            if let Some(handler) = self.handlers.get(&event.evt_key) {
                handler(&mut view, event)?;
            } else if let Some(any) = &self.any {
                any(&mut view, event)?;
            }
        }
        let changes = view.changes;
        for (key, value) in changes {
            match value {
                Some(value) => state.map.insert(key, value),
                None => state.map.remove(&key),
            };
        }
        state.checkpoint = batch.next;
        Ok(())
    }
}

impl<K, V> Consumer for MapProjection<K, V>
where
    K: Ord + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn filter(&self) -> LogFilter {
        let mut filter = LogFilter::default();
        if self.any.is_none() {
            filter.evt_keys = self.handlers.keys().cloned().collect();
            filter.evt_keys.sort();
        }
        filter
    }

    fn checkpoint(&self) -> BoxFuture<'_, Result<LogCursor, ReadsideError>> {
        Box::pin(std::future::ready(Ok(self.state.read().checkpoint)))
    }

    fn consume<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<(), ReadsideError>> {
        Box::pin(std::future::ready(self.apply(batch)))
    }
}

/// The map as a handler sees it while a batch is applied: the map so far plus the batch's
/// changes, kept aside until the whole batch is handled.
pub struct MapView<'m, K, V> {
    base: &'m BTreeMap<K, V>,
    changes: BTreeMap<K, Option<V>>,
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for MapView<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapView")
            .field("entries", &self.base.len())
            .field("changes", &self.changes)
            .finish()
    }
}

impl<K: Ord + Clone, V: Clone> MapView<'_, K, V> {
    /// The value at `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        match self.changes.get(key) {
            Some(change) => change.as_ref(),
            None => self.base.get(key),
        }
    }

    /// Sets the value at `key`.
    pub fn insert(&mut self, key: K, value: V) {
        self.changes.insert(key, Some(value));
    }

    /// Removes the value at `key`.
    pub fn remove(&mut self, key: &K) {
        self.changes.insert(key.clone(), None);
    }

    /// Changes the value at `key` in place, starting from `default` when there is none.
    pub fn update(&mut self, key: K, default: V, change: impl FnOnce(&mut V)) {
        let mut value = self.get(&key).cloned().unwrap_or(default);
        change(&mut value);
        self.changes.insert(key, Some(value));
    }
}
