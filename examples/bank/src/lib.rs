//! The bank domain of the Fluvius bank example: customers and accounts, with the rules a bank
//! enforces (minimum opening balance, no overdraft, only empty accounts close) and a compensating
//! correction event for mistakes, since events are never edited.
//!
//! A transfer between two accounts is one unit of two commands ([`transfer`]): the withdrawal and
//! the deposit commit together or not at all, without a saga.
//!
//! The binary (`cargo run -p example-bank`) runs a scripted scenario on it; the benchmark binary
//! (`fluvius-bench`) drives it under load.

pub mod history;
pub mod readside;
pub mod worker;

use fluvius::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The smallest balance an account may be opened with.
pub const MINIMUM_OPENING_BALANCE: i64 = 100;

/// A withdrawal of at least this much sends a [`LargeWithdrawal`] alert to [`ALERTS`].
pub const LARGE_WITHDRAWAL: i64 = 10_000;

/// The outbox topic of the bank's alerts, keyed by account.
pub const ALERTS: &str = "alerts";

/// The message a large withdrawal sends through the outbox: it is stored in the withdrawal's
/// own transaction, so an alert exists exactly when the withdrawal does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LargeWithdrawal {
    /// How much.
    pub amount: i64,
    /// The balance left.
    pub balance: i64,
}

/// An account's current state, derived from its events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Account {
    /// The customer owning the account.
    pub customer_id: String,
    /// The balance in cents.
    pub balance: i64,
    /// Whether the account is open.
    pub open: bool,
    /// How many corrections were booked.
    pub corrections: u32,
}

/// A customer's current state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Customer {
    /// Full name.
    pub name: String,
    /// Contact address, if given.
    pub email: Option<String>,
}

/// A customer was registered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CustomerRegistered {
    /// Full name.
    pub name: String,
    /// Contact address, if given.
    pub email: Option<String>,
}

/// An account was opened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AccountOpened {
    /// The owner.
    pub customer_id: String,
    /// The opening balance.
    pub initial_balance: i64,
}

/// Money came in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DepositMade {
    /// How much.
    pub amount: i64,
}

/// Money went out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WithdrawalMade {
    /// How much.
    pub amount: i64,
}

/// A booking error was compensated: the log keeps both the mistake and its correction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BalanceCorrected {
    /// Signed amount added to the balance.
    pub amount: i64,
    /// Why.
    pub reason: String,
}

/// The account was closed (a soft delete: it leaves queries, its history stays).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AccountClosed {
    /// Why.
    pub reason: String,
}

impl Apply<CustomerRegistered> for Customer {
    fn apply(&mut self, event: &CustomerRegistered) {
        self.name = event.name.clone();
        self.email = event.email.clone();
    }
}

impl Apply<AccountOpened> for Account {
    fn apply(&mut self, event: &AccountOpened) {
        self.customer_id = event.customer_id.clone();
        self.balance = event.initial_balance;
        self.open = true;
    }
}

impl Apply<DepositMade> for Account {
    fn apply(&mut self, event: &DepositMade) {
        self.balance += event.amount;
    }
}

impl Apply<WithdrawalMade> for Account {
    fn apply(&mut self, event: &WithdrawalMade) {
        self.balance -= event.amount;
    }
}

impl Apply<BalanceCorrected> for Account {
    fn apply(&mut self, event: &BalanceCorrected) {
        self.balance += event.amount;
        self.corrections += 1;
    }
}

impl Apply<AccountClosed> for Account {
    fn apply(&mut self, _event: &AccountClosed) {
        self.open = false;
    }
}

/// The banking aggregate. Holds no services; a real one might hold a clock or a fraud client.
#[derive(Debug, Default, Clone, Copy)]
pub struct Banking;

fn positive(amount: i64) -> Result<(), DomainError> {
    if amount <= 0 {
        return Err(
            DomainError::new(format!("the amount must be positive, got {amount}"))
                .with_code("non-positive-amount"),
        );
    }
    Ok(())
}

