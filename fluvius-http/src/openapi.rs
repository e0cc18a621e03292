//! `GET /openapi.json`: an OpenAPI 3.1 document emitted from the same action metadata and the
//! same schemars schemas the router and the payload decoding use, so the document cannot
//! drift from what is served.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use fluvius_core::ActionDescriptor;
use serde_json::{Map, Value, json};

use crate::api::{HttpApi, Served, Shared};
use crate::auth::Auth;
use crate::meta::{command_paths, description};

pub(crate) async fn serve(State(api): State<HttpApi>) -> Response {
    axum::Json(api.shared.openapi.clone()).into_response()
}

/// Every operation of the API as (method, path template), sorted.
pub(crate) fn operations(shared: &Shared) -> Vec<(&'static str, String)> {
    let mut ops = Vec::new();
    for doc in paths(shared, &mut Components::default()) {
        ops.push((doc.method, doc.path));
    }
    ops.sort();
    ops
}

struct Operation {
    method: &'static str,
    path: String,
    body: Value,
}

/// The schemas the document refers to, keyed by component name.
#[derive(Default)]
struct Components {
    schemas: BTreeMap<String, Value>,
}

impl Components {
    /// Moves a schemars schema into `components/schemas` under `name` (its `$defs` under
    /// `<prefix>.<def>`), rewriting its references, and returns a reference to it.
    fn import(&mut self, prefix: &str, name: &str, mut schema: Value) -> Value {
        let mut renames = BTreeMap::new();
        let defs = schema.as_object_mut().and_then(|o| {
            o.remove("$schema");
            o.remove("$defs")
        });
        let mut defs: Vec<(String, Value)> = match defs {
            Some(Value::Object(defs)) => defs.into_iter().collect(),
            _ => Vec::new(),
        };
        for (def, value) in &defs {
            let base = component_name(&format!("{prefix}.{def}"));
            let mut chosen = base.clone();
            let mut n = 2;
            while self.schemas.get(&chosen).is_some_and(|v| v != value) {
                chosen = format!("{base}_{n}");
                n += 1;
            }
            renames.insert(
                format!("#/$defs/{def}"),
                format!("#/components/schemas/{chosen}"),
            );
        }
        for (def, value) in &mut defs {
            rewrite_refs(value, &renames);
            let target = renames[&format!("#/$defs/{def}")]
                .trim_start_matches("#/components/schemas/")
                .to_owned();
            self.schemas.insert(target, value.clone());
        }
        rewrite_refs(&mut schema, &renames);
        let name = component_name(name);
        self.schemas.insert(name.clone(), schema);
        json!({ "$ref": format!("#/components/schemas/{name}") })
    }
}

fn component_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn rewrite_refs(value: &mut Value, renames: &BTreeMap<String, String>) {
    match value {
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                if key == "$ref"
                    && let Value::String(target) = item
                    && let Some(new) = renames.get(target.as_str())
                {
                    *target = new.clone();
                } else {
                    rewrite_refs(item, renames);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| rewrite_refs(i, renames)),
        _ => {}
    }
}

fn header(name: &str, text: &str) -> Value {
    json!({"name": name, "in": "header", "required": false, "description": text,
           "schema": {"type": "string"}})
}

fn path_param(name: &str, text: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "description": text,
           "schema": {"type": "string", "minLength": 1}})
}

fn query_param(name: &str, text: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": text, "schema": schema})
}

fn problem_responses(success: (&str, &str, Value)) -> Value {
    let (status, text, schema) = success;
    let mut responses = Map::new();
    responses.insert(
        status.to_owned(),
        json!({"description": text, "content": {"application/json": {"schema": schema}}}),
    );
    responses.insert(
        "default".to_owned(),
        json!({"description": "An error, as RFC 9457 problem details with a stable `code`",
               "content": {"application/problem+json": {
                   "schema": {"$ref": "#/components/schemas/Problem"}}}}),
    );
    Value::Object(responses)
}

