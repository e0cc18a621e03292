//! Turns the JSON filter DSL (`{"balance.gt": 5, ".or": [...]}`) into a [`Filter`] tree.

use std::cell::Cell;

use serde_json::Value;

use super::error::{FilterError, json_type};
use super::fields::{FieldIndex, FieldKind};
use super::op::Op;
use super::tree::{Condition, Filter, ID_FIELD, Target};
use super::validate::validate;
use crate::limits;

/// Deepest nesting of `.and` / `.or` / `!and` / `!or` that [`Filter::parse`] accepts.
pub const MAX_DEPTH: usize = 32;

impl Filter {
    /// Parses a filter, checking every field, operator and value against the fields of the
    /// state type.
    ///
    /// A filter is a JSON object, or an array of objects that must all hold. Each key of an
    /// object is one condition and all of them must hold: `field` (same as `field.eq`),
    /// `field.op`, `field!op` (the exact complement of `field.op`; `field!` alone is
    /// `field!eq`), or a composition `.and`, `.or`, `!and`, `!or` whose value is a filter
    /// object or an array of filter objects (given one object, `.or` takes each of its keys as
    /// an alternative). `id` names the aggregate identifier. `eq null` is `null: true` and
    /// `ne null` is `null: false`; a `null` among the values of `in` matches null or absent
    /// fields. An empty object is [`Filter::All`]; `.and: []` matches everything, `.or: []`
    /// nothing. Nesting deeper than [`MAX_DEPTH`] is refused, and so are values breaking the
    /// JSON limits and filters of more than
    /// [`MAX_FILTER_TERMS`](crate::limits::MAX_FILTER_TERMS) comparisons.
    pub fn parse(input: &Value, fields: &FieldIndex) -> Result<Filter, FilterError> {
        let parser = Parser {
            fields,
            terms: Cell::new(0),
        };
        match input {
            Value::Array(items) => {
                let parts = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| parser.object(item, &format!("element {i} of the filter"), 0))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Filter::And(parts))
            }
            Value::Object(_) => parser.object(input, "the filter", 0),
            other => Err(FilterError::NotAFilter {
                found: json_type(other),
            }),
        }
    }
}

/// How a key splits around its last `.` or `!`.
struct Split<'a> {
    prefix: &'a str,
    negated: bool,
    suffix: &'a str,
}

/// Splits a key at its last `.` or `!`; `None` when it has neither.
fn split(key: &str) -> Option<Split<'_>> {
    let at = key.rfind(['.', '!'])?;
    let (prefix, rest) = key.split_at(at);
    Some(Split {
        prefix,
        negated: rest.starts_with('!'),
        suffix: rest.get(1..).unwrap_or_default(),
    })
}

/// Parses filters against one set of fields.
struct Parser<'a> {
    fields: &'a FieldIndex,
    /// Comparisons so far, against [`MAX_FILTER_TERMS`](crate::limits::MAX_FILTER_TERMS).
    terms: Cell<usize>,
}

