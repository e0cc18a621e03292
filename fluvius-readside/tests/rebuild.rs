//! Rebuilding a PostgreSQL projection into a new version without read downtime: the new
//! version fills its own table from the start of the log while writers go on and readers read
//! the old one through a view; a killed rebuild resumes from its checkpoint; the swap, one
//! transaction, redefines the view; the old version writes nothing after it.

#![cfg(feature = "postgres")]

mod common;
#[path = "../../fluvius-postgres/tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{deposit, key};
use fluvius_core::LogCursor;
use fluvius_postgres::PgBackend;
use fluvius_readside::postgres::{
    PgCheckpoints, PgLeases, PgProjection, PgRebuild, Swapped, live_version,
};
use fluvius_readside::{
    CheckpointStore, Consumer, LeaseStore, ReadsideError, Subscription, Worker,
};
use parking_lot::Mutex;
use serde::Deserialize;
use sqlx::{AssertSqlSafe, PgPool};
use support::TestDb;

const WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Deserialize)]
struct Deposited {
    amount: i64,
}

/// Version `version` of `balances`, writing `balances_v<version>`.
fn balances(version: u32, pool: &PgPool) -> PgProjection {
    let insert = format!(
        "INSERT INTO balances_v{version} (id, total, events) VALUES ($1, $2, 1) \
         ON CONFLICT (id) DO UPDATE SET total = balances_v{version}.total + excluded.total, \
         events = balances_v{version}.events + 1"
    );
    PgProjection::versioned("balances", version, pool.clone())
        .unwrap()
        .on("deposit-made", move |tx, data: Deposited, event| {
            let insert = insert.clone();
            Box::pin(async move {
                sqlx::query(AssertSqlSafe(insert))
                    .bind(&event.identifier)
                    .bind(data.amount)
                    .execute(&mut *tx)
                    .await?;
                Ok(())
            })
        })
}

async fn setup(db: &TestDb) -> (Arc<PgBackend>, PgPool) {
    let backend = Arc::new(PgBackend::from_pool(db.pool(12).await).await.unwrap());
    let pool = backend.pool().clone();
    for v in 1..=2 {
        sqlx::query(AssertSqlSafe(format!(
            "CREATE TABLE balances_v{v} (id text PRIMARY KEY, total bigint NOT NULL, events bigint NOT NULL)"
        )))
        .execute(&pool)
        .await
        .unwrap();
    }
    sqlx::query("CREATE VIEW balances AS SELECT * FROM balances_v1")
        .execute(&pool)
        .await
        .unwrap();
    (backend, pool)
}

fn swap_view(rebuild: PgRebuild) -> PgRebuild {
    rebuild.on_swap(|tx| {
        Box::pin(async move {
            sqlx::query("CREATE OR REPLACE VIEW balances AS SELECT * FROM balances_v2")
                .execute(&mut *tx)
                .await?;
            Ok(())
        })
    })
}

/// Rebuilds `balances` into version 2 and swaps it in, in one run.
async fn rebuild_into_v2(backend: &Arc<PgBackend>, pool: &PgPool) -> Swapped {
    swap_view(PgRebuild::new(
        Subscription::new(backend.clone()),
        balances(2, pool),
    ))
    .run()
    .await
    .unwrap()
}

