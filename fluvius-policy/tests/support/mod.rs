//! A small bank for the Cedar tests: accounts with an owner, a balance, a frozen flag, tags and
//! an optional note, and the commands to open, deposit, withdraw and freeze.

#![allow(dead_code)]

use fluvius::DomainBuilder;
use fluvius::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Account {
    pub owner: String,
    pub balance: i64,
    pub frozen: bool,
    pub tags: Vec<String>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Opened {
    pub owner: String,
    pub balance: i64,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Moved {
    pub amount: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Frozen {}

impl Apply<Opened> for Account {
    fn apply(&mut self, event: &Opened) {
        self.owner = event.owner.clone();
        self.balance = event.balance;
        self.tags = event.tags.clone();
    }
}

impl Apply<Moved> for Account {
    fn apply(&mut self, event: &Moved) {
        self.balance += event.amount;
    }
}

impl Apply<Frozen> for Account {
    fn apply(&mut self, _: &Frozen) {
        self.frozen = true;
    }
}

pub struct Bank;

#[aggregate(resources(account = Account))]
impl Bank {
    #[action(evt_key = "account-opened", resources = ["account"], new)]
    async fn open(
        &self,
        owner: String,
        balance: i64,
        tags: Vec<String>,
    ) -> Result<Opened, DomainError> {
        Ok(Opened {
            owner,
            balance,
            tags,
        })
    }

    #[action(evt_key = "deposited", resources = ["account"])]
    async fn deposit(&self, _account: &Account, amount: i64) -> Result<Moved, DomainError> {
        Ok(Moved { amount })
    }

    #[action(evt_key = "withdrawn", resources = ["account"])]
    async fn withdraw(&self, _account: &Account, amount: i64) -> Result<Moved, DomainError> {
        Ok(Moved { amount: -amount })
    }

    #[action(evt_key = "frozen", resources = ["account"])]
    async fn freeze(&self, _account: &Account) -> Result<Frozen, DomainError> {
        Ok(Frozen {})
    }
}

pub fn builder() -> DomainBuilder {
    Domain::builder("bank").aggregate(Bank)
}

pub fn ctx(user: &str, roles: &[&str]) -> Context {
    Context::new().user(user).roles(roles.iter().copied())
}
