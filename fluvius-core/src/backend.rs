//! The contract between the domain and a store: one atomic `commit` per write, plus reads.
//!
//! Backends implement [`Backend`]; the domain holds it as `Arc<dyn Backend>`, so swapping a backend
//! changes no user type.

use std::fmt::{self, Debug};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::command::AggRoot;
use crate::error::{Detail, Error};
use crate::event::EventEnvelope;
use crate::filter::{Filter, Page, SortKey};
use crate::log::{LogCursor, LogPage, LogQuery};
use crate::state::AnyState;

/// A boxed, sendable future: what the dyn-compatible [`Backend`] methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Identifies one stream: tenant, namespace, resource kind and identifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamKey {
    /// The tenant (empty in single-tenant domains).
    pub tenant: String,
    /// The domain's namespace.
    pub namespace: String,
    /// The resource kind.
    pub resource: String,
    /// The aggregate root's identifier.
    pub id: String,
}

impl fmt::Display for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}.{}/{}",
            self.tenant, self.namespace, self.resource, self.id
        )
    }
}

/// The version a write expects the stream to be at. Every write states one: a write that
/// skipped the check would lay its state over a head it never saw (a lost update).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// The stream must not exist yet.
    NoStream,
    /// The stream must be exactly at this version.
    Exact(u64),
}

impl ExpectedVersion {
    /// The expectation for a stream at `version` (0: no stream).
    pub fn at(version: u64) -> Self {
        match version {
            0 => ExpectedVersion::NoStream,
            v => ExpectedVersion::Exact(v),
        }
    }

    /// The version number this expectation stands for (0 for no stream).
    pub fn as_u64(self) -> u64 {
        match self {
            ExpectedVersion::NoStream => 0,
            ExpectedVersion::Exact(v) => v,
        }
    }

    /// Whether a stream at `actual` satisfies the expectation.
    pub fn matches(self, actual: u64) -> bool {
        self.as_u64() == actual
    }
}

/// A state document: JSON, or a typed value a backend may keep as is.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum StateDoc {
    /// State as JSON.
    Json(Value),
    /// State as the resource's Rust type.
    Typed(Arc<dyn AnyState>),
}

impl StateDoc {
    /// The state as JSON.
    pub fn to_json(&self) -> Result<Value, Error> {
        match self {
            StateDoc::Json(v) => Ok(v.clone()),
            StateDoc::Typed(s) => s.to_json().map_err(|e| Error::Decode {
                what: format!("state `{}`", s.type_name()),
                message: e.to_string(),
            }),
        }
    }
}

/// The state row written with a stream's events.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StateWrite {
    /// The stream's version after the write (the state row carries the head).
    pub version: u64,
    /// The new state.
    pub state: StateDoc,
    /// Whether the root is soft-deleted.
    pub deleted: bool,
    /// When the first event of the stream was recorded.
    pub created_at: DateTime<Utc>,
    /// When the last event of the stream was recorded.
    pub updated_at: DateTime<Utc>,
    /// Who caused the last change.
    pub updated_by: Option<String>,
    /// SHA-256 of the state type's schema (sorted keys) and the aggregate's `state_version`: a
    /// stored state whose digest differs from the running code's is refolded, never trusted, and
    /// then rewritten with [`Backend::refresh_state`]. Empty when unknown.
    pub digest: String,
}

impl StateWrite {
    /// A state write.
    pub fn new(
        version: u64,
        state: StateDoc,
        deleted: bool,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
        updated_by: Option<String>,
    ) -> Self {
        StateWrite {
            version,
            state,
            deleted,
            created_at,
            updated_at,
            updated_by,
            digest: String::new(),
        }
    }

    /// Sets the state digest.
    pub fn with_digest(mut self, digest: impl Into<String>) -> Self {
        self.digest = digest.into();
        self
    }
}

/// A stored state at some version of a stream, for time travel on long streams.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Snapshot {
    /// The stream version the state is at.
    pub version: u64,
    /// The state as JSON.
    pub state: Value,
    /// The state digest it was written with (see [`StateWrite::digest`]).
    pub digest: String,
    /// When the event at `version` was recorded.
    pub recorded_at: DateTime<Utc>,
}