impl Parser<'_> {
    /// Parses a filter object: its keys joined by `and`.
    fn object(&self, input: &Value, location: &str, depth: usize) -> Result<Filter, FilterError> {
        let Value::Object(map) = input else {
            return Err(FilterError::NotAnObject {
                location: location.to_owned(),
                found: json_type(input),
            });
        };
        let mut parts = map
            .iter()
            .map(|(key, value)| self.entry(key, value, depth))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(match parts.len() {
            0 => Filter::All,
            1 => parts.pop().unwrap_or(Filter::All),
            _ => Filter::And(parts),
        })
    }

    /// Parses one `key: value` entry of a filter object.
    fn entry(&self, key: &str, value: &Value, depth: usize) -> Result<Filter, FilterError> {
        let Some(split) = split(key) else {
            return self.condition(key, key, Op::Eq, false, value);
        };
        if split.prefix.is_empty() && matches!(split.suffix, "and" | "or") {
            return self.compose(key, split.suffix == "or", split.negated, value, depth);
        }
        if split.suffix.is_empty() && self.known(split.prefix) {
            if split.negated {
                return self.condition(key, split.prefix, Op::Eq, true, value);
            }
            return Err(FilterError::MissingOperator {
                key: key.to_owned(),
                field: split.prefix.to_owned(),
            });
        }
        let op = Op::parse(split.suffix);
        if let Some(op) = op
            && self.known(split.prefix)
        {
            return self.condition(key, split.prefix, op, split.negated, value);
        }
        if self.known(key) {
            return self.condition(key, key, Op::Eq, false, value);
        }
        if op.is_none() && self.known(split.prefix) {
            return Err(FilterError::UnknownOperator {
                op: split.suffix.to_owned(),
                key: key.to_owned(),
            });
        }
        Err(FilterError::UnknownField {
            field: split.prefix.to_owned(),
            key: key.to_owned(),
        })
    }

    /// Whether a dotted path names a field a filter may read: `id` or a field of the state.
    fn known(&self, field: &str) -> bool {
        field == ID_FIELD || self.fields.contains(field)
    }

    /// Parses the value of `.and`, `.or`, `!and` or `!or`.
    ///
    /// An array holds one filter object per member. A single object is one
    /// filter for `and`; for `or` each of its keys is one alternative.
    fn compose(
        &self,
        key: &str,
        or: bool,
        negated: bool,
        value: &Value,
        depth: usize,
    ) -> Result<Filter, FilterError> {
        if depth >= MAX_DEPTH {
            return Err(FilterError::TooDeep {
                key: key.to_owned(),
                limit: MAX_DEPTH,
            });
        }
        let members = match value {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| self.object(item, &format!("`{key}`[{i}]"), depth + 1))
                .collect::<Result<Vec<_>, _>>()?,
            Value::Object(map) if or => map
                .iter()
                .map(|(key, value)| self.entry(key, value, depth + 1))
                .collect::<Result<Vec<_>, _>>()?,
            Value::Object(_) => vec![self.object(value, key, depth + 1)?],
            other => {
                return Err(FilterError::BadComposition {
                    key: key.to_owned(),
                    found: json_type(other),
                });
            }
        };
        let node = if or {
            Filter::Or(members)
        } else {
            Filter::And(members)
        };
        Ok(if negated {
            Filter::Not(Box::new(node))
        } else {
            node
        })
    }

    /// Builds one comparison, validating the field, the operator and the value.
    fn condition(
        &self,
        key: &str,
        field: &str,
        op: Op,
        negated: bool,
        value: &Value,
    ) -> Result<Filter, FilterError> {
        let (target, (field, path, kind)) = if field == ID_FIELD {
            let path = vec![ID_FIELD.to_owned()];
            (
                Target::Identifier,
                (ID_FIELD.to_owned(), path, FieldKind::String),
            )
        } else {
            match self.fields.lookup(field) {
                Some(found) => (Target::State, found),
                None => {
                    return Err(FilterError::UnknownField {
                        field: field.to_owned(),
                        key: key.to_owned(),
                    });
                }
            }
        };
        // Before anything renders or copies the value: it may nest without bound.
        limits::check_json(&format!("the value of `{key}`"), value)?;
        let terms = match (op, value) {
            (Op::In | Op::Ov, Value::Array(options)) => options.len().max(1),
            _ => 1,
        };
        self.terms.set(self.terms.get().saturating_add(terms));
        limits::check_filter_terms(self.terms.get())?;
        let make = |op: Op, value: Value| {
            Filter::Cmp(Condition {
                target,
                field: field.clone(),
                path: path.clone(),
                kind,
                op,
                value,
            })
        };
        let positive = match (op, value) {
            // `eq null` asks for the null rows and `ne null` for the others.
            (Op::Eq, Value::Null) => make(Op::Null, Value::Bool(true)),
            (Op::Ne, Value::Null) => make(Op::Null, Value::Bool(false)),
            // `in` is one `eq` per value, so a `null` among them stands for the null rows.
            (Op::In, Value::Array(options)) if options.iter().any(Value::is_null) => {
                let present: Vec<Value> =
                    options.iter().filter(|o| !o.is_null()).cloned().collect();
                let present = validate(key, &field, kind, Op::In, Value::Array(present))?;
                Filter::Or(vec![
                    make(Op::In, present),
                    make(Op::Null, Value::Bool(true)),
                ])
            }
            (op, value) => make(op, validate(key, &field, kind, op, value.clone())?),
        };
        Ok(if negated {
            Filter::Not(Box::new(positive))
        } else {
            positive
        })
    }
}
