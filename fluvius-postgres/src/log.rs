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
//! A [`LogCursor`] here is `(xid, position)` of an event, the xid as a `bigint` (an `xid8` has
//! no cast to `bigint`, so it goes through `text`). A read returns the events after the cursor in
//! that order, below the horizon, that pass the filter. Its `next` is the last event it returned
//! when more are waiting, and otherwise the last event below the horizon, matching or not: every
//! event up to it has been looked at, and any later commit sorts after it. So a filtered reader
//! moves past what it skips, and `next` never names a place a late commit could still fill.
//! That last event is found by `fluvius.log_tail`, which runs as the schema's owner: behind the
//! [row-level security wall](crate#row-level-security) a tenant's reader still moves past the
//! other tenants' events, learning their cursor and nothing else.
//!
//! The read never waits. When committed events wait above the horizon behind a running
//! transaction, the page says `caught_up` and the caller decides when to read again.
//!
//! A reader that reads inside a transaction of its own must take its horizon (read) before that
//! transaction holds an xid: its own xid would otherwise be among the running ones and hold the
//! horizon below its own writes.

use fluvius_core::{
    EventEnvelope, LAG_COUNT_LIMIT, LogCursor, LogFilter, LogLag, LogPage, LogQuery,
};
use sqlx::Postgres;
use sqlx::postgres::{PgArguments, PgRow};

use crate::PgBackend;
use crate::error::{PgError, to_u64};
use crate::read::{event_from_row, get};
use crate::wall::Scope;

/// The horizon's common table expressions (see the module docs): `horizon.h`.
macro_rules! horizon_ctes {
    () => {
        "\
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
)"
    };
}

/// One statement: the horizon, at most `$7` matching events after `($1, $2)` below it, and the
/// last event below it after `($1, $2)` (where a caught-up reader stands). `$3`..`$6` are the
/// filters, NULL for "any".
macro_rules! read_log_sql {
    () => {
        concat!(
            horizon_ctes!(),
            ",
page AS MATERIALIZED (
    SELECT e.xid::text::bigint AS xid_n, e.position, e.event_id, e.tenant, e.namespace,
           e.resource, e.identifier, e.version, e.evt_key, e.schema_version, e.payload,
           e.metadata, e.recorded_at
      FROM fluvius.events e, horizon
     WHERE e.xid < horizon.h
       AND (e.xid, e.position) > ($1::bigint::text::xid8, $2::bigint)
       AND ($3::text IS NULL OR e.namespace = $3)
       AND ($4::text IS NULL OR e.tenant = $4)
       AND ($5::text IS NULL OR e.resource = $5)
       AND ($6::text[] IS NULL OR e.evt_key = ANY ($6))
     ORDER BY e.xid, e.position
     LIMIT $7
),
tail AS MATERIALIZED (
    SELECT t.xid_n, t.position
      FROM horizon, fluvius.log_tail(horizon.h, $1::bigint::text::xid8, $2::bigint) AS t
)
SELECT tail.xid_n AS tail_xid, tail.position AS tail_position, page.*
  FROM (SELECT 1) AS one
  LEFT JOIN tail ON true
  LEFT JOIN page ON true
 ORDER BY page.xid_n, page.position"
        )
    };
}

/// How far a reader is behind: the events a read after `($1, $2)` with the filters `$3`..`$6`
/// could return now, counted up to `$7`, and how long (in seconds) the oldest transaction of
/// this database that holds an xid has been open (NULL when there is none, or when the role
/// may not see its start: `pg_read_all_stats` shows every one).
const LOG_LAG_SQL: &str = concat!(
    horizon_ctes!(),
    ",
behind AS MATERIALIZED (
    SELECT count(*) AS n FROM (
        SELECT 1
          FROM fluvius.events e, horizon
         WHERE e.xid < horizon.h
           AND (e.xid, e.position) > ($1::bigint::text::xid8, $2::bigint)
           AND ($3::text IS NULL OR e.namespace = $3)
           AND ($4::text IS NULL OR e.tenant = $4)
           AND ($5::text IS NULL OR e.resource = $5)
           AND ($6::text[] IS NULL OR e.evt_key = ANY ($6))
         LIMIT $7) AS b
),
oldest AS MATERIALIZED (
    SELECT extract(epoch FROM clock_timestamp() - min(a.xact_start))::float8 AS secs
      FROM pg_stat_get_activity(NULL) AS a
     WHERE a.backend_xid IS NOT NULL
       AND a.pid <> pg_backend_pid()
       AND a.datid = (SELECT oid FROM pg_database WHERE datname = current_database())
)
SELECT behind.n, oldest.secs FROM behind, oldest"
);

/// The statement of a read (see [`read_log_sql!`]).
const READ_LOG_SQL: &str = read_log_sql!();

/// The same, explained.
const EXPLAIN_READ_LOG_SQL: &str = concat!("EXPLAIN ", read_log_sql!());

/// The xid of one event, as the cursor's first component.
const CURSOR_SQL: &str =
    "SELECT xid::text::bigint AS xid_n, position FROM fluvius.events WHERE position = $1";

