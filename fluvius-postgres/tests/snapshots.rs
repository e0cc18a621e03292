//! Snapshots for long streams: time travel near the head of a 10,000-event stream folds from a
//! snapshot, not from the first event, and a snapshot written by another state type (another
//! digest) is ignored, never trusted.
//!
//! The evidence is the number of events the state manager reads, counted by a wrapper around
//! the backend: no timing is measured.

mod support;

use std::sync::Arc;

use fluvius_conformance::domain::{self, Account};
use fluvius_core::{At, ImportEvent};
use serde_json::json;
use support::{OwnedDb, TestDb};

/// A stream `long` of 1 opening and 9,999 deposits of 1, imported in 100 commits of 100 events
/// (so every multiple of 100 is crossed by a commit), each event one second after the previous.
async fn long_stream(db: &TestDb) -> (Arc<OwnedDb>, fluvius_core::Domain) {
    let counting = Arc::new(OwnedDb::new(db.backend().await, None));
    let domain = domain::domain(counting.clone());
    for chunk in 0..100 {
        let events = (1..=100)
            .map(|k| {
                let version = chunk * 100 + k;
                let event = if version == 1 {
                    ImportEvent::new(
                        "account",
                        "long",
                        "account-opened",
                        json!({"owner": "o", "initial": 0, "tags": [],
                               "opened_at": support::at(0)}),
                    )
                } else {
                    ImportEvent::new("account", "long", "deposit-made", json!({"amount": 1}))
                };
                event.recorded_at(support::at(version))
            })
            .collect();
        domain.import(events).await.expect("import a chunk");
    }
    counting.take_events_read();
    (counting, domain)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_travel_near_the_head_folds_from_a_snapshot() {
    let db = TestDb::create().await;
    let (counting, domain) = long_stream(&db).await;
    let pool = db.pool(1).await;
    assert_eq!(support::count(&pool, "events").await, 10_000);
    assert_eq!(
        support::count(&pool, "snapshots").await,
        100,
        "one per 100 versions"
    );

    let head: Account = domain
        .statemgr()
        .fetch("account", "long")
        .await
        .expect("fetch");
    assert_eq!(head.balance, 9_999);
    assert_eq!(
        counting.take_events_read(),
        0,
        "the head is the state row: no event is read"
    );

    let then: Account = domain
        .statemgr()
        .fetch_at::<Account>("account", "long", At::Version(9_950))
        .await
        .map(|record| record.state)
        .expect("fetch_at");
    assert_eq!(then.balance, 9_949);
    assert_eq!(
        counting.take_events_read(),
        51,
        "folded from the snapshot at 9,900 (and the first event read for its creator)"
    );

    let then: Account = domain
        .statemgr()
        .fetch_at::<Account>("account", "long", At::Time(support::at(5_432)))
        .await
        .map(|record| record.state)
        .expect("fetch_at a time");
    assert_eq!(then.balance, 5_431);
    assert_eq!(
        counting.take_events_read(),
        33,
        "folded from the snapshot at 5,400 (and the first event read for its creator)"
    );

    let start: Account = domain
        .statemgr()
        .fetch_at::<Account>("account", "long", At::Version(3))
        .await
        .map(|record| record.state)
        .expect("fetch_at 3");
    assert_eq!(start.balance, 2);
    assert_eq!(
        counting.take_events_read(),
        3,
        "before the first snapshot: folded from the start"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_of_another_state_type_is_ignored() {
    let db = TestDb::create().await;
    let (counting, domain) = long_stream(&db).await;
    let pool = db.pool(1).await;
    // As if an older version of the state type had written them, with other contents.
    sqlx::query("UPDATE fluvius.snapshots SET digest = 'old', state = '{\"balance\": -1}'")
        .execute(&pool)
        .await
        .expect("age the snapshots");
    sqlx::query("UPDATE fluvius.states SET digest = 'old', state = '{\"balance\": -1}'")
        .execute(&pool)
        .await
        .expect("age the state row");

    let then: Account = domain
        .statemgr()
        .fetch_at::<Account>("account", "long", At::Version(9_950))
        .await
        .map(|record| record.state)
        .expect("fetch_at");
    assert_eq!(then.balance, 9_949, "refolded from the events");
    assert_eq!(
        counting.take_events_read(),
        9_950,
        "every event up to the version was read"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_snapshot_is_replaced_where_it_is_found() {
    let db = TestDb::create().await;
    let (counting, domain) = long_stream(&db).await;
    let pool = db.pool(1).await;
    sqlx::query("UPDATE fluvius.snapshots SET digest = 'old', state = '{\"balance\": -1}'")
        .execute(&pool)
        .await
        .expect("age the snapshots");
    sqlx::query("UPDATE fluvius.states SET digest = 'old', state = '{\"balance\": -1}'")
        .execute(&pool)
        .await
        .expect("age the state row");
    let digest = domain.state_digest("account").expect("digest").to_owned();
    let reads = domain.statemgr();

    let then: Account = reads
        .fetch_at::<Account>("account", "long", At::Version(9_950))
        .await
        .map(|record| record.state)
        .expect("fetch_at");
    assert_eq!(then.balance, 9_949);
    assert_eq!(
        counting.take_events_read(),
        9_950,
        "the stale snapshot is refolded"
    );
    let (stored_digest, balance): (String, i64) = sqlx::query_as(
        "SELECT digest, (state->>'balance')::bigint FROM fluvius.snapshots WHERE version = 9900",
    )
    .fetch_one(&pool)
    .await
    .expect("the snapshot at 9,900");
    assert_eq!(
        (stored_digest, balance),
        (digest.clone(), 9_899),
        "and replaced"
    );
    let again: Account = reads
        .fetch_at::<Account>("account", "long", At::Version(9_950))
        .await
        .map(|record| record.state)
        .expect("fetch_at again");
    assert_eq!(again.balance, 9_949);
    assert_eq!(
        counting.take_events_read(),
        51,
        "the next time travel folds from the replaced snapshot (and reads the first event)"
    );

    let head: Account = reads.fetch("account", "long").await.expect("fetch");
    assert_eq!(head.balance, 9_999);
    assert_eq!(
        counting.take_events_read(),
        10_000,
        "the stale row is refolded"
    );
    let head: Account = reads.fetch("account", "long").await.expect("fetch again");
    assert_eq!(head.balance, 9_999);
    assert_eq!(counting.take_events_read(), 0, "and rewritten");
}

/// A snapshot does not record deletion, so time travel into a long stream deleted since folds
/// from the first event, and reports the deletion exactly from the deleting version on, even
/// where a snapshot was written at that version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_travel_into_a_deleted_long_stream_says_when_it_was_deleted() {
    let db = TestDb::create().await;
    let (counting, domain) = long_stream(&db).await;
    let mut commands = vec![("deposit", json!({"amount": 1})); 98]; // versions 10,001..=10,098
    commands.push(("withdraw", json!({"amount": 10_097}))); // 10,099
    commands.push(("close-account", json!({"reason": "done"}))); // 10,100, a snapshot version
    for (key, payload) in commands {
        let command = domain
            .create_command(key, payload, ("account", "long"))
            .expect(key);
        domain.process_command(command).await.expect(key);
    }
    let pool = db.pool(1).await;
    let snapshot: i64 = sqlx::query_scalar("SELECT max(version) FROM fluvius.snapshots")
        .fetch_one(&pool)
        .await
        .expect("the latest snapshot");
    assert_eq!(snapshot, 10_100, "a snapshot at the deleting version");
    counting.take_events_read();
    let reads = domain.statemgr();
    let deleted = reads
        .fetch_at::<Account>("account", "long", At::Version(10_100))
        .await
        .expect("fetch_at the deletion");
    assert_eq!((deleted.version, deleted.deleted), (10_100, true));
    assert!(deleted.state.closed);
    assert_eq!(
        counting.take_events_read(),
        10_100,
        "folded from the first event, not from the snapshot"
    );
    let before = reads
        .fetch_at::<Account>("account", "long", At::Version(10_099))
        .await
        .expect("fetch_at before the deletion");
    assert_eq!((before.version, before.deleted), (10_099, false));
    assert_eq!(before.state.balance, 0);
}

/// Snapshots written by a release whose events had another shape heal through the upcasters:
/// the next release ignores them (another digest), folds the events through its upcast steps,
/// and replaces them with its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_of_an_older_release_heal_through_the_upcasters() {
    use fluvius_conformance::ledger::{self, Ledger};

    let db = TestDb::create().await;
    let backend: Arc<dyn fluvius_core::Backend> = Arc::new(db.backend().await.snapshot_every(10));
    let v2 = ledger::domain_v2(backend.clone());
    for chunk in 0..3 {
        let events = (1..=10)
            .map(|k| match chunk * 10 + k {
                1 => ImportEvent::new("ledger", "l", "opened", json!({"owner": "o"})),
                _ => ImportEvent::new("ledger", "l", "credited", json!({"amount": 1})),
            })
            .collect();
        v2.import(events)
            .await
            .expect("release 2 imports its events");
    }
    let pool = db.pool(1).await;
    assert_eq!(
        support::count(&pool, "snapshots").await,
        3,
        "one per 10 versions"
    );

    let v4 = ledger::domain_v4(backend.clone());
    let then = v4
        .statemgr()
        .fetch_at::<Ledger>("ledger", "l", At::Version(25))
        .await
        .expect("fetch_at through the stale snapshot");
    assert_eq!(
        then.state.total, 2_400,
        "24 credits of one unit, read in cents"
    );
    let key = ledger::key("l");
    let range = fluvius_core::StreamRange::all().up_to(25);
    let snapshot = backend
        .load_snapshot(&key, range)
        .await
        .expect("load the snapshot")
        .expect("a snapshot at or before 25");
    assert_eq!(
        (snapshot.version, snapshot.digest.as_str()),
        (20, v4.state_digest("ledger").expect("digest")),
        "the stale snapshot was replaced by the refold"
    );
    assert_eq!(snapshot.state["total"], 1_900, "19 credits, in cents");
}
