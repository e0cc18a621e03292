//! A small domain in three releases over one stored resource, for the upgrade cases: what a
//! deploy does to states written by the code before it.
//!
//! - [`v1`]: `open` and `credit`; the ledger's `total` counts whole units.
//! - [`v2`]: the same plus `debit`, a new action with a new event key. The states v1 stored
//!   still mean the same, so their digest must not change.
//! - [`v3`]: `credited` now counts cents (`total` is 100 times the units) with an unchanged
//!   schema, so the aggregate bumps `state_version`: every stored state is stale.
//! - [`v4`], the release after v2 by another road: events evolve instead. `opened` renames its
//!   field (`owner` to `holder`, schema v2), `credited` carries cents (`{"cents": ..}`, schema
//!   v2, upcast from units), `debited` is retired and read as the new `charged`, and `noted` (a
//!   key a tool once wrote) is retired and skipped. `total` counts cents, so `state_version = 2`.

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

/// Event data of `opened` from v4 on (schema version 2): the field is `holder`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OpenedV2 {
    /// The owner.
    pub holder: String,
}

/// Event data of `credited` from v4 on (schema version 2): cents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CreditedV2 {
    /// The amount, in cents.
    pub cents: i64,
}

/// Event data of `charged`, new in v4 (it replaces `debited`): cents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Charged {
    /// The amount, in cents.
    pub cents: i64,
}

impl Apply<OpenedV2> for Ledger {
    fn apply(&mut self, event: &OpenedV2) {
        self.owner = event.holder.clone();
    }
}

impl Apply<CreditedV2> for Ledger {
    fn apply(&mut self, event: &CreditedV2) {
        self.total += event.cents;
    }
}

impl Apply<Charged> for Ledger {
    fn apply(&mut self, event: &Charged) {
        self.total -= event.cents;
    }
}

/// The fourth release: evolved events, read through upcasters.
pub mod v4 {
    use serde_json::{Value, json};

    use super::*;

    /// `open`, `credit` and `charge`, folding in cents.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Books;

    /// `opened` v1 called the holder `owner`.
    fn opened_v1_to_v2(mut payload: Value) -> Result<Value, String> {
        let object = payload.as_object_mut().ok_or("not an object")?;
        let owner = object.remove("owner").ok_or("no `owner` field")?;
        object.insert("holder".into(), owner);
        Ok(payload)
    }

    /// `credited` v1 counted whole units.
    fn credited_v1_to_v2(payload: Value) -> Result<Value, String> {
        let units = payload["amount"]
            .as_i64()
            .ok_or("`amount` is not an integer")?;
        let cents = units
            .checked_mul(100)
            .ok_or("`amount` overflows in cents")?;
        Ok(json!({ "cents": cents }))
    }

    #[fluvius_macros::aggregate(crate = ::fluvius_core, state_version = 2, resources(ledger = Ledger))]
    impl Books {
        /// Opens a ledger.
        #[action(evt_key = "opened", resources = ["ledger"], new, schema_version = 2, upcast(1 = opened_v1_to_v2))]
        async fn open(&self, holder: String) -> Result<OpenedV2, DomainError> {
            Ok(OpenedV2 { holder })
        }

        /// Credits an amount in cents.
        #[action(evt_key = "credited", resources = ["ledger"], schema_version = 2, upcast(1 = credited_v1_to_v2))]
        async fn credit(&self, _ledger: &Ledger, cents: i64) -> Result<CreditedV2, DomainError> {
            Ok(CreditedV2 { cents })
        }

        /// Charges an amount in cents.
        #[action(evt_key = "charged", resources = ["ledger"])]
        async fn charge(&self, _ledger: &Ledger, cents: i64) -> Result<Charged, DomainError> {
            Ok(Charged { cents })
        }

        /// `debited` (v2, units) is booked as a charge in cents since v4.
        #[retired(evt_key = "debited")]
        fn debited(payload: Value) -> Result<fluvius_core::Upcasted, String> {
            let units = payload["amount"]
                .as_i64()
                .ok_or("`amount` is not an integer")?;
            let cents = units
                .checked_mul(100)
                .ok_or("`amount` overflows in cents")?;
            Ok(fluvius_core::Upcasted::new(
                "charged",
                1,
                json!({ "cents": cents }),
            ))
        }

        /// `noted` events were written by a tool and never changed a ledger.
        #[retired(evt_key = "noted", resources = ["ledger"])]
        fn noted(_payload: Value, _schema_version: u32) {}
    }
}

/// The stream key of the ledger `id` (single-tenant).
pub fn key(id: &str) -> fluvius_core::StreamKey {
    fluvius_core::StreamKey {
        tenant: String::new(),
        namespace: NAMESPACE.to_owned(),
        resource: "ledger".to_owned(),
        id: id.to_owned(),
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

/// The ledger domain of release 4 on `backend`.
pub fn domain_v4(backend: Arc<dyn Backend>) -> Domain {
    finish(Domain::builder(NAMESPACE).aggregate(v4::Books), backend)
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
