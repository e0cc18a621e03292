//! [`PgCommandQueue`]: background commands in `fluvius.command_queue`, claimed with
//! `FOR UPDATE SKIP LOCKED` so that runners in many processes share the queue.

use std::time::Duration;

use chrono::{DateTime, Utc};
use fluvius_core::{BoxFuture, Context};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::error::ReadsideError;
use crate::queue::{CommandQueue, QueueOutcome, QueueStatus, QueuedCommand};

/// A durable command queue in PostgreSQL (migrated by the backend).
#[derive(Debug, Clone)]
pub struct PgCommandQueue {
    pool: PgPool,
}

impl PgCommandQueue {
    /// The queue in the database of `pool`.
    pub fn new(pool: PgPool) -> PgCommandQueue {
        PgCommandQueue { pool }
    }
}

const COLUMNS: &str = "id, namespace, command, resource, identifier, payload, context, status, \
                       attempts, last_error, outcome, enqueued_at, run_after, finished_at";

fn decode(row: &PgRow) -> Result<QueuedCommand, ReadsideError> {
    let get = |e: sqlx::Error| ReadsideError::pg("reading a queued command")(e);
    let id: Uuid = row.try_get("id").map_err(get)?;
    let corrupt = |message: String| ReadsideError::Corrupt {
        what: "queued command",
        name: id.to_string(),
        message,
    };
    let status: String = row.try_get("status").map_err(get)?;
    let status = QueueStatus::parse(&status).ok_or_else(|| corrupt(format!("status {status}")))?;
    let context: serde_json::Value = row.try_get("context").map_err(get)?;
    let context: Context =
        serde_json::from_value(context).map_err(|e| corrupt(format!("context: {e}")))?;
    let attempts: i32 = row.try_get("attempts").map_err(get)?;
    let mut command = QueuedCommand::new(
        row.try_get::<String, _>("namespace").map_err(get)?,
        row.try_get::<String, _>("command").map_err(get)?,
        fluvius_core::NewRoot(row.try_get::<String, _>("resource").map_err(get)?),
        row.try_get("payload").map_err(get)?,
    )
    .with_id(id)
    .with_context(context)
    .run_after(row.try_get("run_after").map_err(get)?);
    command.identifier = row.try_get("identifier").map_err(get)?;
    command.status = status;
    command.attempts = attempts.max(0) as u32;
    command.last_error = row.try_get("last_error").map_err(get)?;
    command.outcome = row.try_get("outcome").map_err(get)?;
    command.enqueued_at = row.try_get("enqueued_at").map_err(get)?;
    command.finished_at = row.try_get("finished_at").map_err(get)?;
    Ok(command)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl CommandQueue for PgCommandQueue {
    fn enqueue(&self, command: QueuedCommand) -> BoxFuture<'_, Result<bool, ReadsideError>> {
        Box::pin(async move {
            let context = serde_json::to_value(&command.context).map_err(|e| {
                ReadsideError::Invalid(format!("the command's context does not serialise: {e}"))
            })?;
            let inserted: Option<i32> = sqlx::query_scalar(
                "INSERT INTO fluvius.command_queue (id, tenant, namespace, command, resource, \
                 identifier, payload, context, enqueued_at, run_after) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (id) DO NOTHING RETURNING 1",
            )
            .bind(command.id)
            .bind(&command.context.tenant)
            .bind(&command.namespace)
            .bind(&command.command)
            .bind(&command.resource)
            .bind(&command.identifier)
            .bind(&command.payload)
            .bind(context)
            .bind(command.enqueued_at)
            .bind(command.run_after)
            .fetch_optional(&self.pool)
            .await
            .map_err(ReadsideError::pg("queueing a command"))?;
            Ok(inserted.is_some())
        })
    }

    fn claim<'a>(
        &'a self,
        namespace: &'a str,
        owner: &'a str,
        limit: usize,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Vec<QueuedCommand>, ReadsideError>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "WITH due AS (SELECT id FROM fluvius.command_queue \
                   WHERE namespace = $1 AND status = 'queued' AND run_after <= now() \
                     AND (claimed_until IS NULL OR claimed_until < now()) \
                   ORDER BY run_after, enqueued_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) \
                 UPDATE fluvius.command_queue q \
                    SET claimed_by = $2, claimed_until = now() + $3 * interval '1 millisecond', \
                        attempts = q.attempts + 1 \
                   FROM due WHERE q.id = due.id \
                 RETURNING q.*",
            )
            .bind(namespace)
            .bind(owner)
            .bind(millis(lease))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(ReadsideError::pg("claiming queued commands"))?;
            let mut claimed = rows.iter().map(decode).collect::<Result<Vec<_>, _>>()?;
            claimed.sort_by_key(|c| (c.run_after, c.enqueued_at, c.id));
            Ok(claimed)
        })
    }

    fn finish<'a>(
        &'a self,
        id: Uuid,
        owner: &'a str,
        outcome: QueueOutcome,
    ) -> BoxFuture<'a, Result<bool, ReadsideError>> {
        Box::pin(async move {
            let (status, result, error, run_after): (
                &str,
                Option<serde_json::Value>,
                Option<String>,
                Option<DateTime<Utc>>,
            ) = match outcome {
                QueueOutcome::Done(result) => ("done", Some(result), None, None),
                QueueOutcome::Failed(error) => ("failed", None, Some(error), None),
                QueueOutcome::Retry(error, at) => ("queued", None, Some(error), Some(at)),
                QueueOutcome::Parked(error) => ("parked", None, Some(error), None),
            };
            let recorded: Option<i32> = sqlx::query_scalar(
                "UPDATE fluvius.command_queue \
                    SET status = $3, outcome = coalesce($4, outcome), \
                        last_error = coalesce($5, last_error), \
                        run_after = coalesce($6, run_after), \
                        finished_at = CASE WHEN $3 = 'queued' THEN NULL ELSE now() END, \
                        claimed_by = NULL, claimed_until = NULL \
                  WHERE id = $1 AND claimed_by = $2 AND status = 'queued' \
                 RETURNING 1",
            )
            .bind(id)
            .bind(owner)
            .bind(status)
            .bind(result)
            .bind(error)
            .bind(run_after)
            .fetch_optional(&self.pool)
            .await
            .map_err(ReadsideError::pg("recording a queued command's outcome"))?;
            Ok(recorded.is_some())
        })
    }

    fn get(&self, id: Uuid) -> BoxFuture<'_, Result<Option<QueuedCommand>, ReadsideError>> {
        Box::pin(async move {
            let sql = format!("SELECT {COLUMNS} FROM fluvius.command_queue WHERE id = $1");
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(ReadsideError::pg("reading a queued command"))?;
            row.as_ref().map(decode).transpose()
        })
    }

    fn list<'a>(
        &'a self,
        namespace: &'a str,
        status: QueueStatus,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<QueuedCommand>, ReadsideError>> {
        Box::pin(async move {
            let sql = format!(
                "SELECT {COLUMNS} FROM fluvius.command_queue WHERE namespace = $1 AND status = $2 \
                 ORDER BY enqueued_at, id LIMIT $3"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(namespace)
                .bind(status.as_str())
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .fetch_all(&self.pool)
                .await
                .map_err(ReadsideError::pg("listing queued commands"))?;
            rows.iter().map(decode).collect()
        })
    }

    fn retry(&self, id: Uuid) -> BoxFuture<'_, Result<bool, ReadsideError>> {
        Box::pin(async move {
            let done: Option<i32> = sqlx::query_scalar(
                "UPDATE fluvius.command_queue \
                    SET status = 'queued', attempts = 0, run_after = now(), finished_at = NULL, \
                        claimed_by = NULL, claimed_until = NULL \
                  WHERE id = $1 AND status IN ('parked', 'failed') RETURNING 1",
            )
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(ReadsideError::pg("queueing a command again"))?;
            Ok(done.is_some())
        })
    }

    fn cancel<'a>(
        &'a self,
        id: Uuid,
        reason: &'a str,
    ) -> BoxFuture<'a, Result<bool, ReadsideError>> {
        Box::pin(async move {
            let done: Option<i32> = sqlx::query_scalar(
                "UPDATE fluvius.command_queue \
                    SET status = 'cancelled', last_error = 'cancelled: ' || $2, \
                        finished_at = now(), claimed_by = NULL, claimed_until = NULL \
                  WHERE id = $1 AND status IN ('queued', 'parked') \
                    AND (claimed_until IS NULL OR claimed_until < now()) RETURNING 1",
            )
            .bind(id)
            .bind(reason)
            .fetch_optional(&self.pool)
            .await
            .map_err(ReadsideError::pg("cancelling a queued command"))?;
            Ok(done.is_some())
        })
    }
}
