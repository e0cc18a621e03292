//! One forwarding backend for the suite's test wrappers: a wrapper says only which calls it
//! intercepts (its [`Hooks`]); every other call goes to the wrapped backend unchanged.

use std::ops::Deref;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use fluvius_core::{
    Backend, BoxFuture, CommitBatch, CommitReceipt, EventEnvelope, IdempotencyRecord, LogCursor,
    LogPage, LogQuery, Snapshot, StaleQuery, StatePage, StateQuery, StateWrite, StoreError,
    StoredState, StreamKey, StreamRange,
};
use uuid::Uuid;

/// The calls a wrapper may intercept; each default passes the call to `inner`.
pub trait Hooks: Send + Sync + std::fmt::Debug + 'static {
    /// A commit.
    fn commit<'a>(
        &'a self,
        inner: &'a dyn Backend,
        batch: CommitBatch,
    ) -> BoxFuture<'a, Result<CommitReceipt, StoreError>> {
        inner.commit(batch)
    }

    /// A read of a stream's state row.
    fn load_state<'a>(
        &'a self,
        inner: &'a dyn Backend,
        key: &'a StreamKey,
    ) -> BoxFuture<'a, Result<Option<StoredState>, StoreError>> {
        inner.load_state(key)
    }

    /// A read of a stream's events.
    fn read_stream<'a>(
        &'a self,
        inner: &'a dyn Backend,
        key: &'a StreamKey,
        range: StreamRange,
    ) -> BoxFuture<'a, Result<Vec<EventEnvelope>, StoreError>> {
        inner.read_stream(key, range)
    }

    /// A guarded rewrite of a state row.
    fn refresh_state<'a>(
        &'a self,
        inner: &'a dyn Backend,
        key: &'a StreamKey,
        state: StateWrite,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        inner.refresh_state(key, state)
    }
}

/// A backend in front of another, with hooks `H` on some of its calls. Derefs to the hooks, so
/// a case calls the wrapper's own methods on it directly.
#[derive(Debug)]
pub struct Wrapped<H> {
    inner: Arc<dyn Backend>,
    hooks: H,
}

impl<H: Hooks> Wrapped<H> {
    /// `hooks` in front of `inner`.
    pub fn around(inner: Arc<dyn Backend>, hooks: H) -> Arc<Self> {
        Arc::new(Wrapped { inner, hooks })
    }
}

impl<H> Deref for Wrapped<H> {
    type Target = H;

    fn deref(&self) -> &H {
        &self.hooks
    }
}

impl<H: Hooks> Backend for Wrapped<H> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn commit(&self, batch: CommitBatch) -> BoxFuture<'_, Result<CommitReceipt, StoreError>> {
        self.hooks.commit(self.inner.as_ref(), batch)
    }

    fn load_state<'a>(
        &'a self,
        key: &'a StreamKey,
    ) -> BoxFuture<'a, Result<Option<StoredState>, StoreError>> {
        self.hooks.load_state(self.inner.as_ref(), key)
    }

    fn read_stream<'a>(
        &'a self,
        key: &'a StreamKey,
        range: StreamRange,
    ) -> BoxFuture<'a, Result<Vec<EventEnvelope>, StoreError>> {
        self.hooks.read_stream(self.inner.as_ref(), key, range)
    }

    fn read_log<'a>(&'a self, query: &'a LogQuery) -> BoxFuture<'a, Result<LogPage, StoreError>> {
        self.inner.read_log(query)
    }

    fn log_lag<'a>(
        &'a self,
        after: LogCursor,
        filter: &'a fluvius_core::LogFilter,
    ) -> BoxFuture<'a, Result<Option<fluvius_core::LogLag>, StoreError>> {
        self.inner.log_lag(after, filter)
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
        self.hooks.refresh_state(self.inner.as_ref(), key, state)
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

    fn audit(&self) -> Option<&dyn fluvius_core::AuditStore> {
        // Audit records of commits travel in the commit, which the hooks see.
        self.inner.audit()
    }

    fn outbox(&self) -> Option<&dyn fluvius_core::OutboxStore> {
        self.inner.outbox()
    }

    fn keeps_inline_rows(&self) -> bool {
        self.inner.keeps_inline_rows()
    }

    fn read_inline<'a>(
        &'a self,
        projection: &'a str,
        key: &'a fluvius_core::StreamKey,
    ) -> fluvius_core::BoxFuture<
        'a,
        Result<Option<fluvius_core::InlineRow>, fluvius_core::StoreError>,
    > {
        self.inner.read_inline(projection, key)
    }

    fn commit_signal(&self) -> Option<&fluvius_core::CommitSignal> {
        // Wake-ups only say the log may have grown: forwarding them bypasses no hook.
        self.inner.commit_signal()
    }
}
