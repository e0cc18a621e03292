//! The outbox: messages an action sends commit with its events or not at all, and the store
//! hands them to relays one per topic and key, in log order, with claims, retries, parking and
//! an operator's decisions.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use fluvius_core::{
    Backend, Error, MessageClaim, MessageOrigin, MessageStatus, OutboxEntry, OutboxMessage,
    OutboxQuery, OutboxStore, Resolution, Settlement,
};
use parking_lot::Mutex;
use serde_json::json;
use uuid::Uuid;

use crate::shop::{EMAIL, FEED, SHOP, shop};
use crate::support::{command, global_log, ok};

fn store(backend: &Arc<dyn Backend>) -> &dyn OutboxStore {
    backend
        .outbox()
        .expect("the backend keeps an outbox (every backend under test does)")
}

async fn all(backend: &Arc<dyn Backend>) -> Vec<OutboxEntry> {
    store(backend)
        .outbox_entries(&OutboxQuery::all())
        .await
        .expect("listing the outbox")
}

fn message(topic: &str, key: &str, n: u32) -> OutboxMessage {
    OutboxMessage {
        id: Uuid::new_v4(),
        tenant: String::new(),
        namespace: SHOP.to_owned(),
        topic: topic.to_owned(),
        key: key.to_owned(),
        payload: json!({ "n": n }),
        origin: MessageOrigin::default(),
        created_at: Utc::now(),
    }
}

fn claim(owner: &str, limit: usize) -> MessageClaim {
    MessageClaim::new(owner, limit, Duration::from_secs(30))
}