fn common_headers() -> Vec<Value> {
    vec![
        header(
            "X-Request-Id",
            "An id for this request, echoed in the answer (generated if absent)",
        ),
        header(
            "X-Correlation-Id",
            "A UUID tying the commands of one business operation together",
        ),
        header(
            "X-Causation-Id",
            "The UUID of the event or command that caused this request",
        ),
    ]
}

/// The common headers and the query parameters of a list route: `query` (described by
/// `filter`), `sort`, `limit`, `offset` and `page` (the last three described with `paging`
/// after them).
fn list_parameters(filter: &str, paging: &str) -> Vec<Value> {
    let mut parameters = common_headers();
    parameters.extend([
        query_param("query", filter, json!({"type": "string"})),
        query_param(
            "sort",
            "Sort keys, comma separated: `field`, `field.asc`, `field.desc`",
            json!({"type": "string"}),
        ),
        query_param(
            "limit",
            &format!("Page size (default 50, at most 1000){paging}"),
            json!({"type": "integer", "minimum": 1}),
        ),
        query_param(
            "offset",
            &format!("Matches to skip{paging}"),
            json!({"type": "integer", "minimum": 0}),
        ),
        query_param(
            "page",
            &format!("1-based page number, instead of `offset`{paging}"),
            json!({"type": "integer", "minimum": 1}),
        ),
    ]);
    parameters
}

fn command_operation(
    served: &Served,
    action: &ActionDescriptor,
    resource: &str,
    path: &str,
    payload: &Value,
    state: &Value,
) -> Value {
    let ns = served.domain.namespace();
    let new = path.ends_with("/:new");
    let mut parameters = common_headers();
    if new {
        parameters.push(query_param(
            "identifier",
            "The identifier of the new root (generated when absent)",
            json!({"type": "string", "minLength": 1}),
        ));
    } else {
        parameters.push(path_param("identifier", "The identifier of the root"));
    }
    if !action.creates {
        let mut if_match = header(
            "If-Match",
            "The version the command expects, as an entity tag (`\"3\"`); 412 on mismatch",
        );
        if served.options.require_if_match {
            if_match["required"] = json!(true);
        }
        parameters.push(if_match);
    }
    parameters.push(header(
        "Idempotency-Key",
        "Makes the command idempotent: a repeat returns the first answer",
    ));
    let (status, text) = if action.creates {
        ("201", "The root was created")
    } else {
        ("200", "The command was applied")
    };
    let response = json!({
        "type": "object",
        "required": ["command_id", "root", "events", "version", "cursor", "state"],
        "properties": {
            "command_id": {"type": "string", "format": "uuid"},
            "root": {"$ref": "#/components/schemas/AggRoot"},
            "events": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}},
            "version": {"type": "integer", "minimum": 0},
            "cursor": {"type": "string", "description": "The read-your-writes token of the commit"},
            "state": state,
        }
    });
    let suffix = if new { ":new" } else { "" };
    json!({
        "operationId": format!("{ns}:{}:{resource}{suffix}", action.key),
        "summary": format!("{} ({resource})", action.key),
        "description": description(action.doc),
        "tags": [ns],
        "parameters": parameters,
        "requestBody": {"required": false, "content": {"application/json": {"schema": payload}}},
        "responses": problem_responses((status, text, response)),
    })
}