impl Snapshot {
    /// A snapshot.
    pub fn new(version: u64, state: Value, digest: String, recorded_at: DateTime<Utc>) -> Self {
        Snapshot {
            version,
            state,
            digest,
            recorded_at,
        }
    }
}

/// The current state of a stream as stored.
pub type StoredState = StateWrite;

/// Proof that a command with a caller-supplied id was processed, and what it answered.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct IdempotencyRecord {
    /// The tenant the id is scoped to.
    pub tenant: String,
    /// The key of the caller-supplied command id: [`idempotency_key`](crate::idempotency_key)
    /// of the domain's namespace and the id, so ids are scoped by (tenant, namespace).
    pub command_id: Uuid,
    /// SHA-256 of (namespace, command key, root, canonical payload).
    pub fingerprint: String,
    /// The root the command targeted.
    pub root: AggRoot,
    /// The stream version before the command.
    pub from_version: u64,
    /// The stream version after the command.
    pub to_version: u64,
    /// The state the command answered with.
    pub state: Value,
    /// When the command was recorded.
    pub recorded_at: DateTime<Utc>,
}

impl IdempotencyRecord {
    /// A record.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        tenant: String,
        command_id: Uuid,
        fingerprint: String,
        root: AggRoot,
        from_version: u64,
        to_version: u64,
        state: Value,
        recorded_at: DateTime<Utc>,
    ) -> Self {
        IdempotencyRecord {
            tenant,
            command_id,
            fingerprint,
            root,
            from_version,
            to_version,
            state,
            recorded_at,
        }
    }
}

/// Everything one command (or a group of queued commands) writes to one stream.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StreamWrite {
    /// The stream.
    pub key: StreamKey,
    /// The version the stream must be at.
    pub expected: ExpectedVersion,
    /// The new events, versions already assigned, positions 0. Shared: the domain keeps a
    /// handle and reuses the events for the command's response, so a backend that is done with
    /// them when `commit` returns (it copied what it keeps) spares the domain a copy of each.
    pub events: Arc<Vec<EventEnvelope>>,
    /// The state row after the events.
    pub state: StateWrite,
    /// Idempotency records to write with them.
    pub idempotency: Vec<IdempotencyRecord>,
    /// Audit records of the commands that wrote them, to write in the same transaction (only
    /// ever given to a backend whose [`Backend::audit`] is `Some`).
    pub audit: Vec<crate::audit::AuditRecord>,
    /// Messages the commands sent, to write in the same transaction (only ever given to a
    /// backend whose [`Backend::outbox`] is `Some`).
    pub messages: Vec<crate::outbox::OutboxMessage>,
    /// Rows of inline projections of the stream after its events, to write in the same
    /// transaction (only ever given to a backend whose [`Backend::keeps_inline_rows`] is true).
    pub inline: Vec<crate::inline::InlineWrite>,
}

impl StreamWrite {
    /// A stream write.
    pub fn new(
        key: StreamKey,
        expected: ExpectedVersion,
        events: impl Into<Arc<Vec<EventEnvelope>>>,
        state: StateWrite,
        idempotency: Vec<IdempotencyRecord>,
    ) -> Self {
        StreamWrite {
            key,
            expected,
            events: events.into(),
            state,
            idempotency,
            audit: Vec::new(),
            messages: Vec::new(),
            inline: Vec::new(),
        }
    }

    /// Adds audit records to write with the stream.
    pub fn with_audit(mut self, records: Vec<crate::audit::AuditRecord>) -> Self {
        self.audit = records;
        self
    }

    /// Adds outbox messages to write with the stream.
    pub fn with_messages(mut self, messages: Vec<crate::outbox::OutboxMessage>) -> Self {
        self.messages = messages;
        self
    }

    /// Adds rows of inline projections to write with the stream.
    pub fn with_inline(mut self, rows: Vec<crate::inline::InlineWrite>) -> Self {
        self.inline = rows;
        self
    }
}

/// One atomic write: all of it commits, or none of it.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CommitBatch {
    /// The streams written.
    pub streams: Vec<StreamWrite>,
}

impl CommitBatch {
    /// A batch of one stream write.
    pub fn single(write: StreamWrite) -> Self {
        CommitBatch {
            streams: vec![write],
        }
    }

