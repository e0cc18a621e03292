//! A backend wrapper that holds commits at a gate until the case lets them through, so a case
//! can line commands up behind a commit in flight and act (cancel a caller, write from another
//! domain) while it waits.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use fluvius_core::{
    Backend, BoxFuture, CommitBatch, CommitReceipt, EventEnvelope, IdempotencyRecord, LogCursor,
    LogPage, LogQuery, Snapshot, StaleQuery, StatePage, StateQuery, StateWrite, StoreError,
    StoredState, StreamKey, StreamRange,
};
use tokio::sync::Semaphore;
use uuid::Uuid;

/// Wraps a backend; while closed, each commit waits for a permit.
#[derive(Debug)]
pub struct GatedBackend {
    inner: Arc<dyn Backend>,
    closed: AtomicBool,
    permits: Semaphore,
    arrived: AtomicUsize,
}

impl GatedBackend {
    /// An open gate in front of `inner`.
    pub fn new(inner: Arc<dyn Backend>) -> Arc<Self> {
        Arc::new(GatedBackend {
            inner,
            closed: AtomicBool::new(false),
            permits: Semaphore::new(0),
            arrived: AtomicUsize::new(0),
        })
    }

    /// Makes later commits wait for [`GatedBackend::let_through`] or [`GatedBackend::open`].
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    /// Lets `n` waiting or later commits through.
    pub fn let_through(&self, n: usize) {
        self.permits.add_permits(n);
    }

    /// Lets every commit through from now on.
    pub fn open(&self) {
        self.closed.store(false, Ordering::SeqCst);
        self.permits.add_permits(Semaphore::MAX_PERMITS / 2);
    }

    /// Waits until `n` commits in all have reached the gate while it was closed.
    pub async fn arrivals(&self, n: usize) {
        for _ in 0..2_000 {
            if self.arrived.load(Ordering::SeqCst) >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!(
            "only {} of {n} commits reached the gate in 10 s",
            self.arrived.load(Ordering::SeqCst)
        );
    }
}

impl Backend for GatedBackend {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn commit(&self, batch: CommitBatch) -> BoxFuture<'_, Result<CommitReceipt, StoreError>> {
        Box::pin(async move {
            if self.closed.load(Ordering::SeqCst) {
                self.arrived.fetch_add(1, Ordering::SeqCst);
                self.permits
                    .acquire()
                    .await
                    .expect("the gate's semaphore is never closed")
                    .forget();
            }
            self.inner.commit(batch).await
        })
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
        self.inner.refresh_state(key, state)
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
