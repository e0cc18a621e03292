//! The benchmark's own PostgreSQL database: created afresh on the server `DATABASE_URL` names, so
//! each run starts empty and no other data is touched.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};

const DATABASE: &str = "fluvius_bench";

/// The server's URL: `DATABASE_URL`, or the local default.
pub fn server_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Drops and recreates the benchmark database, then opens a pool of `connections` to it.
pub async fn fresh_pool(connections: u32) -> Result<PgPool, String> {
    let url = server_url();
    let options: PgConnectOptions = url
        .parse()
        .map_err(|e| format!("DATABASE_URL `{url}` is not a PostgreSQL URL: {e}"))?;
    let mut admin = PgConnection::connect_with(&options)
        .await
        .map_err(|e| format!("cannot connect to {url}: {e}"))?;
    for statement in [
        "DROP DATABASE IF EXISTS fluvius_bench WITH (FORCE)",
        "CREATE DATABASE fluvius_bench",
    ] {
        sqlx::query(statement)
            .execute(&mut admin)
            .await
            .map_err(|e| format!("{statement}: {e}"))?;
    }
    admin.close().await.map_err(|e| e.to_string())?;
    PgPoolOptions::new()
        .max_connections(connections)
        .min_connections(connections)
        .connect_with(options.database(DATABASE))
        .await
        .map_err(|e| format!("cannot connect to the benchmark database: {e}"))
}

/// The role `--tenant-wall` connects as: not a superuser, not the owner of the tables.
const WALLED_ROLE: &str = "fluvius_bench_app";

/// Creates [`WALLED_ROLE`] if need be, grants it what an application needs on the migrated
/// schema (through `owner`, a pool of the benchmark database as its owner), and opens a pool of
/// `connections` to the benchmark database as that role.
pub async fn walled_pool(owner: &PgPool, connections: u32) -> Result<PgPool, String> {
    for statement in [
        "DO $$ BEGIN CREATE ROLE fluvius_bench_app LOGIN NOSUPERUSER NOBYPASSRLS; \
         EXCEPTION WHEN duplicate_object THEN NULL; END $$",
        "GRANT USAGE ON SCHEMA fluvius TO fluvius_bench_app",
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA fluvius TO fluvius_bench_app",
        "GRANT USAGE ON ALL SEQUENCES IN SCHEMA fluvius TO fluvius_bench_app",
    ] {
        sqlx::query(statement)
            .execute(owner)
            .await
            .map_err(|e| format!("{statement}: {e}"))?;
    }
    let url = server_url();
    let options: PgConnectOptions = url
        .parse()
        .map_err(|e| format!("DATABASE_URL `{url}` is not a PostgreSQL URL: {e}"))?;
    PgPoolOptions::new()
        .max_connections(connections)
        .min_connections(connections)
        .connect_with(options.database(DATABASE).username(WALLED_ROLE))
        .await
        .map_err(|e| format!("cannot connect to the benchmark database as {WALLED_ROLE}: {e}"))
}

/// A second pool of `connections` to the benchmark database (already made by [`fresh_pool`]),
/// as its owner: for a backend playing another process.
pub async fn second_pool(connections: u32) -> Result<PgPool, String> {
    let url = server_url();
    let options: PgConnectOptions = url
        .parse()
        .map_err(|e| format!("DATABASE_URL `{url}` is not a PostgreSQL URL: {e}"))?;
    PgPoolOptions::new()
        .max_connections(connections)
        .connect_with(options.database(DATABASE))
        .await
        .map_err(|e| format!("cannot connect to the benchmark database: {e}"))
}
