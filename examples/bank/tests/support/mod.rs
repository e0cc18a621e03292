//! A throw-away PostgreSQL database for the bank's tests, on the server `DATABASE_URL` names.

use sqlx::{Connection, PgConnection};

/// A scratch database; [`ScratchDb::drop_now`] removes it.
pub struct ScratchDb {
    /// Its connection URL.
    pub url: String,
    name: String,
    admin: PgConnection,
}

impl ScratchDb {
    /// Creates a database named after `prefix` and a fresh id.
    pub async fn create(prefix: &str) -> ScratchDb {
        let server = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&server)
            .await
            .expect("PostgreSQL is reachable");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create the scratch database");
        let url = match server.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => panic!("DATABASE_URL has no database part: {server}"),
        };
        ScratchDb { url, name, admin }
    }

    /// Drops the database, whoever is still connected.
    pub async fn drop_now(mut self) {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut self.admin)
        .await
        .expect("drop the scratch database");
    }
}
