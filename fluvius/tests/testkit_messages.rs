//! A failed expectation of the test kit says what was expected and what happened: events,
//! error messages and states.

use std::panic::{AssertUnwindSafe, catch_unwind};

use fluvius::prelude::*;
use fluvius::testkit::{AggregateTest, Then};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Counter {
    pub value: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Added {
    pub by: i64,
}

impl Apply<Added> for Counter {
    fn apply(&mut self, event: &Added) {
        self.value += event.by;
    }
}

#[derive(Debug)]
pub struct Counting;

#[aggregate(resources(counter = Counter))]
impl Counting {
    #[action(evt_key = "added", resources = ["counter"])]
    async fn add(&self, _counter: &Counter, by: i64) -> Result<Added, DomainError> {
        if by < 0 {
            return Err(DomainError::new("only additions"));
        }
        Ok(Added { by })
    }
}

async fn add(by: i64) -> Then {
    AggregateTest::new(Counting)
        .given("counter", [("added", json!({"by": 1}))])
        .when("add", json!({"by": by}))
        .await
}

/// The message of the panic `check` raises (the harness captures what the hook prints).
fn panic_message(check: impl FnOnce()) -> String {
    let caught = catch_unwind(AssertUnwindSafe(check));
    let payload = caught.expect_err("the expectation should fail");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

#[tokio::test]
async fn other_events_show_expected_and_actual() {
    let then = add(2).await;
    then.then_expect_events(&[("added", Added { by: 2 })]);
    let message = panic_message(|| {
        then.then_expect_events(&[("added", Added { by: 3 })]);
    });
    assert_eq!(
        message,
        "the command emitted other events\n  expected: [added {\"by\":3}]\n    actual: [added {\"by\":2}]"
    );
}

#[tokio::test]
async fn a_failure_instead_of_events_shows_the_error() {
    let then = add(-1).await;
    let message = panic_message(|| {
        then.then_expect_events(&[("added", Added { by: -1 })]);
    });
    assert_eq!(
        message,
        "the command failed instead of emitting events\n  expected: [added {\"by\":-1}]\n    \
         actual: error: rule broken: only additions"
    );
}

#[tokio::test]
async fn another_error_message_shows_both() {
    let then = add(-1).await;
    then.then_expect_error_message("only additions");
    let message = panic_message(|| {
        then.then_expect_error_message("too large");
    });
    assert_eq!(
        message,
        "the command failed with another message\n  expected: a message containing \"too \
         large\"\n    actual: \"rule broken: only additions\""
    );
    let succeeded = add(2).await;
    let message = panic_message(|| {
        succeeded.then_expect_error_message("only additions");
    });
    assert_eq!(
        message,
        "expected an error, the command succeeded\n  expected: an error containing \"only \
         additions\"\n    actual: events [added {\"by\":2}], state {\"value\":3}"
    );
}

#[tokio::test]
async fn another_state_shows_both() {
    let then = add(2).await;
    then.then_expect_state(&Counter { value: 3 });
    let message = panic_message(|| {
        then.then_expect_state(&Counter { value: 4 });
    });
    assert_eq!(
        message,
        "the state after the command differs\n  expected: Counter { value: 4 }\n    actual: \
         Counter { value: 3 }\n  expected JSON: {\"value\":4}\n    actual JSON: {\"value\":3}"
    );
}
