//! Builds a [`FieldIndex`] by walking a JSON Schema (draft 2020-12, as `schemars` 1 emits it).

use serde_json::{Map, Value};

use super::fields::{FieldIndex, FieldKind};

/// Deepest dotted path indexed (segments), a guard against huge schemas.
const MAX_PATH_DEPTH: usize = 16;
/// Most schema hops (`$ref`, `anyOf`, …) followed to classify one field.
const MAX_HOPS: usize = 32;
/// Most fields indexed for one schema.
const MAX_FIELDS: usize = 10_000;

impl FieldIndex {
    /// Builds the index of a state type from its JSON Schema.
    ///
    /// Follows `$ref` pointers into the root's `$defs`, unwraps `anyOf` /
    /// `oneOf` alternatives that only add `null` (how `Option<T>` appears),
    /// reads `type` as a string or an array, and descends into nested object
    /// properties to index paths such as `address.city`. A `$ref` that points
    /// back to a type being expanded is indexed as an object and not entered
    /// again. Parts that say nothing usable are indexed as [`FieldKind::Any`].
    pub fn from_schema(schema: &Value) -> FieldIndex {
        let mut walker = Walker {
            root: schema,
            index: FieldIndex::new(),
        };
        let mut refs = Vec::new();
        let (_, properties) = walker.resolve(schema, &mut refs, 0);
        if let Some(properties) = properties {
            walker.walk(properties, &mut Vec::new(), &mut refs);
        }
        walker.index
    }
}

/// What one schema node amounts to: a kind, plus properties when it is a struct.
type Resolved<'a> = (FieldKind, Option<&'a Map<String, Value>>);

/// Walks one schema, collecting fields.
struct Walker<'a> {
    root: &'a Value,
    index: FieldIndex,
}

impl<'a> Walker<'a> {
    /// Indexes every property, descending into nested structs.
    ///
    /// `refs` holds the `$ref`s being expanded on the way from the root, so
    /// that a recursive type stops instead of looping.
    fn walk(
        &mut self,
        properties: &'a Map<String, Value>,
        path: &mut Vec<String>,
        refs: &mut Vec<&'a str>,
    ) {
        for (name, schema) in properties {
            if self.index.len() >= MAX_FIELDS {
                return;
            }
            let mark = refs.len();
            let (kind, nested) = self.resolve(schema, refs, 0);
            path.push(name.clone());
            self.index.insert_path(path.clone(), kind);
            if let Some(nested) = nested
                && path.len() < MAX_PATH_DEPTH
            {
                self.walk(nested, path, refs);
            }
            path.pop();
            refs.truncate(mark);
        }
    }