async fn rows(pool: &PgPool, table: &str) -> HashMap<String, (i64, i64)> {
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT id, total, events FROM {table}"
    )))
    .fetch_all(pool)
    .await
    .unwrap();
    rows.into_iter().map(|(id, t, e)| (id, (t, e))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_serves_reads_from_the_old_version_throughout_and_swaps_in_one_transaction() {
    let db = TestDb::create().await;
    let (backend, pool) = setup(&db).await;
    let v1 = Subscription::new(backend.clone())
        .batch_size(50)
        .spawn(balances(1, &pool))
        .unwrap();

    // Writers: deposits to 40 accounts until told to stop; what each account should hold.
    let stop_writers = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let expected = Arc::new(Mutex::new(HashMap::<String, (i64, i64)>::new()));
    let last = Arc::new(Mutex::new(LogCursor::START));
    let mut writers = Vec::new();
    for w in 0..2u64 {
        let (backend, stop, written, expected, last) = (
            backend.clone(),
            stop_writers.clone(),
            written.clone(),
            expected.clone(),
            last.clone(),
        );
        writers.push(tokio::spawn(async move {
            let mut versions = HashMap::<String, u64>::new();
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let id = format!("a{}", w * 20 + i % 20);
                let version = versions.entry(id.clone()).or_default();
                let receipt = deposit(&*backend, &key("", "account", &id), *version, 1).await;
                *version += 1;
                let mut e = expected.lock();
                let entry = e.entry(id).or_default();
                entry.0 += *version as i64;
                entry.1 += 1;
                drop(e);
                let mut l = last.lock();
                *l = (*l).max(receipt.cursor());
                written.fetch_add(1, Ordering::SeqCst);
                i += 1;
            }
        }));
    }

    // Readers: the view, read without pause; a sum that goes down or an error is a failure.
    let stop_readers = Arc::new(AtomicBool::new(false));
    let read_errors = Arc::new(AtomicU64::new(0));
    let reads = Arc::new(AtomicU64::new(0));
    let regressions = Arc::new(Mutex::new(Vec::<(i64, i64)>::new()));
    let mut readers = Vec::new();
    for _ in 0..2 {
        let (pool, stop, errors, reads, regressions) = (
            pool.clone(),
            stop_readers.clone(),
            read_errors.clone(),
            reads.clone(),
            regressions.clone(),
        );
        readers.push(tokio::spawn(async move {
            let mut seen = 0i64;
            while !stop.load(Ordering::SeqCst) {
                match sqlx::query_scalar::<_, i64>(
                    "SELECT coalesce(sum(events), 0)::bigint FROM balances",
                )
                .fetch_one(&pool)
                .await
                {
                    Ok(n) => {
                        if n < seen {
                            regressions.lock().push((seen, n));
                        }
                        seen = seen.max(n);
                        reads.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(_) => {
                        errors.fetch_add(1, Ordering::SeqCst);
                    }
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }));
    }

    let until = |n: u64| {
        let written = written.clone();
        async move {
            let start = Instant::now();
            while written.load(Ordering::SeqCst) < n {
                assert!(start.elapsed() < WAIT, "writers stalled at {n}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    until(600).await;

    // A first rebuild run, killed once the new version has taken some pages.
    let checkpoints = PgCheckpoints::new(pool.clone());
    let rebuild = swap_view(PgRebuild::new(
        Subscription::new(backend.clone()).batch_size(20),
        balances(2, &pool),
    ));
    let first = tokio::spawn({
        let rebuild = rebuild.clone();
        async move { rebuild.run().await }
    });
    let start = Instant::now();
    let killed_at = loop {
        if let Some(at) = checkpoints.load("balances@v2").await.unwrap() {
            break at;
        }
        assert!(start.elapsed() < WAIT, "the rebuild took no page");
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    first.abort();
    let _ = first.await;
    assert_eq!(live_version(&pool, "balances").await.unwrap(), 1);
    assert!(killed_at > LogCursor::START);

    // Run again: it resumes from the stored checkpoint and swaps.
    until(written.load(Ordering::SeqCst) + 300).await;
    let swapped = rebuild.run().await.unwrap();
    let old_after_swap = rows(&pool, "balances_v1").await;
    assert_eq!(
        (
            swapped.from_version,
            swapped.to_version,
            swapped.already_live
        ),
        (1, 2, false)
    );
    assert!(swapped.cursor >= killed_at);
    assert_eq!(live_version(&pool, "balances").await.unwrap(), 2);
    let stored_old = checkpoints.load("balances").await.unwrap().unwrap();
    assert!(
        swapped.cursor >= stored_old,
        "the new version is behind the old"
    );

    // The old version's runner stops at its next batch, writing nothing.
    let start = Instant::now();
    loop {
        let progress = v1.progress();
        if let Some(err) = progress.last_error
            && err.contains("swapped out")
        {
            break;
        }
        assert!(start.elapsed() < WAIT, "the old version was not fenced");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // The new version runs on its own subscription; writers go on a little, then stop.
    let v2 = Subscription::new(backend.clone())
        .batch_size(50)
        .spawn(balances(2, &pool))
        .unwrap();
    until(written.load(Ordering::SeqCst) + 200).await;
    stop_writers.store(true, Ordering::SeqCst);
    for w in writers {
        w.await.unwrap();
    }
    let last = *last.lock();
    v2.wait_for(last, WAIT).await.unwrap();
    assert!(matches!(
        v1.wait_for(last, Duration::from_secs(1)).await,
        Err(ReadsideError::Stopped(_))
    ));
    stop_readers.store(true, Ordering::SeqCst);
    for r in readers {
        r.await.unwrap();
    }

    let expected = expected.lock().clone();
    assert_eq!(rows(&pool, "balances_v2").await, expected);
    assert_eq!(rows(&pool, "balances").await, expected, "the view reads v2");
    assert_eq!(
        rows(&pool, "balances_v1").await,
        old_after_swap,
        "the old version wrote after the swap"
    );
    assert_ne!(old_after_swap, expected, "writes went on after the swap");
    assert_eq!(read_errors.load(Ordering::SeqCst), 0);
    assert!(reads.load(Ordering::SeqCst) > 10);
    assert_eq!(*regressions.lock(), Vec::new());

    // Once swapped, a rerun returns at once; an older version is refused.
    let again = rebuild.run().await.unwrap();
    assert!(again.already_live);
    let older = PgRebuild::new(Subscription::new(backend.clone()), balances(1, &pool))
        .run()
        .await
        .unwrap_err();
    assert!(
        older.to_string().contains("older than the live version 2"),
        "{older}"
    );
    v2.stop().await;
}

#[tokio::test]
async fn a_swap_whose_statements_fail_swaps_nothing() {
    let db = TestDb::create().await;
    let (backend, pool) = setup(&db).await;
    for i in 0..30 {
        deposit(&*backend, &key("", "account", &format!("b{i}")), 0, 2).await;
    }
    let failing =
        PgRebuild::new(Subscription::new(backend.clone()), balances(2, &pool)).on_swap(|tx| {
            Box::pin(async move {
                sqlx::query("CREATE OR REPLACE VIEW balances AS SELECT * FROM no_such_table")
                    .execute(&mut *tx)
                    .await?;
                Ok(())
            })
        });
    let err = failing.run().await.unwrap_err();
    assert!(err.to_string().contains("no_such_table"), "{err}");
    assert_eq!(live_version(&pool, "balances").await.unwrap(), 1);
    // The old version still writes; the new one kept what it built and swaps on the next run.
    Subscription::new(backend.clone())
        .catch_up(&balances(1, &pool))
        .await
        .unwrap();
    assert_eq!(rows(&pool, "balances_v1").await.len(), 30);
    let swapped = rebuild_into_v2(&backend, &pool).await;
    assert_eq!((swapped.events, swapped.already_live), (0, false));
    assert_eq!(rows(&pool, "balances").await.len(), 30);
    assert!(PgProjection::versioned("balances", 0, pool.clone()).is_err());
}

/// A worker running a version that a rebuild swapped out gives its lease back once that
/// version's subscription has stopped, instead of renewing it forever, and does not start it
/// again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_gives_back_the_lease_of_a_swapped_out_version() {
    let db = TestDb::create().await;
    let (backend, pool) = setup(&db).await;
    let leases = Arc::new(PgLeases::new(pool.clone()));
    let v1 = balances(1, &pool);
    let name = v1.name().to_owned();
    let ttl = Duration::from_millis(300);
    let worker = Worker::new("w-1", leases.clone())
        .lease_ttl(ttl)
        .run(Subscription::new(backend.clone()).batch_size(50), v1)
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !worker.owned().contains(&name) {
        assert!(start.elapsed() < WAIT, "the worker took no lease");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let account = key("", "account", "a1");
    deposit(&*backend, &account, 0, 1).await;

    let swapped = rebuild_into_v2(&backend, &pool).await;
    assert_eq!((swapped.from_version, swapped.to_version), (1, 2));
    // Version 1's next batch is refused: its subscription ends, and the worker lets it go.
    deposit(&*backend, &account, 1, 1).await;
    let start = Instant::now();
    while worker.owned().contains(&name) {
        assert!(
            start.elapsed() < WAIT,
            "the worker still holds the swapped-out version's lease"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Several rounds later it has not taken it again, and the lease is free.
    tokio::time::sleep(ttl * 2).await;
    assert!(worker.owned().is_empty(), "{:?}", worker.owned());
    assert!(
        leases.acquire(&name, "w-2", ttl).await.unwrap().is_some(),
        "the lease was not given back"
    );
    worker.shutdown().await;
}
