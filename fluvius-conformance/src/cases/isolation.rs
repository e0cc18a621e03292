//! A command's answer depends only on itself and the committed history (design D14): a caller
//! that stops waiting, an action that panics, or a refusal decided in a batch never changes
//! another command's answer.

use std::sync::Arc;
use std::time::Duration;

use fluvius_core::{Backend, Domain, Error};
use serde_json::json;

use crate::domain::{self, Account};
use crate::gate::GatedBackend;
use crate::support::{account, command, deposit, fails, global_log, open_account};

/// Spawns a JSON command on the domain and returns its join handle.
fn spawn(
    domain: &Domain,
    key: &str,
    payload: serde_json::Value,
    id: &str,
) -> tokio::task::JoinHandle<Result<fluvius_core::Response, Error>> {
    let domain = domain.clone();
    let command = command(&domain, key, payload, ("account", id));
    tokio::spawn(async move { domain.process_command(command).await })
}

/// Gives spawned commands time to reach their stream's queue.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// The caller driving a batch is cancelled while its commit is in flight; the commands queued
/// behind it are all answered, and its own command is neither lost nor applied twice.
pub async fn cancelled_caller_changes_no_other_answer(backend: Arc<dyn Backend>) {
    let gate = GatedBackend::new(backend.clone());
    let domain = domain::domain(gate.clone());
    open_account(&domain, "a", "ann", 100).await;

    gate.close();
    let impatient = spawn(&domain, "deposit", json!({"amount": 1}), "a");
    gate.arrivals(1).await;
    let others: Vec<_> = (0..15)
        .map(|_| spawn(&domain, "deposit", json!({"amount": 1}), "a"))
        .collect();
    settle().await;
    impatient.abort();
    assert!(
        impatient.await.is_err_and(|e| e.is_cancelled()),
        "the impatient caller should have been cancelled while its commit waited"
    );
    gate.open();
    for (n, other) in others.into_iter().enumerate() {
        let answer = other.await.expect("a queued caller's task failed");
        if let Err(err) = answer {
            panic!("queued deposit #{n} failed after another caller was cancelled: {err}");
        }
    }
    let state: Account = account(&domain, "a").await;
    assert_eq!(
        state.balance, 116,
        "the cancelled caller's deposit must commit exactly once, with the 15 others"
    );
    assert_eq!(global_log(&backend).await.len(), 17);
}

/// An action panics in the middle of a batch: that command gets an error naming the action, the
/// others commit, and the next command on the stream works.
pub async fn panicking_action_fails_only_itself(backend: Arc<dyn Backend>) {
    let gate = GatedBackend::new(backend.clone());
    let domain = domain::domain(gate.clone());
    open_account(&domain, "a", "ann", 100).await;

    // Alone on its stream.
    let err = fails(
        &domain,
        command(
            &domain,
            "explode",
            json!({"message": "boom"}),
            ("account", "a"),
        ),
    )
    .await;
    assert!(
        matches!(&err, Error::ActionPanicked { command, action, message }
            if command == "explode" && *action == "explode" && message == "boom"),
        "a panicking action should fail with ActionPanicked naming it, got {err:?}"
    );

    // In a batch with others.
    gate.close();
    let first = spawn(&domain, "deposit", json!({"amount": 1}), "a");
    gate.arrivals(1).await;
    let before = spawn(&domain, "deposit", json!({"amount": 2}), "a");
    let boom = spawn(&domain, "explode", json!({"message": "in a batch"}), "a");
    let after = spawn(&domain, "deposit", json!({"amount": 3}), "a");
    settle().await;
    gate.open();
    for (what, task) in [("first", first), ("before", before), ("after", after)] {
        let answer = task.await.expect("a depositing task failed");
        if let Err(err) = answer {
            panic!("deposit `{what}` failed beside a panicking action: {err}");
        }
    }
    let answer = boom
        .await
        .expect("the panic must not reach the caller's task");
    assert!(
        matches!(&answer, Err(Error::ActionPanicked { message, .. }) if message == "in a batch"),
        "{answer:?}"
    );
    deposit(&domain, "a", 4).await;
    assert_eq!(account(&domain, "a").await.balance, 110);
}

/// Two withdrawals are decided in one batch against a cached head that another domain has moved
/// on; the first would leave too little for the second. The commit conflicts, and both are
/// decided again against the committed history, where both are covered: neither is refused on
/// the strength of a balance the log never had.
pub async fn refusals_wait_for_their_commit(backend: Arc<dyn Backend>) {
    let gate = GatedBackend::new(backend.clone());
    let here = domain::domain(gate.clone());
    let there = domain::domain(backend.clone());
    open_account(&here, "a", "ann", 100).await;
    deposit(&here, "a", 1).await;

    gate.close();
    let first = spawn(&here, "deposit", json!({"amount": 1}), "a");
    gate.arrivals(1).await;
    let large = spawn(&here, "withdraw", json!({"amount": 101}), "a");
    let small = spawn(&here, "withdraw", json!({"amount": 50}), "a");
    settle().await;
    // The deposit commits; the two withdrawals are then decided against 102 (the second
    // refused: 1 left) and wait at the gate while the other domain deposits 1000.
    gate.let_through(1);
    gate.arrivals(2).await;
    deposit(&there, "a", 1000).await;
    gate.open();

    first
        .await
        .expect("task")
        .unwrap_or_else(|err| panic!("the first deposit failed: {err}"));
    large
        .await
        .expect("task")
        .unwrap_or_else(|err| panic!("withdrawing 101 from 1102 failed: {err}"));
    small
        .await
        .expect("task")
        .unwrap_or_else(|err| panic!("withdrawing 50 from 1001 was refused: {err}"));
    assert_eq!(account(&there, "a").await.balance, 951);
}

/// Two domains on one store hammer one stream with plain commands (no expected version): with
/// backoff, every command commits and none is lost.
pub async fn hot_stream_across_domains(backend: Arc<dyn Backend>) {
    const TASKS: usize = 16;
    const PER_TASK: usize = 500;
    let first = domain::domain(backend.clone());
    let second = domain::domain(backend.clone());
    open_account(&first, "hot", "ann", 100).await;
    let mut tasks = Vec::new();
    for n in 0..2 * TASKS {
        let domain = if n % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        tasks.push(tokio::spawn(async move {
            let mut failed = Vec::new();
            for _ in 0..PER_TASK {
                let cmd = command(&domain, "deposit", json!({"amount": 1}), ("account", "hot"));
                if let Err(err) = domain.process_command(cmd).await {
                    failed.push(err);
                }
            }
            failed
        }));
    }
    let mut failed = Vec::new();
    for task in tasks {
        failed.extend(task.await.expect("a writer task failed"));
    }
    assert!(
        failed.is_empty(),
        "{} of {} commands failed, the first: {}",
        failed.len(),
        2 * TASKS * PER_TASK,
        failed[0]
    );
    let expected = 100 + (2 * TASKS * PER_TASK) as i64;
    assert_eq!(account(&first, "hot").await.balance, expected);
    assert_eq!(account(&second, "hot").await.balance, expected);
}
