//! The head of a stream as the domain knows it: loading it, catching up after a conflict, folding.

use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};

use crate::aggregate::ResourceDescriptor;
use crate::backend::{
    Backend, ExpectedVersion, IdempotencyRecord, StateDoc, StateWrite, StoreError, StreamKey,
    StreamRange, StreamWrite,
};
use crate::error::Error;
use crate::event::EventEnvelope;
use crate::limits;
use crate::state::AnyState;

use super::cache::CachedStream;
use super::{DomainInner, ResourceEntry};

impl DomainInner {
    /// `recorded_at` never decreases within a stream, whatever the clock says. Whole
    /// microseconds, the precision every backend keeps, so a response and a later read agree;
    /// and within the years every backend stores (`limits::min_time` to `limits::max_time`),
    /// so a clock set past them records the nearest storable instant.
    pub(crate) fn recorded_at(&self, last: Option<DateTime<Utc>>) -> DateTime<Utc> {
        let now = self.clock.now();
        let now = if limits::time_in_range(now) {
            now
        } else {
            now.clamp(limits::min_time(), limits::max_time())
        }
        .trunc_subsecs(6);
        match last {
            Some(last) if last > now => last,
            _ => now,
        }
    }

    /// The head of a stream from the store: its state row, or a fold of its events, written back,
    /// when the row is stale or cannot be decoded (a snapshot is a cache, never the truth).
    pub(crate) async fn load(
        &self,
        key: &StreamKey,
        entry: &ResourceEntry,
    ) -> Result<CachedStream, Error> {
        self.load_from(self.backend.as_ref(), key, entry).await
    }

    /// Where the state manager reads: the read replica when the backend has one.
    pub(crate) fn reader(&self) -> &dyn Backend {
        self.backend.read_replica().unwrap_or(self.backend.as_ref())
    }

    /// [`DomainInner::load`] from a given backend (the primary or a read replica).
    pub(crate) async fn load_from(
        &self,
        backend: &dyn Backend,
        key: &StreamKey,
        entry: &ResourceEntry,
    ) -> Result<CachedStream, Error> {
        let resource = &entry.descriptor;
        let Some(stored) = backend.load_state(key).await? else {
            return Ok(empty_head(resource));
        };
        let trusted = stored.digest.is_empty() || stored.digest == entry.digest;
        let state: Option<Arc<dyn AnyState>> = match stored.state {
            _ if !trusted => None,
            StateDoc::Typed(state) if state.as_any().type_id() == (resource.state_type)() => {
                Some(state)
            }
            other => other
                .to_json()
                .ok()
                .and_then(|json| (resource.decode_state)(json).ok())
                .map(Arc::from),
        };
        match state {
            Some(state) => Ok(CachedStream {
                version: stored.version,
                state,
                deleted: stored.deleted,
                created_at: Some(stored.created_at),
                updated_at: Some(stored.updated_at),
                updated_by: stored.updated_by,
            }),
            None => {
                tracing::debug!(stream = %key, "stored state is stale or does not decode, folding events");
                self.refold(backend, key, entry).await
            }
        }
    }

    /// After a conflict: fold only the events the head has not seen.
    pub(crate) async fn refresh(
        &self,
        key: &StreamKey,
        entry: &ResourceEntry,
        current: CachedStream,
    ) -> Result<CachedStream, Error> {
        let tail = self
            .backend
            .read_stream(key, StreamRange::after(current.version))
            .await?;
        match tail.first() {
            Some(first) if first.version == current.version + 1 => {
                fold_owned(&entry.descriptor, current, tail)
            }
            _ => self.load(key, entry).await,
        }
    }
}

impl DomainInner {
    /// The write that moves a stream from `start` to `head`: its events, the new state row with
    /// the resource's digest, and the expected version `start` stands for.
    pub(crate) fn stream_write(
        &self,
        key: &StreamKey,
        entry: &ResourceEntry,
        start: &CachedStream,
        head: &CachedStream,
        events: Arc<Vec<EventEnvelope>>,
        records: Vec<IdempotencyRecord>,
    ) -> StreamWrite {
        let now = head.updated_at.unwrap_or_else(|| self.clock.now());
        let state = StateWrite::new(
            head.version,
            StateDoc::Typed(head.state.clone()),
            head.deleted,
            head.created_at.unwrap_or(now),
            now,
            head.updated_by.clone(),
        )
        .with_digest(entry.digest.clone());
        StreamWrite::new(
            key.clone(),
            ExpectedVersion::at(start.version),
            events,
            state,
            records,
        )
    }
}

