//! The input limits of the framework, decided once here so that every backend accepts and refuses
//! exactly the same input, and so that whatever is written can always be read back.
//!
//! Each limit is checked in core, before anything reaches a backend: command payloads and
//! contexts when a command is routed, event data and state when an action returns, events of
//! [`Domain::import`](crate::Domain::import), filters when a query is parsed, and identifiers,
//! versions and instants of reads. A broken limit is a [`LimitError`] naming the limit, carried
//! by [`Error::Validation`](crate::Error::Validation) (commands, imports),
//! [`Error::Unstorable`](crate::Error::Unstorable) (what an action produced) or
//! [`Error::InvalidQuery`](crate::Error::InvalidQuery) (reads and queries).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

mod json;

/// The deepest nesting of arrays and objects in one JSON document (a payload, event data, a
/// state, a filter value): `{"a": [1]}` nests 2 levels, a scalar 0.
///
/// Decoders bound their recursion (serde_json refuses text nesting 128 levels or more, which
/// PostgreSQL's `jsonb` rows go through), and a document is sometimes nested inside another
/// (a payload inside a state, a state inside a response): 64 leaves room for both.
pub const MAX_JSON_DEPTH: usize = 64;

/// The longest identifier (an aggregate root's identifier, a tenant), in UTF-8 bytes.
///
/// PostgreSQL refuses a btree index entry over about 2,700 bytes, and the stream key holds the
/// tenant, the namespace, the resource and the identifier together.
pub const MAX_IDENTIFIER_BYTES: usize = 1024;

/// The most comparisons one filter holds, each value of an `in` or `ov` list counting as one.
///
/// Keeps a translated query far below PostgreSQL's 65,535 bind parameters and bounds the work
/// of evaluating a filter.
pub const MAX_FILTER_TERMS: usize = 1000;

/// The most sort keys one query takes.
///
/// Each one is an expression of the translated query; more than a handful never changes an
/// order, and the bound keeps a query within PostgreSQL's bind parameters.
pub const MAX_SORT_KEYS: usize = 32;

/// The highest stream version a command may expect or a read may ask for: `i64::MAX`, the
/// largest version PostgreSQL's `bigint` holds.
pub const MAX_VERSION: u64 = i64::MAX as u64;

/// The first year of the instants the framework accepts (business time, import recording
/// times, time-travel targets, purge horizons).
pub const MIN_YEAR: i32 = 1;

/// The last year of the instants the framework accepts; RFC 3339 writes at most four digits.
pub const MAX_YEAR: i32 = 9999;

/// Which limit an input broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Limit {
    /// [`MAX_JSON_DEPTH`].
    JsonDepth,
    /// Numbers are finite: JSON has no NaN or infinity.
    FiniteNumbers,
    /// No NUL character (U+0000) in any text: PostgreSQL cannot store it.
    NoNul,
    /// [`MAX_IDENTIFIER_BYTES`], and an aggregate root identifier is not empty (NUL is
    /// [`Limit::NoNul`]).
    Identifier,
    /// [`MAX_FILTER_TERMS`].
    FilterTerms,
    /// [`MAX_SORT_KEYS`].
    SortKeys,
    /// [`MAX_VERSION`].
    Version,
    /// [`MIN_YEAR`] to [`MAX_YEAR`].
    TimeRange,
    /// [`MAX_MESSAGES_PER_COMMAND`](crate::outbox::MAX_MESSAGES_PER_COMMAND).
    Messages,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::JsonDepth => write!(f, "JSON nests at most {MAX_JSON_DEPTH} levels"),
            Limit::FiniteNumbers => f.write_str("numbers are finite"),
            Limit::NoNul => f.write_str("text holds no NUL character (U+0000)"),
            Limit::Identifier => {
                write!(f, "identifiers are 1 to {MAX_IDENTIFIER_BYTES} bytes long")
            }
            Limit::FilterTerms => {
                write!(f, "a filter holds at most {MAX_FILTER_TERMS} comparisons")
            }
            Limit::SortKeys => write!(f, "a query sorts by at most {MAX_SORT_KEYS} keys"),
            Limit::Version => write!(f, "versions are at most {MAX_VERSION}"),
            Limit::TimeRange => write!(f, "instants lie in the years {MIN_YEAR} to {MAX_YEAR}"),
            Limit::Messages => write!(
                f,
                "a command sends at most {} messages",
                crate::outbox::MAX_MESSAGES_PER_COMMAND
            ),
        }
    }
}

/// An input that breaks one of the limits of this module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (limit: {limit})")]
#[non_exhaustive]
pub struct LimitError {
    /// The limit broken.
    pub limit: Limit,
    /// What broke it, and where.
    pub message: String,
}

impl LimitError {
    pub(crate) fn new(limit: Limit, message: String) -> Self {
        LimitError { limit, message }
    }
}

