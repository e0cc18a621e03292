//! Tests of joining conditions: several keys, `.and`, `.or` and their nesting.

use serde_json::json;

use super::{absent, fields, full, hits, parse};
use crate::filter::{Filter, MAX_DEPTH};

#[test]
fn empty_object_is_all_and_matches_everything() {
    assert_eq!(parse(json!({})), Filter::All);
    assert!(hits(json!({}), &full()));
    assert!(hits(json!({}), &absent()));
    assert!(hits(json!({}), &json!("not even an object")));
}

#[test]
fn one_key_is_a_bare_condition_and_several_keys_are_and() {
    assert!(matches!(parse(json!({ "balance": 1 })), Filter::Cmp(_)));
    let Filter::And(parts) = parse(json!({ "balance.gt": 1, "owner.has": "ada" })) else {
        panic!("several keys should give And");
    };
    assert_eq!(parts.len(), 2);
    assert!(hits(
        json!({ "balance.gt": 1, "owner.has": "ada" }),
        &full()
    ));
    assert!(!hits(
        json!({ "balance.gt": 1, "owner.has": "bob" }),
        &full()
    ));
}

#[test]
fn or_with_an_array_matches_any_member() {
    let filter = json!({ ".or": [{ "balance": 1 }, { "owner": "Ada Lovelace" }] });
    assert!(hits(filter.clone(), &full()));
    assert!(!hits(filter, &json!({ "balance": 2, "owner": "Bob" })));
    let Filter::Or(parts) = parse(json!({ ".or": [{ "balance": 1 }, { "balance": 2 }] })) else {
        panic!("expected Or");
    };
    assert_eq!(parts.len(), 2);
}

#[test]
fn or_with_one_object_makes_each_key_an_alternative() {
    let filter = json!({ ".or": { "balance": 1, "owner": "Ada Lovelace" } });
    assert!(hits(filter.clone(), &full()));
    assert!(hits(filter.clone(), &json!({ "balance": 1 })));
    assert!(!hits(filter, &json!({ "balance": 2 })));
}

#[test]
fn and_with_one_object_or_an_array_needs_every_member() {
    assert!(hits(
        json!({ ".and": { "balance": 100, "active": true } }),
        &full()
    ));
    assert!(!hits(
        json!({ ".and": { "balance": 100, "active": false } }),
        &full()
    ));
    assert!(hits(
        json!({ ".and": [{ "balance": 100 }, { "active": true }] }),
        &full()
    ));
    assert!(!hits(
        json!({ ".and": [{ "balance": 100 }, { "active": false }] }),
        &full()
    ));
}

#[test]
fn empty_compositions_follow_logic() {
    assert!(
        hits(json!({ ".and": [] }), &full()),
        "and of nothing is true"
    );
    assert!(
        !hits(json!({ ".or": [] }), &full()),
        "or of nothing is false"
    );
    assert!(hits(json!({ "!or": [] }), &full()));
    assert!(
        hits(json!({ ".or": [{}] }), &full()),
        "an empty member matches"
    );
}

#[test]
fn compositions_nest() {
    let filter = json!({
        "active": true,
        ".or": [
            { "balance.gt": 1000 },
            { ".and": [{ "address.city": "London" }, { "!or": [{ "tags.has": "banned" }, { "status": "closed" }] }] }
        ]
    });
    assert!(hits(filter.clone(), &full()));
    let mut banned = full();
    banned["tags"] = json!(["banned"]);
    assert!(!hits(filter.clone(), &banned));
    banned["balance"] = json!(5000);
    assert!(hits(filter.clone(), &banned));
    let mut inactive = full();
    inactive["active"] = json!(false);
    assert!(!hits(filter, &inactive));
}

#[test]
fn negation_of_a_composition_wraps_it() {
    let parsed = parse(json!({ "!and": [{ "balance": 1 }] }));
    let inner = parse(json!({ ".and": [{ "balance": 1 }] }));
    assert_eq!(parsed, Filter::Not(Box::new(inner)));
}

#[test]
fn nesting_up_to_the_limit_is_accepted() {
    let mut filter = json!({ "balance": 100 });
    for _ in 0..MAX_DEPTH {
        filter = json!({ ".or": [filter] });
    }
    let parsed = Filter::parse(&filter, &fields());
    assert!(parsed.is_ok_and(|f| f.matches("r-1", &full())));
}
