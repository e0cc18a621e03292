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
