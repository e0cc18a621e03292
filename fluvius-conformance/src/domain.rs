//! The test domain every case runs: a small bank with two resource kinds of different state types,
//! written with the macros exactly as a user would write it.
//!
//! `account` exercises creation with rules (`open-account`), updates with rules (`deposit`,
//! `withdraw`), an optional event (`tag`), several events (`deposit-many`), an injected
//! [`Context`] (`open-account` stamps the business time) and soft deletion (`close-account`).
//! `customer` has nullable and nested fields for the filter DSL, a renamed command key
//! (`register`) and an event at schema version 2 (`relocate`).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use fluvius_core::{Apply, Backend, Context, Domain, DomainBuilder, DomainError, ManualClock};
use fluvius_macros::aggregate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The namespace of the test domain.
pub const NAMESPACE: &str = "conformance";

/// The state of an `account`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Account {
    /// Who owns the account.
    pub owner: String,
    /// The balance, in cents.
    pub balance: i64,
    /// Free labels, each at most once.
    pub tags: Vec<String>,
    /// The business time of the opening command.
    pub opened_at: Option<DateTime<Utc>>,
    /// Set by `close-account`, which also soft-deletes the root.
    pub closed: bool,
}

/// The state of a `customer`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Customer {
    /// The customer's name.
    pub name: String,
    /// An optional e-mail address (JSON `null` when absent).
    pub email: Option<String>,
    /// `bronze`, `silver` or `gold`.
    pub tier: String,
    /// Where the customer lives, if known.
    pub address: Option<Address>,
}

/// A customer's address: a nested object for `address.city` filters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Address {
    /// The city.
    pub city: String,
}

/// Event data of `account-opened`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AccountOpened {
    /// The owner.
    pub owner: String,
    /// The opening balance.
    pub initial: i64,
    /// The initial tags.
    pub tags: Vec<String>,
    /// The business time of the command.
    pub opened_at: DateTime<Utc>,
}

/// Event data of `deposit-made`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DepositMade {
    /// The amount deposited.
    pub amount: i64,
}

/// Event data of `money-withdrawn`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MoneyWithdrawn {
    /// The amount withdrawn.
    pub amount: i64,
}

/// Event data of `account-tagged`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AccountTagged {
    /// The new tag.
    pub tag: String,
}

/// Event data of `account-closed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AccountClosed {
    /// Why the account was closed.
    pub reason: String,
}

/// Event data of `customer-registered`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CustomerRegistered {
    /// The name.
    pub name: String,
    /// The e-mail address.
    pub email: Option<String>,
    /// The tier.
    pub tier: String,
    /// The city, if known.
    pub city: Option<String>,
}

/// Event data of `customer-relocated` (schema version 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CustomerRelocated {
    /// The new city; `None` forgets the address.
    pub city: Option<String>,
}

impl Apply<AccountOpened> for Account {
    fn apply(&mut self, event: &AccountOpened) {
        self.owner = event.owner.clone();
        self.balance = event.initial;
        self.tags = event.tags.clone();
        self.opened_at = Some(event.opened_at);
    }
}

impl Apply<DepositMade> for Account {
    fn apply(&mut self, event: &DepositMade) {
        self.balance += event.amount;
    }
}

impl Apply<MoneyWithdrawn> for Account {
    fn apply(&mut self, event: &MoneyWithdrawn) {
        self.balance -= event.amount;
    }
}

impl Apply<AccountTagged> for Account {
    fn apply(&mut self, event: &AccountTagged) {
        self.tags.push(event.tag.clone());
    }
}

impl Apply<AccountClosed> for Account {
    fn apply(&mut self, _event: &AccountClosed) {
        self.closed = true;
    }
}

impl Apply<CustomerRegistered> for Customer {
    fn apply(&mut self, event: &CustomerRegistered) {
        self.name = event.name.clone();
        self.email = event.email.clone();
        self.tier = event.tier.clone();
        self.address = event.city.clone().map(|city| Address { city });
    }
}

impl Apply<CustomerRelocated> for Customer {
    fn apply(&mut self, event: &CustomerRelocated) {
        self.address = event.city.clone().map(|city| Address { city });
    }
}

/// The rule messages the actions raise, so cases can assert them exactly.
pub mod rules {
    /// `open-account` without an owner.
    pub const OWNER_MISSING: &str = "an account needs an owner";
    /// `open-account` with a negative opening balance.
    pub const NEGATIVE_OPENING: &str = "the opening balance cannot be negative";
    /// A deposit or withdrawal of zero or less.
    pub const NON_POSITIVE: &str = "the amount must be positive";
    /// A withdrawal above the balance.
    pub const INSUFFICIENT_FUNDS: &str = "insufficient funds";
    /// Closing an account whose balance is not zero.
    pub const NOT_EMPTY: &str = "an account holding money cannot be closed";
    /// Registering a customer with an unknown tier.
    pub const UNKNOWN_TIER: &str = "the tier must be bronze, silver or gold";
}

/// The aggregate of the test domain. Stateless: actions only decide.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bank;

#[aggregate(crate = ::fluvius_core, resources(account = Account, customer = Customer))]
impl Bank {
    /// Opens an account. Rules: it has an owner; the opening balance is not negative.
    #[action(evt_key = "account-opened", resources = ["account"], new)]
    async fn open_account(
        &self,
        context: &Context,
        owner: String,
        initial: i64,
        tags: Vec<String>,
    ) -> Result<AccountOpened, DomainError> {
        if owner.trim().is_empty() {
            return Err(DomainError::new(rules::OWNER_MISSING).with_code("owner-missing"));
        }
        if initial < 0 {
            return Err(DomainError::new(rules::NEGATIVE_OPENING).with_code("negative-opening"));
        }
        Ok(AccountOpened {
            owner,
            initial,
            tags,
            opened_at: context.time,
        })
    }

