//! The bank's read side: the balance of every customer across their accounts (a projection),
//! a notification for each withdrawal (an event handler, where a real bank would send mail),
//! and the desk that receives the alerts large withdrawals send through the outbox (what an
//! outbox relay delivers to).

use std::sync::{Arc, Mutex};

use fluvius::backend::BoxFuture;
use fluvius::readside::{Deliver, EventHandler, MapProjection, ReadsideError};
use fluvius::{EventEnvelope, OutboxEntry};

use crate::{AccountOpened, BalanceCorrected, DepositMade, LargeWithdrawal, WithdrawalMade};

/// One account as the projection keeps it: its owner and its balance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountLine {
    /// The owner.
    pub customer_id: String,
    /// The balance in cents.
    pub balance: i64,
}

/// The projection `customer-balances`: one line per account, keyed by account id; see
/// [`customer_balance`] for a customer's total.
pub fn customer_balances() -> MapProjection<String, AccountLine> {
    let add = |map: &mut fluvius::readside::MapView<'_, String, AccountLine>,
               event: &EventEnvelope,
               amount: i64| {
        match map.get(&event.identifier).cloned() {
            Some(mut line) => {
                line.balance += amount;
                map.insert(event.identifier.clone(), line);
                Ok(())
            }
            None => Err(ReadsideError::handler(format!(
                "account {} has money moving before it was opened",
                event.identifier
            ))),
        }
    };
    MapProjection::new("customer-balances")
        .on("account-opened", |map, data: AccountOpened, event| {
            map.insert(
                event.identifier.clone(),
                AccountLine {
                    customer_id: data.customer_id,
                    balance: data.initial_balance,
                },
            );
            Ok(())
        })
        .on("deposit-made", move |map, data: DepositMade, event| {
            add(map, event, data.amount)
        })
        .on(
            "withdrawal-made",
            move |map, data: WithdrawalMade, event| add(map, event, -data.amount),
        )
        .on(
            "balance-corrected",
            move |map, data: BalanceCorrected, event| add(map, event, data.amount),
        )
}

/// A customer's balance over all their accounts, as the projection has it.
pub fn customer_balance(projection: &MapProjection<String, AccountLine>, customer_id: &str) -> i64 {
    projection.with(|lines, _| {
        lines
            .values()
            .filter(|line| line.customer_id == customer_id)
            .map(|line| line.balance)
            .sum()
    })
}

/// Sends a notification for each withdrawal. Here it keeps them in memory; a real one would
/// call a mail service, and may be called twice for one event, so it would send idempotently
/// (keyed by the event id).
#[derive(Debug, Clone, Default)]
pub struct WithdrawalNotifier {
    sent: Arc<Mutex<Vec<(String, i64)>>>,
}

impl WithdrawalNotifier {
    /// The notifications sent so far: (account id, amount).
    pub fn sent(&self) -> Vec<(String, i64)> {
        self.sent
            .lock()
            .map(|sent| sent.clone())
            .unwrap_or_default()
    }
}

impl EventHandler for WithdrawalNotifier {
    fn handle<'a>(&'a self, event: &'a EventEnvelope) -> BoxFuture<'a, Result<(), ReadsideError>> {
        Box::pin(async move {
            if event.evt_key == "withdrawal-made" {
                let data: WithdrawalMade = fluvius::readside::decode(event, 1)?;
                if let Ok(mut sent) = self.sent.lock() {
                    sent.push((event.identifier.clone(), data.amount));
                }
            }
            Ok(())
        })
    }
}

/// Receives the [`LargeWithdrawal`] alerts of the outbox's [`ALERTS`](crate::ALERTS) topic, as
/// a fraud desk would: here it keeps them, and prints them when asked to. An outbox relay
/// delivers at least once, so the desk keeps each message id once.
#[derive(Debug, Clone, Default)]
pub struct AlertDesk {
    received: Arc<Mutex<Vec<(uuid::Uuid, String, LargeWithdrawal)>>>,
    print: bool,
}

impl AlertDesk {
    /// A desk that prints each alert as it arrives.
    pub fn printing() -> AlertDesk {
        AlertDesk {
            print: true,
            ..AlertDesk::default()
        }
    }

    /// The alerts received: (account, alert).
    pub fn received(&self) -> Vec<(String, LargeWithdrawal)> {
        self.received
            .lock()
            .map(|got| got.iter().map(|(_, a, w)| (a.clone(), w.clone())).collect())
            .unwrap_or_default()
    }
}

impl Deliver for AlertDesk {
    fn deliver<'a>(&'a self, entry: &'a OutboxEntry) -> BoxFuture<'a, Result<(), ReadsideError>> {
        Box::pin(async move {
            let alert: LargeWithdrawal = serde_json::from_value(entry.message.payload.clone())
                .map_err(|err| ReadsideError::handler(format!("not an alert: {err}")))?;
            let account = entry.message.origin.identifier.clone().unwrap_or_default();
            let mut got = self
                .received
                .lock()
                .map_err(|_| ReadsideError::handler("the desk's list is poisoned"))?;
            if got.iter().any(|(id, _, _)| *id == entry.message.id) {
                return Ok(());
            }
            if self.print {
                println!(
                    "    alert: {} withdrawn from {account}, {} left (message {})",
                    alert.amount, alert.balance, entry.message.id
                );
            }
            got.push((entry.message.id, account, alert));
            Ok(())
        })
    }
}
