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