impl DomainInner {
    /// The rows of the resource's inline projections after `events` (the commit's events of
    /// `key`, which is at `start` before them): each stored row, caught up first from the
    /// stream's own events when it is behind `start` (a projection added after the stream
    /// began), then folded over `events`.
    pub(crate) async fn inline_writes(
        &self,
        key: &StreamKey,
        entry: &ResourceEntry,
        start: u64,
        events: &[EventEnvelope],
    ) -> Result<Vec<crate::inline::InlineWrite>, StoreError> {
        if entry.inline.is_empty() || events.is_empty() {
            return Ok(Vec::new());
        }
        let failed = |name: &str, event: &EventEnvelope, err: String| {
            StoreError::internal(
                format!(
                    "inline projection `{name}` failed on event `{}` v{} of {key}: {err}",
                    event.evt_key, event.version
                ),
                None,
            )
        };
        let mut out = Vec::with_capacity(entry.inline.len());
        for projection in &entry.inline {
            let name = projection.name();
            let stored = if start == 0 {
                None
            } else {
                self.backend.read_inline(name, key).await?
            };
            let (version, mut row) = match stored {
                Some(stored) => (stored.version, stored.row),
                None => (0, serde_json::Value::Null),
            };
            if version > start {
                // Written by a commit this one has not seen: it will conflict; decide again.
                return Err(StoreError::Conflict {
                    key: key.clone(),
                    expected: ExpectedVersion::at(start),
                    actual: version,
                });
            }
            if version < start {
                let missing = self
                    .backend
                    .read_stream(key, StreamRange::after(version).up_to(start))
                    .await?;
                let missing = entry
                    .descriptor
                    .upcast_envelopes(missing)
                    .map_err(|err| StoreError::internal(err.to_string(), None))?;
                for event in &missing {
                    projection
                        .apply(&mut row, event)
                        .map_err(|err| failed(name, event, err))?;
                }
            }
            for event in events {
                projection
                    .apply(&mut row, event)
                    .map_err(|err| failed(name, event, err))?;
            }
            out.push(crate::inline::InlineWrite::new(
                name,
                key.clone(),
                crate::inline::InlineRow::new(start + events.len() as u64, row),
            ));
        }
        Ok(out)
    }
}

/// The head of a stream that has no events yet.
pub(crate) fn empty_head(resource: &ResourceDescriptor) -> CachedStream {
    CachedStream {
        version: 0,
        state: Arc::from((resource.default_state)()),
        deleted: false,
        created_at: None,
        updated_at: None,
        updated_by: None,
    }
}

/// Applies events to a head, reading each through the resource's one decode path (upcasting
/// older shapes and retired keys).
pub(crate) fn fold_onto(
    resource: &ResourceDescriptor,
    head: CachedStream,
    events: &[EventEnvelope],
) -> Result<CachedStream, Error> {
    let Some(last) = events.last() else {
        return Ok(head);
    };
    let mut state = head.state.clone_state();
    let mut deleted = head.deleted;
    for event in events {
        deleted |= resource.apply(
            state.as_mut(),
            &event.evt_key,
            event.schema_version,
            &event.payload,
        )?;
    }
    Ok(CachedStream {
        version: last.version,
        state: Arc::from(state),
        deleted,
        created_at: head.created_at.or(events.first().map(|e| e.recorded_at)),
        updated_at: Some(last.recorded_at),
        updated_by: last.metadata.user.clone(),
    })
}

/// [`fold_onto`] of events the caller is done with: their data moves into the fold, so an event
/// of an older schema version is upcast without a copy.
pub(crate) fn fold_owned(
    resource: &ResourceDescriptor,
    head: CachedStream,
    events: Vec<EventEnvelope>,
) -> Result<CachedStream, Error> {
    let (Some(first), Some(last)) = (events.first(), events.last()) else {
        return Ok(head);
    };
    let created_at = head.created_at.or(Some(first.recorded_at));
    let (version, updated_at, updated_by) =
        (last.version, last.recorded_at, last.metadata.user.clone());
    let mut state = head.state.clone_state();
    let mut deleted = head.deleted;
    for event in events {
        deleted |= resource.apply_owned(
            state.as_mut(),
            &event.evt_key,
            event.schema_version,
            event.payload,
        )?;
    }
    Ok(CachedStream {
        version,
        state: Arc::from(state),
        deleted,
        created_at,
        updated_at: Some(updated_at),
        updated_by,
    })
}