    /// A batch of several stream writes.
    pub fn new(streams: Vec<StreamWrite>) -> Self {
        CommitBatch { streams }
    }
}

/// What a commit assigned: the global positions of each stream's events, in batch order, and
/// their log cursors.
///
/// All events of one commit share the commit-order component of their cursors ([`LogCursor::tx`]:
/// PostgreSQL's transaction id, 0 in memory), so the cursor of an event is that component and its
/// position.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct CommitReceipt {
    /// Per stream write, the positions of its events.
    pub positions: Vec<Vec<u64>>,
    /// The commit-order component of the cursors of this commit's events.
    pub tx: u64,
}

impl CommitReceipt {
    /// A receipt of a backend whose position order is its log order (cursors `(0, position)`).
    pub fn new(positions: Vec<Vec<u64>>) -> Self {
        CommitReceipt { positions, tx: 0 }
    }

    /// Sets the commit-order component of the events' cursors (PostgreSQL: the transaction id).
    pub fn with_tx(mut self, tx: u64) -> Self {
        self.tx = tx;
        self
    }

    /// The log cursors of one stream write's events, in order (none for a stream index past the
    /// batch).
    pub fn cursors(&self, stream: usize) -> impl ExactSizeIterator<Item = LogCursor> + '_ {
        let tx = self.tx;
        self.positions
            .get(stream)
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .map(move |&position| LogCursor::new(tx, position))
    }

    /// The cursor of the commit: at its last event in log order, [`LogCursor::START`] when it
    /// wrote none. A reader whose `next` is at or past it has passed every event of the commit.
    pub fn cursor(&self) -> LogCursor {
        (0..self.positions.len())
            .filter_map(|stream| self.cursors(stream).max())
            .max()
            .unwrap_or(LogCursor::START)
    }
}

/// Why a backend refused or failed a call.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A stream was not at the expected version; nothing was written.
    #[error("stream {key} is at version {actual}, expected {expected:?}")]
    Conflict {
        /// The stream.
        key: StreamKey,
        /// What the write expected.
        expected: ExpectedVersion,
        /// Where the stream is.
        actual: u64,
    },
    /// An idempotency record for this (tenant, command id) exists; nothing was written.
    #[error("command id {command_id} was already recorded for tenant `{tenant}`")]
    DuplicateCommandId {
        /// The tenant.
        tenant: String,
        /// The command id.
        command_id: Uuid,
    },
    /// The store cannot be reached or cannot work right now (no connection, pool exhausted,
    /// server shutting down, a serialization failure); nothing was written and retrying is safe.
    #[error("{message}")]
    Unavailable {
        /// What was unavailable, in words fit for the caller (no SQL, no server internals).
        message: String,
        /// The store's own words, for logs.
        #[source]
        detail: Option<Detail>,
    },
    /// The write was sent and the connection failed before its answer: it may have committed.
    #[error("{message}")]
    OutcomeUnknown {
        /// What happened, in words fit for the caller.
        message: String,
        /// The store's own words, for logs.
        #[source]
        detail: Option<Detail>,
    },
    /// The call broke the backend contract (a batch with gaps in its versions, an event
    /// addressed to another stream); nothing was written.
    #[error("invalid write: {0}")]
    Invalid(String),
    /// Any other fault of the store (a statement it refused, a row it cannot decode); nothing
    /// was written.
    #[error("{message}")]
    Internal {
        /// What failed, in words fit for the caller.
        message: String,
        /// The store's own words, for logs.
        #[source]
        detail: Option<Detail>,
    },
}

impl StoreError {
    /// [`StoreError::Unavailable`] with the store's detail.
    pub fn unavailable(message: impl Into<String>, detail: impl Into<Option<Detail>>) -> Self {
        StoreError::Unavailable {
            message: message.into(),
            detail: detail.into(),
        }
    }

    /// [`StoreError::OutcomeUnknown`] with the store's detail.
    pub fn outcome_unknown(message: impl Into<String>, detail: impl Into<Option<Detail>>) -> Self {
        StoreError::OutcomeUnknown {
            message: message.into(),
            detail: detail.into(),
        }
    }

