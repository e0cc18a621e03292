//! The OpenAPI document: valid against the official OpenAPI 3.1 schema, and its operations are
//! exactly the routes the router serves, checked by requesting each one over HTTP.

mod support;

use std::collections::BTreeSet;

use fluvius_http::{Auth, HttpApi, JwtAuth, KeySource};
use serde_json::{Value, json};
use support::start;

/// The OpenAPI 3.1 schema as published by the OpenAPI Initiative
/// (`https://spec.openapis.org/oas/3.1/schema/2022-10-07`), as shipped by the
/// `openapi-spec-validator` package.
const OPENAPI_31_SCHEMA: &str = include_str!("fixtures/openapi-3.1-schema.json");

fn validate(document: &Value) {
    let schema: Value = serde_json::from_str(OPENAPI_31_SCHEMA).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the OpenAPI schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(document)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "the document breaks OpenAPI 3.1: {errors:#?}"
    );
}

#[tokio::test]
async fn the_document_is_valid_openapi_31() {
    let server = start().await;
    let document: Value = server.get("/openapi.json").await.json().await.unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    validate(&document);
    // The validator catches a broken document.
    let mut broken = document.clone();
    broken["paths"]["/banking.account/"]["get"]["responses"] = json!("none");
    let schema: Value = serde_json::from_str(OPENAPI_31_SCHEMA).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    assert!(!validator.is_valid(&broken));

    // Every reference resolves inside the document.
    let mut refs = Vec::new();
    collect_refs(&document, &mut refs);
    assert!(!refs.is_empty());
    for reference in refs {
        let pointer = reference.strip_prefix('#').expect("a local reference");
        assert!(document.pointer(pointer).is_some(), "dangling {reference}");
    }
    // The payload schema is the one the domain validates with.
    let domain = support::bank();
    let deposit = (domain.action("deposit").unwrap().payload_schema)();
    let op = &document["paths"]["/banking:deposit/account/{identifier}"]["post"];
    let reference = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        .as_str()
        .unwrap();
    let served = document.pointer(reference.trim_start_matches('#')).unwrap();
    assert_eq!(served["properties"], deposit["properties"]);
}

#[tokio::test]
async fn a_jwt_api_documents_its_security() {
    let domain = support::bank();
    let auth = Auth::jwt(JwtAuth::new(
        KeySource::static_key(None, jsonwebtoken::DecodingKey::from_secret(b"k")),
        [jsonwebtoken::Algorithm::HS256],
    ));
    let api = HttpApi::builder()
        .domain(domain)
        .auth(auth)
        .build()
        .unwrap();
    let document = api.openapi();
    validate(document);
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert_eq!(
        document["paths"]["/banking.account/"]["get"]["security"],
        json!([{"bearer": []}])
    );
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                match (key.as_str(), item) {
                    ("$ref", Value::String(target)) => out.push(target.clone()),
                    _ => collect_refs(item, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_refs(i, out)),
        _ => {}
    }
}

/// A concrete request path for a path template.
fn concrete(template: &str) -> String {
    template.replace("{identifier}", "probe-id")
}

#[tokio::test]
async fn the_routes_and_the_documented_operations_are_the_same_set() {
    let server = start().await;
    let document: Value = server.get("/openapi.json").await.json().await.unwrap();
    let mut documented = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.clone(), path.clone()));
        }
    }
    let operations: BTreeSet<(String, String)> = server
        .api
        .operations()
        .into_iter()
        .map(|(m, p)| (m.to_owned(), p))
        .collect();
    assert_eq!(documented, operations);

    // Every documented operation is routed: its answer is never the router's own "no route"
    // or "wrong method".
    for (method, path) in &documented {
        let url = server.url(&concrete(path));
        let request = match method.as_str() {
            "get" => server.client.get(url),
            "post" => server.client.post(url).json(&json!({})),
            other => panic!("undocumented method {other}"),
        };
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(
            body["code"] != "no-route" && body["code"] != "method-not-allowed" && status < 500,
            "{method} {path}: {status} {body}"
        );
    }

    // And the routes answer nothing else: every other method on a documented path, and paths
    // next to the documented ones, are the router's "no route" or "wrong method".
    let mut undocumented = 0;
    for (method, path) in &documented {
        let other = if method == "get" { "post" } else { "get" };
        if documented.contains(&(other.to_owned(), path.clone())) {
            continue;
        }
        let url = server.url(&concrete(path));
        let request = if other == "get" {
            server.client.get(url)
        } else {
            server.client.post(url).json(&json!({}))
        };
        let response = request.send().await.unwrap();
        let body: Value = response.json().await.unwrap();
        assert!(
            body["code"] == "method-not-allowed" || body["code"] == "no-route",
            "{other} {path} is served but not documented: {body}"
        );
        undocumented += 1;
    }
    assert!(undocumented > 10);
    for near in [
        "/banking.account",
        "/banking.account/probe-id/events",
        "/_meta/banking/commands",
        "/openapi.yaml",
        "/banking:deposit/account",
    ] {
        let body: Value = server.get(near).await.json().await.unwrap();
        assert!(
            body["code"] == "no-route" || body["code"] == "method-not-allowed",
            "{near} answers {body}"
        );
    }
}
