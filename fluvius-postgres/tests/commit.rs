//! The write path beyond what the conformance suite drives: batches of several writes, chained
//! writes of one stream, renumbering, zero-event writes, the errors and their contents, big
//! batches, snapshot intervals and the read-replica switch.

mod support;

use std::sync::Arc;

use fluvius_core::{Backend, CommitBatch, Error, ExpectedVersion, StoreError, StreamRange};
use serde_json::json;
use support::{TestDb, count, key, record, write};
use uuid::Uuid;

#[tokio::test]
async fn a_batch_chains_writes_of_one_stream_and_renumbers_any() {
    let db = TestDb::create().await;
    let backend = db.backend().await;
    let a = key("t", "acc", "a");
    let b = key("t", "acc", "b");
    let batch = CommitBatch::new(vec![
        write(&a, ExpectedVersion::NoStream, 2),
        write(&b, ExpectedVersion::NoStream, 1),
        write(&a, ExpectedVersion::Exact(2), 1),
    ]);
    let receipt = backend.commit(batch).await.expect("commit");
    let flat: Vec<u64> = receipt.positions.iter().flatten().copied().collect();
    assert_eq!(
        receipt.positions.iter().map(Vec::len).collect::<Vec<_>>(),
        [2, 1, 1]
    );
    assert!(
        flat.windows(2).all(|w| w[0] < w[1]),
        "positions follow batch order: {flat:?}"
    );
    let head = backend.load_state(&a).await.expect("load").expect("row");
    assert_eq!(head.version, 3);
}

#[tokio::test]
async fn a_refused_batch_writes_nothing_and_says_why() {
    let db = TestDb::create().await;
    let backend = db.backend().await;
    let pool = db.pool(1).await;
    let a = key("", "acc", "a");
    let b = key("", "acc", "b");
    backend
        .commit(CommitBatch::single(write(&a, ExpectedVersion::NoStream, 2)))
        .await
        .expect("setup");

    let stale = CommitBatch::new(vec![
        write(&b, ExpectedVersion::NoStream, 1),
        write(&a, ExpectedVersion::Exact(1), 1),
    ]);
    let err = backend.commit(stale).await.expect_err("a stale write");
    assert_eq!(
        err,
        StoreError::Conflict {
            key: a.clone(),
            expected: ExpectedVersion::Exact(1),
            actual: 2
        }
    );
    assert_eq!(
        Error::from(err).to_string(),
        Error::VersionConflict {
            resource: "acc".into(),
            id: "a".into(),
            expected: 1,
            actual: 2
        }
        .to_string()
    );
    assert!(
        backend.load_state(&b).await.expect("load").is_none(),
        "b was not written"
    );

    let id = Uuid::new_v4();
    let mut first = write(&b, ExpectedVersion::NoStream, 0);
    first.idempotency.push(record(&b, id));
    backend
        .commit(CommitBatch::single(first))
        .await
        .expect("a zero-event write");
    assert_eq!(
        count(&pool, "events").await,
        2,
        "a zero-event write appends nothing"
    );
    assert!(
        backend.load_state(&b).await.expect("load").is_none(),
        "nor a state row"
    );
    assert!(
        backend.idempotency("", id).await.expect("record").is_some(),
        "only its record"
    );

    let mut again = write(&b, ExpectedVersion::NoStream, 1);
    again.idempotency.push(record(&b, id));
    let err = backend
        .commit(CommitBatch::single(again))
        .await
        .expect_err("duplicate");
    assert_eq!(
        err,
        StoreError::DuplicateCommandId {
            tenant: String::new(),
            command_id: id
        }
    );

    let other = Uuid::new_v4();
    let mut twice = write(&b, ExpectedVersion::NoStream, 1);
    twice
        .idempotency
        .extend([record(&b, other), record(&b, other)]);
    let err = backend
        .commit(CommitBatch::single(twice))
        .await
        .expect_err("repeated id");
    assert!(
        matches!(err, StoreError::DuplicateCommandId { command_id, .. } if command_id == other)
    );

    let mut gap = write(&b, ExpectedVersion::NoStream, 2);
    std::sync::Arc::make_mut(&mut gap.events)[1].version = 5;
    let err = backend
        .commit(CommitBatch::single(gap))
        .await
        .expect_err("a gap");
    assert!(err.to_string().contains("without gaps"), "{err}");

    let mut astray = write(&b, ExpectedVersion::NoStream, 1);
    std::sync::Arc::make_mut(&mut astray.events)[0].identifier = "elsewhere".into();
    let err = backend
        .commit(CommitBatch::single(astray))
        .await
        .expect_err("astray");
    assert!(err.to_string().contains("addressed to stream"), "{err}");

    assert_eq!(
        count(&pool, "events").await,
        2,
        "no refused write appended anything"
    );
    assert_eq!(count(&pool, "idempotency").await, 1);
}

