//! Requests held in flight: a key still running is 409, a request over its time limit is 503
//! while its command still commits, and callers that hang up change no other request's answer.

mod support;

use std::time::Duration;

use fluvius_http::HttpApi;
use serde_json::{Value, json};
use support::{problem, serve, slow};

async fn slow_server(timeout: Duration) -> support::Server {
    let domain = slow::domain();
    let api = HttpApi::builder()
        .domain(domain.clone())
        .request_timeout(timeout)
        .build()
        .unwrap();
    let server = serve(api, domain).await;
    let opened = server.post("/slow:open-gate/gate/g-1", json!({})).await;
    assert_eq!(opened.status(), 201);
    server
}

async fn passes(server: &support::Server) -> u64 {
    let body: Value = server.get("/slow.gate/g-1").await.json().await.unwrap();
    body["state"]["passes"].as_u64().unwrap()
}

#[tokio::test]
async fn a_key_still_running_is_409_with_retry_after() {
    let server = slow_server(Duration::from_secs(10)).await;
    let send = || {
        server
            .client
            .post(server.url("/slow:pass/gate/g-1"))
            .header("idempotency-key", "once")
            .json(&json!({"millis": 400}))
            .send()
    };
    let first = tokio::spawn(send());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let busy = send().await.unwrap();
    assert_eq!(busy.headers()["retry-after"], "1");
    problem(busy, 409, "idempotency-key-in-use").await;
    let first = first.await.unwrap().unwrap();
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    let repeat = send().await.unwrap();
    assert_eq!(repeat.status(), 200);
    assert_eq!(repeat.json::<Value>().await.unwrap(), first);
    assert_eq!(passes(&server).await, 1 + 1, "open, then one pass");
}

#[tokio::test]
async fn a_request_over_its_time_limit_is_503_and_its_command_still_commits() {
    let server = slow_server(Duration::from_millis(100)).await;
    let late = server
        .post("/slow:pass/gate/g-1", json!({"millis": 300}))
        .await;
    assert_eq!(late.headers()["retry-after"], "1");
    problem(late, 503, "timeout").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(passes(&server).await, 2);
}

#[tokio::test]
async fn callers_that_hang_up_change_no_other_answer() {
    let server = slow_server(Duration::from_secs(20)).await;
    let mut normal = Vec::new();
    for _ in 0..16 {
        let client = server.client.clone();
        let url = server.url("/slow:pass/gate/g-1");
        normal.push(tokio::spawn(async move {
            client
                .post(url)
                .json(&json!({"millis": 2}))
                .send()
                .await
                .unwrap()
        }));
    }
    // 200 callers that give up mid-flight on the same stream.
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(1))
        .build()
        .unwrap();
    let mut cut = Vec::new();
    for _ in 0..200 {
        let client = impatient.clone();
        let url = server.url("/slow:pass/gate/g-1");
        cut.push(tokio::spawn(async move {
            client.post(url).json(&json!({"millis": 2})).send().await
        }));
    }
    let mut versions = Vec::new();
    for task in normal {
        let response = task.await.unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        versions.push(body["version"].as_u64().unwrap());
    }
    let mut hung_up = 0;
    for task in cut {
        if task.await.unwrap().is_err() {
            hung_up += 1;
        }
    }
    assert!(hung_up > 0, "no caller hung up");
    versions.sort_unstable();
    versions.dedup();
    assert_eq!(versions.len(), 16, "two answers share a version");
    // Every command that was received ran to its end; the store agrees with the answers.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let history: Value = server
        .get("/slow.gate/g-1/history")
        .await
        .json()
        .await
        .unwrap();
    let events = history["data"].as_array().unwrap().len() as u64;
    assert_eq!(passes(&server).await, events);
    assert!(
        events > 16,
        "the open and the 16 answered passes are in the history"
    );
}
