//! [`PgParkStore`]: parked events in `fluvius.parked`, skipped ones in `fluvius.skipped`.

use chrono::{DateTime, Utc};
use fluvius_core::{BoxFuture, EventEnvelope, LogCursor, StreamKey};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{PgPool, Postgres, Row};

use super::parse_cursor;
use crate::error::ReadsideError;
use crate::park::{ParkStore, ParkedEvent, Request, SkippedEvent};

/// Parked and skipped events of handlers in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgParkStore {
    pool: PgPool,
}

impl PgParkStore {
    /// The store in the database of `pool` (migrated by the backend).
    pub fn new(pool: PgPool) -> PgParkStore {
        PgParkStore { pool }
    }
}

const KEY: &str = "subscription = $1 AND tenant = $2 AND namespace = $3 AND resource = $4 \
                   AND identifier = $5";

/// Binds `$1` to `$5` of [`KEY`]: the subscription's name and the stream key.
fn bind_key<'q>(
    query: Query<'q, Postgres, PgArguments>,
    name: &'q str,
    stream: &'q StreamKey,
) -> Query<'q, Postgres, PgArguments> {
    query
        .bind(name)
        .bind(&stream.tenant)
        .bind(&stream.namespace)
        .bind(&stream.resource)
        .bind(&stream.id)
}

fn corrupt(name: &str, what: &'static str, err: impl std::fmt::Display) -> ReadsideError {
    ReadsideError::Corrupt {
        what,
        name: name.to_owned(),
        message: err.to_string(),
    }
}

fn event_of(
    name: &str,
    row: &PgRow,
) -> Result<(StreamKey, LogCursor, EventEnvelope), ReadsideError> {
    let read = |e: sqlx::Error| corrupt(name, "parked event", e);
    let stream = StreamKey {
        tenant: row.try_get("tenant").map_err(read)?,
        namespace: row.try_get("namespace").map_err(read)?,
        resource: row.try_get("resource").map_err(read)?,
        id: row.try_get("identifier").map_err(read)?,
    };
    let cursor: String = row.try_get("cursor").map_err(read)?;
    let cursor = parse_cursor(name, "parked event's cursor", &cursor)?;
    let event: serde_json::Value = row.try_get("event").map_err(read)?;
    let event: EventEnvelope =
        serde_json::from_value(event).map_err(|e| corrupt(name, "parked event", e))?;
    Ok((stream, cursor, event))
}

fn attempts(name: &str, row: &PgRow) -> Result<u32, ReadsideError> {
    let n: i32 = row
        .try_get("attempts")
        .map_err(|e| corrupt(name, "parked event", e))?;
    Ok(u32::try_from(n).unwrap_or(0))
}

