//! The catalogue of filterable fields: dotted paths of a state type and their kinds.

use std::collections::BTreeMap;
use std::fmt;

/// What a field holds, as far as filtering and sorting are concerned.
///
/// The kind decides which operators a field accepts, how filter values are
/// validated and how two values are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum FieldKind {
    /// A text value, compared by Unicode code point.
    String,
    /// An RFC 3339 timestamp stored as a string, compared as an instant.
    DateTime,
    /// A whole number.
    Integer,
    /// Any number, integral or not.
    Number,
    /// `true` or `false`.
    Boolean,
    /// A JSON array.
    Array,
    /// A JSON object (a nested struct or a map).
    Object,
    /// The schema says nothing usable: values are compared by their JSON type.
    Any,
}

impl FieldKind {
    /// A lower-case name of the kind, as used in error messages.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldKind::String => "string",
            FieldKind::DateTime => "date-time",
            FieldKind::Integer => "integer",
            FieldKind::Number => "number",
            FieldKind::Boolean => "boolean",
            FieldKind::Array => "array",
            FieldKind::Object => "object",
            FieldKind::Any => "any",
        }
    }

    /// Whether values of this kind have an order (`lt`, `between`, sorting).
    pub fn is_ordered(self) -> bool {
        matches!(
            self,
            FieldKind::String
                | FieldKind::DateTime
                | FieldKind::Integer
                | FieldKind::Number
                | FieldKind::Any
        )
    }
}

impl fmt::Display for FieldKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One known field: its path segments and its kind.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    path: Vec<String>,
    kind: FieldKind,
}

/// Maps each dotted field path of a state type (`"balance"`, `"address.city"`)
/// to its [`FieldKind`].
///
/// Usually built once per state type with [`FieldIndex::from_schema`]; it can
/// also be assembled by hand with [`FieldIndex::insert`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldIndex {
    entries: BTreeMap<String, Entry>,
}

impl FieldIndex {
    /// An index without any field.
    pub fn new() -> FieldIndex {
        FieldIndex::default()
    }

    /// Adds (or replaces) a field. The path is split on `.` into segments.
    pub fn insert(&mut self, field: &str, kind: FieldKind) {
        let path = field.split('.').map(str::to_owned).collect();
        self.insert_path(path, kind);
    }

    /// Adds (or replaces) a field given as path segments; the dotted name is
    /// the segments joined by `.`.
    pub fn insert_path(&mut self, path: Vec<String>, kind: FieldKind) {
        self.entries.insert(path.join("."), Entry { path, kind });
    }

    /// The kind of the field at this dotted path, if the field is known.
    pub fn kind(&self, path: &str) -> Option<FieldKind> {
        self.entries.get(path).map(|entry| entry.kind)
    }

    /// The segments of the field at this dotted path, if the field is known.
    pub fn path(&self, path: &str) -> Option<&[String]> {
        self.entries.get(path).map(|entry| entry.path.as_slice())
    }

    /// Whether the dotted path names a known field.
    pub fn contains(&self, path: &str) -> bool {
        self.entries.contains_key(path)
    }

    /// Every known field with its kind, ordered by dotted path.
    pub fn fields(&self) -> impl Iterator<Item = (&str, FieldKind)> {
        self.entries
            .iter()
            .map(|(name, entry)| (name.as_str(), entry.kind))
    }

    /// How many fields are known.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no field is known.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Looks a field up, returning its dotted name, segments and kind.
    pub(super) fn lookup(&self, field: &str) -> Option<(String, Vec<String>, FieldKind)> {
        self.entries
            .get_key_value(field)
            .map(|(name, entry)| (name.clone(), entry.path.clone(), entry.kind))
    }
}
