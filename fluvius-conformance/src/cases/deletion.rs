//! Soft deletion: a deleted root leaves the current views but keeps its history.

use std::sync::Arc;

use fluvius_core::{At, Backend, Error, Query, Record};
use serde_json::json;

use crate::domain::{self, Account};
use crate::support::{
    self, assert_log_unchanged, command, expect_err, fails, global_log, open_account, run,
};

/// A deleted root vanishes from `fetch` and `find`, reappears with `with_deleted()`, refuses
/// commands as not found (creation as already existing), and keeps its history.
pub async fn soft_delete(backend: Arc<dyn Backend>) {
    let domain = domain::domain(backend.clone());
    open_account(&domain, "gone", "gil", 0).await;
    open_account(&domain, "kept", "kim", 5).await;
    let refused = fails(
        &domain,
        command(
            &domain,
            "close-account",
            json!({"reason": "r"}),
            ("account", "kept"),
        ),
    )
    .await;
    assert_eq!(
        refused.to_string(),
        format!("rule broken: {}", domain::rules::NOT_EMPTY)
    );
    let closed = run(
        &domain,
        "close-account",
        json!({"reason": "moved"}),
        ("account", "gone"),
    )
    .await;
    assert_eq!(
        (closed.version, closed.events[0].evt_key.as_str()),
        (2, "account-closed")
    );

    let not_found = Error::NotFound {
        resource: "account".into(),
        id: "gone".into(),
    };
    let reads = domain.statemgr();
    assert_eq!(
        expect_err(reads.fetch::<Account>("account", "gone").await, "fetch"),
        not_found
    );
    assert_eq!(
        expect_err(reads.fetch_json("account", "gone").await, "fetch_json"),
        not_found
    );
    let listed = reads
        .find::<Account>("account", &Query::new())
        .await
        .expect("find");
    assert_eq!(
        support::ids(&listed),
        vec!["kept"],
        "find skips deleted roots"
    );
    assert_eq!(listed.page.total, 1);

    let with_deleted = reads.clone().with_deleted();
    let record: Record<Account> = with_deleted
        .fetch_record("account", "gone")
        .await
        .expect("with_deleted fetches a deleted root");
    assert_eq!(
        (record.version, record.deleted, record.state.closed),
        (2, true, true)
    );
    let all = with_deleted
        .find::<Account>("account", &Query::new())
        .await
        .expect("find with deleted");
    assert_eq!(support::ids(&all), vec!["gone", "kept"]);
    assert_eq!(
        all.items.iter().map(|r| r.deleted).collect::<Vec<_>>(),
        vec![true, false]
    );
    let before_delete = with_deleted
        .fetch_at::<Account>("account", "gone", At::Version(1))
        .await
        .expect("time travel before the deletion");
    assert!(!before_delete.state.closed);
    assert_eq!((before_delete.version, before_delete.deleted), (1, false));
    // The past is read as it was: at the deleting version the root is there, marked deleted,
    // whether or not the reader asks for deleted roots.
    for reads in [domain.statemgr(), with_deleted.clone()] {
        let at_delete = reads
            .fetch_at::<Account>("account", "gone", At::Version(2))
            .await
            .expect("time travel to the deletion");
        assert_eq!((at_delete.version, at_delete.deleted), (2, true));
        assert!(at_delete.state.closed);
        let json = reads
            .fetch_at_json("account", "gone", At::Version(2))
            .await
            .expect("time travel to the deletion as JSON");
        assert!(json.deleted && json.state["closed"] == json!(true));
    }

    let before = global_log(&backend).await;
    for (key, payload) in [
        ("deposit", json!({"amount": 1})),
        ("close-account", json!({"reason": "again"})),
        ("tag", json!({"tag": "x"})),
    ] {
        let err = fails(&domain, command(&domain, key, payload, ("account", "gone"))).await;
        assert_eq!(err, not_found, "{key} on a deleted root");
    }
    let reopen = command(
        &domain,
        "open-account",
        json!({"owner": "gil", "initial": 0, "tags": []}),
        ("account", "gone"),
    );
    let err = fails(&domain, reopen).await;
    assert_eq!(
        err,
        Error::AlreadyExists {
            resource: "account".into(),
            id: "gone".into()
        }
    );
    assert_log_unchanged(&backend, &before, "commands on a deleted root").await;

    let history = reads
        .history("account", "gone")
        .await
        .expect("history survives deletion");
    let keys: Vec<&str> = history.iter().map(|e| e.evt_key.as_str()).collect();
    assert_eq!(keys, vec!["account-opened", "account-closed"]);
    let cold = domain::domain(backend);
    let err = expect_err(
        cold.statemgr().fetch_json("account", "gone").await,
        "cold fetch",
    );
    assert_eq!(err, not_found, "a fresh domain sees the deletion too");
}
