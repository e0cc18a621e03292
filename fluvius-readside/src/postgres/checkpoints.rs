//! [`PgCheckpoints`]: checkpoints in `fluvius.checkpoints`, moved by compare-and-set.

use fluvius_core::{BoxFuture, LogCursor};
use sqlx::{PgConnection, PgPool};

use super::leases::check_fence;
use super::parse_cursor;
use crate::checkpoint::CheckpointStore;
use crate::error::ReadsideError;
use crate::lease::Fence;

/// Checkpoints in the `fluvius.checkpoints` table.
#[derive(Debug, Clone)]
pub struct PgCheckpoints {
    pool: PgPool,
}

impl PgCheckpoints {
    /// Checkpoints in the database of `pool` (migrated by the backend).
    pub fn new(pool: PgPool) -> PgCheckpoints {
        PgCheckpoints { pool }
    }
}

/// The stored cursor of `name`.
pub(crate) async fn load(
    conn: &mut PgConnection,
    name: &str,
) -> Result<Option<LogCursor>, ReadsideError> {
    let text: Option<String> =
        sqlx::query_scalar(r#"SELECT "cursor" FROM fluvius.checkpoints WHERE name = $1"#)
            .bind(name)
            .fetch_optional(&mut *conn)
            .await
            .map_err(ReadsideError::pg("reading a checkpoint"))?;
    text.map(|t| parse_cursor(name, "checkpoint", &t))
        .transpose()
}

/// Moves `name` from `from` to `to` on `conn` (in the caller's transaction, if any), locking
/// its row until that transaction ends.
pub(crate) async fn move_checkpoint(
    conn: &mut PgConnection,
    name: &str,
    from: LogCursor,
    to: LogCursor,
) -> Result<(), ReadsideError> {
    let sql = if from.is_start() {
        // No row counts as the origin; a row at the origin may exist too.
        r#"INSERT INTO fluvius.checkpoints (name, "cursor") VALUES ($1, $3)
           ON CONFLICT (name) DO UPDATE SET "cursor" = excluded."cursor", updated_at = now()
            WHERE fluvius.checkpoints."cursor" = $2
           RETURNING 1"#
    } else {
        r#"UPDATE fluvius.checkpoints SET "cursor" = $3, updated_at = now()
            WHERE name = $1 AND "cursor" = $2
           RETURNING 1"#
    };
    let moved: Option<i32> = sqlx::query_scalar(sql)
        .bind(name)
        .bind(from.to_string())
        .bind(to.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(ReadsideError::pg("moving a checkpoint"))?;
    if moved.is_some() {
        return Ok(());
    }
    let actual = load(conn, name).await?.unwrap_or(LogCursor::START);
    Err(ReadsideError::CheckpointMoved {
        name: name.to_owned(),
        expected: from,
        actual,
    })
}

impl CheckpointStore for PgCheckpoints {
    fn load<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<LogCursor>, ReadsideError>> {
        Box::pin(async move {
            let mut conn = self
                .pool
                .acquire()
                .await
                .map_err(ReadsideError::pg("acquiring a connection"))?;
            load(&mut conn, name).await
        })
    }

    fn save<'a>(
        &'a self,
        name: &'a str,
        from: LogCursor,
        to: LogCursor,
        fence: Option<&'a Fence>,
    ) -> BoxFuture<'a, Result<(), ReadsideError>> {
        Box::pin(async move {
            let Some(fence) = fence else {
                let mut conn = self
                    .pool
                    .acquire()
                    .await
                    .map_err(ReadsideError::pg("acquiring a connection"))?;
                return move_checkpoint(&mut conn, name, from, to).await;
            };
            let mut tx = self
                .pool
                .begin()
                .await
                .map_err(ReadsideError::pg("starting a checkpoint's transaction"))?;
            move_checkpoint(&mut tx, name, from, to).await?;
            check_fence(&mut tx, fence).await?;
            tx.commit()
                .await
                .map_err(ReadsideError::pg("committing a checkpoint"))
        })
    }
}
