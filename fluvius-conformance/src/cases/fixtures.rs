//! The rows the query cases filter, sort and page: twenty customers with nulls and nested fields,
//! twenty accounts with numbers, arrays and timestamps.

use chrono::Duration;
use fluvius_core::Domain;
use serde_json::json;

use crate::support::{self, ok, t0};

/// `(id, name, email, tier, city)`.
type CustomerRow = (
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static str,
    Option<&'static str>,
);

/// The seeded customers. A `None` city means `address: null`, so `address.city` is absent rather
/// than null.
pub(crate) const CUSTOMERS: [CustomerRow; 20] = [
    ("c-01", "Ada", Some("ada@x.io"), "gold", Some("Paris")),
    ("c-02", "Bob", None, "silver", Some("Lyon")),
    ("c-03", "Cleo", Some("cleo@x.io"), "bronze", None),
    ("c-04", "Dan", Some("dan@y.io"), "gold", Some("Nice")),
    ("c-05", "Eve", None, "bronze", Some("Paris")),
    ("c-06", "Finn", Some("finn@x.io"), "silver", None),
    ("c-07", "Gus", Some("gus@y.io"), "gold", Some("Lyon")),
    ("c-08", "Hana", None, "bronze", Some("Paris")),
    ("c-09", "Ivo", Some("ivo@x.io"), "silver", Some("Nice")),
    ("c-10", "Jo", Some("jo@y.io"), "gold", None),
    ("c-11", "Kai", None, "bronze", Some("Lyon")),
    ("c-12", "Lea", Some("lea@x.io"), "silver", Some("Paris")),
    ("c-13", "Max", Some("max@y.io"), "gold", Some("Nice")),
    ("c-14", "Nia", None, "bronze", None),
    ("c-15", "Oli", Some("oli@x.io"), "silver", Some("Lyon")),
    ("c-16", "Pia", Some("pia@y.io"), "gold", Some("Paris")),
    ("c-17", "Quin", None, "bronze", Some("Nice")),
    ("c-18", "Rae", Some("rae@x.io"), "silver", None),
    ("c-19", "Sam", Some("sam@y.io"), "gold", Some("Lyon")),
    ("c-20", "Tia", None, "bronze", Some("Paris")),
];

/// Registers [`CUSTOMERS`], in reverse order so the id order is not the insertion order.
pub(crate) async fn seed_customers(domain: &Domain) {
    for (id, name, email, tier, city) in CUSTOMERS.iter().rev() {
        let payload = json!({"name": name, "email": email, "tier": tier, "city": city});
        support::run(domain, "register", payload, ("customer", *id)).await;
    }
}

/// Opens `a-01` .. `a-20`: balance `10 * n`, business time `t0 + n days`, owner `Owner n`
/// (`Ali n` when `n % 4 == 1`), tags `even` for even `n` and `five` for multiples of five.
pub(crate) async fn seed_accounts(domain: &Domain) {
    for n in (1..=20i64).rev() {
        let owner = if n % 4 == 1 {
            format!("Ali {n}")
        } else {
            format!("Owner {n}")
        };
        let mut tags = Vec::new();
        if n % 2 == 0 {
            tags.push("even");
        }
        if n % 5 == 0 {
            tags.push("five");
        }
        let payload = json!({"owner": owner, "initial": 10 * n, "tags": tags});
        let command = support::command(domain, "open-account", payload, ("account", account_id(n)))
            .with_context(support::ctx().time(t0() + Duration::days(n)));
        ok(domain, command).await;
    }
}

/// The identifier of seeded account `n`.
pub(crate) fn account_id(n: i64) -> String {
    format!("a-{n:02}")
}

/// Identifiers `c-NN` for the given numbers.
pub(crate) fn customers(numbers: &[u32]) -> Vec<String> {
    numbers.iter().map(|n| format!("c-{n:02}")).collect()
}

/// Identifiers `a-NN` for the given numbers.
pub(crate) fn accounts(numbers: impl IntoIterator<Item = i64>) -> Vec<String> {
    numbers.into_iter().map(account_id).collect()
}
