//! Errors of the filter DSL: every variant reads as one sentence naming the culprit.

use thiserror::Error;

/// Why a filter, a sort specification or a page request was rejected.
///
/// Each message names the offending key, field, operator or value so that an
/// API can return it to the caller unchanged.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum FilterError {
    /// The filter was neither a JSON object nor an array of them.
    #[error("the filter must be a JSON object or an array of JSON objects, got {found}")]
    NotAFilter {
        /// The JSON type that was found instead.
        found: &'static str,
    },
    /// A part of a filter was not a JSON object.
    #[error("{location} must be a JSON object, got {found}")]
    NotAnObject {
        /// Where the object was expected, e.g. `the filter` or `element 2 of \`.or\``.
        location: String,
        /// The JSON type that was found instead.
        found: &'static str,
    },
    /// The value of `.and`, `.or`, `!and` or `!or` was neither an object nor an array.
    #[error("`{key}` expects a filter object or an array of filter objects, got {found}")]
    BadComposition {
        /// The composition key.
        key: String,
        /// The JSON type that was found instead.
        found: &'static str,
    },
    /// The key names a field that the state schema does not have.
    #[error("unknown field `{field}` in filter key `{key}`")]
    UnknownField {
        /// The field as read from the key.
        field: String,
        /// The whole filter key.
        key: String,
    },
    /// The key names a known field followed by `.` and nothing else.
    #[error(
        "filter key `{key}` ends with `.` but names no operator (write `{field}` or `{field}.eq`)"
    )]
    MissingOperator {
        /// The whole filter key.
        key: String,
        /// The field before the `.`.
        field: String,
    },
    /// The key names a known field followed by an operator that does not exist.
    #[error("unknown operator `{op}` in filter key `{key}`")]
    UnknownOperator {
        /// The operator as read from the key.
        op: String,
        /// The whole filter key.
        key: String,
    },
    /// The operator cannot be applied to a field of this kind.
    #[error("filter key `{key}`: operator `{op}` is not supported on {kind} fields")]
    OperatorNotSupported {
        /// The filter key as written.
        key: String,
        /// The operator.
        op: &'static str,
        /// The dotted field path.
        field: String,
        /// The kind of the field, e.g. `boolean`.
        kind: &'static str,
    },
    /// The value given to an operator has the wrong shape or type.
    #[error("filter key `{key}` expects {expected}, got {value}")]
    InvalidValue {
        /// The filter key as written.
        key: String,
        /// The operator.
        op: &'static str,
        /// The dotted field path.
        field: String,
        /// What the operator accepts, e.g. `a number`.
        expected: &'static str,
        /// The rejected value, rendered as JSON (shortened when long).
        value: String,
    },
    /// A value given for a date-time field is not an RFC 3339 timestamp.
    #[error("filter key `{key}`: value {value} is not an RFC 3339 date-time")]
    InvalidDateTime {
        /// The filter key as written.
        key: String,
        /// The dotted field path.
        field: String,
        /// The rejected value, rendered as JSON (shortened when long).
        value: String,
    },
    /// The bounds of `between` are out of order (or cannot be ordered at all).
    #[error("filter key `{key}` expects `[lo, hi]` with lo <= hi, got {value}")]
    BadBounds {
        /// The filter key as written.
        key: String,
        /// The bounds as given, rendered as JSON (shortened when long).
        value: String,
    },
    /// The filter nests `.and` / `.or` / `!and` / `!or` deeper than allowed.
    #[error("filter key `{key}` nests deeper than the limit of {limit} levels")]
    TooDeep {
        /// The composition key at which the nesting passed the limit.
        key: String,
        /// The maximum nesting depth.
        limit: usize,
    },
    /// A sort item names a field that the state schema does not have.
    #[error("unknown sort field `{field}` in sort item `{item}`")]
    UnknownSortField {
        /// The field as read from the item.
        field: String,
        /// The whole sort item.
        item: String,
    },
    /// A sort item ends with a direction other than `asc` or `desc`.
    #[error(
        "unknown sort direction `{direction}` in sort item `{item}` (expected `asc` or `desc`)"
    )]
    BadSortDirection {
        /// The direction as read from the item.
        direction: String,
        /// The whole sort item.
        item: String,
    },
    /// The field exists but holds arrays or objects, which have no sort order.
    #[error("cannot sort on `{field}` ({kind} field)")]
    UnsortableField {
        /// The dotted field path.
        field: String,
        /// The kind of the field.
        kind: &'static str,
    },
    /// The requested page size is zero or negative.
    #[error("`limit` must be greater than 0, got {limit}")]
    InvalidLimit {
        /// The rejected limit.
        limit: i64,
    },
    /// A read names an identifier, a version, an instant or a value that breaks a limit of
    /// [`limits`](crate::limits).
    #[error("{0}")]
    Limit(#[from] crate::limits::LimitError),
    /// The requested page number is zero or negative (pages count from 1).
    #[error("`page` must be 1 or more, got {page}")]
    InvalidPage {
        /// The rejected page number.
        page: i64,
    },
    /// Both a page number and an offset were requested.
    #[error("give `page` or `offset`, not both (got page {page} and offset {offset})")]
    PageAndOffset {
        /// The requested page number.
        page: i64,
        /// The requested offset.
        offset: i64,
    },
    /// The page number times the page size does not fit a 64-bit offset.
    #[error("`page` {page} with `limit` {limit} is past any possible result")]
    PageTooLarge {
        /// The rejected page number.
        page: i64,
        /// The page size it was combined with.
        limit: i64,
    },
    /// The requested offset is negative.
    #[error("`offset` must not be negative, got {offset}")]
    InvalidOffset {
        /// The rejected offset.
        offset: i64,
    },
}

/// Longest rendering of a user value kept inside an error message.
const MAX_SHOWN: usize = 80;

/// Renders a JSON value for an error message, cut at a character boundary when long.
pub(super) fn show(value: &serde_json::Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= MAX_SHOWN {
        return text;
    }
    let mut cut: String = text.chars().take(MAX_SHOWN).collect();
    cut.push('…');
    cut
}

/// Names the JSON type of a value, for messages such as "got array".
pub(super) fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}
