//! Tests that invalid filters are rejected with a message naming the culprit.

use serde_json::json;

use super::{error, fields};
use crate::filter::{Filter, FilterError, MAX_DEPTH};

#[test]
fn non_object_input_is_rejected() {
    for input in [
        json!([]),
        json!("balance"),
        json!(1),
        json!(null),
        json!(true),
    ] {
        let message = error(input.clone());
        assert!(
            message.starts_with("the filter must be a JSON object"),
            "{message}"
        );
    }
    assert_eq!(
        error(json!([1])),
        "the filter must be a JSON object, got array"
    );
}

#[test]
fn unknown_field_names_field_and_key() {
    assert_eq!(
        error(json!({ "balanc.gt": 1 })),
        "unknown field `balanc` in filter key `balanc.gt`"
    );
    assert_eq!(
        error(json!({ "balanc": 1 })),
        "unknown field `balanc` in filter key `balanc`"
    );
    assert_eq!(
        error(json!({ "addres.city": "x" })),
        "unknown field `addres` in filter key `addres.city`"
    );
    assert_eq!(
        error(json!({ "nope!eq": 1 })),
        "unknown field `nope` in filter key `nope!eq`"
    );
    assert_eq!(
        error(json!({ "address.town.eq": "x" })),
        "unknown field `address.town` in filter key `address.town.eq`"
    );
}

#[test]
fn unknown_operator_names_operator_and_key() {
    assert_eq!(
        error(json!({ "balance.gtt": 1 })),
        "unknown operator `gtt` in filter key `balance.gtt`"
    );
    assert_eq!(
        error(json!({ "balance!like": 1 })),
        "unknown operator `like` in filter key `balance!like`"
    );
    assert_eq!(
        error(json!({ "address.city.EQ": "x" })),
        "unknown operator `EQ` in filter key `address.city.EQ`"
    );
    assert_eq!(
        error(json!({ "balance.and": [] })),
        "unknown operator `and` in filter key `balance.and`"
    );
}

#[test]
fn wrong_value_types_name_operator_field_and_value() {
    assert_eq!(
        error(json!({ "balance.gt": "abc" })),
        "operator `gt` on `balance` expects an integer, got \"abc\""
    );
    assert_eq!(
        error(json!({ "balance": 1.5 })),
        "operator `eq` on `balance` expects an integer, got 1.5"
    );
    assert_eq!(
        error(json!({ "rate.lt": true })),
        "operator `lt` on `rate` expects a number, got true"
    );
    assert_eq!(
        error(json!({ "owner": 5 })),
        "operator `eq` on `owner` expects a string, got 5"
    );
    assert_eq!(
        error(json!({ "active": "yes" })),
        "operator `eq` on `active` expects a boolean, got \"yes\""
    );
    assert_eq!(
        error(json!({ "tags": "vip" })),
        "operator `eq` on `tags` expects an array, got \"vip\""
    );
    assert_eq!(
        error(json!({ "labels.ne": 1 })),
        "operator `ne` on `labels` expects an object, got 1"
    );
    assert_eq!(
        error(json!({ "owner.has": 1 })),
        "operator `has` on `owner` expects a string, got 1"
    );
    assert_eq!(
        error(json!({ "balance": null })),
        "operator `eq` on `balance` expects an integer, got null"
    );
    assert_eq!(
        error(json!({ "extra": null })),
        "operator `eq` on `extra` expects a non-null value, got null"
    );
    assert_eq!(
        error(json!({ "tags.has": null })),
        "operator `has` on `tags` expects a non-null value, got null"
    );
}

#[test]
fn bad_date_times_name_the_value() {
    assert_eq!(
        error(json!({ "opened_at.gt": "yesterday" })),
        "value \"yesterday\" for `opened_at` is not an RFC 3339 date-time"
    );
    assert_eq!(
        error(json!({ "opened_at.in": ["2024-01-01T00:00:00Z", "2024-13-01T00:00:00Z"] })),
        "value \"2024-13-01T00:00:00Z\" for `opened_at` is not an RFC 3339 date-time"
    );
    assert_eq!(
        error(json!({ "opened_at": 1_700_000_000 })),
        "operator `eq` on `opened_at` expects an RFC 3339 date-time string, got 1700000000"
    );
}

