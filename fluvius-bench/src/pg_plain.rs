//! The PostgreSQL baseline: the bank workload written with plain sqlx, one transaction per
//! command (read the state, insert the event, upsert the state, commit), retrying when another
//! task took the version first.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};
use sqlx::PgPool;

const SCHEMA: &[&str] = &[
    "CREATE SCHEMA IF NOT EXISTS plain_bench",
    "DROP TABLE IF EXISTS plain_bench.events, plain_bench.states",
    "CREATE TABLE plain_bench.events (
        position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        stream text NOT NULL,
        version bigint NOT NULL,
        evt_key text NOT NULL,
        payload jsonb NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (stream, version))",
    "CREATE TABLE plain_bench.states (
        stream text PRIMARY KEY,
        version bigint NOT NULL,
        state jsonb NOT NULL)",
];

/// The hand-written bank on PostgreSQL.
#[derive(Debug)]
pub struct PgPlainBank {
    pool: PgPool,
    retries: AtomicU64,
}

impl PgPlainBank {
    /// Creates its tables afresh in the database behind `pool`.
    pub async fn new(pool: PgPool) -> Result<Self, String> {
        for statement in SCHEMA {
            sqlx::query(*statement)
                .execute(&pool)
                .await
                .map_err(|e| format!("creating the baseline tables: {e}"))?;
        }
        Ok(PgPlainBank {
            pool,
            retries: AtomicU64::new(0),
        })
    }

    pub fn conflict_retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    pub async fn open(&self, id: &str, initial: i64) -> Result<(), String> {
        let done = self
            .command(id, |current| {
                if current.is_some() {
                    return Err(format!("account {id} exists already"));
                }
                let state = json!({"customer_id": "bench", "balance": initial, "open": true, "corrections": 0});
                let event = json!({"customer_id": "bench", "initial_balance": initial});
                Ok(("account-opened", event, state))
            })
            .await?;
        if done {
            Ok(())
        } else {
            Err(format!("account {id} was opened twice"))
        }
    }

    pub async fn deposit(&self, id: &str, amount: i64) -> Result<(), String> {
        loop {
            let done = self
                .command(id, |current| {
                    let Some(mut state) = current else {
                        return Err(format!("account {id} not found"));
                    };
                    let balance = state["balance"].as_i64().unwrap_or(0) + amount;
                    state["balance"] = Value::from(balance);
                    Ok(("deposit-made", json!({"amount": amount}), state))
                })
                .await?;
            if done {
                return Ok(());
            }
            self.retries.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub async fn balance(&self, id: &str) -> Result<i64, String> {
        let state: Value =
            sqlx::query_scalar("SELECT state FROM plain_bench.states WHERE stream = $1")
                .bind(id)
                .fetch_one(&self.pool)
                .await
                .map_err(|e| e.to_string())?;
        state["balance"]
            .as_i64()
            .ok_or_else(|| "no balance".to_owned())
    }

    /// One transaction: read the state, insert the event, upsert the state, commit.
    /// `Ok(false)` when another writer took the version first.
    async fn command(
        &self,
        id: &str,
        decide: impl FnOnce(Option<Value>) -> Result<(&'static str, Value, Value), String>,
    ) -> Result<bool, String> {
        let mut tx = self.pool.begin().await.map_err(|e| e.to_string())?;
        let row: Option<(i64, Value)> =
            sqlx::query_as("SELECT version, state FROM plain_bench.states WHERE stream = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| e.to_string())?;
        let version = row.as_ref().map_or(0, |(v, _)| *v);
        let (evt_key, payload, state) = decide(row.map(|(_, state)| state))?;
        let next = version + 1;
        let inserted = sqlx::query(
            "INSERT INTO plain_bench.events (stream, version, evt_key, payload) VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(next)
        .bind(evt_key)
        .bind(&payload)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e)
                if e.as_database_error()
                    .is_some_and(|d| d.is_unique_violation()) =>
            {
                tx.rollback().await.map_err(|e| e.to_string())?;
                return Ok(false);
            }
            Err(e) => return Err(e.to_string()),
        }
        sqlx::query(
            "INSERT INTO plain_bench.states (stream, version, state) VALUES ($1, $2, $3)
             ON CONFLICT (stream) DO UPDATE SET version = EXCLUDED.version, state = EXCLUDED.state",
        )
        .bind(id)
        .bind(next)
        .bind(&state)
        .execute(&mut *tx)
        .await
        .map_err(|e| e.to_string())?;
        tx.commit().await.map_err(|e| e.to_string())?;
        Ok(true)
    }
}
