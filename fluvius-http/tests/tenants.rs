//! Tenant walls over HTTP, by example and by generated histories: two tenants use the same
//! identifiers and the same `Idempotency-Key`s,
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

/// One generated request on root `r-<root>`.
#[derive(Debug, Clone)]
enum Op {
    Open {
        root: u8,
    },
    Deposit {
        root: u8,
        amount: u16,
        key: Option<u8>,
    },
    Withdraw {
        root: u8,
        amount: u16,
    },
    Unit {
        first: u8,
        second: u8,
        amount: u16,
    },
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        (0u8..3).prop_map(|root| Op::Open { root }),
        (0u8..3, 1u16..500, proptest::option::of(0u8..3))
            .prop_map(|(root, amount, key)| Op::Deposit { root, amount, key }),
        (0u8..3, 1u16..500).prop_map(|(root, amount)| Op::Withdraw { root, amount }),
        (0u8..3, 0u8..3, 1u16..50).prop_map(|(first, second, amount)| Op::Unit {
            first,
            second,
            amount
        }),
    ]
}

/// Runs `op` as `tenant`'s teller; answers the status and body.
async fn apply(server: &Server, tenant: &str, op: &Op) -> (u16, String) {
    let post = reqwest::Method::POST;
    match op {
        Op::Open { root } => {
            let open = json!({"customer_id": format!("cust-{tenant}"), "initial_balance": 100});
            let path = format!("/banking:open-account/account/r-{root}");
            call(server, tenant, post, &path, Some(open), None).await
        }
        Op::Deposit { root, amount, key } => {
            let path = format!("/banking:deposit/account/r-{root}");
            let key = key.map(|k| format!("key-{k}"));
            let body = Some(json!({"amount": amount}));
            call(server, tenant, post, &path, body, key.as_deref()).await
        }
        Op::Withdraw { root, amount } => {
            // A teller is not the owner: the policy denies it (or the root is missing).
            let path = format!("/banking:withdraw/account/r-{root}");
            let body = Some(json!({"amount": amount}));
            call(server, tenant, post, &path, body, None).await
        }
        Op::Unit {
            first,
            second,
            amount,
        } => {
            let unit = json!([
                {"command": "deposit", "resource": "account", "identifier": format!("r-{first}"), "payload": {"amount": amount}},
                {"command": "deposit", "resource": "account", "identifier": format!("r-{second}"), "payload": {"amount": amount}},
            ]);
            call(server, tenant, post, "/banking:unit", Some(unit), None).await
        }
    }
}

/// Generated histories over HTTP: two tenants send the same requests (same identifiers, same
/// `Idempotency-Key`s), and no answer of a write or of any read route holds the other tenant's
/// name; both end with the same balances, as their histories are the same.
#[tokio::test]
async fn generated_histories_stay_walled_over_http() {
    use proptest::strategy::{Strategy, ValueTree};
    const CASES: u32 = 16;
    let server = start_saas().await;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut statuses = std::collections::BTreeSet::new();
    for case in 0..CASES {
        let ops = proptest::collection::vec(op(), 1..12)
            .new_tree(&mut runner)
            .expect("a history")
            .current();
        let tenants = [format!("h{case}-acme"), format!("h{case}-globex")];
        for op in &ops {
            let answers = [
                apply(&server, &tenants[0], op).await,
                apply(&server, &tenants[1], op).await,
            ];
            statuses.insert(answers[0].0);
            assert_eq!(
                answers[0].0, answers[1].0,
                "case {case}: the same request, the same status: {op:?} {answers:?}"
            );
            for (n, (_, body)) in answers.iter().enumerate() {
                let other = &tenants[1 - n];
                assert!(
                    !body.contains(other.as_str()),
                    "case {case}: {op:?} answered `{}` with `{other}`: {body}",
                    tenants[n]
                );
            }
        }
        let mut balances = Vec::new();
        for (n, tenant) in tenants.iter().enumerate() {
            let other = &tenants[1 - n];
            let mut paths = vec![
                "/banking.account/".to_owned(),
                "/banking.account/?query=%7B%22balance.gte%22%3A1%7D".to_owned(),
                "/_audit/banking".to_owned(),
                "/_audit/banking?format=jsonl".to_owned(),
                "/_audit/banking?format=csv".to_owned(),
            ];
            for root in 0..3 {
                paths.push(format!("/banking.account/r-{root}"));
                paths.push(format!("/banking.account/r-{root}?at=1"));
                paths.push(format!("/banking.account/r-{root}/history"));
            }
            let mut seen = Vec::new();
            for path in &paths {
                let (status, body) =
                    call(&server, tenant, reqwest::Method::GET, path, None, None).await;
                assert!(
                    !body.contains(other.as_str()),
                    "case {case}: `{tenant}` GET {path} ({status}) holds `{other}`: {body}"
                );
                let is_state =
                    path.contains("/r-") && !path.contains('?') && !path.ends_with("history");
                if is_state {
                    let state: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                    seen.push((status, state["state"]["balance"].clone()));
                }
            }
            balances.push(seen);
        }
        assert_eq!(
            balances[0], balances[1],
            "case {case}: the same history, the same balances\nops: {ops:?}"
        );
    }
    // The histories reached acceptances, creations, policy denials and missing roots.
    for status in [200, 201, 403, 404] {
        assert!(
            statuses.contains(&status),
            "no answer {status} in {statuses:?}"
        );
    }
}
