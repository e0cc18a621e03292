//! Tests of each operator, including that no comparison matches null or absent fields.

use serde_json::{Value, json};

use super::{absent, full, hits, nulls, parse};
use crate::filter::{Condition, FieldKind, Filter, Op, Target};

/// One filter per comparison operator, each true on [`full`].
fn comparisons() -> Vec<Value> {
    vec![
        json!({ "balance.eq": 100 }),
        json!({ "balance": 100 }),
        json!({ "balance.lt": 101 }),
        json!({ "balance.lte": 100 }),
        json!({ "balance.gt": 99 }),
        json!({ "balance.gte": 100 }),
        json!({ "balance.in": [1, 100] }),
        json!({ "balance.between": [100, 200] }),
        json!({ "owner.has": "love" }),
        json!({ "tags.has": "vip" }),
        json!({ "closed_at.lt": "2030-01-01T00:00:00Z" }),
        json!({ "tags.ov": ["x", "gold"] }),
        json!({ "id": "r-1" }),
    ]
}

/// `ne` filters true on [`full`]: as the complement of `eq`, each is also true on null and
/// absent fields.
fn inequalities() -> Vec<Value> {
    vec![
        json!({ "balance.ne": 5 }),
        json!({ "nickname.ne": "x" }),
        json!({ "active.ne": false }),
        json!({ "address.city.ne": "Paris" }),
        json!({ "labels.ne": {} }),
        json!({ "extra.ne": "3" }),
    ]
}

#[test]
fn every_comparison_matches_the_full_document() {
    for filter in comparisons().into_iter().chain(inequalities()) {
        assert!(hits(filter.clone(), &full()), "{filter}");
    }
}

#[test]
fn no_comparison_matches_null_fields() {
    for filter in comparisons() {
        if filter.get("id").is_none() {
            assert!(!hits(filter.clone(), &nulls()), "{filter}");
        }
    }
}

#[test]
fn no_comparison_matches_absent_fields() {
    for filter in comparisons() {
        if filter.get("id").is_none() {
            assert!(!hits(filter.clone(), &absent()), "{filter}");
        }
    }
}

#[test]
fn ne_matches_null_and_absent_fields_as_not_eq_does() {
    for filter in inequalities() {
        assert!(hits(filter.clone(), &nulls()), "{filter}");
        assert!(hits(filter.clone(), &absent()), "{filter}");
    }
    let doc = json!({ "balance": null });
    assert!(hits(json!({ "balance.ne": 5 }), &doc));
    assert!(hits(json!({ "balance!eq": 5 }), &doc));
    assert!(hits(json!({ "balance!": 5 }), &absent()));
    assert!(!hits(json!({ "balance.ne": 100 }), &full()));
    assert!(!hits(json!({ "balance!": 100 }), &full()));
    assert_eq!(
        parse(json!({ "balance!": 5 })),
        parse(json!({ "balance!eq": 5 }))
    );
}

#[test]
fn eq_null_is_null_true_and_ne_null_is_null_false() {
    assert_eq!(
        parse(json!({ "nickname": null })),
        parse(json!({ "nickname.null": true }))
    );
    assert_eq!(
        parse(json!({ "nickname.eq": null })),
        parse(json!({ "nickname.null": true }))
    );
    assert_eq!(
        parse(json!({ "nickname.ne": null })),
        parse(json!({ "nickname.null": false }))
    );
    assert_eq!(
        parse(json!({ "nickname!eq": null })),
        parse(json!({ "nickname!null": true }))
    );
    assert!(hits(json!({ "nickname": null }), &nulls()));
    assert!(hits(json!({ "nickname": null }), &absent()));
    assert!(!hits(json!({ "nickname": null }), &full()));
    assert!(hits(json!({ "nickname.ne": null }), &full()));
    assert!(!hits(json!({ "nickname.ne": null }), &absent()));
}

#[test]
fn a_null_among_in_values_matches_null_and_absent_fields() {
    let filter = json!({ "nickname.in": ["Countess", null] });
    assert!(hits(filter.clone(), &full()));
    assert!(hits(filter.clone(), &nulls()));
    assert!(hits(filter.clone(), &absent()));
    assert!(!hits(filter, &json!({ "nickname": "Duke" })));
    let negated = json!({ "nickname!in": ["Countess", null] });
    assert!(!hits(negated.clone(), &absent()));
    assert!(hits(negated, &json!({ "nickname": "Duke" })));
}

#[test]
fn ov_matches_arrays_sharing_an_element() {
    let doc = json!({ "tags": ["vip", 7, { "k": 1 }] });
    assert!(hits(json!({ "tags.ov": ["gold", "vip"] }), &doc));
    assert!(hits(json!({ "tags.ov": [7.0] }), &doc));
    assert!(hits(json!({ "tags.ov": [{ "k": 1.0 }] }), &doc));
    assert!(!hits(json!({ "tags.ov": ["VIP"] }), &doc));
    assert!(!hits(json!({ "tags.ov": [] }), &doc));
    assert!(!hits(
        json!({ "extra.ov": ["vip"] }),
        &json!({ "extra": "vip" })
    ));
    assert!(hits(json!({ "tags!ov": ["gold"] }), &doc));
    assert!(hits(json!({ "tags!ov": ["gold"] }), &absent()));
}