impl PgBackend {
    /// One page of the global log (see the module docs).
    pub(crate) async fn log_page(&self, query: &LogQuery) -> Result<LogPage, PgError> {
        const DOING: &str = "reading the global log";
        let after = query.after;
        // Without a tenant filter the log is read across tenants, by design (the read side).
        let scope = query
            .filter
            .tenant
            .as_deref()
            .map_or(Scope::All, Scope::Tenant);
        let mut conn = self.conn(scope, DOING).await?;
        let rows = bind(sqlx::query(self.read_sql(READ_LOG_SQL)), query)
            .fetch_all(&mut *conn)
            .await
            .map_err(PgError::query(DOING))?;
        conn.done(DOING).await?;
        let mut entries = page(&rows)?;
        let caught_up = entries.len() <= query.limit;
        entries.truncate(query.limit);
        let next = if caught_up {
            match rows.first() {
                Some(row) => match get::<Option<i64>>(row, "tail_xid")? {
                    Some(xid) => cursor(xid, get(row, "tail_position")?)?,
                    None => after,
                },
                None => after,
            }
        } else {
            entries.last().map_or(after, |(cursor, _)| *cursor)
        };
        Ok(LogPage::new(entries, next.max(after), caught_up))
    }

    /// How far a reader at `after` with `filter` is behind (see [`LOG_LAG_SQL`]).
    pub(crate) async fn lag(
        &self,
        after: LogCursor,
        filter: &LogFilter,
    ) -> Result<LogLag, PgError> {
        const DOING: &str = "measuring a log reader's lag";
        let query = LogQuery::after(after)
            .limit(LAG_COUNT_LIMIT as usize)
            .filter(filter.clone());
        let scope = filter.tenant.as_deref().map_or(Scope::All, Scope::Tenant);
        let mut conn = self.conn(scope, DOING).await?;
        let row = bind(sqlx::query(self.read_sql(LOG_LAG_SQL)), &query)
            .fetch_one(&mut *conn)
            .await
            .map_err(PgError::query(DOING))?;
        conn.done(DOING).await?;
        let behind: i64 = get(&row, "n")?;
        let secs: Option<f64> = get(&row, "secs")?;
        let age = secs
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(std::time::Duration::from_secs_f64);
        Ok(LogLag::new(to_u64("a count of events", behind)?, age))
    }

    /// The plan PostgreSQL chooses for the statement that reads a page of the log (`EXPLAIN`, as
    /// text, one line per row): to check that reading pages walks the `(xid, position)` index.
    pub async fn explain_read_log(&self, query: &LogQuery) -> Result<String, PgError> {
        let lines: Vec<String> = bind(sqlx::query(EXPLAIN_READ_LOG_SQL), query)
            .fetch_all(&self.pool)
            .await
            .map_err(PgError::query("explaining a read of the global log"))?
            .iter()
            .map(|row| get::<String>(row, "QUERY PLAN"))
            .collect::<Result<_, _>>()?;
        Ok(lines.join("\n"))
    }

    /// The cursor of the event at `position`, if there is one.
    pub(crate) async fn cursor_at(&self, position: u64) -> Result<Option<LogCursor>, PgError> {
        let Ok(position) = i64::try_from(position) else {
            return Ok(None);
        };
        const DOING: &str = "looking up an event's log cursor";
        // By position, whatever the tenant: the answer is a cursor, no tenant's data.
        let mut conn = self.conn(Scope::All, DOING).await?;
        let row = sqlx::query(CURSOR_SQL)
            .bind(position)
            .fetch_optional(&mut *conn)
            .await
            .map_err(PgError::query(DOING))?;
        conn.done(DOING).await?;
        row.map(|row| cursor(get(&row, "xid_n")?, get(&row, "position")?))
            .transpose()
    }
}

/// Binds a query's cursor, filters and limit to the statement's parameters.
fn bind<'q>(
    statement: sqlx::query::Query<'q, Postgres, PgArguments>,
    query: &'q LogQuery,
) -> sqlx::query::Query<'q, Postgres, PgArguments> {
    let filter = &query.filter;
    // One row more than asked tells whether more is waiting.
    let fetch = i64::try_from(query.limit)
        .unwrap_or(i64::MAX)
        .saturating_add(1);
    let evt_keys = (!filter.evt_keys.is_empty()).then_some(&filter.evt_keys);
    statement
        // No xid or position reaches 2^63: a cursor beyond that is past every event.
        .bind(i64::try_from(query.after.tx()).unwrap_or(i64::MAX))
        .bind(i64::try_from(query.after.position()).unwrap_or(i64::MAX))
        .bind(filter.namespace.as_deref())
        .bind(filter.tenant.as_deref())
        .bind(filter.resource.as_deref())
        .bind(evt_keys)
        .bind(fetch)
}

fn cursor(xid: i64, position: i64) -> Result<LogCursor, PgError> {
    Ok(LogCursor::new(
        to_u64("transaction id", xid)?,
        to_u64("event position", position)?,
    ))
}

/// The events of a page with their cursors (the left join yields one row of NULLs when it is
/// empty).
fn page(rows: &[PgRow]) -> Result<Vec<(LogCursor, EventEnvelope)>, PgError> {
    let mut events = Vec::with_capacity(rows.len());
    for row in rows {
        if let Some(xid) = get::<Option<i64>>(row, "xid_n")? {
            let event = event_from_row(row)?;
            events.push((cursor(xid, get(row, "position")?)?, event));
        }
    }
    Ok(events)
}
