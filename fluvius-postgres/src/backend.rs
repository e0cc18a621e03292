//! [`PgBackend`]: the handle users build a domain with, and its [`Backend`] implementation.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use fluvius_core::{
    Backend, BoxFuture, CommitBatch, CommitReceipt, CommitSignal, EventEnvelope, IdempotencyRecord,
    LogCursor, LogPage, LogQuery, Snapshot, StaleQuery, StatePage, StateQuery, StateWrite,
    StoreError, StoredState, StreamKey, StreamRange,
};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

use crate::error::PgError;
use crate::group::{CommitQueue, CommitStats};
use crate::migrate::migrate;
use crate::notify::{Notifier, PgCommitListener};

/// How often (in stream versions) a snapshot is written unless configured otherwise.
pub const DEFAULT_SNAPSHOT_EVERY: u64 = 100;

/// An event store and state store in PostgreSQL.
///
/// Cheap to clone: clones share the connection pool and the commit queue (see
/// [`max_flushers`](PgBackend::max_flushers)). Two `PgBackend`s on one database (two processes)
/// see each other's writes and conflict as the contract says.
#[derive(Clone)]
pub struct PgBackend {
    pub(crate) pool: PgPool,
    pub(crate) snapshot_every: u64,
    pub(crate) queue: Arc<CommitQueue>,
    replica: Option<Arc<PgBackend>>,
    /// Raised after each commit that wrote events, and by a commit listener.
    signal: Arc<CommitSignal>,
    /// Announces commits to other processes when set (see `notify_commits`).
    notifier: Option<Arc<Notifier>>,
    /// Whether the row-level security policies apply to this backend's role (see
    /// [`wall`](crate::wall)), asked on first use.
    pub(crate) wall: Arc<tokio::sync::OnceCell<bool>>,
    /// Whether reads name their tenant (always, but for [`PgBackend::without_tenant_filters`]).
    pub(crate) tenant_filters: bool,
}

impl PgBackend {
    /// Connects to the database at `url` (`postgres://user@host:5432/db`) with a pool of default
    /// size and applies the migrations.
    pub async fn connect(url: &str) -> Result<PgBackend, PgError> {
        let pool = PgPoolOptions::new()
            .connect(url)
            .await
            .map_err(PgError::Connect)?;
        PgBackend::from_pool(pool).await
    }

    /// Connects as [`connect`](PgBackend::connect) does, but without migrating (see
    /// [`from_migrated_pool`](PgBackend::from_migrated_pool)).
    pub async fn connect_migrated(url: &str) -> Result<PgBackend, PgError> {
        let pool = PgPoolOptions::new()
            .connect(url)
            .await
            .map_err(PgError::Connect)?;
        PgBackend::from_migrated_pool(pool).await
    }

    /// Uses an existing pool (sized and configured by the caller) and applies the migrations.
    pub async fn from_pool(pool: PgPool) -> Result<PgBackend, PgError> {
        migrate(&pool).await?;
        PgBackend::on(pool).ready().await
    }

    /// Uses an existing pool without migrating: for an application role that may not change the
    /// schema (for instance one walled by [row-level security](crate#row-level-security)), the
    /// schema's owner having run [`migrate`] beforehand. Fails, naming the versions, if the
    /// database lacks a migration this version of the crate needs.
    pub async fn from_migrated_pool(pool: PgPool) -> Result<PgBackend, PgError> {
        crate::migrate::check_migrated(&pool).await?;
        PgBackend::on(pool).ready().await
    }

    /// Asks the server whether the wall applies before the first call needs to know.
    async fn ready(self) -> Result<PgBackend, PgError> {
        self.walled().await?;
        Ok(self)
    }

    fn on(pool: PgPool) -> PgBackend {
        PgBackend {
            queue: Arc::new(CommitQueue::new(pool.options().get_max_connections())),
            pool,
            snapshot_every: DEFAULT_SNAPSHOT_EVERY,
            replica: None,
            signal: Arc::new(CommitSignal::new()),
            notifier: None,
            wall: Arc::new(tokio::sync::OnceCell::new()),
            tenant_filters: true,
        }
    }

    /// Whether PostgreSQL's row-level security walls this backend's role in (see
    /// [row-level security](crate#row-level-security)): `false` for the schema's owner and for
    /// superusers, which the policies exempt.
    pub async fn behind_tenant_wall(&self) -> Result<bool, PgError> {
        self.walled().await
    }

