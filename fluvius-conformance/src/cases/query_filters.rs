//! The filter DSL over the state store (decision D8): operators on strings, nulls and nested
//! fields, `!` negation as the exact complement, and `.and` / `.or` / `!and` / `!or`.

use std::sync::Arc;

use fluvius_core::{Backend, Domain, Query};
use serde_json::{Value, json};

use super::fixtures::{customers, seed_customers};
use crate::domain::{self, Customer};
use crate::support::ids;

/// Runs a filter over the customers (page of 50, id order) and returns the matching ids.
async fn matching(domain: &Domain, filter: Value) -> Vec<String> {
    let query = Query::new().filter(filter.clone());
    let found = domain
        .statemgr()
        .find::<Customer>("customer", &query)
        .await
        .unwrap_or_else(|err| panic!("filter {filter} failed: {err}"));
    assert_eq!(
        found.page.total,
        found.items.len() as u64,
        "filter {filter}: total counts every match"
    );
    ids(&found)
}

async fn check(domain: &Domain, cases: Vec<(Value, Vec<String>)>) {
    for (filter, want) in cases {
        assert_eq!(
            matching(domain, filter.clone()).await,
            want,
            "filter {filter}"
        );
    }
}

/// `eq` (bare and explicit), `ne`, `in`, `has` (case-insensitive substring), ordering on strings
/// by code point, `between` inclusive, `null`, on top-level and nested fields.
pub async fn filter_operators(backend: Arc<dyn Backend>) {
    let domain = domain::domain(backend);
    seed_customers(&domain).await;
    let paris = customers(&[1, 5, 8, 12, 16, 20]);
    let no_city = customers(&[3, 6, 10, 14, 18]);
    let no_email = customers(&[2, 5, 8, 11, 14, 17, 20]);
    check(
        &domain,
        vec![
            (json!({"address.city": "Paris"}), paris.clone()),
            (json!({"address.city.eq": "Paris"}), paris),
            (json!({"name.eq": "ada"}), vec![]),
            (json!({"tier": "silver"}), customers(&[2, 6, 9, 12, 15, 18])),
            // `ne` is the complement of `eq`: rows without a city or an email are in it.
            (
                json!({"address.city.ne": "Paris"}),
                customers(&[2, 3, 4, 6, 7, 9, 10, 11, 13, 14, 15, 17, 18, 19]),
            ),
            (
                json!({"email.ne": "ada@x.io"}),
                customers(&(2..=20).collect::<Vec<_>>()),
            ),
            (
                json!({"tier.in": ["gold", "platinum"]}),
                customers(&[1, 4, 7, 10, 13, 16, 19]),
            ),
            (
                json!({"address.city.in": ["Nice", "Oslo"]}),
                customers(&[4, 9, 13, 17]),
            ),
            (
                json!({"email.has": "@Y.IO"}),
                customers(&[4, 7, 10, 13, 16, 19]),
            ),
            (
                json!({"name.has": "i"}),
                customers(&[6, 9, 11, 14, 15, 16, 17, 20]),
            ),
            (json!({"name.lt": "C"}), customers(&[1, 2])),
            (json!({"name.lte": "Cleo"}), customers(&[1, 2, 3])),
            (json!({"name.gt": "Quin"}), customers(&[18, 19, 20])),
            (json!({"name.gte": "Quin"}), customers(&[17, 18, 19, 20])),
            (json!({"name.between": ["D", "G"]}), customers(&[4, 5, 6])),
            (
                json!({"name.between": ["Dan", "Finn"]}),
                customers(&[4, 5, 6]),
            ),
            (
                json!({"address.city.lt": "M"}),
                customers(&[2, 7, 11, 15, 19]),
            ),
            (json!({"email.null": true}), no_email.clone()),
            (
                json!({"email.null": false}),
                customers(&[1, 3, 4, 6, 7, 9, 10, 12, 13, 15, 16, 18, 19]),
            ),
            (json!({"address.city.null": true}), no_city.clone()),
            (json!({"address.null": true}), no_city),
            (
                json!({"tier": "bronze", "email.null": false}),
                customers(&[3]),
            ),
        ],
    )
    .await;
}

/// `field!op` is the exact complement of `field.op`: rows where the field is null or absent
/// match it, although no comparison but `ne` matches them.
pub async fn filter_negation(backend: Arc<dyn Backend>) {
    let domain = domain::domain(backend);
    seed_customers(&domain).await;
    let everyone: Vec<u32> = (1..=20).collect();
    let complement = |of: &[u32]| -> Vec<String> {
        customers(
            &everyone
                .iter()
                .copied()
                .filter(|n| !of.contains(n))
                .collect::<Vec<_>>(),
        )
    };
    check(
        &domain,
        vec![
            (
                json!({"address.city!eq": "Paris"}),
                complement(&[1, 5, 8, 12, 16, 20]),
            ),
            (
                json!({"address.city!ne": "Paris"}),
                customers(&[1, 5, 8, 12, 16, 20]),
            ),
            (
                json!({"email!has": "@y.io"}),
                complement(&[4, 7, 10, 13, 16, 19]),
            ),
            (
                json!({"tier!in": ["gold", "silver"]}),
                customers(&[3, 5, 8, 11, 14, 17, 20]),
            ),
            (
                json!({"address.city!lt": "M"}),
                complement(&[2, 7, 11, 15, 19]),
            ),
            (json!({"name!between": ["D", "G"]}), complement(&[4, 5, 6])),
            (
                json!({"email!null": true}),
                complement(&[2, 5, 8, 11, 14, 17, 20]),
            ),
            (
                json!({"address.city!null": false}),
                customers(&[3, 6, 10, 14, 18]),
            ),
            (json!({"email!eq": "nobody@z.io"}), customers(&everyone)),
        ],
    )
    .await;
}

