//! Commits: what is written, and that a refused batch writes nothing at all.

use fluvius_core::{Backend, CommitBatch, ExpectedVersion, StoreError, StreamRange};
use serde_json::json;
use uuid::Uuid;

use super::{at, commit_one, doc, key, log, positions, record, state, versions, write};
use crate::MemBackend;

#[tokio::test]
async fn commit_then_read_back_events_positions_and_state() {
    let backend = MemBackend::new();
    let (a, b) = (key("", "a"), key("", "b"));
    let receipt = commit_one(&backend, write(&a, 0, 2)).await.unwrap();
    assert_eq!(receipt.positions, vec![vec![1, 2]]);
    let batch = CommitBatch::new(vec![write(&b, 0, 1), write(&a, 2, 2)]);
    let receipt = backend.commit(batch).await.unwrap();
    assert_eq!(receipt.positions, vec![vec![3], vec![4, 5]]);

    let all = log(&backend).await;
    assert_eq!(positions(&all), vec![1, 2, 3, 4, 5]);
    let owners: Vec<&str> = all.iter().map(|e| e.identifier.as_str()).collect();
    assert_eq!(owners, vec!["a", "a", "b", "a", "a"]);

    let events = backend.read_stream(&a, StreamRange::all()).await.unwrap();
    assert_eq!(versions(&events), vec![1, 2, 3, 4]);
    assert_eq!(positions(&events), vec![1, 2, 4, 5]);
    assert_eq!(events[3].payload, json!({ "amount": 4 }));

    let row = backend.load_state(&a).await.unwrap().expect("a state row");
    assert_eq!(row.version, 4);
    assert_eq!(doc(&row.state), json!({ "balance": 4 }));
    assert_eq!(
        row.created_at,
        at(2),
        "created_at stays that of the first write"
    );
    assert_eq!(row.updated_at, at(4));
    assert_eq!(row.updated_by.as_deref(), Some("tester"));
    assert!(backend.load_state(&key("", "c")).await.unwrap().is_none());
}

#[tokio::test]
async fn a_conflict_rejects_the_whole_batch_and_writes_nothing() {
    let backend = MemBackend::new();
    let (a, b) = (key("", "a"), key("", "b"));
    commit_one(&backend, write(&b, 0, 1)).await.unwrap();

    let mut fresh = write(&a, 0, 2);
    fresh.idempotency.push(record(&a, Uuid::now_v7(), 0));
    let stale = write(&b, 0, 1);
    let err = backend
        .commit(CommitBatch::new(vec![fresh.clone(), stale]))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        StoreError::Conflict {
            key: b.clone(),
            expected: ExpectedVersion::NoStream,
            actual: 1,
        }
    );
    assert_eq!(log(&backend).await.len(), 1);
    assert!(backend.load_state(&a).await.unwrap().is_none());
    assert!(
        backend
            .read_stream(&a, StreamRange::all())
            .await
            .unwrap()
            .is_empty()
    );
    let id = fresh.idempotency[0].command_id;
    assert!(backend.idempotency("", id).await.unwrap().is_none());
    assert_eq!(backend.load_state(&b).await.unwrap().unwrap().version, 1);
}

#[tokio::test]
async fn a_duplicate_command_id_rejects_the_batch_and_writes_nothing() {
    let backend = MemBackend::new();
    let (a, b) = (key("t", "a"), key("t", "b"));
    let id = Uuid::now_v7();
    let mut first = write(&a, 0, 1);
    first.idempotency.push(record(&a, id, 0));
    commit_one(&backend, first).await.unwrap();

    let mut again = write(&b, 0, 1);
    again.idempotency.push(record(&b, id, 5));
    let err = commit_one(&backend, again).await.unwrap_err();
    let duplicate = StoreError::DuplicateCommandId {
        tenant: "t".into(),
        command_id: id,
    };
    assert_eq!(err, duplicate);
    assert_eq!(log(&backend).await.len(), 1);
    assert!(backend.load_state(&b).await.unwrap().is_none());
    let kept = backend.idempotency("t", id).await.unwrap().unwrap();
    assert_eq!(kept.recorded_at, at(0), "the first record is kept");

    // Within one batch too.
    let other = Uuid::now_v7();
    let mut one = write(&b, 0, 1);
    one.idempotency.push(record(&b, other, 0));
    let mut two = write(&key("t", "c"), 0, 1);
    two.idempotency.push(record(&b, other, 0));
    let err = backend
        .commit(CommitBatch::new(vec![one, two]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::DuplicateCommandId { command_id, .. } if command_id == other)
    );
    assert_eq!(log(&backend).await.len(), 1);
    assert!(backend.idempotency("t", other).await.unwrap().is_none());
}

