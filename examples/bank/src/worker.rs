//! The bank's read side on PostgreSQL, as the `bank-worker` process runs it: account balances
//! in the table `bank_balances`, written by a projection in one transaction with its
//! checkpoint, under a worker's lease.

use fluvius::Domain;
use fluvius::readside::ReadsideError;
use fluvius::readside::postgres::PgProjection;
use sqlx::PgPool;

use crate::{AccountOpened, BalanceCorrected, DepositMade, WithdrawalMade};

/// The projection's name (its checkpoint and its lease).
pub const BALANCES: &str = "bank-balances";

/// Creates `bank_balances` if it is not there: one row per account, its balance and how many
/// events moved it.
pub async fn create_tables(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS bank_balances (
            account text PRIMARY KEY,
            balance bigint NOT NULL,
            events  bigint NOT NULL
        )",
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Adds `amount` to an account's row, counting the event.
async fn add(tx: &mut sqlx::PgConnection, account: &str, amount: i64) -> Result<(), ReadsideError> {
    sqlx::query(
        "INSERT INTO bank_balances (account, balance, events) VALUES ($1, $2, 1)
         ON CONFLICT (account) DO UPDATE
            SET balance = bank_balances.balance + excluded.balance,
                events = bank_balances.events + 1",
    )
    .bind(account)
    .bind(amount)
    .execute(&mut *tx)
    .await
    .map_err(ReadsideError::handler)?;
    Ok(())
}

/// The balances projection over `pool` (the event store's database).
pub fn balances(pool: PgPool) -> PgProjection {
    PgProjection::new(BALANCES, pool)
        .on("account-opened", |tx, data: AccountOpened, event| {
            Box::pin(add(tx, &event.identifier, data.initial_balance))
        })
        .on("deposit-made", |tx, data: DepositMade, event| {
            Box::pin(add(tx, &event.identifier, data.amount))
        })
        .on("withdrawal-made", |tx, data: WithdrawalMade, event| {
            Box::pin(add(tx, &event.identifier, -data.amount))
        })
        .on("balance-corrected", |tx, data: BalanceCorrected, event| {
            Box::pin(add(tx, &event.identifier, data.amount))
        })
}

/// The subscription the worker runs the projection through: the domain's events, in their
/// current shape.
pub fn subscription(domain: &Domain) -> fluvius::readside::Subscription {
    fluvius::readside::Subscription::new(domain.backend().clone())
        .namespace(domain.namespace())
        .upcast_with(domain)
}