/// A claim that should find messages. A store may hold committed messages back for a moment
/// (PostgreSQL's horizon can count a transaction of another database that just ended), so an
/// empty answer is asked again, for up to five seconds.
async fn claim_some(outbox: &dyn OutboxStore, claim: &MessageClaim) -> Vec<OutboxEntry> {
    for _ in 0..500 {
        let got = outbox.claim_messages(claim).await.expect("claim");
        if !got.is_empty() {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Vec::new()
}

/// An action's messages are stored exactly when its command commits: with derived ids, the
/// command's origin and the stream as the default key; a broken rule, an unstorable message, a
/// replayed command id and a failed unit store none.
pub async fn messages_commit_with_their_events(backend: Arc<dyn Backend>) {
    let domain = shop(Arc::clone(&backend));
    let placed = ok(
        &domain,
        command(
            &domain,
            "place-order",
            json!({"customer": "ann", "items": 2}),
            ("order", "o1"),
        ),
    )
    .await;
    let stored = all(&backend).await;
    assert_eq!(
        stored.len(),
        2,
        "place-order sends two messages: {stored:?}"
    );
    let (mail, feed) = (&stored[0], &stored[1]);
    assert!(
        mail.seq < feed.seq,
        "messages keep the order they were sent in"
    );
    assert_eq!(mail.message.topic, EMAIL);
    assert_eq!(
        mail.message.key, "order/o1",
        "the default key is the stream"
    );
    assert_eq!(mail.message.payload, json!({"to": "ann", "items": 2}));
    assert_eq!(feed.message.topic, FEED);
    assert_eq!(feed.message.key, "ann");
    for entry in &stored {
        assert_eq!(entry.status, MessageStatus::Pending);
        assert_eq!(entry.attempts, 0);
        assert_eq!(entry.message.namespace, SHOP);
        let origin = &entry.message.origin;
        assert_eq!(origin.command.as_deref(), Some("place-order"));
        assert_eq!(origin.command_id, Some(placed.command_id));
        assert_eq!(origin.resource.as_deref(), Some("order"));
        assert_eq!(origin.identifier.as_deref(), Some("o1"));
        assert_eq!(origin.version, Some(1));
    }
    let ids: HashSet<Uuid> = stored.iter().map(|e| e.message.id).collect();
    assert_eq!(ids.len(), 2, "each message has an id of its own");

    // A broken rule: the message sent before the refusal goes with it.
    let refused = domain
        .process_command(command(
            &domain,
            "place-order",
            json!({"customer": "bob", "items": 0}),
            ("order", "o2"),
        ))
        .await
        .expect_err("an order without items is refused");
    assert!(matches!(refused, Error::Rule(_)), "{refused:?}");
    assert_eq!(
        all(&backend).await.len(),
        2,
        "a refused command stores no message"
    );

    // An unstorable message fails the command, which writes nothing at all.
    let before = global_log(&backend).await.len();
    let unstorable = domain
        .process_command(command(
            &domain,
            "add-items",
            json!({"n": 1, "topic": ""}),
            ("order", "o1"),
        ))
        .await
        .expect_err("a message without a topic cannot be stored");
    assert!(
        matches!(&unstorable, Error::Unstorable { command, what, .. }
            if command == "add-items" && what.contains("message")),
        "{unstorable:?}"
    );
    assert!(unstorable.to_string().contains("topic"), "{unstorable}");
    assert_eq!(global_log(&backend).await.len(), before, "no event either");
    assert_eq!(all(&backend).await.len(), 2);

    // A committed command, then its replay under the same command id.
    let id = Uuid::new_v4();
    let add = || {
        command(
            &domain,
            "add-items",
            json!({"n": 3, "topic": FEED}),
            ("order", "o1"),
        )
        .with_id(id)
    };
    let first = ok(&domain, add()).await;
    let again = ok(&domain, add()).await;
    assert!(again.replayed && !first.replayed);
    let stored = all(&backend).await;
    assert_eq!(stored.len(), 3, "a replayed command sends nothing again");
    assert_eq!(stored[2].message.key, "ann");
    assert_eq!(stored[2].message.payload, json!({"added": 3, "items": 5}));
    assert_eq!(stored[2].message.origin.version, Some(2));

    // A unit whose second command fails stores the first one's message neither.
    let unit = domain
        .process_unit([
            command(
                &domain,
                "add-items",
                json!({"n": 1, "topic": FEED}),
                ("order", "o1"),
            ),
            command(
                &domain,
                "add-items",
                json!({"n": 0, "topic": FEED}),
                ("order", "o1"),
            ),
        ])
        .await;
    assert!(unit.is_err(), "the unit fails on its second command");
    assert_eq!(
        all(&backend).await.len(),
        3,
        "a failed unit stores no message"
    );

    // A unit that commits stores both.
    domain
        .process_unit([
            command(
                &domain,
                "add-items",
                json!({"n": 1, "topic": FEED}),
                ("order", "o1"),
            ),
            command(
                &domain,
                "place-order",
                json!({"customer": "cy", "items": 1}),
                ("order", "o3"),
            ),
        ])
        .await
        .expect("the unit commits");
    assert_eq!(all(&backend).await.len(), 6, "1 + 2 messages of the unit");
}

/// Claims go to the first open message of each topic and key only; a settlement counts only
/// from the relay holding the claim; a retry's pause and a parked message hold their key and
/// no other; operators retry or skip parked messages; claims end with their lease; messages
/// sent twice under one id are stored once; settled messages are purged.
pub async fn claims_hold_each_key_in_order(backend: Arc<dyn Backend>) {
    let outbox = store(&backend);
    let k1 = [
        message("t", "k1", 1),
        message("t", "k1", 2),
        message("t", "k1", 3),
    ];
    let k2 = message("t", "k2", 1);
    let u1 = message("u", "k1", 1);
    let mut batch = k1.to_vec();
    batch.extend([k2.clone(), u1.clone()]);
    assert_eq!(outbox.send_messages(batch.clone()).await.expect("send"), 5);
    assert_eq!(
        outbox.send_messages(batch).await.expect("send again"),
        0,
        "messages sent again under their ids are stored once"
    );
    let mut bad = message("t", "k9", 1);
    bad.topic.clear();
    assert!(
        outbox
            .send_messages(vec![message("t", "k9", 2), bad])
            .await
            .is_err(),
        "a message without a topic is refused"
    );
    assert_eq!(
        all(&backend).await.len(),
        5,
        "a refused send stores nothing"
    );

    let a = claim_some(outbox, &claim("a", 10)).await;
    let ids: Vec<Uuid> = a.iter().map(|e| e.message.id).collect();
    assert_eq!(
        ids,
        vec![k1[0].id, k2.id, u1.id],
        "one message per topic and key, the first of each, in outbox order"
    );
    assert!(
        a.iter()
            .all(|e| e.attempts == 1 && e.claimed_by.as_deref() == Some("a"))
    );
    let b = outbox.claim_messages(&claim("b", 10)).await.expect("claim");
    assert!(b.is_empty(), "claimed heads are not claimed twice: {b:?}");

    assert!(
        !outbox
            .settle_message(k1[0].id, "b", Settlement::Delivered)
            .await
            .expect("settle"),
        "a relay without the claim settles nothing"
    );
    assert!(
        outbox
            .settle_message(k1[0].id, "a", Settlement::Delivered)
            .await
            .expect("settle")
    );
    let b = claim_some(outbox, &claim("b", 10)).await;
    assert_eq!(
        b.iter().map(|e| e.message.id).collect::<Vec<_>>(),
        vec![k1[1].id],
        "the key moves on to its next message once the first is delivered"
    );

    // A retry pause holds its key.
    let later = Utc::now() + chrono::Duration::hours(1);
    let retry = Settlement::Retry {
        error: "the mail server said 451".into(),
        at: later,
    };
    assert!(
        outbox
            .settle_message(k1[1].id, "b", retry)
            .await
            .expect("settle")
    );
    let none = outbox.claim_messages(&claim("a", 10)).await.expect("claim");
    assert!(
        none.is_empty(),
        "k1 waits for its retry, k1#3 behind it: {none:?}"
    );
    let waiting = outbox
        .outbox_entry(k1[1].id)
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(waiting.status, MessageStatus::Pending);
    assert_eq!(
        waiting.last_error.as_deref(),
        Some("the mail server said 451")
    );
    assert_eq!(waiting.claimed_by, None);

    // Parking holds the key until an operator acts.
    let park = Settlement::Park {
        error: "rejected".into(),
    };
    assert!(
        outbox
            .settle_message(k2.id, "a", park)
            .await
            .expect("settle")
    );
    let counts = outbox.outbox_counts(None).await.expect("counts");
    assert_eq!((counts.pending, counts.parked), (3, 1), "{counts:?}");
    let topics = ["u".to_owned()];
    let counts = outbox.outbox_counts(Some(&topics)).await.expect("counts");
    assert_eq!((counts.pending, counts.parked), (1, 0), "{counts:?}");
    let parked = outbox
        .outbox_entries(&OutboxQuery::all().status(MessageStatus::Parked))
        .await
        .expect("list");
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].message.id, k2.id);
    assert_eq!(parked[0].last_error.as_deref(), Some("rejected"));
    assert!(
        !outbox
            .resolve_message(k1[1].id, Resolution::Retry)
            .await
            .expect("resolve"),
        "only parked messages are resolved"
    );
    assert!(
        outbox
            .resolve_message(k2.id, Resolution::Retry)
            .await
            .expect("resolve")
    );
    let k2_again = claim_some(outbox, &claim("b", 10)).await;
    assert_eq!(
        k2_again
            .iter()
            .map(|e| (e.message.id, e.attempts))
            .collect::<Vec<_>>(),
        vec![(k2.id, 1)],
        "a retried message goes again, its attempts counted afresh"
    );
    let park = Settlement::Park {
        error: "rejected again".into(),
    };
    assert!(
        outbox
            .settle_message(k2.id, "b", park)
            .await
            .expect("settle")
    );
    let skip = Resolution::Skip {
        by: "ops".into(),
        reason: "the customer left".into(),
    };
    assert!(
        outbox
            .resolve_message(k2.id, skip.clone())
            .await
            .expect("skip")
    );
    assert!(!outbox.resolve_message(k2.id, skip).await.expect("skip"));
    let skipped = outbox
        .outbox_entry(k2.id)
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(skipped.status, MessageStatus::Skipped);
    assert_eq!(
        skipped.resolution.as_deref(),
        Some("ops: the customer left")
    );
    assert!(skipped.settled_at.is_some());

    // A claim ends with its lease; the first relay's late report no longer counts.
    let v = message("v", "k3", 1);
    outbox.send_messages(vec![v.clone()]).await.expect("send");
    let only_v =
        |owner: &str, lease| MessageClaim::new(owner, 10, lease).topics(vec!["v".to_owned()]);
    let first = claim_some(outbox, &only_v("a", Duration::from_millis(50))).await;
    assert_eq!(first.len(), 1);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let second = claim_some(outbox, &only_v("b", Duration::from_secs(30))).await;
    assert_eq!(
        second
            .iter()
            .map(|e| (e.message.id, e.attempts))
            .collect::<Vec<_>>(),
        vec![(v.id, 2)],
        "an ended claim is claimed again, a second attempt"
    );
    assert!(
        !outbox
            .settle_message(v.id, "a", Settlement::Delivered)
            .await
            .expect("settle")
    );
    assert!(
        outbox
            .settle_message(v.id, "b", Settlement::Delivered)
            .await
            .expect("settle")
    );

    // Listings filter; purges remove settled messages only.
    let delivered = outbox
        .outbox_entries(&OutboxQuery::all().status(MessageStatus::Delivered))
        .await
        .expect("list");
    let delivered: Vec<Uuid> = delivered.iter().map(|e| e.message.id).collect();
    assert_eq!(delivered, vec![k1[0].id, v.id]);
    let of_u = outbox
        .outbox_entries(&OutboxQuery::all().topic("u"))
        .await
        .expect("list");
    assert_eq!(of_u.len(), 1);
    let page = outbox
        .outbox_entries(&OutboxQuery::all().page(of_u[0].seq, 2))
        .await
        .expect("list");
    assert!(page.len() <= 2 && page.iter().all(|e| e.seq > of_u[0].seq));
    let purged = outbox
        .purge_messages(Utc::now() + chrono::Duration::seconds(5))
        .await
        .expect("purge");
    assert_eq!(
        purged, 3,
        "two delivered and one skipped message are purged"
    );
    assert!(outbox.outbox_entry(k1[0].id).await.expect("get").is_none());
    assert_eq!(all(&backend).await.len(), 3, "k1#2, k1#3 and u1 remain");

    assert!(outbox.claim_messages(&claim("a", 0)).await.is_err());
    assert!(outbox.claim_messages(&claim("", 1)).await.is_err());
}

