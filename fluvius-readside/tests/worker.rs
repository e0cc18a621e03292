//! Workers owning subscriptions by lease, on a real PostgreSQL server (one throw-away database
//! per test) and in memory: a stale owner that wakes after losing its lease writes nothing;
//! workers share the subscriptions evenly, take over a killed worker's within a few lease times,
//! and every event's effect lands exactly once across the handovers.
#![cfg(feature = "postgres")]

mod common;
#[path = "../../fluvius-postgres/tests/support/mod.rs"]
mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{deposit, key};
use fluvius_core::{Backend, LogCursor};
use fluvius_memory::MemBackend;
use fluvius_postgres::PgBackend;
use fluvius_readside::postgres::{PgLeases, PgProjection};
use fluvius_readside::{
    Checkpointed, LeaseStore, MapProjection, MemCheckpoints, MemLeases, ReadsideError, Subscriber,
    Subscription, Worker, WorkerHandle,
};
use sqlx::PgPool;
use support::TestDb;

const TTL: Duration = Duration::from_millis(300);
const WAIT: Duration = Duration::from_secs(30);

async fn backend(db: &TestDb) -> PgBackend {
    PgBackend::from_pool(db.pool(8).await)
        .await
        .expect("migrate")
}

async fn seen_table(pool: &PgPool) {
    sqlx::query("CREATE TABLE seen (projection text NOT NULL, event_id uuid NOT NULL)")
        .execute(pool)
        .await
        .expect("create the read model");
}

/// Records every event it handles, by projection; `pause` makes the first batch wait that long
/// before it commits (a process paused while holding its batch).
fn recorder(name: &str, pool: &PgPool, pause: Option<Duration>) -> PgProjection {
    let projection = name.to_owned();
    let paused = Arc::new(std::sync::atomic::AtomicBool::new(pause.is_none()));
    PgProjection::new(name, pool.clone()).on_any(move |tx, event| {
        let projection = projection.clone();
        let wait = match paused.swap(true, std::sync::atomic::Ordering::SeqCst) {
            false => pause,
            true => None,
        };
        Box::pin(async move {
            sqlx::query("INSERT INTO seen (projection, event_id) VALUES ($1, $2)")
                .bind(&projection)
                .bind(event.event_id)
                .execute(&mut *tx)
                .await
                .map_err(ReadsideError::handler)?;
            if let Some(wait) = wait {
                tokio::time::sleep(wait).await;
            }
            Ok(())
        })
    })
}

async fn counts(pool: &PgPool, projection: &str) -> (i64, i64) {
    sqlx::query_as("SELECT count(*), count(DISTINCT event_id) FROM seen WHERE projection = $1")
        .bind(projection)
        .fetch_one(pool)
        .await
        .expect("count")
}

