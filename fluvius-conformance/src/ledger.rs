//! A small domain in three releases over one stored resource, for the upgrade cases: what a
//! deploy does to states written by the code before it.
//!
//! - [`v1`]: `open` and `credit`; the ledger's `total` counts whole units.
//! - [`v2`]: the same plus `debit`, a new action with a new event key. The states v1 stored
//!   still mean the same, so their digest must not change.
//! - [`v3`]: `credited` now counts cents (`total` is 100 times the units) with an unchanged
//!   schema, so the aggregate bumps `state_version`: every stored state is stale.

use std::sync::Arc;

use fluvius_core::{Apply, Backend, Domain, DomainError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The namespace of the ledger domain.
pub const NAMESPACE: &str = "upgrade";

/// The state of a `ledger`, the same type in every release.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Ledger {
    /// Who owns the ledger.
    pub owner: String,
    /// The sum of the credits less the debits: units in v1 and v2, cents from v3 on.
    pub total: i64,
}

/// Event data of `opened`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Opened {
    /// The owner.
    pub owner: String,
}

/// Event data of `credited` as v1 and v2 read it: whole units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Credited {
    /// The amount, in units.
    pub amount: i64,
}

/// Event data of `credited` as v3 reads it: the same JSON, counted in cents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CreditedInCents {
    /// The amount, in units.
    pub amount: i64,
}

/// Event data of `debited` (new in v2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Debited {
    /// The amount, in units.
    pub amount: i64,
}

impl Apply<Opened> for Ledger {
    fn apply(&mut self, event: &Opened) {
        self.owner = event.owner.clone();
    }
}

impl Apply<Credited> for Ledger {
    fn apply(&mut self, event: &Credited) {
        self.total += event.amount;
    }
}

impl Apply<CreditedInCents> for Ledger {
    fn apply(&mut self, event: &CreditedInCents) {
        self.total += event.amount * 100;
    }
}

impl Apply<Debited> for Ledger {
    fn apply(&mut self, event: &Debited) {
        self.total -= event.amount;
    }
}

/// The first release.
pub mod v1 {
    use super::*;

    /// `open` and `credit`.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Books;

    #[fluvius_macros::aggregate(crate = ::fluvius_core, resources(ledger = Ledger))]
    impl Books {
        /// Opens a ledger.
        #[action(evt_key = "opened", resources = ["ledger"], new)]
        async fn open(&self, owner: String) -> Result<Opened, DomainError> {
            Ok(Opened { owner })
        }

        /// Credits an amount.
        #[action(evt_key = "credited", resources = ["ledger"])]
        async fn credit(&self, _ledger: &Ledger, amount: i64) -> Result<Credited, DomainError> {
            Ok(Credited { amount })
        }
    }
}

/// The second release: one more action.
pub mod v2 {
    use super::*;

    /// `open`, `credit` and the new `debit`.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Books;

    #[fluvius_macros::aggregate(crate = ::fluvius_core, resources(ledger = Ledger))]
    impl Books {
        /// Opens a ledger.
        #[action(evt_key = "opened", resources = ["ledger"], new)]
        async fn open(&self, owner: String) -> Result<Opened, DomainError> {
            Ok(Opened { owner })
        }

        /// Credits an amount.
        #[action(evt_key = "credited", resources = ["ledger"])]
        async fn credit(&self, _ledger: &Ledger, amount: i64) -> Result<Credited, DomainError> {
            Ok(Credited { amount })
        }

        /// Debits an amount.
        #[action(evt_key = "debited", resources = ["ledger"])]
        async fn debit(&self, _ledger: &Ledger, amount: i64) -> Result<Debited, DomainError> {
            Ok(Debited { amount })
        }
    }
}

/// The third release: `total` counts cents, announced by `state_version = 2`.
pub mod v3 {
    use super::*;

    /// `open` and `credit`, folding credits in cents.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Books;

    #[fluvius_macros::aggregate(crate = ::fluvius_core, state_version = 2, resources(ledger = Ledger))]
    impl Books {
        /// Opens a ledger.
        #[action(evt_key = "opened", resources = ["ledger"], new)]
        async fn open(&self, owner: String) -> Result<Opened, DomainError> {
            Ok(Opened { owner })
        }

        /// Credits an amount.
        #[action(evt_key = "credited", resources = ["ledger"])]
        async fn credit(
            &self,
            _ledger: &Ledger,
            amount: i64,
        ) -> Result<CreditedInCents, DomainError> {
            Ok(CreditedInCents { amount })
        }
    }
}

/// The ledger domain of release 1 on `backend`.
pub fn domain_v1(backend: Arc<dyn Backend>) -> Domain {
    finish(Domain::builder(NAMESPACE).aggregate(v1::Books), backend)
}

/// The ledger domain of release 2 on `backend`.
pub fn domain_v2(backend: Arc<dyn Backend>) -> Domain {
    finish(Domain::builder(NAMESPACE).aggregate(v2::Books), backend)
}

/// The ledger domain of release 3 on `backend`.
pub fn domain_v3(backend: Arc<dyn Backend>) -> Domain {
    finish(Domain::builder(NAMESPACE).aggregate(v3::Books), backend)
}

/// The multi-tenant ledger domain of release 1 on `backend`.
pub fn domain_v1_tenants(backend: Arc<dyn Backend>) -> Domain {
    let builder = Domain::builder(NAMESPACE).aggregate(v1::Books);
    finish(builder.multi_tenant(true), backend)
}

/// The multi-tenant ledger domain of release 3 on `backend`.
pub fn domain_v3_tenants(backend: Arc<dyn Backend>) -> Domain {
    let builder = Domain::builder(NAMESPACE).aggregate(v3::Books);
    finish(builder.multi_tenant(true), backend)
}

fn finish(builder: fluvius_core::DomainBuilder, backend: Arc<dyn Backend>) -> Domain {
    builder
        .shared_backend(backend)
        .finish()
        .expect("the ledger domain is well formed")
}
