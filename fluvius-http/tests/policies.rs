//! Policies over HTTP: the bank's Cedar policies decide with the caller's user and roles from
//! the trusted headers; a denied command is a 403 problem that wrote nothing, a root the caller
//! may not read is a 404, and lists hold only what the caller may see.

mod support;

use fluvius::prelude::*;
use fluvius_http::{Auth, HttpApi};
use serde_json::{Value, json};
use support::{Server, problem, serve};

async fn start() -> Server {
    let (domain, _engine) = example_bank::domain_with_policies(
        Domain::builder("banking"),
        &std::fs::read_to_string(example_bank::POLICY_FILE).expect("the policy file"),
    )
    .expect("the bank with policies builds");
    let api = HttpApi::builder()
        .domain(domain.clone())
        .auth(Auth::TrustedHeaders)
        .build()
        .expect("the API builds");
    serve(api, domain).await
}

async fn post_as(
    server: &Server,
    user: &str,
    roles: &str,
    path: &str,
    body: Value,
) -> reqwest::Response {
    server
        .client
        .post(server.url(path))
        .header("x-user", user)
        .header("x-roles", roles)
        .json(&body)
        .send()
        .await
        .expect("POST")
}

async fn get_as(server: &Server, user: &str, path: &str) -> reqwest::Response {
    server
        .client
        .get(server.url(path))
        .header("x-user", user)
        .send()
        .await
        .expect("GET")
}

async fn open(server: &Server, owner: &str) -> String {
    let body = json!({"customer_id": owner, "initial_balance": 100});
    let response = post_as(
        server,
        "tess",
        "teller",
        "/banking:open-account/account/:new",
        body,
    )
    .await;
    assert_eq!(response.status(), 201, "a teller opens an account");
    let body: Value = response.json().await.expect("JSON");
    body["root"]["id"].as_str().expect("an id").to_owned()
}

#[tokio::test]
async fn a_denied_command_is_a_403_that_writes_nothing() {
    let server = start().await;
    let id = open(&server, "c-ada").await;
    let deposit = format!("/banking:deposit/account/{id}");
    let withdraw = format!("/banking:withdraw/account/{id}");
    let response = post_as(&server, "tess", "teller", &deposit, json!({"amount": 5})).await;
    assert_eq!(response.status(), 200, "a teller deposits");

    let before = server.log_len().await;
    let denied = post_as(&server, "tess", "teller", &withdraw, json!({"amount": 5})).await;
    let body = problem(denied, 403, "forbidden").await;
    let detail = body["detail"].as_str().expect("a detail");
    assert!(
        detail.contains("withdraw") && detail.contains(&id),
        "{detail}"
    );
    let stranger = post_as(&server, "c-bob", "", &withdraw, json!({"amount": 5})).await;
    problem(stranger, 403, "forbidden").await;
    let anonymous = server.post(&withdraw, json!({"amount": 5})).await;
    problem(anonymous, 403, "forbidden").await;
    assert_eq!(server.log_len().await, before, "the denials wrote nothing");

    let owner = post_as(&server, "c-ada", "", &withdraw, json!({"amount": 5})).await;
    assert_eq!(owner.status(), 200, "the owner withdraws");
    assert_eq!(server.log_len().await, before + 1);
}

#[tokio::test]
async fn reads_show_only_what_the_caller_may_see() {
    let server = start().await;
    let ada = open(&server, "c-ada").await;
    let bob = open(&server, "c-bob").await;
    let one = get_as(&server, "c-ada", &format!("/banking.account/{ada}")).await;
    assert_eq!(one.status(), 200, "the owner reads her account");
    let other = get_as(&server, "c-ada", &format!("/banking.account/{bob}")).await;
    problem(other, 404, "not-found").await;

    let list = get_as(&server, "c-ada", "/banking.account/").await;
    assert_eq!(list.status(), 200);
    let body: Value = list.json().await.expect("JSON");
    let text = body.to_string();
    assert!(
        text.contains(&ada) && !text.contains(&bob),
        "the owner's list: {text}"
    );
    let staff = server
        .client
        .get(server.url("/banking.account/"))
        .header("x-user", "tess")
        .header("x-roles", "teller")
        .send()
        .await
        .expect("GET");
    let text = staff.text().await.expect("a body");
    assert!(
        text.contains(&ada) && text.contains(&bob),
        "a teller's list: {text}"
    );
}
