//! `POST /<namespace>:unit` over real HTTP: a list of commands committed all together or not at
//! all, the failing command named by a pointer to its place, `Idempotency-Key` for the whole
//! unit, and malformed lists refused before anything runs.

mod support;

use serde_json::{Value, json};
use support::{problem, start};

fn withdraw(id: &str, amount: i64) -> Value {
    json!({"command": "withdraw", "resource": "account", "identifier": id,
           "payload": {"amount": amount}})
}

fn deposit(id: &str, amount: i64) -> Value {
    json!({"command": "deposit", "resource": "account", "identifier": id,
           "payload": {"amount": amount}})
}

#[tokio::test]
async fn a_transfer_commits_both_commands_or_neither() {
    let server = start().await;
    let (a, b) = (server.open_account().await, server.open_account().await);
    let before = server.log_len().await;
    let moved = server
        .post("/banking:unit", json!([withdraw(&a, 30), deposit(&b, 30)]))
        .await;
    assert_eq!(moved.status(), 200);
    assert!(moved.headers().get("idempotent-replayed").is_none());
    let body: Value = moved.json().await.unwrap();
    let responses = body["responses"].as_array().unwrap();
    assert_eq!(responses.len(), 2);
    assert_eq!(responses[0]["state"]["balance"], 70);
    assert_eq!(responses[0]["version"], 2);
    assert_eq!(responses[1]["state"]["balance"], 130);
    assert_eq!(responses[1]["events"][0]["evt_key"], "deposit-made");
    assert_eq!(body["cursor"], responses[1]["cursor"]);
    assert_eq!(server.log_len().await, before + 2);

    // The deposit would commit alone; the withdrawal breaks a rule: nothing is written.
    let refused = server
        .post(
            "/banking:unit",
            json!([deposit(&b, 5), withdraw(&a, 1_000)]),
        )
        .await;
    let body = problem(refused, 422, "rule").await;
    assert_eq!(body["pointer"], "/1");
    assert_eq!(body["rule"], "insufficient-funds");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("command 1 of the unit (`withdraw`"),
        "{detail}"
    );
    assert_eq!(server.log_len().await, before + 2);

    let created = server
        .post(
            "/banking:unit",
            json!([
                {"command": "open-account", "resource": "account", "identifier": ":new",
                 "payload": {"customer_id": "c-9", "initial_balance": 100}},
                {"command": "open-account", "resource": "account", "identifier": "chosen",
                 "payload": {"customer_id": "c-9", "initial_balance": 200}},
                deposit("chosen", 1),
            ]),
        )
        .await;
    assert_eq!(created.status(), 200);
    let body: Value = created.json().await.unwrap();
    assert!(
        !body["responses"][0]["root"]["id"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    assert_eq!(body["responses"][2]["version"], 2);
    assert_eq!(body["responses"][2]["state"]["balance"], 201);
}

#[tokio::test]
async fn each_failure_points_at_its_command() {
    let server = start().await;
    let a = server.open_account().await;
    let before = server.log_len().await;

    let bad_payload = json!([deposit(&a, 1),
        {"command": "deposit", "resource": "account", "identifier": a, "payload": {"amount": "x"}}]);
    let body = problem(
        server.post("/banking:unit", bad_payload).await,
        422,
        "validation",
    )
    .await;
    assert_eq!(body["pointer"], "/1/payload/amount");

    let unknown = json!([{"command": "levitate", "resource": "account", "identifier": a}]);
    let body = problem(
        server.post("/banking:unit", unknown).await,
        404,
        "unknown-command",
    )
    .await;
    assert_eq!(body["pointer"], "/0");

    let missing = json!([deposit(&a, 1), deposit("nobody", 1)]);
    let body = problem(
        server.post("/banking:unit", missing).await,
        404,
        "not-found",
    )
    .await;
    assert_eq!(body["pointer"], "/1");

    let mut stale = deposit(&a, 1);
    stale["expected_version"] = json!(1);
    let chained = json!([deposit(&a, 1), stale]);
    let answer = server.post("/banking:unit", chained).await;
    assert_eq!(
        answer.headers()["etag"],
        "\"2\"",
        "the version the earlier command left"
    );
    let body = problem(answer, 412, "precondition-failed").await;
    assert_eq!(body["pointer"], "/1/expected_version");

    let new_on_existing = json!([{"command": "deposit", "resource": "account",
        "identifier": ":new", "payload": {"amount": 1}}]);
    let body = problem(
        server.post("/banking:unit", new_on_existing).await,
        400,
        "invalid-target",
    )
    .await;
    assert_eq!(body["pointer"], "/0/identifier");

    let body = problem(
        server.post("/banking:unit", json!({"commands": []})).await,
        400,
        "malformed-unit",
    )
    .await;
    assert_eq!(body["pointer"], "");
    let extra = json!([deposit(&a, 1), {"command": "deposit", "resource": "account",
        "identifier": a, "amount": 1}]);
    let body = problem(
        server.post("/banking:unit", extra).await,
        400,
        "malformed-unit",
    )
    .await;
    assert_eq!(body["pointer"], "/1");

    let many: Vec<Value> = (0..=fluvius::MAX_UNIT_COMMANDS)
        .map(|_| deposit(&a, 1))
        .collect();
    problem(
        server.post("/banking:unit", json!(many)).await,
        422,
        "invalid-unit",
    )
    .await;
    assert_eq!(server.log_len().await, before);

    let empty = server.post("/banking:unit", json!([])).await;
    assert_eq!(empty.status(), 200);
    let body: Value = empty.json().await.unwrap();
    assert_eq!(body["responses"], json!([]));
}

#[tokio::test]
async fn an_idempotency_key_makes_the_unit_repeatable() {
    let server = start().await;
    let (a, b) = (server.open_account().await, server.open_account().await);
    let send = |body: Value| {
        server
            .client
            .post(server.url("/banking:unit"))
            .header("Idempotency-Key", "transfer-2026-12-03-1")
            .json(&body)
            .send()
    };
    let first = send(json!([withdraw(&a, 10), deposit(&b, 10)]))
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    let before = server.log_len().await;

    let again = send(json!([withdraw(&a, 10), deposit(&b, 10)]))
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["responses"], first["responses"]);
    assert_eq!(server.log_len().await, before, "a repeat writes nothing");

    let other = send(json!([withdraw(&a, 99), deposit(&b, 99)]))
        .await
        .unwrap();
    problem(other, 422, "idempotency-key-reused").await;
    let longer = send(json!([withdraw(&a, 10), deposit(&b, 10), deposit(&b, 1)]))
        .await
        .unwrap();
    let body = problem(longer, 422, "invalid-unit").await;
    assert_eq!(body["pointer"], "/2");
    assert_eq!(server.log_len().await, before);
}

#[tokio::test]
async fn only_namespace_unit_is_a_unit_route() {
    let server = start().await;
    problem(server.get("/banking:unit").await, 404, "no-route").await;
    problem(server.post("/banking", json!([])).await, 404, "no-route").await;
    problem(
        server.post("/banking:units", json!([])).await,
        404,
        "no-route",
    )
    .await;
    problem(
        server.post("/nowhere:unit", json!([])).await,
        404,
        "unknown-namespace",
    )
    .await;
}
