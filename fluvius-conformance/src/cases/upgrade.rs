//! Deploys over stored states (invariant 2, decision D10): a release that only adds an action
//! trusts the states stored before it; a release that changes what a state means (its
//! `state_version`) refolds each stale state once and writes it back, never over a concurrent
//! writer; and `refresh_states_all_tenants` brings a whole resource up to date so `find` is exact.

use std::sync::{Arc, Mutex};

use fluvius_core::{Backend, Error, Query, RefreshOptions, RefreshReport, StaleQuery};
use serde_json::{Value, json};

use crate::ledger::{self, Ledger};
use crate::probe::ProbedBackend;
use crate::support::{self, run};

/// Opens a ledger with v1 and credits each amount.
async fn open(domain: &fluvius_core::Domain, id: &str, credits: &[i64]) {
    run(domain, "open", json!({"owner": id}), ("ledger", id)).await;
    for amount in credits {
        run(domain, "credit", json!({"amount": amount}), ("ledger", id)).await;
    }
}

/// The stored state row of a ledger: version, digest and `total` as stored.
async fn stored(backend: &dyn Backend, id: &str) -> (u64, String, Value) {
    let row = backend
        .load_state(&ledger::key(id))
        .await
        .expect("load a state row")
        .unwrap_or_else(|| panic!("ledger {id} has a state row"));
    let state = row.state.to_json().expect("a state encodes");
    (row.version, row.digest, state["total"].clone())
}

/// A release with one more action reads, queries and continues the states the release before
/// stored, without folding a single stream.
pub async fn added_action_trusts_stored_states(backend: Arc<dyn Backend>) {
    let v1 = ledger::domain_v1(backend.clone());
    for (id, credit) in [("a-1", 5), ("a-2", 7), ("a-3", 9)] {
        open(&v1, id, &[credit]).await;
    }
    let probe = ProbedBackend::new(backend.clone());
    let v2 = ledger::domain_v2(probe.clone());
    assert_eq!(
        v1.state_digest("ledger").expect("digest"),
        v2.state_digest("ledger").expect("digest"),
        "adding an action changed the state digest"
    );
    let reads = v2.statemgr();
    for (id, total) in [("a-1", 5), ("a-2", 7), ("a-3", 9)] {
        let ledger: Ledger = reads.fetch("ledger", id).await.expect("fetch");
        assert_eq!(ledger.total, total, "fetch {id}");
    }
    let found = reads
        .find::<Ledger>("ledger", &Query::new().filter(json!({"total.gte": 7})))
        .await
        .expect("find");
    assert_eq!(found.page.total, 2);
    run(&v2, "debit", json!({"amount": 2}), ("ledger", "a-1")).await;
    let ledger: Ledger = reads.fetch("ledger", "a-1").await.expect("fetch");
    assert_eq!(ledger.total, 3);
    assert_eq!(
        probe.stream_reads(),
        0,
        "a release with one more action refolded states the release before stored"
    );
    assert_eq!(probe.rewrites(), 0, "no stored state was stale");
}

/// A release with another `state_version` refolds a stale state once, on a read or a command,
/// and writes it back: the next read trusts the row.
pub async fn changed_state_version_refolds_once(backend: Arc<dyn Backend>) {
    let v1 = ledger::domain_v1(backend.clone());
    open(&v1, "s-1", &[5, 7]).await;
    open(&v1, "s-2", &[1]).await;
    let probe = ProbedBackend::new(backend.clone());
    let v3 = ledger::domain_v3(probe.clone());
    let digest = v3.state_digest("ledger").expect("digest").to_owned();
    assert_ne!(v1.state_digest("ledger").expect("digest"), digest);
    let reads = v3.statemgr();

    let ledger: Ledger = reads.fetch("ledger", "s-1").await.expect("fetch");
    assert_eq!(
        ledger.total, 1200,
        "a stale state is refolded, never trusted"
    );
    assert_eq!(probe.stream_reads(), 1, "the first read folds the stream");
    assert_eq!(
        stored(backend.as_ref(), "s-1").await,
        (3, digest.clone(), json!(1200)),
        "the refolded state is written back with the current digest"
    );
    let again: Ledger = reads.fetch("ledger", "s-1").await.expect("fetch again");
    assert_eq!(again.total, 1200);
    assert_eq!(probe.stream_reads(), 1, "the second read trusts the row");

    // A command on a stale root folds it once too, and leaves a row the reads trust.
    run(&v3, "credit", json!({"amount": 2}), ("ledger", "s-2")).await;
    assert_eq!(probe.stream_reads(), 2, "the command folds the stale root");
    let ledger: Ledger = reads.fetch("ledger", "s-2").await.expect("fetch");
    assert_eq!(ledger.total, 300);
    assert_eq!(
        stored(backend.as_ref(), "s-2").await,
        (3, digest, json!(300))
    );
    assert_eq!(
        probe.stream_reads(),
        2,
        "the read after the command trusts the row"
    );
    let record = reads
        .fetch_record::<Ledger>("ledger", "s-1")
        .await
        .expect("fetch the record");
    assert_eq!((record.version, record.state.total), (3, 1200));
    assert_eq!(
        probe.stream_reads(),
        3,
        "a record reads only the first event, for its creator"
    );
}

