//! The bank's read side: the customer-balance projection follows the commands (read-your-writes
//! on each response), and the withdrawal notifier hears of each withdrawal once.

use std::sync::Arc;
use std::time::Duration;

use example_bank::readside::{WithdrawalNotifier, customer_balance, customer_balances};
use example_bank::{Banking, Deposit, OpenAccount, RegisterCustomer, Withdraw};
use fluvius::prelude::*;
use fluvius::readside::{Handled, MemCheckpoints, MemParkStore, Subscription};

#[tokio::test]
async fn the_projection_and_the_notifier_follow_the_commands() {
    let domain = Domain::builder("banking")
        .aggregate(Banking)
        .build()
        .unwrap();
    let balances = customer_balances();
    let projected = Subscription::new(domain.backend().clone())
        .spawn(balances.clone())
        .unwrap();
    let notifier = WithdrawalNotifier::default();
    let notified = Subscription::new(domain.backend().clone())
        .spawn(Handled::new(
            "withdrawal-mail",
            notifier.clone(),
            Arc::new(MemCheckpoints::new()),
            Arc::new(MemParkStore::new()),
        ))
        .unwrap();
    let wait = Duration::from_secs(5);

    let customer = domain
        .execute(
            RegisterCustomer {
                name: "Ada".into(),
                email: None,
            },
            AggRoot::generate("customer"),
        )
        .await
        .unwrap();
    let customer_id = customer.root.id.clone();
    let mut accounts = Vec::new();
    for initial_balance in [150, 300] {
        let opened = domain
            .execute(
                OpenAccount {
                    customer_id: customer_id.clone(),
                    initial_balance,
                },
                AggRoot::generate("account"),
            )
            .await
            .unwrap();
        accounts.push(opened.root.id.clone());
    }
    let mut last = domain
        .execute(Deposit { amount: 50 }, ("account", &accounts[0]))
        .await
        .unwrap();
    projected.wait_for(last.cursor(), wait).await.unwrap();
    assert_eq!(customer_balance(&balances, &customer_id), 150 + 300 + 50);
    for amount in [20, 30] {
        last = domain
            .execute(Withdraw { amount }, ("account", &accounts[1]))
            .await
            .unwrap();
        projected.wait_for(last.cursor(), wait).await.unwrap();
    }
    assert_eq!(customer_balance(&balances, &customer_id), 500 - 50);
    assert_eq!(customer_balance(&balances, "nobody"), 0);
    notified.wait_for(last.cursor(), wait).await.unwrap();
    assert_eq!(
        notifier.sent(),
        vec![(accounts[1].clone(), 20), (accounts[1].clone(), 30)]
    );
    projected.stop().await;
    notified.stop().await;
}

#[tokio::test]
async fn large_withdrawals_send_one_alert_each_through_the_outbox() {
    use example_bank::readside::AlertDesk;
    use example_bank::{ALERTS, LARGE_WITHDRAWAL, LargeWithdrawal};
    use fluvius::readside::{OutboxAdmin, OutboxRelay};

    let domain = Domain::builder("banking")
        .aggregate(Banking)
        .build()
        .unwrap();
    let open = |balance| {
        domain.execute(
            OpenAccount {
                customer_id: "c-1".into(),
                initial_balance: balance,
            },
            AggRoot::generate("account"),
        )
    };
    let rich = open(30_000).await.unwrap().root.id;
    let poor = open(200).await.unwrap().root.id;
    let withdraw = |id: String, amount| domain.execute(Withdraw { amount }, ("account", id));
    withdraw(rich.clone(), LARGE_WITHDRAWAL).await.unwrap();
    withdraw(rich.clone(), 5).await.unwrap();
    assert!(
        withdraw(poor.clone(), LARGE_WITHDRAWAL).await.is_err(),
        "an overdraft is refused, and sends nothing"
    );
    withdraw(rich.clone(), LARGE_WITHDRAWAL + 1).await.unwrap();

    let desk = AlertDesk::default();
    let relay = OutboxRelay::new(domain.backend().clone(), Arc::new(desk.clone()))
        .topics([ALERTS])
        .poll_every(Duration::from_millis(5))
        .spawn()
        .unwrap();
    let admin = OutboxAdmin::new(domain.backend().clone()).unwrap();
    let start = std::time::Instant::now();
    while desk.received().len() < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the alerts arrive"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    relay.stop().await;
    assert_eq!(
        desk.received(),
        vec![
            (
                rich.clone(),
                LargeWithdrawal {
                    amount: LARGE_WITHDRAWAL,
                    balance: 20_000
                }
            ),
            (
                rich,
                LargeWithdrawal {
                    amount: LARGE_WITHDRAWAL + 1,
                    balance: 9_994
                }
            ),
        ],
        "one alert per large withdrawal, in order"
    );
    assert_eq!(admin.counts().await.unwrap().pending, 0);
}
