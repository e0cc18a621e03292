//! Two `bank-worker` processes share the `bank-balances` projection by lease while commands
//! run, and one of them is killed with SIGKILL at varying points 20 times (and started again
//! under a new id). At the end the projected balances equal what a fold of every account's
//! events says, and each event was counted once.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use example_bank::{Account, Banking, Deposit, OpenAccount};
use fluvius::prelude::*;
use fluvius::readside::postgres::PgCheckpoints;
use fluvius::{LogCursor, PgBackend};

const ACCOUNTS: usize = 10;
const KILLS: usize = 20;

fn spawn_worker(url: &str, id: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_bank-worker"))
        .args(["--postgres", url, "--id", id, "--lease-ms", "300"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the worker starts")
}

/// A small deterministic sequence of pauses, different for every kill.
fn pause(n: usize) -> Duration {
    Duration::from_millis(40 + ((n * 7919) % 23) as u64 * 10)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_workers_leave_the_projection_equal_to_the_events() {
    let db = support::ScratchDb::create("example_bank_worker").await;
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

    let mut workers = [
        spawn_worker(&db.url, "w-a-0"),
        spawn_worker(&db.url, "w-b-0"),
    ];
    let writer = tokio::spawn({
        let domain = domain.clone();
        let ids = ids.clone();
        async move {
            let mut last = LogCursor::START;
            for round in 0..60 {
                for id in &ids {
                    let amount = (round % 5 + 1) as i64;
                    let response = domain
                        .execute(Deposit { amount }, ("account", id.as_str()))
                        .await
                        .expect("deposit");
                    last = last.max(response.cursor);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            last
        }
    });
    for kill in 0..KILLS {
        tokio::time::sleep(pause(kill)).await;
        let which = kill % 2;
        workers[which].kill().expect("SIGKILL the worker");
        let _ = workers[which].wait();
        let name = if which == 0 { "w-a" } else { "w-b" };
        workers[which] = spawn_worker(&db.url, &format!("{name}-{}", kill + 1));
    }
    let last = writer.await.expect("the writer");

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
            .fetch_at::<Account>("account", id, At::Version(61))
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
            (record.state.balance, 61),
            "{id}: the projection equals the fold of its 61 events, each counted once"
        );
    }
    db.drop_now().await;
}
