//! Unit tests of the filter module, over a schema shaped like `schemars` 1 output.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod composition;
mod errors;
mod matching;
mod negation;
mod operators;
mod page;
mod schema;
mod sort;

use serde_json::{Value, json};

use super::{FieldIndex, Filter};

/// The JSON Schema `schemars` 1 would emit for a bank-account-like state.
pub(super) fn account_schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Account",
        "type": "object",
        "properties": {
            "owner": { "type": "string" },
            "nickname": { "type": ["string", "null"] },
            "balance": { "type": "integer", "format": "int64" },
            "overdraft": { "type": ["integer", "null"], "format": "int64" },
            "rate": { "type": "number", "format": "double" },
            "active": { "type": "boolean" },
            "opened_at": { "type": "string", "format": "date-time" },
            "closed_at": { "type": ["string", "null"], "format": "date-time" },
            "tags": { "type": "array", "items": { "type": "string" } },
            "labels": { "type": "object", "additionalProperties": { "type": "string" } },
            "address": { "$ref": "#/$defs/Address" },
            "billing": { "anyOf": [{ "$ref": "#/$defs/Address" }, { "type": "null" }] },
            "status": { "$ref": "#/$defs/Status" },
            "parent": { "anyOf": [{ "$ref": "#/$defs/Node" }, { "type": "null" }] },
            "extra": true
        },
        "required": ["owner", "balance", "rate", "active", "opened_at", "tags", "labels", "address", "status"],
        "$defs": {
            "Address": {
                "type": "object",
                "properties": {
                    "city": { "type": "string" },
                    "zip": { "type": ["string", "null"] },
                    "geo": { "$ref": "#/$defs/Geo" }
                },
                "required": ["city", "geo"]
            },
            "Geo": {
                "type": "object",
                "properties": {
                    "lat": { "type": "number", "format": "double" },
                    "lon": { "type": "number", "format": "double" }
                },
                "required": ["lat", "lon"]
            },
            "Status": {
                "oneOf": [
                    { "type": "string", "const": "open", "description": "Accepting operations." },
                    { "type": "string", "const": "frozen" },
                    { "type": "string", "const": "closed" }
                ]
            },
            "Node": {
                "type": "object",
                "properties": {
                    "name": { "type": "string" },
                    "child": { "anyOf": [{ "$ref": "#/$defs/Node" }, { "type": "null" }] }
                },
                "required": ["name"]
            }
        }
    })
}

/// The field index of [`account_schema`].
pub(super) fn fields() -> FieldIndex {
    FieldIndex::from_schema(&account_schema())
}

/// Parses a filter that is expected to be valid.
pub(super) fn parse(filter: Value) -> Filter {
    Filter::parse(&filter, &fields()).unwrap_or_else(|e| panic!("{filter} should parse: {e}"))
}

/// The message of the error a filter that is expected to be invalid gives.
pub(super) fn error(filter: Value) -> String {
    match Filter::parse(&filter, &fields()) {
        Ok(parsed) => panic!("{filter} should not parse, got {parsed:?}"),
        Err(e) => e.to_string(),
    }
}

/// Whether the filter matches the document.
pub(super) fn hits(filter: Value, doc: &Value) -> bool {
    parse(filter).matches("r-1", doc)
}

/// A document with every field present and non-null.
pub(super) fn full() -> Value {
    json!({
        "owner": "Ada Lovelace",
        "nickname": "Countess",
        "balance": 100,
        "overdraft": 50,
        "rate": 1.5,
        "active": true,
        "opened_at": "2024-01-01T00:00:00Z",
        "closed_at": "2024-06-30T12:00:00+02:00",
        "tags": ["vip", "gold", 7],
        "labels": { "team": "blue" },
        "address": { "city": "London", "zip": "NW1", "geo": { "lat": 51.5, "lon": -0.1 } },
        "billing": { "city": "Paris", "zip": null, "geo": { "lat": 48.9, "lon": 2.3 } },
        "status": "open",
        "parent": { "name": "root", "child": { "name": "leaf" } },
        "extra": 3
    })
}

/// A document where every optional field is an explicit null.
pub(super) fn nulls() -> Value {
    json!({
        "owner": null, "nickname": null, "balance": null, "overdraft": null, "rate": null,
        "active": null, "opened_at": null, "closed_at": null, "tags": null, "labels": null,
        "address": null, "billing": null, "status": null, "parent": null, "extra": null
    })
}

/// A document where every field is absent.
pub(super) fn absent() -> Value {
    json!({})
}