#[tokio::test]
async fn no_stream_on_an_existing_stream_is_a_conflict() {
    let backend = MemBackend::new();
    let a = key("", "a");
    commit_one(&backend, write(&a, 0, 3)).await.unwrap();
    let err = commit_one(&backend, write(&a, 0, 1)).await.unwrap_err();
    assert_eq!(
        err,
        StoreError::Conflict {
            key: a.clone(),
            expected: ExpectedVersion::NoStream,
            actual: 3,
        }
    );
    let err = commit_one(&backend, write(&a, 2, 1)).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { actual: 3, .. }));
    assert_eq!(log(&backend).await.len(), 3);
}

#[tokio::test]
async fn writes_to_one_stream_in_a_batch_chain() {
    let backend = MemBackend::new();
    let a = key("", "a");
    let batch = CommitBatch::new(vec![write(&a, 0, 1), write(&a, 1, 2)]);
    let receipt = backend.commit(batch).await.unwrap();
    assert_eq!(receipt.positions, vec![vec![1], vec![2, 3]]);
    assert_eq!(backend.load_state(&a).await.unwrap().unwrap().version, 3);

    // The second write is checked against the head the first leaves, not the stored one.
    let batch = CommitBatch::new(vec![write(&a, 3, 1), write(&a, 3, 1)]);
    let err = backend.commit(batch).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { actual: 4, .. }));
    assert_eq!(log(&backend).await.len(), 3);
}

#[tokio::test]
async fn a_write_without_events_checks_the_version_and_records_the_command() {
    let backend = MemBackend::new();
    let a = key("", "a");
    commit_one(&backend, write(&a, 0, 1)).await.unwrap();
    let id = Uuid::now_v7();
    let mut empty = write(&a, 1, 0);
    empty.state = state(1, json!({ "ignored": true }));
    empty.idempotency.push(record(&a, id, 0));
    let receipt = commit_one(&backend, empty).await.unwrap();
    assert_eq!(receipt.positions, vec![Vec::<u64>::new()]);
    assert!(backend.idempotency("", id).await.unwrap().is_some());
    let row = backend.load_state(&a).await.unwrap().unwrap();
    assert_eq!(
        doc(&row.state),
        json!({ "balance": 1 }),
        "the row is left as is"
    );

    let err = commit_one(&backend, write(&a, 5, 0)).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { actual: 1, .. }));
    // No events on a new stream: no state row either.
    commit_one(&backend, write(&key("", "b"), 0, 0))
        .await
        .unwrap();
    assert!(backend.load_state(&key("", "b")).await.unwrap().is_none());
}

#[tokio::test]
async fn events_must_continue_their_stream_and_name_it() {
    let backend = MemBackend::new();
    let a = key("", "a");
    let mut gap = write(&a, 0, 2);
    std::sync::Arc::make_mut(&mut gap.events)[1].version = 3;
    let err = commit_one(&backend, gap).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Invalid(m) if m.contains("without gaps")),
        "{err}"
    );

    let mut stray = write(&a, 0, 1);
    std::sync::Arc::make_mut(&mut stray.events)[0].tenant = "intruder".into();
    let err = commit_one(&backend, stray).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Invalid(m) if m.contains("addressed to")),
        "{err}"
    );
    assert!(log(&backend).await.is_empty());
}