/// The balance after adding `amount`, refused when it does not fit a balance.
fn fits(balance: i64, amount: i64) -> Result<i64, DomainError> {
    balance.checked_add(amount).ok_or_else(|| {
        DomainError::new(format!(
            "the balance {balance} plus {amount} does not fit a balance"
        ))
        .with_code("balance-overflow")
    })
}

#[aggregate(resources(account = Account, customer = Customer))]
impl Banking {
    /// Registers a customer.
    #[action(
        evt_key = "customer-registered",
        resources = ["customer"],
        new,
        schema_version = 2,
        upcast(1 = history::customer_registered_v1)
    )]
    async fn register_customer(
        &self,
        name: String,
        email: Option<String>,
    ) -> Result<CustomerRegistered, DomainError> {
        if name.trim().is_empty() {
            return Err(DomainError::new("the customer name is empty"));
        }
        Ok(CustomerRegistered { name, email })
    }

    /// Opens an account. Rule: the opening balance is at least 100.
    #[action(evt_key = "account-opened", resources = ["account"], new)]
    async fn open_account(
        &self,
        customer_id: String,
        initial_balance: i64,
    ) -> Result<AccountOpened, DomainError> {
        if initial_balance < MINIMUM_OPENING_BALANCE {
            return Err(DomainError::new(format!(
                "the minimum balance is {MINIMUM_OPENING_BALANCE}, got {initial_balance}"
            ))
            .with_code("minimum-balance"));
        }
        Ok(AccountOpened {
            customer_id,
            initial_balance,
        })
    }

    /// Deposits money. Rule: the amount is positive.
    #[action(evt_key = "deposit-made", resources = ["account"])]
    async fn deposit(&self, account: &Account, amount: i64) -> Result<DepositMade, DomainError> {
        positive(amount)?;
        fits(account.balance, amount)?;
        Ok(DepositMade { amount })
    }

    /// Withdraws money. Rule: no overdraft ("insufficient funds"). A withdrawal of at least
    /// [`LARGE_WITHDRAWAL`] sends an alert to the [`ALERTS`] topic of the outbox.
    #[action(evt_key = "withdrawal-made", resources = ["account"])]
    async fn withdraw(
        &self,
        account: &Account,
        outbox: &Outbox,
        amount: i64,
    ) -> Result<WithdrawalMade, DomainError> {
        positive(amount)?;
        if account.balance < amount {
            return Err(DomainError::new(format!(
                "insufficient funds: the balance is {}, the withdrawal {amount}",
                account.balance
            ))
            .with_code("insufficient-funds"));
        }
        if amount >= LARGE_WITHDRAWAL {
            let balance = account.balance - amount;
            outbox.send(ALERTS, &LargeWithdrawal { amount, balance });
        }
        Ok(WithdrawalMade { amount })
    }

    /// Books a compensating correction (signed) with its reason.
    #[action(evt_key = "balance-corrected", resources = ["account"])]
    async fn correct_balance(
        &self,
        account: &Account,
        amount: i64,
        reason: String,
    ) -> Result<BalanceCorrected, DomainError> {
        if amount == 0 || reason.trim().is_empty() {
            return Err(DomainError::new(
                "a correction needs a non-zero amount and a reason",
            ));
        }
        if fits(account.balance, amount)? < 0 {
            return Err(DomainError::new(
                "a correction cannot make the balance negative",
            ));
        }
        Ok(BalanceCorrected { amount, reason })
    }

    /// Closes an account. Rule: only an empty account closes.
    #[action(evt_key = "account-closed", resources = ["account"], delete)]
    async fn close_account(
        &self,
        account: &Account,
        reason: String,
    ) -> Result<AccountClosed, DomainError> {
        if account.balance != 0 {
            return Err(DomainError::new(format!(
                "the account still holds {}: withdraw it before closing",
                account.balance
            ))
            .with_code("not-empty"));
        }
        Ok(AccountClosed { reason })
    }

    /// Interest booked before it became a deposit (see [`history`]).
    #[retired(evt_key = "interest-credited", resources = ["account"])]
    fn interest_credited(payload: serde_json::Value) -> Result<fluvius::Upcasted, String> {
        history::interest_credited(&payload)
    }
}