    /// [`StoreError::Internal`] with the store's detail.
    pub fn internal(message: impl Into<String>, detail: impl Into<Option<Detail>>) -> Self {
        StoreError::Internal {
            message: message.into(),
            detail: detail.into(),
        }
    }
}

impl From<StoreError> for Error {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict {
                key,
                expected,
                actual,
            } => Error::VersionConflict {
                resource: key.resource,
                id: key.id,
                expected: expected.as_u64(),
                actual,
            },
            StoreError::DuplicateCommandId { command_id, .. } => {
                Error::DuplicateCommand { command_id }
            }
            StoreError::Unavailable { message, detail } => Error::Unavailable { message, detail },
            StoreError::OutcomeUnknown { message, detail } => {
                Error::OutcomeUnknown { message, detail }
            }
            StoreError::Invalid(message) => Error::Internal {
                message: format!("the backend refused a malformed write: {message}"),
                detail: None,
            },
            StoreError::Internal { message, detail } => Error::Internal { message, detail },
        }
    }
}

/// Which events of a stream to read.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub struct StreamRange {
    /// Only events with a version above this.
    pub after_version: u64,
    /// Only events up to this version.
    pub up_to_version: Option<u64>,
    /// Only events recorded at or before this instant.
    pub recorded_until: Option<DateTime<Utc>>,
}

impl StreamRange {
    /// The whole stream.
    pub fn all() -> Self {
        StreamRange::default()
    }

    /// Events after `version`.
    pub fn after(version: u64) -> Self {
        StreamRange {
            after_version: version,
            ..StreamRange::default()
        }
    }

    /// Events up to and including `version`.
    pub fn up_to(mut self, version: u64) -> Self {
        self.up_to_version = Some(version);
        self
    }

    /// Events recorded at or before `time`.
    pub fn until(mut self, time: DateTime<Utc>) -> Self {
        self.recorded_until = Some(time);
        self
    }

    /// Whether an event falls in the range.
    pub fn contains(&self, event: &EventEnvelope) -> bool {
        self.admits(event.version, event.recorded_at)
    }

    /// Whether an event at this version, recorded at this instant, is in the range (for a
    /// backend that keeps events in a form of its own).
    pub fn admits(&self, version: u64, recorded_at: DateTime<Utc>) -> bool {
        version > self.after_version
            && self.up_to_version.is_none_or(|v| version <= v)
            && self.recorded_until.is_none_or(|t| recorded_at <= t)
    }
}

/// A validated query over one resource kind's current state.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StateQuery {
    /// The tenant.
    pub tenant: String,
    /// The namespace.
    pub namespace: String,
    /// The resource kind.
    pub resource: String,
    /// The filter, validated against the state schema.
    pub filter: Filter,
    /// Sort keys; ties are broken by id ascending.
    pub sort: Vec<SortKey>,
    /// Limit and offset.
    pub page: Page,
    /// Whether soft-deleted roots are included.
    pub include_deleted: bool,
}

impl StateQuery {
    /// A query; the filter, sort and page come validated from the filter DSL.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        tenant: String,
        namespace: String,
        resource: String,
        filter: Filter,
        sort: Vec<SortKey>,
        page: Page,
        include_deleted: bool,
    ) -> Self {
        StateQuery {
            tenant,
            namespace,
            resource,
            filter,
            sort,
            page,
            include_deleted,
        }
    }
}

/// One row of a state query.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StateRow {
    /// The root's identifier.
    pub id: String,
    /// The stored state.
    pub stored: StoredState,
    /// The user of the root's first event (its creator), when it had one.
    pub created_by: Option<String>,
}

impl StateRow {
    /// A row without a known creator.
    pub fn new(id: String, stored: StoredState) -> Self {
        StateRow {
            id,
            stored,
            created_by: None,
        }
    }

    /// The row with the user of the root's first event.
    pub fn with_created_by(mut self, created_by: Option<String>) -> Self {
        self.created_by = created_by;
        self
    }
}

/// A page of state rows and the total number of matches.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct StatePage {
    /// The rows of this page.
    pub rows: Vec<StateRow>,
    /// How many rows match in all.
    pub total: u64,
}

