//! The durable command queue, on memory and on PostgreSQL: queued commands run once each
//! through the domain; broken rules, unknown commands and malformed payloads fail for good at
//! once; an unavailable store is retried and, past the attempts allowed, parked until an
//! operator retries it; a cancelled command never runs; a runner that died after committing is
//! taken over when its claim expires and the command still applies once; several runners share
//! one PostgreSQL queue.

mod common;
#[path = "../../fluvius-postgres/tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use fluvius_conformance::domain::{NAMESPACE, domain};
use fluvius_conformance::support::account;
use fluvius_conformance::wrap::{Hooks, Wrapped};
use fluvius_core::{AggRoot, Backend, BoxFuture, CommitBatch, CommitReceipt, StoreError};
use fluvius_memory::MemBackend;
use fluvius_readside::postgres::PgCommandQueue;
use fluvius_readside::{
    CommandQueue, MemCommandQueue, QueueOutcome, QueueRunner, QueueStatus, QueuedCommand, Retry,
};
use parking_lot::Mutex;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);

/// Fails the next `fail_next` commits, and every commit to the account named `doomed`, as an
/// unavailable store would (nothing written).
#[derive(Debug, Default)]
struct Flaky {
    fail_next: AtomicU32,
    doomed: Mutex<Option<String>>,
}

impl Hooks for Flaky {
    fn commit<'a>(
        &'a self,
        inner: &'a dyn Backend,
        batch: CommitBatch,
    ) -> BoxFuture<'a, Result<CommitReceipt, StoreError>> {
        let doomed = self.doomed.lock().clone();
        let hit = batch
            .streams
            .iter()
            .any(|s| doomed.as_deref() == Some(s.key.id.as_str()));
        let flake = !hit
            && self
                .fail_next
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
        if hit || flake {
            return Box::pin(std::future::ready(Err(StoreError::unavailable(
                "the store is down for this test",
                None,
            ))));
        }
        inner.commit(batch)
    }
}

fn queued(command: &str, id: &str, payload: serde_json::Value) -> QueuedCommand {
    QueuedCommand::new(NAMESPACE, command, AggRoot::new("account", id), payload)
}

fn quick() -> Retry {
    Retry::new(3, Duration::from_millis(5), Duration::from_millis(20))
}

