//! The read side's metrics, read back through a recorder installed for the test: lag in events
//! while a slow consumer works through the log and none once it caught up, the horizon's age
//! while a PostgreSQL transaction holds delivery back, parked keys of an event handler, and a
//! worker's lease changes. Each test names its subscriptions apart, so they share the recorder.

mod common;
#[path = "../../fluvius-postgres/tests/support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use common::{deposit, deposit_as, key};
use fluvius_core::{BoxFuture, EventEnvelope, LogCursor};
use fluvius_memory::MemBackend;
use fluvius_readside::{
    Checkpointed, EventHandler, Handled, MemCheckpoints, MemLeases, MemParkStore, ReadsideError,
    Retry, Subscriber, Subscription, Worker, metric,
};
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use parking_lot::Mutex;

const WAIT: Duration = Duration::from_secs(20);

/// A recorder that keeps each metric's current value (counters as counts, gauges as `f64`
/// bits), installed once for the test binary.
#[derive(Default)]
struct Recorded {
    cells: Mutex<Vec<Cell>>,
}

/// A metric's name, labels, whether it is a gauge, and its value.
type Cell = (String, Vec<(String, String)>, bool, Arc<AtomicU64>);

impl Recorded {
    fn cell(&self, key: &Key, gauge: bool) -> Arc<AtomicU64> {
        let labels: Vec<(String, String)> = key
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect();
        let mut cells = self.cells.lock();
        if let Some((_, _, _, cell)) = cells
            .iter()
            .find(|(n, l, g, _)| n == key.name() && *l == labels && *g == gauge)
        {
            return cell.clone();
        }
        let cell = Arc::new(AtomicU64::new(0));
        cells.push((key.name().to_owned(), labels, gauge, cell.clone()));
        cell
    }
}

impl Recorder for Recorded {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.cell(key, false))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.cell(key, true))
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

fn recorder() -> &'static Recorded {
    static RECORDED: OnceLock<&'static Recorded> = OnceLock::new();
    RECORDED.get_or_init(|| {
        let recorded: &'static Recorded = Box::leak(Box::default());
        metrics::set_global_recorder(recorded).expect("the only recorder of this test binary");
        recorded
    })
}

