//! The read side on the in-memory backend: catch-up from checkpoints, filters, wake-ups,
//! projections applied exactly once, read-your-writes, and handlers that park a poison event's
//! stream key only.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::{Recorder, deposit, deposit_as, key, pair, tally};
use fluvius_core::{Backend, BoxFuture, EventEnvelope, LogCursor, LogFilter};
use fluvius_memory::MemBackend;
use fluvius_readside::{
    CheckpointStore, Checkpointed, EventHandler, Handled, MapProjection, MemCheckpoints,
    MemParkStore, ReadsideError, Retry, Subscription,
};
use serde::Deserialize;

const WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Deserialize)]
struct Deposited {
    amount: u64,
}

fn backend() -> Arc<MemBackend> {
    Arc::new(MemBackend::new())
}

#[tokio::test]
async fn catch_up_resumes_from_the_stored_checkpoint() {
    let backend = backend();
    for i in 0..10 {
        deposit(&*backend, &key("", "account", &format!("a{i}")), 0, 5).await;
    }
    let store = Arc::new(MemCheckpoints::new());
    let first = Recorder::default();
    let sub = Subscription::new(backend.clone()).batch_size(7);
    let taken = sub
        .catch_up(&Checkpointed::new("audit", store.clone(), first.clone()))
        .await
        .unwrap();
    assert_eq!(taken, 50);
    for i in 0..10 {
        deposit(&*backend, &key("", "account", &format!("a{i}")), 5, 2).await;
    }
    // A new runner (another process) with the same checkpoint store starts where it stopped.
    let second = Recorder::default();
    let taken = sub
        .catch_up(&Checkpointed::new("audit", store.clone(), second.clone()))
        .await
        .unwrap();
    assert_eq!(taken, 20);
    let mut seen: Vec<_> = first.seen.lock().iter().map(|(_, e)| pair(e)).collect();
    seen.extend(second.seen.lock().iter().map(|(_, e)| pair(e)));
    let committed: Vec<_> = seen.clone();
    let t = tally(&committed, &seen);
    assert_eq!((t.seen, t.duplicated, t.out_of_order), (70, 0, 0));
    let stored = store.load("audit").await.unwrap().unwrap();
    assert_eq!(stored, second.seen.lock().last().unwrap().0);
}

#[tokio::test]
async fn filters_take_only_their_events_and_move_past_the_rest() {
    let backend = backend();
    deposit(&*backend, &key("t1", "account", "a"), 0, 3).await;
    deposit(&*backend, &key("t2", "account", "b"), 0, 3).await;
    deposit_as(
        &*backend,
        &key("t1", "customer", "c"),
        0,
        2,
        "customer-named",
    )
    .await;
    let last = deposit(&*backend, &key("t2", "account", "b"), 3, 1).await;
    let cases: Vec<(Subscription, usize)> = vec![
        (Subscription::new(backend.clone()).tenant("t1"), 5),
        (Subscription::new(backend.clone()).tenant("t2"), 4),
        (Subscription::new(backend.clone()).resource("customer"), 2),
        (
            Subscription::new(backend.clone()).evt_key("deposit-made"),
            7,
        ),
        (Subscription::new(backend.clone()).namespace("shop"), 0),
        (
            Subscription::new(backend.clone())
                .tenant("t1")
                .evt_key("deposit-made"),
            3,
        ),
    ];
    for (i, (sub, expected)) in cases.into_iter().enumerate() {
        let store = Arc::new(MemCheckpoints::new());
        let rec = Recorder::default();
        let name = format!("f{i}");
        sub.catch_up(&Checkpointed::new(name.clone(), store.clone(), rec.clone()))
            .await
            .unwrap();
        assert_eq!(rec.seen.lock().len(), expected, "case {i}");
        // The checkpoint moved past what the filter left out, up to the log's end.
        assert!(
            store.load(&name).await.unwrap().unwrap() >= last.cursor(),
            "case {i}"
        );
    }
    let store = Arc::new(MemCheckpoints::new());
    let filtered = Checkpointed::new("x", store, Recorder::default()).filter(LogFilter::default());
    let both = Subscription::new(backend.clone()).evt_key("deposit-made");
    assert!(both.catch_up(&filtered).await.is_ok());
}

#[tokio::test]
async fn a_commit_wakes_a_waiting_subscription_without_polling() {
    let backend = backend();
    let totals = totals_projection("wake");
    let handle = Subscription::new(backend.clone())
        .poll_every(Duration::from_secs(3600))
        .spawn(totals.clone())
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    for round in 0..20u64 {
        let receipt = deposit(&*backend, &key("", "account", "w"), round, 1).await;
        tokio::time::timeout(
            Duration::from_secs(2),
            handle.wait_for(receipt.cursor(), WAIT),
        )
        .await
        .expect("woken by the commit signal, not by the hour-long poll")
        .unwrap();
    }
    assert_eq!(totals.get(&"w".to_owned()), Some((1..=20).sum()));
    handle.stop().await;
}