fn paths(shared: &Shared, components: &mut Components) -> Vec<Operation> {
    let mut ops = vec![
        Operation {
            method: "get",
            path: "/openapi.json".into(),
            body: json!({"operationId": "openapi", "summary": "This document",
                "responses": problem_responses(("200", "The OpenAPI document", json!({"type": "object"})))}),
        },
        Operation {
            method: "get",
            path: "/_meta".into(),
            body: json!({"operationId": "meta", "summary": "The served domains",
                "responses": problem_responses(("200", "The namespaces", json!({"type": "object"})))}),
        },
    ];
    for (ns, served) in &shared.domains {
        let domain = &served.domain;
        ops.push(Operation {
            method: "get",
            path: format!("/_meta/{ns}"),
            body: json!({"operationId": format!("meta:{ns}"), "tags": [ns],
                "summary": format!("The commands and resources of `{ns}`"),
                "responses": problem_responses(("200", "The domain's metadata", json!({"type": "object"})))}),
        });
        if domain.backend().audit().is_some() {
            ops.push(audit_operation(ns, components));
        }
        let mut states = BTreeMap::new();
        for resource in domain.resources() {
            let schema = domain
                .resource_schema(resource.name)
                .cloned()
                .unwrap_or(json!({}));
            let state = components.import(ns, &format!("{ns}.{}", resource.name), schema);
            states.insert(resource.name, state.clone());
            let record = json!({
                "type": "object",
                "required": ["id", "version", "deleted", "created_at", "updated_at", "state"],
                "properties": {
                    "id": {"type": "string"}, "version": {"type": "integer", "minimum": 1},
                    "deleted": {"type": "boolean"},
                    "created_at": {"type": "string", "format": "date-time"},
                    "updated_at": {"type": "string", "format": "date-time"},
                    "created_by": {"type": ["string", "null"]},
                    "updated_by": {"type": ["string", "null"]},
                    "state": state,
                }
            });
            // With `?at=`, the record as it was, and what `at` asked for.
            let mut past = record.clone();
            if let Some(required) = past["required"].as_array_mut() {
                required.push(json!("at"));
            }
            past["properties"]["at"] = json!({"type": ["integer", "string"]});
            let base = format!("/{ns}.{}", resource.name);
            let list_params = list_parameters(
                "A filter in the JSON filter DSL, e.g. `{\"balance.gte\": 100}`",
                "",
            );
            ops.push(Operation {
                method: "get",
                path: format!("{base}/"),
                body: json!({
                    "operationId": format!("{ns}.{}:list", resource.name), "tags": [ns],
                    "summary": format!("Query {} roots", resource.name),
                    "parameters": list_params,
                    "responses": problem_responses(("200", "One page of matches", json!({
                        "type": "object", "required": ["data", "pagination"],
                        "properties": {"data": {"type": "array", "items": record},
                            "pagination": {"$ref": "#/components/schemas/Pagination"}}}))),
                }),
            });
            let mut get_params = common_headers();
            get_params.push(path_param("identifier", "The identifier of the root"));
            get_params.push(query_param(
                "at",
                "Time travel: a version number or an RFC 3339 instant",
                json!({"type": "string"}),
            ));
            ops.push(Operation {
                method: "get",
                path: format!("{base}/{{identifier}}"),
                body: json!({
                    "operationId": format!("{ns}.{}:get", resource.name), "tags": [ns],
                    "summary": format!("One {} root (with `?at=`, its past state)", resource.name),
                    "parameters": get_params,
                    "responses": problem_responses(("200", "The root's state; `ETag` is its version",
                        json!({"anyOf": [record, past]}))),
                }),
            });
            let mut history_params = common_headers();
            history_params.push(path_param("identifier", "The identifier of the root"));
            ops.push(Operation {
                method: "get",
                path: format!("{base}/{{identifier}}/history"),
                body: json!({
                    "operationId": format!("{ns}.{}:history", resource.name), "tags": [ns],
                    "summary": format!("The events of one {} root, oldest first", resource.name),
                    "parameters": history_params,
                    "responses": problem_responses(("200", "The audit trail", json!({
                        "type": "object", "required": ["data"],
                        "properties": {"data": {"type": "array",
                            "items": {"$ref": "#/components/schemas/Event"}}}}))),
                }),
            });
        }
        for action in domain.actions() {
            ops.push(Operation {
                method: "get",
                path: format!("/_meta/{ns}:{}", action.key),
                body: json!({"operationId": format!("meta:{ns}:{}", action.key), "tags": [ns],
                    "summary": format!("The metadata of `{}`", action.key),
                    "responses": problem_responses(("200", "The command's metadata", json!({"type": "object"})))}),
            });
            let payload = components.import(
                ns,
                &format!("{ns}:{}.payload", action.key),
                (action.payload_schema)(),
            );
            for resource in action.resources {
                let state = states.get(resource).cloned().unwrap_or(json!({}));
                for path in command_paths(ns, action, resource) {
                    let body = command_operation(served, action, resource, &path, &payload, &state);
                    ops.push(Operation {
                        method: "post",
                        path,
                        body,
                    });
                }
            }
        }
        ops.push(Operation {
            method: "post",
            path: format!("/{ns}:{}", crate::units::UNIT),
            body: unit_operation(served, &states),
        });
    }
    ops
}

