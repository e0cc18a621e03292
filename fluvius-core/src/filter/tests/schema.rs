//! Tests of `FieldIndex::from_schema` over `schemars`-shaped schemas.

use serde_json::json;

use super::fields;
use crate::filter::{FieldIndex, FieldKind};

#[test]
fn scalar_kinds_come_from_type_and_format() {
    let f = fields();
    assert_eq!(f.kind("owner"), Some(FieldKind::String));
    assert_eq!(f.kind("balance"), Some(FieldKind::Integer));
    assert_eq!(f.kind("rate"), Some(FieldKind::Number));
    assert_eq!(f.kind("active"), Some(FieldKind::Boolean));
    assert_eq!(f.kind("opened_at"), Some(FieldKind::DateTime));
    assert_eq!(f.kind("tags"), Some(FieldKind::Array));
    assert_eq!(f.kind("labels"), Some(FieldKind::Object));
    assert_eq!(f.kind("extra"), Some(FieldKind::Any));
}

#[test]
fn nullable_type_arrays_drop_null() {
    let f = fields();
    assert_eq!(f.kind("nickname"), Some(FieldKind::String));
    assert_eq!(f.kind("overdraft"), Some(FieldKind::Integer));
    assert_eq!(f.kind("closed_at"), Some(FieldKind::DateTime));
}

#[test]
fn refs_are_followed_into_nested_paths() {
    let f = fields();
    assert_eq!(f.kind("address"), Some(FieldKind::Object));
    assert_eq!(f.kind("address.city"), Some(FieldKind::String));
    assert_eq!(f.kind("address.zip"), Some(FieldKind::String));
    assert_eq!(f.kind("address.geo"), Some(FieldKind::Object));
    assert_eq!(f.kind("address.geo.lat"), Some(FieldKind::Number));
    assert_eq!(f.path("address.geo.lat").map(<[String]>::len), Some(3));
    assert_eq!(f.kind("labels.team"), None, "maps have no fixed sub-fields");
}

#[test]
fn optional_struct_any_of_with_null_is_unwrapped() {
    let f = fields();
    assert_eq!(f.kind("billing"), Some(FieldKind::Object));
    assert_eq!(f.kind("billing.city"), Some(FieldKind::String));
    assert_eq!(f.kind("billing.geo.lon"), Some(FieldKind::Number));
}

#[test]
fn one_of_string_constants_is_a_string() {
    assert_eq!(fields().kind("status"), Some(FieldKind::String));
}

#[test]
fn recursive_refs_stop_after_one_expansion() {
    let f = fields();
    assert_eq!(f.kind("parent"), Some(FieldKind::Object));
    assert_eq!(f.kind("parent.name"), Some(FieldKind::String));
    assert_eq!(f.kind("parent.child"), Some(FieldKind::Object));
    assert_eq!(f.kind("parent.child.name"), None);
}

#[test]
fn self_referencing_root_terminates() {
    let schema = json!({
        "$ref": "#/$defs/Tree",
        "$defs": { "Tree": { "type": "object", "properties": {
            "value": { "type": "integer" },
            "next": { "$ref": "#/$defs/Tree" },
            "loop": { "$ref": "#/$defs/Loop" }
        } }, "Loop": { "$ref": "#/$defs/Loop" } }
    });
    let f = FieldIndex::from_schema(&schema);
    assert_eq!(f.kind("value"), Some(FieldKind::Integer));
    assert_eq!(f.kind("next"), Some(FieldKind::Object));
    assert_eq!(f.kind("next.value"), None);
    assert_eq!(f.kind("loop"), Some(FieldKind::Object));
}

#[test]
fn unusable_parts_become_any() {
    let schema = json!({ "type": "object", "properties": {
        "mixed": { "anyOf": [{ "type": "string" }, { "type": "integer" }] },
        "numeric": { "type": ["integer", "number", "null"] },
        "dangling": { "$ref": "#/$defs/Missing" },
        "empty": {},
        "untyped_enum": { "enum": ["a", "b", null] },
        "listed": { "items": { "type": "string" } },
        "inline": { "properties": { "x": { "type": "boolean" } } }
    } });
    let f = FieldIndex::from_schema(&schema);
    assert_eq!(f.kind("mixed"), Some(FieldKind::Any));
    assert_eq!(f.kind("numeric"), Some(FieldKind::Number));
    assert_eq!(f.kind("dangling"), Some(FieldKind::Any));
    assert_eq!(f.kind("empty"), Some(FieldKind::Any));
    assert_eq!(f.kind("untyped_enum"), Some(FieldKind::String));
    assert_eq!(f.kind("listed"), Some(FieldKind::Array));
    assert_eq!(f.kind("inline.x"), Some(FieldKind::Boolean));
}

#[test]
fn non_object_schemas_give_an_empty_index() {
    assert!(FieldIndex::from_schema(&json!(true)).is_empty());
    assert!(FieldIndex::from_schema(&json!({ "type": "string" })).is_empty());
    assert!(FieldIndex::from_schema(&json!([1, 2])).is_empty());
}

#[test]
fn fields_lists_every_path_in_order() {
    let f = fields();
    let names: Vec<&str> = f.fields().map(|(name, _)| name).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted);
    assert!(names.contains(&"billing.geo.lat"));
    assert_eq!(names.len(), f.len());
}

#[test]
fn hand_built_index_splits_paths() {
    let mut f = FieldIndex::new();
    f.insert("a.b", FieldKind::Integer);
    assert_eq!(f.kind("a.b"), Some(FieldKind::Integer));
    assert_eq!(f.path("a.b"), Some(&["a".to_owned(), "b".to_owned()][..]));
    assert!(f.contains("a.b") && !f.contains("a"));
}
