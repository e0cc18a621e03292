//! Commands over real HTTP: routing of `:new` and identifiers, the answers and their statuses,
//! `ETag`/`If-Match`, `Idempotency-Key`, and the context that lands in the events.

mod support;

use fluvius_http::DomainOptions;
use serde_json::{Value, json};
use support::{problem, start, start_with};

#[tokio::test]
async fn new_and_a_real_identifier_both_route() {
    let server = start().await;
    let created = server
        .post(
            "/banking:open-account/account/:new",
            json!({"customer_id": "c-1", "initial_balance": 150}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let etag = created.headers()["etag"].to_str().unwrap().to_owned();
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = created.json().await.unwrap();
    let id = body["root"]["id"].as_str().unwrap().to_owned();
    assert_eq!(etag, "\"1\"");
    assert_eq!(location, format!("/banking.account/{id}"));
    assert_eq!(body["version"], 1);
    assert_eq!(body["state"]["balance"], 150);
    assert_eq!(body["events"][0]["evt_key"], "account-opened");
    assert!(body["cursor"].as_str().unwrap().contains('-'));

    let deposit = server
        .post(
            &format!("/banking:deposit/account/{id}"),
            json!({"amount": 5}),
        )
        .await;
    assert_eq!(deposit.status(), 200);
    assert_eq!(deposit.headers()["etag"], "\"2\"");
    let body: Value = deposit.json().await.unwrap();
    assert_eq!(body["state"]["balance"], 155);

    // The identifier can be chosen with `?identifier=` or named in the path.
    let chosen = server
        .post(
            "/banking:open-account/account/:new?identifier=acc-7",
            json!({"customer_id": "c-2", "initial_balance": 100}),
        )
        .await;
    assert_eq!(chosen.status(), 201);
    let body: Value = chosen.json().await.unwrap();
    assert_eq!(body["root"]["id"], "acc-7");
    let named = server
        .post(
            "/banking:open-account/account/acc-8",
            json!({"customer_id": "c-2", "initial_balance": 100}),
        )
        .await;
    assert_eq!(named.status(), 201);
    let again = server
        .post(
            "/banking:open-account/account/acc-8",
            json!({"customer_id": "c-2", "initial_balance": 100}),
        )
        .await;
    problem(again, 409, "already-exists").await;
}

#[tokio::test]
async fn command_errors_have_their_statuses_and_write_nothing() {
    let server = start().await;
    let id = server.open_account().await;
    let before = server.log_len().await;
    let path = format!("/banking:withdraw/account/{id}");

    let rule = problem(
        server.post(&path, json!({"amount": 1000})).await,
        422,
        "rule",
    )
    .await;
    assert_eq!(rule["rule"], "insufficient-funds");
    let bad = problem(
        server.post(&path, json!({"amount": "x"})).await,
        422,
        "validation",
    )
    .await;
    assert_eq!(bad["pointer"], "/amount");
    let unknown = problem(
        server
            .post(&path, json!({"amount": 1, "extra": true}))
            .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(unknown["pointer"], "/extra");
    problem(server.post(&path, json!([1, 2])).await, 422, "validation").await;
    problem(
        server
            .post("/banking:withdraw/account/nobody", json!({"amount": 1}))
            .await,
        404,
        "not-found",
    )
    .await;
    problem(
        server.post("/banking:fly/account/x", json!({})).await,
        404,
        "unknown-command",
    )
    .await;
    problem(
        server.post("/bonking:deposit/account/x", json!({})).await,
        404,
        "unknown-namespace",
    )
    .await;
    problem(
        server
            .post("/banking:deposit/planet/x", json!({"amount": 1}))
            .await,
        404,
        "unknown-resource",
    )
    .await;
    problem(
        server
            .post("/banking:deposit/customer/x", json!({"amount": 1}))
            .await,
        403,
        "forbidden-resource",
    )
    .await;
    problem(
        server
            .post("/banking:deposit/account/:new", json!({"amount": 1}))
            .await,
        400,
        "invalid-target",
    )
    .await;
    let raw = server
        .client
        .post(server.url(&path))
        .header("content-type", "application/json")
        .body("{\"amount\": ")
        .send()
        .await
        .unwrap();
    problem(raw, 400, "malformed-json").await;
    let text = server
        .client
        .post(server.url(&path))
        .header("content-type", "text/plain")
        .body("amount=1")
        .send()
        .await
        .unwrap();
    problem(text, 415, "unsupported-media-type").await;
    problem(
        server
            .post(&format!("{path}?verbose=1"), json!({"amount": 1}))
            .await,
        400,
        "invalid-parameter",
    )
    .await;
    assert_eq!(
        server.log_len().await,
        before,
        "a refused command wrote an event"
    );
}

#[tokio::test]
async fn if_match_is_the_expected_version() {
    let server = start().await;
    let id = server.open_account().await;
    let path = format!("/banking:deposit/account/{id}");
    let send = |tag: &'static str| {
        server
            .client
            .post(server.url(&path))
            .header("if-match", tag)
            .json(&json!({"amount": 1}))
            .send()
    };
    let ok = send("\"1\"").await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["etag"], "\"2\"");
    let stale = send("\"1\"").await.unwrap();
    assert_eq!(stale.headers()["etag"], "\"2\"");
    problem(stale, 412, "precondition-failed").await;
    problem(send("W/\"2\"").await.unwrap(), 400, "invalid-parameter").await;
    problem(send("2").await.unwrap(), 400, "invalid-parameter").await;
    problem(send("*").await.unwrap(), 400, "invalid-parameter").await;

    let record = server.get(&format!("/banking.account/{id}")).await;
    assert_eq!(record.headers()["etag"], "\"2\"");
    let body: Value = record.json().await.unwrap();
    assert_eq!(body["state"]["balance"], 101);
    let unchanged = server
        .client
        .get(server.url(&format!("/banking.account/{id}")))
        .header("if-none-match", "\"2\"")
        .send()
        .await
        .unwrap();
    assert_eq!(unchanged.status(), 304);
}

#[tokio::test]
async fn a_domain_can_require_if_match() {
    let domain = support::bank();
    let api = fluvius_http::HttpApi::builder()
        .domain_with(domain.clone(), DomainOptions::new().require_if_match(true))
        .build()
        .unwrap();
    let server = support::serve(api, domain).await;
    let id = server.open_account().await;
    let path = format!("/banking:deposit/account/{id}");
    problem(
        server.post(&path, json!({"amount": 1})).await,
        428,
        "precondition-required",
    )
    .await;
    let ok = server
        .client
        .post(server.url(&path))
        .header("if-match", "\"1\"")
        .json(&json!({"amount": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn an_idempotency_key_returns_the_first_answer() {
    let server = start().await;
    let send = |key: &'static str, balance: i64| {
        server
            .client
            .post(server.url("/banking:open-account/account/:new"))
            .header("idempotency-key", key)
            .json(&json!({"customer_id": "c-9", "initial_balance": balance}))
            .send()
    };
    let first = send("k-1", 100).await.unwrap();
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    let events = server.log_len().await;

    let repeat = send("k-1", 100).await.unwrap();
    assert_eq!(repeat.status(), 201);
    assert_eq!(repeat.headers()["idempotent-replayed"], "true");
    let repeat: Value = repeat.json().await.unwrap();
    assert_eq!(repeat, first, "a repeat answers with the first body");
    assert_eq!(server.log_len().await, events, "a repeat wrote");

    problem(
        send("k-1", 200).await.unwrap(),
        422,
        "idempotency-key-reused",
    )
    .await;
    assert_eq!(server.log_len().await, events);
    let other = send("k-2", 100).await.unwrap();
    assert_eq!(other.status(), 201);
    problem(send("", 100).await.unwrap(), 400, "invalid-parameter").await;
}

#[tokio::test]
async fn the_context_lands_in_the_events() {
    let server = start_with(|b| b.auth(fluvius_http::Auth::TrustedHeaders)).await;
    let correlation = uuid::Uuid::now_v7();
    let response = server
        .client
        .post(server.url("/banking:open-account/account/:new"))
        .header("x-user", "ada")
        .header("x-roles", "teller, auditor")
        .header("x-correlation-id", correlation.to_string())
        .header("x-request-id", "req-42")
        .json(&json!({"customer_id": "c-1", "initial_balance": 100}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "req-42");
    let body: Value = response.json().await.unwrap();
    let metadata = &body["events"][0]["metadata"];
    assert_eq!(metadata["user"], "ada");
    assert_eq!(metadata["correlation_id"], correlation.to_string());
    assert_eq!(metadata["headers"]["roles"], "teller,auditor");
    assert_eq!(metadata["headers"]["request-id"], "req-42");
    let id = body["root"]["id"].as_str().unwrap();
    let history: Value = server
        .get(&format!("/banking.account/{id}/history"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(history["data"][0]["metadata"]["user"], "ada");

    let generated = server.get("/_meta").await;
    assert!(generated.headers()["x-request-id"].to_str().unwrap().len() >= 32);
    problem(
        server
            .client
            .get(server.url("/banking.account/"))
            .header("x-correlation-id", "not-a-uuid")
            .send()
            .await
            .unwrap(),
        400,
        "invalid-parameter",
    )
    .await;
}