    /// Drops the tenant predicates from the state manager's reads (key lookups, queries, the log
    /// and audit reports), leaving row-level security as the only tenant wall. It exists to prove
    /// that wall in tests; a backend not [behind it](PgBackend::behind_tenant_wall) then shows
    /// every tenant's rows to every tenant. Never use it in an application.
    #[doc(hidden)]
    pub fn without_tenant_filters(mut self) -> PgBackend {
        self.tenant_filters = false;
        self
    }

    /// Reads of the state manager (fetch, find, time travel, history) go to this pool, typically
    /// a read replica of the primary; commands still read and write through the primary. No
    /// migration is run on it: the replica follows the primary's schema.
    pub fn with_read_pool(mut self, pool: PgPool) -> PgBackend {
        let mut replica = PgBackend::on(pool);
        replica.snapshot_every = self.snapshot_every;
        replica.tenant_filters = self.tenant_filters;
        self.replica = Some(Arc::new(replica));
        self
    }

    /// Writes a snapshot each time a stream's version crosses a multiple of `every` (default
    /// [`DEFAULT_SNAPSHOT_EVERY`]); 0 turns snapshots off. Time travel folds from the latest
    /// snapshot at or before the requested version, so it never folds more than about `every`
    /// events.
    pub fn snapshot_every(mut self, every: u64) -> PgBackend {
        self.snapshot_every = every;
        self
    }

    /// How many flushes of the commit queue may be in flight at once (default
    /// [`DEFAULT_MAX_FLUSHERS`](crate::DEFAULT_MAX_FLUSHERS); at least 1). Each flush is one
    /// transaction on one connection of the pool, carrying every call queued when it started (up
    /// to [`max_group`](PgBackend::max_group) stream writes); calls arriving meanwhile wait for
    /// the next one. More flushers overlap one flush's WAL flush with the next one's work; fewer
    /// make bigger groups. Keep it below the pool's size, which reads share.
    ///
    /// Applies to this backend and its clones: they share one queue.
    pub fn max_flushers(self, n: usize) -> PgBackend {
        self.queue.set_max_flushers(n);
        self
    }

    /// How many stream writes one flush carries at most (default
    /// [`DEFAULT_MAX_GROUP`](crate::DEFAULT_MAX_GROUP)); a call with more writes than that goes
    /// alone. `1` turns group commit off: every call is then its own transaction, sent by its
    /// caller's task, as many at once as the pool has connections.
    ///
    /// Applies to this backend and its clones: they share one queue.
    pub fn max_group(self, n: usize) -> PgBackend {
        self.queue.set_max_group(n);
        self
    }

    /// What the commit queue (shared with the clones) has done: flushes, the calls they carried,
    /// and what waits now. `calls / flushes` is the mean group size.
    pub fn commit_stats(&self) -> CommitStats {
        self.queue.stats()
    }

    /// The primary's connection pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Announces commits to log readers in other processes (default off): after commits that
    /// wrote events have returned, a task sends `NOTIFY fluvius_log` on the pool, never inside a
    /// command's transaction, and at most one at a time (commits returning meanwhile share the
    /// next one). Readers elsewhere hear it through [`listen_commits`](PgBackend::listen_commits).
    /// Readers in this process are woken by the [commit signal](Backend::commit_signal) either way.
    pub fn notify_commits(mut self, on: bool) -> PgBackend {
        self.notifier = on.then(|| Arc::new(Notifier::new()));
        self
    }

    /// Starts a task that listens for the commits other processes announce (see
    /// [`notify_commits`](PgBackend::notify_commits)) and raises this backend's
    /// [commit signal](Backend::commit_signal) for each, so subscriptions here wake at once.
    /// It holds one connection of the pool and reconnects by itself. Dropping the returned
    /// value stops it. Needs a Tokio runtime.
    pub fn listen_commits(&self) -> PgCommitListener {
        PgCommitListener::spawn(self.pool.clone(), Arc::clone(&self.signal))
    }

    async fn commit_and_signal(&self, batch: CommitBatch) -> Result<CommitReceipt, StoreError> {
        let receipt = self.commit_queued(batch).await?;
        if receipt.positions.iter().any(|p| !p.is_empty()) {
            self.signal.raise();
            if let Some(notifier) = &self.notifier {
                notifier.poke(&self.pool);
            }
        }
        Ok(receipt)
    }
}

