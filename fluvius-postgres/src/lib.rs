//! The PostgreSQL backend of Fluvius: events, state rows, snapshots and idempotency records in
//! PostgreSQL (13 or later), through sqlx.
//!
//! [`PgBackend`] implements [`fluvius_core::Backend`] and passes the same conformance suite as
//! the in-memory backend. Users pick it at runtime; nothing else in their domain code changes:
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use fluvius_postgres::PgBackend;
//!
//! // Connects with a default pool and applies the embedded migrations.
//! let backend = PgBackend::connect("postgres://postgres@127.0.0.1:5432/bank").await?;
//! // Or bring your own pool, and send the state manager's reads to a replica:
//! let primary = sqlx::postgres::PgPoolOptions::new()
//!     .max_connections(32)
//!     .connect("postgres://postgres@primary/bank")
//!     .await?;
//! let replica = sqlx::PgPool::connect("postgres://postgres@replica/bank").await?;
//! let backend = PgBackend::from_pool(primary).await?.with_read_pool(replica).snapshot_every(500);
//! # let _ = backend;
//! # Ok(())
//! # }
//! ```
//!
//! # Schema
//!
//! Everything lives in the schema `fluvius`, created by embedded migrations ([`migrate`]) that
//! record themselves in `fluvius._sqlx_migrations` and are safe when several processes start at
//! once. The tenant leads every key.
//!
//! | table | key | holds |
//! |---|---|---|
//! | `events` | `position` (identity); unique `event_id`; unique `(tenant, namespace, resource, identifier, version)`; index `(xid, position)` | every event, with its writing transaction's `xid8` |
//! | `states` | `(tenant, namespace, resource, identifier)` | the head of each stream: version, state `jsonb`, state digest, deleted flag, created/updated time, last user |
//! | `snapshots` | `(tenant, namespace, resource, identifier, version)` | the state at versions that crossed a multiple of [`PgBackend::snapshot_every`] |
//! | `idempotency` | `(tenant, command_id)`; index `recorded_at` | caller-supplied command ids, their fingerprint and answer |
//! | `checkpoints` | `name` | the read side's subscription checkpoints (`fluvius-readside`) |
//! | `parked`, `skipped` | `(subscription, tenant, namespace, resource, identifier, cursor)` | events the read side's handlers parked or skipped |
//!
//! The state row carries the stream's head version, so there is no separate streams table: the
//! head check reads the row the commit rewrites anyway, and one table fewer is one index update
//! fewer per command.
//!
//! # What each call sends
//!
//! | call | SQL | round trips |
//! |---|---|---|
//! | `commit` (any batch: one command, a group of queued commands, an import of many streams) | through the commit queue (see [group commit](crate#group-commit)): `SELECT .. FROM fluvius.commit(..)`, for a call flushed alone as for several flushed together: one statement in its own implicit transaction, with the calls' batches as parallel arrays | 1 per flush, shared by the calls it carries |
//! | `load_state` | `SELECT .. FROM fluvius.states WHERE <key>` | 1 |
//! | `read_stream` | `SELECT .. FROM fluvius.events WHERE <key> AND version > .. ORDER BY version` | 1 |
//! | `load_snapshot` | latest of `fluvius.snapshots` and the state row within the range | 1 |
//! | `find` | one `SELECT .. count(*) OVER ()` over `fluvius.states` (see [`find`](crate#find)) | 1 (2 for an empty page at an offset) |
//! | `read_log` | one `SELECT` below the transaction horizon, ordered by `(xid, position)` from the cursor, filters as conditions, plus where a caught-up reader stands | 1, never waiting |
//! | `log_cursor` | `SELECT xid, position FROM fluvius.events WHERE position = ..` (replayed idempotent answers) | 1 |
//! | `idempotency`, `purge_idempotency` | one `SELECT` / `DELETE` on `fluvius.idempotency` | 1 |
//!
//! Each call that takes a connection from the pool may cost one more round trip: sqlx pings a
//! connection before handing it out unless the pool was built with
//! `PgPoolOptions::test_before_acquire(false)`. The commit queue's flushers keep their
//! connection from one flush to the next, so commits do not pay it.
//!
//! `fluvius.commit` (a PL/pgSQL function, plans cached per connection) is the one write
//! algorithm: every commit goes through it, a call flushed alone being a group of one. In the one
//! transaction of its statement it:
//!
//! 1. takes `pg_advisory_xact_lock` on a 64-bit hash of each stream key of the group, in key
//!    order (no deadlocks between groups), then the lock of each command id (the two-integer lock
//!    space, which stream keys never use), *before* any statement takes a transaction id, so that
//!    within a stream the transaction order is the version order and a duplicate check cannot race
//!    another commit;
//! 2. for each call in queue order, checks everything before writing anything: each stream's
//!    head (`states.version`, 0 without a row) against the expected version (a stream written
//!    twice in one call chains), a malformed write, a command id already recorded (before the
//!    group or by an earlier call of it);
//! 3. writes a call that passes: its events (`INSERT .. RETURNING position`, never
//!    `ON CONFLICT DO NOTHING`: a duplicate (stream, version) is a conflict), one state row per
//!    stream keeping `created_at`, a snapshot of each stream whose version crossed a multiple of
//!    `snapshot_every`, and its idempotency records, in key order;
//! 4. returns the events' positions and, per call, why it was refused, if it was:
//!    [`StoreError::Conflict`] (with the write and the actual head),
//!    [`StoreError::DuplicateCommandId`], or a malformed write. A refused call wrote nothing.
//!
//! One event at a known version (the common command) costs one statement: the state row moves
//! from the expected head (a new row for a new stream), and the event is inserted only if it did;
//! if it did not, the checks say why. Another single stream write takes single-row statements,
//! whatever its number of events; several stream writes in one call (an import) take set-based
//! statements whose count does not grow with the call. With four calls or more that share nothing
//! with the rest of the group (one event on an existing stream, no command id, alone on their
//! stream), one `UPDATE .. FROM` and one `INSERT` write all of them. A zero-event write only
//! checks its version and writes its idempotency records.
//!
//! # Group commit
//!
//! On a server that flushes its WAL to disk at each commit, a commit costs a disk flush, and
//! commands that each commit alone are bound by it. So `commit` calls made at the same time (by
//! any tasks or domains sharing a backend and its clones, on any streams) share a transaction,
//! while each call keeps its own outcome, all or nothing (invariant 3):
//!
//! - `commit` checks and lays out its batch in the caller's task, queues it with a oneshot
//!   sender, and waits. If fewer than [`PgBackend::max_flushers`] flushers run (default
//!   [`DEFAULT_MAX_FLUSHERS`], at most the pool's size less one), it spawns one: a task of its
//!   own, so a caller that stops waiting cannot cancel a flush carrying other calls. A call whose
//!   caller stopped waiting is still committed (or refused) with its group.
//! - A flusher takes every queued call, oldest first, up to [`PgBackend::max_group`] stream
//!   writes (default [`DEFAULT_MAX_GROUP`]), sends them in one round trip, answers each call,
//!   and starts again while calls are queued; with none, it waits a few milliseconds for one
//!   (keeping its connection) before it stops. Calls arriving during a flush wait for the next
//!   one: the busier the backend, the bigger the groups. The queue and its count of flushers
//!   share one mutex, so a queued call always has a flusher that will take it.
//! - The flush is one call of `fluvius.commit` (above): each call is checked against the heads
//!   and command ids as the earlier *committed* calls of the group left them, and written only if
//!   every check passes, so a refused call leaves nothing for the later ones to see; of two calls
//!   with one command id, the first wins.
//! - If the group's statement fails on data the checks cannot see (an integrity or data error,
//!   such as an event id used before), the group rolled back and each of its calls is sent alone,
//!   so each gets its own outcome. Any other error fails every call of the group with
//!   an error that says whether nothing was committed ([`StoreError::Unavailable`] or
//!   [`StoreError::Internal`]: the server refused the statement, or no connection was found) or
//!   whether the outcome is unknown ([`StoreError::OutcomeUnknown`]: the connection failed while
//!   the statement, whose implicit `COMMIT` ends it, was in flight).
//! - Within a stream the transaction order stays the version order: a call's events are in its
//!   group's transaction, which took the stream's lock before its transaction id, and calls of
//!   one stream in one group are written in queue order.
//!
//! [`PgBackend::commit_stats`] counts flushes and the calls they carried. `.max_group(1)` turns
//! group commit off: each call is then its own transaction, sent by its caller.
//!
//! # Find
//!
//! State queries translate the filter DSL to SQL over the `jsonb` state with bound parameters
//! only; every operator, negation and sort order keeps the in-memory evaluator's semantics
//! (numbers by value, date-time fields as instants, strings by code point, nulls above every
//! value). The scope `tenant = $1 AND namespace = $2 AND resource = $3` is a prefix of the
//! state table's primary key.
//!
//! # Row-level security
//!
//! A second tenant wall under the tenant every statement names: the tables `events`, `states`,
//! `snapshots`, `idempotency` and `audit` carry a policy admitting only the rows of the tenant
//! the transaction set (`set_config('fluvius.tenant', .., true)`, one transaction, never the
//! session). The policies exempt the tables' owner and superusers. A backend connected as a role
//! they apply to ([`PgBackend::behind_tenant_wall`], asked when the backend is built; connect it
//! with [`PgBackend::from_migrated_pool`], the owner having migrated) runs every read in a
//! transaction scoped to its tenant, groups only one tenant's calls per commit, and scopes the
//! operations that cross tenants by design (the log read without a tenant filter, idempotency
//! purges, the stale-row listing, cursor lookups) to all tenants. See `docs/postgres.md` for the
//! role's grants and the cost.
//!
//! # Time
//!
//! PostgreSQL keeps instants to the microsecond: `recorded_at`, `created_at` and `updated_at`
//! are stored rounded down to a whole microsecond, so an event is never stored later than it
//! was recorded, and time-travel bounds compare with the stored values exactly.
//!
//! # The global log
//!
//! Positions come from a sequence, in insertion order, so a transaction can commit position 7
//! after another committed position 8. `read_log` therefore returns events in `(xid, position)`
//! order and only those of transactions below the oldest transaction still running in this
//! database: a late commit always sorts after what was already read, so a reader never skips
//! one (invariant 7). Its [`LogCursor`](fluvius_core::LogCursor) is `(xid, position)` of an
//! event, never a bare position; a commit's receipt carries its transaction's xid, so every
//! command response carries the cursor of its last event. A read never waits: events committed
//! behind a running transaction are not readable yet, the page says `caught_up`, and the caller
//! reads again later.
//!
//! Every commit that wrote events raises the backend's
//! [commit signal](fluvius_core::Backend::commit_signal), which wakes log readers in this process.
//! [`PgBackend::notify_commits`] also announces commits to other processes with a coalesced
//! `NOTIFY` on [`LOG_CHANNEL`], sent after the commit (never inside it), and
//! [`PgBackend::listen_commits`] turns other processes' announcements into this backend's signal.
//!
//! [`StoreError::Conflict`]: fluvius_core::StoreError::Conflict
//! [`StoreError::DuplicateCommandId`]: fluvius_core::StoreError::DuplicateCommandId
//! [`StoreError::Unavailable`]: fluvius_core::StoreError::Unavailable
//! [`StoreError::Internal`]: fluvius_core::StoreError::Internal
//! [`StoreError::OutcomeUnknown`]: fluvius_core::StoreError::OutcomeUnknown

mod backend;
mod columns;
mod commit;
mod error;
mod find;
mod group;
mod inline;
#[macro_use]
mod log;
mod migrate;
mod notify;
mod outbox;
mod read;
mod refresh;
mod wall;

pub use backend::{DEFAULT_SNAPSHOT_EVERY, PgBackend};
pub use error::PgError;
pub use group::{CommitStats, DEFAULT_MAX_FLUSHERS, DEFAULT_MAX_GROUP};
pub use migrate::migrate;
pub use notify::{LOG_CHANNEL, NOTIFY_SPACING, PgCommitListener};
