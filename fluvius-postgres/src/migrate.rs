//! The embedded schema migrations, safe to run from several processes starting at once.

use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::{Connection, Postgres};

use crate::error::PgError;

/// Where sqlx records which migrations ran: inside the `fluvius` schema, beside the tables.
const MIGRATIONS_TABLE: &str = "fluvius._sqlx_migrations";

/// The advisory lock every Fluvius migrator takes first (`"fluvius:migrate"` as 8 bytes): sqlx
/// has its own, but ours also covers creating the schema, whatever sqlx's order of steps.
const MIGRATION_LOCK: i64 = 0x666c_7576_6d69_6772;

/// The migrations of this crate, with their table in the `fluvius` schema.
fn migrator() -> Migrator {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator.create_schema("fluvius");
    migrator.set_locking(true);
    migrator
}

/// Creates or updates the `fluvius` schema: tables, indexes and functions.
///
/// Idempotent: migrations already applied are skipped (and checked against their checksum).
/// Processes that start at once queue behind an advisory lock and all succeed. Called by
/// [`PgBackend::connect`](crate::PgBackend::connect) and
/// [`PgBackend::from_pool`](crate::PgBackend::from_pool); call it yourself to migrate ahead of
/// deployment.
pub async fn migrate(pool: &PgPool) -> Result<(), PgError> {
    let mut conn = pool
        .acquire()
        .await
        .map_err(PgError::query("acquiring a connection to migrate"))?;
    let result = run_locked(&mut conn).await;
    if result.is_err() {
        // A session-level lock may still be held on this connection: closing it releases the
        // lock instead of returning a locked connection to the pool.
        let _ = conn.detach().close().await;
    }
    result
}

async fn run_locked(conn: &mut PoolConnection<Postgres>) -> Result<(), PgError> {
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut **conn)
        .await
        .map_err(PgError::query("taking the migration lock"))?;
    migrator()
        .run_direct(None, &mut **conn, false)
        .await
        .map_err(PgError::Migrate)?;
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut **conn)
        .await
        .map_err(PgError::query("releasing the migration lock"))?;
    Ok(())
}

/// Checks, without changing anything, that every migration of this crate has been applied.
pub(crate) async fn check_migrated(pool: &PgPool) -> Result<(), PgError> {
    let needed = migrator().iter().map(|m| m.version).max().unwrap_or(0);
    let applied: Option<i64> =
        sqlx::query_scalar("SELECT max(version) FROM fluvius._sqlx_migrations WHERE success")
            .fetch_one(pool)
            .await
            .or_else(|err| match &err {
                // No migrations table: nothing was applied.
                sqlx::Error::Database(db) if db.code().as_deref() == Some("42P01") => Ok(None),
                _ => Err(PgError::query("checking the applied migrations")(err)),
            })?;
    if applied.is_some_and(|applied| applied >= needed) {
        Ok(())
    } else {
        Err(PgError::NotMigrated { applied, needed })
    }
}
