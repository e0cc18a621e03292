//! A domain whose one action takes as long as its payload says, so tests can hold a command
//! in flight.

use std::time::Duration;

use fluvius::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How many times a gate was passed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Gate {
    /// Passes so far.
    pub passes: u32,
}

/// A gate was passed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Passed {
    /// How long the pass took.
    pub millis: u64,
}

impl Apply<Passed> for Gate {
    fn apply(&mut self, _event: &Passed) {
        self.passes += 1;
    }
}

/// Gates that take their time.
#[derive(Debug)]
pub struct Slow;

#[aggregate(resources(gate = Gate))]
impl Slow {
    /// Opens a gate.
    #[action(evt_key = "gate-opened", resources = ["gate"], new)]
    async fn open_gate(&self) -> Result<Passed, DomainError> {
        Ok(Passed { millis: 0 })
    }

    /// Passes a gate after waiting `millis` (at most two seconds).
    #[action(evt_key = "gate-passed", resources = ["gate"])]
    async fn pass(&self, gate: &Gate, millis: u64) -> Result<Passed, DomainError> {
        let _ = gate;
        tokio::time::sleep(Duration::from_millis(millis.min(2000))).await;
        Ok(Passed { millis })
    }
}

/// The slow domain, in memory.
pub fn domain() -> Domain {
    Domain::builder("slow")
        .aggregate(Slow)
        .build()
        .expect("the slow domain builds")
}