fn totals_projection(name: &str) -> MapProjection<String, u64> {
    MapProjection::<String, u64>::new(name).on("deposit-made", |map, data: Deposited, event| {
        map.update(event.identifier.clone(), 0, |t| *t += data.amount);
        Ok(())
    })
}

#[tokio::test]
async fn read_your_writes_holds_for_ten_thousand_pairs() {
    let backend = backend();
    let totals = totals_projection("ryw");
    let handle = Subscription::new(backend.clone())
        .spawn(totals.clone())
        .unwrap();
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    let mut versions: BTreeMap<String, u64> = BTreeMap::new();
    for i in 0..10_000u64 {
        let id = format!("r{}", i % 97);
        let v = versions.entry(id.clone()).or_default();
        let receipt = deposit(&*backend, &key("", "account", &id), *v, 1).await;
        *v += 1;
        *expected.entry(id.clone()).or_default() += *v;
        handle.wait_for(receipt.cursor(), WAIT).await.unwrap();
        assert_eq!(totals.get(&id), expected.get(&id).copied(), "pair {i}");
    }
    assert_eq!(totals.snapshot(), expected);
    handle.stop().await;
}

#[tokio::test]
async fn a_wait_that_runs_out_says_so() {
    let backend = backend();
    let totals = totals_projection("late");
    let handle = Subscription::new(backend.clone()).spawn(totals).unwrap();
    let err = handle
        .wait_for(LogCursor::new(0, 1_000_000), Duration::from_millis(50))
        .await
        .unwrap_err();
    assert!(matches!(err, ReadsideError::Timeout { .. }), "{err}");
    assert!(err.to_string().contains("`late` has not passed"), "{err}");
}

#[tokio::test]
async fn a_failing_batch_writes_nothing_and_is_retried_not_skipped() {
    let backend = backend();
    let broken = Arc::new(AtomicBool::new(true));
    let flag = broken.clone();
    let totals = MapProjection::<String, u64>::new("fragile").on(
        "deposit-made",
        move |map, data: Deposited, event| {
            if event.identifier == "bad" && flag.load(Ordering::SeqCst) {
                return Err(ReadsideError::handler(
                    "the read model refuses `bad` for now",
                ));
            }
            map.update(event.identifier.clone(), 0, |t| *t += data.amount);
            Ok(())
        },
    );
    deposit(&*backend, &key("", "account", "good"), 0, 3).await;
    deposit(&*backend, &key("", "account", "bad"), 0, 1).await;
    let last = deposit(&*backend, &key("", "account", "good"), 3, 1).await;
    // One batch holds all five events: none of its effects may show while it fails.
    let handle = Subscription::new(backend.clone())
        .batch_size(100)
        .spawn(totals.clone())
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(totals.is_empty(), "a failed batch left effects behind");
    let progress = handle.progress();
    assert!(progress.last_error.unwrap().contains("refuses `bad`"));
    assert_eq!(progress.cursor, LogCursor::START);
    broken.store(false, Ordering::SeqCst);
    handle.wait_for(last.cursor(), WAIT).await.unwrap();
    assert_eq!(totals.get(&"good".to_owned()), Some(1 + 2 + 3 + 4));
    assert_eq!(totals.get(&"bad".to_owned()), Some(1));
    handle.stop().await;
}