#[test]
fn id_is_the_identifier() {
    assert!(hits(json!({ "id": "r-1" }), &absent()));
    assert!(hits(json!({ "id.in": ["r-0", "r-1"] }), &absent()));
    assert!(hits(json!({ "id.has": "R-" }), &absent()));
    assert!(hits(json!({ "id.between": ["r", "r-2"] }), &absent()));
    assert!(!hits(json!({ "id.gt": "r-1" }), &absent()));
    assert!(!hits(json!({ "id.null": true }), &absent()));
    assert!(hits(json!({ "id!eq": "r-2" }), &absent()));
    assert!(hits(json!({ "id.ne": "r-2" }), &absent()));
}

#[test]
fn null_operator_tests_presence() {
    for field in [
        "nickname",
        "closed_at",
        "address.zip",
        "address",
        "tags",
        "extra",
    ] {
        assert!(
            hits(json!({ format!("{field}.null"): true }), &nulls()),
            "{field}"
        );
        assert!(
            hits(json!({ format!("{field}.null"): true }), &absent()),
            "{field}"
        );
        assert!(
            !hits(json!({ format!("{field}.null"): false }), &nulls()),
            "{field}"
        );
        assert!(
            !hits(json!({ format!("{field}.null"): false }), &absent()),
            "{field}"
        );
        assert!(
            hits(json!({ format!("{field}.null"): false }), &full()),
            "{field}"
        );
        assert!(
            !hits(json!({ format!("{field}.null"): true }), &full()),
            "{field}"
        );
    }
    assert!(
        hits(json!({ "billing.zip.null": true }), &full()),
        "explicit null inside an object"
    );
}

#[test]
fn in_matches_any_element_and_empty_in_matches_nothing() {
    let doc = full();
    assert!(hits(json!({ "owner.in": ["Bob", "Ada Lovelace"] }), &doc));
    assert!(!hits(json!({ "owner.in": ["Bob"] }), &doc));
    assert!(!hits(json!({ "owner.in": [] }), &doc));
    assert!(hits(json!({ "status.in": ["open", "frozen"] }), &doc));
}

#[test]
fn has_is_a_case_insensitive_literal_substring_on_strings() {
    let doc = json!({ "owner": "Ada Lovelace (50%_off)" });
    assert!(hits(json!({ "owner.has": "LOVE" }), &doc));
    assert!(hits(json!({ "owner.has": "" }), &doc));
    assert!(hits(json!({ "owner.has": "50%_" }), &doc));
    assert!(!hits(json!({ "owner.has": "%off" }), &doc), "no wildcards");
    assert!(!hits(json!({ "owner.has": "a.a" }), &doc), "no patterns");
    assert!(hits(json!({ "owner.has": "ADA L" }), &doc));
}

#[test]
fn has_on_arrays_is_membership_with_eq_equality() {
    let doc = full();
    assert!(hits(json!({ "tags.has": "gold" }), &doc));
    assert!(hits(json!({ "tags.has": 7.0 }), &doc));
    assert!(
        !hits(json!({ "tags.has": "GOLD" }), &doc),
        "elements compare exactly"
    );
    assert!(
        !hits(json!({ "tags.has": "go" }), &doc),
        "no substring on elements"
    );
    assert!(hits(
        json!({ "tags.has": ["x"] }),
        &json!({ "tags": [["x"]] })
    ));
}

#[test]
fn between_is_inclusive_on_both_ends() {
    let doc = json!({ "balance": 10 });
    assert!(hits(json!({ "balance.between": [10, 20] }), &doc));
    assert!(hits(json!({ "balance.between": [0, 10] }), &doc));
    assert!(!hits(json!({ "balance.between": [11, 20] }), &doc));
    assert!(hits(json!({ "balance.between": [10, 10] }), &doc));
}

#[test]
fn ordering_operators_are_strict_or_inclusive() {
    let doc = json!({ "rate": 1.5 });
    assert!(!hits(json!({ "rate.lt": 1.5 }), &doc));
    assert!(hits(json!({ "rate.lte": 1.5 }), &doc));
    assert!(!hits(json!({ "rate.gt": 1.5 }), &doc));
    assert!(hits(json!({ "rate.gte": 1.5 }), &doc));
}

#[test]
fn conditions_carry_path_kind_operator_and_value() {
    let expected = Filter::Cmp(Condition {
        target: Target::State,
        field: "address.geo.lat".to_owned(),
        path: vec!["address".to_owned(), "geo".to_owned(), "lat".to_owned()],
        kind: FieldKind::Number,
        op: Op::Gte,
        value: json!(50),
    });
    assert_eq!(parse(json!({ "address.geo.lat.gte": 50 })), expected);
}

#[test]
fn integral_floats_for_integer_fields_are_normalised() {
    let Filter::Cmp(condition) = parse(json!({ "balance.in": [1.0, 2] })) else {
        panic!("expected a comparison");
    };
    assert_eq!(condition.value, json!([1, 2]));
    assert!(condition.value[0].is_i64());
}

#[test]
fn operators_round_trip_through_their_names() {
    for op in Op::ALL {
        assert_eq!(Op::parse(op.as_str()), Some(op));
        assert_eq!(op.to_string(), op.as_str());
    }
    assert_eq!(Op::parse("GT"), None);
}

#[test]
fn id_means_the_identifier_even_beside_a_state_field_named_id() {
    let mut fields = crate::filter::FieldIndex::new();
    fields.insert("id", FieldKind::Integer);
    let parsed = Filter::parse(&json!({ "id": "r-1" }), &fields).unwrap();
    assert!(parsed.matches("r-1", &json!({ "id": 7 })));
    assert!(!parsed.matches("r-2", &json!({ "id": 7 })));
    assert_eq!(
        Filter::parse(&json!({ "id": 7 }), &fields)
            .unwrap_err()
            .to_string(),
        "filter key `id` expects a string, got 7"
    );
}
