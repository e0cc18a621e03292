//! `Option<E>` and `Vec<E>` returns, and an action reading the command's `&Context`.
#![deny(warnings)]

use fluvius::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Counter {
    pub value: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Incremented {
    pub by: i64,
}

impl Apply<Incremented> for Counter {
    fn apply(&mut self, event: &Incremented) {
        self.value += event.by;
    }
}

pub struct Counting;

#[aggregate(resources(counter = Counter))]
impl Counting {
    /// Increments only when the step is not zero.
    #[action(evt_key = "counter-incremented", resources = ["counter"])]
    async fn maybe_increment(&self, by: i64) -> Result<Option<Incremented>, DomainError> {
        Ok((by != 0).then_some(Incremented { by }))
    }

    /// Increments by one, `times` times.
    #[action(evt_key = "counter-incremented", resources = ["counter"])]
    async fn repeat(&self, counter: &Counter, times: u32) -> Result<Vec<Incremented>, DomainError> {
        if counter.value < 0 {
            return Ok(Vec::new());
        }
        Ok((0..times).map(|_| Incremented { by: 1 }).collect())
    }

    /// Increments by one, for named users only.
    #[action(evt_key = "counter-incremented", resources = ["counter"])]
    async fn touch(&self, ctx: &Context) -> Result<Incremented, DomainError> {
        match ctx.user {
            Some(_) => Ok(Incremented { by: 1 }),
            None => Err(DomainError::new("only a named user may touch the counter")),
        }
    }
}

fn main() {
    let _domain = Domain::builder("counting")
        .aggregate(Counting)
        .build()
        .unwrap();
}
