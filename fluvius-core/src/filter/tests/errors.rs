//! Tests that invalid filters are rejected with a message naming the culprit.

use serde_json::json;

use super::{error, fields};
use crate::filter::{Filter, FilterError, MAX_DEPTH};

#[test]
fn non_object_input_is_rejected() {
    for input in [json!("balance"), json!(1), json!(null), json!(true)] {
        let message = error(input.clone());
        assert!(
            message.starts_with("the filter must be a JSON object or an array of JSON objects"),
            "{message}"
        );
    }
    assert_eq!(
        error(json!([{ "balance": 1 }, 1])),
        "element 1 of the filter must be a JSON object, got number"
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
        "filter key `balance.gt` expects an integer, got \"abc\""
    );
    assert_eq!(
        error(json!({ "balance": 1.5 })),
        "filter key `balance` expects an integer, got 1.5"
    );
    assert_eq!(
        error(json!({ "rate.lt": true })),
        "filter key `rate.lt` expects a number, got true"
    );
    assert_eq!(
        error(json!({ "owner": 5 })),
        "filter key `owner` expects a string, got 5"
    );
    assert_eq!(
        error(json!({ "active": "yes" })),
        "filter key `active` expects a boolean, got \"yes\""
    );
    assert_eq!(
        error(json!({ "tags": "vip" })),
        "filter key `tags` expects an array, got \"vip\""
    );
    assert_eq!(
        error(json!({ "labels.ne": 1 })),
        "filter key `labels.ne` expects an object, got 1"
    );
    assert_eq!(
        error(json!({ "owner.has": 1 })),
        "filter key `owner.has` expects a string, got 1"
    );
    assert_eq!(
        error(json!({ "balance.lt": null })),
        "filter key `balance.lt` expects an integer, got null"
    );
    assert_eq!(
        error(json!({ "extra.gt": null })),
        "filter key `extra.gt` expects a non-null value, got null"
    );
    assert_eq!(
        error(json!({ "tags.has": null })),
        "filter key `tags.has` expects a non-null value, got null"
    );
}

#[test]
fn bad_date_times_name_the_value() {
    assert_eq!(
        error(json!({ "opened_at.gt": "yesterday" })),
        "filter key `opened_at.gt`: value \"yesterday\" is not an RFC 3339 date-time"
    );
    assert_eq!(
        error(json!({ "opened_at.in": ["2024-01-01T00:00:00Z", "2024-13-01T00:00:00Z"] })),
        "filter key `opened_at.in`: value \"2024-13-01T00:00:00Z\" is not an RFC 3339 date-time"
    );
    assert_eq!(
        error(json!({ "opened_at": 1_700_000_000 })),
        "filter key `opened_at` expects an RFC 3339 date-time string, got 1700000000"
    );
}

#[test]
fn ordering_operators_are_refused_on_unordered_kinds() {
    assert_eq!(
        error(json!({ "active.lt": true })),
        "filter key `active.lt`: operator `lt` is not supported on boolean fields"
    );
    assert_eq!(
        error(json!({ "tags.between": [1, 2] })),
        "filter key `tags.between`: operator `between` is not supported on array fields"
    );
    assert_eq!(
        error(json!({ "address!gte": {} })),
        "filter key `address!gte`: operator `gte` is not supported on object fields"
    );
    assert_eq!(
        error(json!({ "balance.has": 1 })),
        "filter key `balance.has`: operator `has` is not supported on integer fields"
    );
    assert_eq!(
        error(json!({ "opened_at.has": "2024" })),
        "filter key `opened_at.has`: operator `has` is not supported on date-time fields"
    );
}

#[test]
fn malformed_between_and_in_are_rejected() {
    let two = "filter key `balance.between` expects an array of two values `[lo, hi]`";
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
        "filter key `balance.between` expects an integer, got \"x\""
    );
    assert_eq!(
        error(json!({ "balance.in": 5 })),
        "filter key `balance.in` expects an array of values, got 5"
    );
    assert_eq!(
        error(json!({ "balance.in": [1, "2"] })),
        "filter key `balance.in` expects an integer, got \"2\""
    );
}