/// Several keys are AND; `.or` / `.and` take an array (or an object) of filters; `!or` / `!and`
/// are their exact complements; compositions nest.
pub async fn filter_composition(backend: Arc<dyn Backend>) {
    let domain = domain::domain(backend);
    seed_customers(&domain).await;
    let gold_or_paris = customers(&[1, 4, 5, 7, 8, 10, 12, 13, 16, 19, 20]);
    check(
        &domain,
        vec![
            (
                json!({".or": [{"tier": "gold"}, {"address.city": "Paris"}]}),
                gold_or_paris.clone(),
            ),
            (
                json!({".or": {"tier": "gold", "address.city": "Paris"}}),
                gold_or_paris,
            ),
            (
                json!({"!or": [{"tier": "gold"}, {"address.city": "Paris"}]}),
                customers(&[2, 3, 6, 9, 11, 14, 15, 17, 18]),
            ),
            (
                json!({".and": [{"tier": "gold"}, {"address.city": "Paris"}]}),
                customers(&[1, 16]),
            ),
            (
                json!({"!and": [{"tier": "gold"}, {"address.city": "Paris"}]}),
                customers(&[
                    2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17, 18, 19, 20,
                ]),
            ),
            (
                json!({"tier": "bronze", ".or": [{"email.null": true}, {"address.city": "Nice"}]}),
                customers(&[5, 8, 11, 14, 17, 20]),
            ),
            (
                json!({".or": [
                    {".and": [{"tier": "silver"}, {"address.city.null": true}]},
                    {"name.has": "ia", "email.null": true}
                ]}),
                customers(&[6, 14, 18, 20]),
            ),
            (json!({}), customers(&(1..=20).collect::<Vec<_>>())),
        ],
    )
    .await;
}

/// The shorthands of D8: `eq null` is `null: true` and `ne null` is `null: false` (bare `null`
/// too); `field!` is `field!eq`; a `null` among `in` values stands for the null rows; a
/// top-level list and a dict under `.and` / `!or` are AND / the complement of OR; `id` is the
/// identifier. Each negation returns exactly the rows its positive form does not.
pub async fn filter_shorthands(backend: Arc<dyn Backend>) {
    let domain = domain::domain(backend);
    seed_customers(&domain).await;
    let everyone: Vec<u32> = (1..=20).collect();
    let complement = |of: &[u32]| -> Vec<String> {
        customers(
            &everyone
                .iter()
                .copied()
                .filter(|n| !of.contains(n))
                .collect::<Vec<_>>(),
        )
    };
    let no_email = [2, 5, 8, 11, 14, 17, 20];
    let nice_or_no_city = [3, 4, 6, 9, 10, 13, 14, 17, 18];
    check(
        &domain,
        vec![
            (json!({"email": null}), customers(&no_email)),
            (json!({"email.eq": null}), customers(&no_email)),
            (json!({"email.ne": null}), complement(&no_email)),
            (json!({"email!eq": null}), complement(&no_email)),
            (json!({"email!": null}), complement(&no_email)),
            (json!({"email!ne": null}), customers(&no_email)),
            (json!({"email!": "ada@x.io"}), complement(&[1])),
            (
                json!({"address.city.in": ["Nice", null]}),
                customers(&nice_or_no_city),
            ),
            (
                json!({"address.city!in": ["Nice", null]}),
                complement(&nice_or_no_city),
            ),
            (
                json!([{"tier": "gold"}, {"address.city": "Paris"}]),
                customers(&[1, 16]),
            ),
            (json!([]), customers(&everyone)),
            (
                json!({".and": {"tier": "gold", "address.city": "Paris"}}),
                customers(&[1, 16]),
            ),
            (
                json!({"!or": {"tier": "gold", "address.city": "Paris"}}),
                customers(&[2, 3, 6, 9, 11, 14, 15, 17, 18]),
            ),
            (
                json!({"!and": {"tier": "gold", "address.city": "Paris"}}),
                complement(&[1, 16]),
            ),
            (json!({"id": "c-03"}), customers(&[3])),
            (json!({"id.in": ["c-01", "c-20", "x"]}), customers(&[1, 20])),
            (json!({"id.gte": "c-18"}), customers(&[18, 19, 20])),
            (json!({"id!between": ["c-02", "c-19"]}), customers(&[1, 20])),
            (
                json!({"id.has": "C-1"}),
                customers(&(10..=19).collect::<Vec<_>>()),
            ),
            (
                json!({"id!": "c-03", "tier": "bronze"}),
                customers(&[5, 8, 11, 14, 17, 20]),
            ),
        ],
    )
    .await;
}
