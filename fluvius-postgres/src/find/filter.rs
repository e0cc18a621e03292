//! The filter tree as a SQL condition with exactly the semantics of `Filter::matches`.
//!
//! Every comparison becomes a boolean that is never NULL (`coalesce(.., false)`), so `NOT` and
//! `!op` are the exact complement, null and absent fields included, despite SQL's three-valued
//! logic. Per operator, with `V` the field's `jsonb` (`state #> path`):
//!
//! * presence: `V` is present when `jsonb_typeof(V)` is neither NULL (absent) nor `'null'`;
//!   `null: true` is its negation, and no other operator matches a field that is not present;
//! * `eq`/`in`: `jsonb` equality, which compares numbers by value at any depth as `json_eq`
//!   does; date-time fields also match an equal instant written differently; `ne` is `NOT eq`
//!   (so it keeps null and absent fields);
//! * `id`: the `identifier` column (`NOT NULL`, `COLLATE "C"`) compared as text, so its index
//!   serves equality, `in` and ranges; `has` and `null` read it as a `jsonb` string;
//! * `lt`..`gte`, `between`: numbers as `jsonb` numbers (by value), strings of date-time fields
//!   as instants (`fluvius.instant`, which reads RFC 3339 exactly as chrono does), other strings
//!   by code point (`COLLATE "C"`); values of different types never compare;
//! * `has`: on a string, a case-insensitive literal substring (`strpos` of `fluvius.fold_case`,
//!   Unicode lower case; no `LIKE`, so `%` and `_` are plain characters); on an array, an element
//!   equal to the value (`@>` for scalars, element equality for arrays and objects);
//! * `ov`: on an array, an element equal to one of the given elements (a join of the two
//!   arrays' elements with `jsonb` equality).

use fluvius_core::filter::{Condition, FieldKind, Filter, Op, Target};
use serde_json::Value;
use sqlx::{Postgres, QueryBuilder};

/// Pushes the condition a filter stands for.
pub(super) fn push_filter(sql: &mut QueryBuilder<Postgres>, filter: &Filter) {
    match filter {
        Filter::All => {
            sql.push("true");
        }
        Filter::And(parts) => push_joined(sql, parts, " AND ", "true"),
        Filter::Or(parts) => push_joined(sql, parts, " OR ", "false"),
        Filter::Not(inner) => {
            sql.push("NOT ");
            push_filter(sql, inner);
        }
        Filter::Cmp(condition) => push_condition(sql, condition),
        // A node added to core's filter tree and not yet translated matches nothing: a query
        // never returns rows its filter did not select (core and this crate are released
        // together, so this stays unreachable in a consistent build).
        other => {
            tracing::error!(filter = ?other, "filter node without a SQL translation");
            sql.push("false");
        }
    }
}

fn push_joined(sql: &mut QueryBuilder<Postgres>, parts: &[Filter], joiner: &str, empty: &str) {
    if parts.is_empty() {
        sql.push(empty);
        return;
    }
    sql.push("(");
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            sql.push(joiner);
        }
        push_filter(sql, part);
    }
    sql.push(")");
}

/// Pushes `V`: the `jsonb` at the field's path, NULL when absent (the identifier as a `jsonb`
/// string for `id`).
///
/// `#>` also indexes into arrays when a path segment is an integer, where the in-memory lookup
/// only descends into objects; for segments that could be read as one, the value above must be
/// an object.
pub(crate) fn push_value(sql: &mut QueryBuilder<Postgres>, target: Target, path: &[String]) {
    if target == Target::Identifier {
        sql.push("(to_jsonb(identifier))");
        return;
    }
    let risky: Vec<usize> = (0..path.len())
        .filter(|&i| path[i].bytes().any(|b| b.is_ascii_digit()))
        .collect();
    if risky.is_empty() {
        sql.push("(state #> ");
        sql.push_bind(path.to_vec());
        sql.push(")");
        return;
    }
    sql.push("(CASE WHEN ");
    for (n, &i) in risky.iter().enumerate() {
        if n > 0 {
            sql.push(" AND ");
        }
        sql.push("jsonb_typeof(state #> ");
        sql.push_bind(path[..i].to_vec());
        sql.push(") = 'object'");
    }
    sql.push(" THEN state #> ");
    sql.push_bind(path.to_vec());
    sql.push(" END)");
}

