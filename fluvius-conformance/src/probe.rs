//! A backend wrapper that counts the stream reads and state-row rewrites the domain asks for, so
//! a case can tell a read served by the stored state from one that refolded the stream, and can
//! run a writer at the moment a refolded state is about to be written back.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use fluvius_core::{
    Backend, BoxFuture, CommitBatch, CommitReceipt, EventEnvelope, IdempotencyRecord, LogCursor,
    LogPage, LogQuery, Snapshot, StaleQuery, StatePage, StateQuery, StateWrite, StoreError,
    StoredState, StreamKey, StreamRange,
};
use uuid::Uuid;

/// Wraps a backend and counts what passes through.
pub struct ProbedBackend {
    inner: Arc<dyn Backend>,
    stream_reads: AtomicUsize,
    rewrites: AtomicUsize,
    before_rewrite: Mutex<Option<BoxFuture<'static, ()>>>,
}

impl std::fmt::Debug for ProbedBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbedBackend")
            .field("inner", &self.inner)
            .field("stream_reads", &self.stream_reads())
            .field("rewrites", &self.rewrites())
            .finish()
    }
}

impl ProbedBackend {
    /// A probe in front of `inner`.
    pub fn new(inner: Arc<dyn Backend>) -> Arc<Self> {
        Arc::new(ProbedBackend {
            inner,
            stream_reads: AtomicUsize::new(0),
            rewrites: AtomicUsize::new(0),
            before_rewrite: Mutex::new(None),
        })
    }

    /// How many times a stream's events were read (each fold reads them once).
    pub fn stream_reads(&self) -> usize {
        self.stream_reads.load(Ordering::SeqCst)
    }

    /// How many state-row rewrites were asked for.
    pub fn rewrites(&self) -> usize {
        self.rewrites.load(Ordering::SeqCst)
    }

    /// Runs `writer` to its end just before the next state-row rewrite reaches the backend.
    pub fn before_next_rewrite(&self, writer: BoxFuture<'static, ()>) {
        *self.before_rewrite.lock().expect("the hook lock") = Some(writer);
    }
}

impl Backend for ProbedBackend {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn commit(&self, batch: CommitBatch) -> BoxFuture<'_, Result<CommitReceipt, StoreError>> {
        self.inner.commit(batch)
    }

    fn load_state<'a>(
        &'a self,
        key: &'a StreamKey,
    ) -> BoxFuture<'a, Result<Option<StoredState>, StoreError>> {
        self.inner.load_state(key)
    }

    fn read_stream<'a>(
        &'a self,
        key: &'a StreamKey,
        range: StreamRange,
    ) -> BoxFuture<'a, Result<Vec<EventEnvelope>, StoreError>> {
        self.stream_reads.fetch_add(1, Ordering::SeqCst);
        self.inner.read_stream(key, range)
    }

    fn read_log<'a>(&'a self, query: &'a LogQuery) -> BoxFuture<'a, Result<LogPage, StoreError>> {
        self.inner.read_log(query)
    }

    fn log_cursor(&self, position: u64) -> BoxFuture<'_, Result<Option<LogCursor>, StoreError>> {
        self.inner.log_cursor(position)
    }

    fn find<'a>(&'a self, query: &'a StateQuery) -> BoxFuture<'a, Result<StatePage, StoreError>> {
        self.inner.find(query)
    }

    fn idempotency<'a>(
        &'a self,
        tenant: &'a str,
        command_id: Uuid,
    ) -> BoxFuture<'a, Result<Option<IdempotencyRecord>, StoreError>> {
        self.inner.idempotency(tenant, command_id)
    }

    fn purge_idempotency(&self, before: DateTime<Utc>) -> BoxFuture<'_, Result<u64, StoreError>> {
        self.inner.purge_idempotency(before)
    }

    fn load_snapshot<'a>(
        &'a self,
        key: &'a StreamKey,
        range: StreamRange,
    ) -> BoxFuture<'a, Result<Option<Snapshot>, StoreError>> {
        self.inner.load_snapshot(key, range)
    }

    fn refresh_state<'a>(
        &'a self,
        key: &'a StreamKey,
        state: StateWrite,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.rewrites.fetch_add(1, Ordering::SeqCst);
        let writer = self.before_rewrite.lock().expect("the hook lock").take();
        Box::pin(async move {
            if let Some(writer) = writer {
                writer.await;
            }
            self.inner.refresh_state(key, state).await
        })
    }

    fn stale_states<'a>(
        &'a self,
        query: &'a StaleQuery,
    ) -> BoxFuture<'a, Result<Vec<StreamKey>, StoreError>> {
        self.inner.stale_states(query)
    }

    fn replace_snapshot<'a>(
        &'a self,
        key: &'a StreamKey,
        snapshot: Snapshot,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.inner.replace_snapshot(key, snapshot)
    }
}