#[test]
fn ordering_operators_are_refused_on_unordered_kinds() {
    assert_eq!(
        error(json!({ "active.lt": true })),
        "operator `lt` is not supported on `active` (boolean field)"
    );
    assert_eq!(
        error(json!({ "tags.between": [1, 2] })),
        "operator `between` is not supported on `tags` (array field)"
    );
    assert_eq!(
        error(json!({ "address!gte": {} })),
        "operator `gte` is not supported on `address` (object field)"
    );
    assert_eq!(
        error(json!({ "balance.has": 1 })),
        "operator `has` is not supported on `balance` (integer field)"
    );
    assert_eq!(
        error(json!({ "opened_at.has": "2024" })),
        "operator `has` is not supported on `opened_at` (date-time field)"
    );
}

#[test]
fn malformed_between_and_in_are_rejected() {
    let two = "operator `between` on `balance` expects an array of two values";
    assert_eq!(
        error(json!({ "balance.between": [1] })),
        format!("{two}, got [1]")
    );
    assert_eq!(
        error(json!({ "balance.between": [1, 2, 3] })),
        format!("{two}, got [1,2,3]")
    );
    assert_eq!(
        error(json!({ "balance.between": 5 })),
        format!("{two}, got 5")
    );
    assert_eq!(
        error(json!({ "balance.between": [1, "x"] })),
        "operator `between` on `balance` expects an integer, got \"x\""
    );
    assert_eq!(
        error(json!({ "balance.in": 5 })),
        "operator `in` on `balance` expects an array of values, got 5"
    );
    assert_eq!(
        error(json!({ "balance.in": [1, "2"] })),
        "operator `in` on `balance` expects an integer, got \"2\""
    );
}

#[test]
fn null_operator_needs_a_boolean() {
    assert_eq!(
        error(json!({ "balance.null": 1 })),
        "operator `null` on `balance` expects a boolean, got 1"
    );
    assert_eq!(
        error(json!({ "balance!null": "true" })),
        "operator `null` on `balance` expects a boolean, got \"true\""
    );
}

#[test]
fn composition_values_must_be_filters() {
    assert_eq!(
        error(json!({ ".or": 5 })),
        "`.or` expects a filter object or an array of filter objects, got number"
    );
    assert_eq!(
        error(json!({ "!and": "x" })),
        "`!and` expects a filter object or an array of filter objects, got string"
    );
    assert_eq!(
        error(json!({ ".or": [{ "balance": 1 }, 2] })),
        "`.or`[1] must be a JSON object, got number"
    );
    assert_eq!(
        error(json!({ ".and": [{ "balanc": 1 }] })),
        "unknown field `balanc` in filter key `balanc`"
    );
    assert_eq!(
        error(json!({ ".or": { "owner.gtt": "a" } })),
        "unknown operator `gtt` in filter key `owner.gtt`"
    );
    assert_eq!(
        error(json!({ ".xor": [] })),
        "unknown field `` in filter key `.xor`"
    );
}

#[test]
fn nesting_beyond_the_limit_is_rejected() {
    let mut filter = json!({ "balance": 1 });
    for _ in 0..=MAX_DEPTH {
        filter = json!({ ".and": [filter] });
    }
    let result = Filter::parse(&filter, &fields());
    assert_eq!(result, Err(FilterError::TooDeep { limit: MAX_DEPTH }));
}

#[test]
fn long_values_are_shortened_in_messages() {
    let long = "x".repeat(500);
    let message = error(json!({ "balance": long }));
    assert!(message.len() < 200 && message.ends_with('…'), "{message}");
}
