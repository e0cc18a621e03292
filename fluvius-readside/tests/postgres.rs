//! The read side on a real PostgreSQL server, one throw-away database per test: checkpoints
//! moved by compare-and-set, projections into the user's table exactly once, read-your-writes,
//! wake-ups across processes (NOTIFY, LISTEN, reconnect), poison events parked in the database,
//! and concurrent writers with transactions held open or rolled back.

#![cfg(feature = "postgres")]

mod common;
#[path = "../../fluvius-postgres/tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{Recorder, deposit, key, pair, tally};
use fluvius_core::{BoxFuture, EventEnvelope, LogCursor};
use fluvius_postgres::PgBackend;
use fluvius_readside::postgres::{PgCheckpoints, PgParkStore, PgProjection};
use fluvius_readside::{
    CheckpointStore, Checkpointed, EventHandler, Handled, ReadsideError, Retry, Subscription,
};
use serde::Deserialize;
use sqlx::PgPool;
use support::TestDb;

const WAIT: Duration = Duration::from_secs(20);

#[derive(Debug, Deserialize)]
struct Deposited {
    amount: i64,
}

async fn backend(db: &TestDb, size: u32) -> PgBackend {
    PgBackend::from_pool(db.pool(size).await)
        .await
        .expect("migrate")
}

async fn balances_table(pool: &PgPool) {
    sqlx::query(
        "CREATE TABLE balances (id text PRIMARY KEY, total bigint NOT NULL, events int NOT NULL)",
    )
    .execute(pool)
    .await
    .unwrap();
}

fn balances(name: &str, pool: &PgPool, broken: Arc<AtomicBool>) -> PgProjection {
    PgProjection::new(name, pool.clone()).on("deposit-made", move |tx, data: Deposited, event| {
        let broken = broken.load(Ordering::SeqCst) && event.identifier == "bad";
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO balances (id, total, events) VALUES ($1, $2, 1) \
                 ON CONFLICT (id) DO UPDATE \
                 SET total = balances.total + excluded.total, events = balances.events + 1",
            )
            .bind(&event.identifier)
            .bind(data.amount)
            .execute(&mut *tx)
            .await?;
            if broken {
                return Err(ReadsideError::handler(
                    "the read model refuses `bad` for now",
                ));
            }
            Ok(())
        })
    })
}

