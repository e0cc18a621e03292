//! `payload = Name`, the fix the name-clash error suggests, lets an action keep its name beside a
//! user type that its default payload name would take.
#![deny(warnings)]

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

/// A user type named like the default payload of `deposit`.
pub struct Deposit {
    pub slip: u32,
}

pub struct Bank;

#[aggregate(resources(account = Account))]
impl Bank {
    #[action(evt_key = "deposit-made", resources = ["account"], payload = DepositCommand)]
    async fn deposit(&self, amount: i64) -> Result<Deposited, DomainError> {
        Ok(Deposited { amount })
    }
}

fn main() {
    let _mine = Deposit { slip: 7 };
    let _payload = DepositCommand { amount: 1 };
    let _domain = Domain::builder("bank").aggregate(Bank).build().unwrap();
}
