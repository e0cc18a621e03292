//! Group commit across streams: concurrent `commit` calls share one transaction, and each keeps
//! its own all-or-nothing outcome.
//!
//! Nothing here depends on timing. To put chosen calls into one group, a test lets the backend
//! run a single flusher, blocks it on a stream lock held by another session, queues the calls
//! (waiting until the queue holds them), and releases the lock: the flusher then takes every
//! queued call at once.

mod support;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use fluvius_core::{
    Backend, CommitBatch, CommitReceipt, ExpectedVersion, LogCursor, LogQuery, StoreError,
    StreamKey, StreamRange, StreamWrite,
};
use fluvius_postgres::PgBackend;
use sqlx::{Connection, PgConnection};
use support::{TestDb, count, key, record, whole_log, write};
use tokio::task::JoinHandle;
use uuid::Uuid;

type Outcome = JoinHandle<Result<CommitReceipt, StoreError>>;

/// A session holding the advisory locks of some streams, as a writer in another process would.
struct Holder(PgConnection);

impl Holder {
    async fn new(db: &TestDb, streams: &[&StreamKey]) -> Holder {
        let mut conn = PgConnection::connect_with(&db.options())
            .await
            .expect("connect the lock holder");
        for stream in streams {
            sqlx::query("SELECT pg_advisory_lock(fluvius.stream_lock_key($1, $2, $3, $4))")
                .bind(&stream.tenant)
                .bind(&stream.namespace)
                .bind(&stream.resource)
                .bind(&stream.id)
                .execute(&mut conn)
                .await
                .expect("hold a stream lock");
        }
        Holder(conn)
    }

    async fn release(&mut self, stream: &StreamKey) {
        let released: bool = sqlx::query_scalar(
            "SELECT pg_advisory_unlock(fluvius.stream_lock_key($1, $2, $3, $4))",
        )
        .bind(&stream.tenant)
        .bind(&stream.namespace)
        .bind(&stream.resource)
        .bind(&stream.id)
        .fetch_one(&mut self.0)
        .await
        .expect("release a stream lock");
        assert!(released);
    }
}