#[tokio::test]
async fn a_big_import_is_one_statement_in_version_order() {
    let db = TestDb::create().await;
    let backend = db.backend().await.snapshot_every(1_000);
    let a = key("", "acc", "big");
    let receipt = backend
        .commit(CommitBatch::single(write(
            &a,
            ExpectedVersion::NoStream,
            20_000,
        )))
        .await
        .expect("commit 20,000 events");
    let positions = &receipt.positions[0];
    assert_eq!(positions.len(), 20_000);
    let events = backend
        .read_stream(&a, StreamRange::all())
        .await
        .expect("read");
    let pairs: Vec<(u64, u64)> = events.iter().map(|e| (e.version, e.position)).collect();
    let want: Vec<(u64, u64)> = (1..=20_000).zip(positions.iter().copied()).collect();
    assert_eq!(
        pairs, want,
        "versions 1.. in position order, as the receipt says"
    );
    let pool = db.pool(1).await;
    assert_eq!(
        count(&pool, "snapshots").await,
        1,
        "one snapshot for a write crossing many"
    );
    let snapshot = backend
        .load_snapshot(&a, StreamRange::all().up_to(19_999))
        .await
        .expect("snapshot");
    assert!(snapshot.is_none(), "the only snapshot is at 20,000");
}

#[tokio::test]
async fn snapshots_follow_the_interval() {
    let db = TestDb::create().await;
    let pool = db.pool(1).await;
    for (every, want) in [(0, 0), (3, 3)] {
        let backend = db.backend().await.snapshot_every(every);
        let a = key("", &format!("every{every}"), "a");
        for version in 0..10 {
            let expected = if version == 0 {
                ExpectedVersion::NoStream
            } else {
                ExpectedVersion::Exact(version)
            };
            backend
                .commit(CommitBatch::single(write(&a, expected, 1)))
                .await
                .expect("commit");
        }
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM fluvius.snapshots WHERE resource = $1")
                .bind(&a.resource)
                .fetch_one(&pool)
                .await
                .expect("count");
        assert_eq!(n, want, "snapshot_every({every})");
        if every > 0 {
            let s = backend
                .load_snapshot(&a, StreamRange::all().up_to(8))
                .await
                .expect("load");
            assert_eq!(s.map(|s| (s.version, s.state)), Some((6, json!({"n": 6}))));
        }
    }
}

#[tokio::test]
async fn the_state_manager_reads_through_the_read_pool() {
    let primary = TestDb::create().await;
    let replica = TestDb::create().await;
    let _ = replica.backend().await; // migrated, and empty
    let backend = primary
        .backend()
        .await
        .with_read_pool(replica.pool(2).await);
    assert!(format!("{backend:?}").contains("read_replica: true"));
    let domain = fluvius_conformance::domain::domain(Arc::new(backend.clone()));
    let open = domain
        .create_command(
            "open-account",
            json!({"owner": "r", "initial": 5, "tags": []}),
            ("account", "r1"),
        )
        .expect("route");
    domain
        .process_command(open)
        .await
        .expect("commands use the primary");
    let read = domain.statemgr().fetch_json("account", "r1").await;
    assert!(
        read.is_err(),
        "the replica (still empty here) answered the read: {read:?}"
    );
    assert!(backend.read_replica().is_some());
    assert!(db_has_account(&primary).await);
}

async fn db_has_account(db: &TestDb) -> bool {
    count(&db.pool(1).await, "states").await == 1
}