    /// Deposits money. Rule: the amount is positive.
    #[action(evt_key = "deposit-made", resources = ["account"])]
    async fn deposit(&self, _account: &Account, amount: i64) -> Result<DepositMade, DomainError> {
        positive(amount)?;
        Ok(DepositMade { amount })
    }

    /// Withdraws money. Rules: the amount is positive and covered by the balance.
    #[action(evt_key = "money-withdrawn", resources = ["account"])]
    async fn withdraw(
        &self,
        account: &Account,
        amount: i64,
    ) -> Result<MoneyWithdrawn, DomainError> {
        positive(amount)?;
        if amount > account.balance {
            return Err(DomainError::new(rules::INSUFFICIENT_FUNDS).with_code("insufficient-funds"));
        }
        Ok(MoneyWithdrawn { amount })
    }

    /// Adds a tag; tagging twice with the same tag changes nothing (no event).
    #[action(evt_key = "account-tagged", resources = ["account"])]
    async fn tag(
        &self,
        account: &Account,
        tag: String,
    ) -> Result<Option<AccountTagged>, DomainError> {
        if account.tags.contains(&tag) {
            return Ok(None);
        }
        Ok(Some(AccountTagged { tag }))
    }

    /// Deposits several amounts, one event each; one non-positive amount refuses them all.
    #[action(evt_key = "deposit-made", resources = ["account"])]
    async fn deposit_many(
        &self,
        _account: &Account,
        amounts: Vec<i64>,
    ) -> Result<Vec<DepositMade>, DomainError> {
        amounts
            .into_iter()
            .map(|amount| positive(amount).map(|()| DepositMade { amount }))
            .collect()
    }

    /// Panics with the given message: the suite checks that a panicking action fails only its
    /// own command.
    #[action(evt_key = "deposit-made", resources = ["account"])]
    async fn explode(
        &self,
        _account: &Account,
        message: String,
    ) -> Result<DepositMade, DomainError> {
        panic!("{message}")
    }

    /// Closes (soft-deletes) an account. Rule: its balance is zero.
    #[action(evt_key = "account-closed", resources = ["account"], delete)]
    async fn close_account(
        &self,
        account: &Account,
        reason: String,
    ) -> Result<AccountClosed, DomainError> {
        if account.balance != 0 {
            return Err(DomainError::new(rules::NOT_EMPTY).with_code("not-empty"));
        }
        Ok(AccountClosed { reason })
    }

    /// Registers a customer (command key `register`). Rule: the tier is known.
    #[action(evt_key = "customer-registered", resources = ["customer"], new, key = "register")]
    async fn register_customer(
        &self,
        name: String,
        email: Option<String>,
        tier: String,
        city: Option<String>,
    ) -> Result<CustomerRegistered, DomainError> {
        if !matches!(tier.as_str(), "bronze" | "silver" | "gold") {
            return Err(DomainError::new(rules::UNKNOWN_TIER).with_code("unknown-tier"));
        }
        Ok(CustomerRegistered {
            name,
            email,
            tier,
            city,
        })
    }

    /// Moves a customer to another city, or forgets the address (event schema version 2; v1
    /// called the field `town`).
    #[action(
        evt_key = "customer-relocated",
        resources = ["customer"],
        schema_version = 2,
        upcast(1 = relocated_v1_to_v2)
    )]
    async fn relocate(
        &self,
        _customer: &Customer,
        city: Option<String>,
    ) -> Result<CustomerRelocated, DomainError> {
        Ok(CustomerRelocated { city })
    }
}

/// `customer-relocated` v1 named the city `town`.
fn relocated_v1_to_v2(mut payload: Value) -> Result<Value, String> {
    let object = payload
        .as_object_mut()
        .ok_or("a `customer-relocated` v1 payload is an object")?;
    let town = object.remove("town").unwrap_or(Value::Null);
    object.insert("city".into(), town);
    Ok(payload)
}

fn positive(amount: i64) -> Result<(), DomainError> {
    if amount <= 0 {
        return Err(DomainError::new(rules::NON_POSITIVE).with_code("non-positive-amount"));
    }
    Ok(())
}

/// The builder of the test domain on `backend`, for cases that tune it further.
pub fn builder(backend: Arc<dyn Backend>) -> DomainBuilder {
    Domain::builder(NAMESPACE)
        .aggregate(Bank)
        .shared_backend(backend)
}

/// The single-tenant test domain on `backend`, with the system clock.
pub fn domain(backend: Arc<dyn Backend>) -> Domain {
    builder(backend)
        .finish()
        .expect("the test domain is well formed")
}

/// The single-tenant test domain on `backend`, taking `recorded_at` from `clock`.
pub fn domain_with_clock(backend: Arc<dyn Backend>, clock: ManualClock) -> Domain {
    builder(backend)
        .clock(clock)
        .finish()
        .expect("the test domain is well formed")
}

/// The multi-tenant test domain on `backend`: every command and read must name a tenant.
pub fn multi_tenant_domain(backend: Arc<dyn Backend>) -> Domain {
    builder(backend)
        .multi_tenant(true)
        .finish()
        .expect("the test domain is well formed")
}

/// The multi-tenant test domain on `backend`, taking `recorded_at` from `clock`.
pub fn multi_tenant_domain_with_clock(backend: Arc<dyn Backend>, clock: ManualClock) -> Domain {
    builder(backend)
        .multi_tenant(true)
        .clock(clock)
        .finish()
        .expect("the test domain is well formed")
}
