//! The three calls of the README's HTTP section, as written there, against the server's API
//! in memory.

use serde_json::{Value, json};

#[tokio::test]
async fn the_readme_calls_work() {
    let domain = example_bank::domain(fluvius::Domain::builder("banking")).unwrap();
    let api = example_bank_server::api_for(domain).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, api.router()).await.unwrap() });
    let client = reqwest::Client::new();

    let readme = include_str!("../../../README.md");
    assert!(readme.contains("/banking:open-account/account/:new?identifier=acc-1"));
    assert!(readme.contains("/banking:deposit/account/acc-1"));
    assert!(readme.contains("/banking.account/acc-1"));

    let opened = client
        .post(format!(
            "{base}/banking:open-account/account/:new?identifier=acc-1"
        ))
        .header("content-type", "application/json")
        .body(r#"{"customer_id": "c-1", "initial_balance": 150}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), 201);
    let deposit = client
        .post(format!("{base}/banking:deposit/account/acc-1"))
        .header("content-type", "application/json")
        .header("if-match", "\"1\"")
        .body(r#"{"amount": 50}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(deposit.status(), 200);
    let account: Value = client
        .get(format!("{base}/banking.account/acc-1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(account["version"], 2);
    assert_eq!(account["state"]["balance"], json!(200));
}