async fn scenario(backend: Arc<dyn Backend>, queue: Arc<dyn CommandQueue>) {
    let flaky = Wrapped::around(backend, Flaky::default());
    flaky.fail_next.store(2, Ordering::SeqCst);
    *flaky.doomed.lock() = Some("a-doomed".into());
    let bank = domain(flaky.clone());

    let open = queued(
        "open-account",
        "a-1",
        json!({"owner": "ann", "initial": 10, "tags": []}),
    );
    // Everything else waits for the account to be open (its first two commits fail).
    let soon = chrono::Utc::now() + chrono::Duration::milliseconds(500);
    let mut ids = vec![open.id];
    assert!(queue.enqueue(open.clone()).await.unwrap());
    assert!(!queue.enqueue(open).await.unwrap(), "queued twice");
    for amount in 1..=10 {
        let deposit = queued("deposit", "a-1", json!({ "amount": amount })).run_after(soon);
        ids.push(deposit.id);
        queue.enqueue(deposit).await.unwrap();
    }
    let refused = [
        (
            queued("withdraw", "a-1", json!({"amount": 1_000_000})),
            "rule:",
        ),
        (queued("no-such", "a-1", json!({})), "unknown-command:"),
        (
            queued("deposit", "a-1", json!({"amount": "x"})),
            "validation:",
        ),
    ];
    for (command, _) in &refused {
        queue
            .enqueue(command.clone().run_after(soon))
            .await
            .unwrap();
    }
    let doomed = queued(
        "open-account",
        "a-doomed",
        json!({"owner": "dee", "initial": 1, "tags": []}),
    );
    queue.enqueue(doomed.clone()).await.unwrap();
    let later = queued("deposit", "a-1", json!({"amount": 1000}))
        .run_after(chrono::Utc::now() + chrono::Duration::hours(1));
    queue.enqueue(later.clone()).await.unwrap();
    assert!(queue.cancel(later.id, "not wanted").await.unwrap());

    let runner = QueueRunner::new(bank.clone(), queue.clone())
        .owner("runner-1")
        .poll_every(Duration::from_millis(10))
        .retry(quick())
        .spawn()
        .unwrap();
    for id in &ids {
        let done = runner.wait_for(*id, WAIT).await.unwrap();
        assert_eq!(done.status, QueueStatus::Done, "{done:?}");
        assert_eq!(done.outcome.as_ref().unwrap()["replayed"], json!(false));
    }
    for (command, code) in &refused {
        let failed = runner.wait_for(command.id, WAIT).await.unwrap();
        assert_eq!(failed.status, QueueStatus::Failed, "{failed:?}");
        assert_eq!(failed.attempts, 1, "a refusal is not retried: {failed:?}");
        let error = failed.last_error.unwrap();
        assert!(error.starts_with(code), "{error}");
    }
    assert_eq!(account(&bank, "a-1").await.balance, 10 + 55);

    // Parked once its attempts ran out; an operator's retry runs it once the store is back.
    let parked = runner.wait_for(doomed.id, WAIT).await.unwrap();
    assert_eq!(
        (parked.status, parked.attempts),
        (QueueStatus::Parked, 3),
        "{parked:?}"
    );
    assert!(parked.last_error.unwrap().starts_with("unavailable:"));
    let listed = queue
        .list(NAMESPACE, QueueStatus::Parked, 10)
        .await
        .unwrap();
    assert_eq!(
        listed.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![doomed.id]
    );
    *flaky.doomed.lock() = None;
    assert!(queue.retry(doomed.id).await.unwrap());
    let done = runner.wait_for(doomed.id, WAIT).await.unwrap();
    assert_eq!((done.status, done.attempts), (QueueStatus::Done, 1));
    assert_eq!(account(&bank, "a-doomed").await.balance, 1);

    let cancelled = queue.get(later.id).await.unwrap().unwrap();
    assert_eq!(cancelled.status, QueueStatus::Cancelled);
    assert_eq!(cancelled.attempts, 0);
    assert!(!queue.retry(later.id).await.unwrap());
    runner.stop().await;

    // A runner that committed and died before recording it: its claim expires, another runner
    // runs the command again with the same id, and the domain replays the first answer.
    let orphan = queued("deposit", "a-1", json!({"amount": 100}));
    queue.enqueue(orphan.clone()).await.unwrap();
    let claimed = queue
        .claim(NAMESPACE, "dead", 10, Duration::from_millis(100))
        .await
        .unwrap();
    assert_eq!(
        claimed.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![orphan.id]
    );
    assert!(
        queue
            .claim(NAMESPACE, "other", 10, Duration::from_millis(100))
            .await
            .unwrap()
            .is_empty(),
        "a claim that holds is left alone"
    );
    let command = bank
        .create_command(
            "deposit",
            json!({"amount": 100}),
            AggRoot::new("account", "a-1"),
        )
        .unwrap()
        .with_id(orphan.id);
    bank.process_command(command).await.unwrap();
    let runner = QueueRunner::new(bank.clone(), queue.clone())
        .owner("runner-2")
        .poll_every(Duration::from_millis(10))
        .spawn()
        .unwrap();
    let done = runner.wait_for(orphan.id, WAIT).await.unwrap();
    assert_eq!(done.status, QueueStatus::Done);
    assert_eq!(done.attempts, 2);
    assert_eq!(done.outcome.unwrap()["replayed"], json!(true));
    assert_eq!(account(&bank, "a-1").await.balance, 10 + 55 + 100);
    assert!(
        !queue
            .finish(orphan.id, "dead", QueueOutcome::Done(json!({})))
            .await
            .unwrap(),
        "a lost claim records nothing"
    );
    runner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_commands_on_memory() {
    scenario(
        Arc::new(MemBackend::new()),
        Arc::new(MemCommandQueue::new()),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_commands_on_postgres() {
    let db = support::TestDb::create().await;
    let backend = Arc::new(
        fluvius_postgres::PgBackend::from_pool(db.pool(8).await)
            .await
            .unwrap(),
    );
    let queue = Arc::new(PgCommandQueue::new(backend.pool().clone()));
    scenario(backend, queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runners_share_one_postgres_queue_and_run_each_command_once() {
    let db = support::TestDb::create().await;
    let backend = Arc::new(
        fluvius_postgres::PgBackend::from_pool(db.pool(12).await)
            .await
            .unwrap(),
    );
    let bank = domain(backend.clone());
    let queue = Arc::new(PgCommandQueue::new(backend.pool().clone()));
    let mut opens = Vec::new();
    for i in 0..10 {
        let open = queued(
            "open-account",
            &format!("s-{i}"),
            json!({"owner": "sam", "initial": 0, "tags": []}),
        );
        opens.push(open.id);
        queue.enqueue(open.clone()).await.unwrap();
    }
    let runners: Vec<_> = (0..3)
        .map(|r| {
            QueueRunner::new(bank.clone(), queue.clone())
                .owner(format!("shared-{r}"))
                .batch_size(8)
                .poll_every(Duration::from_millis(10))
                .retry(Retry::new(
                    20,
                    Duration::from_millis(2),
                    Duration::from_millis(20),
                ))
                .spawn()
                .unwrap()
        })
        .collect();
    for id in &opens {
        let done = runners[0].wait_for(*id, WAIT).await.unwrap();
        assert_eq!(done.status, QueueStatus::Done, "{done:?}");
    }
    // Queued while the runners run: they pick them up.
    let mut ids = Vec::new();
    for n in 0..300 {
        let deposit = queued("deposit", &format!("s-{}", n % 10), json!({"amount": 1}));
        ids.push(deposit.id);
        queue.enqueue(deposit).await.unwrap();
    }
    for id in &ids {
        let done = runners[0].wait_for(*id, WAIT).await.unwrap();
        assert_eq!(done.status, QueueStatus::Done, "{done:?}");
        assert_eq!(done.outcome.unwrap()["replayed"], json!(false));
    }
    for i in 0..10 {
        assert_eq!(account(&bank, &format!("s-{i}")).await.balance, 30);
    }
    assert!(
        queue
            .list(NAMESPACE, QueueStatus::Queued, 10)
            .await
            .unwrap()
            .is_empty()
    );
    for runner in runners {
        runner.stop().await;
    }
}

#[tokio::test]
async fn a_lease_too_long_for_the_clock_claims_without_panicking() {
    let queue = MemCommandQueue::new();
    queue
        .enqueue(queued("deposit", "a-1", json!({"amount": 1})))
        .await
        .unwrap();
    let claimed = queue
        .claim(NAMESPACE, "forever", 1, Duration::MAX)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
}
