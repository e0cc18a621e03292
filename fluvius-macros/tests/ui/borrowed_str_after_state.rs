use fluvius::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Account {
    pub balance: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Deposited {
    pub amount: i64,
}

impl Apply<Deposited> for Account {
    fn apply(&mut self, event: &Deposited) {
        self.balance += event.amount;
    }
}

pub struct Bank;

#[aggregate(resources(account = Account))]
impl Bank {
    #[action(evt_key = "deposit-made", resources = ["account"])]
    async fn deposit(&self, account: &Account, note: &str, amount: i64) -> Result<Deposited, DomainError> {
        let _ = (account, note);
        Ok(Deposited { amount })
    }
}

fn main() {
    let _ = Domain::builder("bank").aggregate(Bank).build();
}