impl StatePage {
    /// A page.
    pub fn new(rows: Vec<StateRow>, total: u64) -> Self {
        StatePage { rows, total }
    }
}

/// A page request for the state rows of one resource kind that were written with another state
/// digest than `digest` (see [`Backend::stale_states`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StaleQuery {
    /// The namespace.
    pub namespace: String,
    /// The resource kind.
    pub resource: String,
    /// The running code's state digest: rows with any other digest are stale.
    pub digest: String,
    /// Only rows after this (tenant, identifier), in that order; `None` from the start.
    pub after: Option<(String, String)>,
    /// At most this many rows.
    pub limit: usize,
}

impl StaleQuery {
    /// The first page of the stale rows of a resource kind.
    pub fn new(
        namespace: impl Into<String>,
        resource: impl Into<String>,
        digest: impl Into<String>,
        limit: usize,
    ) -> Self {
        StaleQuery {
            namespace: namespace.into(),
            resource: resource.into(),
            digest: digest.into(),
            after: None,
            limit,
        }
    }

    /// The page after the row of `tenant` and `id`.
    pub fn after(mut self, tenant: impl Into<String>, id: impl Into<String>) -> Self {
        self.after = Some((tenant.into(), id.into()));
        self
    }
}

/// A store of events, state rows and idempotency records.
///
/// Every write goes through [`Backend::commit`], which is atomic: a stream whose expected version
/// does not match, or an idempotency record whose (tenant, command id) exists, fails the whole batch
/// and nothing is written.
pub trait Backend: Send + Sync + Debug + 'static {
    /// A short name (`memory`, `postgres`).
    fn name(&self) -> &'static str;

    /// Writes events, state rows and idempotency records of one or more streams atomically,
    /// assigning global positions.
    fn commit(&self, batch: CommitBatch) -> BoxFuture<'_, Result<CommitReceipt, StoreError>>;

    /// The current state row of a stream, if it exists.
    fn load_state<'a>(
        &'a self,
        key: &'a StreamKey,
    ) -> BoxFuture<'a, Result<Option<StoredState>, StoreError>>;

    /// A stream's events in version order.
    fn read_stream<'a>(
        &'a self,
        key: &'a StreamKey,
        range: StreamRange,
    ) -> BoxFuture<'a, Result<Vec<EventEnvelope>, StoreError>>;

    /// One page of the global log: the events after `query.after` that pass its filter, in log
    /// order, at most `query.limit` (see [`LogPage`] for `next` and `caught_up`).
    ///
    /// A read never waits for events to arrive: when there is nothing more, it answers at once
    /// with `caught_up` set, and the caller decides how long to wait.
    fn read_log<'a>(&'a self, query: &'a LogQuery) -> BoxFuture<'a, Result<LogPage, StoreError>>;

    /// How far a reader at `after` with `filter` is behind: the events a read could return now
    /// (counted up to [`LAG_COUNT_LIMIT`](crate::LAG_COUNT_LIMIT)) and how long the oldest
    /// running transaction has held the log's horizon. `None` when the backend cannot tell;
    /// wrappers that forward [`read_log`](Backend::read_log) forward this too.
    fn log_lag<'a>(
        &'a self,
        after: LogCursor,
        filter: &'a crate::LogFilter,
    ) -> BoxFuture<'a, Result<Option<crate::LogLag>, StoreError>> {
        let _ = (after, filter);
        Box::pin(std::future::ready(Ok(None)))
    }

    /// The log cursor of the event at a global position, if the log holds one there. Replayed
    /// answers to idempotent commands get their cursor from it.
    fn log_cursor(&self, position: u64) -> BoxFuture<'_, Result<Option<LogCursor>, StoreError>>;

    /// The state rows matching a query, one page, with the total count.
    fn find<'a>(&'a self, query: &'a StateQuery) -> BoxFuture<'a, Result<StatePage, StoreError>>;

    /// The idempotency record of a caller-supplied command id.
    fn idempotency<'a>(
        &'a self,
        tenant: &'a str,
        command_id: Uuid,
    ) -> BoxFuture<'a, Result<Option<IdempotencyRecord>, StoreError>>;

    /// Deletes idempotency records recorded before `before`; returns how many.
    fn purge_idempotency(&self, before: DateTime<Utc>) -> BoxFuture<'_, Result<u64, StoreError>>;

    /// The latest snapshot of a stream within `range` (`up_to_version`, `recorded_until`), if the
    /// backend keeps snapshots. Time travel folds from it instead of from the first event.
    fn load_snapshot<'a>(
        &'a self,
        key: &'a StreamKey,
        range: StreamRange,
    ) -> BoxFuture<'a, Result<Option<Snapshot>, StoreError>> {
        let _ = (key, range);
        Box::pin(std::future::ready(Ok(None)))
    }

    /// Rewrites the state row of a stream in place, without events: the row takes `state`'s
    /// state, digest and bookkeeping only if it is at `state.version` (its `created_at` stays).
    /// Returns whether it did; `false` when the row is at another version (a writer came first,
    /// and its row is kept) or does not exist.
    ///
    /// The domain calls it when it had to refold a stored state that was stale (another digest)
    /// or did not decode, so the next read trusts the row and `find` filters on what it means.
    fn refresh_state<'a>(
        &'a self,
        key: &'a StreamKey,
        state: StateWrite,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// One page of the state rows of a resource kind whose digest differs from `query.digest`,
    /// across tenants, ordered by (tenant, identifier), after `query.after`, at most
    /// `query.limit`. [`Domain::refresh_states_all_tenants`](crate::Domain::refresh_states_all_tenants) walks it.
    fn stale_states<'a>(
        &'a self,
        query: &'a StaleQuery,
    ) -> BoxFuture<'a, Result<Vec<StreamKey>, StoreError>>;

    /// Replaces the snapshot kept at `snapshot.version` of a stream with `snapshot` (a refold
    /// of a stale one); creates none. Backends without snapshots do nothing.
    fn replace_snapshot<'a>(
        &'a self,
        key: &'a StreamKey,
        snapshot: Snapshot,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let _ = (key, snapshot);
        Box::pin(std::future::ready(Ok(())))
    }

    /// Where this backend keeps audit records, if it keeps them. A domain built with
    /// [`DomainBuilder::audit`](crate::DomainBuilder::audit) needs one; a backend that has one
    /// writes the [`StreamWrite::audit`] records of a commit in its transaction. Wrappers that
    /// forward [`commit`](Backend::commit) forward this too.
    fn audit(&self) -> Option<&dyn crate::audit::AuditStore> {
        None
    }

    /// Where this backend keeps the outbox, if it keeps one. A command whose action sends
    /// messages needs one; a backend that has one writes the [`StreamWrite::messages`] of a
    /// commit in its transaction. Wrappers that forward [`commit`](Backend::commit) forward this
    /// too.
    fn outbox(&self) -> Option<&dyn crate::outbox::OutboxStore> {
        None
    }

    /// Whether this backend keeps the rows of inline projections: writes the
    /// [`StreamWrite::inline`] rows of a commit in its transaction and reads them back with
    /// [`read_inline`](Backend::read_inline). A domain with inline projections needs one.
    /// Wrappers that forward [`commit`](Backend::commit) forward this too.
    fn keeps_inline_rows(&self) -> bool {
        false
    }

    /// The row of inline projection `projection` for stream `key`, if one is stored.
    fn read_inline<'a>(
        &'a self,
        projection: &'a str,
        key: &'a StreamKey,
    ) -> BoxFuture<'a, Result<Option<crate::inline::InlineRow>, StoreError>> {
        let _ = (projection, key);
        Box::pin(std::future::ready(Err(StoreError::internal(
            format!(
                "the {} backend keeps no inline projection rows",
                self.name()
            ),
            None,
        ))))
    }

    /// Where the state manager reads from, when it is not this backend (a read replica).
    fn read_replica(&self) -> Option<&dyn Backend> {
        None
    }

    /// The signal this backend raises after each commit that wrote events, for log readers in
    /// this process (see [`CommitSignal`](crate::CommitSignal)); `None` when it raises none, and
    /// readers then poll. Wrappers that forward [`commit`](Backend::commit) forward this too.
    fn commit_signal(&self) -> Option<&crate::signal::CommitSignal> {
        None
    }
}
