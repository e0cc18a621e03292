//! Stale stored states (decision D10): a state row or snapshot written with another state digest
//! is refolded from the events and written back as it is found, and
//! [`Domain::refresh_states_all_tenants`] walks a resource kind to refresh all of them after an upgrade, so
//! `find` filters on what the states mean to the running code.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::backend::{Backend, Snapshot, StaleQuery, StateDoc, StateWrite, StreamKey, StreamRange};
use crate::error::Error;
use crate::event::EventEnvelope;

use super::cache::CachedStream;
use super::{Domain, DomainInner, ResourceEntry, empty_head, fold_onto, fold_owned};

/// The largest batch [`Domain::refresh_states_all_tenants`] reads at once.
pub const MAX_REFRESH_BATCH: usize = 10_000;

/// A callback given the totals of a refresh after each batch.
type Progress = Arc<dyn Fn(&RefreshReport) + Send + Sync>;

/// How [`Domain::refresh_states_all_tenants`] walks a resource kind.
#[derive(Clone)]
#[non_exhaustive]
pub struct RefreshOptions {
    /// How many stale rows are listed and refreshed per batch (1 to [`MAX_REFRESH_BATCH`];
    /// 500 by default).
    pub batch: usize,
    on_batch: Option<Progress>,
}

impl RefreshOptions {
    /// Batches of 500, no progress callback.
    pub fn new() -> Self {
        RefreshOptions {
            batch: 500,
            on_batch: None,
        }
    }

    /// Sets the batch size.
    pub fn batch(mut self, batch: usize) -> Self {
        self.batch = batch;
        self
    }

    /// Calls `progress` after each batch with the totals so far.
    pub fn on_batch(mut self, progress: impl Fn(&RefreshReport) + Send + Sync + 'static) -> Self {
        self.on_batch = Some(Arc::new(progress));
        self
    }
}

impl Default for RefreshOptions {
    fn default() -> Self {
        RefreshOptions::new()
    }
}

impl fmt::Debug for RefreshOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshOptions")
            .field("batch", &self.batch)
            .field("on_batch", &self.on_batch.is_some())
            .finish()
    }
}

/// What [`Domain::refresh_states_all_tenants`] did, in all or so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RefreshReport {
    /// Stale rows found.
    pub scanned: u64,
    /// Rows rewritten with the current digest.
    pub refreshed: u64,
    /// Rows a writer moved on while they were refolded; the writer's row is kept.
    pub skipped: u64,
    /// Batches done.
    pub batches: u64,
}

impl Domain {
    /// Rewrites every stored state of `resource` that was written with another state digest
    /// (an older `state_version` or state schema), in all tenants, from a fold of its events.
    /// Run once after a deploy that changed what the states mean, it makes `find` exact again.
    ///
    /// Walks the stale rows in batches of `options.batch`, in (tenant, identifier) order; each
    /// rewrite is guarded by the row's version, so a concurrent writer is never overwritten.
    /// Safe to run again, or beside commands; a run that fails part way keeps what it did.
    pub async fn refresh_states_all_tenants(
        &self,
        resource: &str,
        options: RefreshOptions,
    ) -> Result<RefreshReport, Error> {
        let inner = &self.inner;
        let entry = inner.resource(resource)?;
        if !(1..=MAX_REFRESH_BATCH).contains(&options.batch) {
            return Err(Error::Config(format!(
                "the refresh batch is {}: give 1 to {MAX_REFRESH_BATCH}",
                options.batch
            )));
        }
        let mut report = RefreshReport::default();
        let mut query = StaleQuery::new(
            inner.namespace.clone(),
            resource,
            entry.digest.clone(),
            options.batch,
        );
        loop {
            let keys = inner.backend.stale_states(&query).await?;
            for key in &keys {
                report.scanned += 1;
                let head = inner.fold_all(inner.backend.as_ref(), key, entry).await?;
                if head.version > 0 && inner.write_back(key, entry, &head).await? {
                    report.refreshed += 1;
                } else {
                    report.skipped += 1;
                }
            }
            let Some(last) = keys.last() else {
                break;
            };
            report.batches += 1;
            if let Some(progress) = &options.on_batch {
                progress(&report);
            }
            query = query.after(last.tenant.clone(), last.id.clone());
            if keys.len() < options.batch {
                break;
            }
        }
        Ok(report)
    }
}

