//! The read side on PostgreSQL (feature `postgres`): checkpoints in `fluvius.checkpoints`,
//! projections into the user's own tables written in one transaction with their checkpoint,
//! parked events in `fluvius.parked` / `fluvius.skipped`, workers' leases in `fluvius.leases`,
//! rebuilds of a projection into a new version without read downtime ([`PgRebuild`], the
//! live versions in `fluvius.projection_versions`), and background commands in
//! `fluvius.command_queue` ([`PgCommandQueue`]).
//!
//! The tables come with the backend's embedded migrations
//! ([`fluvius_postgres::migrate`]), so a database migrated by `PgBackend::connect` has them.
//! Cursors are stored in their [string form](fluvius_core::LogCursor#string-form), whose text
//! order is the log order.

mod checkpoints;
mod leases;
mod park;
mod projection;
mod queue;
mod rebuild;

pub use checkpoints::PgCheckpoints;
pub use leases::PgLeases;
pub use park::PgParkStore;
pub use projection::{PgHandlerFuture, PgProjection};
pub use queue::PgCommandQueue;
pub use rebuild::{MAX_REBUILD_ROUNDS, PgRebuild, Swapped, live_version};

use fluvius_core::LogCursor;

use crate::error::ReadsideError;

fn parse_cursor(name: &str, what: &'static str, text: &str) -> Result<LogCursor, ReadsideError> {
    text.parse().map_err(
        |err: fluvius_core::ParseCursorError| ReadsideError::Corrupt {
            what,
            name: name.to_owned(),
            message: err.to_string(),
        },
    )
}
