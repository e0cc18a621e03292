use fluvius::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

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

fn v1_to_v2(payload: Value) -> Value {
    payload
}

fn v2_to_v3(payload: Value) -> Result<Value, String> {
    Ok(payload)
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Withdrawn {
    pub amount: i64,
}

impl Apply<Withdrawn> for Account {
    fn apply(&mut self, event: &Withdrawn) {
        self.balance -= event.amount;
    }
}

pub struct Bank;

#[aggregate(resources(account = Account))]
impl Bank {
    #[action(
        evt_key = "deposit-made",
        resources = ["account"],
        schema_version = 3,
        upcast(2 = v2_to_v3, 1 = v1_to_v2)
    )]
    async fn deposit(&self, amount: i64) -> Result<Deposited, DomainError> {
        Ok(Deposited { amount })
    }

    #[action(evt_key = "deposit-made", resources = ["account"], schema_version = 3)]
    async fn pay_in(&self, amount: i64) -> Result<Deposited, DomainError> {
        Ok(Deposited { amount })
    }

    #[action(evt_key = "withdrawn", resources = ["account"], schema_version = 2, upcast(1 = Self::withdrawn_v1))]
    async fn withdraw(&self, amount: i64) -> Result<Withdrawn, DomainError> {
        Ok(Withdrawn { amount })
    }

    fn withdrawn_v1(payload: Value) -> Result<Value, std::fmt::Error> {
        Ok(payload)
    }

    #[retired(evt_key = "interest-credited")]
    fn interest(payload: Value) -> Upcasted {
        Upcasted::new("deposit-made", 1, payload)
    }

    #[retired(evt_key = "fee-waived", resources = ["account"])]
    fn fee_waived(_payload: Value, _version: u32) -> Result<Vec<Upcasted>, String> {
        Ok(Vec::new())
    }

    #[retired(evt_key = "noted")]
    fn noted(_payload: Value) -> Option<Upcasted> {
        None
    }

    #[retired(evt_key = "ignored")]
    fn ignored(_payload: Value) {}
}

fn main() {
    let _ = Domain::builder("bank").aggregate(Bank).build();
}