/// Waits until a backend of this database waits on a lock in a statement containing `function`;
/// returns its pid.
async fn blocked_in(db: &TestDb, function: &str) -> i32 {
    let mut admin = PgConnection::connect_with(&db.options())
        .await
        .expect("admin");
    for _ in 0..1000 {
        let found: Option<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock' \
               AND query LIKE '%' || $1 || '%' AND pid <> pg_backend_pid()",
        )
        .bind(function)
        .fetch_optional(&mut admin)
        .await
        .expect("look for the blocked flush");
        if let Some(pid) = found {
            let _ = admin.close().await;
            return pid;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no flush blocked in {function}");
}

/// Waits until `n` calls wait in the backend's queue.
async fn queued(backend: &PgBackend, n: usize) {
    for _ in 0..1000 {
        if backend.commit_stats().waiting == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!(
        "the queue never held {n} calls: {:?}",
        backend.commit_stats()
    );
}

fn spawn_commit(backend: &PgBackend, batch: CommitBatch) -> Outcome {
    let backend = backend.clone();
    tokio::spawn(async move { backend.commit(batch).await })
}

/// A backend with one flusher.
async fn one_flusher(db: &TestDb) -> PgBackend {
    db.backend().await.max_flushers(1)
}

/// Blocks the backend's single flusher on the stream `blocker`, whose lock the returned holder
/// has; returns the commit that blocks it. Until the lock is released, commits only queue.
async fn block(db: &TestDb, backend: &PgBackend) -> (Holder, StreamKey, Outcome) {
    let blocker = key("", "blocker", "b");
    let holder = Holder::new(db, &[&blocker]).await;
    let blocked = spawn_commit(
        backend,
        CommitBatch::single(write(&blocker, ExpectedVersion::NoStream, 1)),
    );
    blocked_in(db, "fluvius.commit(").await;
    queued(backend, 0).await;
    (holder, blocker, blocked)
}

/// Queues the batches one after the other (so the group has them in this order).
async fn queue_in_order(backend: &PgBackend, batches: Vec<CommitBatch>) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    for batch in batches {
        outcomes.push(spawn_commit(backend, batch));
        queued(backend, outcomes.len()).await;
    }
    outcomes
}

async fn outcomes(handles: Vec<Outcome>) -> Vec<Result<CommitReceipt, StoreError>> {
    let mut all = Vec::new();
    for handle in handles {
        all.push(handle.await.expect("the committing task"));
    }
    all
}

async fn commit(backend: &PgBackend, write: StreamWrite) -> CommitReceipt {
    backend
        .commit(CommitBatch::single(write))
        .await
        .expect("setup commit")
}

async fn head(backend: &PgBackend, stream: &StreamKey) -> u64 {
    backend
        .load_state(stream)
        .await
        .expect("load")
        .map_or(0, |s| s.version)
}

async fn versions(backend: &PgBackend, stream: &StreamKey) -> Vec<u64> {
    backend
        .read_stream(stream, StreamRange::all())
        .await
        .expect("read")
        .iter()
        .map(|e| e.version)
        .collect()
}

/// The transaction ids the events of some streams were written by.
async fn xids(db: &TestDb, resource: &str) -> HashSet<String> {
    let pool = db.pool(1).await;
    sqlx::query_scalar("SELECT xid::text FROM fluvius.events WHERE resource = $1")
        .bind(resource)
        .fetch_all(&pool)
        .await
        .expect("read xids")
        .into_iter()
        .collect()
}

fn single(stream: &StreamKey, expected: ExpectedVersion, events: u64) -> CommitBatch {
    CommitBatch::single(write(stream, expected, events))
}

fn with_record(stream: &StreamKey, expected: ExpectedVersion, command_id: Uuid) -> CommitBatch {
    let mut w = write(stream, expected, 1);
    w.idempotency.push(record(stream, command_id));
    CommitBatch::single(w)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commits_of_different_streams_share_one_transaction() {
    let db = TestDb::create().await;
    let backend = one_flusher(&db).await;
    let (mut holder, blocker, blocked) = block(&db, &backend).await;
    let streams: Vec<StreamKey> = (0..20).map(|i| key("", "many", &i.to_string())).collect();
    let mut handles = Vec::new();
    for stream in &streams {
        handles.push(spawn_commit(
            &backend,
            single(stream, ExpectedVersion::NoStream, 1),
        ));
    }
    queued(&backend, streams.len()).await;
    holder.release(&blocker).await;
    blocked.await.expect("task").expect("the blocked commit");
    let mut cursors = Vec::new();
    for outcome in outcomes(handles).await {
        let receipt = outcome.expect("each commit");
        assert_eq!(receipt.positions[0].len(), 1);
        cursors.push(receipt.cursor());
    }
    let stats = backend.commit_stats();
    assert_eq!(
        (stats.flushes, stats.calls),
        (2, 21),
        "one flush for the blocker, one for the 20 queued calls: {stats:?}"
    );
    let xid = xids(&db, "many").await;
    assert_eq!(xid.len(), 1, "the 20 commits are one transaction");
    // Each call's receipt names that transaction, so its cursor is its event's in the log.
    let xid: u64 = xid.iter().next().expect("one").parse().expect("an xid8");
    for cursor in cursors {
        assert_eq!(cursor.tx(), xid, "the receipt carries the group's xid");
        assert_eq!(
            backend.log_cursor(cursor.position()).await.expect("lookup"),
            Some(cursor)
        );
    }
    for stream in &streams {
        assert_eq!(versions(&backend, stream).await, [1]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflicting_call_fails_alone() {
    let db = TestDb::create().await;
    let backend = one_flusher(&db).await;
    let a = key("", "acc", "a");
    let b = key("", "acc", "b");
    let c = key("", "acc", "c");
    let d = key("", "acc", "d");
    let e = key("", "acc", "e");
    let (f, g) = (key("", "acc", "f"), key("", "acc", "g"));
    commit(&backend, write(&a, ExpectedVersion::NoStream, 2)).await;
    for stream in [&d, &e, &f, &g] {
        commit(&backend, write(stream, ExpectedVersion::NoStream, 1)).await;
    }
    let (mut holder, blocker, blocked) = block(&db, &backend).await;
    let before = backend.commit_stats().flushes;

    let handles = queue_in_order(
        &backend,
        vec![
            single(&b, ExpectedVersion::NoStream, 1),
            single(&a, ExpectedVersion::Exact(1), 1), // stale: a is at 2
            single(&c, ExpectedVersion::NoStream, 2),
            single(&a, ExpectedVersion::Exact(2), 1), // a failed call changed nothing
            // The set-based path (one event on an existing stream, alone in the group, four
            // such calls at least), and a refusal on it.
            single(&d, ExpectedVersion::Exact(1), 1),
            single(&e, ExpectedVersion::Exact(5), 1),
            single(&f, ExpectedVersion::Exact(1), 1),
            single(&g, ExpectedVersion::Exact(1), 1),
        ],
    )
    .await;
    holder.release(&blocker).await;
    blocked.await.expect("task").expect("the blocked commit");
    let results = outcomes(handles).await;
    assert_eq!(backend.commit_stats().flushes, before + 1, "one group");

    assert!(results[0].is_ok(), "{:?}", results[0]);
    assert_eq!(
        results[1],
        Err(StoreError::Conflict {
            key: a.clone(),
            expected: ExpectedVersion::Exact(1),
            actual: 2
        })
    );
    assert_eq!(results[2].as_ref().map(|r| r.positions[0].len()), Ok(2));
    assert!(results[3].is_ok(), "{:?}", results[3]);
    assert!(results[4].is_ok(), "{:?}", results[4]);
    assert_eq!(
        results[5],
        Err(StoreError::Conflict {
            key: e.clone(),
            expected: ExpectedVersion::Exact(5),
            actual: 1
        })
    );
    assert_eq!(versions(&backend, &a).await, [1, 2, 3]);
    assert_eq!(versions(&backend, &b).await, [1]);
    assert_eq!(versions(&backend, &c).await, [1, 2]);
    assert_eq!(versions(&backend, &d).await, [1, 2]);
    assert_eq!(versions(&backend, &e).await, [1]);
    assert!(results[6].is_ok() && results[7].is_ok(), "{results:?}");
    assert_eq!(versions(&backend, &f).await, [1, 2]);
    assert_eq!(versions(&backend, &g).await, [1, 2]);
    assert_eq!(head(&backend, &a).await, 3);
    assert_eq!(head(&backend, &d).await, 2);
    assert_eq!(
        head(&backend, &e).await,
        1,
        "a refused call leaves its state row"
    );

    // Each receipt names the call's own events.
    let pool = db.pool(1).await;
    for (result, stream) in [
        (&results[0], &b),
        (&results[3], &a),
        (&results[4], &d),
        (&results[7], &g),
    ] {
        let position = result.as_ref().expect("committed").positions[0][0];
        let (identifier, version): (String, i64) =
            sqlx::query_as("SELECT identifier, version FROM fluvius.events WHERE position = $1")
                .bind(i64::try_from(position).expect("position"))
                .fetch_one(&pool)
                .await
                .expect("the event at the receipt's position");
        assert_eq!(identifier, stream.id);
        assert_eq!(
            u64::try_from(version).expect("version"),
            head(&backend, stream).await
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_id_twice_in_one_group_commits_the_first() {
    let db = TestDb::create().await;
    let backend = one_flusher(&db).await;
    let (x, y, z, w, v) = (
        key("t", "acc", "x"),
        key("t", "acc", "y"),
        key("t", "acc", "z"),
        key("t", "acc", "w"),
        key("t", "acc", "v"),
    );
    let (first, second, earlier) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    backend
        .commit(with_record(&v, ExpectedVersion::NoStream, earlier))
        .await
        .expect("an id recorded before the group");
    let (mut holder, blocker, blocked) = block(&db, &backend).await;

    let handles = queue_in_order(
        &backend,
        vec![
            with_record(&x, ExpectedVersion::NoStream, first),
            with_record(&y, ExpectedVersion::NoStream, first), // its id was just used
            with_record(&z, ExpectedVersion::Exact(7), second), // refused: a conflict
            with_record(&w, ExpectedVersion::NoStream, second), // the refused call left no id
            with_record(&v, ExpectedVersion::Exact(1), earlier), // recorded before the group
        ],
    )
    .await;
    holder.release(&blocker).await;
    blocked.await.expect("task").expect("the blocked commit");
    let results = outcomes(handles).await;

    assert!(results[0].is_ok(), "{:?}", results[0]);
    assert_eq!(
        results[1],
        Err(StoreError::DuplicateCommandId {
            tenant: "t".into(),
            command_id: first
        })
    );
    assert_eq!(
        results[2],
        Err(StoreError::Conflict {
            key: z.clone(),
            expected: ExpectedVersion::Exact(7),
            actual: 0
        })
    );
    assert!(results[3].is_ok(), "{:?}", results[3]);
    assert_eq!(
        results[4],
        Err(StoreError::DuplicateCommandId {
            tenant: "t".into(),
            command_id: earlier
        })
    );
    assert_eq!(versions(&backend, &x).await, [1]);
    assert!(
        versions(&backend, &y).await.is_empty(),
        "the duplicate wrote nothing"
    );
    assert!(versions(&backend, &z).await.is_empty());
    assert_eq!(versions(&backend, &w).await, [1]);
    assert_eq!(versions(&backend, &v).await, [1]);
    let recorded = backend
        .idempotency("t", first)
        .await
        .expect("read")
        .expect("the first call's record");
    assert_eq!(
        recorded.root.id, "x",
        "the first call's record, not the second's"
    );
    let recorded = backend
        .idempotency("t", second)
        .await
        .expect("read")
        .expect("the record of the call that committed");
    assert_eq!(recorded.root.id, "w");
    assert_eq!(count(&db.pool(1).await, "idempotency").await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_on_one_stream_in_one_group_chain_or_conflict() {
    let db = TestDb::create().await;
    let backend = one_flusher(&db).await;
    let (mut holder, blocker, blocked) = block(&db, &backend).await;
    let s = key("", "chain", "s");
    let handles = queue_in_order(
        &backend,
        vec![
            single(&s, ExpectedVersion::NoStream, 1),
            single(&s, ExpectedVersion::Exact(1), 2), // expects the first call's result
            single(&s, ExpectedVersion::NoStream, 1), // expects the old head
            single(&s, ExpectedVersion::Exact(1), 1), // expects a head the group passed
            single(&s, ExpectedVersion::Exact(3), 1),
        ],
    )
    .await;
    holder.release(&blocker).await;
    blocked.await.expect("task").expect("the blocked commit");
    let results = outcomes(handles).await;

    let positions = |i: usize| results[i].as_ref().expect("committed").positions[0].clone();
    assert_eq!(positions(0).len(), 1);
    assert_eq!(positions(1).len(), 2);
    assert_eq!(
        results[2],
        Err(StoreError::Conflict {
            key: s.clone(),
            expected: ExpectedVersion::NoStream,
            actual: 3
        })
    );
    assert_eq!(
        results[3],
        Err(StoreError::Conflict {
            key: s.clone(),
            expected: ExpectedVersion::Exact(1),
            actual: 3
        })
    );
    let chained: Vec<u64> = [positions(0), positions(1), positions(4)].concat();
    assert!(
        chained.windows(2).all(|p| p[0] < p[1]),
        "positions follow the versions: {chained:?}"
    );
    assert_eq!(versions(&backend, &s).await, [1, 2, 3, 4]);
    assert_eq!(head(&backend, &s).await, 4);
    assert_eq!(xids(&db, "chain").await.len(), 1, "one transaction");
    // Invariant 7: the log holds the stream in version order.
    let log: Vec<u64> = whole_log(&backend)
        .await
        .iter()
        .filter(|e| e.resource == "chain")
        .map(|e| e.version)
        .collect();
    assert_eq!(log, [1, 2, 3, 4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_of_several_writes_keep_their_own_outcome() {
    let db = TestDb::create().await;
    let backend = one_flusher(&db).await;
    let (mut holder, blocker, blocked) = block(&db, &backend).await;
    let (m1, m2, n1, k) = (
        key("", "multi", "m1"),
        key("", "multi", "m2"),
        key("", "multi", "n1"),
        key("", "multi", "k"),
    );
    let mut gap = write(&k, ExpectedVersion::NoStream, 2);
    std::sync::Arc::make_mut(&mut gap.events)[1].version = 5;
    let handles = queue_in_order(
        &backend,
        vec![
            CommitBatch::new(vec![
                write(&m1, ExpectedVersion::NoStream, 2),
                write(&m2, ExpectedVersion::NoStream, 1),
                write(&m1, ExpectedVersion::Exact(2), 1),
            ]),
            // Its second write conflicts with the first call: none of it is written.
            CommitBatch::new(vec![
                write(&n1, ExpectedVersion::NoStream, 1),
                write(&m2, ExpectedVersion::NoStream, 1),
            ]),
            CommitBatch::single(gap),
            CommitBatch::new(vec![
                write(&k, ExpectedVersion::NoStream, 1),
                write(&m2, ExpectedVersion::Exact(1), 1),
            ]),
        ],
    )
    .await;
    holder.release(&blocker).await;
    blocked.await.expect("task").expect("the blocked commit");
    let results = outcomes(handles).await;

    let first = results[0].as_ref().expect("the first call");
    assert_eq!(
        first.positions.iter().map(Vec::len).collect::<Vec<_>>(),
        [2, 1, 1]
    );
    assert_eq!(
        results[1],
        Err(StoreError::Conflict {
            key: m2.clone(),
            expected: ExpectedVersion::NoStream,
            actual: 1
        })
    );
    match &results[2] {
        Err(StoreError::Invalid(message)) => assert!(message.contains("without gaps"), "{message}"),
        other => panic!("a malformed call: {other:?}"),
    }
    assert_eq!(
        results[3]
            .as_ref()
            .expect("the last call")
            .positions
            .iter()
            .map(Vec::len)
            .collect::<Vec<_>>(),
        [1, 1]
    );
    assert_eq!(versions(&backend, &m1).await, [1, 2, 3]);
    assert_eq!(versions(&backend, &m2).await, [1, 2]);
    assert!(versions(&backend, &n1).await.is_empty());
    assert_eq!(versions(&backend, &k).await, [1]);
    assert_eq!(head(&backend, &m1).await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_stops_waiting_does_not_fail_the_others() {
    let db = TestDb::create().await;
    let backend = one_flusher(&db).await;
    let (mut holder, blocker, blocked) = block(&db, &backend).await;
    let streams: Vec<StreamKey> = (0..5).map(|i| key("", "drop", &i.to_string())).collect();
    let mut handles = queue_in_order(
        &backend,
        streams
            .iter()
            .map(|s| single(s, ExpectedVersion::NoStream, 1))
            .collect(),
    )
    .await;
    // The caller of the third call and the caller of the blocked flush stop waiting.
    let gone = handles.remove(2);
    gone.abort();
    assert!(gone.await.expect_err("aborted").is_cancelled());
    blocked.abort();
    let _ = blocked.await;

    holder.release(&blocker).await;
    for outcome in outcomes(handles).await {
        assert!(outcome.is_ok(), "{outcome:?}");
    }
    // A flush carries its calls whoever still waits for them.
    for stream in &streams {
        assert_eq!(versions(&backend, stream).await, [1]);
    }
    assert_eq!(versions(&backend, &blocker).await, [1]);
    assert_eq!(backend.commit_stats().calls, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_whose_connection_dies_fails_each_call() {
    let db = TestDb::create().await;
    let backend = db.backend().await.max_flushers(1);
    let blocker = key("", "blocker", "b");
    let (s1, s2) = (key("", "dead", "s1"), key("", "dead", "s2"));
    let mut holder = Holder::new(&db, &[&blocker, &s1]).await;
    let blocked = spawn_commit(&backend, single(&blocker, ExpectedVersion::NoStream, 1));
    blocked_in(&db, "fluvius.commit(").await;
    let handles = queue_in_order(
        &backend,
        vec![
            single(&s1, ExpectedVersion::NoStream, 1),
            single(&s2, ExpectedVersion::NoStream, 1),
        ],
    )
    .await;
    holder.release(&blocker).await;
    blocked.await.expect("task").expect("the blocked commit");
    // The group now waits for the lock of s1.
    let pid = blocked_in(&db, "fluvius.commit(").await;
    let mut admin = PgConnection::connect_with(&db.options())
        .await
        .expect("admin");
    let done: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .fetch_one(&mut admin)
        .await
        .expect("terminate the group's backend");
    assert!(done);
    for outcome in outcomes(handles).await {
        match outcome {
            // The server ended the group's transaction before it committed: nothing was written,
            // and trying again is safe.
            Err(StoreError::Unavailable { message, detail }) => {
                assert!(message.contains("committing a group"), "{message}");
                assert!(
                    !message.contains("terminating"),
                    "server words leak: {message}"
                );
                assert!(detail.is_some_and(|d| d.as_str().contains("terminating")));
            }
            other => panic!("a call of a group that died: {other:?}"),
        }
    }
    holder.release(&s1).await;
    assert!(versions(&backend, &s1).await.is_empty());
    assert!(versions(&backend, &s2).await.is_empty());
    // The queue goes on, on a new connection.
    for stream in [&s1, &s2] {
        commit(&backend, write(stream, ExpectedVersion::NoStream, 1)).await;
        assert_eq!(versions(&backend, stream).await, [1]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_the_checks_cannot_see_fails_alone() {
    let db = TestDb::create().await;
    let backend = one_flusher(&db).await;
    let (p, q, r) = (
        key("", "reuse", "p"),
        key("", "reuse", "q"),
        key("", "reuse", "r"),
    );
    commit(&backend, write(&p, ExpectedVersion::NoStream, 1)).await;
    let stored = backend
        .read_stream(&p, StreamRange::all())
        .await
        .expect("read")[0]
        .event_id;
    let (mut holder, blocker, blocked) = block(&db, &backend).await;
    // An event id used before: only the events table's unique key sees it, and its violation
    // rolls the whole group back; each call is then sent alone.
    let mut reused = write(&q, ExpectedVersion::NoStream, 1);
    std::sync::Arc::make_mut(&mut reused.events)[0].event_id = stored;
    let handles = queue_in_order(
        &backend,
        vec![
            single(&p, ExpectedVersion::Exact(1), 1),
            CommitBatch::single(reused),
            single(&r, ExpectedVersion::NoStream, 1),
        ],
    )
    .await;
    holder.release(&blocker).await;
    blocked.await.expect("task").expect("the blocked commit");
    let results = outcomes(handles).await;
    assert!(results[0].is_ok(), "{:?}", results[0]);
    assert!(
        matches!(&results[1], Err(StoreError::Internal { message, detail: Some(d) })
            if !message.contains("event_id") && d.as_str().contains("event_id")),
        "{:?}",
        results[1]
    );
    assert!(results[2].is_ok(), "{:?}", results[2]);
    assert_eq!(versions(&backend, &p).await, [1, 2]);
    assert!(versions(&backend, &q).await.is_empty());
    assert_eq!(versions(&backend, &r).await, [1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_call_keeps_its_backends_snapshot_interval() {
    let db = TestDb::create().await;
    let backend = one_flusher(&db).await;
    let every_two = backend.clone().snapshot_every(2);
    let never = backend.clone().snapshot_every(0);
    let (a, b) = (key("", "snap", "a"), key("", "snap", "b"));
    commit(&backend, write(&a, ExpectedVersion::NoStream, 1)).await;
    commit(&backend, write(&b, ExpectedVersion::NoStream, 1)).await;
    let (mut holder, blocker, blocked) = block(&db, &backend).await;
    let mut handles = vec![spawn_commit(
        &every_two,
        single(&a, ExpectedVersion::Exact(1), 1),
    )];
    queued(&backend, 1).await;
    handles.push(spawn_commit(
        &never,
        single(&b, ExpectedVersion::Exact(1), 1),
    ));
    queued(&backend, 2).await;
    holder.release(&blocker).await;
    blocked.await.expect("task").expect("the blocked commit");
    for outcome in outcomes(handles).await {
        assert!(outcome.is_ok(), "{outcome:?}");
    }
    let pool = db.pool(1).await;
    let snapshots: Vec<(String, i64)> = sqlx::query_as(
        "SELECT identifier, version FROM fluvius.snapshots WHERE resource = 'snap' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .expect("snapshots");
    assert_eq!(snapshots, [("a".to_owned(), 2)]);
}

/// Many tasks, each writing its own stream, through the default queue, while a reader follows
/// the global log: nothing is lost, nothing read twice or out of a stream's order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_writers_and_a_reader_lose_nothing() {
    let db = TestDb::create().await;
    let backend = db.backend().await;
    let (tasks, per_task) = (32, 15);
    let mut writers = Vec::new();
    for t in 0..tasks {
        let backend = backend.clone();
        writers.push(tokio::spawn(async move {
            let stream = key("", "load", &t.to_string());
            for version in 0..per_task {
                let expected = if version == 0 {
                    ExpectedVersion::NoStream
                } else {
                    ExpectedVersion::Exact(version)
                };
                backend
                    .commit(single(&stream, expected, 1))
                    .await
                    .expect("each commit");
            }
        }));
    }
    let reader = {
        let backend = backend.clone();
        tokio::spawn(async move {
            let mut seen: BTreeMap<String, Vec<u64>> = BTreeMap::new();
            let mut positions = HashSet::new();
            let mut after = LogCursor::START;
            while positions.len() < tasks * per_task as usize {
                let query = LogQuery::after(after).limit(50);
                let page = backend.read_log(&query).await.expect("read_log");
                for event in &page.events {
                    assert!(positions.insert(event.position), "read twice: {event:?}");
                    seen.entry(event.identifier.clone())
                        .or_default()
                        .push(event.version);
                }
                after = page.next;
                if page.caught_up {
                    // The backend never waits: the reader does.
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
            seen
        })
    };
    for writer in writers {
        writer.await.expect("writer");
    }
    let seen = reader.await.expect("reader");
    assert_eq!(seen.len(), tasks);
    for (stream, versions) in seen {
        assert_eq!(
            versions,
            (1..=per_task).collect::<Vec<_>>(),
            "stream {stream} in version order"
        );
    }
    let stats = backend.commit_stats();
    assert_eq!(stats.calls, (tasks as u64) * per_task);
    assert!(stats.flushes <= stats.calls, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_can_be_turned_off() {
    let db = TestDb::create().await;
    let backend = db.backend().await.max_group(1);
    assert!(format!("{backend:?}").contains("max_group: 1"));
    let mut handles = Vec::new();
    for i in 0..8 {
        handles.push(spawn_commit(
            &backend,
            single(
                &key("", "off", &i.to_string()),
                ExpectedVersion::NoStream,
                1,
            ),
        ));
    }
    for outcome in outcomes(handles).await {
        assert!(outcome.is_ok(), "{outcome:?}");
    }
    assert_eq!(
        backend.commit_stats().flushes,
        0,
        "every call sent by its caller"
    );
    assert_eq!(xids(&db, "off").await.len(), 8, "one transaction each");
}