/// The first instant accepted: 0001-01-01T00:00:00Z.
pub fn min_time() -> DateTime<Utc> {
    DateTime::from_timestamp_micros(MIN_TIME_MICROS).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// [`min_time`] and [`max_time`] in microseconds since the Unix epoch (checked by a test
/// against the calendar), so the hot path compares integers instead of building dates.
const MIN_TIME_MICROS: i64 = -62_135_596_800_000_000;
const MAX_TIME_MICROS: i64 = 253_402_300_799_999_999;

/// Whether an instant lies within [`min_time`] and [`max_time`].
pub fn time_in_range(time: DateTime<Utc>) -> bool {
    let micros = time.timestamp_micros();
    // At the last microsecond, a finer fraction lies past the bound.
    let past_last =
        micros == MAX_TIME_MICROS && !time.timestamp_subsec_nanos().is_multiple_of(1_000);
    (MIN_TIME_MICROS..=MAX_TIME_MICROS).contains(&micros) && !past_last
}

/// The last instant accepted: 9999-12-31T23:59:59.999999Z.
pub fn max_time() -> DateTime<Utc> {
    DateTime::from_timestamp_micros(MAX_TIME_MICROS).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Checks an identifier (`what` names it in the message): not empty, at most
/// [`MAX_IDENTIFIER_BYTES`], no NUL.
pub fn check_identifier(what: &str, id: &str) -> Result<(), LimitError> {
    if id.is_empty() {
        return Err(LimitError::new(
            Limit::Identifier,
            format!("{what} is empty"),
        ));
    }
    check_bounded_text(what, id)
}

/// Checks a text that may be empty but is stored in an indexed column (a tenant): at most
/// [`MAX_IDENTIFIER_BYTES`], no NUL.
pub fn check_bounded_text(what: &str, text: &str) -> Result<(), LimitError> {
    if text.len() > MAX_IDENTIFIER_BYTES {
        return Err(LimitError::new(
            Limit::Identifier,
            format!(
                "{what} is {} bytes long, over {MAX_IDENTIFIER_BYTES}",
                text.len()
            ),
        ));
    }
    check_text(what, text)
}

/// Checks a free text (a user name, a header): no NUL.
pub fn check_text(what: &str, text: &str) -> Result<(), LimitError> {
    if text.contains('\0') {
        return Err(LimitError::new(
            Limit::NoNul,
            format!("{what} holds a NUL character (U+0000)"),
        ));
    }
    Ok(())
}

/// Checks a version a caller gives: at most [`MAX_VERSION`].
pub fn check_version(what: &str, version: u64) -> Result<(), LimitError> {
    if version > MAX_VERSION {
        return Err(LimitError::new(
            Limit::Version,
            format!("{what} {version} is above {MAX_VERSION}"),
        ));
    }
    Ok(())
}

/// Checks an instant a caller gives: within [`min_time`] and [`max_time`].
pub fn check_time(what: &str, time: DateTime<Utc>) -> Result<(), LimitError> {
    if !time_in_range(time) {
        return Err(LimitError::new(
            Limit::TimeRange,
            format!("{what} {time} lies outside the years {MIN_YEAR} to {MAX_YEAR}"),
        ));
    }
    Ok(())
}

/// Checks the number of comparisons of a filter against [`MAX_FILTER_TERMS`].
pub fn check_filter_terms(terms: usize) -> Result<(), LimitError> {
    if terms > MAX_FILTER_TERMS {
        return Err(LimitError::new(
            Limit::FilterTerms,
            format!(
                "the filter holds more than {MAX_FILTER_TERMS} comparisons (each `in` or `ov` value counts as one)"
            ),
        ));
    }
    Ok(())
}

/// Checks the number of sort keys of a query against [`MAX_SORT_KEYS`].
pub fn check_sort_keys(keys: usize) -> Result<(), LimitError> {
    if keys > MAX_SORT_KEYS {
        return Err(LimitError::new(
            Limit::SortKeys,
            format!("the query sorts by {keys} keys, more than {MAX_SORT_KEYS}"),
        ));
    }
    Ok(())
}

/// Checks what a value serialises to, without building it: nesting at most
/// [`MAX_JSON_DEPTH`], every number finite, no NUL in any string or key. `what` names the
/// value in the message, which also gives the path to the culprit.
///
/// The walk stops at the first level past the limit, so it is safe on a value of any depth.
/// A value whose own `Serialize` fails passes: encoding it reports that failure.
///
/// ```
/// use fluvius_core::limits::{Limit, check_json};
/// let err = check_json("the payload", &serde_json::json!({"a": ["x\u{0}y"]})).unwrap_err();
/// assert_eq!(err.limit, Limit::NoNul);
/// assert!(err.message.contains("`a[0]`"), "{}", err.message);
/// assert!(check_json("a ratio", &f64::NAN).is_err());
/// ```
pub fn check_json<T: Serialize + ?Sized>(what: &str, value: &T) -> Result<(), LimitError> {
    json::check(value).map_err(|(limit, found)| LimitError::new(limit, format!("{what} {found}")))
}

#[cfg(test)]
mod tests;
