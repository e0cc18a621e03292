//! [`MemBackend`]: the shared handle to the store and its [`Backend`] implementation.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use fluvius_core::{
    Backend, BoxFuture, CommitBatch, CommitReceipt, CommitSignal, EventEnvelope, IdempotencyRecord,
    LogCursor, LogFilter, LogLag, LogPage, LogQuery, StaleQuery, StatePage, StateQuery, StateWrite,
    StoreError, StoredState, StreamKey, StreamRange,
};
use parking_lot::RwLock;
use uuid::Uuid;

use crate::find::FindSpec;
use crate::store::Store;

/// An event store and state store held in memory.
///
/// Clones share one store: two domains built on clones of one `MemBackend` see each other's
/// writes and conflict with each other as two processes on one database would. Every call does
/// its work synchronously when its future is first polled, under a lock that is never held across
/// an `.await`.
#[derive(Clone, Default)]
pub struct MemBackend {
    store: Arc<RwLock<Store>>,
    /// Raised after each commit that wrote events, shared by the clones.
    signal: Arc<CommitSignal>,
}

impl MemBackend {
    /// An empty store.
    pub fn new() -> Self {
        MemBackend::default()
    }

    /// Runs a query over the store. Exposed to the crate's tests, which cannot build a
    /// `StateQuery` (it has no constructor outside `fluvius-core`).
    pub(crate) fn store(&self) -> &RwLock<Store> {
        &self.store
    }

    pub(crate) fn find_spec(&self, spec: &FindSpec<'_>) -> Result<StatePage, StoreError> {
        self.store.read().find(spec)
    }
}

impl fmt::Debug for MemBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("MemBackend");
        // `try_read`: formatting must not deadlock when the caller already holds the lock.
        match self.store.try_read() {
            Some(store) => out
                .field("events", &store.log.len())
                .field("streams", &store.streams.len())
                .field(
                    "idempotency_records",
                    &store.idempotency.values().map(|r| r.len()).sum::<usize>(),
                ),
            None => out.field("store", &"<locked>"),
        };
        out.finish()
    }
}

impl Backend for MemBackend {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn commit(&self, batch: CommitBatch) -> BoxFuture<'_, Result<CommitReceipt, StoreError>> {
        Box::pin(async move {
            // Encoding the event data takes no lock.
            let encoded = crate::commit::encode_batch(&batch)?;
            let receipt = self.store.write().commit(batch, encoded)?;
            if receipt.positions.iter().any(|p| !p.is_empty()) {
                self.signal.raise();
            }
            Ok(receipt)
        })
    }

    fn load_state<'a>(
        &'a self,
        key: &'a StreamKey,
    ) -> BoxFuture<'a, Result<Option<StoredState>, StoreError>> {
        Box::pin(async move { Ok(self.store.read().load_state(key)) })
    }

    fn read_stream<'a>(
        &'a self,
        key: &'a StreamKey,
        range: StreamRange,
    ) -> BoxFuture<'a, Result<Vec<EventEnvelope>, StoreError>> {
        Box::pin(async move { self.store.read().read_stream(key, range) })
    }

    fn read_log<'a>(&'a self, query: &'a LogQuery) -> BoxFuture<'a, Result<LogPage, StoreError>> {
        Box::pin(async move { self.store.read().read_log(query) })
    }

    fn audit(&self) -> Option<&dyn fluvius_core::AuditStore> {
        Some(self)
    }

    fn outbox(&self) -> Option<&dyn fluvius_core::OutboxStore> {
        Some(self)
    }

    fn keeps_inline_rows(&self) -> bool {
        true
    }

    fn read_inline<'a>(
        &'a self,
        projection: &'a str,
        key: &'a StreamKey,
    ) -> BoxFuture<'a, Result<Option<fluvius_core::InlineRow>, StoreError>> {
        Box::pin(async move {
            Ok(self
                .store
                .read()
                .inline
                .get(&(projection.to_owned(), key.clone()))
                .cloned())
        })
    }

    fn commit_signal(&self) -> Option<&CommitSignal> {
        Some(&self.signal)
    }

    fn log_lag<'a>(
        &'a self,
        after: LogCursor,
        filter: &'a LogFilter,
    ) -> BoxFuture<'a, Result<Option<LogLag>, StoreError>> {
        Box::pin(async move { Ok(Some(self.store.read().log_lag(after, filter))) })
    }

    fn log_cursor(&self, position: u64) -> BoxFuture<'_, Result<Option<LogCursor>, StoreError>> {
        Box::pin(async move { Ok(self.store.read().log_cursor(position)) })
    }

    fn find<'a>(&'a self, query: &'a StateQuery) -> BoxFuture<'a, Result<StatePage, StoreError>> {
        Box::pin(async move { self.find_spec(&FindSpec::from(query)) })
    }

    fn idempotency<'a>(
        &'a self,
        tenant: &'a str,
        command_id: Uuid,
    ) -> BoxFuture<'a, Result<Option<IdempotencyRecord>, StoreError>> {
        Box::pin(async move { Ok(self.store.read().idempotency(tenant, &command_id)) })
    }

    fn purge_idempotency(&self, before: DateTime<Utc>) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move { Ok(self.store.write().purge_idempotency(before)) })
    }

    fn refresh_state<'a>(
        &'a self,
        key: &'a StreamKey,
        state: StateWrite,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move { Ok(self.store.write().refresh_state(key, state)) })
    }

    fn stale_states<'a>(
        &'a self,
        query: &'a StaleQuery,
    ) -> BoxFuture<'a, Result<Vec<StreamKey>, StoreError>> {
        Box::pin(async move { Ok(self.store.read().stale_states(query)) })
    }
}
