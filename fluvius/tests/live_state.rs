//! The state a command leaves behind is the state a replay of its stored events gives, even
//! when the event type's serde attributes drop part of the value the action returned.

use fluvius::prelude::*;
use fluvius::testkit::AggregateTest;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Account {
    pub balance: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Deposited {
    pub amount: i64,
    /// Computed by the action, never stored: a replay sees 0.
    #[serde(skip)]
    pub bonus: i64,
}

impl Apply<Deposited> for Account {
    fn apply(&mut self, event: &Deposited) {
        self.balance += event.amount + event.bonus;
    }
}

#[derive(Debug)]
pub struct Bank;

#[aggregate(resources(account = Account))]
impl Bank {
    #[action(evt_key = "account-opened", resources = ["account"], new)]
    async fn open(&self, amount: i64) -> Result<Deposited, DomainError> {
        Ok(Deposited { amount, bonus: 0 })
    }

    #[action(evt_key = "deposit-made", resources = ["account"])]
    async fn deposit(&self, _account: &Account, amount: i64) -> Result<Deposited, DomainError> {
        Ok(Deposited { amount, bonus: 5 })
    }
}

#[tokio::test]
async fn live_state_equals_replayed_state() {
    let domain = Domain::builder("banking")
        .aggregate(Bank)
        .build()
        .expect("domain");
    domain
        .execute(Open { amount: 10 }, ("account", "a"))
        .await
        .expect("open");
    let answer = domain
        .execute(Deposit { amount: 1 }, ("account", "a"))
        .await
        .expect("deposit");
    assert_eq!(answer.state::<Account>().expect("state").balance, 11);
    let live: Account = domain
        .statemgr()
        .fetch("account", "a")
        .await
        .expect("fetch");
    let replayed = domain
        .statemgr()
        .fetch_at::<Account>("account", "a", At::Version(2))
        .await
        .expect("fetch_at")
        .state;
    assert_eq!(live, replayed);
    assert_eq!(live.balance, 11);
}

#[tokio::test]
async fn the_test_kit_sees_the_replayed_state() {
    AggregateTest::new(Bank)
        .given(
            "account",
            [("account-opened", serde_json::json!({"amount": 10}))],
        )
        .when("deposit", serde_json::json!({"amount": 1}))
        .await
        .then_expect_state(&Account { balance: 11 });
}