/// `refresh_states_all_tenants` rewrites every stale state of a resource in batches, reporting progress,
/// after which `find` filters on what the states mean to the running release.
pub async fn refresh_states_makes_find_exact(backend: Arc<dyn Backend>) {
    let v1 = ledger::domain_v1(backend.clone());
    let credits = [
        ("r-1", 1),
        ("r-2", 2),
        ("r-3", 50),
        ("r-4", 150),
        ("r-5", 300),
    ];
    for (id, credit) in credits {
        open(&v1, id, &[credit]).await;
    }
    let v3 = ledger::domain_v3(backend.clone());
    let refused = v3
        .refresh_states_all_tenants("ledger", RefreshOptions::new().batch(0))
        .await;
    assert!(matches!(refused, Err(Error::Config(_))), "{refused:?}");

    let progress = Arc::new(Mutex::new(Vec::new()));
    let seen = progress.clone();
    let options = RefreshOptions::new()
        .batch(2)
        .on_batch(move |report: &RefreshReport| seen.lock().expect("lock").push(*report));
    let report = v3
        .refresh_states_all_tenants("ledger", options)
        .await
        .expect("refresh");
    assert_eq!(
        (
            report.scanned,
            report.refreshed,
            report.skipped,
            report.batches
        ),
        (5, 5, 0, 3)
    );
    let steps: Vec<_> = progress
        .lock()
        .expect("lock")
        .iter()
        .map(|r| (r.scanned, r.batches))
        .collect();
    assert_eq!(
        steps,
        [(2, 1), (4, 2), (5, 3)],
        "one progress report per batch"
    );

    let query = Query::new()
        .filter(json!({"total.gte": 1000}))
        .sort(["total.desc"]);
    let found = v3
        .statemgr()
        .find::<Ledger>("ledger", &query)
        .await
        .expect("find");
    let items: Vec<_> = found
        .items
        .iter()
        .map(|r| (r.id.as_str(), r.state.total))
        .collect();
    assert_eq!(items, [("r-5", 30_000), ("r-4", 15_000), ("r-3", 5_000)]);
    assert_eq!(found.page.total, 3);

    let again = v3
        .refresh_states_all_tenants("ledger", RefreshOptions::new())
        .await
        .expect("refresh again");
    assert_eq!(
        (again.scanned, again.batches),
        (0, 0),
        "nothing is stale any more"
    );
}