#[tokio::test]
async fn two_runners_of_one_projection_apply_each_event_once() {
    let backend = backend();
    let totals = totals_projection("twice");
    let a = Subscription::new(backend.clone())
        .batch_size(3)
        .spawn(totals.clone())
        .unwrap();
    let b = Subscription::new(backend.clone())
        .batch_size(5)
        .spawn(totals.clone())
        .unwrap();
    let mut last = LogCursor::START;
    for i in 0..300u64 {
        last = deposit(
            &*backend,
            &key("", "account", &format!("k{}", i % 7)),
            i / 7,
            1,
        )
        .await
        .cursor();
    }
    a.wait_for(last, WAIT).await.unwrap();
    b.wait_for(last, WAIT).await.unwrap();
    let sum: u64 = totals.snapshot().values().sum();
    let expected: u64 = (0..300u64).map(|i| i / 7 + 1).sum();
    assert_eq!(sum, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_every_subscriber_sees_exactly_the_committed_events() {
    let backend = backend();
    let store = Arc::new(MemCheckpoints::new());
    let recorders: Vec<Recorder> = (0..3).map(|_| Recorder::default()).collect();
    let handles: Vec<_> = recorders
        .iter()
        .enumerate()
        .map(|(i, rec)| {
            Subscription::new(backend.clone())
                .batch_size([100, 1000, 7][i])
                .spawn(Checkpointed::new(
                    format!("all{i}"),
                    store.clone(),
                    rec.clone(),
                ))
                .unwrap()
        })
        .collect();
    let writers: Vec<_> = (0..32)
        .map(|w| {
            let backend = backend.clone();
            tokio::spawn(async move {
                let mut last = LogCursor::START;
                for s in 0..40u64 {
                    let k = key("", "account", &format!("w{w}-{s}"));
                    for round in 0..4 {
                        last = last.max(deposit(&*backend, &k, round * 20, 20).await.cursor());
                    }
                }
                last
            })
        })
        .collect();
    let mut last = LogCursor::START;
    for w in writers {
        last = last.max(w.await.unwrap());
    }
    let committed: Vec<_> = common::whole_log(&*backend)
        .await
        .iter()
        .map(pair)
        .collect();
    assert_eq!(committed.len(), 32 * 40 * 80);
    assert!(committed.len() >= 100_000);
    for (handle, rec) in handles.iter().zip(&recorders) {
        handle
            .wait_for(last, Duration::from_secs(60))
            .await
            .unwrap();
        let seen: Vec<_> = rec.seen.lock().iter().map(|(_, e)| pair(e)).collect();
        let t = tally(&committed, &seen);
        assert_eq!(
            (t.seen, t.skipped, t.duplicated, t.out_of_order),
            (committed.len(), 0, 0, 0)
        );
    }
}

/// Fails on every event of the streams it is told are poisoned; records what it handled.
#[derive(Debug, Clone, Default)]
struct Notifier {
    poisoned: Arc<parking_lot::Mutex<Vec<String>>>,
    sent: Arc<parking_lot::Mutex<Vec<(String, u64)>>>,
    calls: Arc<AtomicUsize>,
}

impl EventHandler for Notifier {
    fn handle<'a>(&'a self, event: &'a EventEnvelope) -> BoxFuture<'a, Result<(), ReadsideError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let result = if self.poisoned.lock().contains(&event.identifier) {
            Err(ReadsideError::handler(format!(
                "mail server refused {}",
                event.identifier
            )))
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
async fn a_poison_event_parks_only_its_key_until_retried_or_skipped() {
    let backend = backend();
    let notifier = Notifier::default();
    notifier.poisoned.lock().push("p".into());
    let parked = Arc::new(MemParkStore::new());
    let handled = Handled::new(
        "mailer",
        notifier.clone(),
        Arc::new(MemCheckpoints::new()),
        parked.clone(),
    )
    .retry(Retry::new(
        3,
        Duration::from_millis(1),
        Duration::from_millis(4),
    ))
    .unwrap();
    let admin = handled.admin();
    let handle = Subscription::new(backend.clone())
        .poll_every(Duration::from_millis(20))
        .spawn(handled)
        .unwrap();
    deposit(&*backend, &key("", "account", "p"), 0, 1).await;
    deposit(&*backend, &key("", "account", "ok"), 0, 2).await;
    deposit(&*backend, &key("", "account", "p"), 1, 2).await;
    let last = deposit(&*backend, &key("", "account", "ok"), 2, 1).await;
    handle.wait_for(last.cursor(), WAIT).await.unwrap();
    // The other key flowed; the poison key's later events wait behind its first.
    assert_eq!(
        *notifier.sent.lock(),
        vec![
            ("ok".to_owned(), 1),
            ("ok".to_owned(), 2),
            ("ok".to_owned(), 3)
        ]
    );
    assert_eq!(
        notifier.calls.load(Ordering::SeqCst),
        3 + 3,
        "3 attempts, then parked"
    );
    let list = admin.list().await.unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(list[0].event.version, 1);
    assert_eq!(list[0].attempts, 3);
    assert!(
        list[0]
            .error
            .as_deref()
            .unwrap()
            .contains("mail server refused p")
    );
    assert!(
        list[1..]
            .iter()
            .all(|p| p.error.is_none() && p.attempts == 0)
    );

    // A retry while still failing: one more attempt, recorded, nothing delivered.
    admin.retry(&key("", "account", "p")).await.unwrap();
    wait_until(|| {
        let parked = parked.clone();
        async move { parked_attempts(&parked).await == 4 }
    })
    .await;
    assert_eq!(notifier.sent.lock().len(), 3);

    // Skip the first (recorded with the reason); the two behind it are then handled in order.
    notifier.poisoned.lock().clear();
    assert!(matches!(
        admin.skip(&key("", "account", "p"), " ").await,
        Err(ReadsideError::Invalid(_))
    ));
    admin
        .skip(&key("", "account", "p"), "customer unsubscribed")
        .await
        .unwrap();
    wait_until(|| {
        let admin = admin.clone();
        async move { admin.list().await.unwrap().is_empty() }
    })
    .await;
    assert_eq!(
        notifier.sent.lock()[3..],
        [("p".to_owned(), 2), ("p".to_owned(), 3)]
    );
    let skipped = admin.skipped().await.unwrap();
    assert_eq!(skipped.len(), 1);
    assert_eq!((skipped[0].event.version, skipped[0].attempts), (1, 4));
    assert_eq!(skipped[0].reason, "customer unsubscribed");
    // The key flows again.
    let after = deposit(&*backend, &key("", "account", "p"), 3, 1).await;
    handle.wait_for(after.cursor(), WAIT).await.unwrap();
    assert_eq!(notifier.sent.lock().last(), Some(&("p".to_owned(), 4)));
    let err = admin.retry(&key("", "account", "p")).await.unwrap_err();
    assert!(matches!(err, ReadsideError::NotParked { .. }), "{err}");
    handle.stop().await;
}

async fn parked_attempts(store: &MemParkStore) -> u32 {
    use fluvius_readside::ParkStore;
    store
        .list("mailer")
        .await
        .unwrap()
        .first()
        .map_or(0, |p| p.attempts)
}

async fn wait_until<F, Fut>(mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..500 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not reached within 5 s");
}

#[tokio::test]
async fn bad_settings_are_refused_and_start_nothing() {
    let backend = backend();
    let refuse = |sub: Subscription, name: &str| {
        let err = sub.spawn(totals_projection(name)).unwrap_err();
        assert!(matches!(err, ReadsideError::Invalid(_)), "{err}");
        err.to_string()
    };
    assert!(refuse(Subscription::new(backend.clone()), "").contains("must not be empty"));
    assert!(
        refuse(Subscription::new(backend.clone()), &"n".repeat(201)).contains("longer than 200")
    );
    assert!(refuse(Subscription::new(backend.clone()), "a\nb").contains("control character"));
    assert!(refuse(Subscription::new(backend.clone()).batch_size(0), "b").contains("batch size"));
    assert!(
        refuse(Subscription::new(backend.clone()).batch_size(10_001), "b").contains("1 to 10000")
    );
    assert!(
        refuse(
            Subscription::new(backend.clone()).poll_every(Duration::ZERO),
            "b"
        )
        .contains("poll interval")
    );
    assert!(
        refuse(Subscription::new(backend.clone()).evt_key("other"), "b")
            .contains("none of the event keys")
    );
    let handled = Handled::new(
        "h",
        Notifier::default(),
        Arc::new(MemCheckpoints::new()),
        Arc::new(MemParkStore::new()),
    );
    assert!(
        handled
            .retry(Retry::new(0, Duration::ZERO, Duration::ZERO))
            .is_err()
    );
    let _: &dyn Backend = &*backend;
}

#[tokio::test]
async fn progress_reports_the_last_event_taken_and_its_delivery_lag() {
    let backend = backend();
    let receipt = deposit(&*backend, &key("", "account", "a"), 0, 3).await;
    let store = Arc::new(MemCheckpoints::new());
    let handle = Subscription::new(backend.clone())
        .poll_every(Duration::from_millis(10))
        .spawn(Checkpointed::new("lag", store, Recorder::default()))
        .unwrap();
    handle.wait_for(receipt.cursor(), WAIT).await.unwrap();
    let last = common::whole_log(&*backend).await.pop().unwrap();
    let progress = handle.progress();
    assert_eq!(progress.last_recorded_at, Some(last.recorded_at));
    assert!(
        progress.lag < WAIT,
        "delivered within the wait: {:?}",
        progress.lag
    );
    // Once a later read finds nothing more, nothing is waiting: no lag.
    let mut later = handle.progress();
    for _ in 0..500 {
        if later.caught_up && later.lag == Duration::ZERO {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        later = handle.progress();
    }
    assert_eq!(
        (later.caught_up, later.lag),
        (true, Duration::ZERO),
        "{later:?}"
    );
    assert_eq!(
        later.last_recorded_at,
        Some(last.recorded_at),
        "the last event stays known"
    );
    handle.stop().await;
}
