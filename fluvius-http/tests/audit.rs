//! The audit log over HTTP: every attempt a request makes is recorded with the caller, its
//! tenant and `http` as transport (refusals before a command exists included), and
//! `GET /_audit/<namespace>` reports the caller's tenant only, to auditors only, as a page, JSON
//! lines or CSV.

mod support;

use serde_json::{Value, json};
use support::{Server, problem, start_saas};

async fn post_as(server: &Server, who: (&str, &str, &str), path: &str, body: Value) -> u16 {
    let (tenant, user, roles) = who;
    server
        .client
        .post(server.url(path))
        .header("x-tenant", tenant)
        .header("x-user", user)
        .header("x-roles", roles)
        .json(&body)
        .send()
        .await
        .expect("POST")
        .status()
        .as_u16()
}

async fn get_as(server: &Server, who: (&str, &str, &str), path: &str) -> reqwest::Response {
    let (tenant, user, roles) = who;
    server
        .client
        .get(server.url(path))
        .header("x-tenant", tenant)
        .header("x-user", user)
        .header("x-roles", roles)
        .send()
        .await
        .expect("GET")
}

/// Opens an account of `c-ada` in `tenant` and runs one attempt of each kind on it.
async fn attempts(server: &Server, tenant: &str) -> String {
    let teller = (tenant, "tess", "teller");
    let ada = (tenant, "c-ada", "");
    let response = server
        .client
        .post(server.url("/banking:open-account/account/:new"))
        .header("x-tenant", tenant)
        .header("x-user", "tess")
        .header("x-roles", "teller")
        .json(&json!({"customer_id": "c-ada", "initial_balance": 100}))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.expect("JSON");
    let id = body["root"]["id"].as_str().expect("an id").to_owned();
    let deposit = format!("/banking:deposit/account/{id}");
    let withdraw = format!("/banking:withdraw/account/{id}");
    assert_eq!(
        post_as(server, teller, &deposit, json!({"amount": 5})).await,
        200
    );
    assert_eq!(
        post_as(server, teller, &withdraw, json!({"amount": 5})).await,
        403
    );
    assert_eq!(
        post_as(server, ada, &withdraw, json!({"amount": 5000})).await,
        422
    );
    assert_eq!(
        post_as(server, teller, &deposit, json!({"amount": "x"})).await,
        422
    );
    assert_eq!(
        post_as(server, ada, "/banking:levitate/account/x", json!({})).await,
        404
    );
    id
}

#[tokio::test]
async fn every_http_attempt_is_in_the_audit_log() {
    let server = start_saas().await;
    let id = attempts(&server, "acme").await;
    attempts(&server, "globex").await;

    let auditor = ("acme", "audrey", "auditor");
    let response = get_as(&server, auditor, "/_audit/banking?sort=id").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("JSON");
    let records = body["data"].as_array().expect("records");
    let seen: Vec<(&str, &str)> = records
        .iter()
        .map(|r| {
            (
                r["command"].as_str().unwrap_or_default(),
                r["outcome"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("open-account", "accepted"),
            ("deposit", "accepted"),
            ("withdraw", "denied"),
            ("withdraw", "refused"),
            ("deposit", "invalid"),
            ("levitate", "invalid"),
        ]
    );
    assert!(
        records.iter().all(|r| r["tenant"] == "acme"),
        "only acme's records"
    );
    assert!(records.iter().all(|r| r["transport"] == "http"));
    assert_eq!(records[0]["policies"], json!(["tellers-onboard"]));
    assert_eq!(records[2]["user"], "tess");
    assert_eq!(records[3]["identifier"], id.as_str());
    assert_eq!(body["pagination"]["total"], 6);

    let denials = get_as(
        &server,
        auditor,
        "/_audit/banking?query=%7B%22outcome%22%3A%22denied%22%7D&format=csv",
    )
    .await;
    assert_eq!(denials.status(), 200);
    assert!(
        denials.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/csv")
    );
    let csv = denials.text().await.expect("CSV");
    let rows: Vec<&str> = csv.split("\r\n").filter(|r| !r.is_empty()).collect();
    assert_eq!(rows.len(), 2, "a header and acme's one denial: {csv}");
    assert!(rows[1].contains(",denied,forbidden,"), "{}", rows[1]);

    let lines = get_as(&server, auditor, "/_audit/banking?format=jsonl").await;
    let text = lines.text().await.expect("JSON lines");
    assert_eq!(text.lines().count(), 6);
    for line in text.lines() {
        let record: Value = serde_json::from_str(line).expect("each line is JSON");
        assert_eq!(record["tenant"], "acme");
    }
}

#[tokio::test]
async fn the_audit_log_is_for_auditors_and_well_formed_queries() {
    let server = start_saas().await;
    attempts(&server, "acme").await;
    let teller = get_as(&server, ("acme", "tess", "teller"), "/_audit/banking").await;
    problem(teller, 403, "forbidden").await;
    let auditor = ("acme", "audrey", "auditor");
    let bad = get_as(
        &server,
        auditor,
        "/_audit/banking?query=%7B%22balance%22%3A1%7D",
    )
    .await;
    problem(bad, 400, "invalid-query").await;
    let format = get_as(&server, auditor, "/_audit/banking?format=xml").await;
    problem(format, 400, "invalid-parameter").await;
    let unknown = get_as(&server, auditor, "/_audit/nowhere").await;
    problem(unknown, 404, "unknown-namespace").await;
    let other = get_as(&server, ("initech", "audrey", "auditor"), "/_audit/banking").await;
    let body: Value = other.json().await.expect("JSON");
    assert_eq!(
        body["pagination"]["total"], 0,
        "another tenant sees none of acme's records"
    );
}

#[tokio::test]
async fn a_unit_refused_before_it_runs_is_recorded() {
    let server = start_saas().await;
    let teller = ("acme", "tess", "teller");
    let items = json!([
        {"command": "open-account", "resource": "account", "identifier": ":new",
         "payload": {"customer_id": "c-ada", "initial_balance": 100}},
        {"command": "levitate", "resource": "account", "identifier": "a-9", "payload": {}},
    ]);
    let status = post_as(&server, teller, "/banking:unit", items).await;
    assert_eq!(status, 404, "an unknown command in a unit");
    let auditor = ("acme", "audrey", "auditor");
    let body: Value = get_as(&server, auditor, "/_audit/banking")
        .await
        .json()
        .await
        .expect("JSON");
    let records = body["data"].as_array().expect("records");
    assert_eq!(
        records.len(),
        1,
        "the failing item, as nothing ran: {records:?}"
    );
    assert_eq!(records[0]["command"], "levitate");
    assert_eq!(records[0]["identifier"], "a-9");
    assert_eq!(records[0]["outcome"], "invalid");
    assert_eq!(records[0]["code"], "unknown-command");
}
