//! Throw-away databases for the tests: each test creates its own `fluvius_test_<uuid>` on the
//! server named by `DATABASE_URL` and drops it when done, so no two tests share a database.

#![allow(dead_code)]

use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use fluvius_core::{
    Backend, BoxFuture, CommitBatch, CommitReceipt, EventEnvelope, IdempotencyRecord, LogCursor,
    LogPage, LogQuery, Snapshot, StaleQuery, StatePage, StateQuery, StateWrite, StoreError,
    StoredState, StreamKey, StreamRange,
};
use fluvius_postgres::PgBackend;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;

/// The whole global log as a reader sees it now, read in pages until caught up.
pub async fn whole_log(backend: &dyn Backend) -> Vec<EventEnvelope> {
    let mut query = LogQuery::from_start().limit(1000);
    let mut log = Vec::new();
    loop {
        let page = backend.read_log(&query).await.expect("read_log");
        log.extend(page.events);
        query.after = page.next;
        if page.caught_up {
            return log;
        }
    }
}

/// The server the tests use.
pub fn server_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database created for one test, dropped (with its connections) when this value is dropped.
#[derive(Debug)]
pub struct TestDb {
    name: String,
    options: PgConnectOptions,
}

impl TestDb {
    /// Creates an empty database.
    pub async fn create() -> TestDb {
        let server = PgConnectOptions::from_str(&server_url()).expect("DATABASE_URL is a URL");
        let name = format!("fluvius_test_{}", Uuid::new_v4().simple());
        let mut admin = PgConnection::connect_with(&server)
            .await
            .expect("connect to the PostgreSQL server of DATABASE_URL");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut admin)
            .await
            .expect("create a test database");
        let _ = admin.close().await;
        let options = server.database(&name);
        TestDb { name, options }
    }

    /// Connection options for the database.
    pub fn options(&self) -> PgConnectOptions {
        self.options.clone()
    }

    /// A new pool of at most `size` connections to the database.
    pub async fn pool(&self, size: u32) -> PgPool {
        PgPoolOptions::new()
            .max_connections(size)
            .connect_with(self.options())
            .await
            .expect("connect to the test database")
    }

    /// A backend on a new pool of the database (running the migrations).
    pub async fn backend(&self) -> PgBackend {
        PgBackend::from_pool(self.pool(6).await)
            .await
            .expect("migrate the test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let server = self.options.clone().database("postgres");
        let name = self.name.clone();
        // Drop runs inside the test's runtime, which must not block on itself: a thread with its
        // own runtime does the work.
        let dropper = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(mut admin) = PgConnection::connect_with(&server).await {
                    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .execute(&mut admin)
                        .await;
                    let _ = admin.close().await;
                }
            });
        });
        let _ = dropper.join();
    }
}

/// The role walled-in tests connect as: it may read and write the `fluvius` tables and is subject
/// to their row-level security policies (not a superuser, not their owner).
pub const WALLED_ROLE: &str = "fluvius_walled_app";

impl TestDb {
    /// A pool of the database connecting as [`WALLED_ROLE`], which is created on the server if
    /// need be and given the privileges an application needs on the schema (migrated first, by
    /// the owner).
    pub async fn walled_pool(&self, size: u32) -> PgPool {
        let owner = self.pool(1).await;
        // Roles belong to the server, not to the database: tests running at once may both
        // try to create it.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DO $$ BEGIN CREATE ROLE {WALLED_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS; \
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        )))
        .execute(&owner)
        .await
        .expect("create the walled role");
        for grant in [
            format!("GRANT USAGE ON SCHEMA fluvius TO {WALLED_ROLE}"),
            format!(
                "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA fluvius \
                 TO {WALLED_ROLE}"
            ),
            format!("GRANT USAGE ON ALL SEQUENCES IN SCHEMA fluvius TO {WALLED_ROLE}"),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(grant))
                .execute(&owner)
                .await
                .expect("grant the walled role its privileges");
        }
        owner.close().await;
        PgPoolOptions::new()
            .max_connections(size)
            .connect_with(self.options().username(WALLED_ROLE))
            .await
            .expect("connect to the test database as the walled role")
    }

    /// A backend on the database connecting as [`WALLED_ROLE`] (the schema migrated by the
    /// owner first), behind the row-level security wall.
    pub async fn walled_backend(&self) -> PgBackend {
        self.backend().await;
        let backend = PgBackend::from_migrated_pool(self.walled_pool(6).await)
            .await
            .expect("a migrated schema");
        assert!(
            backend.behind_tenant_wall().await.expect("ask the server"),
            "the walled role is subject to row-level security"
        );
        backend
    }
}

