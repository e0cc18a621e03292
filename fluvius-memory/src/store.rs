//! The data behind the lock, laid out so the hot path (one stream's head and state) is a single
//! hash lookup, and the reads that only need part of a stream never walk all of it.

use std::collections::{BTreeSet, HashMap};

use foldhash::fast::RandomState;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use fluvius_core::{
    EventEnvelope, IdempotencyRecord, LAG_COUNT_LIMIT, LogCursor, LogFilter, LogLag, LogPage,
    LogQuery, StoreError, StoredState, StreamKey, StreamRange,
};
use uuid::Uuid;

use crate::event::{Interner, StoredEvent};

/// A hash map with a fast, seeded hasher: keys come from users, so the seed stays random.
pub(crate) type FastMap<K, V> = HashMap<K, V, RandomState>;

/// (tenant, namespace, resource): the scope a state query runs in.
pub(crate) type ResourceScope = (String, String, String);

/// Everything the backend holds. One instance is shared by all clones of a `MemBackend`.
#[derive(Debug, Default)]
pub(crate) struct Store {
    /// The global log; an event's position is its index plus one.
    pub(crate) log: Vec<Arc<StoredEvent>>,
    /// Each stream's events and current state row.
    pub(crate) streams: FastMap<StreamKey, Stream>,
    /// The ids of the streams of a resource that have a state row, in id order (for `find`).
    pub(crate) index: FastMap<ResourceScope, BTreeSet<String>>,
    /// Idempotency records by tenant, then command id (nested so a lookup needs no allocation).
    pub(crate) idempotency: FastMap<String, FastMap<Uuid, IdempotencyRecord>>,
    /// The strings events repeat, kept once.
    pub(crate) strings: Interner,
    /// The audit log.
    pub(crate) audit: crate::audit::AuditLog,
    /// The outbox.
    pub(crate) outbox: crate::outbox::MemOutbox,
    /// The rows of inline projections, by projection and stream.
    pub(crate) inline: FastMap<(String, StreamKey), fluvius_core::InlineRow>,
}

/// One stream: its key (shared by its events), its events in version order (the event at index
/// `i` has version `i + 1`) and its state row.
#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) key: Arc<StreamKey>,
    pub(crate) events: Vec<Arc<StoredEvent>>,
    pub(crate) state: Option<StoredState>,
}

impl Store {
    /// The version a stream is at: the version of its state row, 0 when it has none.
    pub(crate) fn head(&self, key: &StreamKey) -> u64 {
        self.streams
            .get(key)
            .and_then(|stream| stream.state.as_ref())
            .map_or(0, |state| state.version)
    }

    /// Whether an idempotency record exists for (tenant, command id).
    pub(crate) fn has_record(&self, tenant: &str, command_id: &Uuid) -> bool {
        self.idempotency
            .get(tenant)
            .is_some_and(|records| records.contains_key(command_id))
    }

    /// The current state row of a stream.
    pub(crate) fn load_state(&self, key: &StreamKey) -> Option<StoredState> {
        self.streams.get(key)?.state.clone()
    }

    /// A stream's events within a range, in version order.
    ///
    /// Versions are dense, so the version bounds select a slice directly; only the time bound
    /// needs looking at each event.
    pub(crate) fn read_stream(
        &self,
        key: &StreamKey,
        range: StreamRange,
    ) -> Result<Vec<EventEnvelope>, StoreError> {
        let Some(stream) = self.streams.get(key) else {
            return Ok(Vec::new());
        };
        let len = stream.events.len();
        let start = index(range.after_version).min(len);
        let end = range.up_to_version.map_or(len, |v| index(v).min(len));
        stream
            .events
            .get(start..end.max(start))
            .unwrap_or_default()
            .iter()
            .filter(|event| range.admits(event.version, event.recorded_at))
            .map(|event| event.envelope())
            .collect()
    }

    /// One page of the global log. Position order is log order here, so an event's cursor is
    /// `(0, position)`; a cursor from another store (a non-zero first component) is after every
    /// event of this one.
    pub(crate) fn read_log(&self, query: &LogQuery) -> Result<LogPage, StoreError> {
        let after = query.after;
        let start = if after.tx() == 0 {
            index(after.position()).min(self.log.len())
        } else {
            self.log.len()
        };
        let mut matching = self.log[start..].iter().filter(|event| {
            let key = &event.stream;
            query
                .filter
                .admits(&key.tenant, &key.namespace, &key.resource, &event.evt_key)
        });
        let entries: Vec<(LogCursor, EventEnvelope)> = matching
            .by_ref()
            .take(query.limit)
            .map(|event| Ok((cursor(event), event.envelope()?)))
            .collect::<Result<_, StoreError>>()?;
        let caught_up = matching.next().is_none();
        let next = if caught_up {
            // Everything up to the head was looked at.
            self.log[start..]
                .last()
                .map_or(after, |event| cursor(event))
        } else {
            // More is waiting: continue right after the last event returned.
            entries.last().map_or(after, |(last, _)| *last)
        };
        Ok(LogPage::new(entries, next.max(after), caught_up))
    }

    /// How many events after `after` pass `filter`, counted up to [`LAG_COUNT_LIMIT`]. Commits
    /// are atomic here: nothing holds a horizon back.
    pub(crate) fn log_lag(&self, after: LogCursor, filter: &LogFilter) -> LogLag {
        let start = if after.tx() == 0 {
            index(after.position()).min(self.log.len())
        } else {
            self.log.len()
        };
        let behind = if filter == &LogFilter::default() {
            self.log.len() - start
        } else {
            self.log[start..]
                .iter()
                .filter(|event| {
                    let key = &event.stream;
                    filter.admits(&key.tenant, &key.namespace, &key.resource, &event.evt_key)
                })
                .take(LAG_COUNT_LIMIT as usize)
                .count()
        };
        LogLag::new(behind as u64, None)
    }

    /// The cursor of the event at a global position.
    pub(crate) fn log_cursor(&self, position: u64) -> Option<LogCursor> {
        let event = self.log.get(index(position).checked_sub(1)?)?;
        Some(cursor(event))
    }

    /// The idempotency record of a command id within a tenant.
    pub(crate) fn idempotency(&self, tenant: &str, command_id: &Uuid) -> Option<IdempotencyRecord> {
        self.idempotency.get(tenant)?.get(command_id).cloned()
    }

    /// Removes the idempotency records recorded before `before`; returns how many.
    pub(crate) fn purge_idempotency(&mut self, before: DateTime<Utc>) -> u64 {
        let mut removed = 0;
        self.idempotency.retain(|_, records| {
            let len = records.len();
            records.retain(|_, record| record.recorded_at >= before);
            removed += len - records.len();
            !records.is_empty()
        });
        u64::try_from(removed).unwrap_or(u64::MAX)
    }
}

/// The cursor at an event of this store.
fn cursor(event: &StoredEvent) -> LogCursor {
    LogCursor::new(0, event.position)
}

/// A version or position as an index into a dense list, saturating on 32-bit targets.
fn index(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}
