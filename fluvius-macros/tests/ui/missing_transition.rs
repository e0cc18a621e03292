use fluvius::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Account {
    pub balance: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Withdrawn {
    pub amount: i64,
}

pub struct Bank;

#[aggregate(resources(account = Account))]
impl Bank {
    #[action(evt_key = "deposit-made", resources = ["account"])]
    async fn withdraw(&self, amount: i64) -> Result<Withdrawn, DomainError> {
        Ok(Withdrawn { amount })
    }
}

fn main() {
    let _ = Domain::builder("bank").aggregate(Bank).build();
}
