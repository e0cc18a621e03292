//! Every optional `#[action]` argument, and `crate = ::fluvius`, expanding lint-clean.
#![deny(warnings)]

use fluvius::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Account {
    pub owner: String,
    pub balance: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Opened {
    pub owner: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Deposited {
    pub amount: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Closed {}

impl Apply<Opened> for Account {
    fn apply(&mut self, event: &Opened) {
        self.owner = event.owner.clone();
    }
}

impl Apply<Deposited> for Account {
    fn apply(&mut self, event: &Deposited) {
        self.balance += event.amount;
    }
}

impl Apply<Closed> for Account {
    fn apply(&mut self, _event: &Closed) {}
}

pub struct Bank;

#[aggregate(crate = ::fluvius, resources(account = Account))]
impl Bank {
    /// `deposit-made` v1 reads as v2 unchanged.
    fn deposited_v1(payload: serde_json::Value) -> serde_json::Value {
        payload
    }

    /// Opens an account.
    #[action(evt_key = "account-opened", resources = ["account"], new, key = "open-account", payload = OpenAccount)]
    async fn open(&self, owner: String) -> Result<Opened, DomainError> {
        Ok(Opened { owner })
    }

    /// Deposits money, at the second version of the event's schema.
    #[action(evt_key = "deposit-made", resources = ["account"], schema_version = 2, upcast(1 = Self::deposited_v1))]
    async fn deposit(&self, account: &Account, amount: i64) -> Result<Deposited, DomainError> {
        if account.owner.is_empty() {
            return Err(DomainError::new("the account has no owner"));
        }
        Ok(Deposited { amount })
    }

    /// Closes an empty account.
    #[action(evt_key = "account-closed", resources = ["account"], delete)]
    async fn close(&self, account: &Account) -> Result<Closed, DomainError> {
        if account.balance != 0 {
            return Err(DomainError::new("the account is not empty"));
        }
        Ok(Closed {})
    }
}

fn main() {
    let _payloads = (
        OpenAccount {
            owner: "ada".into(),
        },
        Deposit { amount: 1 },
        Close {},
    );
    let _domain = Domain::builder("bank").aggregate(Bank).build().unwrap();
}
