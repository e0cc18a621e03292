//! The parsed filter tree and its evaluation in memory over JSON state documents.

use std::cmp::Ordering;

use serde_json::Value;

use super::compare::{json_eq, values_equal, values_order};
use super::fields::FieldKind;
use super::op::Op;

/// A parsed filter: a tree of comparisons joined by `and`, `or` and `not`.
///
/// Obtained from [`Filter::parse`]; evaluated in memory by [`Filter::matches`].
/// The tree carries everything a storage backend needs to translate it
/// (field path, kind, operator and validated value).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Filter {
    /// The empty filter: matches every document.
    All,
    /// Matches when every member matches (an empty list matches everything).
    And(Vec<Filter>),
    /// Matches when any member matches (an empty list matches nothing).
    Or(Vec<Filter>),
    /// Matches exactly the documents the inner filter does not match.
    Not(Box<Filter>),
    /// One comparison of a field with a value.
    Cmp(Condition),
}

/// What a condition or a sort key reads: the root's identifier or a field of its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Target {
    /// The aggregate identifier, written `id` in filters and sorts; a string, never null.
    Identifier,
    /// The state document's field at the condition's path.
    State,
}

/// The name of the identifier in filter keys and sort items.
pub const ID_FIELD: &str = "id";

/// One comparison: `field op value`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Condition {
    /// Whether the condition reads the identifier or the state.
    pub target: Target,
    /// The dotted field path, e.g. `address.city` (`id` for the identifier).
    pub field: String,
    /// The field path as segments, e.g. `["address", "city"]`.
    pub path: Vec<String>,
    /// The kind of the field, from the state schema.
    pub kind: FieldKind,
    /// The operator.
    pub op: Op,
    /// The operand, validated against the kind: a scalar for `eq`..`gte` and
    /// `has`, an array for `in`, `[lo, hi]` for `between`, a boolean for `null`.
    pub value: Value,
}

impl Filter {
    /// Whether the root with this identifier and state document satisfies the filter.
    ///
    /// Every node is simply true or false (two-valued logic), so [`Filter::Not`] is the exact
    /// complement of its inner filter, rows with null or absent fields included.
    pub fn matches(&self, id: &str, doc: &Value) -> bool {
        match self {
            Filter::All => true,
            Filter::And(parts) => parts.iter().all(|part| part.matches(id, doc)),
            Filter::Or(parts) => parts.iter().any(|part| part.matches(id, doc)),
            Filter::Not(inner) => !inner.matches(id, doc),
            Filter::Cmp(condition) => condition.matches(id, doc),
        }
    }
}

impl Condition {
    /// Whether the root with this identifier and state document satisfies this one comparison.
    ///
    /// On a field that is null or absent, `null: true` and `ne` hold and every other operator
    /// fails: `ne` is the exact complement of `eq`.
    pub fn matches(&self, id: &str, doc: &Value) -> bool {
        let identifier;
        let found = match self.target {
            Target::Identifier => {
                identifier = Value::String(id.to_owned());
                Some(&identifier)
            }
            Target::State => lookup(doc, &self.path),
        };
        if self.op == Op::Ne {
            return !found.is_some_and(|actual| values_equal(self.kind, actual, &self.value));
        }
        if self.op == Op::Null {
            let wants_null = self.value.as_bool().unwrap_or(true);
            return found.is_none() == wants_null;
        }
        let Some(actual) = found else {
            return false;
        };
        let order = || values_order(self.kind, actual, &self.value);
        match self.op {
            Op::Eq => values_equal(self.kind, actual, &self.value),
            Op::Lt => order() == Some(Ordering::Less),
            Op::Lte => matches!(order(), Some(Ordering::Less | Ordering::Equal)),
            Op::Gt => order() == Some(Ordering::Greater),
            Op::Gte => matches!(order(), Some(Ordering::Greater | Ordering::Equal)),
            Op::In => self
                .value
                .as_array()
                .is_some_and(|options| options.iter().any(|o| values_equal(self.kind, actual, o))),
            Op::Has => has(actual, &self.value),
            Op::Ov => overlaps(actual, &self.value),
            Op::Between => match self.value.as_array().map(Vec::as_slice) {
                Some([lo, hi]) => {
                    let above = values_order(self.kind, actual, lo);
                    let below = values_order(self.kind, actual, hi);
                    matches!(above, Some(Ordering::Greater | Ordering::Equal))
                        && matches!(below, Some(Ordering::Less | Ordering::Equal))
                }
                _ => false,
            },
            Op::Ne | Op::Null => false,
        }
    }
}

/// Reads the value at a path of nested objects; `None` when it is null or
/// absent, or when an intermediate value is missing or not an object.
pub(super) fn lookup<'a>(doc: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut current = doc;
    for segment in path {
        current = current.as_object()?.get(segment)?;
    }
    (!current.is_null()).then_some(current)
}

/// The `has` operator: case-insensitive substring for strings, membership
/// (with `eq` equality) for arrays; nothing else matches.
fn has(actual: &Value, needle: &Value) -> bool {
    match (actual, needle) {
        (Value::String(text), Value::String(part)) => {
            text.to_lowercase().contains(&part.to_lowercase())
        }
        (Value::Array(items), needle) => items.iter().any(|item| json_eq(item, needle)),
        _ => false,
    }
}

/// The `ov` operator: an array field with at least one element equal (as `eq` sees it) to one
/// of the given elements; nothing else matches.
fn overlaps(actual: &Value, wanted: &Value) -> bool {
    match (actual, wanted) {
        (Value::Array(items), Value::Array(wanted)) => items
            .iter()
            .any(|item| wanted.iter().any(|w| json_eq(item, w))),
        _ => false,
    }
}