/// A backend on a fresh database behind the row-level security wall, its own tenant filters on.
pub async fn fresh_walled_backend() -> Arc<dyn Backend> {
    let db = TestDb::create().await;
    let inner = db.walled_backend().await;
    Arc::new(OwnedDb::new(inner, Some(Arc::new(db))))
}

/// A backend on a fresh database, as the conformance suite wants it.
pub async fn fresh_backend() -> Arc<dyn Backend> {
    let db = TestDb::create().await;
    let inner = db.backend().await;
    Arc::new(OwnedDb::new(inner, Some(Arc::new(db))))
}

/// A backend that owns its test database (the database goes when the last clone does) and
/// counts the events `read_stream` hands out, so tests can tell a fold from a snapshot read
/// without timing anything.
#[derive(Debug, Clone)]
pub struct OwnedDb {
    pub inner: PgBackend,
    _db: Option<Arc<TestDb>>,
    events_read: Arc<std::sync::atomic::AtomicUsize>,
}

#[allow(dead_code)]
impl OwnedDb {
    /// Wraps a backend; `db`, when given, is dropped with the last clone.
    pub fn new(inner: PgBackend, db: Option<Arc<TestDb>>) -> Self {
        OwnedDb {
            inner,
            _db: db,
            events_read: Arc::default(),
        }
    }

    /// The events read since the last call.
    pub fn take_events_read(&self) -> usize {
        self.events_read
            .swap(0, std::sync::atomic::Ordering::SeqCst)
    }
}

impl Backend for OwnedDb {
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
        Box::pin(async move {
            let events = self.inner.read_stream(key, range).await?;
            self.events_read
                .fetch_add(events.len(), std::sync::atomic::Ordering::SeqCst);
            Ok(events)
        })
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
    fn read_replica(&self) -> Option<&dyn Backend> {
        self.inner.read_replica()
    }
    fn commit_signal(&self) -> Option<&fluvius_core::CommitSignal> {
        self.inner.commit_signal()
    }
    fn audit(&self) -> Option<&dyn fluvius_core::AuditStore> {
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
}

/// A stream key of the test namespace.
pub fn key(tenant: &str, resource: &str, id: &str) -> StreamKey {
    StreamKey {
        tenant: tenant.to_owned(),
        namespace: "test".to_owned(),
        resource: resource.to_owned(),
        id: id.to_owned(),
    }
}

/// A fixed whole-second instant.
pub fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_704_067_200 + seconds, 0).expect("a valid instant")
}

/// A write of `n` events (versions continuing `expected`) and a state
/// `{"n": <last version>}`.
pub fn write(
    key: &StreamKey,
    expected: fluvius_core::ExpectedVersion,
    n: u64,
) -> fluvius_core::StreamWrite {
    let base = expected.as_u64();
    let events: Vec<EventEnvelope> = (1..=n)
        .map(|k| {
            EventEnvelope::new(
                key,
                base + k,
                "bumped",
                1,
                serde_json::json!({"k": k}),
                fluvius_core::EventMetadata::default(),
                at(0),
            )
        })
        .collect();
    let state = fluvius_core::StateWrite::new(
        base + n,
        fluvius_core::StateDoc::Json(serde_json::json!({"n": base + n})),
        false,
        at(0),
        at(0),
        None,
    );
    fluvius_core::StreamWrite::new(key.clone(), expected, events, state, Vec::new())
}

/// An idempotency record for a command on `key`.
pub fn record(key: &StreamKey, command_id: Uuid) -> IdempotencyRecord {
    IdempotencyRecord::new(
        key.tenant.clone(),
        command_id,
        "fingerprint".into(),
        fluvius_core::AggRoot::new(key.resource.clone(), key.id.clone()),
        0,
        1,
        serde_json::json!({}),
        at(0),
    )
}

/// How many rows a table of the `fluvius` schema holds.
pub async fn count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM fluvius.{table}"
    )))
    .fetch_one(pool)
    .await
    .expect("count rows")
}
