//! Bulk import: many events of many streams in one atomic write, appended after what the
//! streams already hold, each event decoded and applied on the way.

use std::sync::Arc;

use fluvius_core::{
    At, Backend, CommitBatch, Error, EventEnvelope, EventMetadata, ExpectedVersion, ImportEvent,
    StateDoc, StateWrite, StoreError, StreamKey, StreamWrite,
};
use serde_json::json;

use crate::domain::{self, Account, Customer};
use crate::support::{self, account, assert_log_unchanged, global_log, open_account};

fn opened(id: &str, owner: &str, initial: i64) -> ImportEvent {
    ImportEvent::new(
        "account",
        id,
        "account-opened",
        json!({"owner": owner, "initial": initial, "tags": [], "opened_at": support::t0()}),
    )
}

fn deposited(id: &str, amount: i64) -> ImportEvent {
    ImportEvent::new("account", id, "deposit-made", json!({"amount": amount}))
}

/// Events of new and existing streams land with gapless versions after the existing ones, the
/// states are folded, and the import is one write in the global log.
pub async fn bulk_import(backend: Arc<dyn Backend>) {
    let domain = domain::domain(backend.clone());
    open_account(&domain, "old", "olga", 10).await;
    let before = global_log(&backend).await.len();

    let mut events = vec![deposited("old", 5)];
    for i in 0..50 {
        let id = format!("imp-{i:02}");
        events.push(opened(&id, "ivan", i));
        events.push(deposited(&id, 1));
        events.push(deposited(&id, 2));
    }
    events.push(ImportEvent::new(
        "customer",
        "cust",
        "customer-registered",
        json!({"name": "Cleo", "email": null, "tier": "gold"}),
    ));
    let report = domain.import(events).await.expect("import");
    assert_eq!((report.streams, report.events), (52, 152));

    let log = global_log(&backend).await;
    assert_eq!(
        log.len(),
        before + 152,
        "every imported event is in the log"
    );
    let old = account(&domain, "old").await;
    assert_eq!(old.balance, 15);
    let history = domain
        .statemgr()
        .history("account", "old")
        .await
        .expect("history");
    assert_eq!(
        history.iter().map(|e| e.version).collect::<Vec<_>>(),
        vec![1, 2]
    );
    for i in [0, 17, 49] {
        let id = format!("imp-{i:02}");
        let state = account(&domain, &id).await;
        assert_eq!(state.balance, i + 3, "{id}");
        let then = domain
            .statemgr()
            .fetch_at::<Account>("account", &id, At::Version(2))
            .await
            .expect("time travel into an imported stream");
        assert_eq!((then.state.balance, then.version), (i + 1, 2));
    }
    let customer: Customer = domain
        .statemgr()
        .fetch("customer", "cust")
        .await
        .expect("customer");
    assert_eq!(customer.name, "Cleo");
    // Commands continue the imported streams without a gap.
    assert_eq!(support::deposit(&domain, "imp-03", 1).await.version, 4);
}

/// An event that does not decode, or of an unknown key, fails the whole import and writes
/// nothing.
pub async fn import_is_all_or_nothing(backend: Arc<dyn Backend>) {
    let domain = domain::domain(backend.clone());
    open_account(&domain, "keep", "kim", 1).await;
    let before = global_log(&backend).await;

    let bad_payload = vec![
        opened("a1", "ann", 1),
        deposited("keep", 1),
        ImportEvent::new("account", "a1", "deposit-made", json!({"amount": "lots"})),
    ];
    let err = domain
        .import(bad_payload)
        .await
        .expect_err("a payload that does not decode");
    assert!(
        matches!(&err, Error::Validation { field: Some(f), .. } if f.contains("account/a1")),
        "the error names the stream: {err}"
    );
    let unknown = vec![
        opened("a2", "bo", 1),
        ImportEvent::new("account", "a2", "account-frozen", json!({})),
    ];
    assert!(
        domain.import(unknown).await.is_err(),
        "an unknown event key"
    );
    let wrong_resource = vec![ImportEvent::new(
        "ledger",
        "x",
        "deposit-made",
        json!({"amount": 1}),
    )];
    assert!(matches!(
        domain.import(wrong_resource).await,
        Err(Error::UnknownResource(_))
    ));
    assert_log_unchanged(&backend, &before, "failed imports").await;
    assert_eq!(account(&domain, "keep").await.balance, 1);
    assert!(
        domain
            .statemgr()
            .fetch::<Account>("account", "a1")
            .await
            .is_err()
    );
}

/// A commit of several streams is one unit at the backend too: when one write is refused, the
/// writes before it in the batch are not kept.
pub async fn multi_stream_commit_is_atomic(backend: Arc<dyn Backend>) {
    let domain = domain::domain(backend.clone());
    open_account(&domain, "taken", "ann", 100).await;
    let before = global_log(&backend).await;
    let key = |id: &str| StreamKey {
        tenant: String::new(),
        namespace: domain::NAMESPACE.into(),
        resource: "account".into(),
        id: id.into(),
    };
    let first_write = |key: &StreamKey| {
        let event = EventEnvelope::new(
            key,
            1,
            "deposit-made",
            1,
            json!({"amount": 1}),
            EventMetadata::default(),
            support::t0(),
        );
        let state = StateWrite::new(
            1,
            StateDoc::Json(json!({"balance": 1})),
            false,
            support::t0(),
            support::t0(),
            None,
        );
        StreamWrite::new(
            key.clone(),
            ExpectedVersion::NoStream,
            vec![event],
            state,
            Vec::new(),
        )
    };
    let (fresh, taken) = (key("fresh"), key("taken"));
    // `taken` exists, so its write (expecting no stream) is refused, and `fresh` with it.
    let batch = CommitBatch::new(vec![first_write(&fresh), first_write(&taken)]);
    let result = backend.commit(batch).await;
    assert!(
        matches!(&result, Err(StoreError::Conflict { key, .. }) if key == &taken),
        "the refused write names its stream: {result:?}"
    );
    assert_log_unchanged(&backend, &before, "a refused multi-stream commit").await;
    let row = backend
        .load_state(&fresh)
        .await
        .expect("read the state row");
    assert!(
        row.is_none(),
        "the write before the refused one was kept: {row:?}"
    );
}
