//! Checks, at parse time, that an operator suits a field's kind and that its value does.

use std::cmp::Ordering;

use serde_json::Value;

use super::compare::{parse_instant, values_order};
use super::error::{FilterError, show};
use super::fields::FieldKind;
use super::op::Op;

/// Lowest float that is outside the `i64` range when negated (2^63).
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;

/// Validates the operand of `field op value` and returns it, normalised
/// (integral floats given for integer fields become integers).
pub(super) fn validate(
    key: &str,
    field: &str,
    kind: FieldKind,
    op: Op,
    value: Value,
) -> Result<Value, FilterError> {
    let check = Check {
        key,
        field,
        kind,
        op,
    };
    if op.is_ordering() && !kind.is_ordered() {
        return Err(check.unsupported());
    }
    match op {
        Op::Null if value.is_boolean() => Ok(value),
        Op::Null => Err(check.invalid("a boolean", &value)),
        Op::Has => match kind {
            FieldKind::String if value.is_string() => Ok(value),
            FieldKind::String => Err(check.invalid("a string", &value)),
            FieldKind::Array | FieldKind::Any if !value.is_null() => Ok(value),
            FieldKind::Array | FieldKind::Any => Err(check.invalid("a non-null value", &value)),
            _ => Err(check.unsupported()),
        },
        Op::In => match value {
            Value::Array(items) => items
                .into_iter()
                .map(|item| check.scalar(item))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            other => Err(check.invalid("an array of values", &other)),
        },
        Op::Ov => match (kind, value) {
            (FieldKind::Array | FieldKind::Any, Value::Array(items)) => {
                if items.iter().any(Value::is_null) {
                    Err(check.invalid("an array of non-null values", &Value::Array(items)))
                } else {
                    Ok(Value::Array(items))
                }
            }
            (FieldKind::Array | FieldKind::Any, other) => {
                Err(check.invalid("an array of values", &other))
            }
            _ => Err(check.unsupported()),
        },
        Op::Between => match value {
            Value::Array(items) if items.len() == 2 => {
                let shown = show(&Value::Array(items.clone()));
                let bounds = items
                    .into_iter()
                    .map(|item| check.scalar(item))
                    .collect::<Result<Vec<_>, _>>()?;
                match values_order(kind, &bounds[0], &bounds[1]) {
                    Some(Ordering::Less | Ordering::Equal) => Ok(Value::Array(bounds)),
                    _ => Err(FilterError::BadBounds {
                        key: key.to_owned(),
                        value: shown,
                    }),
                }
            }
            other => Err(check.invalid("an array of two values `[lo, hi]`", &other)),
        },
        Op::Eq | Op::Ne | Op::Lt | Op::Lte | Op::Gt | Op::Gte => check.scalar(value),
    }
}

/// The key, field and operator a value is being checked for.
struct Check<'a> {
    key: &'a str,
    field: &'a str,
    kind: FieldKind,
    op: Op,
}

impl Check<'_> {
    /// Validates one operand against the field kind.
    fn scalar(&self, value: Value) -> Result<Value, FilterError> {
        match (self.kind, value) {
            (FieldKind::String, value @ Value::String(_)) => Ok(value),
            (FieldKind::String, other) => Err(self.invalid("a string", &other)),
            (FieldKind::DateTime, Value::String(text)) => {
                if parse_instant(&text).is_some() {
                    Ok(Value::String(text))
                } else {
                    Err(FilterError::InvalidDateTime {
                        key: self.key.to_owned(),
                        field: self.field.to_owned(),
                        value: show(&Value::String(text)),
                    })
                }
            }
            (FieldKind::DateTime, other) => {
                Err(self.invalid("an RFC 3339 date-time string", &other))
            }
            (FieldKind::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => {
                Ok(Value::Number(n))
            }
            (FieldKind::Integer, Value::Number(n)) => match n.as_f64() {
                Some(f) if f.fract() == 0.0 && (-TWO_POW_63..TWO_POW_63).contains(&f) => {
                    // Integral and in range: the conversion is exact.
                    Ok(Value::from(f as i64))
                }
                _ => Err(self.invalid("an integer", &Value::Number(n))),
            },
            (FieldKind::Integer, other) => Err(self.invalid("an integer", &other)),
            (FieldKind::Number, value @ Value::Number(_)) => Ok(value),
            (FieldKind::Number, other) => Err(self.invalid("a number", &other)),
            (FieldKind::Boolean, value @ Value::Bool(_)) => Ok(value),
            (FieldKind::Boolean, other) => Err(self.invalid("a boolean", &other)),
            (FieldKind::Array, value @ Value::Array(_)) => Ok(value),
            (FieldKind::Array, other) => Err(self.invalid("an array", &other)),
            (FieldKind::Object, value @ Value::Object(_)) => Ok(value),
            (FieldKind::Object, other) => Err(self.invalid("an object", &other)),
            (FieldKind::Any, Value::Null) => Err(self.invalid("a non-null value", &Value::Null)),
            (FieldKind::Any, value) => Ok(value),
        }
    }

    fn invalid(&self, expected: &'static str, value: &Value) -> FilterError {
        FilterError::InvalidValue {
            key: self.key.to_owned(),
            op: self.op.as_str(),
            field: self.field.to_owned(),
            expected,
            value: show(value),
        }
    }

    fn unsupported(&self) -> FilterError {
        FilterError::OperatorNotSupported {
            key: self.key.to_owned(),
            op: self.op.as_str(),
            field: self.field.to_owned(),
            kind: self.kind.as_str(),
        }
    }
}