fn push_condition(sql: &mut QueryBuilder<Postgres>, c: &Condition) {
    if c.target == Target::Identifier && push_identifier(sql, c) {
        return;
    }
    match c.op {
        Op::Null => {
            let wants_null = c.value.as_bool().unwrap_or(true);
            sql.push("coalesce(jsonb_typeof");
            push_value(sql, c.target, &c.path);
            sql.push(if wants_null {
                " = 'null', true)"
            } else {
                " <> 'null', false)"
            });
        }
        Op::Eq => push_equal(sql, c, &c.value),
        // `eq` is never NULL, so its negation keeps the null and absent rows.
        Op::Ne => {
            sql.push("NOT ");
            push_equal(sql, c, &c.value);
        }
        Op::Lt => push_order(sql, c, "<", &c.value),
        Op::Lte => push_order(sql, c, "<=", &c.value),
        Op::Gt => push_order(sql, c, ">", &c.value),
        Op::Gte => push_order(sql, c, ">=", &c.value),
        Op::In => {
            let options = c.value.as_array().map(Vec::as_slice).unwrap_or_default();
            if options.is_empty() {
                sql.push("false");
                return;
            }
            sql.push("(");
            for (i, option) in options.iter().enumerate() {
                if i > 0 {
                    sql.push(" OR ");
                }
                push_equal(sql, c, option);
            }
            sql.push(")");
        }
        Op::Between => match c.value.as_array().map(Vec::as_slice) {
            Some([lo, hi]) => {
                sql.push("(");
                push_order(sql, c, ">=", lo);
                sql.push(" AND ");
                push_order(sql, c, "<=", hi);
                sql.push(")");
            }
            _ => {
                sql.push("false");
            }
        },
        Op::Has => push_has(sql, c),
        Op::Ov => push_overlap(sql, c),
        other => {
            tracing::error!(op = ?other, "filter operator without a SQL translation");
            sql.push("false");
        }
    }
}

/// `values_equal(kind, V, value)`, never NULL.
fn push_equal(sql: &mut QueryBuilder<Postgres>, c: &Condition, value: &Value) {
    sql.push("coalesce(jsonb_typeof");
    push_value(sql, c.target, &c.path);
    sql.push(" <> 'null' AND (");
    push_value(sql, c.target, &c.path);
    sql.push(" = ");
    sql.push_bind(value.clone());
    if let (FieldKind::DateTime, Value::String(text)) = (c.kind, value) {
        // Equal instants match whatever their spelling (`Z` or `+00:00`, trailing zeros).
        sql.push(" OR fluvius.instant(");
        push_text(sql, c.target, &c.path);
        sql.push(") = fluvius.instant(");
        sql.push_bind(text.clone());
        sql.push(")");
    }
    sql.push("), false)");
}

/// `values_order(kind, V, value)` is `op`, never NULL.
fn push_order(sql: &mut QueryBuilder<Postgres>, c: &Condition, op: &str, value: &Value) {
    match value {
        Value::Number(_) => {
            sql.push("coalesce(jsonb_typeof");
            push_value(sql, c.target, &c.path);
            sql.push(" = 'number' AND ");
            push_value(sql, c.target, &c.path);
            sql.push(format_args!(" {op} "));
            sql.push_bind(value.clone());
            sql.push(", false)");
        }
        Value::String(text) if c.kind == FieldKind::DateTime => {
            sql.push("coalesce(fluvius.instant(");
            push_text(sql, c.target, &c.path);
            sql.push(format_args!(") {op} fluvius.instant("));
            sql.push_bind(text.clone());
            sql.push("), false)");
        }
        Value::String(text) => {
            sql.push("coalesce(");
            push_text(sql, c.target, &c.path);
            sql.push(format_args!(" COLLATE \"C\" {op} "));
            sql.push_bind(text.clone());
            sql.push(", false)");
        }
        _ => {
            sql.push("false");
        }
    }
}