fn to_i32(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl ParkStore for PgParkStore {
    fn list<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Vec<ParkedEvent>, ReadsideError>> {
        Box::pin(async move {
            let rows = sqlx::query(
                r#"SELECT tenant, namespace, resource, identifier, "cursor", event, error, attempts,
                          parked_at, retry, skip_reason
                     FROM fluvius.parked WHERE subscription = $1
                    ORDER BY tenant, namespace, resource, identifier, "cursor" COLLATE "C""#,
            )
            .bind(name)
            .fetch_all(&self.pool)
            .await
            .map_err(ReadsideError::pg("listing parked events"))?;
            rows.iter()
                .map(|row| {
                    let (stream, cursor, event) = event_of(name, row)?;
                    let read = |e: sqlx::Error| corrupt(name, "parked event", e);
                    let retry: bool = row.try_get("retry").map_err(read)?;
                    let skip: Option<String> = row.try_get("skip_reason").map_err(read)?;
                    let request = match (skip, retry) {
                        (Some(reason), _) => Some(Request::Skip(reason)),
                        (None, true) => Some(Request::Retry),
                        (None, false) => None,
                    };
                    Ok(ParkedEvent {
                        stream,
                        cursor,
                        event,
                        error: row.try_get("error").map_err(read)?,
                        attempts: attempts(name, row)?,
                        parked_at: row.try_get::<DateTime<Utc>, _>("parked_at").map_err(read)?,
                        request,
                    })
                })
                .collect()
        })
    }

    fn park<'a>(
        &'a self,
        name: &'a str,
        parked: ParkedEvent,
    ) -> BoxFuture<'a, Result<(), ReadsideError>> {
        Box::pin(async move {
            let event = serde_json::to_value(&parked.event)
                .map_err(|e| ReadsideError::Invalid(format!("an event cannot be parked: {e}")))?;
            // A redelivered batch parks its events again: the first record stays.
            sqlx::query(
                r#"INSERT INTO fluvius.parked (subscription, tenant, namespace, resource, identifier,
                                              "cursor", event, error, attempts, parked_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                   ON CONFLICT DO NOTHING"#,
            )
            .bind(name)
            .bind(&parked.stream.tenant)
            .bind(&parked.stream.namespace)
            .bind(&parked.stream.resource)
            .bind(&parked.stream.id)
            .bind(parked.cursor.to_string())
            .bind(event)
            .bind(parked.error)
            .bind(to_i32(parked.attempts))
            .bind(parked.parked_at)
            .execute(&self.pool)
            .await
            .map_err(ReadsideError::pg("parking an event"))?;
            Ok(())
        })
    }

    fn request<'a>(
        &'a self,
        name: &'a str,
        stream: &'a StreamKey,
        request: Request,
    ) -> BoxFuture<'a, Result<(), ReadsideError>> {
        Box::pin(async move {
            let (retry, skip) = match request {
                Request::Retry => (true, None),
                Request::Skip(reason) => (false, Some(reason)),
            };
            let sql = format!(
                r#"UPDATE fluvius.parked SET retry = $6, skip_reason = $7
                    WHERE {KEY} AND "cursor" = (SELECT min("cursor" COLLATE "C") FROM fluvius.parked WHERE {KEY})"#
            );
            let done = bind_key(sqlx::query(sqlx::AssertSqlSafe(sql)), name, stream)
                .bind(retry)
                .bind(skip)
                .execute(&self.pool)
                .await
                .map_err(ReadsideError::pg("recording a request on a parked event"))?;
            if done.rows_affected() == 0 {
                return Err(ReadsideError::NotParked {
                    name: name.to_owned(),
                    stream: stream.to_string(),
                });
            }
            Ok(())
        })
    }

    fn failed<'a>(
        &'a self,
        name: &'a str,
        stream: &'a StreamKey,
        cursor: LogCursor,
        error: String,
        attempts: u32,
    ) -> BoxFuture<'a, Result<(), ReadsideError>> {
        Box::pin(async move {
            let sql = format!(
                r#"UPDATE fluvius.parked SET error = $7, attempts = $8, retry = false, skip_reason = NULL
                    WHERE {KEY} AND "cursor" = $6"#
            );
            bind_key(sqlx::query(sqlx::AssertSqlSafe(sql)), name, stream)
                .bind(cursor.to_string())
                .bind(error)
                .bind(to_i32(attempts))
                .execute(&self.pool)
                .await
                .map_err(ReadsideError::pg("recording a failed retry"))?;
            Ok(())
        })
    }

    fn unpark<'a>(
        &'a self,
        name: &'a str,
        stream: &'a StreamKey,
        cursor: LogCursor,
        skip: Option<String>,
    ) -> BoxFuture<'a, Result<(), ReadsideError>> {
        Box::pin(async move {
            // One statement: the skip record and the removal happen together.
            let sql = format!(
                r#"WITH gone AS (
                       DELETE FROM fluvius.parked WHERE {KEY} AND "cursor" = $6 RETURNING *
                   ), kept AS (
                       INSERT INTO fluvius.skipped (subscription, tenant, namespace, resource,
                                                    identifier, "cursor", event, error, attempts, reason)
                       SELECT subscription, tenant, namespace, resource, identifier, "cursor", event,
                              error, attempts, $7
                         FROM gone WHERE $7::text IS NOT NULL
                       ON CONFLICT DO NOTHING
                   )
                   SELECT count(*) FROM gone"#
            );
            let removed: i64 = bind_key(sqlx::query(sqlx::AssertSqlSafe(sql)), name, stream)
                .bind(cursor.to_string())
                .bind(skip)
                .fetch_one(&self.pool)
                .await
                .and_then(|row| row.try_get(0))
                .map_err(ReadsideError::pg("unparking an event"))?;
            if removed == 0 {
                return Err(ReadsideError::NotParked {
                    name: name.to_owned(),
                    stream: stream.to_string(),
                });
            }
            Ok(())
        })
    }

    fn skipped<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Vec<SkippedEvent>, ReadsideError>> {
        Box::pin(async move {
            let rows = sqlx::query(
                r#"SELECT tenant, namespace, resource, identifier, "cursor", event, error, attempts,
                          reason, skipped_at
                     FROM fluvius.skipped WHERE subscription = $1 ORDER BY skipped_at, "cursor" COLLATE "C""#,
            )
            .bind(name)
            .fetch_all(&self.pool)
            .await
            .map_err(ReadsideError::pg("listing skipped events"))?;
            rows.iter()
                .map(|row| {
                    let (stream, cursor, event) = event_of(name, row)?;
                    let read = |e: sqlx::Error| corrupt(name, "skipped event", e);
                    Ok(SkippedEvent {
                        stream,
                        cursor,
                        event,
                        error: row.try_get("error").map_err(read)?,
                        attempts: attempts(name, row)?,
                        reason: row.try_get("reason").map_err(read)?,
                        skipped_at: row.try_get("skipped_at").map_err(read)?,
                    })
                })
                .collect()
        })
    }
}
