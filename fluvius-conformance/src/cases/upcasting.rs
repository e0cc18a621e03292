//! Events that outlive their code: a release whose events changed shape reads every event the
//! releases before it stored, through one decode path (fold, time travel, history, the log,
//! imports), never rewriting the log; and the errors that name what this build cannot read.

use std::sync::Arc;

use fluvius_core::{At, Backend, Error, ImportEvent, LogQuery};
use serde_json::{Value, json};

use crate::ledger::{self, Ledger};
use crate::support::{self, global_log, run};

/// Release 2 writes `opened` v1, `credited` v1 (units) and `debited` (units) on `id`.
async fn history_of_release_2(backend: &Arc<dyn Backend>, id: &str) {
    let v2 = ledger::domain_v2(backend.clone());
    run(&v2, "open", json!({"owner": "olga"}), ("ledger", id)).await;
    run(&v2, "credit", json!({"amount": 7}), ("ledger", id)).await;
    run(&v2, "debit", json!({"amount": 2}), ("ledger", id)).await;
    run(&v2, "credit", json!({"amount": 1}), ("ledger", id)).await;
}

/// The (key, version, payload) of each event as the log stores it.
fn shapes(events: &[fluvius_core::EventEnvelope]) -> Vec<(String, u32, Value)> {
    events
        .iter()
        .map(|e| (e.evt_key.clone(), e.schema_version, e.payload.clone()))
        .collect()
}

/// Release 4 folds release 2's events through its upcasters (a renamed field, a change of unit,
/// a retired key read as a new one) for `fetch`, `fetch_at` and commands, and rewrites the
/// stale state row; the stored events stay exactly as they were written.
pub async fn old_events_read_through_upcasters(backend: Arc<dyn Backend>) {
    history_of_release_2(&backend, "l-1").await;
    let before = shapes(&global_log(&backend).await);
    assert_eq!(
        before[2],
        ("debited".to_owned(), 1, json!({"amount": 2})),
        "release 2 stored `debited` as written"
    );

    let v4 = ledger::domain_v4(backend.clone());
    let reads = v4.statemgr();
    let now: Ledger = reads.fetch("ledger", "l-1").await.expect("fetch");
    assert_eq!(now.owner, "olga", "`owner` read as `holder`");
    assert_eq!(now.total, 600, "units read as cents, `debited` as a charge");
    let row = backend
        .load_state(&ledger::key("l-1"))
        .await
        .expect("load")
        .expect("a row");
    assert_eq!(
        row.digest,
        v4.state_digest("ledger").expect("digest"),
        "the stale state row was refolded and written back"
    );

    let past = reads
        .fetch_at::<Ledger>("ledger", "l-1", At::Version(3))
        .await
        .expect("fetch_at v3");
    assert_eq!(
        past.state.total, 500,
        "time travel reads through the upcasters"
    );

    let charged = run(&v4, "charge", json!({"cents": 50}), ("ledger", "l-1")).await;
    assert_eq!(
        charged.version, 5,
        "the stream continues after the old events"
    );
    let now: Ledger = reads.fetch("ledger", "l-1").await.expect("fetch");
    assert_eq!(now.total, 550);

    let after = shapes(&global_log(&backend).await);
    assert_eq!(
        after[..4],
        before[..],
        "the old events were never rewritten"
    );
    assert_eq!(after[4], ("charged".to_owned(), 1, json!({"cents": 50})));

    // A second domain of release 4, with nothing cached, folds from scratch to the same state.
    let fresh = ledger::domain_v4(backend.clone());
    let replayed = fresh
        .statemgr()
        .fetch_at::<Ledger>("ledger", "l-1", At::Version(5))
        .await
        .expect("fold all");
    assert_eq!(replayed.state, now, "a replay equals the stored state");
}

/// `history` and the state manager's log read hand every event over in its current shape, with
/// the stored event's identity; a retired event read as nothing is kept as recorded.
pub async fn readers_of_events_see_current_shapes(backend: Arc<dyn Backend>) {
    history_of_release_2(&backend, "l-2").await;
    let v4 = ledger::domain_v4(backend.clone());
    v4.import(vec![ImportEvent::new(
        "ledger",
        "l-2",
        "noted",
        json!({"text": "checked"}),
    )])
    .await
    .expect("an import of a retired key is read by its `#[retired]` function");

    let stored = global_log(&backend).await;
    let history = v4
        .statemgr()
        .history("ledger", "l-2")
        .await
        .expect("history");
    assert_eq!(
        shapes(&history),
        vec![
            ("opened".to_owned(), 2, json!({"holder": "olga"})),
            ("credited".to_owned(), 2, json!({"cents": 700})),
            ("charged".to_owned(), 1, json!({"cents": 200})),
            ("credited".to_owned(), 2, json!({"cents": 100})),
            ("noted".to_owned(), 1, json!({"text": "checked"})),
        ],
        "history in the current shapes"
    );
    for (read, raw) in history.iter().zip(&stored) {
        assert_eq!(
            (read.event_id, read.version, read.position, &read.metadata),
            (raw.event_id, raw.version, raw.position, &raw.metadata),
            "an upcast event keeps the stored event's identity"
        );
    }

    let page = v4
        .statemgr()
        .read_log(&LogQuery::from_start().limit(100))
        .await
        .expect("read_log");
    assert_eq!(
        shapes(&page.events),
        shapes(&history),
        "the log reads as history"
    );
    assert_eq!(page.cursors.len(), page.events.len());

    let ledger: Ledger = v4.statemgr().fetch("ledger", "l-2").await.expect("fetch");
    assert_eq!(ledger.total, 600, "the `noted` event changed nothing");
}

/// What this build cannot read is an error naming the event: a key no action emits and no
/// `#[retired]` function reads (with the way out), and a version newer than the build.
pub async fn unreadable_events_are_named(backend: Arc<dyn Backend>) {
    history_of_release_2(&backend, "l-3").await;
    // Release 1 trusts release 2's state row (same digest); time travel folds the events.
    let v1 = ledger::domain_v1(backend.clone());
    let err = v1
        .statemgr()
        .fetch_at::<Ledger>("ledger", "l-3", At::Version(3))
        .await
        .expect_err("release 1 has no `debited`");
    match &err {
        Error::Decode { what, message } => {
            assert!(what.contains("`debited`"), "names the key: {what}");
            assert!(message.contains("#[retired"), "says the way out: {message}");
        }
        other => panic!("expected a decode error, got {other:?}"),
    }

    let v4 = ledger::domain_v4(backend.clone());
    run(&v4, "open", json!({"holder": "ivan"}), ("ledger", "l-4")).await;
    run(&v4, "credit", json!({"cents": 5}), ("ledger", "l-4")).await;
    // Release 2 distrusts release 4's state row (another digest) and folds: `opened` is v2.
    let v2 = ledger::domain_v2(backend.clone());
    let reads = v2.statemgr();
    for err in [
        reads.fetch::<Ledger>("ledger", "l-4").await.map(|_| ()),
        reads.history("ledger", "l-4").await.map(|_| ()),
    ] {
        let text = err
            .expect_err("release 2 reads `opened` up to v1")
            .to_string();
        assert!(
            text.contains("`opened`") && text.contains("newer build"),
            "names the event and why: {text}"
        );
    }

    let before = global_log(&backend).await;
    let err = v4
        .import(vec![ImportEvent::new(
            "ledger",
            "l-5",
            "vanished",
            json!({}),
        )])
        .await
        .expect_err("an import of an unknown key");
    assert!(err.to_string().contains("`vanished`"), "{err}");
    support::assert_log_unchanged(&backend, &before, "a refused import").await;
}
