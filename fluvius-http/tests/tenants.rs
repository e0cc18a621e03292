//! Tenant walls over HTTP: two tenants use the same identifiers and the same `Idempotency-Key`,
//! and no answer of any route one of them calls holds a byte of the other (its name, its users,
//! its customers).

mod support;

use serde_json::json;
use support::{Server, start_saas};

/// A request as `tenant`'s teller and auditor; answers the status and the body.
async fn call(
    server: &Server,
    tenant: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
    key: Option<&str>,
) -> (u16, String) {
    let mut request = server
        .client
        .request(method, server.url(path))
        .header("x-tenant", tenant)
        .header("x-user", format!("tess-{tenant}"))
        .header("x-roles", "teller,auditor");
    if let Some(body) = body {
        request = request.json(&body);
    }
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let response = request.send().await.expect("a request");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a body"))
}

#[tokio::test]
async fn no_route_answers_with_the_other_tenants_data() {
    let server = start_saas().await;
    let tenants = ["acme", "globex"];
    for tenant in tenants {
        for id in ["a-1", "a-2"] {
            let open = json!({"customer_id": format!("cust-{tenant}"), "initial_balance": 100});
            let path = format!("/banking:open-account/account/{id}");
            let (status, _) = call(
                &server,
                tenant,
                reqwest::Method::POST,
                &path,
                Some(open),
                None,
            )
            .await;
            assert_eq!(status, 201, "{tenant} opens {id}");
        }
        // The same key in both tenants: two commands, each answered for its own tenant.
        let path = "/banking:deposit/account/a-1";
        for _ in 0..2 {
            let (status, _) = call(
                &server,
                tenant,
                reqwest::Method::POST,
                path,
                Some(json!({"amount": 7})),
                Some("same-key"),
            )
            .await;
            assert_eq!(status, 200, "{tenant} deposits with the shared key");
        }
        let unit = json!([
            {"command": "deposit", "resource": "account", "identifier": "a-1", "payload": {"amount": 1}},
            {"command": "deposit", "resource": "account", "identifier": "a-2", "payload": {"amount": 1}},
        ]);
        let (status, _) = call(
            &server,
            tenant,
            reqwest::Method::POST,
            "/banking:unit",
            Some(unit),
            None,
        )
        .await;
        assert_eq!(status, 200, "{tenant}'s unit");
    }
    let reads = [
        "/banking.account/a-1",
        "/banking.account/a-1?at=1",
        "/banking.account/a-1/history",
        "/banking.account/",
        "/banking.account/?query=%7B%22balance.gte%22%3A1%7D",
        "/_audit/banking",
        "/_audit/banking?format=jsonl",
        "/_audit/banking?format=csv",
    ];
    for (tenant, other) in [("acme", "globex"), ("globex", "acme")] {
        for path in reads {
            let (status, body) =
                call(&server, tenant, reqwest::Method::GET, path, None, None).await;
            assert_eq!(status, 200, "{tenant} GET {path}: {body}");
            assert!(
                body.contains(tenant) || path.contains("history") || path.ends_with("?at=1"),
                "{tenant} GET {path} shows its own data: {body}"
            );
            assert!(
                !body.contains(other),
                "{tenant} GET {path} holds `{other}`: {body}"
            );
        }
        let (status, body) = call(
            &server,
            tenant,
            reqwest::Method::GET,
            "/banking.account/a-1",
            None,
            None,
        )
        .await;
        assert_eq!(status, 200);
        let state: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(
            state["state"]["balance"], 108,
            "{tenant}: 100 + 7 once + 1: {body}"
        );
    }
}
