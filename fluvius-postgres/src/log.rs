//! The global log in an order late-committing transactions cannot jump (invariant 7).
//!
//! Positions come from a sequence, so they are taken in insertion order, not commit order: a
//! transaction may insert position 7 and commit after another has committed position 8. A reader
//! that followed positions would pass 7 before it is visible and never see it. So each event
//! carries its transaction id (`xid8`), and [`PgBackend::global_log`] returns only events whose
//! transaction is below the *horizon*, the oldest transaction still running when the statement
//! starts (`pg_snapshot_xmin(pg_current_snapshot())`): every transaction below it has finished,
//! and any transaction that commits later has a larger xid, so it sorts after everything
//! returned. The log is ordered by (xid, position).
//!
//! Transactions running in *other databases* of the cluster cannot write this table, so they do
//! not hold the horizon back: their xids are told apart through `pg_stat_get_activity` (an xid
//! whose backend cannot be found counts as ours, which only makes the horizon lower).
//!
//! # The cursor
//!
//! `read_all(after, limit)` means "the events after the event at position `after` in (xid,
//! position) order". Within one stream, and across commands that follow each other, that is
//! position order. The position is only a name for a place in the log: the statement looks up
//! that event's xid and continues from `(xid, position)`, so a reader checkpointing the position
//! of the last event it handled never skips an event and never sees one twice. A position that
//! names no event (0, or a gap left by a rolled-back transaction) continues after the last
//! event below the horizon at or before it.

use std::time::Duration;

use fluvius_core::EventEnvelope;
use sqlx::postgres::PgRow;

use crate::PgBackend;
use crate::error::{PgError, to_i64};
use crate::read::{event_from_row, get};

/// One statement: the horizon, the cursor's place in (xid, position) order, a page after it, and
/// whether committed events wait above the horizon (so a short page is worth retrying).
const READ_ALL_SQL: &str = "\
WITH snap AS MATERIALIZED (SELECT pg_current_snapshot() AS s),
elsewhere AS MATERIALIZED (
    SELECT a.backend_xid::text::bigint AS x32
      FROM pg_stat_get_activity(NULL) AS a
     WHERE a.backend_xid IS NOT NULL
       AND a.datid IS DISTINCT FROM (SELECT oid FROM pg_database WHERE datname = current_database())
),
horizon AS MATERIALIZED (
    SELECT coalesce(
        (SELECT min(x) FROM snap, pg_snapshot_xip(snap.s) AS x
          WHERE NOT EXISTS (SELECT 1 FROM elsewhere
                             WHERE elsewhere.x32 = (x::text::numeric % 4294967296)::bigint)),
        (SELECT pg_snapshot_xmax(snap.s) FROM snap)) AS h
),
anchor AS MATERIALIZED (
    SELECT a.xid, a.position FROM (
        SELECT e.xid, e.position, 0 AS preference FROM fluvius.events e WHERE e.position = $1
        UNION ALL
        (SELECT e.xid, e.position, 1 FROM fluvius.events e, horizon
          WHERE e.position < $1 AND e.xid < horizon.h
          ORDER BY e.position DESC LIMIT 1)
    ) AS a
    ORDER BY a.preference LIMIT 1
)
SELECT (SELECT EXISTS (SELECT 1 FROM fluvius.events e, horizon WHERE e.xid >= horizon.h))
           AS held_back,
       page.*
  FROM horizon
  LEFT JOIN LATERAL (
    SELECT e.position, e.event_id, e.tenant, e.namespace, e.resource, e.identifier, e.version,
           e.evt_key, e.schema_version, e.payload, e.metadata, e.recorded_at
      FROM fluvius.events e
     WHERE e.xid < horizon.h
       AND (e.xid, e.position) > (coalesce((SELECT xid FROM anchor), '0'::xid8),
                                  coalesce((SELECT position FROM anchor), 0))
     ORDER BY e.xid, e.position
     LIMIT $2
  ) AS page ON true";

/// How long a short page waits, at most, for transactions below committed events to finish:
/// the pauses between attempts double from 1 ms.
const HELD_BACK_ATTEMPTS: u32 = 8;

impl PgBackend {
    /// At most `limit` events of the global log after the event at `after_position`.
    ///
    /// When the page is short because a running transaction holds the horizon below events that
    /// are already committed, the read is retried a few times (about 130 ms at most): commits
    /// take milliseconds, and a reader polling the head should see them without a poll interval.
    pub(crate) async fn global_log(
        &self,
        after_position: u64,
        limit: usize,
    ) -> Result<Vec<EventEnvelope>, PgError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let after = to_i64("position", after_position)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut pause = Duration::from_millis(1);
        let mut attempt = 1;
        loop {
            let rows = sqlx::query(READ_ALL_SQL)
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(PgError::query("reading the global log"))?;
            let held_back = match rows.first() {
                Some(row) => get::<bool>(row, "held_back")?,
                None => false,
            };
            let events = page(&rows)?;
            let short = i64::try_from(events.len()).unwrap_or(i64::MAX) < limit;
            if !(held_back && short) || attempt >= HELD_BACK_ATTEMPTS {
                return Ok(events);
            }
            tokio::time::sleep(pause).await;
            pause *= 2;
            attempt += 1;
        }
    }
}

/// The events of a page (the left join yields one row of NULLs when it is empty).
fn page(rows: &[PgRow]) -> Result<Vec<EventEnvelope>, PgError> {
    let mut events = Vec::with_capacity(rows.len());
    for row in rows {
        if get::<Option<i64>>(row, "position")?.is_some() {
            events.push(event_from_row(row)?);
        }
    }
    Ok(events)
}
