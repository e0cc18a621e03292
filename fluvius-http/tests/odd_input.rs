//! Odd input never gets a 5xx or a panic and writes nothing: random JSON bodies, huge and deeply
//! nested bodies, path segments with `..`, `%00`, `%2F`, SQL fragments, unicode and very long
//! identifiers, sent as raw HTTP so no client tidies them up first.

mod support;

use proptest::prelude::*;
use serde_json::{Value, json};
use support::{problem, start, start_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends one raw HTTP/1.1 request and returns the status and the body.
async fn raw(server: &support::Server, method: &str, target: &str, body: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let request = format!(
        "{method} {target} HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (status, body)
}

fn assert_problem(status: u16, body: &str, what: &str) {
    assert!(
        (400..500).contains(&status),
        "{what}: status {status}, body {body}"
    );
    let parsed: Value = serde_json::from_str(body)
        .unwrap_or_else(|_| panic!("{what}: the body is not problem JSON: {body:?}"));
    assert!(parsed["code"].is_string(), "{what}: no code in {body}");
}

#[tokio::test]
async fn odd_path_segments_are_refused_and_write_nothing() {
    let server = start().await;
    let id = server.open_account().await;
    let before = server.log_len().await;
    let long = "x".repeat(5000);
    let targets = [
        "/banking:deposit/account/..".to_owned(),
        "/banking:deposit/account/%2E%2E".to_owned(),
        "/banking:deposit/../account/x".to_owned(),
        "/banking:deposit/account/a%00b".to_owned(),
        "/banking:deposit/account/a%2Fb".to_owned(),
        "/banking:deposit/account/%FF%FE".to_owned(),
        "/banking:deposit/account/x'%3B%20DROP%20TABLE%20fluvius.events%3B--".to_owned(),
        "/banking:deposit/account/%E2%98%83%F0%9F%8F%A6".to_owned(),
        format!("/banking:deposit/account/{long}"),
        "/banking:deposit%00/account/x".to_owned(),
        "/banking:de%2Fposit/account/x".to_owned(),
        "/banking:deposit/acc%00ount/x".to_owned(),
        "/%00:deposit/account/x".to_owned(),
        format!("/banking:deposit/account/{id}?identifier=%00"),
    ];
    for target in &targets {
        let (status, body) = raw(&server, "POST", target, r#"{"amount": 5}"#).await;
        assert_problem(status, &body, target);
    }
    let reads = [
        "/banking.account/..".to_owned(),
        "/banking.account/a%00b".to_owned(),
        "/banking.account/a%2Fb".to_owned(),
        "/banking.account/%FF".to_owned(),
        format!("/banking.account/{long}"),
        format!("/banking.account/{long}/history"),
        "/banking.account/x?at=%00".to_owned(),
        "/banking.account/?query=%00".to_owned(),
        "/banking.account/?query=%7B%22balance%22%3A%20%22'%20OR%201%3D1--%22%7D".to_owned(),
        "/banking.account/?sort=balance%3B%20DROP%20TABLE%20x".to_owned(),
        "/banking.ac%2Fcount/".to_owned(),
        "/_meta/%00".to_owned(),
    ];
    for target in &reads {
        let (status, body) = raw(&server, "GET", target, "").await;
        assert!(status < 500, "{target}: {status} {body}");
        if status >= 400 {
            assert_problem(status, &body, target);
        }
    }
    assert_eq!(server.log_len().await, before, "an odd request wrote");
}

#[tokio::test]
async fn huge_and_deep_bodies_are_refused() {
    let server = start_with(|b| b.body_limit(64 * 1024)).await;
    let id = server.open_account().await;
    let before = server.log_len().await;
    let path = format!("/banking:deposit/account/{id}");
    let huge = format!(r#"{{"amount": 1, "pad": "{}"}}"#, "x".repeat(200_000));
    let response = server
        .client
        .post(server.url(&path))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    problem(response, 413, "body-too-large").await;
    // Without a length up front: a chunked body that grows past the limit.
    let chunks = futures_chunks(300_000);
    let response = server
        .client
        .post(server.url(&path))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    problem(response, 413, "body-too-large").await;
    let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    let response = server
        .client
        .post(server.url(&path))
        .header("content-type", "application/json")
        .body(deep)
        .send()
        .await
        .unwrap();
    problem(response, 400, "malformed-json").await;
    let nested = format!(
        r#"{{"amount": 1, "x": {}1{}}}"#,
        "[".repeat(100),
        "]".repeat(100)
    );
    let response = server
        .client
        .post(server.url(&path))
        .header("content-type", "application/json")
        .body(nested)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error());
    let response = server.post(&path, json!({"amount": 1e308})).await;
    assert!(response.status().is_client_error());
    assert_eq!(server.log_len().await, before);
}

fn futures_chunks(
    total: usize,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    let chunk = vec![b' '; 16 * 1024];
    let count = total / chunk.len() + 1;
    futures::stream::iter((0..count).map(move |_| Ok(chunk.clone())))
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[test]
fn random_json_is_answered_without_a_fault() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(start());
    let id = runtime.block_on(server.open_account());
    let mut config = ProptestConfig::with_cases(150);
    config.failure_persistence = None;
    proptest!(config, |(body in json_value(), command in 0usize..4)| {
        let (path, creates) = [
            (format!("/banking:deposit/account/{id}"), false),
            (format!("/banking:withdraw/account/{id}"), false),
            ("/banking:open-account/account/:new".to_owned(), true),
            ("/banking:register-customer/customer/:new".to_owned(), true),
        ][command].clone();
        runtime.block_on(async {
            let before = server.log_len().await;
            let response = server.post(&path, body.clone()).await;
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            assert!(status < 500, "{path} {body}: {status} {text}");
            let after = server.log_len().await;
            if status >= 400 {
                assert_problem(status, &text, &path);
                assert_eq!(after, before, "a refused {path} wrote: {body}");
            } else {
                assert!(creates || after == before + 1, "{path} {body}: {status}");
            }
        });
    });
}
