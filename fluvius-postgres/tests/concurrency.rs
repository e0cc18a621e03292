//! Two processes on one database: two `PgBackend`s with their own pools, each under its own
//! `Domain`, race on one stream. The stream lock and the version check must lose no update.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;

use fluvius_conformance::domain::{self, Account};
use fluvius_core::{Backend, Domain, StreamRange};
use serde_json::json;
use support::TestDb;

fn process(backend: fluvius_postgres::PgBackend) -> Domain {
    domain::builder(Arc::new(backend) as Arc<dyn Backend>)
        .max_retries(10_000)
        .finish()
        .expect("the test domain is well formed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_pools_race_on_one_stream_without_lost_updates() {
    let db = TestDb::create().await;
    let first = process(db.backend().await);
    let second = process(db.backend().await);
    let open = first
        .create_command(
            "open-account",
            json!({"owner": "race", "initial": 0, "tags": []}),
            ("account", "shared"),
        )
        .expect("open-account routes");
    first.process_command(open).await.expect("open the account");

    let per_process = 40;
    let mut tasks = Vec::new();
    for domain in [first.clone(), second.clone()] {
        for amount in 1..=per_process {
            let domain = domain.clone();
            tasks.push(tokio::spawn(async move {
                let cmd = domain
                    .create_command("deposit", json!({"amount": amount}), ("account", "shared"))
                    .expect("deposit routes");
                domain.process_command(cmd).await.map(|r| r.version)
            }));
        }
    }
    let mut versions = BTreeSet::new();
    for task in tasks {
        let version = task.await.expect("task").expect("every deposit commits");
        assert!(versions.insert(version), "version {version} given twice");
    }
    let head = 1 + 2 * per_process as u64;
    assert_eq!(versions, (2..=head).collect(), "one version per command");

    let want = 2 * per_process * (per_process + 1) / 2;
    for domain in [&first, &second] {
        let account: Account = domain
            .statemgr()
            .fetch("account", "shared")
            .await
            .expect("fetch");
        assert_eq!(account.balance, want, "no deposit is lost");
    }
    let key = fluvius_core::StreamKey {
        tenant: String::new(),
        namespace: domain::NAMESPACE.to_owned(),
        resource: "account".into(),
        id: "shared".into(),
    };
    let events = first
        .backend()
        .read_stream(&key, StreamRange::all())
        .await
        .expect("read the stream");
    let stream: Vec<u64> = events.iter().map(|e| e.version).collect();
    assert_eq!(stream, (1..=head).collect::<Vec<_>>(), "gapless versions");
    let log = support::whole_log(first.backend().as_ref()).await;
    let in_log: Vec<u64> = log.iter().map(|e| e.version).collect();
    assert_eq!(
        in_log, stream,
        "the global log holds the stream in version order"
    );
    let retries = first.stats().conflict_retries + second.stats().conflict_retries;
    assert!(
        retries > 0,
        "the two processes really raced (no conflict was retried)"
    );
}
