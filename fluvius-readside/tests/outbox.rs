//! The outbox relay, on memory and on PostgreSQL: messages actions send are delivered at least
//! once and in order per topic and key; a message that keeps failing (an error, a panic, a
//! delivery that hangs) parks only its key until an operator retries or skips it; a relay that
//! stops answering loses its claims to another; several relays share one PostgreSQL outbox and
//! deliver each message once; a message of a transaction still running holds its key back; an
//! event handler that sends messages and is run again stores them once; a slow delivery holds
//! back its own key only.

mod common;
#[path = "../../fluvius-postgres/tests/support/mod.rs"]
mod support;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use fluvius_conformance::shop::{EMAIL, FEED, shop};
use fluvius_conformance::support::{command, ok};
use fluvius_core::{
    Backend, BoxFuture, Domain, EventEnvelope, MessageClaim, MessageOrigin, MessageStatus,
    OutboxEntry, OutboxMessage, OutboxQuery,
};
use fluvius_memory::MemBackend;
use fluvius_readside::{
    Deliver, EventHandler, Handled, MemCheckpoints, MemParkStore, OutboxAdmin, OutboxRelay,
    ReadsideError, Retry, Subscription,
};
use parking_lot::Mutex;
use serde_json::json;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(20);

/// Records deliveries; fails every delivery to the customer feed of `bad` while `broken` is
/// set, panics on the first delivery of the key `panics`, and hangs on the first delivery of
/// the key `hangs`.
#[derive(Default)]
struct Recording {
    delivered: Mutex<Vec<OutboxEntry>>,
    broken: AtomicBool,
    panicked: AtomicBool,
    hung: AtomicBool,
    calls: AtomicU32,
}

impl Deliver for Recording {
    fn deliver<'a>(&'a self, m: &'a OutboxEntry) -> BoxFuture<'a, Result<(), ReadsideError>> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let key = m.message.key.as_str();
            if key == "bad" && m.message.topic == FEED && self.broken.load(Ordering::SeqCst) {
                return Err(ReadsideError::handler("the feed refuses `bad`"));
            }
            if key == "panics" && !self.panicked.swap(true, Ordering::SeqCst) {
                panic!("a delivery bug");
            }
            if key == "hangs" && !self.hung.swap(true, Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
            self.delivered.lock().push(m.clone());
            Ok(())
        })
    }
}

impl Recording {
    fn ids(&self) -> Vec<Uuid> {
        self.delivered.lock().iter().map(|e| e.message.id).collect()
    }

