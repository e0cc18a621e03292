//! Two `bank-worker` processes share the `bank-balances` projection by lease while commands
//! run. In one test one of them is killed with SIGKILL at varying points 20 times (and started
//! again under a new id); in the other one of them is frozen with SIGSTOP past its lease, the
//! other takes over, and the frozen one is woken with SIGCONT still believing it owns the
//! projection, 8 times. Either way, at the end the projected balances equal what a fold of
//! every account's events says, and each event was counted once; and the deposits queued for
//! the workers in `fluvius.command_queue` meanwhile all ran, each applied once.

mod support;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use example_bank::{Account, Banking, Deposit, OpenAccount};
use fluvius::prelude::*;
use fluvius::readside::postgres::{PgCheckpoints, PgCommandQueue};
use fluvius::readside::{CommandQueue, QueueStatus, QueuedCommand};
use fluvius::{LogCursor, PgBackend};

const ACCOUNTS: usize = 10;
const KILLS: usize = 20;
const STOPS: usize = 8;
/// Deposits per account, after its opening.
const ROUNDS: usize = 60;
/// Accounts that queued deposits go to.
const QUEUED_ACCOUNTS: usize = 5;

/// A worker process, killed when dropped: a failing test leaves none behind holding
/// connections.
struct WorkerProcess(Child);

