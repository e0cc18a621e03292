//! Tests that every `!op` and `!and` / `!or` is the exact complement of its positive form.

use serde_json::{Value, json};

use super::{absent, full, hits, nulls, parse};
use crate::filter::Filter;

/// Documents that exercise present, different, null and absent values.
fn documents() -> Vec<Value> {
    vec![
        full(),
        nulls(),
        absent(),
        json!({ "balance": 5, "owner": "Bob", "tags": [], "opened_at": "2020-01-01T00:00:00+05:00" }),
        json!({ "balance": 100.0, "address": { "city": "Paris" }, "active": false }),
    ]
}

/// `(field, operator, value)` triples covering every operator.
fn conditions() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        ("balance", "eq", json!(100)),
        ("balance", "ne", json!(100)),
        ("balance", "lt", json!(50)),
        ("balance", "lte", json!(100)),
        ("balance", "gt", json!(50)),
        ("balance", "gte", json!(5)),
        ("balance", "in", json!([5, 7])),
        ("balance", "between", json!([1, 10])),
        ("balance", "null", json!(true)),
        ("balance", "null", json!(false)),
        ("owner", "has", json!("ada")),
        ("tags", "has", json!("vip")),
        ("opened_at", "gt", json!("2019-12-31T20:00:00Z")),
        ("address.city", "eq", json!("Paris")),
        ("active", "eq", json!(false)),
    ]
}

#[test]
fn every_negated_operator_is_the_exact_complement() {
    for (field, op, value) in conditions() {
        let positive = parse(json!({ format!("{field}.{op}"): value.clone() }));
        let negative = parse(json!({ format!("{field}!{op}"): value.clone() }));
        assert_eq!(negative, Filter::Not(Box::new(positive.clone())));
        for doc in documents() {
            assert_ne!(
                positive.matches("r-1", &doc),
                negative.matches("r-1", &doc),
                "{field}.{op} {value} on {doc}"
            );
        }
    }
}

#[test]
fn negated_comparisons_match_null_and_absent_fields() {
    for (field, op, value) in conditions() {
        if op == "null" || op == "ne" {
            continue;
        }
        let negative = json!({ format!("{field}!{op}"): value });
        assert!(hits(negative.clone(), &nulls()), "{negative} on nulls");
        assert!(hits(negative.clone(), &absent()), "{negative} on absent");
    }
}

#[test]
fn negated_null_means_present() {
    assert!(hits(json!({ "closed_at!null": true }), &full()));
    assert!(!hits(json!({ "closed_at!null": true }), &nulls()));
    assert!(hits(json!({ "closed_at!null": false }), &absent()));
}

#[test]
fn negated_and_is_the_complement_of_and() {
    let members = json!([{ "balance.gt": 50 }, { "owner.has": "ada" }]);
    let positive = parse(json!({ ".and": members.clone() }));
    let negative = parse(json!({ "!and": members }));
    for doc in documents() {
        assert_ne!(
            positive.matches("r-1", &doc),
            negative.matches("r-1", &doc),
            "{doc}"
        );
    }
    assert!(!negative.matches("r-1", &full()));
    assert!(negative.matches("r-1", &absent()));
}

#[test]
fn negated_or_is_the_complement_of_or() {
    let members = json!([{ "balance": 5 }, { "address.city": "Paris" }]);
    let positive = parse(json!({ ".or": members.clone() }));
    let negative = parse(json!({ "!or": members }));
    for doc in documents() {
        assert_ne!(
            positive.matches("r-1", &doc),
            negative.matches("r-1", &doc),
            "{doc}"
        );
    }
    assert!(negative.matches("r-1", &full()));
    assert!(negative.matches("r-1", &nulls()));
    assert!(!negative.matches("r-1", &json!({ "balance": 5 })));
}

#[test]
fn negated_filters_on_nested_paths_match_missing_parents() {
    assert!(hits(
        json!({ "billing.geo.lat!gt": 0 }),
        &json!({ "billing": null })
    ));
    assert!(!hits(json!({ "billing.geo.lat!gt": 0 }), &full()));
}
