//! Optimistic concurrency (invariant 4): many tasks on one stream, and two domains on one store
//! behaving like two processes, lose no update and leave no gap.

use std::collections::BTreeSet;
use std::sync::Arc;

use fluvius_core::{Backend, Domain, Error};
use serde_json::json;

use crate::domain;
use crate::support::{
    self, account, assert_log_unchanged, command, deposit, fails, global_log, open_account,
};

/// Asserts the stream of an account is versions 1..=head without a gap, in the global log too.
async fn assert_gapless(domain: &Domain, backend: &Arc<dyn Backend>, id: &str, head: u64) {
    let history = domain
        .statemgr()
        .history("account", id)
        .await
        .expect("history of the raced account");
    let versions: Vec<u64> = history.iter().map(|e| e.version).collect();
    assert_eq!(
        versions,
        (1..=head).collect::<Vec<_>>(),
        "versions without gaps"
    );
    let in_log: Vec<u64> = global_log(backend)
        .await
        .iter()
        .filter(|e| e.resource == "account" && e.identifier == id)
        .map(|e| e.version)
        .collect();
    assert_eq!(
        in_log, versions,
        "the global log holds each version once, in order"
    );
}

async fn race(domains: Vec<Domain>, id: &'static str, tasks: i64) -> Vec<u64> {
    let mut handles = Vec::new();
    for amount in 1..=tasks {
        let domain = domains[(amount as usize) % domains.len()].clone();
        handles.push(tokio::spawn(async move {
            let cmd = domain
                .create_command("deposit", json!({"amount": amount}), ("account", id))
                .expect("deposit routes");
            domain.process_command(cmd).await
        }));
    }
    let mut versions = Vec::new();
    for (n, handle) in handles.into_iter().enumerate() {
        let response = handle
            .await
            .expect("the deposit task does not panic")
            .unwrap_or_else(|err| panic!("deposit #{} failed: {err}", n + 1));
        assert_eq!(response.events.len(), 1);
        assert_eq!(response.events[0].version, response.version);
        versions.push(response.version);
    }
    versions
}

/// 64 concurrent deposits on one root from one domain: the balance is exact, every command got
/// its own version, and the stream has no gap.
pub async fn concurrent_deposits_one_domain(backend: Arc<dyn Backend>) {
    let domain = domain::domain(backend.clone());
    open_account(&domain, "hot", "hot", 0).await;
    let tasks = 64;
    let versions = race(vec![domain.clone()], "hot", tasks).await;
    let distinct: BTreeSet<u64> = versions.iter().copied().collect();
    assert_eq!(
        distinct,
        (2..=tasks as u64 + 1).collect(),
        "one version per command"
    );
    assert_eq!(
        account(&domain, "hot").await.balance,
        tasks * (tasks + 1) / 2
    );
    assert_gapless(&domain, &backend, "hot", tasks as u64 + 1).await;
}

/// Two domains on one store race on one stream: each one's cache goes stale, conflicts are
/// retried against fresh state, and no update is lost.
pub async fn two_domains_race(backend: Arc<dyn Backend>) {
    let build = || {
        domain::builder(backend.clone())
            .max_retries(1000)
            .finish()
            .expect("the test domain is well formed")
    };
    let (first, second) = (build(), build());
    open_account(&first, "shared", "both", 0).await;
    // Warm both caches so each has a head to go stale.
    deposit(&first, "shared", 1000).await;
    deposit(&second, "shared", 1000).await;
    let tasks = 60;
    let versions = race(vec![first.clone(), second.clone()], "shared", tasks).await;
    let distinct: BTreeSet<u64> = versions.iter().copied().collect();
    let head = tasks as u64 + 3;
    assert_eq!(distinct, (4..=head).collect(), "one version per command");
    let want = 2000 + tasks * (tasks + 1) / 2;
    assert_eq!(account(&first, "shared").await.balance, want);
    assert_eq!(account(&second, "shared").await.balance, want);
    assert_gapless(&first, &backend, "shared", head).await;
}

/// A domain whose cached head is stale (another domain wrote since) retries its command against
/// the fresh stream: the write lands on the real head, with the other domain's update kept.
pub async fn stale_cache_retries(backend: Arc<dyn Backend>) {
    let first = domain::domain(backend.clone());
    let second = domain::domain(backend.clone());
    open_account(&first, "stale", "sam", 100).await;
    let warmed = deposit(&second, "stale", 10).await;
    assert_eq!(warmed.version, 2);
    let moved = deposit(&first, "stale", 20).await;
    assert_eq!(moved.version, 3, "first reloads after second's write");
    let retried = run_withdraw(&second, "stale", 30).await;
    assert_eq!(retried.version, 4, "second lands after first's write");
    assert_eq!(
        retried
            .state::<domain::Account>()
            .expect("account state")
            .balance,
        100,
        "the retry ran against fresh state (100 + 10 + 20 - 30)"
    );
    assert_eq!(account(&first, "stale").await.balance, 100);

    // A rule checked against stale state must see the fresh state: second thinks the balance is
    // 100, first empties it.
    run_withdraw(&first, "stale", 100).await;
    let refused = fails(
        &second,
        command(
            &second,
            "withdraw",
            json!({"amount": 50}),
            ("account", "stale"),
        ),
    )
    .await;
    assert_eq!(
        refused.to_string(),
        format!("rule broken: {}", domain::rules::INSUFFICIENT_FUNDS)
    );
    assert_gapless(&first, &backend, "stale", 5).await;
}

async fn run_withdraw(domain: &Domain, id: &str, amount: i64) -> fluvius_core::Response {
    support::run(
        domain,
        "withdraw",
        json!({"amount": amount}),
        ("account", id),
    )
    .await
}

/// With `expect_version`, a stale expectation fails at once (no retry) even across domains, and
/// an expectation that matches the store's head succeeds even when the domain's cache is stale.
pub async fn expect_version_across_domains(backend: Arc<dyn Backend>) {
    let first = domain::domain(backend.clone());
    let second = domain::domain(backend.clone());
    open_account(&first, "ifm", "ida", 0).await;
    deposit(&second, "ifm", 1).await; // second caches version 2
    deposit(&first, "ifm", 1).await; // the store moves to 3; second's cache is stale
    let before = global_log(&backend).await;

    let cmd =
        command(&second, "deposit", json!({"amount": 5}), ("account", "ifm")).expect_version(2);
    let err = fails(&second, cmd).await;
    assert_eq!(
        err,
        Error::VersionConflict {
            resource: "account".into(),
            id: "ifm".into(),
            expected: 2,
            actual: 3
        },
        "a stale If-Match fails at once, reporting the store's head"
    );
    assert_log_unchanged(&backend, &before, "stale expect_version").await;

    let third = domain::domain(backend.clone());
    deposit(&third, "ifm", 1).await; // the store moves to 4 behind both caches
    let cmd =
        command(&second, "deposit", json!({"amount": 5}), ("account", "ifm")).expect_version(4);
    let response = second
        .process_command(cmd)
        .await
        .unwrap_or_else(|err| panic!("expect_version(4) matches the store's head 4, but: {err}"));
    assert_eq!(response.version, 5);
    assert_eq!(account(&first, "ifm").await.balance, 8);
}