/// `POST /<namespace>:unit`: a list of the domain's commands, committed all or none.
fn unit_operation(served: &Served, states: &BTreeMap<&str, Value>) -> Value {
    let domain = &served.domain;
    let ns = domain.namespace();
    let keys: Vec<&str> = domain.actions().iter().map(|a| a.key).collect();
    let resources: Vec<&str> = domain.resources().iter().map(|r| r.name).collect();
    let item = json!({
        "type": "object",
        "required": ["command", "resource", "identifier"],
        "additionalProperties": false,
        "properties": {
            "command": {"type": "string", "enum": keys},
            "resource": {"type": "string", "enum": resources},
            "identifier": {"type": "string", "minLength": 1,
                "description": "The root's identifier, or `:new` for a generated one"},
            "payload": {"type": ["object", "null"],
                "description": "The command's payload, as its command route takes it"},
            "expected_version": {"type": "integer", "minimum": 1,
                "description": "The version the root must be at when the command is decided \
                                (after the earlier commands of the unit); 412 on mismatch"},
        }
    });
    let state = json!({"anyOf": states.values().cloned().collect::<Vec<_>>()});
    let response = json!({
        "type": "object",
        "required": ["responses", "cursor"],
        "properties": {
            "responses": {"type": "array", "items": {
                "type": "object",
                "required": ["command_id", "root", "events", "version", "cursor", "state"],
                "properties": {
                    "command_id": {"type": "string", "format": "uuid"},
                    "root": {"$ref": "#/components/schemas/AggRoot"},
                    "events": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}},
                    "version": {"type": "integer", "minimum": 0},
                    "cursor": {"type": "string"},
                    "state": state,
                }
            }},
            "cursor": {"type": "string", "description": "The read-your-writes token of the unit's commit"},
        }
    });
    let mut parameters = common_headers();
    parameters.push(header(
        "Idempotency-Key",
        "Makes the unit idempotent: a repeat of the same list returns the first answer",
    ));
    json!({
        "operationId": format!("{ns}:{}", crate::units::UNIT),
        "summary": "Several commands, committed all together or not at all",
        "description": format!(
            "Runs the listed commands of `{ns}` in order, each against the state the earlier ones \
             left, and commits them in one write; when one fails nothing is written and the \
             problem's `pointer` names it (`/<index>`). At most {} commands.",
            fluvius_core::MAX_UNIT_COMMANDS
        ),
        "tags": [ns],
        "parameters": parameters,
        "requestBody": {"required": true, "content": {"application/json": {
            "schema": {"type": "array", "items": item,
                       "maxItems": fluvius_core::MAX_UNIT_COMMANDS}}}},
        "responses": problem_responses(("200", "Every command's answer, in order", response)),
    })
}

