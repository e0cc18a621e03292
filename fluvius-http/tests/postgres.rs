//! The command, idempotency and query paths over HTTP on PostgreSQL, each test on its own
//! throw-away database, with two servers on one store where processes meet.

#[path = "../../fluvius-postgres/tests/support/mod.rs"]
mod pg;
mod support;

use fluvius_http::HttpApi;
use serde_json::{Value, json};
use support::{bank_on, problem, serve};

async fn pg_server() -> (support::Server, std::sync::Arc<dyn fluvius_core::Backend>) {
    let backend = pg::fresh_backend().await;
    let domain = bank_on(backend.clone());
    let api = HttpApi::builder().domain(domain.clone()).build().unwrap();
    (serve(api, domain).await, backend)
}

#[tokio::test]
async fn commands_if_match_and_idempotency_on_postgres() {
    let (server, backend) = pg_server().await;
    let id = server.open_account().await;
    let path = format!("/banking:deposit/account/{id}");
    let deposit = |tag: &'static str, key: &'static str, amount: i64| {
        server
            .client
            .post(server.url(&path))
            .header("if-match", tag)
            .header("idempotency-key", key)
            .json(&json!({"amount": amount}))
            .send()
    };
    let first = deposit("\"1\"", "d-1", 10).await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["etag"], "\"2\"");
    let first: Value = first.json().await.unwrap();
    let events = server.log_len().await;
    let repeat = deposit("\"1\"", "d-1", 10).await.unwrap();
    assert_eq!(repeat.status(), 200);
    assert_eq!(repeat.headers()["idempotent-replayed"], "true");
    assert_eq!(repeat.json::<Value>().await.unwrap(), first);
    problem(
        deposit("\"1\"", "d-1", 11).await.unwrap(),
        422,
        "idempotency-key-reused",
    )
    .await;
    let stale = deposit("\"1\"", "d-2", 10).await.unwrap();
    assert_eq!(stale.headers()["etag"], "\"2\"");
    problem(stale, 412, "precondition-failed").await;
    problem(server.post(&path, json!({"amount": -1})).await, 422, "rule").await;
    problem(
        server
            .post(&format!("{path}%00"), json!({"amount": 1}))
            .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(
        server.log_len().await,
        events,
        "a refused or repeated command wrote"
    );

    // A second server on the same store: its If-Match meets the first server's writes.
    let other_domain = bank_on(backend);
    let other = serve(
        HttpApi::builder()
            .domain(other_domain.clone())
            .build()
            .unwrap(),
        other_domain,
    )
    .await;
    let moved = other.post(&path, json!({"amount": 1})).await;
    assert_eq!(moved.status(), 200);
    assert_eq!(moved.headers()["etag"], "\"3\"");
    problem(
        deposit("\"2\"", "d-3", 1).await.unwrap(),
        412,
        "precondition-failed",
    )
    .await;
    let fresh = deposit("\"3\"", "d-4", 1).await.unwrap();
    assert_eq!(fresh.status(), 200);
    // The first server's idempotency record is seen by the second.
    let replay = other
        .client
        .post(other.url(&path))
        .header("idempotency-key", "d-1")
        .json(&json!({"amount": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 200);
    assert_eq!(replay.json::<Value>().await.unwrap(), first);

    let listed: Value = server
        .get("/banking.account/?query=%7B%22balance.gte%22%3A%20100%7D")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["pagination"]["total"], 1);
    assert_eq!(listed["data"][0]["state"]["balance"], 112);
    let then: Value = server
        .get(&format!("/banking.account/{id}?at=2"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(then["state"]["balance"], 110);
}

#[tokio::test]
async fn odd_input_writes_nothing_on_postgres() {
    let (server, _backend) = pg_server().await;
    let id = server.open_account().await;
    let before = server.log_len().await;
    let long = "y".repeat(3000);
    for path in [
        format!("/banking:deposit/account/{long}"),
        "/banking:deposit/account/x'%3B%20DROP%20TABLE%20fluvius.events%3B--".to_owned(),
        format!("/banking:deposit/account/{id}"),
    ] {
        for body in [
            json!({"amount": "1; DELETE FROM fluvius.events"}),
            json!({"amount": 1, "\u{0}": 1}),
            json!("\u{1F3E6}"),
        ] {
            let response = server.post(&path, body).await;
            assert!(
                response.status().is_client_error(),
                "{path}: {}",
                response.status()
            );
        }
    }
    let query = server
        .get("/banking.account/?query=%7B%22customer_id%22%3A%20%22x'%20OR%20'1'%3D'1%22%7D")
        .await;
    let body: Value = query.json().await.unwrap();
    assert_eq!(body["pagination"]["total"], 0);
    assert_eq!(server.log_len().await, before);
}
