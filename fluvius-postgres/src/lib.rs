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
//!
//! The state row carries the stream's head version, so there is no separate streams table: the
//! head check reads the row the commit rewrites anyway, and one table fewer is one index update
//! fewer per command.
//!
//! # What each call sends
//!
//! | call | SQL | round trips |
//! |---|---|---|
//! | `commit` (any batch: one command, a group of queued commands, an import of many streams) | `SELECT fluvius.commit_batch(..)`: one function call with the batch as 30 parallel arrays, in its own implicit transaction | 1 |
//! | `load_state` | `SELECT .. FROM fluvius.states WHERE <key>` | 1 |
//! | `read_stream` | `SELECT .. FROM fluvius.events WHERE <key> AND version > .. ORDER BY version` | 1 |
//! | `load_snapshot` | latest of `fluvius.snapshots` and the state row within the range | 1 |
//! | `find` | one `SELECT .. count(*) OVER ()` over `fluvius.states` (see [`find`](crate#find)) | 1 (2 for an empty page at an offset) |
//! | `read_all` | one `SELECT` below the transaction horizon, ordered by `(xid, position)` | 1 (retried briefly when committed events wait behind a running transaction) |
//! | `idempotency`, `purge_idempotency` | one `SELECT` / `DELETE` on `fluvius.idempotency` | 1 |
//!
//! `fluvius.commit_batch` (a PL/pgSQL function, plans cached per connection) runs, in the one
//! transaction of that statement:
//!
//! 1. `pg_advisory_xact_lock` on a 64-bit hash of each stream key, in key order (no deadlocks
//!    between batches), *before* any statement takes a transaction id, so that within a stream
//!    the transaction order is the version order;
//! 2. reads each stream's head (`states.version`, 0 without a row) in a statement of its own,
//!    after the lock, and compares it with the expected version (`Any` renumbers after the
//!    head; a stream written twice in one batch chains), raising `FV001`, which becomes
//!    [`StoreError::Conflict`];
//! 3. rejects a command id already recorded (`FV003`, [`StoreError::DuplicateCommandId`]);
//! 4. inserts the events (`INSERT .. RETURNING position`; `.. SELECT FROM unnest(..)` for
//!    several), never `ON CONFLICT DO NOTHING`: a duplicate (stream, version) is a conflict;
//! 5. writes one state row per stream, keeping `created_at`;
//! 6. writes a snapshot of each stream whose version crossed a multiple of `snapshot_every`;
//! 7. inserts the idempotency records, in key order.
//!
//! A single stream write (a command, or the commands the domain queued on one stream and
//! commits together) takes a path of single-row statements: the lock, `SELECT version`, one
//! `INSERT` into `events` (one per write, whatever the number of events), `UPDATE` of the state
//! row (`INSERT` for a new stream), and, only when needed, the snapshot and idempotency rows.
//! Several stream writes (an import) take a set-based path whose statement count does not grow
//! with the batch. A zero-event write only checks its version and writes its idempotency
//! records. Any error rolls the whole transaction back.
//!
//! # Find
//!
//! State queries translate the filter DSL to SQL over the `jsonb` state with bound parameters
//! only; every operator, negation and sort order keeps the in-memory evaluator's semantics
//! (numbers by value, date-time fields as instants, strings by code point, nulls above every
//! value). The scope `tenant = $1 AND namespace = $2 AND resource = $3` is a prefix of the
//! state table's primary key.
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
//! after another committed position 8. `read_all` therefore returns events in `(xid, position)`
//! order and only those of transactions below the oldest transaction still running in this
//! database: a late commit always sorts after what was already read, so a reader never skips
//! one (invariant 7). `after_position` names the event to continue after; within a stream, and
//! for commands that follow each other, the order is the position order.
//!
//! [`StoreError::Conflict`]: fluvius_core::StoreError::Conflict
//! [`StoreError::DuplicateCommandId`]: fluvius_core::StoreError::DuplicateCommandId

mod backend;
mod columns;
mod commit;
mod error;
mod find;
mod log;
mod migrate;
mod read;

pub use backend::{DEFAULT_SNAPSHOT_EVERY, PgBackend};
pub use error::PgError;
pub use migrate::migrate;
