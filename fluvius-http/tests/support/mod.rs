//! A server on 127.0.0.1 for each test, serving the bank domain, and a client for it.

#![allow(dead_code)]

pub mod slow;

use std::net::SocketAddr;
use std::sync::Arc;

use fluvius::prelude::*;
use fluvius_core::Backend;
use fluvius_http::{HttpApi, HttpApiBuilder};
use serde_json::{Value, json};

/// A served API and what a test needs to reach it.
pub struct Server {
    pub base: String,
    pub addr: SocketAddr,
    pub domain: Domain,
    pub client: reqwest::Client,
    pub api: HttpApi,
}

/// The bank domain on the in-memory backend.
pub fn bank() -> Domain {
    example_bank::domain(Domain::builder("banking")).expect("the bank domain builds")
}

/// The bank domain on a given backend.
pub fn bank_on(backend: Arc<dyn Backend>) -> Domain {
    Domain::builder("banking")
        .aggregate(example_bank::Banking)
        .shared_backend(backend)
        .finish()
        .expect("the bank domain builds")
}

/// Serves `api` on a free port of 127.0.0.1.
pub async fn serve(api: HttpApi, domain: Domain) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    let router = api.router();
    tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serve");
    });
    Server {
        base: format!("http://{addr}"),
        addr,
        domain,
        client: reqwest::Client::new(),
        api,
    }
}

/// The bank domain served with the builder's other settings.
pub async fn start_with(configure: impl FnOnce(HttpApiBuilder) -> HttpApiBuilder) -> Server {
    let domain = bank();
    let api = configure(HttpApi::builder().domain(domain.clone()))
        .build()
        .expect("the API builds");
    serve(api, domain).await
}

/// The bank as a multi-tenant service (its Cedar policies, its audit log), callers named by
/// the trusted headers (`x-tenant`, `x-user`, `x-roles`).
pub async fn start_saas() -> Server {
    let (domain, _engine) = example_bank::saas_domain(
        Domain::builder("banking"),
        &std::fs::read_to_string(example_bank::POLICY_FILE).expect("the policy file"),
    )
    .expect("the multi-tenant bank builds");
    let api = HttpApi::builder()
        .domain(domain.clone())
        .auth(fluvius_http::Auth::TrustedHeaders)
        .build()
        .expect("the API builds");
    serve(api, domain).await
}

/// The bank domain served with the defaults.
pub async fn start() -> Server {
    start_with(|b| b).await
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("POST")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    /// Opens an account with a balance of 100 and returns its id.
    pub async fn open_account(&self) -> String {
        let response = self
            .post(
                "/banking:open-account/account/:new",
                json!({"customer_id": "c-1", "initial_balance": 100}),
            )
            .await;
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.expect("JSON");
        body["root"]["id"].as_str().expect("an id").to_owned()
    }

    /// Every event of the store, by reading the global log.
    pub async fn log_len(&self) -> usize {
        let backend = self.domain.backend();
        let mut query = fluvius::LogQuery::from_start().limit(1000);
        let mut n = 0;
        loop {
            let page = backend.read_log(&query).await.expect("read the log");
            n += page.events.len();
            query.after = page.next;
            if page.caught_up {
                return n;
            }
        }
    }
}

/// The body of a problem answer, checked to be problem details with this status and code.
pub async fn problem(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(
        response.status().as_u16(),
        status,
        "status of a `{code}` answer"
    );
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(kind, "application/problem+json", "content type of {body}");
    assert_eq!(body["code"], code, "code of {body}");
    assert_eq!(body["status"], status);
    body
}
