//! Subscriptions that read events in their current shape: `upcast_with(&domain)` lifts older
//! schema versions and reads retired keys as the events they stand for, and a consumer filtering
//! on current keys still receives the old events read as them.

use std::sync::Arc;

use fluvius_conformance::ledger;
use fluvius_core::{Backend, Command, Domain};
use fluvius_memory::MemBackend;
use fluvius_readside::{MapProjection, ReadsideError, Subscription};
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Deserialize)]
struct Cents {
    cents: i64,
}

async fn run(domain: &Domain, key: &str, payload: serde_json::Value, id: &str) {
    let command: Command = domain
        .create_command(key, payload, ("ledger", id))
        .expect("the command routes");
    domain
        .process_command(command)
        .await
        .expect("the command succeeds");
}

/// Release 2 writes units and `debited`; release 4 charges in cents.
async fn history(backend: &Arc<dyn Backend>) -> Domain {
    let v2 = ledger::domain_v2(backend.clone());
    run(&v2, "open", json!({"owner": "olga"}), "l-1").await;
    run(&v2, "credit", json!({"amount": 7}), "l-1").await;
    run(&v2, "debit", json!({"amount": 2}), "l-1").await;
    let v4 = ledger::domain_v4(backend.clone());
    run(&v4, "charge", json!({"cents": 50}), "l-1").await;
    v4
}

/// Credits add, charges subtract, in cents, per ledger: only current shapes decode.
fn balances() -> MapProjection<String, i64> {
    MapProjection::new("balances")
        .on_version::<Cents, _>("credited", 2, |map, e, event| {
            map.update(event.identifier.clone(), 0, |b| *b += e.cents);
            Ok(())
        })
        .on::<Cents, _>("charged", |map, e, event| {
            map.update(event.identifier.clone(), 0, |b| *b -= e.cents);
            Ok(())
        })
}

#[tokio::test]
async fn a_subscription_with_upcast_with_reads_old_events_in_their_current_shape() {
    let backend: Arc<dyn Backend> = Arc::new(MemBackend::new());
    let v4 = history(&backend).await;
    let projection = balances();
    let taken = Subscription::new(backend.clone())
        .namespace(ledger::NAMESPACE)
        .upcast_with(&v4)
        .catch_up(&projection)
        .await
        .expect("every event reads in its current shape");
    assert_eq!(
        taken, 3,
        "the credit, the retired debit read as a charge, the charge"
    );
    assert_eq!(projection.get(&"l-1".to_owned()), Some(700 - 200 - 50));
}

#[tokio::test]
async fn without_upcast_with_old_versions_are_refused_not_guessed() {
    let backend: Arc<dyn Backend> = Arc::new(MemBackend::new());
    history(&backend).await;
    let projection = balances();
    let err = Subscription::new(backend.clone())
        .namespace(ledger::NAMESPACE)
        .catch_up(&projection)
        .await
        .expect_err("`credited` v1 is not the version the handler reads");
    match err {
        ReadsideError::Decode {
            evt_key,
            schema_version,
            message,
            ..
        } => {
            assert_eq!((evt_key.as_str(), schema_version), ("credited", 1));
            assert!(
                message.contains("upcast_with"),
                "says the way out: {message}"
            );
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
}
