//! [`PgBackend`]: the handle users build a domain with, and its [`Backend`] implementation.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use fluvius_core::{
    Backend, BoxFuture, CommitBatch, CommitReceipt, EventEnvelope, IdempotencyRecord, Snapshot,
    StatePage, StateQuery, StoreError, StoredState, StreamKey, StreamRange,
};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

use crate::error::PgError;
use crate::migrate::migrate;

/// How often (in stream versions) a snapshot is written unless configured otherwise.
pub const DEFAULT_SNAPSHOT_EVERY: u64 = 100;

/// An event store and state store in PostgreSQL.
///
/// Cheap to clone: clones share the connection pool. Two `PgBackend`s on one database (two
/// processes) see each other's writes and conflict as the contract says.
#[derive(Clone)]
pub struct PgBackend {
    pub(crate) pool: PgPool,
    pub(crate) snapshot_every: u64,
    replica: Option<Arc<PgBackend>>,
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

    /// Uses an existing pool (sized and configured by the caller) and applies the migrations.
    pub async fn from_pool(pool: PgPool) -> Result<PgBackend, PgError> {
        migrate(&pool).await?;
        Ok(PgBackend {
            pool,
            snapshot_every: DEFAULT_SNAPSHOT_EVERY,
            replica: None,
        })
    }

    /// Reads of the state manager (fetch, find, time travel, history) go to this pool, typically
    /// a read replica of the primary; commands still read and write through the primary. No
    /// migration is run on it: the replica follows the primary's schema.
    pub fn with_read_pool(mut self, pool: PgPool) -> PgBackend {
        self.replica = Some(Arc::new(PgBackend {
            pool,
            snapshot_every: self.snapshot_every,
            replica: None,
        }));
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

    /// The primary's connection pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

impl fmt::Debug for PgBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgBackend")
            .field("connections", &self.pool.size())
            .field("idle", &self.pool.num_idle())
            .field("snapshot_every", &self.snapshot_every)
            .field("read_replica", &self.replica.is_some())
            .finish()
    }
}

impl Backend for PgBackend {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn commit(&self, batch: CommitBatch) -> BoxFuture<'_, Result<CommitReceipt, StoreError>> {
        Box::pin(self.commit_batch(batch))
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

    fn read_all(
        &self,
        after_position: u64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<EventEnvelope>, StoreError>> {
        Box::pin(async move { Ok(self.global_log(after_position, limit).await?) })
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

    fn read_replica(&self) -> Option<&dyn Backend> {
        self.replica
            .as_deref()
            .map(|replica| replica as &dyn Backend)
    }
}
