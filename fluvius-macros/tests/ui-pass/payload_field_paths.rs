//! Payload field types written relative to the aggregate's module (`self::`, `super::`, `crate::`,
//! imported names) resolve as written, and the payload types are named from outside the module.
#![deny(warnings)]

use fluvius::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An amount in cents, defined outside the aggregate's module.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
pub struct Cents(pub i64);

pub mod branch {
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

    /// A fee, defined in the module around the aggregate's module only.
    #[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
    pub struct Fee(pub i64);

    pub mod bank {
        use fluvius::prelude::*;
        use schemars::JsonSchema;
        use serde::{Deserialize, Serialize};

        use crate::Cents as Amount;

        /// A note attached to a transfer, defined in the aggregate's module.
        #[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
        pub struct Memo(pub String);

        #[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
        pub struct Account {
            pub balance: i64,
        }

        #[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
        pub struct Moved {
            pub cents: i64,
        }

        impl Apply<Moved> for Account {
            fn apply(&mut self, event: &Moved) {
                self.balance += event.cents;
            }
        }

        pub struct Bank;

        #[aggregate(resources(account = Account))]
        impl Bank {
            #[action(evt_key = "money-moved", resources = ["account"])]
            async fn transfer(
                &self,
                amount: Amount,
                fee: super::Fee,
                refund: Option<crate::Cents>,
                memo: self::Memo,
                notes: Vec<Memo>,
            ) -> Result<Moved, DomainError> {
                let _ = (memo, notes, refund);
                Ok(Moved {
                    cents: amount.0 - fee.0,
                })
            }
        }
    }
}

fn main() {
    let _payload = branch::bank::Transfer {
        amount: Cents(10),
        fee: branch::Fee(1),
        refund: None,
        memo: branch::bank::Memo("rent".into()),
        notes: Vec::new(),
    };
    let _domain = Domain::builder("bank")
        .aggregate(branch::bank::Bank)
        .build()
        .unwrap();
}