/// `GET /_audit/<ns>`: a page of audit records, or all of them as JSON lines or CSV.
fn audit_operation(ns: &str, components: &mut Components) -> Operation {
    let mut parameters = list_parameters(
        "A filter in the JSON filter DSL over the record's fields, e.g. `{\"outcome\": \"denied\"}`",
        "; `json` only",
    );
    parameters.push(query_param(
        "format",
        "`json` (a page, the default), `jsonl` or `csv` (every matching record)",
        json!({"type": "string", "enum": ["json", "jsonl", "csv"]}),
    ));
    let schema = fluvius_core::audit::audit_schema().clone();
    let record = components.import("audit", "AuditRecord", schema);
    let mut responses = problem_responses((
        "200",
        "A page of audit records",
        json!({"type": "object", "required": ["data", "pagination"], "properties": {
            "data": {"type": "array", "items": record},
            "pagination": {"$ref": "#/components/schemas/Pagination"}}}),
    ));
    responses["200"]["content"]["application/x-ndjson"] = json!({"schema": {"type": "string"}});
    responses["200"]["content"]["text/csv"] = json!({"schema": {"type": "string"}});
    Operation {
        method: "get",
        path: format!("/_audit/{ns}"),
        body: json!({"operationId": format!("audit:{ns}"), "tags": [ns],
            "summary": format!("The audit log of `{ns}`: every command attempt of the caller's tenant"),
            "parameters": parameters,
            "responses": responses}),
    }
}

/// The whole document.
pub(crate) fn document(shared: &Shared) -> Value {
    let mut components = Components::default();
    let ops = paths(shared, &mut components);
    let jwt = matches!(shared.auth, Auth::Jwt(_));
    let mut paths = Map::new();
    for op in ops {
        let mut body = op.body;
        if jwt && !op.path.starts_with("/_meta") && op.path != "/openapi.json" {
            body["security"] = json!([{"bearer": []}]);
        }
        let item = paths
            .entry(op.path)
            .or_insert_with(|| Value::Object(Map::new()));
        item[op.method] = body;
    }
    let mut schemas: Map<String, Value> = components.schemas.into_iter().collect();
    schemas.insert("Problem".into(), json!({
        "type": "object",
        "required": ["type", "title", "status", "detail", "code"],
        "properties": {
            "type": {"type": "string"}, "title": {"type": "string"},
            "status": {"type": "integer"}, "detail": {"type": "string"},
            "code": {"type": "string", "description": "A stable machine-readable code"},
            "pointer": {"type": "string", "description": "A JSON pointer to the offending member of the body"},
            "parameter": {"type": "string", "description": "The offending query parameter or header"},
            "rule": {"type": "string", "description": "The code of the broken business rule"},
        }
    }));
    schemas.insert(
        "AggRoot".into(),
        json!({
            "type": "object", "required": ["resource", "id"],
            "properties": {"resource": {"type": "string"}, "id": {"type": "string"}}
        }),
    );
    schemas.insert("Pagination".into(), json!({
        "type": "object", "required": ["total", "limit", "offset", "page", "pages"],
        "properties": {"total": {"type": "integer"}, "limit": {"type": "integer"},
            "offset": {"type": "integer"}, "page": {"type": "integer"}, "pages": {"type": "integer"}}
    }));
    schemas.insert(
        "Event".into(),
        json!({
            "type": "object",
            "required": ["event_id", "namespace", "resource", "identifier", "version", "evt_key",
                         "schema_version", "payload", "metadata", "recorded_at", "position"],
            "properties": {
                "event_id": {"type": "string", "format": "uuid"}, "tenant": {"type": "string"},
                "namespace": {"type": "string"}, "resource": {"type": "string"},
                "identifier": {"type": "string"}, "version": {"type": "integer", "minimum": 1},
                "evt_key": {"type": "string"}, "schema_version": {"type": "integer"},
                "payload": {}, "metadata": {"type": "object"},
                "recorded_at": {"type": "string", "format": "date-time"},
                "position": {"type": "integer"},
            }
        }),
    );
    let mut components = json!({ "schemas": schemas });
    if jwt {
        components["securitySchemes"] =
            json!({"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}});
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": shared.title, "version": env!("CARGO_PKG_VERSION")},
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "paths": paths,
        "components": components,
    })
}
