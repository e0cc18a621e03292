//! The Cedar schema generated from the domains: per namespace, an entity type per resource
//! whose attributes come from the state's JSON schema, `User` and `Role` principals, an action
//! per command key, the query actions, and the action groups `read` and `write`.

use std::collections::BTreeMap;

use fluvius_core::PolicyModel;
use fluvius_core::policy::QUERY_ACTIONS;
use serde_json::{Map, Value, json};

use crate::CedarError;

/// The action group of every query action.
pub const READ_GROUP: &str = "read";
/// The action group of every command.
pub const WRITE_GROUP: &str = "write";

/// The Cedar type of a state attribute, as far as Cedar can hold it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AttrType {
    Long,
    String,
    Bool,
    Set(Box<AttrType>),
    Record(BTreeMap<String, Attr>),
}

/// An attribute: its type and whether every state has it (non-null).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Attr {
    pub(crate) ty: AttrType,
    pub(crate) required: bool,
}

/// What the engine knows about one namespace: its resources' attributes and its actions.
#[derive(Debug, Clone)]
pub(crate) struct NamespaceModel {
    pub(crate) model: PolicyModel,
    /// Per resource, the attributes of its entity type.
    pub(crate) resources: BTreeMap<String, BTreeMap<String, Attr>>,
}

impl NamespaceModel {
    pub(crate) fn new(model: &PolicyModel) -> Result<Self, CedarError> {
        if !is_identifier(&model.namespace) {
            return Err(CedarError::Schema(format!(
                "namespace `{}` is not a Cedar identifier (letters, digits and `_`, not starting with a digit)",
                model.namespace
            )));
        }
        let mut resources = BTreeMap::new();
        for resource in &model.resources {
            if !is_identifier(&resource.name)
                || matches!(resource.name.as_str(), "User" | "Role" | "Action")
            {
                return Err(CedarError::Schema(format!(
                    "resource `{}` of `{}` cannot be a Cedar entity type name",
                    resource.name, model.namespace
                )));
            }
            let defs = resource.schema.get("$defs").cloned().unwrap_or(Value::Null);
            let attrs = match record(&resource.schema, &defs, 0) {
                Some(AttrType::Record(attrs)) => attrs,
                _ => BTreeMap::new(),
            };
            resources.insert(resource.name.clone(), attrs);
        }
        for command in &model.commands {
            let key = command.key.as_str();
            if QUERY_ACTIONS.contains(&key) || key == READ_GROUP || key == WRITE_GROUP {
                return Err(CedarError::Schema(format!(
                    "command `{key}` of `{}` has the name of a query action or action group",
                    model.namespace
                )));
            }
        }
        Ok(NamespaceModel {
            model: model.clone(),
            resources,
        })
    }

    /// This namespace's part of the Cedar JSON schema.
    pub(crate) fn schema_json(&self) -> Value {
        let mut entity_types = Map::new();
        entity_types.insert(
            "User".into(),
            json!({
                "memberOfTypes": ["Role"],
                "shape": {"type": "Record", "attributes": {
                    "id": {"type": "String"},
                    "roles": {"type": "Set", "element": {"type": "String"}},
                    "tenant": {"type": "String"},
                }}
            }),
        );
        entity_types.insert("Role".into(), json!({}));
        for (name, attrs) in &self.resources {
            entity_types.insert(
                name.clone(),
                json!({"shape": type_json(&AttrType::Record(attrs.clone()))}),
            );
        }
        let context = json!({"type": "Record", "attributes": {
            "tenant": {"type": "String"},
            "exists": {"type": "Boolean"},
        }});
        let all: Vec<&String> = self.resources.keys().collect();
        let mut actions = Map::new();
        actions.insert(READ_GROUP.into(), json!({}));
        actions.insert(WRITE_GROUP.into(), json!({}));
        for query in QUERY_ACTIONS {
            actions.insert(
                query.into(),
                json!({
                    "memberOf": [{"id": READ_GROUP}],
                    "appliesTo": {"principalTypes": ["User"], "resourceTypes": all, "context": context},
                }),
            );
        }
        for command in &self.model.commands {
            actions.insert(
                command.key.clone(),
                json!({
                    "memberOf": [{"id": WRITE_GROUP}],
                    "appliesTo": {
                        "principalTypes": ["User"],
                        "resourceTypes": command.resources,
                        "context": context,
                    },
                }),
            );
        }
        json!({"entityTypes": entity_types, "actions": actions})
    }
}

