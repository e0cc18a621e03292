//! Sort keys (`balance.desc`, `address.city`) and the in-memory order of state documents.

use std::cmp::Ordering;

use serde_json::Value;

use super::compare::total_order;
use super::error::FilterError;
use super::fields::{FieldIndex, FieldKind};
use super::tree::{ID_FIELD, Target, lookup};

/// One sort key: a field and a direction.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SortKey {
    /// Whether the key orders by the identifier or by a field of the state.
    pub target: Target,
    /// The dotted field path (`id` for the identifier).
    pub field: String,
    /// The field path as segments.
    pub path: Vec<String>,
    /// The kind of the field, from the state schema.
    pub kind: FieldKind,
    /// Whether the order is from the largest value to the smallest.
    pub descending: bool,
}

/// Parses sort items, each `field`, `field.asc` or `field.desc`; an item may
/// also hold several of them separated by commas (`"balance.desc,name"`).
///
/// A trailing `.asc` / `.desc` is read as the direction. Any other suffix is
/// part of the field path when the whole item is a known field
/// (`address.city`), and a bad direction when only the part before it is.
/// Empty items (as in `"a,,b"`) and surrounding spaces are ignored. Array and
/// object fields cannot be sorted on.
pub fn parse_sort(input: &[String], fields: &FieldIndex) -> Result<Vec<SortKey>, FilterError> {
    input
        .iter()
        .flat_map(|item| item.split(','))
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| parse_item(item, fields))
        .collect()
}

/// Parses one `field[.asc|.desc]` item.
fn parse_item(item: &str, fields: &FieldIndex) -> Result<SortKey, FilterError> {
    let known = |field: &str| field == ID_FIELD || fields.contains(field);
    let (field, descending) = match item.rsplit_once('.') {
        Some((field, "asc")) if known(field) => (field, false),
        Some((field, "desc")) if known(field) => (field, true),
        _ if known(item) => (item, false),
        Some((field, direction)) if known(field) => {
            return Err(FilterError::BadSortDirection {
                direction: direction.to_owned(),
                item: item.to_owned(),
            });
        }
        Some((field, _)) => {
            return Err(FilterError::UnknownSortField {
                field: field.to_owned(),
                item: item.to_owned(),
            });
        }
        None => {
            return Err(FilterError::UnknownSortField {
                field: item.to_owned(),
                item: item.to_owned(),
            });
        }
    };
    if field == ID_FIELD {
        return Ok(SortKey {
            target: Target::Identifier,
            field: ID_FIELD.to_owned(),
            path: vec![ID_FIELD.to_owned()],
            kind: FieldKind::String,
            descending,
        });
    }
    let Some((field, path, kind)) = fields.lookup(field) else {
        return Err(FilterError::UnknownSortField {
            field: field.to_owned(),
            item: item.to_owned(),
        });
    };
    if matches!(kind, FieldKind::Array | FieldKind::Object) {
        return Err(FilterError::UnsortableField {
            field,
            kind: kind.as_str(),
        });
    }
    Ok(SortKey {
        target: Target::State,
        field,
        path,
        kind,
        descending,
    })
}

/// Orders two state documents by the sort keys, then by id ascending.
///
/// For each key a null or absent value sorts above every value: last when
/// ascending, first when descending (as PostgreSQL does). Numbers compare by
/// value, date-time fields as instants, strings by code point, `false`
/// before `true`.
pub fn compare_docs(a: &Value, a_id: &str, b: &Value, b_id: &str, keys: &[SortKey]) -> Ordering {
    keys.iter()
        .map(|key| {
            let ord = match key.target {
                Target::Identifier => a_id.cmp(b_id),
                Target::State => by_value(key, lookup(a, &key.path), lookup(b, &key.path)),
            };
            if key.descending { ord.reverse() } else { ord }
        })
        .find(|ord| *ord != Ordering::Equal)
        .unwrap_or_else(|| a_id.cmp(b_id))
}

/// Orders two values of a sort key's field, null or absent above every value.
fn by_value(key: &SortKey, a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => total_order(key.kind, x, y),
    }
}
