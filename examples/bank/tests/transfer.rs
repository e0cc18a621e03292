//! A transfer between two accounts is one unit: both bookings commit or neither does, a repeat
//! with the same transfer id moves no more money, and concurrent transfers conserve the total.

use example_bank::{Account, OpenAccount, transfer};
use fluvius::prelude::*;
use fluvius::{Error, MemBackend};

async fn bank() -> Domain {
    example_bank::domain(Domain::builder("banking").backend(MemBackend::new()))
        .expect("the bank domain builds")
}

async fn open(domain: &Domain, id: &str, balance: i64) {
    let opening = OpenAccount {
        customer_id: "c-1".into(),
        initial_balance: balance,
    };
    domain
        .execute(opening, ("account", id))
        .await
        .expect("open an account");
}

async fn balance(domain: &Domain, id: &str) -> i64 {
    let account: Account = domain.statemgr().fetch("account", id).await.expect("fetch");
    account.balance
}

#[tokio::test]
async fn a_transfer_books_both_sides_or_neither() {
    let domain = bank().await;
    open(&domain, "alice", 500).await;
    open(&domain, "bob", 100).await;
    let ctx = Context::new().user("teller");

    let (out, into) = transfer(&domain, &ctx, "alice", "bob", 200, None)
        .await
        .expect("the transfer");
    assert_eq!(out.state::<Account>().expect("state").balance, 300);
    assert_eq!(into.state::<Account>().expect("state").balance, 300);
    assert_eq!(out.events[0].evt_key, "withdrawal-made");
    assert_eq!(into.events[0].evt_key, "deposit-made");
    assert_eq!(into.events[0].metadata.user.as_deref(), Some("teller"));

    // Insufficient funds: the first command refuses, nothing is booked.
    let err = transfer(&domain, &ctx, "bob", "alice", 1_000, None)
        .await
        .expect_err("insufficient funds");
    assert!(
        matches!(&err, Error::UnitCommand { index: 0, command, .. } if command == "withdraw"),
        "{err}"
    );
    assert!(err.to_string().contains("insufficient funds"), "{err}");
    // A missing payee: the withdrawal was decided, but is not written either.
    let err = transfer(&domain, &ctx, "alice", "nobody", 50, None)
        .await
        .expect_err("no such account");
    assert!(
        matches!(&err, Error::UnitCommand { index: 1, .. }) && err.is_not_found(),
        "{err}"
    );
    let err = transfer(&domain, &ctx, "alice", "alice", 50, None)
        .await
        .expect_err("one account twice");
    assert_eq!(err.code(), "rule");
    assert_eq!(balance(&domain, "alice").await, 300);
    assert_eq!(balance(&domain, "bob").await, 300);
    let history = domain
        .statemgr()
        .history("account", "alice")
        .await
        .expect("history");
    assert_eq!(history.len(), 2, "the opening and the one transfer");
}

#[tokio::test]
async fn a_repeated_transfer_moves_money_once() {
    let domain = bank().await;
    open(&domain, "alice", 500).await;
    open(&domain, "bob", 100).await;
    let ctx = Context::new();
    let id = uuid::Uuid::now_v7();
    let (first, _) = transfer(&domain, &ctx, "alice", "bob", 75, Some(id))
        .await
        .expect("the transfer");
    let (again, into) = transfer(&domain, &ctx, "alice", "bob", 75, Some(id))
        .await
        .expect("the repeat");
    assert!(again.replayed && into.replayed);
    assert_eq!(again.version, first.version);
    assert_eq!(balance(&domain, "alice").await, 425);
    assert_eq!(balance(&domain, "bob").await, 175);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_transfers_conserve_the_total() {
    let domain = bank().await;
    let ids = ["a", "b", "c"];
    for id in ids {
        open(&domain, id, 1_000).await;
    }
    let mut tasks = Vec::new();
    for task in 0..12usize {
        let domain = domain.clone();
        tasks.push(tokio::spawn(async move {
            let mut committed = 0;
            for round in 0..10 {
                let from = ids[(task + round) % 3];
                let to = ids[(task + round + 1 + task % 2) % 3];
                let amount = 10 + (round as i64 * 37) % 90;
                match transfer(&domain, &Context::new(), from, to, amount, None).await {
                    Ok(_) => committed += 1,
                    Err(err) => assert_eq!(err.code(), "rule", "{err}"),
                }
            }
            committed
        }));
    }
    let mut committed = 0;
    for task in tasks {
        committed += task.await.expect("a transfer task");
    }
    let mut total = 0;
    let mut bookings = 0;
    for id in ids {
        total += balance(&domain, id).await;
        let history = domain
            .statemgr()
            .history("account", id)
            .await
            .expect("history");
        bookings += history.len() - 1;
    }
    assert_eq!(total, 3_000, "no money made or lost");
    assert_eq!(
        bookings,
        2 * committed,
        "two bookings per committed transfer"
    );
}
