//! Invariant 7: the global log is read in an order that late-committing transactions cannot
//! jump. Positions come from a sequence in insertion order, so the tests stage transactions
//! whose commit order differs from their position order and check that a reader checkpointing
//! positions neither skips nor repeats an event.

mod support;

use fluvius_core::{Backend, CommitBatch, EventEnvelope, ExpectedVersion};
use fluvius_postgres::PgBackend;
use sqlx::{Connection, PgConnection};
use support::{TestDb, key, write};
use uuid::Uuid;

async fn commit(backend: &PgBackend, id: &str) -> u64 {
    let receipt = backend
        .commit(CommitBatch::single(write(
            &key("", "log", id),
            ExpectedVersion::NoStream,
            1,
        )))
        .await
        .expect("commit");
    receipt.positions[0][0]
}

/// Inserts one event of stream `id` in the open transaction of `conn`; returns its position.
async fn insert_raw(conn: &mut PgConnection, id: &str) -> u64 {
    let position: i64 = sqlx::query_scalar(
        "INSERT INTO fluvius.events (event_id, tenant, namespace, resource, identifier, version, \
                                     evt_key, schema_version, payload, metadata, recorded_at) \
         VALUES ($1, '', 'test', 'log', $2, 1, 'bumped', 1, '{}', \
                 '{\"command\": \"x\", \"user\": null, \"tenant\": \"\", \
                   \"correlation_id\": \"00000000-0000-0000-0000-000000000000\", \
                   \"causation_id\": \"00000000-0000-0000-0000-000000000000\", \
                   \"time\": \"2024-01-01T00:00:00Z\"}', now()) \
         RETURNING position",
    )
    .bind(Uuid::new_v4())
    .bind(id)
    .fetch_one(&mut *conn)
    .await
    .expect("insert an event by hand");
    u64::try_from(position).expect("positive")
}

fn ids(events: &[EventEnvelope]) -> Vec<&str> {
    events.iter().map(|e| e.identifier.as_str()).collect()
}

/// The later-started transaction commits first, with a higher position: a position-ordered
/// reader would checkpoint past the earlier transaction's lower position and skip it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_commit_with_a_lower_position_is_not_skipped() {
    let db = TestDb::create().await;
    let backend = db.backend().await;
    let p1 = commit(&backend, "first").await;

    let mut early = PgConnection::connect_with(&db.options())
        .await
        .expect("connect");
    sqlx::query("BEGIN")
        .execute(&mut early)
        .await
        .expect("begin");
    let p_early = insert_raw(&mut early, "early").await;
    let p_late = commit(&backend, "late").await;
    assert!(
        p_early < p_late,
        "the open transaction took the lower position"
    );

    // While `early` is open, the committed `late` waits behind it.
    let seen = backend.read_all(0, 100).await.expect("read_all");
    assert_eq!(ids(&seen), ["first"], "nothing past a running transaction");
    let checkpoint = seen.last().map(|e| e.position).expect("one event");
    assert_eq!(checkpoint, p1);

    sqlx::query("COMMIT")
        .execute(&mut early)
        .await
        .expect("commit");
    let rest = backend.read_all(checkpoint, 100).await.expect("read_all");
    assert_eq!(
        ids(&rest),
        ["early", "late"],
        "the late commit is not skipped"
    );
    assert_eq!(
        ids(&backend.read_all(0, 100).await.expect("read_all")),
        ["first", "early", "late"]
    );
}

/// A transaction that took its id first but inserts last: its event has the highest position
/// yet comes before the other in the log, and the cursor follows the log, not the positions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cursor_follows_transaction_order() {
    let db = TestDb::create().await;
    let backend = db.backend().await;
    commit(&backend, "first").await;

    let mut early = open_transaction(&db).await;
    let p_late = commit(&backend, "late").await;
    let p_early = insert_raw(&mut early, "early").await;
    assert!(p_early > p_late, "the early transaction inserted last");
    sqlx::query("COMMIT")
        .execute(&mut early)
        .await
        .expect("commit");

    let log = backend.read_all(0, 100).await.expect("read_all");
    assert_eq!(
        ids(&log),
        ["first", "early", "late"],
        "(xid, position) order"
    );
    // Paging one event at a time walks the same order, each cursor the previous position.
    let mut paged = Vec::new();
    let mut after = 0;
    loop {
        let page = backend.read_all(after, 1).await.expect("read_all");
        let Some(last) = page.last() else { break };
        after = last.position;
        paged.extend(page);
    }
    assert_eq!(paged, log, "pages of one event concatenate to the log");
    assert_eq!(
        ids(&backend.read_all(p_early, 100).await.expect("read_all")),
        ["late"],
        "after the early event (a higher position) comes the late one"
    );
}

/// Transactions of other databases on the same server cannot write this log, so they do not
/// hold it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_of_other_databases_do_not_hold_the_log_back() {
    let db = TestDb::create().await;
    let elsewhere = TestDb::create().await;
    let backend = db.backend().await;

    let mut other = open_transaction(&elsewhere).await;
    commit(&backend, "mine").await;

    // Held back, the read would wait out its retries and return nothing.
    let seen = backend.read_all(0, 100).await.expect("read_all");
    assert_eq!(ids(&seen), ["mine"]);
    sqlx::query("ROLLBACK")
        .execute(&mut other)
        .await
        .expect("rollback");
    let _ = other.close().await;
}

/// Within a stream, the log order is the version order even when its commands race.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_commits_of_one_stream_are_logged_in_version_order() {
    let db = TestDb::create().await;
    let backend = db.backend().await;
    let stream = key("", "log", "hot");
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let backend = backend.clone();
        let stream = stream.clone();
        tasks.push(tokio::spawn(async move {
            let mut written = 0;
            while written < 10 {
                let head = backend
                    .load_state(&stream)
                    .await
                    .expect("load")
                    .map_or(0, |s| s.version);
                let expected = if head == 0 {
                    ExpectedVersion::NoStream
                } else {
                    ExpectedVersion::Exact(head)
                };
                if backend
                    .commit(CommitBatch::single(write(&stream, expected, 2)))
                    .await
                    .is_ok()
                {
                    written += 1;
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let log = backend.read_all(0, 1000).await.expect("read_all");
    let versions: Vec<u64> = log.iter().map(|e| e.version).collect();
    assert_eq!(versions, (1..=160).collect::<Vec<_>>());
}

/// A connection to `db` inside a transaction that already holds a transaction id.
async fn open_transaction(db: &TestDb) -> PgConnection {
    let mut conn = PgConnection::connect_with(&db.options())
        .await
        .expect("connect");
    sqlx::query("BEGIN")
        .execute(&mut conn)
        .await
        .expect("begin");
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut conn)
        .await
        .expect("take a transaction id");
    conn
}
