//! The atomic commit: check the whole batch against the store, then apply all of it.
//!
//! Checking first and applying after, under one write lock, is what makes a batch all or
//! nothing: the apply phase cannot fail, so nothing is ever half written.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use fluvius_core::{CommitBatch, CommitReceipt, EventEnvelope, StoreError, StreamKey, StreamWrite};
use uuid::Uuid;

use crate::event::{Encoded, StoredEvent, encode};
use crate::store::{FastMap, Store, Stream};

/// The encoded events of a batch: one list per stream write.
pub(crate) type EncodedBatch = Vec<Vec<Encoded>>;

/// Encodes the events of a batch for the store (see [`crate::event`]).
pub(crate) fn encode_batch(batch: &CommitBatch) -> Result<EncodedBatch, StoreError> {
    batch
        .streams
        .iter()
        .map(|write| write.events.iter().map(encode).collect())
        .collect()
}

impl Store {
    /// Writes a batch atomically: every stream write is checked before any is applied.
    /// `encoded` holds its events' data, from [`encode_batch`].
    pub(crate) fn commit(
        &mut self,
        batch: CommitBatch,
        encoded: EncodedBatch,
    ) -> Result<CommitReceipt, StoreError> {
        self.check(&batch)?;
        let mut positions = Vec::with_capacity(batch.streams.len());
        for (write, encoded) in batch.streams.into_iter().zip(encoded) {
            positions.push(self.apply(write, encoded));
        }
        Ok(CommitReceipt::new(positions))
    }

    /// Checks every stream write of a batch against the store, changing nothing.
    ///
    /// Two writes to one stream chain: the second is checked against the head the first leaves.
    fn check(&self, batch: &CommitBatch) -> Result<(), StoreError> {
        let chained = batch.streams.len() > 1;
        let mut heads: HashMap<&StreamKey, u64> = HashMap::new();
        let mut command_ids: HashSet<(&str, Uuid)> = HashSet::new();
        for write in &batch.streams {
            let head = match heads.get(&write.key) {
                Some(head) => *head,
                None => self.head(&write.key),
            };
            let new_head = check_events(write, head)?;
            if chained {
                heads.insert(&write.key, new_head);
            }
            for record in &write.idempotency {
                let fresh = command_ids.insert((record.tenant.as_str(), record.command_id));
                if !fresh || self.has_record(&record.tenant, &record.command_id) {
                    return Err(StoreError::DuplicateCommandId {
                        tenant: record.tenant.clone(),
                        command_id: record.command_id,
                    });
                }
            }
        }
        Ok(())
    }

    /// Applies one checked stream write; returns the positions given to its events.
    fn apply(&mut self, write: StreamWrite, encoded: Vec<Encoded>) -> Vec<u64> {
        let StreamWrite {
            key,
            events,
            state,
            idempotency,
            audit,
            messages,
            inline,
            ..
        } = write;
        for row in inline {
            self.inline.insert((row.projection, row.key), row.row);
        }
        if !audit.is_empty() {
            self.append_audit(audit);
        }
        if !messages.is_empty() {
            self.outbox.append(messages, chrono::Utc::now());
        }
        for record in idempotency {
            match self.idempotency.get_mut(&record.tenant) {
                Some(records) => {
                    records.insert(record.command_id, record);
                }
                None => {
                    let tenant = record.tenant.clone();
                    let mut records = FastMap::default();
                    records.insert(record.command_id, record);
                    self.idempotency.insert(tenant, records);
                }
            }
        }
        if events.is_empty() {
            return Vec::new();
        }

        // A stream is only ever created with events and a state row, so a stream that exists
        // has a row and is already in the index.
        let stream = match self.streams.entry(key) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => {
                let key = entry.key();
                let scope = (
                    key.tenant.clone(),
                    key.namespace.clone(),
                    key.resource.clone(),
                );
                self.index.entry(scope).or_default().insert(key.id.clone());
                let shared = Arc::new(key.clone());
                entry.insert(Stream {
                    key: shared,
                    events: Vec::new(),
                    state: None,
                })
            }
        };
        let head = stream.state.as_ref().map_or(0, |row| row.version);
        let mut positions = Vec::with_capacity(events.len());
        self.log.reserve(events.len());
        stream.events.reserve(events.len());
        for ((version, event), encoded) in (head + 1..).zip(events.iter()).zip(encoded) {
            // Checked to match already; the stored event takes the store's numbers.
            let position = self.log.len() as u64 + 1;
            positions.push(position);
            let mut stored =
                StoredEvent::new(event, encoded, &stream.key, position, &mut self.strings);
            stored.version = version;
            let stored = Arc::new(stored);
            self.log.push(Arc::clone(&stored));
            stream.events.push(stored);
        }

        let mut row = state;
        row.version = head + positions.len() as u64;
        if let Some(previous) = &stream.state {
            row.created_at = previous.created_at;
        }
        stream.state = Some(row);
        positions
    }
}

/// Checks one stream write against the head its stream is at; returns the head after it.
fn check_events(write: &StreamWrite, head: u64) -> Result<u64, StoreError> {
    let key = &write.key;
    if !write.expected.matches(head) {
        return Err(StoreError::Conflict {
            key: key.clone(),
            expected: write.expected,
            actual: head,
        });
    }
    for (version, event) in (head + 1..).zip(write.events.iter()) {
        if !belongs_to(event, key) {
            return Err(StoreError::Invalid(format!(
                "event {} is addressed to stream {}/{}.{}/{} but was written to stream {key}",
                event.event_id, event.tenant, event.namespace, event.resource, event.identifier,
            )));
        }
        if event.version != version {
            return Err(StoreError::Invalid(format!(
                "event {} of stream {key} has version {}, but the stream's next version is \
                 {version}: events must continue their stream without gaps",
                event.event_id, event.version,
            )));
        }
    }
    Ok(head + write.events.len() as u64)
}

/// Whether an event names the stream it is written to (the tenant wall depends on it).
fn belongs_to(event: &EventEnvelope, key: &StreamKey) -> bool {
    event.tenant == key.tenant
        && event.namespace == key.namespace
        && event.resource == key.resource
        && event.identifier == key.id
}
