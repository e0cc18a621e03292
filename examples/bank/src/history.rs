//! How the bank reads the events its earlier releases stored: the log is never rewritten, so
//! each change of an event's shape ships with the step that reads the old one
//! (`tests/golden.rs` keeps a stored sample of every version and checks they still read).
//!
//! - `customer-registered` v1 named the customer `full_name`; v2 calls it `name`.
//! - `interest-credited` was an event of its own in release 1; interest is booked as a
//!   `deposit-made` since, so the retired key reads as one.

use fluvius::Upcasted;
use serde_json::{Value, json};

/// `customer-registered` v1 → v2: `full_name` is renamed `name`.
pub fn customer_registered_v1(mut payload: Value) -> Result<Value, String> {
    let object = payload
        .as_object_mut()
        .ok_or("a `customer-registered` v1 payload is a JSON object")?;
    let name = object
        .remove("full_name")
        .ok_or("a `customer-registered` v1 payload has a `full_name`")?;
    object.insert("name".into(), name);
    Ok(payload)
}

/// `interest-credited` (retired) reads as the deposit it was.
pub fn interest_credited(payload: &Value) -> Result<Upcasted, String> {
    let amount = payload["amount"]
        .as_i64()
        .ok_or("an `interest-credited` payload has an integer `amount`")?;
    Ok(Upcasted::new(
        "deposit-made",
        1,
        json!({ "amount": amount }),
    ))
}
