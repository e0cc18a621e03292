//! Tests of sort parsing and of the order `compare_docs` gives, nulls and ties included.

use std::cmp::Ordering;

use serde_json::{Value, json};

use super::fields;
use crate::filter::{FieldKind, FilterError, SortKey, compare_docs, parse_sort};

fn keys(items: &[&str]) -> Result<Vec<SortKey>, FilterError> {
    let items: Vec<String> = items.iter().map(|item| (*item).to_owned()).collect();
    parse_sort(&items, &fields())
}

/// Sorts `(id, doc)` pairs and returns the ids in order.
fn order(items: &[&str], docs: &[(&str, Value)]) -> Vec<String> {
    let keys = keys(items).unwrap();
    let mut docs = docs.to_vec();
    docs.sort_by(|(a_id, a), (b_id, b)| compare_docs(a, a_id, b, b_id, &keys));
    docs.into_iter().map(|(id, _)| id.to_owned()).collect()
}

fn balances() -> Vec<(&'static str, Value)> {
    vec![
        ("d", json!({ "balance": null })),
        ("b", json!({ "balance": 20 })),
        ("e", json!({})),
        ("a", json!({ "balance": 5.5 })),
        ("c", json!({ "balance": 20.0 })),
    ]
}

#[test]
fn items_parse_with_directions_and_commas() {
    let parsed = keys(&["balance.desc, owner", "address.city.asc", "opened_at"]).unwrap();
    let summary: Vec<(&str, bool)> = parsed
        .iter()
        .map(|k| (k.field.as_str(), k.descending))
        .collect();
    assert_eq!(
        summary,
        [
            ("balance", true),
            ("owner", false),
            ("address.city", false),
            ("opened_at", false)
        ]
    );
    assert_eq!(parsed[2].path, ["address", "city"]);
    assert_eq!(parsed[3].kind, FieldKind::DateTime);
    assert!(keys(&["", " , "]).unwrap().is_empty());
}

#[test]
fn bad_sort_items_are_errors_naming_them() {
    let message = |items: &[&str]| keys(items).unwrap_err().to_string();
    assert_eq!(
        message(&["balanc"]),
        "unknown sort field `balanc` in sort item `balanc`"
    );
    assert_eq!(
        message(&["balanc.desc"]),
        "unknown sort field `balanc` in sort item `balanc.desc`"
    );
    assert_eq!(
        message(&["owner,addres.city"]),
        "unknown sort field `addres` in sort item `addres.city`"
    );
    assert_eq!(
        message(&["balance.up"]),
        "unknown sort direction `up` in sort item `balance.up` (expected `asc` or `desc`)"
    );
    assert_eq!(message(&["tags"]), "cannot sort on `tags` (array field)");
    assert_eq!(
        message(&["address.desc"]),
        "cannot sort on `address` (object field)"
    );
}

#[test]
fn ascending_puts_null_and_absent_last_and_breaks_ties_by_id() {
    assert_eq!(order(&["balance"], &balances()), ["a", "b", "c", "d", "e"]);
    assert_eq!(
        order(&["balance.asc"], &balances()),
        ["a", "b", "c", "d", "e"]
    );
}

#[test]
fn descending_puts_null_and_absent_first_and_ties_stay_by_id_ascending() {
    assert_eq!(
        order(&["balance.desc"], &balances()),
        ["d", "e", "b", "c", "a"]
    );
}

#[test]
fn later_keys_break_ties_of_earlier_ones() {
    let docs = vec![
        ("1", json!({ "active": true, "owner": "b" })),
        ("2", json!({ "active": false, "owner": "z" })),
        ("3", json!({ "active": true, "owner": "a" })),
        ("4", json!({ "active": false, "owner": "a" })),
    ];
    assert_eq!(
        order(&["active", "owner.desc"], &docs),
        ["2", "4", "1", "3"]
    );
    assert_eq!(order(&["active.desc,owner"], &docs), ["3", "1", "4", "2"]);
}

#[test]
fn date_times_sort_as_instants_and_strings_by_code_point() {
    let docs = vec![
        (
            "late",
            json!({ "opened_at": "2024-01-01T00:30:00Z", "owner": "apple" }),
        ),
        (
            "early",
            json!({ "opened_at": "2024-01-01T01:00:00+01:00", "owner": "Zebra" }),
        ),
        (
            "mid",
            json!({ "opened_at": "2024-01-01T00:10:00+00:00", "owner": "Éclair" }),
        ),
    ];
    assert_eq!(order(&["opened_at"], &docs), ["early", "mid", "late"]);
    assert_eq!(order(&["owner"], &docs), ["early", "late", "mid"]);
}

#[test]
fn nested_paths_sort_with_missing_parents_as_null() {
    let docs = vec![
        ("x", json!({ "address": { "city": "Rome" } })),
        ("y", json!({ "address": null })),
        ("z", json!({ "address": { "city": "Oslo" } })),
    ];
    assert_eq!(order(&["address.city"], &docs), ["z", "x", "y"]);
    assert_eq!(order(&["address.city.desc"], &docs), ["y", "x", "z"]);
}

#[test]
fn without_keys_documents_order_by_id() {
    let a = json!({ "balance": 1 });
    assert_eq!(compare_docs(&a, "a", &a, "b", &[]), Ordering::Less);
    assert_eq!(compare_docs(&a, "b", &a, "a", &[]), Ordering::Greater);
    assert_eq!(compare_docs(&a, "a", &a, "a", &[]), Ordering::Equal);
}

#[test]
fn mixed_types_in_any_fields_still_sort_totally() {
    let docs = vec![
        ("s", json!({ "extra": "text" })),
        ("n", json!({ "extra": 2 })),
        ("b", json!({ "extra": true })),
        ("m", json!({ "extra": 1.5 })),
        ("o", json!({ "extra": { "k": 1 } })),
    ];
    assert_eq!(order(&["extra"], &docs), ["b", "m", "n", "s", "o"]);
}

#[test]
fn id_sorts_by_the_identifier_by_code_point() {
    let docs = [
        ("b", json!({ "balance": 1 })),
        ("B", json!({ "balance": 1 })),
        ("a", json!({ "balance": 2 })),
    ];
    assert_eq!(order(&["id"], &docs), ["B", "a", "b"]);
    assert_eq!(order(&["id.desc"], &docs), ["b", "a", "B"]);
    assert_eq!(order(&["balance,id.desc"], &docs), ["b", "B", "a"]);
    assert_eq!(
        keys(&["id.up"]).unwrap_err().to_string(),
        "unknown sort direction `up` in sort item `id.up` (expected `asc` or `desc`)"
    );
}
