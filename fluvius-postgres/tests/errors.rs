//! Failures are sorted by what the caller can do about them (unavailable, outcome unknown,
//! internal), and what the server said stays in the source chain, out of the message.

mod support;

use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

use fluvius_conformance::domain;
use fluvius_conformance::support::{command, open_account};
use fluvius_core::{Backend, Error};
use fluvius_postgres::PgBackend;
use serde_json::json;
use sqlx::postgres::PgPoolOptions;
use support::TestDb;

/// Every message of an error and its sources, joined.
fn chain(err: &Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(next) = source {
        text.push_str(" <- ");
        text.push_str(&next.to_string());
        source = next.source();
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_free_connection_is_unavailable_and_retryable() {
    let db = TestDb::create().await;
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_millis(300))
        .connect_with(db.options())
        .await
        .expect("pool");
    let backend: Arc<dyn Backend> =
        Arc::new(PgBackend::from_pool(pool.clone()).await.expect("migrate"));
    let bank = domain::domain(backend.clone());
    open_account(&bank, "a", "ann", 100).await;

    let held = pool.acquire().await.expect("hold the only connection");
    let fresh = domain::domain(backend.clone());
    let cmd = command(&fresh, "deposit", json!({"amount": 1}), ("account", "a"));
    let err = fresh
        .process_command(cmd)
        .await
        .expect_err("no connection is free");
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    assert!(err.is_retryable());
    drop(held);

    let cmd = command(&fresh, "deposit", json!({"amount": 1}), ("account", "a"));
    fresh
        .process_command(cmd)
        .await
        .expect("works again once a connection is free");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_the_server_refuses_is_internal_without_server_words() {
    let db = TestDb::create().await;
    let backend: Arc<dyn Backend> = Arc::new(db.backend().await);
    let bank = domain::domain(backend.clone());
    open_account(&bank, "a", "ann", 100).await;

    let pool = db.pool(1).await;
    sqlx::query("ALTER TABLE fluvius.events RENAME TO events_gone")
        .execute(&pool)
        .await
        .expect("rename the events table");
    let cmd = command(&bank, "deposit", json!({"amount": 1}), ("account", "a"));
    let err = bank
        .process_command(cmd)
        .await
        .expect_err("the events table is gone");
    assert!(matches!(err, Error::Internal { .. }), "{err:?}");
    assert!(!err.is_retryable());
    let message = err.to_string();
    for internal in ["events_gone", "relation", "SQLSTATE", "line", "SELECT"] {
        assert!(
            !message.contains(internal),
            "the message shows server internals ({internal}): {message}"
        );
    }
    assert!(
        chain(&err).contains("fluvius.events"),
        "the source chain keeps the server's words: {}",
        chain(&err)
    );
}