#[test]
fn null_operator_needs_a_boolean() {
    assert_eq!(
        error(json!({ "balance.null": 1 })),
        "filter key `balance.null` expects a boolean, got 1"
    );
    assert_eq!(
        error(json!({ "balance!null": "true" })),
        "filter key `balance!null` expects a boolean, got \"true\""
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
    assert_eq!(
        result,
        Err(FilterError::TooDeep {
            key: ".and".into(),
            limit: MAX_DEPTH
        })
    );
}

#[test]
fn long_values_are_shortened_in_messages() {
    let long = "x".repeat(500);
    let message = error(json!({ "balance": long }));
    assert!(message.len() < 200 && message.ends_with('…'), "{message}");
}

#[test]
fn between_needs_ordered_bounds() {
    assert_eq!(
        error(json!({ "balance.between": [20, 0] })),
        "filter key `balance.between` expects `[lo, hi]` with lo <= hi, got [20,0]"
    );
    assert_eq!(
        error(json!({ "owner!between": ["b", "a"] })),
        "filter key `owner!between` expects `[lo, hi]` with lo <= hi, got [\"b\",\"a\"]"
    );
    // Instants, not their text: 01:00+02:00 is before 00:30Z.
    assert_eq!(
        error(
            json!({ "opened_at.between": ["2024-01-01T00:30:00Z", "2024-01-01T01:00:00+02:00"] })
        ),
        "filter key `opened_at.between` expects `[lo, hi]` with lo <= hi, got \
         [\"2024-01-01T00:30:00Z\",\"2024-01-01T01:00:00+02:00\"]"
    );
    let instants =
        json!({ "opened_at.between": ["2024-01-01T01:00:00+02:00", "2024-01-01T00:30:00Z"] });
    assert!(Filter::parse(&instants, &fields()).is_ok());
    // Bounds of different types in a field of unknown kind cannot be ordered.
    assert_eq!(
        error(json!({ "extra.between": [1, "a"] })),
        "filter key `extra.between` expects `[lo, hi]` with lo <= hi, got [1,\"a\"]"
    );
    assert_eq!(
        error(json!({ "balance.between": [null, 1] })),
        "filter key `balance.between` expects an integer, got null"
    );
    // Equal bounds are a range of one value.
    assert!(Filter::parse(&json!({ "balance.between": [5, 5.0] }), &fields()).is_ok());
}

#[test]
fn a_trailing_dot_names_no_operator() {
    assert_eq!(
        error(json!({ "balance.": 1 })),
        "filter key `balance.` ends with `.` but names no operator (write `balance` or `balance.eq`)"
    );
}

#[test]
fn ov_takes_an_array_on_array_fields() {
    assert_eq!(
        error(json!({ "tags.ov": "vip" })),
        "filter key `tags.ov` expects an array of values, got \"vip\""
    );
    assert_eq!(
        error(json!({ "tags.ov": ["vip", null] })),
        "filter key `tags.ov` expects an array of non-null values, got [\"vip\",null]"
    );
    assert_eq!(
        error(json!({ "owner.ov": ["a"] })),
        "filter key `owner.ov`: operator `ov` is not supported on string fields"
    );
}

#[test]
fn id_accepts_string_operators_only() {
    assert_eq!(
        error(json!({ "id": 5 })),
        "filter key `id` expects a string, got 5"
    );
    assert_eq!(
        error(json!({ "id.ov": ["a"] })),
        "filter key `id.ov`: operator `ov` is not supported on string fields"
    );
    assert_eq!(
        error(json!({ "id.x": "a" })),
        "unknown operator `x` in filter key `id.x`"
    );
}

#[test]
fn ov_values_count_against_the_filter_size() {
    let values: Vec<u32> = (0..1001).collect();
    let message = error(json!({ "tags.ov": values }));
    assert!(
        message.contains("each `in` or `ov` value counts as one"),
        "{message}"
    );
    let values: Vec<u32> = (0..1000).collect();
    assert!(Filter::parse(&json!({ "tags.ov": values }), &fields()).is_ok());
}
