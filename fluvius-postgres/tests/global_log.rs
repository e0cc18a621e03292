//! Invariant 7: the global log is read in an order that late-committing transactions cannot
//! jump. Positions come from a sequence in insertion order, so the tests stage transactions
//! whose commit order differs from their position order and check that a reader checkpointing
//! its cursor neither skips nor repeats an event, and that the backend never waits for them.

mod support;

use std::time::{Duration, Instant};

use fluvius_core::{Backend, CommitBatch, EventEnvelope, ExpectedVersion, LogCursor, LogQuery};
use fluvius_postgres::PgBackend;
use sqlx::{Connection, PgConnection};
use support::{TestDb, key, write};
use uuid::Uuid;

/// Commits one event of stream `id`; returns its position and the commit's cursor.
async fn commit(backend: &PgBackend, id: &str) -> (u64, LogCursor) {
    let receipt = backend
        .commit(CommitBatch::single(write(
            &key("", "log", id),
            ExpectedVersion::NoStream,
            1,
        )))
        .await
        .expect("commit");
    (receipt.positions[0][0], receipt.cursor())
}

/// One page of the log after `after`.
async fn read(backend: &PgBackend, after: LogCursor, limit: usize) -> fluvius_core::LogPage {
    backend
        .read_log(&LogQuery::after(after).limit(limit))
        .await
        .expect("read_log")
}

/// How long a read may be held back by a transaction of another database that has just ended:
/// the horizon may still count it for a moment (another test's, say) and hold the newest
/// commits back for a read. That is the conservative side, never a skip; a test expecting
/// events it committed reads again meanwhile.
const SETTLE: Duration = Duration::from_secs(3);

/// A page of the log after `after` holding at least `want` events, read again (for
/// [`SETTLE`] at most) while it holds fewer.
async fn read_settled(
    backend: &PgBackend,
    after: LogCursor,
    limit: usize,
    want: usize,
) -> fluvius_core::LogPage {
    let start = Instant::now();
    loop {
        let page = read(backend, after, limit).await;
        if page.events.len() >= want || start.elapsed() > SETTLE {
            return page;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
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
    let (p1, c1) = commit(&backend, "first").await;

    let mut early = PgConnection::connect_with(&db.options())
        .await
        .expect("connect");
    sqlx::query("BEGIN")
        .execute(&mut early)
        .await
        .expect("begin");
    let p_early = insert_raw(&mut early, "early").await;
    let (p_late, c_late) = commit(&backend, "late").await;
    assert!(
        p_early < p_late,
        "the open transaction took the lower position"
    );

    // While `early` is open, the committed `late` waits behind it, and the read says so at once.
    let started = Instant::now();
    read(&backend, LogCursor::START, 100).await;
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "the read did not wait for the running transaction"
    );
    let seen = read_settled(&backend, LogCursor::START, 100, 1).await;
    assert_eq!(
        ids(&seen.events),
        ["first"],
        "nothing past a running transaction"
    );
    assert!(seen.caught_up, "nothing more is readable now");
    let checkpoint = seen.next;
    assert_eq!(
        checkpoint, c1,
        "a caught-up reader stands at the last readable event"
    );
    assert_eq!(checkpoint.position(), p1);
    assert!(
        checkpoint < c_late,
        "the reader has not passed the late write: its response cursor says so"
    );
    let again = read(&backend, checkpoint, 100).await;
    assert!(again.is_empty() && again.caught_up && again.next == checkpoint);

    sqlx::query("COMMIT")
        .execute(&mut early)
        .await
        .expect("commit");
    let rest = read_settled(
        &backend,
        checkpoint.to_string().parse().expect("cursor"),
        100,
        2,
    )
    .await;
    assert_eq!(
        ids(&rest.events),
        ["early", "late"],
        "the late commit is not skipped"
    );
    assert!(
        rest.next >= c_late,
        "now the reader has passed the late write"
    );
    assert!(
        rest.cursors[0].position() < rest.cursors[1].position(),
        "here positions and log order agree"
    );
    assert_eq!(
        ids(&read_settled(&backend, LogCursor::START, 100, 3)
            .await
            .events),
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
    let (p_late, c_late) = commit(&backend, "late").await;
    let p_early = insert_raw(&mut early, "early").await;
    assert!(p_early > p_late, "the early transaction inserted last");
    sqlx::query("COMMIT")
        .execute(&mut early)
        .await
        .expect("commit");

    let log = read_settled(&backend, LogCursor::START, 100, 3).await;
    assert_eq!(
        ids(&log.events),
        ["first", "early", "late"],
        "(xid, position) order"
    );
    let early_cursor = log.cursors[1];
    assert_eq!(early_cursor.position(), p_early);
    assert!(
        early_cursor < c_late,
        "the early event has the higher position and the lower cursor"
    );
    assert_eq!(
        log.cursors[2], c_late,
        "the receipt's cursor is the event's"
    );
    assert_eq!(
        backend.log_cursor(p_early).await.expect("lookup"),
        Some(early_cursor)
    );
    // Paging one event at a time walks the same order.
    let mut paged = Vec::new();
    let mut after = LogCursor::START;
    let start = Instant::now();
    loop {
        let page = read(&backend, after, 1).await;
        after = page.next;
        paged.extend(page.events);
        if page.caught_up {
            // Caught up means nothing more is readable now: a read held back for a moment
            // (see `SETTLE`) goes on from where it stands.
            if paged.len() >= log.events.len() || start.elapsed() > SETTLE {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    assert_eq!(
        paged, log.events,
        "pages of one event concatenate to the log"
    );
    assert_eq!(
        ids(&read_settled(&backend, early_cursor, 100, 1).await.events),
        ["late"],
        "after the early event (a higher position) comes the late one"
    );
}

/// A filtered reader moves past the events it skips, even the ones behind a running
/// transaction once it ends, and never past an event a running transaction may still commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filtered_reader_skips_ahead_but_not_past_running_transactions() {
    let db = TestDb::create().await;
    let backend = db.backend().await;
    let (_, c_first) = commit(&backend, "first").await;
    let mut early = open_transaction(&db).await;
    let (_, c_late) = commit(&backend, "late").await;
    let wanted = LogQuery::from_start().resource("nothing-here");

    let page = backend.read_log(&wanted).await.expect("read_log");
    assert!(page.is_empty() && page.caught_up);
    assert_eq!(
        page.next, c_first,
        "past the skipped event, not past the running transaction"
    );
    insert_raw(&mut early, "early").await;
    sqlx::query("COMMIT")
        .execute(&mut early)
        .await
        .expect("commit");
    let mut query = wanted.clone();
    query.after = page.next;
    let start = Instant::now();
    let page = loop {
        let page = backend.read_log(&query).await.expect("read_log");
        if page.next >= c_late || start.elapsed() > SETTLE {
            break page;
        }
        // Held back for a moment (see `SETTLE`).
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(page.is_empty() && page.caught_up);
    assert_eq!(
        page.next, c_late,
        "at the end of the log once nothing is running"
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

    let seen = read_settled(&backend, LogCursor::START, 100, 1).await;
    assert_eq!(ids(&seen.events), ["mine"]);
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
    let log = read_settled(&backend, LogCursor::START, 1000, 160)
        .await
        .events;
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
