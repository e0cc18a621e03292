//! Tests of how values compare: numbers, instants, strings, booleans, arrays, paths.

use serde_json::json;

use super::{full, hits};

#[test]
fn integers_and_floats_compare_by_value() {
    let doc = json!({ "balance": 5, "rate": 2 });
    assert!(hits(json!({ "balance": 5.0 }), &doc));
    assert!(hits(json!({ "rate": 2.0 }), &doc));
    assert!(hits(json!({ "rate.lt": 2.5 }), &doc));
    assert!(hits(json!({ "rate.gt": 1.999 }), &doc));
    assert!(!hits(json!({ "rate.ne": 2.0 }), &doc));
    let float_doc = json!({ "rate": 1.0, "balance": 5.0 });
    assert!(hits(json!({ "rate": 1 }), &float_doc));
    assert!(hits(json!({ "balance": 5 }), &float_doc));
    assert!(hits(json!({ "rate.in": [3, 1] }), &float_doc));
}

#[test]
fn large_integers_compare_exactly() {
    let doc = json!({ "balance": i64::MAX, "rate": u64::MAX });
    assert!(hits(json!({ "balance.lt": u64::MAX }), &doc));
    assert!(hits(json!({ "balance.gt": -1 }), &doc));
    assert!(!hits(json!({ "balance": i64::MAX - 1 }), &doc));
    assert!(hits(json!({ "rate.gt": i64::MAX }), &doc));
    assert!(hits(json!({ "rate.lt": 1e30 }), &doc));
    assert!(hits(json!({ "rate.gt": -1.5 }), &doc));
    let negative = json!({ "rate": -3 });
    assert!(hits(json!({ "rate.lt": -2.5 }), &negative));
    assert!(hits(json!({ "rate.gt": -3.5 }), &negative));
    assert!(!hits(json!({ "rate.lt": -3.0 }), &negative));
}

#[test]
fn date_times_compare_as_instants_across_offsets() {
    let doc = json!({ "opened_at": "2024-01-01T00:00:00Z" });
    assert!(hits(
        json!({ "opened_at": "2024-01-01T01:00:00+01:00" }),
        &doc
    ));
    assert!(hits(
        json!({ "opened_at.in": ["2023-12-31T19:00:00-05:00"] }),
        &doc
    ));
    assert!(!hits(
        json!({ "opened_at.ne": "2023-12-31T23:00:00-01:00" }),
        &doc
    ));
    // 00:30+01:00 is 23:30Z the day before: earlier, although it reads later.
    assert!(hits(
        json!({ "opened_at.gt": "2024-01-01T00:30:00+01:00" }),
        &doc
    ));
    assert!(hits(
        json!({ "opened_at.lte": "2023-12-31T19:00:00-05:00" }),
        &doc
    ));
    assert!(hits(
        json!({ "opened_at.between": ["2024-01-01T01:00:00+01:00", "2024-01-01T01:00:00+01:00"] }),
        &doc
    ));
    assert!(hits(
        json!({ "opened_at.lt": "2024-01-01T00:00:00.001Z" }),
        &doc
    ));
}

#[test]
fn unreadable_stored_date_times_match_no_ordering() {
    let doc = json!({ "opened_at": "not a date" });
    assert!(!hits(
        json!({ "opened_at.lt": "2100-01-01T00:00:00Z" }),
        &doc
    ));
    assert!(!hits(
        json!({ "opened_at.gt": "1900-01-01T00:00:00Z" }),
        &doc
    ));
    assert!(hits(
        json!({ "opened_at.ne": "1900-01-01T00:00:00Z" }),
        &doc
    ));
}

#[test]
fn strings_compare_by_code_point() {
    let doc = json!({ "owner": "Zoe" });
    assert!(
        hits(json!({ "owner.lt": "a" }), &doc),
        "upper case sorts before lower case"
    );
    assert!(hits(json!({ "owner.gt": "Zo" }), &doc));
    assert!(hits(json!({ "owner.lt": "Ézra" }), &doc));
    assert!(
        !hits(json!({ "owner": "zoe" }), &doc),
        "eq is case-sensitive"
    );
    assert!(hits(json!({ "owner.between": ["Z", "Zz"] }), &doc));
}

#[test]
fn booleans_compare_by_equality() {
    let doc = json!({ "active": false });
    assert!(hits(json!({ "active": false }), &doc));
    assert!(hits(json!({ "active.ne": true }), &doc));
    assert!(hits(json!({ "active.in": [true, false] }), &doc));
    assert!(!hits(json!({ "active.in": [true] }), &doc));
}

#[test]
fn arrays_and_objects_use_json_equality() {
    let doc = full();
    assert!(hits(json!({ "tags": ["vip", "gold", 7.0] }), &doc));
    assert!(
        !hits(json!({ "tags": ["gold", "vip", 7] }), &doc),
        "order matters"
    );
    assert!(hits(json!({ "labels": { "team": "blue" } }), &doc));
    assert!(hits(json!({ "labels.ne": { "team": "red" } }), &doc));
    assert!(hits(
        json!({ "address.geo": { "lon": -0.1, "lat": 51.5 } }),
        &doc
    ));
}

#[test]
fn nested_paths_read_nested_objects() {
    let doc = full();
    assert!(hits(json!({ "address.city": "London" }), &doc));
    assert!(hits(json!({ "address.city.eq": "London" }), &doc));
    assert!(hits(json!({ "address.geo.lat.gt": 50 }), &doc));
    assert!(hits(json!({ "billing.city.in": ["Paris", "Rome"] }), &doc));
    assert!(hits(json!({ "parent.child": { "name": "leaf" } }), &doc));
    assert!(!hits(json!({ "address.city": "Paris" }), &doc));
}

#[test]
fn missing_or_non_object_intermediates_mean_absent() {
    for doc in [
        json!({}),
        json!({ "address": null }),
        json!({ "address": "London" }),
        json!({ "address": {} }),
    ] {
        assert!(!hits(json!({ "address.city": "London" }), &doc), "{doc}");
        assert!(hits(json!({ "address.city.ne": "London" }), &doc), "{doc}");
        assert!(hits(json!({ "address.city.null": true }), &doc), "{doc}");
        assert!(hits(json!({ "address.city!eq": "London" }), &doc), "{doc}");
    }
}

#[test]
fn values_of_another_type_than_the_schema_never_order() {
    let doc = json!({ "balance": "100" });
    assert!(!hits(json!({ "balance": 100 }), &doc));
    assert!(!hits(json!({ "balance.gte": 0 }), &doc));
    assert!(hits(json!({ "balance.ne": 100 }), &doc));
}

#[test]
fn any_fields_compare_by_json_type() {
    let doc = json!({ "extra": 3 });
    assert!(hits(json!({ "extra": 3.0 }), &doc));
    assert!(hits(json!({ "extra.lt": 4 }), &doc));
    assert!(!hits(json!({ "extra.lt": "4" }), &doc));
    assert!(!hits(json!({ "extra": "3" }), &doc));
    let text = json!({ "extra": "Hello World" });
    assert!(hits(json!({ "extra.has": "WORLD" }), &text));
    assert!(hits(json!({ "extra.gt": "H" }), &text));
}