impl fmt::Debug for PgBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgBackend")
            .field("connections", &self.pool.size())
            .field("idle", &self.pool.num_idle())
            .field("snapshot_every", &self.snapshot_every)
            .field("max_flushers", &self.queue.max_flushers())
            .field("max_group", &self.queue.max_group())
            .field("read_replica", &self.replica.is_some())
            .field("notify_commits", &self.notifier.is_some())
            .field("behind_tenant_wall", &self.wall.get())
            .finish()
    }
}

impl Backend for PgBackend {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn commit(&self, batch: CommitBatch) -> BoxFuture<'_, Result<CommitReceipt, StoreError>> {
        Box::pin(self.commit_and_signal(batch))
    }

    fn load_state<'a>(
        &'a self,
        key: &'a StreamKey,
    ) -> BoxFuture<'a, Result<Option<StoredState>, StoreError>> {
        Box::pin(async move { Ok(self.state_row(key).await?) })
    }

    fn read_stream<'a>(
        &'a self,
        key: &'a StreamKey,
        range: StreamRange,
    ) -> BoxFuture<'a, Result<Vec<EventEnvelope>, StoreError>> {
        Box::pin(async move { Ok(self.stream_events(key, range).await?) })
    }

    fn read_log<'a>(&'a self, query: &'a LogQuery) -> BoxFuture<'a, Result<LogPage, StoreError>> {
        Box::pin(async move { Ok(self.log_page(query).await?) })
    }

    fn log_cursor(&self, position: u64) -> BoxFuture<'_, Result<Option<LogCursor>, StoreError>> {
        Box::pin(async move { Ok(self.cursor_at(position).await?) })
    }

    fn log_lag<'a>(
        &'a self,
        after: LogCursor,
        filter: &'a fluvius_core::LogFilter,
    ) -> BoxFuture<'a, Result<Option<fluvius_core::LogLag>, StoreError>> {
        Box::pin(async move { Ok(Some(self.lag(after, filter).await?)) })
    }

    fn find<'a>(&'a self, query: &'a StateQuery) -> BoxFuture<'a, Result<StatePage, StoreError>> {
        Box::pin(async move { Ok(self.find_states(query).await?) })
    }

    fn idempotency<'a>(
        &'a self,
        tenant: &'a str,
        command_id: Uuid,
    ) -> BoxFuture<'a, Result<Option<IdempotencyRecord>, StoreError>> {
        Box::pin(async move { Ok(self.idempotency_record(tenant, command_id).await?) })
    }

    fn purge_idempotency(&self, before: DateTime<Utc>) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move { Ok(self.purge_records(before).await?) })
    }

    fn load_snapshot<'a>(
        &'a self,
        key: &'a StreamKey,
        range: StreamRange,
    ) -> BoxFuture<'a, Result<Option<Snapshot>, StoreError>> {
        Box::pin(async move { Ok(self.snapshot(key, range).await?) })
    }

    fn refresh_state<'a>(
        &'a self,
        key: &'a StreamKey,
        state: StateWrite,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move { Ok(self.rewrite_state(key, state).await?) })
    }

    fn stale_states<'a>(
        &'a self,
        query: &'a StaleQuery,
    ) -> BoxFuture<'a, Result<Vec<StreamKey>, StoreError>> {
        Box::pin(async move { Ok(self.stale_rows(query).await?) })
    }

    fn replace_snapshot<'a>(
        &'a self,
        key: &'a StreamKey,
        snapshot: Snapshot,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move { Ok(self.rewrite_snapshot(key, snapshot).await?) })
    }

    fn commit_signal(&self) -> Option<&CommitSignal> {
        Some(&self.signal)
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
        Box::pin(async move { Ok(self.read_inline_row(projection, key).await?) })
    }

    fn read_replica(&self) -> Option<&dyn Backend> {
        self.replica
            .as_deref()
            .map(|replica| replica as &dyn Backend)
    }
}

impl fluvius_core::AuditStore for PgBackend {
    fn append_audit(
        &self,
        records: Vec<fluvius_core::AuditRecord>,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move { Ok(self.append_audit_rows(records).await?) })
    }

    fn query_audit<'a>(
        &'a self,
        query: &'a fluvius_core::AuditQuery,
    ) -> BoxFuture<'a, Result<fluvius_core::AuditPage, StoreError>> {
        Box::pin(async move { Ok(self.query_audit_rows(query).await?) })
    }
}