impl DomainInner {
    /// A stream folded from its first event.
    async fn fold_all(
        &self,
        reader: &dyn Backend,
        key: &StreamKey,
        entry: &ResourceEntry,
    ) -> Result<CachedStream, Error> {
        let events = reader.read_stream(key, StreamRange::all()).await?;
        fold_owned(&entry.descriptor, empty_head(&entry.descriptor), events)
    }

    /// The head of a stream whose stored state cannot be trusted: a fold of its events, written
    /// back as its state row. A failed write-back costs the next read a fold again, never this
    /// read its answer.
    pub(crate) async fn refold(
        &self,
        reader: &dyn Backend,
        key: &StreamKey,
        entry: &ResourceEntry,
    ) -> Result<CachedStream, Error> {
        let head = self.fold_all(reader, key, entry).await?;
        if head.version > 0
            && let Err(err) = self.write_back(key, entry, &head).await
        {
            tracing::warn!(stream = %key, error = %err, "rewriting a stale state row failed");
        }
        Ok(head)
    }

    /// Rewrites a stream's state row with `head` and the current digest, if the row is at
    /// `head.version`; returns whether it was.
    async fn write_back(
        &self,
        key: &StreamKey,
        entry: &ResourceEntry,
        head: &CachedStream,
    ) -> Result<bool, Error> {
        let updated_at = head.updated_at.unwrap_or_else(|| self.clock.now());
        let state = StateWrite::new(
            head.version,
            StateDoc::Typed(head.state.clone()),
            head.deleted,
            head.created_at.unwrap_or(updated_at),
            updated_at,
            head.updated_by.clone(),
        )
        .with_digest(entry.digest.clone());
        Ok(self.backend.refresh_state(key, state).await?)
    }

    /// Writes `head` as the snapshot at its version, and as the state row if the row is there.
    async fn replace_snapshot(
        &self,
        key: &StreamKey,
        entry: &ResourceEntry,
        head: &CachedStream,
        recorded_at: DateTime<Utc>,
    ) -> Result<(), Error> {
        let state = head.state.to_json().map_err(|err| Error::Decode {
            what: format!("state of `{}`", entry.descriptor.name),
            message: err.to_string(),
        })?;
        let snapshot = Snapshot::new(head.version, state, entry.digest.clone(), recorded_at);
        self.backend.replace_snapshot(key, snapshot).await?;
        self.write_back(key, entry, head).await?;
        Ok(())
    }

    /// Time travel past a stale snapshot at `version`: folds `events` (the range from the first
    /// event) with the snapshot replaced on the way by its refold, and the state row too when
    /// the snapshot was the row (PostgreSQL serves the head row as the latest snapshot).
    pub(crate) async fn fold_past_stale_snapshot(
        &self,
        key: &StreamKey,
        entry: &ResourceEntry,
        version: u64,
        recorded_at: DateTime<Utc>,
        events: &[EventEnvelope],
    ) -> Result<CachedStream, Error> {
        let resource = &entry.descriptor;
        let split = events.partition_point(|e| e.version <= version);
        let (before, after) = events.split_at(split);
        let at_snapshot = fold_onto(resource, empty_head(resource), before)?;
        if at_snapshot.version == version
            && let Err(err) = self
                .replace_snapshot(key, entry, &at_snapshot, recorded_at)
                .await
        {
            tracing::warn!(stream = %key, error = %err, "replacing a stale snapshot failed");
        }
        fold_onto(resource, at_snapshot, after)
    }
}