/// `refresh_states_all_tenants` covers every tenant, whatever the batch size: the pages follow
/// (tenant, identifier) order across the tenants' partitions.
pub async fn refresh_states_pages_across_tenants(backend: Arc<dyn Backend>) {
    let v1 = ledger::domain_v1_tenants(backend.clone());
    let roots = [
        ("t-b", "x-1", 3),
        ("t-a", "x-2", 2),
        ("t-a", "x-1", 1),
        ("t-c", "x-0", 4),
    ];
    for (tenant, id, credit) in roots {
        for (key, payload) in [
            ("open", json!({"owner": id})),
            ("credit", json!({"amount": credit})),
        ] {
            let command = v1
                .create_command(key, payload, ("ledger", id))
                .expect("a command")
                .with_context(support::tenant(tenant));
            support::ok(&v1, command).await;
        }
    }
    let v3 = ledger::domain_v3_tenants(backend.clone());
    let digest = v3.state_digest("ledger").expect("digest").to_owned();
    let listed = backend
        .stale_states(&StaleQuery::new(
            ledger::NAMESPACE,
            "ledger",
            digest.clone(),
            10,
        ))
        .await
        .expect("list the stale rows");
    let listed: Vec<_> = listed
        .iter()
        .map(|k| (k.tenant.as_str(), k.id.as_str()))
        .collect();
    assert_eq!(
        listed,
        [
            ("t-a", "x-1"),
            ("t-a", "x-2"),
            ("t-b", "x-1"),
            ("t-c", "x-0")
        ],
        "stale rows in (tenant, identifier) order"
    );
    for (after, limit, expected) in [
        (("t-a", "x-1"), 2, &[("t-a", "x-2"), ("t-b", "x-1")][..]),
        (("t-b", "x-1"), 10, &[("t-c", "x-0")][..]),
        (("t-c", "x-0"), 10, &[][..]),
    ] {
        let query = StaleQuery::new(ledger::NAMESPACE, "ledger", digest.clone(), limit)
            .after(after.0, after.1);
        let page = backend.stale_states(&query).await.expect("list a page");
        let page: Vec<_> = page
            .iter()
            .map(|k| (k.tenant.as_str(), k.id.as_str()))
            .collect();
        assert_eq!(page, expected, "the page after {after:?}");
    }

    let report = v3
        .refresh_states_all_tenants("ledger", RefreshOptions::new().batch(1))
        .await
        .expect("refresh");
    assert_eq!(
        (report.scanned, report.refreshed, report.batches),
        (4, 4, 4)
    );
    for (tenant, id, credit) in roots {
        let ledger: Ledger = v3
            .statemgr_for(&support::tenant(tenant))
            .fetch("ledger", id)
            .await
            .expect("fetch");
        assert_eq!(ledger.total, credit * 100, "{tenant}/{id}");
    }
    let left = backend
        .stale_states(&StaleQuery::new(ledger::NAMESPACE, "ledger", digest, 10))
        .await
        .expect("list the stale rows");
    assert!(left.is_empty(), "{left:?}");
}

/// Writing a refolded state back never overwrites a writer that committed meanwhile: its row is
/// kept, on a read and in `refresh_states_all_tenants` alike.
pub async fn write_back_keeps_concurrent_writer(backend: Arc<dyn Backend>) {
    let v1 = ledger::domain_v1(backend.clone());
    open(&v1, "w-1", &[5]).await;
    open(&v1, "w-2", &[1]).await;
    let v1_digest = v1.state_digest("ledger").expect("digest").to_owned();
    let probe = ProbedBackend::new(backend.clone());
    let v3 = ledger::domain_v3(probe.clone());
    let v3_digest = v3.state_digest("ledger").expect("digest").to_owned();

    let writer = v1.clone();
    probe.before_next_rewrite(Box::pin(async move {
        run(&writer, "credit", json!({"amount": 7}), ("ledger", "w-1")).await;
    }));
    let ledger: Ledger = v3.statemgr().fetch("ledger", "w-1").await.expect("fetch");
    assert_eq!(ledger.total, 500, "the read answers with its own fold");
    assert_eq!(
        stored(backend.as_ref(), "w-1").await,
        (3, v1_digest.clone(), json!(12)),
        "the writer's row is kept"
    );
    let ledger: Ledger = v3.statemgr().fetch("ledger", "w-1").await.expect("fetch");
    assert_eq!(ledger.total, 1200);
    assert_eq!(
        stored(backend.as_ref(), "w-1").await,
        (3, v3_digest, json!(1200))
    );

    let writer = v1.clone();
    probe.before_next_rewrite(Box::pin(async move {
        run(&writer, "credit", json!({"amount": 2}), ("ledger", "w-2")).await;
    }));
    let report = v3
        .refresh_states_all_tenants("ledger", RefreshOptions::new())
        .await
        .expect("refresh");
    assert_eq!(
        (report.scanned, report.refreshed, report.skipped),
        (1, 0, 1)
    );
    assert_eq!(
        stored(backend.as_ref(), "w-2").await,
        (3, v1_digest, json!(3)),
        "the writer's row is kept"
    );
}