fn type_json(ty: &AttrType) -> Value {
    match ty {
        AttrType::Long => json!({"type": "Long"}),
        AttrType::String => json!({"type": "String"}),
        AttrType::Bool => json!({"type": "Boolean"}),
        AttrType::Set(element) => json!({"type": "Set", "element": type_json(element)}),
        AttrType::Record(attrs) => {
            let attributes: Map<String, Value> = attrs
                .iter()
                .map(|(name, attr)| {
                    let mut ty = type_json(&attr.ty);
                    if !attr.required {
                        ty["required"] = json!(false);
                    }
                    (name.clone(), ty)
                })
                .collect();
            json!({"type": "Record", "attributes": attributes})
        }
    }
}

/// The deepest nesting of records followed; deeper state stays out of the schema.
const MAX_DEPTH: usize = 8;

/// The Cedar type of a JSON schema and whether it admits null. `None` for what Cedar cannot
/// hold exactly (floats, maps, mixed types): such attributes are left out of the schema, so a
/// policy naming one is an unknown-attribute error at startup.
fn attr_type(schema: &Value, defs: &Value, depth: usize) -> Option<(AttrType, bool)> {
    let schema = resolve(schema, defs)?;
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(variants)) = schema.get(key) {
            let non_null: Vec<&Value> = variants
                .iter()
                .filter(|v| resolve(v, defs).and_then(|v| v.get("type")) != Some(&json!("null")))
                .collect();
            let nullable = non_null.len() < variants.len();
            let [only] = non_null.as_slice() else {
                return None;
            };
            let (ty, inner_nullable) = attr_type(only, defs, depth)?;
            return Some((ty, nullable || inner_nullable));
        }
    }
    let (name, nullable) = match schema.get("type")? {
        Value::String(name) => (name.as_str(), false),
        Value::Array(names) => {
            let names: Vec<&str> = names.iter().filter_map(Value::as_str).collect();
            match names.as_slice() {
                [name, "null"] | ["null", name] => (*name, true),
                [name] => (*name, false),
                _ => return None,
            }
        }
        _ => return None,
    };
    let ty = match name {
        "integer" => AttrType::Long,
        "string" => AttrType::String,
        "boolean" => AttrType::Bool,
        "array" => {
            let (element, element_nullable) = attr_type(schema.get("items")?, defs, depth)?;
            if element_nullable || matches!(element, AttrType::Record(_)) {
                return None;
            }
            AttrType::Set(Box::new(element))
        }
        "object" => record(schema, defs, depth)?,
        _ => return None,
    };
    Some((ty, nullable))
}

fn record(schema: &Value, defs: &Value, depth: usize) -> Option<AttrType> {
    if depth > MAX_DEPTH {
        return None;
    }
    let schema = resolve(schema, defs)?;
    let properties = schema.get("properties")?.as_object()?;
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut attrs = BTreeMap::new();
    for (name, property) in properties {
        if let Some((ty, nullable)) = attr_type(property, defs, depth + 1) {
            let required = required.contains(&name.as_str()) && !nullable;
            attrs.insert(name.clone(), Attr { ty, required });
        }
    }
    Some(AttrType::Record(attrs))
}

/// Follows a local `$ref` into `$defs`.
fn resolve<'a>(schema: &'a Value, defs: &'a Value) -> Option<&'a Value> {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => defs.get(reference.strip_prefix("#/$defs/")?),
        None => Some(schema),
    }
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