async fn total(pool: &PgPool, id: &str) -> Option<(i64, i32)> {
    sqlx::query_as("SELECT total, events FROM balances WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn checkpoints_move_only_from_where_they_are() {
    let db = TestDb::create().await;
    let backend = backend(&db, 4).await;
    let store = PgCheckpoints::new(backend.pool().clone());
    let (c1, c2) = (LogCursor::new(5, 9), LogCursor::new(7, 3));
    assert_eq!(store.load("p").await.unwrap(), None);
    store.save("p", LogCursor::START, c1, None).await.unwrap();
    let err = store
        .save("p", LogCursor::START, c2, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ReadsideError::CheckpointMoved { actual, .. } if actual == c1),
        "{err}"
    );
    let err = store.save("q", c1, c2, None).await.unwrap_err();
    assert!(
        matches!(err, ReadsideError::CheckpointMoved { .. }),
        "{err}"
    );
    store.save("p", c1, c2, None).await.unwrap();
    assert_eq!(store.load("p").await.unwrap(), Some(c2));
    assert_eq!(store.load("q").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projection_applies_each_event_once_even_with_two_runners_and_reads_its_writes() {
    let db = TestDb::create().await;
    let backend = Arc::new(backend(&db, 10).await);
    let pool = backend.pool().clone();
    balances_table(&pool).await;
    let ok = Arc::new(AtomicBool::new(false));
    let a = Subscription::new(backend.clone())
        .batch_size(3)
        .spawn(balances("balances", &pool, ok.clone()))
        .unwrap();
    let b = Subscription::new(backend.clone())
        .batch_size(50)
        .spawn(balances("balances", &pool, ok.clone()))
        .unwrap();
    let mut expected = std::collections::HashMap::<String, (i64, i32)>::new();
    let mut last = LogCursor::START;
    for i in 0..2_000u64 {
        let id = format!("c{}", i % 31);
        let version = expected.get(&id).map_or(0, |e| e.1 as u64);
        let receipt = deposit(&*backend, &key("", "account", &id), version, 1).await;
        let e = expected.entry(id.clone()).or_default();
        e.0 += (version + 1) as i64;
        e.1 += 1;
        // Read-your-writes through either runner's handle.
        let handle = if i % 2 == 0 { &a } else { &b };
        handle.wait_for(receipt.cursor(), WAIT).await.unwrap();
        let seen = total(&pool, &id).await;
        // The other runner may have taken the batch: its checkpoint is the shared one.
        if handle.cursor() >= receipt.cursor() && seen != Some(*e) {
            let stored = PgCheckpoints::new(pool.clone())
                .load("balances")
                .await
                .unwrap();
            assert!(stored.unwrap() >= receipt.cursor());
            assert_eq!(seen, Some(*e), "pair {i}");
        }
        last = receipt.cursor();
    }
    a.wait_for(last, WAIT).await.unwrap();
    for (id, e) in &expected {
        assert_eq!(total(&pool, id).await, Some(*e), "{id}");
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_failing_batch_commits_neither_its_rows_nor_its_checkpoint() {
    let db = TestDb::create().await;
    let backend = Arc::new(backend(&db, 6).await);
    let pool = backend.pool().clone();
    balances_table(&pool).await;
    let broken = Arc::new(AtomicBool::new(true));
    deposit(&*backend, &key("", "account", "good"), 0, 2).await;
    deposit(&*backend, &key("", "account", "bad"), 0, 1).await;
    let last = deposit(&*backend, &key("", "account", "good"), 2, 1).await;
    let handle = Subscription::new(backend.clone())
        .spawn(balances("fragile", &pool, broken.clone()))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        total(&pool, "good").await,
        None,
        "the failed batch left rows behind"
    );
    let store = PgCheckpoints::new(pool.clone());
    assert_eq!(store.load("fragile").await.unwrap(), None);
    assert!(
        handle
            .progress()
            .last_error
            .unwrap()
            .contains("refuses `bad`")
    );
    broken.store(false, Ordering::SeqCst);
    handle.wait_for(last.cursor(), WAIT).await.unwrap();
    assert_eq!(total(&pool, "good").await, Some((1 + 2 + 3, 3)));
    assert_eq!(total(&pool, "bad").await, Some((1, 1)));
    assert_eq!(store.load("fragile").await.unwrap(), Some(handle.cursor()));
    handle.stop().await;
}

#[tokio::test]
async fn another_process_is_woken_by_notify_and_after_losing_its_listen_connection() {
    let db = TestDb::create().await;
    let writer = Arc::new(backend(&db, 4).await.notify_commits(true));
    let reader = Arc::new(backend(&db, 4).await);
    let listener = reader.listen_commits();
    let recorder = Recorder::default();
    let handle = Subscription::new(reader.clone())
        .poll_every(Duration::from_secs(3600))
        .spawn(Checkpointed::new(
            "remote",
            Arc::new(PgCheckpoints::new(reader.pool().clone())),
            recorder.clone(),
        ))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let k = key("", "account", "n");
    let mut version = 0;
    for round in 0..3 {
        for _ in 0..5 {
            let receipt = deposit(&*writer, &k, version, 1).await;
            version += 1;
            tokio::time::timeout(
                Duration::from_secs(3),
                handle.wait_for(receipt.cursor(), WAIT),
            )
            .await
            .unwrap_or_else(|_| panic!("round {round}: not woken by NOTIFY"))
            .unwrap();
        }
        // Cut the LISTEN connection: the listener reconnects by itself.
        let cut: Vec<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity \
              WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()",
        )
        .fetch_all(writer.pool())
        .await
        .unwrap();
        assert!(!cut.is_empty(), "a LISTEN connection is open");
        for pid in cut {
            sqlx::query("SELECT pg_terminate_backend($1)")
                .bind(pid)
                .execute(writer.pool())
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(recorder.seen.lock().len(), 15);
    handle.stop().await;
    drop(listener);
}

/// Fails on events of stream `p` while `broken`; records what it handled.
#[derive(Debug, Clone, Default)]
struct Mailer {
    broken: Arc<AtomicBool>,
    sent: Arc<parking_lot::Mutex<Vec<(String, u64)>>>,
}

impl EventHandler for Mailer {
    fn handle<'a>(&'a self, event: &'a EventEnvelope) -> BoxFuture<'a, Result<(), ReadsideError>> {
        let result = if event.identifier == "p" && self.broken.load(Ordering::SeqCst) {
            Err(ReadsideError::handler("smtp 550"))
        } else {
            self.sent
                .lock()
                .push((event.identifier.clone(), event.version));
            Ok(())
        };
        Box::pin(std::future::ready(result))
    }
}

#[tokio::test]
async fn a_poison_event_parks_only_its_key_in_the_database() {
    let db = TestDb::create().await;
    let backend = Arc::new(backend(&db, 6).await);
    let pool = backend.pool().clone();
    let mailer = Mailer::default();
    mailer.broken.store(true, Ordering::SeqCst);
    let handled = Handled::new(
        "mailer",
        mailer.clone(),
        Arc::new(PgCheckpoints::new(pool.clone())),
        Arc::new(PgParkStore::new(pool.clone())),
    )
    .retry(Retry::new(
        2,
        Duration::from_millis(1),
        Duration::from_millis(2),
    ))
    .unwrap();
    let admin = handled.admin();
    let handle = Subscription::new(backend.clone())
        .poll_every(Duration::from_millis(20))
        .spawn(handled)
        .unwrap();
    deposit(&*backend, &key("", "account", "p"), 0, 2).await;
    let last = deposit(&*backend, &key("", "account", "ok"), 0, 2).await;
    handle.wait_for(last.cursor(), WAIT).await.unwrap();
    assert_eq!(
        *mailer.sent.lock(),
        vec![("ok".to_owned(), 1), ("ok".to_owned(), 2)]
    );
    let parked = admin.list().await.unwrap();
    assert_eq!(parked.len(), 2);
    assert_eq!((parked[0].event.version, parked[0].attempts), (1, 2));
    assert_eq!(parked[0].error.as_deref(), Some("smtp 550"));
    assert_eq!(parked[1].error, None);
    // A restarted handler (new process) still holds the key: the parked keys are durable.
    handle.stop().await;
    let handled = Handled::new(
        "mailer",
        mailer.clone(),
        Arc::new(PgCheckpoints::new(pool.clone())),
        Arc::new(PgParkStore::new(pool.clone())),
    );
    let handle = Subscription::new(backend.clone())
        .poll_every(Duration::from_millis(20))
        .spawn(handled)
        .unwrap();
    let later = deposit(&*backend, &key("", "account", "p"), 2, 1).await;
    handle.wait_for(later.cursor(), WAIT).await.unwrap();
    assert_eq!(admin.list().await.unwrap().len(), 3);
    assert_eq!(mailer.sent.lock().len(), 2);
    mailer.broken.store(false, Ordering::SeqCst);
    admin
        .skip(&key("", "account", "p"), "bounced address")
        .await
        .unwrap();
    for _ in 0..500 {
        if admin.list().await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(admin.list().await.unwrap().is_empty());
    assert_eq!(
        mailer.sent.lock()[2..],
        [("p".to_owned(), 2), ("p".to_owned(), 3)]
    );
    let skipped = admin.skipped().await.unwrap();
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].event.version, 1);
    assert_eq!(skipped[0].reason, "bounced address");
    assert_eq!(skipped[0].error.as_deref(), Some("smtp 550"));
    handle.stop().await;
}

/// Opens a transaction that inserts `events` events of a stream of its own (taking positions
/// from the sequence), holds it `hold` (or until `release` fires), then commits it or rolls it
/// back. Sends its xid to `xid`.
async fn held_transaction(
    pool: PgPool,
    id: String,
    events: i32,
    hold: Duration,
    commit: bool,
    xid: Option<tokio::sync::oneshot::Sender<u64>>,
    release: Option<tokio::sync::oneshot::Receiver<()>>,
) {
    let mut tx = pool.begin().await.unwrap();
    let x: String = sqlx::query_scalar("SELECT pg_current_xact_id()::text")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    for version in 1..=events {
        sqlx::query(
            "INSERT INTO fluvius.events (event_id, tenant, namespace, resource, identifier, version, \
                                         evt_key, schema_version, payload, metadata, recorded_at) \
             VALUES ($1, '', 'bank', 'account', $2, $3, 'deposit-made', 1, '{\"amount\": 1}', \
                     '{\"command\": \"x\", \"user\": null, \"tenant\": \"\", \
                       \"correlation_id\": \"00000000-0000-0000-0000-000000000000\", \
                       \"causation_id\": \"00000000-0000-0000-0000-000000000000\", \
                       \"time\": \"2024-01-01T00:00:00Z\"}', now())",
        )
        .bind(uuid::Uuid::new_v4())
        .bind(&id)
        .bind(version)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    if let Some(sender) = xid {
        let _ = sender.send(x.parse().unwrap());
    }
    match release {
        Some(release) => {
            let _ = release.await;
        }
        None => tokio::time::sleep(hold).await,
    }
    if commit {
        tx.commit().await.unwrap();
    } else {
        tx.rollback().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_with_held_and_rolled_back_transactions_lose_nothing() {
    let db = TestDb::create().await;
    let backend = Arc::new(backend(&db, 16).await);
    let raw = db.pool(12).await;
    let pool = backend.pool().clone();
    sqlx::query("CREATE TABLE seen (seq bigserial PRIMARY KEY, stream text NOT NULL, version bigint NOT NULL)")
        .execute(&pool)
        .await
        .unwrap();
    let projection = PgProjection::new("seen", pool.clone()).on_batch(|tx, entries| {
        Box::pin(async move {
            let streams: Vec<&str> = entries.iter().map(|(_, e)| e.identifier.as_str()).collect();
            let versions: Vec<i64> = entries.iter().map(|(_, e)| e.version as i64).collect();
            sqlx::query(
                "INSERT INTO seen (stream, version) \
                 SELECT s, v FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS u(s, v, n) ORDER BY n",
            )
            .bind(streams)
            .bind(versions)
            .execute(&mut *tx)
            .await?;
            Ok(())
        })
    });
    let recorder = Recorder::default();
    let checkpoints = Arc::new(PgCheckpoints::new(pool.clone()));
    let projected = Subscription::new(backend.clone())
        .batch_size(1000)
        .poll_every(Duration::from_millis(50))
        .spawn(projection)
        .unwrap();
    let recorded = Subscription::new(backend.clone())
        .batch_size(2000)
        .poll_every(Duration::from_millis(50))
        .spawn(Checkpointed::new(
            "recorder",
            checkpoints.clone(),
            recorder.clone(),
        ))
        .unwrap();

    let early = deposit(&*backend, &key("", "account", "early"), 0, 10).await;
    recorded.wait_for(early.cursor(), WAIT).await.unwrap();
    // One transaction held much longer than the others.
    let (long_xid, long_started) = tokio::sync::oneshot::channel();
    let (release_long, long_released) = tokio::sync::oneshot::channel();
    let long = tokio::spawn(held_transaction(
        raw.clone(),
        "long".into(),
        3,
        Duration::ZERO,
        true,
        Some(long_xid),
        Some(long_released),
    ));
    let long_xid = long_started.await.unwrap();
    let started = std::time::Instant::now();
    // Slow writers: transactions held 0–2 s, every third rolled back after taking positions.
    let slow: Vec<_> = (0..6)
        .map(|w| {
            let raw = raw.clone();
            tokio::spawn(async move {
                for n in 0..6u64 {
                    let hold = Duration::from_millis((w * 331 + n * 277) % 2000);
                    held_transaction(
                        raw.clone(),
                        format!("slow{w}-{n}"),
                        2,
                        hold,
                        n % 3 != 2,
                        None,
                        None,
                    )
                    .await;
                }
            })
        })
        .collect();
    // 32 writers through the backend: 102,400 events.
    let writers: Vec<_> = (0..32)
        .map(|w| {
            let backend = backend.clone();
            tokio::spawn(async move {
                for s in 0..16u64 {
                    let k = key("", "account", &format!("w{w}-{s}"));
                    for round in 0..4 {
                        deposit(&*backend, &k, round * 50, 50).await;
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    eprintln!("written in {:?}", started.elapsed());
    for s in slow {
        s.await.unwrap();
    }
    // While the long transaction is open, nothing committed after it started is delivered,
    // however long the subscribers read.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let delivered = recorder.seen.lock().len();
    assert!(
        delivered >= 10,
        "what precedes the open transaction is delivered"
    );
    assert!(
        delivered < 102_400,
        "delivery waits behind the open transaction"
    );
    let held_back = recorder
        .seen
        .lock()
        .iter()
        .filter(|(cursor, _)| cursor.tx() > long_xid)
        .count();
    assert_eq!(held_back, 0, "delivered past a running transaction");
    release_long.send(()).unwrap();
    long.await.unwrap();

    // The truth, straight from the table: every committed event, in log order.
    let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "SELECT identifier, version, xid::text::bigint, position FROM fluvius.events \
          ORDER BY xid, position",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let committed: Vec<_> = rows
        .iter()
        .map(|(id, v, _, _)| (format!("/account/{id}"), *v as u64))
        .collect();
    assert_eq!(committed.len(), 10 + 102_400 + 3 + 6 * 4 * 2);
    let (_, _, xid, position) = rows.last().unwrap();
    let last_cursor = LogCursor::new(*xid as u64, *position as u64);
    eprintln!("released at {:?}", started.elapsed());
    recorded
        .wait_for(last_cursor, Duration::from_secs(60))
        .await
        .unwrap();
    eprintln!("recorded at {:?}", started.elapsed());
    projected
        .wait_for(last_cursor, Duration::from_secs(60))
        .await
        .unwrap();
    eprintln!("projected at {:?}", started.elapsed());
    let seen: Vec<_> = recorder.seen.lock().iter().map(|(_, e)| pair(e)).collect();
    let t = tally(&committed, &seen);
    assert_eq!(
        (t.seen, t.skipped, t.duplicated, t.out_of_order),
        (committed.len(), 0, 0, 0)
    );
    let rows: Vec<(String, i64)> = sqlx::query_as("SELECT stream, version FROM seen ORDER BY seq")
        .fetch_all(&pool)
        .await
        .unwrap();
    let projected_seen: Vec<_> = rows
        .into_iter()
        .map(|(s, v)| (format!("/account/{s}"), v as u64))
        .collect();
    let t = tally(&committed, &projected_seen);
    assert_eq!(
        (t.seen, t.skipped, t.duplicated, t.out_of_order),
        (committed.len(), 0, 0, 0)
    );
    eprintln!(
        "written {} (plus {} rolled back), seen by each of 2 subscribers {}, skipped 0, duplicated 0",
        committed.len(),
        6 * 2 * 2,
        t.seen
    );
    projected.stop().await;
    recorded.stop().await;
}
