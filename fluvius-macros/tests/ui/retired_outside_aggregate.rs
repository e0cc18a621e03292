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

#[retired(evt_key = "interest-credited")]
fn interest(_payload: Value) {}

fn main() {
    let _ = (v1_to_v2, v2_to_v3, interest);
}