/// The text of `V` when it is a JSON string, NULL otherwise.
pub(crate) fn push_text(sql: &mut QueryBuilder<Postgres>, target: Target, path: &[String]) {
    if target == Target::Identifier {
        sql.push("identifier");
        return;
    }
    sql.push("(CASE WHEN jsonb_typeof");
    push_value(sql, target, path);
    sql.push(" = 'string' THEN ");
    push_value(sql, target, path);
    sql.push(" #>> '{}' END)");
}

/// `has`: a substring of a string ignoring case, or an element of an array.
fn push_has(sql: &mut QueryBuilder<Postgres>, c: &Condition) {
    sql.push("coalesce(CASE jsonb_typeof");
    push_value(sql, c.target, &c.path);
    sql.push(" WHEN 'string' THEN ");
    match &c.value {
        Value::String(needle) => {
            sql.push("strpos(fluvius.fold_case(");
            push_value(sql, c.target, &c.path);
            sql.push(" #>> '{}'), fluvius.fold_case(");
            sql.push_bind(needle.clone());
            sql.push(")) > 0");
        }
        _ => {
            sql.push("false");
        }
    }
    sql.push(" WHEN 'array' THEN ");
    if matches!(c.value, Value::Array(_) | Value::Object(_)) {
        // `@>` would also accept a containing element; the evaluator wants an equal one.
        sql.push("EXISTS (SELECT 1 FROM jsonb_array_elements");
        push_value(sql, c.target, &c.path);
        sql.push(" AS element(v) WHERE element.v = ");
        sql.push_bind(c.value.clone());
        sql.push(")");
    } else {
        push_value(sql, c.target, &c.path);
        sql.push(" @> jsonb_build_array(");
        sql.push_bind(c.value.clone());
        sql.push(")");
    }
    sql.push(" ELSE false END, false)");
}

/// `ov`: an array sharing an element with the given array, elements compared as `eq` does.
fn push_overlap(sql: &mut QueryBuilder<Postgres>, c: &Condition) {
    sql.push("coalesce(CASE WHEN jsonb_typeof");
    push_value(sql, c.target, &c.path);
    sql.push(" = 'array' THEN EXISTS (SELECT 1 FROM jsonb_array_elements");
    push_value(sql, c.target, &c.path);
    sql.push(" AS have(v) JOIN jsonb_array_elements(");
    sql.push_bind(c.value.clone());
    sql.push(") AS wanted(v) ON have.v = wanted.v) ELSE false END, false)");
}

/// Comparisons of the identifier as comparisons of the `identifier` column (`NOT NULL`,
/// `COLLATE "C"`), so the primary key serves `id.eq`, `id.in` and ranges. Returns false for the
/// operators left to the general `jsonb` translation (`has`, `null`).
fn push_identifier(sql: &mut QueryBuilder<Postgres>, c: &Condition) -> bool {
    let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    let compare = |sql: &mut QueryBuilder<Postgres>, op: &str, value: &Value| {
        sql.push(format_args!("(identifier {op} "));
        sql.push_bind(text(value));
        sql.push(")");
    };
    match c.op {
        Op::Eq => compare(sql, "=", &c.value),
        Op::Ne => compare(sql, "<>", &c.value),
        Op::Lt => compare(sql, "<", &c.value),
        Op::Lte => compare(sql, "<=", &c.value),
        Op::Gt => compare(sql, ">", &c.value),
        Op::Gte => compare(sql, ">=", &c.value),
        Op::In => {
            let options: Vec<String> = c
                .value
                .as_array()
                .map(|options| options.iter().map(text).collect())
                .unwrap_or_default();
            sql.push("(identifier = ANY(");
            sql.push_bind(options);
            sql.push("))");
        }
        Op::Between => match c.value.as_array().map(Vec::as_slice) {
            Some([lo, hi]) => {
                sql.push("(identifier BETWEEN ");
                sql.push_bind(text(lo));
                sql.push(" AND ");
                sql.push_bind(text(hi));
                sql.push(")");
            }
            _ => {
                sql.push("false");
            }
        },
        _ => return false,
    }
    true
}
