//! One action applying to two resources that share a state type, and taking that state.
#![deny(warnings)]

use fluvius::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Balance {
    pub amount: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Credited {
    pub amount: i64,
}

impl Apply<Credited> for Balance {
    fn apply(&mut self, event: &Credited) {
        self.amount += event.amount;
    }
}

pub struct Ledger;

#[aggregate(resources(checking = Balance, savings = Balance))]
impl Ledger {
    /// Credits a checking or a savings account, up to a ceiling.
    #[action(evt_key = "credited", resources = ["checking", "savings"])]
    async fn credit(&self, balance: &Balance, amount: i64) -> Result<Credited, DomainError> {
        if balance.amount + amount > 1_000_000 {
            return Err(DomainError::new("the balance would exceed the ceiling"));
        }
        Ok(Credited { amount })
    }
}

fn main() {
    let _domain = Domain::builder("ledger").aggregate(Ledger).build().unwrap();
}