impl std::ops::Deref for WorkerProcess {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for WorkerProcess {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_worker(url: &str, id: &str) -> WorkerProcess {
    WorkerProcess(
        Command::new(env!("CARGO_BIN_EXE_bank-worker"))
            .args(["--postgres", url, "--id", id, "--lease-ms", "300"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the worker starts"),
    )
}

/// A small deterministic sequence of pauses, different for every kill.
fn pause(n: usize) -> Duration {
    Duration::from_millis(40 + ((n * 7919) % 23) as u64 * 10)
}

/// Sends `signal` (`STOP`, `CONT`) to a worker.
fn signal(worker: &WorkerProcess, signal: &str) {
    let sent = Command::new("kill")
        .args([format!("-{signal}"), worker.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success(), "SIG{signal} sent");
}

/// What the tests do to the workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// SIGKILL one, and start another under a new id.
    Kill,
    /// SIGSTOP one for three leases, then SIGCONT.
    Stop,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_workers_leave_the_projection_equal_to_the_events() {
    run_with_faults("example_bank_worker", Fault::Kill, KILLS).await;
}

/// A worker frozen past its lease (a long GC pause, a stopped VM) wakes up believing it owns the
/// projection, maybe with a batch in hand; the fencing epoch refuses its writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_workers_write_nothing_once_woken() {
    run_with_faults("example_bank_worker_stop", Fault::Stop, STOPS).await;
}

/// Commands run while `fault` is done to the workers `faults` times, alternately to each; then
/// the projection must equal the events.
async fn run_with_faults(name: &str, fault: Fault, faults: usize) {
    let db = support::ScratchDb::create(name).await;
    let backend = PgBackend::connect(&db.url).await.expect("connect");
    let pool = backend.pool().clone();
    example_bank::worker::create_tables(&pool)
        .await
        .expect("tables");
    let domain = Domain::builder("banking")
        .aggregate(Banking)
        .backend(backend)
        .finish()
        .expect("the bank domain builds");
    let ids: Vec<String> = (0..ACCOUNTS).map(|i| format!("acc-{i}")).collect();
    for id in &ids {
        let open = OpenAccount {
            customer_id: format!("cus-{id}"),
            initial_balance: 100,
        };
        domain
            .execute(open, ("account", id.as_str()))
            .await
            .expect("open");
    }

    // Accounts the workers deposit to from the command queue, one queued deposit per round.
    let queued_ids: Vec<String> = (0..QUEUED_ACCOUNTS)
        .map(|i| format!("queued-{i}"))
        .collect();
    for id in &queued_ids {
        let open = OpenAccount {
            customer_id: format!("cus-{id}"),
            initial_balance: 100,
        };
        domain
            .execute(open, ("account", id.as_str()))
            .await
            .expect("open");
    }
    let queue = Arc::new(PgCommandQueue::new(pool.clone()));

    let mut workers = [
        spawn_worker(&db.url, "w-a-0"),
        spawn_worker(&db.url, "w-b-0"),
    ];
    let writer = tokio::spawn({
        let domain = domain.clone();
        let ids = ids.clone();
        let (queue, queued_ids) = (queue.clone(), queued_ids.clone());
        async move {
            let mut last = LogCursor::START;
            let mut queued = Vec::new();
            for round in 0..ROUNDS {
                let command = QueuedCommand::new(
                    "banking",
                    "deposit",
                    AggRoot::new("account", &queued_ids[round % QUEUED_ACCOUNTS]),
                    serde_json::json!({ "amount": round + 1 }),
                );
                queued.push(command.id);
                queue.enqueue(command).await.expect("queue a deposit");
                for id in &ids {
                    let amount = (round % 5 + 1) as i64;
                    let response = domain
                        .execute(Deposit { amount }, ("account", id.as_str()))
                        .await
                        .expect("deposit");
                    last = last.max(response.cursor);
                }
                // Writes go on through every fault.
                let gap = match fault {
                    Fault::Kill => 5,
                    Fault::Stop => 120,
                };
                tokio::time::sleep(Duration::from_millis(gap)).await;
            }
            (last, queued)
        }
    });
    for n in 0..faults {
        tokio::time::sleep(pause(n)).await;
        let which = n % 2;
        match fault {
            Fault::Kill => {
                workers[which].kill().expect("SIGKILL the worker");
                let _ = workers[which].wait();
                let name = if which == 0 { "w-a" } else { "w-b" };
                workers[which] = spawn_worker(&db.url, &format!("{name}-{}", n + 1));
            }
            Fault::Stop => {
                signal(&workers[which], "STOP");
                // Three leases: the other worker takes over meanwhile.
                tokio::time::sleep(Duration::from_millis(900)).await;
                signal(&workers[which], "CONT");
            }
        }
    }
    let (last, queued) = writer.await.expect("the writer");
    let (mut again, mut replayed) = (0, 0);
    for id in &queued {
        let ran = match fluvius::readside::wait_for_command(&*queue, *id, Duration::from_secs(30))
            .await
        {
            Ok(ran) => ran,
            Err(err) => {
                let row: (Option<String>, Option<String>, String, Option<String>) = sqlx::query_as(
                    "SELECT claimed_by, claimed_until::text, now()::text, (SELECT string_agg(state || ' ' || coalesce(wait_event, '-') || ' ' || left(query, 60), ' | ') FROM pg_stat_activity WHERE datname = current_database()) FROM fluvius.command_queue WHERE id = $1",
                )
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap();
                panic!("{err}: {row:?}");
            }
        };
        assert_eq!(ran.status, QueueStatus::Done, "{ran:?}");
        again += usize::from(ran.attempts > 1);
        replayed += usize::from(ran.outcome.as_ref().is_some_and(|o| o["replayed"] == true));
    }
    eprintln!(
        "{name}: {} queued commands ran, {again} of them claimed more than once, {replayed} \
         answered by a replay",
        queued.len()
    );

    let checkpoints = PgCheckpoints::new(pool.clone());
    fluvius::readside::wait_for_checkpoint(
        &checkpoints,
        example_bank::worker::BALANCES,
        last,
        Duration::from_secs(60),
    )
    .await
    .expect("a surviving worker catches the projection up");
    for worker in &mut workers {
        let _ = worker.kill();
        let _ = worker.wait();
    }

    let reads = domain.statemgr();
    for id in &ids {
        let record = reads
            .fetch_at::<Account>("account", id, At::Version(ROUNDS as u64 + 1))
            .await
            .expect("a fold of the account's events");
        let (balance, events): (i64, i64) =
            sqlx::query_as("SELECT balance, events FROM bank_balances WHERE account = $1")
                .bind(id)
                .fetch_one(&pool)
                .await
                .expect("the account's row");
        assert_eq!(
            (balance, events),
            (record.state.balance, ROUNDS as i64 + 1),
            "{id}: the projection equals the fold of its events, each counted once"
        );
    }
    // Each queued deposit applied once, however often its runner was killed or frozen.
    for (i, id) in queued_ids.iter().enumerate() {
        let rounds: Vec<usize> = (0..ROUNDS).filter(|r| r % QUEUED_ACCOUNTS == i).collect();
        let record = reads
            .fetch_record::<Account>("account", id)
            .await
            .expect("the queued account");
        assert_eq!(
            (record.version, record.state.balance),
            (
                rounds.len() as u64 + 1,
                100 + rounds.iter().map(|r| *r as i64 + 1).sum::<i64>()
            ),
            "{id}: each queued deposit applied once"
        );
    }
    db.drop_now().await;
}
