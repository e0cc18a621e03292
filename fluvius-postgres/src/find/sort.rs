//! Sort keys as `ORDER BY` items with exactly the order of `compare_docs`.
//!
//! A key orders documents by a tuple, each item in the key's direction:
//!
//! 1. the rank of the value's type, as `total_order` groups them: booleans, numbers, instants
//!    (strings of date-time fields that read as RFC 3339), other strings, arrays, objects, and
//!    last null or absent (so nulls come last ascending and first descending, as PostgreSQL
//!    does);
//! 2. then, within a rank, the value: `false` before `true`, numbers by value, instants as
//!    instants, strings by code point, arrays and objects by their JSON text.
//!
//! Items that do not apply to a value are NULL for every document of its rank, so they never
//! decide. After the keys, ties are broken by identifier ascending (`COLLATE "C"` columns). The
//! key `id` is the identifier column itself.
//!
//! One difference remains: arrays and objects (possible only in fields of kind `Any`, since
//! fields of kind array or object cannot be sorted on) are compared by PostgreSQL's `jsonb`
//! text, which spaces and orders object keys differently from `serde_json`.

use fluvius_core::filter::{FieldKind, SortKey, Target};
use sqlx::{Postgres, QueryBuilder};

use super::filter::{push_text, push_value};

/// Pushes the `ORDER BY` items of one key, each followed by `, `.
pub(super) fn push_key(sql: &mut QueryBuilder<Postgres>, key: &SortKey) {
    let dir = if key.descending { " DESC, " } else { " ASC, " };
    if key.target == Target::Identifier {
        sql.push("identifier");
        sql.push(dir);
        return;
    }
    let path = &key.path;
    let dates = key.kind == FieldKind::DateTime;

    sql.push("CASE jsonb_typeof");
    push_value(sql, Target::State, path);
    sql.push(" WHEN 'boolean' THEN 1 WHEN 'number' THEN 2 WHEN 'string' THEN ");
    if dates {
        sql.push("CASE WHEN fluvius.instant(");
        push_value(sql, Target::State, path);
        sql.push(" #>> '{}') IS NULL THEN 4 ELSE 3 END");
    } else {
        sql.push("4");
    }
    sql.push(" WHEN 'array' THEN 5 WHEN 'object' THEN 6 ELSE 7 END");
    sql.push(dir);

    // Booleans: `false` < `true`.
    sql.push("CASE WHEN jsonb_typeof");
    push_value(sql, Target::State, path);
    sql.push(" = 'boolean' THEN ");
    push_value(sql, Target::State, path);
    sql.push(" = 'true'::jsonb END");
    sql.push(dir);

    // Numbers, as jsonb numbers compare: by value.
    sql.push("CASE WHEN jsonb_typeof");
    push_value(sql, Target::State, path);
    sql.push(" = 'number' THEN ");
    push_value(sql, Target::State, path);
    sql.push(" END");
    sql.push(dir);

    if dates {
        sql.push("fluvius.instant(");
        push_text(sql, Target::State, path);
        sql.push(")");
        sql.push(dir);
    }

    // Strings that are not instants, by code point.
    sql.push("CASE WHEN jsonb_typeof");
    push_value(sql, Target::State, path);
    sql.push(" = 'string'");
    if dates {
        sql.push(" AND fluvius.instant(");
        push_value(sql, Target::State, path);
        sql.push(" #>> '{}') IS NULL");
    }
    sql.push(" THEN ");
    push_value(sql, Target::State, path);
    sql.push(" #>> '{}' END COLLATE \"C\"");
    sql.push(dir);

    // Arrays and objects, by their text.
    sql.push("CASE WHEN jsonb_typeof");
    push_value(sql, Target::State, path);
    sql.push(" IN ('array', 'object') THEN ");
    push_value(sql, Target::State, path);
    sql.push("::text END COLLATE \"C\"");
    sql.push(dir);
}