/// Commits `streams` × `per` events; returns the cursor of the last commit.
async fn write(backend: &dyn Backend, prefix: &str, streams: usize, per: u64) -> LogCursor {
    let mut last = LogCursor::START;
    for s in 0..streams {
        let receipt = deposit(
            backend,
            &key("", "account", &format!("{prefix}{s}")),
            0,
            per,
        )
        .await;
        last = last.max(receipt.cursor());
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paused_owner_that_lost_its_lease_writes_nothing() {
    let db = TestDb::create().await;
    let backend = Arc::new(backend(&db).await);
    let pool = backend.pool().clone();
    seen_table(&pool).await;
    write(&*backend, "a", 5, 4).await;
    let leases = PgLeases::new(pool.clone());

    let stale = leases
        .acquire("audit", "w-1", TTL)
        .await
        .unwrap()
        .expect("a free lease is taken");
    assert_eq!(stale.epoch, 1);
    assert!(
        leases.acquire("audit", "w-2", TTL).await.unwrap().is_none(),
        "a held lease is not taken"
    );
    // w-1's batch pauses for three lease times before it commits, renewing nothing.
    let paused = tokio::spawn({
        let backend = backend.clone();
        let projection = recorder("audit", &pool, Some(TTL * 3));
        let fence = stale.clone();
        async move {
            Subscription::new(backend)
                .fenced(fence)
                .catch_up(&projection)
                .await
        }
    });
    tokio::time::sleep(TTL + TTL / 2).await;
    // w-2 takes it for long enough to outlast the rest of the test.
    let fresh = leases
        .acquire("audit", "w-2", WAIT)
        .await
        .unwrap()
        .expect("an expired lease is taken");
    assert_eq!(fresh.epoch, 2, "a takeover raises the epoch");
    let err = paused
        .await
        .unwrap()
        .expect_err("the stale owner's batch fails the fence");
    assert!(
        matches!(&err, ReadsideError::LeaseLost { owner, epoch: 1, .. } if owner == "w-1"),
        "{err}"
    );
    assert_eq!(counts(&pool, "audit").await, (0, 0), "it wrote nothing");

    let taken = Subscription::new(backend.clone())
        .fenced(fresh.clone())
        .catch_up(&recorder("audit", &pool, None))
        .await
        .expect("the new owner catches up");
    assert_eq!(taken, 20);
    assert_eq!(counts(&pool, "audit").await, (20, 20), "each event once");
    assert!(
        !leases.renew(&stale, TTL).await.unwrap(),
        "the stale fence renews nothing"
    );
    assert!(leases.renew(&fresh, TTL).await.unwrap());
}

async fn owned(workers: &[&WorkerHandle]) -> Vec<BTreeSet<String>> {
    workers.iter().map(|w| w.owned()).collect()
}

/// Waits until `check` holds for the workers' owned sets.
async fn until(
    workers: &[&WorkerHandle],
    what: &str,
    check: impl Fn(&[BTreeSet<String>]) -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        let sets = owned(workers).await;
        if check(&sets) {
            return start.elapsed();
        }
        assert!(start.elapsed() < WAIT, "{what}: the workers own {sets:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workers_share_take_over_a_killed_one_and_apply_each_event_once() {
    let db = TestDb::create().await;
    let backend = Arc::new(backend(&db).await);
    let pool = backend.pool().clone();
    seen_table(&pool).await;
    write(&*backend, "a", 50, 10).await;
    let leases: Arc<dyn LeaseStore> = Arc::new(PgLeases::new(pool.clone()));
    let names: Vec<String> = (0..6).map(|i| format!("p{i}")).collect();
    let worker = |id: &str| {
        let mut w = Worker::new(id, leases.clone()).lease_ttl(TTL);
        for name in &names {
            let sub = Subscription::new(backend.clone()).poll_every(Duration::from_millis(20));
            w = w.run(sub, recorder(name, &pool, None));
        }
        w.spawn().expect("the worker starts")
    };
    let (w1, w2, w3) = (worker("w-1"), worker("w-2"), worker("w-3"));
    until(&[&w1, &w2, &w3], "an even share", |sets| {
        sets.iter().all(|s| s.len() == 2)
            && sets.iter().flatten().collect::<BTreeSet<_>>().len() == 6
    })
    .await;

    let writer = tokio::spawn({
        let backend = backend.clone();
        async move { write(&*backend, "b", 50, 10).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let had = w1.owned();
    w1.kill();
    let failover = until(
        &[&w2, &w3],
        "the killed worker's share taken over",
        |sets| sets.iter().all(|s| s.len() == 3),
    )
    .await;
    println!("failover of {had:?} took {failover:?} with a lease time of {TTL:?}");
    let last = writer.await.unwrap();

    for name in &names {
        let store = fluvius_readside::postgres::PgCheckpoints::new(pool.clone());
        fluvius_readside::wait_for_checkpoint(&store, name, last, WAIT)
            .await
            .unwrap_or_else(|e| panic!("{name} caught up: {e}"));
        assert_eq!(
            counts(&pool, name).await,
            (1000, 1000),
            "{name}: each event exactly once"
        );
    }
    assert!(w2.lease_changes() >= 2 && w3.lease_changes() >= 2);
    w2.shutdown().await;
    let held = leases.held("p").await.unwrap();
    assert!(
        held.iter().all(|(_, owner)| owner == "w-3"),
        "a graceful shutdown gives its leases back at once: {held:?}"
    );
    until(&[&w3], "the last worker runs everything", |sets| {
        sets[0].len() == 6
    })
    .await;
    w3.shutdown().await;
    assert!(
        leases.held("").await.unwrap().is_empty(),
        "every lease released"
    );
}

#[derive(Debug, Clone, Default)]
struct Count(Arc<std::sync::atomic::AtomicUsize>);

impl Subscriber for Count {
    fn handle<'a>(
        &'a self,
        events: &'a [(LogCursor, fluvius_core::EventEnvelope)],
    ) -> fluvius_core::BoxFuture<'a, Result<(), ReadsideError>> {
        self.0
            .fetch_add(events.len(), std::sync::atomic::Ordering::SeqCst);
        Box::pin(std::future::ready(Ok(())))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_workers_fence_their_projections_and_checkpoints() {
    let backend: Arc<dyn Backend> = Arc::new(MemBackend::new());
    let last = write(&*backend, "a", 10, 10).await;
    let leases = MemLeases::new();
    let map = MapProjection::<String, u64>::new("per-account")
        .fenced_by(leases.clone())
        .on_any(|map, event| {
            map.update(event.identifier.clone(), 0, |n| *n += 1);
            Ok(())
        });
    let count = Count::default();
    let checkpoints = Arc::new(MemCheckpoints::fenced_by(leases.clone()));
    let counted = Checkpointed::new("count", checkpoints.clone(), count.clone());
    let w = Worker::new("w-1", Arc::new(leases.clone()))
        .lease_ttl(TTL)
        .run(Subscription::new(backend.clone()), map.clone())
        .run(Subscription::new(backend.clone()), counted)
        .spawn()
        .unwrap();
    fluvius_readside::wait_for_checkpoint(&*checkpoints, "count", last, WAIT)
        .await
        .unwrap();
    w.shutdown().await;
    assert_eq!(map.len(), 10);
    assert!(map.snapshot().values().all(|n| *n == 10));
    assert_eq!(count.0.load(std::sync::atomic::Ordering::SeqCst), 100);

    // A batch under a fence that no longer holds changes nothing.
    let stale = leases
        .acquire("per-account", "w-9", TTL)
        .await
        .unwrap()
        .unwrap();
    leases.release(&stale).await.unwrap();
    let err = Subscription::new(backend.clone())
        .fenced(stale)
        .catch_up(
            &MapProjection::<String, u64>::new("per-account")
                .fenced_by(leases.clone())
                .on_any(|_, _| Ok(())),
        )
        .await
        .expect_err("a released fence");
    assert!(matches!(err, ReadsideError::LeaseLost { .. }), "{err}");
    let unfenced = Subscription::new(backend.clone())
        .fenced(leases.acquire("x", "w-9", TTL).await.unwrap().unwrap())
        .catch_up(&MapProjection::<String, u64>::new("x").on_any(|_, _| Ok(())))
        .await
        .expect_err("a projection that cannot check a fence refuses it");
    assert!(matches!(unfenced, ReadsideError::Invalid(_)), "{unfenced}");
}
