//! The read routes over real HTTP: list with the filter DSL and pagination, one root, time
//! travel with `?at=`, the history, `_meta`, and the answers to routes that do not exist.

mod support;

use serde_json::{Value, json};
use support::{problem, start};

async fn three_accounts(server: &support::Server) -> Vec<String> {
    let mut ids = Vec::new();
    for (n, balance) in [100, 250, 400].into_iter().enumerate() {
        let id = format!("acc-{n}");
        let response = server
            .post(
                &format!("/banking:open-account/account/{id}"),
                json!({"customer_id": format!("c-{n}"), "initial_balance": balance}),
            )
            .await;
        assert_eq!(response.status(), 201);
        ids.push(id);
    }
    ids
}

#[tokio::test]
async fn a_list_filters_sorts_and_pages() {
    let server = start().await;
    three_accounts(&server).await;
    let query = urlencode(r#"{"balance.gte": 200}"#);
    let body: Value = server
        .get(&format!(
            "/banking.account/?query={query}&sort=balance.desc&limit=1"
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    assert_eq!(body["data"][0]["id"], "acc-2");
    assert_eq!(body["data"][0]["state"]["balance"], 400);
    assert_eq!(
        body["pagination"],
        json!({"limit": 1, "offset": 0, "page": 1, "total": 2, "pages": 2})
    );
    let second: Value = server
        .get(&format!(
            "/banking.account/?query={query}&sort=balance.desc&limit=1&page=2"
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second["data"][0]["id"], "acc-1");
    assert_eq!(second["pagination"]["offset"], 1);
    let all: Value = server.get("/banking.account/").await.json().await.unwrap();
    assert_eq!(all["pagination"]["total"], 3);

    let bad = problem(
        server
            .get(&format!(
                "/banking.account/?query={}",
                urlencode(r#"{"colour": 1}"#)
            ))
            .await,
        400,
        "invalid-query",
    )
    .await;
    assert!(bad["detail"].as_str().unwrap().contains("colour"));
    problem(
        server.get("/banking.account/?query=%7B").await,
        400,
        "invalid-parameter",
    )
    .await;
    problem(
        server.get("/banking.account/?limit=0").await,
        400,
        "invalid-query",
    )
    .await;
    problem(
        server.get("/banking.account/?page=0").await,
        400,
        "invalid-query",
    )
    .await;
    problem(
        server.get("/banking.account/?limit=x").await,
        400,
        "invalid-parameter",
    )
    .await;
    problem(
        server.get("/banking.account/?page=1&offset=2").await,
        400,
        "invalid-parameter",
    )
    .await;
    problem(
        server.get("/banking.account/?colour=red").await,
        400,
        "invalid-parameter",
    )
    .await;
    problem(
        server.get("/banking.planet/").await,
        404,
        "unknown-resource",
    )
    .await;
    problem(
        server.get("/bonking.account/").await,
        404,
        "unknown-namespace",
    )
    .await;
}

#[tokio::test]
async fn one_root_now_and_in_the_past() {
    let server = start().await;
    let id = server.open_account().await;
    let deposit = server
        .post(
            &format!("/banking:deposit/account/{id}"),
            json!({"amount": 25}),
        )
        .await;
    assert_eq!(deposit.status(), 200);
    let now: Value = server
        .get(&format!("/banking.account/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(now["version"], 2);
    assert_eq!(now["state"]["balance"], 125);
    let then: Value = server
        .get(&format!("/banking.account/{id}?at=1"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(then["state"]["balance"], 100);
    let created = now["created_at"].as_str().unwrap();
    let instant: Value = server
        .get(&format!("/banking.account/{id}?at={}", urlencode(created)))
        .await
        .json()
        .await
        .unwrap();
    assert!(instant["state"]["balance"] == 100 || instant["state"]["balance"] == 125);
    problem(
        server.get(&format!("/banking.account/{id}?at=9")).await,
        400,
        "invalid-version",
    )
    .await;
    problem(
        server.get(&format!("/banking.account/{id}?at=0")).await,
        400,
        "invalid-version",
    )
    .await;
    problem(
        server
            .get(&format!("/banking.account/{id}?at=yesterday"))
            .await,
        400,
        "invalid-parameter",
    )
    .await;
    problem(
        server
            .get(&format!("/banking.account/{id}?at=1900-01-01T00:00:00Z"))
            .await,
        404,
        "not-found",
    )
    .await;
    problem(
        server.get("/banking.account/nobody").await,
        404,
        "not-found",
    )
    .await;

    let history = server.get(&format!("/banking.account/{id}/history")).await;
    assert_eq!(history.headers()["etag"], "\"2\"");
    let history: Value = history.json().await.unwrap();
    let keys: Vec<_> = history["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["evt_key"].clone())
        .collect();
    assert_eq!(keys, [json!("account-opened"), json!("deposit-made")]);
    // A root without events has an empty history.
    let none = server.get("/banking.account/nobody/history").await;
    assert_eq!(none.status(), 200);
    assert_eq!(none.headers()["etag"], "\"0\"");
    let none: Value = none.json().await.unwrap();
    assert_eq!(none["data"], json!([]));
}

#[tokio::test]
async fn meta_describes_commands_and_resources() {
    let server = start().await;
    let index: Value = server.get("/_meta").await.json().await.unwrap();
    assert_eq!(index["domains"][0]["namespace"], "banking");
    let meta: Value = server.get("/_meta/banking").await.json().await.unwrap();
    let keys: Vec<_> = meta["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap().to_owned())
        .collect();
    assert!(keys.contains(&"open-account".to_owned()) && keys.contains(&"deposit".to_owned()));
    let resources: Vec<_> = meta["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].clone())
        .collect();
    assert_eq!(resources, [json!("account"), json!("customer")]);
    let deposit: Value = server
        .get("/_meta/banking:deposit")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(deposit["evt_key"], "deposit-made");
    assert_eq!(
        deposit["description"],
        "Deposits money. Rule: the amount is positive."
    );
    assert!(deposit["payload_schema"]["properties"]["amount"].is_object());
    assert_eq!(
        deposit["routes"],
        json!(["/banking:deposit/account/{identifier}"])
    );
    problem(server.get("/_meta/bonking").await, 404, "unknown-namespace").await;
    problem(
        server.get("/_meta/banking:fly").await,
        404,
        "unknown-command",
    )
    .await;
}

#[tokio::test]
async fn routes_that_do_not_exist_are_problems_too() {
    let server = start().await;
    problem(server.get("/nothing").await, 404, "no-route").await;
    problem(server.get("/banking.account/x/y/z").await, 404, "no-route").await;
    problem(
        server.get("/banking.account/x/audit").await,
        404,
        "no-route",
    )
    .await;
    problem(server.get("/accounts/").await, 404, "no-route").await;
    let wrong = server
        .client
        .delete(server.url("/banking.account/x"))
        .send()
        .await
        .unwrap();
    problem(wrong, 405, "method-not-allowed").await;
    let posted = server.post("/banking.account/", json!({})).await;
    assert_eq!(posted.headers()["allow"], "GET");
    problem(posted, 405, "method-not-allowed").await;
    let get_command = server.get("/banking:deposit/account/x").await;
    problem(get_command, 405, "method-not-allowed").await;
    let put = server
        .client
        .put(server.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    problem(put, 405, "method-not-allowed").await;
}

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
