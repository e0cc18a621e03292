use fluvius::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Account {
    pub balance: i64,
}

pub struct Bank;

#[aggregate(resources(account = Account))]
impl Bank {
    fn rate(&self) -> i64 {
        3
    }
}

fn main() {
    let _ = Domain::builder("bank").aggregate(Bank).build();
}