    /// Classifies one schema node, following references and nullable unions.
    fn resolve(&self, schema: &'a Value, refs: &mut Vec<&'a str>, hops: usize) -> Resolved<'a> {
        let Value::Object(node) = schema else {
            return (FieldKind::Any, None);
        };
        if hops >= MAX_HOPS {
            return (FieldKind::Any, None);
        }
        if let Some(reference) = node.get("$ref").and_then(Value::as_str) {
            if refs.contains(&reference) {
                // A type that contains itself: known to be a struct, not expanded again.
                return (FieldKind::Object, None);
            }
            let target = reference
                .strip_prefix('#')
                .and_then(|pointer| self.root.pointer(pointer));
            return match target {
                Some(target) => {
                    refs.push(reference);
                    self.resolve(target, refs, hops + 1)
                }
                None => (FieldKind::Any, None),
            };
        }
        for union in ["anyOf", "oneOf"] {
            if let Some(Value::Array(options)) = node.get(union) {
                return self.resolve_union(options, refs, hops);
            }
        }
        if let Some(Value::Array(parts)) = node.get("allOf")
            && let [single] = parts.as_slice()
        {
            return self.resolve(single, refs, hops + 1);
        }
        match node.get("type") {
            Some(Value::String(name)) => classify_type(name, node),
            Some(Value::Array(names)) => {
                let names: Vec<&str> = names
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|name| *name != "null")
                    .collect();
                match names.as_slice() {
                    [single] => classify_type(single, node),
                    _ if !names.is_empty()
                        && names.iter().all(|n| *n == "integer" || *n == "number") =>
                    {
                        (FieldKind::Number, None)
                    }
                    _ => (FieldKind::Any, None),
                }
            }
            _ => classify_untyped(node),
        }
    }

    /// Classifies `anyOf` / `oneOf`: `null` alternatives are dropped; one
    /// remaining alternative is used as is; several agree on a kind or give `Any`.
    fn resolve_union(
        &self,
        options: &'a [Value],
        refs: &mut Vec<&'a str>,
        hops: usize,
    ) -> Resolved<'a> {
        let options: Vec<&'a Value> = options.iter().filter(|o| !is_null_schema(o)).collect();
        if let [single] = options.as_slice() {
            return self.resolve(single, refs, hops + 1);
        }
        let mut kinds = options.iter().map(|option| {
            let mut scratch = refs.clone();
            self.resolve(option, &mut scratch, hops + 1).0
        });
        let Some(first) = kinds.next() else {
            return (FieldKind::Any, None);
        };
        let merged = kinds.try_fold(first, |acc, kind| match (acc, kind) {
            (a, b) if a == b => Some(a),
            (FieldKind::Integer | FieldKind::Number, FieldKind::Integer | FieldKind::Number) => {
                Some(FieldKind::Number)
            }
            _ => None,
        });
        (merged.unwrap_or(FieldKind::Any), None)
    }
}

/// Whether a union alternative only admits `null`.
fn is_null_schema(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("null")
        || schema.get("const").is_some_and(Value::is_null)
}

/// Maps a JSON Schema `type` name to a kind.
fn classify_type<'a>(name: &str, node: &'a Map<String, Value>) -> Resolved<'a> {
    let kind = match name {
        "string" if node.get("format").and_then(Value::as_str) == Some("date-time") => {
            FieldKind::DateTime
        }
        "string" => FieldKind::String,
        "integer" => FieldKind::Integer,
        "number" => FieldKind::Number,
        "boolean" => FieldKind::Boolean,
        "array" => FieldKind::Array,
        "object" => {
            return (
                FieldKind::Object,
                node.get("properties").and_then(Value::as_object),
            );
        }
        _ => FieldKind::Any,
    };
    (kind, None)
}

/// Classifies a node without `type` from `properties`, `items`, `const` or `enum`.
fn classify_untyped(node: &Map<String, Value>) -> Resolved<'_> {
    if let Some(properties) = node.get("properties").and_then(Value::as_object) {
        return (FieldKind::Object, Some(properties));
    }
    if node.contains_key("items") || node.contains_key("prefixItems") {
        return (FieldKind::Array, None);
    }
    let values: Vec<&Value> = match (node.get("const"), node.get("enum")) {
        (Some(value), _) => vec![value],
        (None, Some(Value::Array(values))) => values.iter().collect(),
        _ => return (FieldKind::Any, None),
    };
    let mut kinds = values
        .iter()
        .filter(|v| !v.is_null())
        .map(|v| kind_of_value(v));
    let Some(first) = kinds.next() else {
        return (FieldKind::Any, None);
    };
    let same = kinds.all(|kind| kind == first);
    (if same { first } else { FieldKind::Any }, None)
}

/// The kind a literal JSON value (from `const` or `enum`) belongs to.
fn kind_of_value(value: &Value) -> FieldKind {
    match value {
        Value::Bool(_) => FieldKind::Boolean,
        Value::Number(n) if n.is_f64() => FieldKind::Number,
        Value::Number(_) => FieldKind::Integer,
        Value::String(_) => FieldKind::String,
        Value::Array(_) => FieldKind::Array,
        Value::Object(_) => FieldKind::Object,
        Value::Null => FieldKind::Any,
    }
}