/// The value of metric `name` whose label `label` is `value`.
fn value(name: &str, label: &str, value: &str) -> Option<f64> {
    let cells = recorder().cells.lock();
    cells
        .iter()
        .find(|(n, labels, _, _)| n == name && labels.iter().any(|(k, v)| k == label && v == value))
        .map(|(_, _, gauge, cell)| {
            let raw = cell.load(Ordering::SeqCst);
            if *gauge {
                f64::from_bits(raw)
            } else {
                raw as f64
            }
        })
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < WAIT, "{what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A subscriber that takes its time over each batch.
struct Slow;

impl Subscriber for Slow {
    fn handle<'a>(
        &'a self,
        _events: &'a [(LogCursor, EventEnvelope)],
    ) -> BoxFuture<'a, Result<(), ReadsideError>> {
        Box::pin(async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(())
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_in_events_falls_to_zero_as_a_slow_consumer_catches_up() {
    recorder();
    let backend = Arc::new(MemBackend::new());
    for i in 0..10 {
        deposit(&*backend, &key("", "account", &format!("l{i}")), 0, 20).await;
    }
    let handle = Subscription::new(backend.clone())
        .batch_size(10)
        .measure_lag_every(Duration::ZERO)
        .spawn(Checkpointed::new(
            "lagging",
            Arc::new(MemCheckpoints::new()),
            Slow,
        ))
        .unwrap();
    let mut most = 0;
    eventually("the consumer never caught up", || {
        let p = handle.progress();
        most = most.max(p.lag_events.unwrap_or_default());
        p.caught_up && p.lag_events == Some(0)
    })
    .await;
    assert!(most >= 100, "the largest lag seen was {most} of 200 events");
    let p = handle.progress();
    assert_eq!((p.events, p.horizon_age), (200, None));
    assert_eq!(
        value(metric::LAG_EVENTS, metric::SUBSCRIPTION, "lagging"),
        Some(0.0)
    );
    assert_eq!(
        value(metric::EVENTS, metric::SUBSCRIPTION, "lagging"),
        Some(200.0)
    );
    // Zero once a read finds nothing more (the next poll).
    eventually("the delivery lag did not fall to zero", || {
        value(metric::LAG_SECONDS, metric::SUBSCRIPTION, "lagging") == Some(0.0)
    })
    .await;
    handle.stop().await;
}

struct RefusesBad;

impl EventHandler for RefusesBad {
    fn handle<'a>(&'a self, event: &'a EventEnvelope) -> BoxFuture<'a, Result<(), ReadsideError>> {
        let bad = event.identifier.starts_with("bad");
        Box::pin(async move {
            if bad {
                Err(ReadsideError::handler("refused"))
            } else {
                Ok(())
            }
        })
    }
}

#[tokio::test]
async fn parked_keys_and_lease_changes_are_counted() {
    recorder();
    let backend = Arc::new(MemBackend::new());
    for id in ["bad-1", "ok-1", "bad-2"] {
        deposit_as(&*backend, &key("", "account", id), 0, 2, "deposit-made").await;
    }
    let handled = Handled::new(
        "parking",
        RefusesBad,
        Arc::new(MemCheckpoints::new()),
        Arc::new(MemParkStore::new()),
    )
    .retry(Retry::new(
        1,
        Duration::from_millis(1),
        Duration::from_millis(1),
    ))
    .unwrap();
    let handle = Subscription::new(backend.clone()).spawn(handled).unwrap();
    eventually("the bad keys were not parked", || {
        value(metric::PARKED_KEYS, metric::SUBSCRIPTION, "parking") == Some(2.0)
    })
    .await;
    handle.stop().await;

    let worker = Worker::new("metered", Arc::new(MemLeases::new()))
        .run(
            Subscription::new(backend.clone()),
            Checkpointed::new("leased", Arc::new(MemCheckpoints::new()), Slow),
        )
        .spawn()
        .unwrap();
    eventually("the worker took no lease", || {
        value(metric::LEASE_CHANGES, metric::WORKER, "metered") == Some(1.0)
    })
    .await;
    assert_eq!(worker.lease_changes(), 1);
    worker.shutdown().await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_horizon_age_shows_a_transaction_holding_delivery_back() {
    recorder();
    let db = support::TestDb::create().await;
    let backend = Arc::new(
        fluvius_postgres::PgBackend::from_pool(db.pool(6).await)
            .await
            .unwrap(),
    );
    deposit(&*backend, &key("", "account", "h-1"), 0, 3).await;
    let handle = Subscription::new(backend.clone())
        .poll_every(Duration::from_millis(20))
        .measure_lag_every(Duration::from_millis(20))
        .spawn(Checkpointed::new(
            "held-back",
            Arc::new(MemCheckpoints::new()),
            Slow,
        ))
        .unwrap();
    eventually("the subscription never caught up", || {
        let p = handle.progress();
        p.caught_up && p.events == 3 && p.lag_events == Some(0)
    })
    .await;
    assert_eq!(handle.progress().horizon_age, None);

    // A transaction that holds an xid and stays open: a commit after it waits behind it.
    let raw = db.pool(2).await;
    let mut held = raw.begin().await.unwrap();
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *held)
        .await
        .unwrap();
    let receipt = deposit(&*backend, &key("", "account", "h-2"), 0, 1).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let p = handle.progress();
    assert!(
        p.horizon_age
            .is_some_and(|age| age >= Duration::from_millis(400)),
        "{p:?}"
    );
    assert!(p.cursor < receipt.cursor(), "delivered past a held horizon");
    let gauge = value(
        metric::HORIZON_AGE_SECONDS,
        metric::SUBSCRIPTION,
        "held-back",
    );
    assert!(gauge.is_some_and(|s| s >= 0.4), "{gauge:?}");

    held.rollback().await.unwrap();
    handle.wait_for(receipt.cursor(), WAIT).await.unwrap();
    eventually("the horizon's age did not clear", || {
        handle.progress().horizon_age.is_none()
    })
    .await;
    handle.stop().await;
}

/// Delivers every message except those keyed `stuck`.
struct RefusesStuck;

impl fluvius_readside::Deliver for RefusesStuck {
    fn deliver<'a>(
        &'a self,
        message: &'a fluvius_core::OutboxEntry,
    ) -> BoxFuture<'a, Result<(), ReadsideError>> {
        let stuck = message.message.key == "stuck";
        Box::pin(async move {
            if stuck {
                Err(ReadsideError::handler("refused"))
            } else {
                Ok(())
            }
        })
    }
}

#[tokio::test]
async fn the_outbox_reports_pending_parked_delivered_and_failed_messages() {
    recorder();
    let backend: Arc<dyn fluvius_core::Backend> = Arc::new(MemBackend::new());
    let message = |key: &str| fluvius_core::OutboxMessage {
        id: uuid::Uuid::new_v4(),
        tenant: String::new(),
        namespace: "bank".into(),
        topic: "mail".into(),
        key: key.into(),
        payload: serde_json::json!({}),
        origin: fluvius_core::MessageOrigin::default(),
        created_at: chrono::Utc::now(),
    };
    let outbox = backend.outbox().unwrap();
    outbox
        .send_messages(vec![
            message("a"),
            message("b"),
            message("stuck"),
            message("stuck"),
        ])
        .await
        .unwrap();
    let relay = fluvius_readside::OutboxRelay::new(backend.clone(), Arc::new(RefusesStuck))
        .owner("metered-relay")
        .poll_every(Duration::from_millis(5))
        .measure_every(Duration::from_millis(10))
        .retry(Retry::new(
            2,
            Duration::from_millis(1),
            Duration::from_millis(1),
        ))
        .spawn()
        .unwrap();
    let label = "metered-relay";
    eventually("the relay reported its outbox", || {
        value(metric::OUTBOX_DELIVERED, metric::RELAY, label) == Some(2.0)
            && value(metric::OUTBOX_FAILURES, metric::RELAY, label) == Some(2.0)
            && value(metric::OUTBOX_PARKED, metric::RELAY, label) == Some(1.0)
            && value(metric::OUTBOX_PENDING, metric::RELAY, label) == Some(1.0)
    })
    .await;
    relay.stop().await;
}
