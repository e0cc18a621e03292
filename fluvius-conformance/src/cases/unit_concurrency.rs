//! Units of commands under concurrency: stale caches, races with single commands and with
//! another domain on the same store, callers that give up, and streams kept busy.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use fluvius_core::{Backend, Domain};

use super::units::{assert_gapless, balance, deposit_cmd, failed_at, transfer, unit};
use crate::domain;
use crate::gate::GatedBackend;
use crate::support::{account, deposit, global_log, open_account};

/// A domain whose cached head of the second stream of a unit is stale (another domain wrote it)
/// commits the unit after one retry, and the first stream gets the unit's events once.
pub async fn stale_stream_in_unit(backend: Arc<dyn Backend>) {
    let first = domain::domain(backend.clone());
    let second = domain::domain(backend.clone());
    open_account(&first, "a", "ann", 100).await;
    open_account(&first, "b", "bob", 0).await;
    deposit(&first, "a", 1).await;
    deposit(&first, "b", 1).await;
    deposit(&second, "b", 1).await; // first's head of `b` is stale now

    let answers = unit(&first, transfer(&first, "a", "b", 10)).await;
    assert_eq!((answers[0].version, balance(&answers[0])), (3, 91));
    assert_eq!((answers[1].version, balance(&answers[1])), (4, 12));
    assert_eq!(account(&second, "a").await.balance, 91, "withdrawn once");
    assert_eq!(account(&second, "b").await.balance, 12);
    assert_eq!(assert_gapless(&first, "a").await, 3);
    assert_eq!(assert_gapless(&first, "b").await, 4);
    assert!(
        first.stats().conflict_retries >= 1,
        "the unit was decided again"
    );
    assert_eq!(global_log(&backend).await.len(), 7);
}

/// Transfers as units and single deposits race on the same accounts from many tasks: every
/// answer is exact, no money is made or lost, and the streams stay gapless.
pub async fn units_race_single_commands(backend: Arc<dyn Backend>) {
    race(vec![domain::domain(backend.clone())], &backend).await;
}

/// The same race from two domains on one store, as two processes: conflicts between them are
/// retried, whole units at a time.
pub async fn units_across_domains(backend: Arc<dyn Backend>) {
    let build = || {
        domain::builder(backend.clone())
            .max_retries(1000)
            .finish()
            .expect("the test domain is well formed")
    };
    race(vec![build(), build()], &backend).await;
}

async fn race(domains: Vec<Domain>, backend: &Arc<dyn Backend>) {
    const ACCOUNTS: usize = 4;
    const ROUNDS: usize = 12;
    let ids: Vec<String> = (0..ACCOUNTS).map(|i| format!("acc-{i}")).collect();
    for id in &ids {
        open_account(&domains[0], id, "race", 50).await;
    }
    let mut tasks = Vec::new();
    for task in 0..16usize {
        let domain = domains[task % domains.len()].clone();
        let ids = ids.clone();
        tasks.push(tokio::spawn(async move {
            // Per account: the deposits made, and the net of the transfers that committed.
            let mut net = [0i64; ACCOUNTS];
            let mut deposits = 0usize;
            let mut transfers = 0usize;
            for round in 0..ROUNDS {
                let from = (task + round) % ACCOUNTS;
                let to = (task * 3 + round + 1) % ACCOUNTS;
                if task % 4 == 0 || from == to {
                    let answer = domain
                        .process_command(deposit_cmd(&domain, &ids[from], 1))
                        .await
                        .unwrap_or_else(|err| panic!("deposit failed: {err}"));
                    assert_eq!(answer.events.len(), 1);
                    net[from] += 1;
                    deposits += 1;
                    continue;
                }
                let amount = (round % 7 + 1) as i64 * 5;
                match domain
                    .process_unit(transfer(&domain, &ids[from], &ids[to], amount))
                    .await
                {
                    Ok(answers) => {
                        assert_eq!(answers.len(), 2);
                        assert_eq!(answers[0].events[0].version, answers[0].version);
                        net[from] -= amount;
                        net[to] += amount;
                        transfers += 1;
                    }
                    // Not enough money at that moment: the whole transfer was refused.
                    Err(err) => {
                        let cause = failed_at(&err, 0, "withdraw");
                        assert_eq!(cause.code(), "rule", "{err}");
                    }
                }
            }
            (net, deposits, transfers)
        }));
    }
    let mut net = [0i64; ACCOUNTS];
    let (mut deposits, mut transfers) = (0, 0);
    for task in tasks {
        let (n, d, t) = task.await.expect("a racing task panicked");
        for (total, own) in net.iter_mut().zip(n) {
            *total += own;
        }
        deposits += d;
        transfers += t;
    }
    assert!(transfers > 0, "some transfers committed");
    let mut events = ACCOUNTS;
    for (i, id) in ids.iter().enumerate() {
        let state = account(&domains[0], id).await;
        assert_eq!(
            state.balance,
            50 + net[i],
            "`{id}` holds what its answers say"
        );
        events += assert_gapless(&domains[0], id).await as usize - 1;
    }
    let total: i64 = net.iter().sum();
    assert_eq!(
        total, deposits as i64,
        "transfers neither made nor lost money"
    );
    assert_eq!(events, ACCOUNTS + deposits + 2 * transfers);
    assert_eq!(global_log(backend).await.len(), events);
}

