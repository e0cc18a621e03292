//! A command whose connection dies mid-transaction leaves nothing behind: not its events, not
//! its state row, not its idempotency record, and the stream takes the next write as if it had
//! never been tried.

mod support;

use std::time::Duration;

use fluvius_core::{Backend, CommitBatch, ExpectedVersion, StreamRange};
use sqlx::{Connection, PgConnection};
use support::{TestDb, count, key, record, write};
use uuid::Uuid;

/// Waits until a backend of this database waits on a lock while running `fluvius.commit`, and
/// returns its pid and whether it holds a transaction id (has written something).
async fn blocked_commit(admin: &mut PgConnection) -> (i32, bool) {
    for _ in 0..500 {
        let found: Option<(i32, bool)> = sqlx::query_as(
            "SELECT pid, backend_xid IS NOT NULL FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock' \
               AND query LIKE '%fluvius.commit(%'",
        )
        .fetch_optional(&mut *admin)
        .await
        .expect("look for the blocked commit");
        if let Some(found) = found {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the commit never blocked");
}

async fn terminate(admin: &mut PgConnection, pid: i32) {
    let done: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .fetch_one(&mut *admin)
        .await
        .expect("terminate the committing backend");
    assert!(done);
}

async fn assert_nothing_written(db: &TestDb, backend: &fluvius_postgres::PgBackend) {
    let pool = db.pool(1).await;
    for table in ["events", "states", "snapshots", "idempotency"] {
        assert_eq!(count(&pool, table).await, 0, "fluvius.{table} is empty");
    }
    assert!(support::whole_log(backend).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_its_inserts_leaves_nothing_behind() {
    let db = TestDb::create().await;
    let backend = db.backend().await;
    let stream = key("", "account", "a-1");
    let command_id = Uuid::new_v4();
    let mut admin = PgConnection::connect_with(&db.options())
        .await
        .expect("admin");

    // Another transaction holds the same command id, uncommitted: the commit inserts its events
    // and state row, then waits on the idempotency key.
    let mut other = PgConnection::connect_with(&db.options())
        .await
        .expect("other");
    sqlx::query("BEGIN")
        .execute(&mut other)
        .await
        .expect("begin");
    sqlx::query(
        "INSERT INTO fluvius.idempotency VALUES ('', $1, 'f', 'account', 'x', 0, 1, '{}', now())",
    )
    .bind(command_id)
    .execute(&mut other)
    .await
    .expect("hold the command id");

    let mut batch = write(&stream, ExpectedVersion::NoStream, 3);
    batch.idempotency.push(record(&stream, command_id));
    let committing = {
        let backend = backend.clone();
        let batch = batch.clone();
        tokio::spawn(async move { backend.commit(CommitBatch::single(batch)).await })
    };
    let (pid, has_written) = blocked_commit(&mut admin).await;
    assert!(
        has_written,
        "the commit holds a transaction id: its inserts ran"
    );
    terminate(&mut admin, pid).await;
    let outcome = committing.await.expect("task");
    assert!(
        outcome.is_err(),
        "a killed commit reports an error: {outcome:?}"
    );

    sqlx::query("ROLLBACK")
        .execute(&mut other)
        .await
        .expect("rollback");
    assert_nothing_written(&db, &backend).await;

    // The stream is untouched: the same write now succeeds at version 1.
    let receipt = backend
        .commit(CommitBatch::single(batch))
        .await
        .expect("retry after the crash");
    assert_eq!(receipt.positions[0].len(), 3);
    let events = backend
        .read_stream(&stream, StreamRange::all())
        .await
        .expect("read");
    assert_eq!(
        events.iter().map(|e| e.version).collect::<Vec<_>>(),
        [1, 2, 3]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_while_waiting_for_the_stream_lock_leaves_nothing_behind() {
    let db = TestDb::create().await;
    let backend = db.backend().await;
    let stream = key("", "account", "a-2");
    let mut admin = PgConnection::connect_with(&db.options())
        .await
        .expect("admin");

    let mut holder = PgConnection::connect_with(&db.options())
        .await
        .expect("holder");
    sqlx::query("SELECT pg_advisory_lock(fluvius.stream_lock_key($1, $2, $3, $4))")
        .bind(&stream.tenant)
        .bind(&stream.namespace)
        .bind(&stream.resource)
        .bind(&stream.id)
        .execute(&mut holder)
        .await
        .expect("hold the stream lock");

    let committing = {
        let backend = backend.clone();
        let batch = write(&stream, ExpectedVersion::NoStream, 2);
        tokio::spawn(async move { backend.commit(CommitBatch::single(batch)).await })
    };
    let (pid, has_written) = blocked_commit(&mut admin).await;
    assert!(!has_written, "the stream lock comes before any write");
    terminate(&mut admin, pid).await;
    assert!(committing.await.expect("task").is_err());
    let _ = holder.close().await;
    assert_nothing_written(&db, &backend).await;
}
