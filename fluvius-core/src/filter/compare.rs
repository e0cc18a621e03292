//! Value comparison shared by filtering and sorting: exact numbers, instants, strings.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use serde_json::{Number, Value};

use super::fields::FieldKind;

/// 2^63 as a float: the first float above every `i64`.
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
/// 2^64 as a float: the first float above every `u64`.
const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;

/// A JSON number in the representation `serde_json` holds it in.
#[derive(Clone, Copy)]
enum Num {
    Neg(i64),
    Pos(u64),
    Float(f64),
}

fn num(n: &Number) -> Option<Num> {
    if let Some(u) = n.as_u64() {
        Some(Num::Pos(u))
    } else if let Some(i) = n.as_i64() {
        Some(Num::Neg(i))
    } else {
        n.as_f64().map(Num::Float)
    }
}

/// Compares two JSON numbers by exact value, whatever their representation
/// (`1` equals `1.0`, `u64::MAX` is above `i64::MAX`). `None` only for NaN.
pub(super) fn cmp_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    match (num(a)?, num(b)?) {
        (Num::Pos(x), Num::Pos(y)) => Some(x.cmp(&y)),
        (Num::Neg(x), Num::Neg(y)) => Some(x.cmp(&y)),
        // `Neg` only ever holds negative numbers: every `u64` fits `Pos` first.
        (Num::Neg(_), Num::Pos(_)) => Some(Ordering::Less),
        (Num::Pos(_), Num::Neg(_)) => Some(Ordering::Greater),
        (Num::Float(x), Num::Float(y)) => x.partial_cmp(&y),
        (Num::Neg(x), Num::Float(y)) => cmp_i64_f64(x, y),
        (Num::Pos(x), Num::Float(y)) => cmp_u64_f64(x, y),
        (Num::Float(x), Num::Neg(y)) => cmp_i64_f64(y, x).map(Ordering::reverse),
        (Num::Float(x), Num::Pos(y)) => cmp_u64_f64(y, x).map(Ordering::reverse),
    }
}

/// Compares an integer with a float without rounding the integer.
fn cmp_i64_f64(x: i64, y: f64) -> Option<Ordering> {
    if y.is_nan() {
        return None;
    }
    if y >= TWO_POW_63 {
        return Some(Ordering::Less);
    }
    if y < -TWO_POW_63 {
        return Some(Ordering::Greater);
    }
    let whole = y.trunc();
    // In range and integral, so the conversion is exact.
    let ord = x.cmp(&(whole as i64));
    Some(ord.then_with(|| cmp_fraction(y - whole)))
}

/// Compares an unsigned integer with a float without rounding the integer.
fn cmp_u64_f64(x: u64, y: f64) -> Option<Ordering> {
    if y.is_nan() {
        return None;
    }
    if y < 0.0 {
        return Some(Ordering::Greater);
    }
    if y >= TWO_POW_64 {
        return Some(Ordering::Less);
    }
    let whole = y.trunc();
    let ord = x.cmp(&(whole as u64));
    Some(ord.then_with(|| cmp_fraction(y - whole)))
}

/// How an integer equal to the whole part of a float compares with the float,
/// given the float's fractional part.
fn cmp_fraction(fraction: f64) -> Ordering {
    0.0_f64.partial_cmp(&fraction).unwrap_or(Ordering::Equal)
}

/// Reads an RFC 3339 timestamp as an instant.
pub(super) fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Equality of JSON values where numbers compare by value, recursively.
pub(super) fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => cmp_numbers(x, y) == Some(Ordering::Equal),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(key, x)| y.get(key).is_some_and(|y| json_eq(x, y)))
        }
        _ => a == b,
    }
}

/// Equality as the `eq` operator sees it for a field of this kind.
pub(super) fn values_equal(kind: FieldKind, a: &Value, b: &Value) -> bool {
    if kind == FieldKind::DateTime
        && let (Value::String(x), Value::String(y)) = (a, b)
        && let (Some(x), Some(y)) = (parse_instant(x), parse_instant(y))
    {
        return x == y;
    }
    json_eq(a, b)
}

/// Order as `lt`/`gt`/`between` see it; `None` when the two cannot be ordered
/// (different types, booleans, arrays, an unreadable timestamp).
pub(super) fn values_order(kind: FieldKind, a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => cmp_numbers(x, y),
        (Value::String(x), Value::String(y)) if kind == FieldKind::DateTime => {
            Some(parse_instant(x)?.cmp(&parse_instant(y)?))
        }
        (Value::String(x), Value::String(y)) => Some(x.as_str().cmp(y.as_str())),
        _ => None,
    }
}

/// A total order over non-null values, used for sorting: values of one type
/// compare naturally; values of different types (only when documents stray
/// from the schema or the kind is `Any`) are grouped by type.
pub(super) fn total_order(kind: FieldKind, a: &Value, b: &Value) -> Ordering {
    let instant = |v: &Value| match v {
        Value::String(s) if kind == FieldKind::DateTime => parse_instant(s),
        _ => None,
    };
    let (ia, ib) = (instant(a), instant(b));
    let rank = |v: &Value, is_instant: bool| match v {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::String(_) if is_instant => 3,
        Value::String(_) => 4,
        Value::Array(_) => 5,
        Value::Object(_) => 6,
    };
    let by_rank = rank(a, ia.is_some()).cmp(&rank(b, ib.is_some()));
    if by_rank != Ordering::Equal {
        return by_rank;
    }
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => cmp_numbers(x, y).unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => match (ia, ib) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => x.as_str().cmp(y.as_str()),
        },
        _ => a.to_string().cmp(&b.to_string()),
    }
}