/// A unit whose caller stops waiting while its commit is held writes nothing, and the commands
/// queued behind it on its streams are all answered.
pub async fn cancelled_unit_changes_no_other_answer(backend: Arc<dyn Backend>) {
    let gate = GatedBackend::new(backend.clone());
    let bank = domain::domain(gate.clone());
    open_account(&bank, "a", "ann", 100).await;
    open_account(&bank, "b", "bob", 100).await;
    gate.close();
    let held = {
        let bank = bank.clone();
        let commands = transfer(&bank, "a", "b", 40);
        tokio::spawn(async move { bank.process_unit(commands).await })
    };
    gate.arrivals(1).await;
    let mut queued = Vec::new();
    for id in ["a", "b", "a", "b"] {
        let bank = bank.clone();
        let command = deposit_cmd(&bank, id, 1);
        queued.push(tokio::spawn(
            async move { bank.process_command(command).await },
        ));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    held.abort();
    assert!(
        held.await.is_err_and(|e| e.is_cancelled()),
        "the unit's caller was cancelled"
    );
    gate.open();
    let mut versions: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for answer in queued {
        let response = answer
            .await
            .expect("a queued task")
            .unwrap_or_else(|err| panic!("a deposit queued behind a cancelled unit: {err}"));
        versions
            .entry(response.root.id.clone())
            .or_default()
            .push(response.version);
    }
    for (id, mut got) in versions {
        got.sort();
        assert_eq!(got, vec![2, 3], "`{id}`: the unit was not written");
        assert_eq!(account(&bank, &id).await.balance, 102);
    }
    assert_eq!(global_log(&backend).await.len(), 6);
}

/// A unit on a stream whose queue never runs dry (more deposits are queued on it at every moment
/// than one batch of the stream's driver takes) still gets its turn: the driver lets it in
/// between two batches instead of working through a queue that keeps refilling.
pub async fn busy_stream_lets_a_unit_in(backend: Arc<dyn Backend>) {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    let bank = domain::domain(backend.clone());
    open_account(&bank, "hot", "hot", 100).await;
    open_account(&bank, "cold", "cold", 0).await;
    let stop = Arc::new(AtomicBool::new(false));
    let made = Arc::new(AtomicU64::new(0));
    // Open loop: up to 600 deposits in flight, a new one as soon as one is answered.
    let in_flight = Arc::new(tokio::sync::Semaphore::new(600));
    let producer = {
        let (bank, stop, made, in_flight) =
            (bank.clone(), stop.clone(), made.clone(), in_flight.clone());
        tokio::spawn(async move {
            let mut deposits = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let permit = in_flight
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("open semaphore");
                let (bank, made) = (bank.clone(), made.clone());
                deposits.push(tokio::spawn(async move {
                    bank.process_command(deposit_cmd(&bank, "hot", 1))
                        .await
                        .unwrap_or_else(|err| panic!("a hot deposit failed: {err}"));
                    made.fetch_add(1, Ordering::SeqCst);
                    drop(permit);
                }));
            }
            for deposit in deposits {
                deposit.await.expect("a hot deposit's task");
            }
        })
    };
    // Let the backlog build up past one batch.
    while in_flight.available_permits() > 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let moved = tokio::time::timeout(
        Duration::from_secs(20),
        bank.process_unit(transfer(&bank, "hot", "cold", 10)),
    )
    .await;
    stop.store(true, Ordering::SeqCst);
    producer.await.expect("the producer");
    let moved = moved
        .expect("the unit waited on the busy stream for 20 s")
        .unwrap_or_else(|err| panic!("the unit failed: {err}"));
    assert_eq!(balance(&moved[1]), 10);
    let made = made.load(Ordering::SeqCst);
    assert!(
        moved[0].version < 2 + made,
        "the unit went in while deposits were queued"
    );
    assert_eq!(account(&bank, "hot").await.balance, 100 + made as i64 - 10);
    assert_eq!(assert_gapless(&bank, "hot").await, 2 + made);
}

/// A unit given up while it waits for a stream that a batch holds (its caller cancelled) leaves
/// nothing behind: the stream's driver goes on with the commands queued after it.
pub async fn unit_given_up_while_waiting(backend: Arc<dyn Backend>) {
    let gate = GatedBackend::new(backend.clone());
    let bank = domain::domain(gate.clone());
    open_account(&bank, "a", "ann", 100).await;
    open_account(&bank, "b", "bob", 100).await;
    gate.close();
    let spawn_deposit = |id: &str| {
        let bank = bank.clone();
        let command = deposit_cmd(&bank, id, 1);
        tokio::spawn(async move { bank.process_command(command).await })
    };
    let held = spawn_deposit("a");
    gate.arrivals(1).await;
    let queued: Vec<_> = (0..3).map(|_| spawn_deposit("a")).collect();
    let waiting = {
        let bank = bank.clone();
        let commands = transfer(&bank, "b", "a", 40);
        tokio::spawn(async move { bank.process_unit(commands).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    waiting.abort();
    assert!(
        waiting.await.is_err_and(|e| e.is_cancelled()),
        "the unit waited for `a`, whose batch is held at the gate"
    );
    gate.open();
    let mut versions = vec![held.await.expect("task").expect("the held deposit").version];
    for deposit in queued {
        let answer = tokio::time::timeout(Duration::from_secs(10), deposit)
            .await
            .expect("a deposit queued behind a given-up unit was left waiting")
            .expect("task");
        versions.push(answer.expect("a queued deposit").version);
    }
    versions.sort();
    assert_eq!(versions, vec![2, 3, 4, 5]);
    assert_eq!(account(&bank, "a").await.balance, 104);
    assert_eq!(
        account(&bank, "b").await.balance,
        100,
        "the unit wrote nothing"
    );
    // Both streams take commands and units again.
    let moved = unit(&bank, transfer(&bank, "b", "a", 40)).await;
    assert_eq!((moved[0].version, moved[1].version), (2, 6));
}
