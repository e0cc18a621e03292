//! The limits on their own: the checking serializer against depth, numbers and NUL, and the
//! scalar checks at their boundaries.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use super::*;

fn nested(levels: usize) -> Value {
    let mut value = json!(0);
    for _ in 0..levels {
        value = Value::Array(vec![value]);
    }
    value
}

fn limit_of<T: Serialize + ?Sized>(value: &T) -> Option<Limit> {
    check_json("the value", value).err().map(|e| e.limit)
}

#[test]
fn depth_up_to_the_limit_passes() {
    assert_eq!(limit_of(&json!(1)), None);
    assert_eq!(limit_of(&nested(MAX_JSON_DEPTH)), None);
    assert_eq!(
        limit_of(&nested(MAX_JSON_DEPTH + 1)),
        Some(Limit::JsonDepth)
    );
}

#[test]
fn any_depth_is_refused_without_exhausting_the_stack() {
    let deep = nested(20_000);
    let err = check_json("the payload", &deep).unwrap_err();
    assert_eq!(err.limit, Limit::JsonDepth);
    assert!(
        err.message.starts_with("the payload nests deeper than 64"),
        "{err}"
    );
    // Dropping the value recurses as deep as it nests; leak it to keep the test thread's stack.
    std::mem::forget(deep);
}

#[test]
fn objects_and_enum_variants_count_their_levels() {
    #[derive(Serialize)]
    enum E {
        Tuple(Value, u8),
        Struct { inner: Value },
        Newtype(Value),
    }
    // A variant holding a struct or tuple adds two levels (`{"Struct": {..}}`), a newtype one.
    assert_eq!(limit_of(&E::Tuple(nested(MAX_JSON_DEPTH - 2), 0)), None);
    assert_eq!(
        limit_of(&E::Tuple(nested(MAX_JSON_DEPTH - 1), 0)),
        Some(Limit::JsonDepth)
    );
    assert_eq!(
        limit_of(&E::Struct {
            inner: nested(MAX_JSON_DEPTH - 2)
        }),
        None
    );
    assert_eq!(
        limit_of(&E::Struct {
            inner: nested(MAX_JSON_DEPTH - 1)
        }),
        Some(Limit::JsonDepth)
    );
    assert_eq!(limit_of(&E::Newtype(nested(MAX_JSON_DEPTH - 1))), None);
    assert_eq!(
        limit_of(&E::Newtype(nested(MAX_JSON_DEPTH))),
        Some(Limit::JsonDepth)
    );
    let mut map = BTreeMap::new();
    map.insert("k", nested(MAX_JSON_DEPTH));
    assert_eq!(limit_of(&map), Some(Limit::JsonDepth));
}

#[test]
fn non_finite_numbers_are_named_with_their_path() {
    #[derive(Serialize)]
    struct Ratio {
        ratio: f64,
        parts: Vec<f32>,
    }
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let err = check_json(
            "event data",
            &Ratio {
                ratio: bad,
                parts: vec![],
            },
        )
        .unwrap_err();
        assert_eq!(err.limit, Limit::FiniteNumbers);
        assert!(err.message.contains("at `ratio`"), "{err}");
    }
    let err = check_json(
        "event data",
        &Ratio {
            ratio: 1.0,
            parts: vec![1.0, f32::NAN],
        },
    )
    .unwrap_err();
    assert!(err.message.contains("at `parts[1]`"), "{err}");
    assert_eq!(limit_of(&f64::MAX), None);
}

#[test]
fn nul_is_found_in_strings_keys_and_chars() {
    assert_eq!(limit_of(&json!({"a": "x\u{0}"})), Some(Limit::NoNul));
    assert_eq!(limit_of(&json!({"a\u{0}": 1})), Some(Limit::NoNul));
    assert_eq!(limit_of(&'\0'), Some(Limit::NoNul));
    let err = check_json("the payload", &json!({"a": {"b": [1, "\u{0}"]}})).unwrap_err();
    assert!(err.message.contains("at `a.b[1]`"), "{err}");
    let mut keyed = BTreeMap::new();
    keyed.insert("k\u{0}".to_owned(), 1);
    assert_eq!(limit_of(&keyed), Some(Limit::NoNul));
    assert_eq!(
        limit_of(&json!({"a": "text", "b": [null, true, 1.5]})),
        None
    );
}

#[test]
fn displayed_text_is_checked_for_nul() {
    struct Shown;
    impl Serialize for Shown {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_str("a\u{0}b")
        }
    }
    assert_eq!(limit_of(&Shown), Some(Limit::NoNul));
    assert_eq!(limit_of(&Utc::now()), None);
}

#[test]
fn identifiers() {
    assert_eq!(
        check_identifier("id", "").unwrap_err().limit,
        Limit::Identifier
    );
    let longest = "é".repeat(MAX_IDENTIFIER_BYTES / 2);
    assert!(check_identifier("id", &longest).is_ok());
    let err = check_identifier("id", &format!("{longest}x")).unwrap_err();
    assert_eq!(err.limit, Limit::Identifier);
    assert!(err.message.contains("1025 bytes"), "{err}");
    assert_eq!(
        check_identifier("id", "a\u{0}").unwrap_err().limit,
        Limit::NoNul
    );
    assert!(check_bounded_text("tenant", "").is_ok());
}

#[test]
fn versions_and_times() {
    assert!(check_version("v", MAX_VERSION).is_ok());
    assert_eq!(
        check_version("v", MAX_VERSION + 1).unwrap_err().limit,
        Limit::Version
    );
    assert!(check_time("t", min_time()).is_ok());
    assert!(check_time("t", max_time()).is_ok());
    assert_eq!(min_time().to_rfc3339(), "0001-01-01T00:00:00+00:00");
    assert_eq!(max_time().to_rfc3339(), "9999-12-31T23:59:59.999999+00:00");
    for out in [
        DateTime::<Utc>::MIN_UTC,
        DateTime::<Utc>::MAX_UTC,
        min_time() - chrono::Duration::microseconds(1),
        max_time() + chrono::Duration::microseconds(1),
    ] {
        assert_eq!(check_time("t", out).unwrap_err().limit, Limit::TimeRange);
    }
}

#[test]
fn filter_terms() {
    assert!(check_filter_terms(MAX_FILTER_TERMS).is_ok());
    let err = check_filter_terms(MAX_FILTER_TERMS + 1).unwrap_err();
    assert_eq!(err.limit, Limit::FilterTerms);
    assert!(
        err.to_string().contains("at most 1000 comparisons"),
        "{err}"
    );
}

#[test]
fn the_time_bounds_are_the_calendar_bounds() {
    use chrono::NaiveDate;
    let first = NaiveDate::from_ymd_opt(MIN_YEAR, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc());
    let last = NaiveDate::from_ymd_opt(MAX_YEAR, 12, 31)
        .and_then(|d| d.and_hms_micro_opt(23, 59, 59, 999_999))
        .map(|t| t.and_utc());
    assert_eq!(Some(min_time()), first);
    assert_eq!(Some(max_time()), last);
    assert!(time_in_range(min_time()) && time_in_range(max_time()));
    assert!(!time_in_range(
        min_time() - chrono::Duration::nanoseconds(1)
    ));
    assert!(!time_in_range(
        max_time() + chrono::Duration::nanoseconds(1)
    ));
}
