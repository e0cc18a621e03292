//! The comparison operators a filter key may end with, and their spelling.

use std::fmt;

/// A comparison operator, written after the field in a filter key
/// (`balance.gt`, `name!has`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Op {
    /// Equal to the value.
    Eq,
    /// Not equal to the value: the exact complement of [`Op::Eq`], so a null or absent field
    /// is not equal to any value.
    Ne,
    /// Less than the value.
    Lt,
    /// Less than or equal to the value.
    Lte,
    /// Greater than the value.
    Gt,
    /// Greater than or equal to the value.
    Gte,
    /// Equal to one of the values of an array.
    In,
    /// Strings: contains the text, ignoring case. Arrays: contains the element.
    Has,
    /// Arrays: shares at least one element with the given array.
    Ov,
    /// Between the two values of `[lo, hi]`, both included.
    Between,
    /// `true`: null or absent. `false`: present and not null.
    Null,
}

impl Op {
    /// Every operator, in the order of the declaration.
    pub const ALL: [Op; 11] = [
        Op::Eq,
        Op::Ne,
        Op::Lt,
        Op::Lte,
        Op::Gt,
        Op::Gte,
        Op::In,
        Op::Has,
        Op::Ov,
        Op::Between,
        Op::Null,
    ];

    /// The operator as written in a filter key, e.g. `"gte"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::Lt => "lt",
            Op::Lte => "lte",
            Op::Gt => "gt",
            Op::Gte => "gte",
            Op::In => "in",
            Op::Has => "has",
            Op::Ov => "ov",
            Op::Between => "between",
            Op::Null => "null",
        }
    }

    /// Reads an operator as written in a filter key; `None` when unknown.
    /// Spelling is exact (lower case).
    pub fn parse(text: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.as_str() == text)
    }

    /// Whether the operator orders values (`lt`, `lte`, `gt`, `gte`, `between`).
    pub fn is_ordering(self) -> bool {
        matches!(self, Op::Lt | Op::Lte | Op::Gt | Op::Gte | Op::Between)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