/// Moves `amount` from one account to another in one atomic unit: a withdrawal from `from`
/// (refused on insufficient funds) and a deposit into `to`. Both commit or neither does, and the
/// answers are the two commands' responses, withdrawal first.
///
/// The commands carry `context` (user, tenant, business time). With `transfer_id`, the
/// transfer is idempotent: repeating it with the same id answers the recorded responses and
/// moves no more money (the two commands take ids derived from it).
pub async fn transfer(
    domain: &Domain,
    context: &Context,
    from: &str,
    to: &str,
    amount: i64,
    transfer_id: Option<uuid::Uuid>,
) -> Result<(Response, Response), fluvius::Error> {
    if from == to {
        return Err(DomainError::new(format!(
            "a transfer needs two different accounts, got `{from}` twice"
        ))
        .with_code("same-account")
        .into());
    }
    let mut withdraw = domain
        .command(Withdraw { amount }, ("account", from))?
        .with_context(context.clone());
    let mut deposit = domain
        .command(Deposit { amount }, ("account", to))?
        .with_context(context.clone());
    if let Some(id) = transfer_id {
        withdraw = withdraw.with_id(uuid::Uuid::new_v5(&id, b"withdraw"));
        deposit = deposit.with_id(uuid::Uuid::new_v5(&id, b"deposit"));
    }
    let mut answers = domain.process_unit([withdraw, deposit]).await?.into_iter();
    match (answers.next(), answers.next()) {
        (Some(withdrawn), Some(deposited)) => Ok((withdrawn, deposited)),
        _ => Err(fluvius::Error::internal(
            "a unit of two commands answered fewer than two responses",
        )),
    }
}

/// Where the bank's Cedar policies live: "tellers deposit, only the owner withdraws".
pub const POLICY_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/policies/bank.cedar");

/// The bank domain on the backend configured by `builder`, consulting the Cedar policies of
/// `policies` (the text of a policy file such as [`POLICY_FILE`]). The engine is returned too,
/// for reloading. A policy that does not fit the domain is an error here, at startup.
pub fn domain_with_policies(
    builder: fluvius::DomainBuilder,
    policies: &str,
) -> Result<(Domain, std::sync::Arc<fluvius::policy::CedarEngine>), fluvius::Error> {
    use fluvius::DomainBuilderExt;
    let builder = builder.aggregate(Banking);
    let engine = fluvius::policy::CedarEngine::from_sources(
        [builder.policy_model()],
        [(POLICY_FILE, policies)],
    )
    .map_err(|err| fluvius::Error::Config(err.to_string()))?;
    let engine = std::sync::Arc::new(engine);
    let domain = builder.shared_policy(engine.clone()).build()?;
    Ok((domain, engine))
}

/// The bank as a multi-tenant service: every command and read names its tenant (bank), the
/// Cedar policies of `policies` decide, and every command attempt is recorded in the audit log
/// (see [`domain_with_policies`]).
pub fn saas_domain(
    builder: fluvius::DomainBuilder,
    policies: &str,
) -> Result<(Domain, std::sync::Arc<fluvius::policy::CedarEngine>), fluvius::Error> {
    domain_with_policies(builder.multi_tenant(true).audit(true), policies)
}

/// The bank domain on the backend configured by `builder` (the in-memory one by default).
pub fn domain(builder: fluvius::DomainBuilder) -> Result<Domain, fluvius::Error> {
    use fluvius::DomainBuilderExt;
    builder.aggregate(Banking).build()
}