/// Under concurrent commands on streams that share a topic and key, relays draining the outbox
/// at the same time deliver every message exactly once (nothing fails here) and each key's
/// messages in the order of their commands in the log.
pub async fn concurrent_commands_keep_key_order(backend: Arc<dyn Backend>) {
    const ORDERS: usize = 8;
    const ADDS: usize = 12;
    let domain = shop(Arc::clone(&backend));
    for o in 0..ORDERS {
        let customer = format!("c{}", o % 3);
        ok(
            &domain,
            command(
                &domain,
                "place-order",
                json!({"customer": customer, "items": 1}),
                ("order", format!("o{o}")),
            ),
        )
        .await;
    }
    let delivered: Arc<Mutex<Vec<OutboxEntry>>> = Arc::default();
    let writing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let drainers: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|owner| {
            let backend = Arc::clone(&backend);
            let delivered = Arc::clone(&delivered);
            let writing = Arc::clone(&writing);
            tokio::spawn(async move {
                let outbox = store(&backend);
                loop {
                    let done = !writing.load(std::sync::atomic::Ordering::SeqCst);
                    let claimed = outbox
                        .claim_messages(&claim(owner, 4))
                        .await
                        .expect("claim");
                    if claimed.is_empty() {
                        let counts = outbox.outbox_counts(None).await.expect("counts");
                        if done && counts.pending == 0 {
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(2)).await;
                        continue;
                    }
                    for entry in claimed {
                        delivered.lock().push(entry.clone());
                        let settled = outbox
                            .settle_message(entry.message.id, owner, Settlement::Delivered)
                            .await
                            .expect("settle");
                        assert!(settled, "the claim is still held");
                    }
                }
            })
        })
        .collect();
    let writers: Vec<_> = (0..ORDERS)
        .map(|o| {
            let domain = domain.clone();
            tokio::spawn(async move {
                for _ in 0..ADDS {
                    let add = command(
                        &domain,
                        "add-items",
                        json!({"n": 1, "topic": FEED}),
                        ("order", format!("o{o}")),
                    );
                    // Conflicts are retried inside the domain; each add commits once.
                    ok(&domain, add).await;
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("writer");
    }
    writing.store(false, std::sync::atomic::Ordering::SeqCst);
    for drainer in drainers {
        drainer.await.expect("drainer");
    }

    let stored = all(&backend).await;
    assert_eq!(stored.len(), ORDERS * 2 + ORDERS * ADDS);
    let delivered = delivered.lock().clone();
    let unique: HashSet<Uuid> = delivered.iter().map(|e| e.message.id).collect();
    assert_eq!(
        unique.len(),
        delivered.len(),
        "no message was delivered twice"
    );
    assert_eq!(delivered.len(), stored.len(), "every message was delivered");
    assert!(stored.iter().all(|e| e.status == MessageStatus::Delivered));

    // Each message's place in the log: the position of its command's event.
    let log = global_log(&backend).await;
    let place: HashMap<(String, u64), usize> = log
        .iter()
        .enumerate()
        .map(|(i, e)| ((e.identifier.clone(), e.version), i))
        .collect();
    let mut per_key: HashMap<(String, String), Vec<usize>> = HashMap::new();
    for entry in &delivered {
        let origin = &entry.message.origin;
        let at = place[&(
            origin
                .identifier
                .clone()
                .expect("an action's message names its stream"),
            origin.version.expect("and the version"),
        )];
        per_key
            .entry((entry.message.topic.clone(), entry.message.key.clone()))
            .or_default()
            .push(at);
    }
    assert_eq!(
        per_key.len(),
        ORDERS + 3,
        "8 mail keys and 3 customer feeds"
    );
    for ((topic, key), places) in per_key {
        assert!(
            places.windows(2).all(|w| w[0] < w[1]),
            "{topic}/{key} was delivered out of log order: {places:?}"
        );
    }
}