    fn of_key(&self, topic: &str, key: &str) -> Vec<serde_json::Value> {
        self.delivered
            .lock()
            .iter()
            .filter(|e| e.message.topic == topic && e.message.key == key)
            .map(|e| e.message.payload.clone())
            .collect()
    }
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = tokio::time::Instant::now();
    while !check().await {
        assert!(start.elapsed() < WAIT, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn place(domain: &Domain, order: &str, customer: &str) {
    ok(
        domain,
        command(
            domain,
            "place-order",
            json!({"customer": customer, "items": 1}),
            ("order", order),
        ),
    )
    .await;
}

async fn add(domain: &Domain, order: &str, n: u32) {
    ok(
        domain,
        command(
            domain,
            "add-items",
            json!({"n": n, "topic": FEED}),
            ("order", order),
        ),
    )
    .await;
}

fn quick() -> Retry {
    Retry::new(3, Duration::from_millis(5), Duration::from_millis(20))
}

async fn poison_parks_only_its_key(backend: Arc<dyn Backend>) {
    let domain = shop(Arc::clone(&backend));
    let deliver = Arc::new(Recording::default());
    deliver.broken.store(true, Ordering::SeqCst);
    let relay = OutboxRelay::new(Arc::clone(&backend), deliver.clone())
        .owner("relay-1")
        .poll_every(Duration::from_millis(10))
        .retry(quick())
        .lease(Duration::from_secs(2))
        .delivery_timeout(Duration::from_millis(300))
        .spawn()
        .expect("relay");
    place(&domain, "o-good", "good").await;
    place(&domain, "o-bad", "bad").await;
    place(&domain, "o-panics", "panics").await;
    place(&domain, "o-hangs", "hangs").await;
    for n in 2..=4 {
        add(&domain, "o-good", n).await;
        add(&domain, "o-bad", n).await;
        add(&domain, "o-panics", n).await;
        add(&domain, "o-hangs", n).await;
    }
    let admin = OutboxAdmin::new(Arc::clone(&backend)).expect("admin");
    eventually("the good keys are through and `bad` is parked", || async {
        deliver.of_key(FEED, "good").len() == 4
            && deliver.of_key(FEED, "panics").len() == 4
            && deliver.of_key(FEED, "hangs").len() == 4
            && admin.parked().await.expect("parked").len() == 1
    })
    .await;
    let expected: Vec<_> = std::iter::once(json!({"placed": 1}))
        .chain((2..=4).map(|n| json!({"added": n, "items": (2..=n).sum::<u32>() + 1})))
        .collect();
    assert_eq!(
        deliver.of_key(FEED, "good"),
        expected,
        "in order, once each"
    );
    assert_eq!(
        deliver.of_key(FEED, "panics"),
        expected,
        "a panic was retried"
    );
    assert_eq!(
        deliver.of_key(FEED, "hangs"),
        expected,
        "a hang timed out, retried"
    );
    assert_eq!(
        deliver.of_key(EMAIL, "order/o-bad").len(),
        1,
        "the bad order's mail has another key and went"
    );
    assert!(deliver.of_key(FEED, "bad").is_empty());
    let parked = admin.parked().await.expect("parked");
    assert_eq!(parked[0].message.payload, json!({"placed": 1}));
    assert_eq!(parked[0].attempts, 3, "three attempts, then parked");
    assert!(
        parked[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("refuses")),
        "{parked:?}"
    );
    let behind = admin
        .list(
            &OutboxQuery::all()
                .status(MessageStatus::Pending)
                .topic(FEED),
        )
        .await
        .expect("list");
    assert_eq!(behind.len(), 3, "bad's later messages wait behind it");
    assert!(
        behind
            .iter()
            .all(|e| e.message.key == "bad" && e.attempts == 0)
    );
    let counts = admin.counts().await.expect("counts");
    assert_eq!((counts.pending, counts.parked), (3, 1));

    // Misuse is refused and changes nothing.
    assert!(admin.skip(parked[0].message.id, "", "why").await.is_err());
    let unknown = admin.retry(Uuid::new_v4()).await.expect_err("unknown");
    assert!(unknown.to_string().contains("no message"), "{unknown}");
    let delivered_id = deliver.ids()[0];
    let not_parked = admin.retry(delivered_id).await.expect_err("delivered");
    assert!(not_parked.to_string().contains("delivered"), "{not_parked}");

    // Fixed: the operator retries, and the key drains in order.
    deliver.broken.store(false, Ordering::SeqCst);
    admin.retry(parked[0].message.id).await.expect("retry");
    eventually("bad's feed drains", || async {
        deliver.of_key(FEED, "bad").len() == 4
    })
    .await;
    assert_eq!(deliver.of_key(FEED, "bad"), expected);

    // A skip moves the key on and is recorded.
    deliver.broken.store(true, Ordering::SeqCst);
    add(&domain, "o-bad", 5).await;
    add(&domain, "o-bad", 6).await;
    eventually("the new bad message is parked", || async {
        admin.parked().await.expect("parked").len() == 1
    })
    .await;
    let parked = admin.parked().await.expect("parked");
    deliver.broken.store(false, Ordering::SeqCst);
    admin
        .skip(parked[0].message.id, "ops", "the feed has it already")
        .await
        .expect("skip");
    eventually("the message after the skipped one goes", || async {
        deliver.of_key(FEED, "bad").len() == 5
    })
    .await;
    let skipped = admin
        .get(parked[0].message.id)
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(skipped.status, MessageStatus::Skipped);
    assert_eq!(
        skipped.resolution.as_deref(),
        Some("ops: the feed has it already")
    );
    assert_eq!(
        deliver.of_key(FEED, "bad").last(),
        Some(&json!({"added": 6, "items": 21})),
        "the skipped message (added 5) was never delivered"
    );
    relay.stop().await;

    let ids = deliver.ids();
    let unique: HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "nothing was delivered twice here");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_parks_only_its_key_on_memory() {
    poison_parks_only_its_key(Arc::new(MemBackend::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_parks_only_its_key_on_postgres() {
    let db = support::TestDb::create().await;
    let backend = fluvius_postgres::PgBackend::from_pool(db.pool(8).await)
        .await
        .expect("backend");
    poison_parks_only_its_key(Arc::new(backend)).await;
}

async fn relay_takes_over_ended_claims(backend: Arc<dyn Backend>) {
    let domain = shop(Arc::clone(&backend));
    place(&domain, "o-1", "ann").await;
    // A relay claims everything and then stops answering (it died, or it is paused).
    let outbox = backend.outbox().expect("outbox");
    let claim = MessageClaim::new("gone", 10, Duration::from_millis(300));
    assert_eq!(outbox.claim_messages(&claim).await.expect("claim").len(), 2);
    let deliver = Arc::new(Recording::default());
    let started = tokio::time::Instant::now();
    let relay = OutboxRelay::new(Arc::clone(&backend), deliver.clone())
        .poll_every(Duration::from_millis(10))
        .spawn()
        .expect("relay");
    eventually("the second relay delivered both", || async {
        deliver.ids().len() == 2
    })
    .await;
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "not before the first claims ended"
    );
    assert!(deliver.delivered.lock().iter().all(|e| e.attempts == 2));
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_takes_over_ended_claims_on_memory() {
    relay_takes_over_ended_claims(Arc::new(MemBackend::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_takes_over_ended_claims_on_postgres() {
    let db = support::TestDb::create().await;
    let backend = fluvius_postgres::PgBackend::from_pool(db.pool(4).await)
        .await
        .expect("backend");
    relay_takes_over_ended_claims(Arc::new(backend)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_relay_settings_are_refused() {
    let backend: Arc<dyn Backend> = Arc::new(MemBackend::new());
    let deliver = Arc::new(Recording::default());
    let relay = || OutboxRelay::new(Arc::clone(&backend), deliver.clone());
    let refused = [
        relay()
            .batch_size(0)
            .spawn()
            .expect_err("batch 0")
            .to_string(),
        relay()
            .lease(Duration::from_secs(1))
            .delivery_timeout(Duration::from_secs(2))
            .spawn()
            .expect_err("lease below timeout")
            .to_string(),
        relay()
            .topics(Vec::<String>::new())
            .spawn()
            .expect_err("no topics")
            .to_string(),
        relay()
            .retry(Retry::new(0, Duration::ZERO, Duration::ZERO))
            .spawn()
            .expect_err("no attempts")
            .to_string(),
    ];
    assert!(refused[0].contains("batch size"), "{refused:?}");
    assert!(
        refused[1].contains("longer than its delivery timeout"),
        "{refused:?}"
    );
    assert!(refused[2].contains("topic list is empty"), "{refused:?}");
    assert!(refused[3].contains("at least 1 attempt"), "{refused:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_share_one_postgres_outbox_and_deliver_each_message_once() {
    const ORDERS: usize = 12;
    const ADDS: u32 = 15;
    let db = support::TestDb::create().await;
    let backend: Arc<dyn Backend> = Arc::new(
        fluvius_postgres::PgBackend::from_pool(db.pool(8).await)
            .await
            .expect("backend"),
    );
    let deliver = Arc::new(Recording::default());
    let mut relays = Vec::new();
    for r in 0..3 {
        // Each relay on a backend of its own, as in three processes.
        let own: Arc<dyn Backend> = Arc::new(
            fluvius_postgres::PgBackend::from_pool(db.pool(3).await)
                .await
                .expect("backend"),
        );
        relays.push(
            OutboxRelay::new(own, deliver.clone())
                .owner(format!("relay-{r}"))
                .batch_size(4)
                .poll_every(Duration::from_millis(5))
                .spawn()
                .expect("relay"),
        );
    }
    let domain = shop(Arc::clone(&backend));
    let writers: Vec<_> = (0..ORDERS)
        .map(|o| {
            let domain = domain.clone();
            tokio::spawn(async move {
                let order = format!("o-{o}");
                place(&domain, &order, &format!("c-{}", o % 4)).await;
                for n in 1..=ADDS {
                    add(&domain, &order, n).await;
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("writer");
    }
    let total = ORDERS * 2 + ORDERS * ADDS as usize;
    eventually("every message was delivered", || async {
        deliver.ids().len() >= total
    })
    .await;
    for relay in relays {
        relay.stop().await;
    }
    let ids = deliver.ids();
    let unique: HashSet<_> = ids.iter().collect();
    assert_eq!(ids.len(), total, "each message once");
    assert_eq!(unique.len(), total);
    // Per customer feed, the order of the commands in the log.
    let log = support::whole_log(&*backend).await;
    let place_of: HashMap<(String, u64), usize> = log
        .iter()
        .enumerate()
        .map(|(i, e)| ((e.identifier.clone(), e.version), i))
        .collect();
    let mut per_key: HashMap<String, Vec<usize>> = HashMap::new();
    for entry in deliver.delivered.lock().iter() {
        let origin = &entry.message.origin;
        let at = place_of[&(
            origin.identifier.clone().expect("stream"),
            origin.version.expect("version"),
        )];
        per_key
            .entry(format!("{}/{}", entry.message.topic, entry.message.key))
            .or_default()
            .push(at);
    }
    for (key, places) in per_key {
        assert!(
            places.windows(2).all(|w| w[0] < w[1]),
            "{key} out of log order: {places:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_transaction_holds_its_key_back_on_postgres() {
    let db = support::TestDb::create().await;
    let pg = fluvius_postgres::PgBackend::from_pool(db.pool(4).await)
        .await
        .expect("backend");
    let pool = pg.pool().clone();
    let backend: Arc<dyn Backend> = Arc::new(pg);
    let outbox = backend.outbox().expect("outbox");
    let message = |n: u32| OutboxMessage {
        id: Uuid::new_v4(),
        tenant: String::new(),
        namespace: "shop".into(),
        topic: "t".into(),
        key: "k".into(),
        payload: json!({ "n": n }),
        origin: MessageOrigin::default(),
        created_at: chrono::Utc::now(),
    };
    // The first message's transaction takes its id first and stays open.
    let first = message(1);
    let mut open = pool.begin().await.expect("begin");
    sqlx::query(
        "INSERT INTO fluvius.outbox (message_id, tenant, namespace, topic, key, payload, origin, \
         created_at) VALUES ($1, '', 'shop', 't', 'k', '{\"n\": 1}', '{}', now())",
    )
    .bind(first.id)
    .execute(&mut *open)
    .await
    .expect("insert");
    let second = message(2);
    let other = message(3);
    let mut other = other.with_key("other");
    other.topic = "t".into();
    outbox
        .send_messages(vec![second.clone(), other.clone()])
        .await
        .expect("send");
    let claim = MessageClaim::new("r", 10, Duration::from_secs(30));
    let claimed = outbox.claim_messages(&claim).await.expect("claim");
    assert!(
        claimed.is_empty(),
        "both committed messages are behind the open transaction's id: {claimed:?}"
    );
    open.commit().await.expect("commit");
    // The horizon may still count a transaction of another database that just ended: ask
    // again while the answer is empty.
    let mut claimed = Vec::new();
    for _ in 0..500 {
        claimed = outbox.claim_messages(&claim).await.expect("claim");
        if !claimed.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let ids: Vec<Uuid> = claimed.iter().map(|e| e.message.id).collect();
    assert_eq!(
        ids,
        vec![first.id, other.id],
        "the key's first message is the one of the earlier transaction"
    );
}

/// Sends one message per event and fails its first call after sending, as a handler that
/// crashed after its side effect would.
struct Notify {
    backend: Arc<dyn Backend>,
    calls: AtomicU32,
}

impl EventHandler for Notify {
    fn handle<'a>(&'a self, event: &'a EventEnvelope) -> BoxFuture<'a, Result<(), ReadsideError>> {
        Box::pin(async move {
            let message = OutboxMessage::caused_by_event(
                event,
                "notify",
                0,
                "push",
                json!({"event": event.evt_key}),
            );
            let outbox = self.backend.outbox().expect("outbox");
            outbox.send_messages(vec![message]).await?;
            if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
                return Err(ReadsideError::handler("crashed after sending"));
            }
            Ok(())
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_run_again_sends_its_messages_once() {
    let backend: Arc<dyn Backend> = Arc::new(MemBackend::new());
    let domain = shop(Arc::clone(&backend));
    place(&domain, "o-1", "ann").await;
    add(&domain, "o-1", 2).await;
    let handled = Handled::new(
        "notify",
        Notify {
            backend: Arc::clone(&backend),
            calls: AtomicU32::new(0),
        },
        Arc::new(MemCheckpoints::new()),
        Arc::new(MemParkStore::new()),
    )
    .retry(quick())
    .expect("retry");
    let subscription = Subscription::new(Arc::clone(&backend))
        .poll_every(Duration::from_millis(10))
        .spawn(handled)
        .expect("subscription");
    let admin = OutboxAdmin::new(Arc::clone(&backend)).expect("admin");
    eventually("both events sent their push", || async {
        admin
            .list(&OutboxQuery::all().topic("push"))
            .await
            .expect("list")
            .len()
            == 2
    })
    .await;
    subscription.stop().await;
    let pushes = admin
        .list(&OutboxQuery::all().topic("push"))
        .await
        .expect("list");
    assert_eq!(
        pushes.len(),
        2,
        "the first event's push is stored once: {pushes:?}"
    );
    assert_eq!(pushes[0].message.key, "order/o-1");
    assert!(pushes[0].message.origin.event_id.is_some());
}

/// Holds every delivery to the customer feed of `slow` until `release` is set; records the
/// others as they come.
#[derive(Default)]
struct Slow {
    started: AtomicBool,
    release: AtomicBool,
    delivered: Mutex<Vec<OutboxEntry>>,
}

impl Deliver for Slow {
    fn deliver<'a>(&'a self, m: &'a OutboxEntry) -> BoxFuture<'a, Result<(), ReadsideError>> {
        Box::pin(async move {
            if m.message.topic == FEED && m.message.key == "slow" {
                self.started.store(true, Ordering::SeqCst);
                while !self.release.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            self.delivered.lock().push(m.clone());
            Ok(())
        })
    }
}

/// A delivery that takes long holds back its own key only: messages of other keys committed
/// while it runs are claimed and delivered at once, not after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_delivery_holds_back_its_own_key_only() {
    let backend: Arc<dyn Backend> = Arc::new(MemBackend::new());
    let domain = shop(Arc::clone(&backend));
    let deliver = Arc::new(Slow::default());
    let relay = OutboxRelay::new(Arc::clone(&backend), deliver.clone())
        .poll_every(Duration::from_millis(10))
        .delivery_timeout(Duration::from_secs(60))
        .lease(Duration::from_secs(90))
        .spawn()
        .expect("relay");
    place(&domain, "o-1", "slow").await;
    eventually("the slow delivery started", || async {
        deliver.started.load(Ordering::SeqCst)
    })
    .await;
    let committed = tokio::time::Instant::now();
    place(&domain, "o-2", "fast").await;
    place(&domain, "o-3", "slow").await;
    eventually("o-2's messages were delivered", || async {
        let delivered = deliver.delivered.lock();
        delivered.iter().any(|e| e.message.key == "fast")
            && delivered
                .iter()
                .filter(|e| e.message.topic == EMAIL)
                .count()
                == 3
    })
    .await;
    // Not after the slow delivery (held until released, well within the delivery timeout).
    assert!(
        committed.elapsed() < Duration::from_secs(5),
        "the other keys waited {:?} for the slow delivery",
        committed.elapsed()
    );
    {
        let delivered = deliver.delivered.lock();
        assert!(
            delivered.iter().all(|e| e.message.key != "slow"),
            "the slow key's messages wait for its first one: {delivered:?}"
        );
    }
    deliver.release.store(true, Ordering::SeqCst);
    eventually("the slow key's two messages were delivered", || async {
        let delivered = deliver.delivered.lock();
        delivered.iter().filter(|e| e.message.key == "slow").count() == 2
    })
    .await;
    relay.stop().await;
}
