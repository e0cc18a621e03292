//! Rejected commands, part two: the root's existence and version. Creating an existing root,
//! acting on a missing one and a mismatched `expect_version` say why and write nothing.

use std::sync::Arc;

use fluvius_core::{Backend, Command, Domain, Error};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::domain;
use crate::support::{
    self, account, assert_log_unchanged, assert_no_record, command, expect_err, fails, global_log,
    open_account,
};

/// `open-account` with `payload` on account `id`.
fn open_command(domain: &Domain, payload: &Value, id: &str) -> Command {
    command(domain, "open-account", payload.clone(), ("account", id))
}

/// The error of creating account `id` when it exists.
fn exists(id: &str) -> Error {
    Error::AlreadyExists {
        resource: "account".into(),
        id: id.into(),
    }
}

/// Creating a root that exists is `AlreadyExists`, from a warm domain and from another one whose
/// cache believes the root does not exist yet.
pub async fn create_existing_root(backend: Arc<dyn Backend>) {
    let first = domain::domain(backend.clone());
    let second = domain::domain(backend.clone());
    // `second` looks at the root before it exists, so it caches "no stream".
    let early = fails(
        &second,
        command(&second, "deposit", json!({"amount": 1}), ("account", "dup")),
    )
    .await;
    assert!(early.is_not_found(), "deposit before creation: {early:?}");

    open_account(&first, "dup", "first", 1).await;
    let before = global_log(&backend).await;
    let again = json!({"owner": "second", "initial": 2, "tags": []});
    let err = fails(&first, open_command(&first, &again, "dup")).await;
    assert_eq!(err, exists("dup"), "same domain");
    let err = fails(&second, open_command(&second, &again, "dup")).await;
    assert_eq!(err, exists("dup"), "other domain with a stale cache");

    assert_log_unchanged(&backend, &before, "creating an existing root").await;
    let state = account(&first, "dup").await;
    assert_eq!((state.owner.as_str(), state.balance), ("first", 1));
}

/// A command creating a root the domain has not seen reads nothing before its commit, which
/// checks that the stream is new. When it is not (another domain created it), the commit is
/// refused, the domain reads the stream and decides again: `AlreadyExists`, nothing written, no
/// conflict retry counted, and the domain holds the stream as stored afterwards. A create its
/// own rules refuse commits nothing, so it reads the stream before it is answered.
pub async fn create_reads_nothing_first(backend: Arc<dyn Backend>) {
    let probe = crate::probe::ProbedBackend::new(backend.clone());
    let probed: Arc<dyn Backend> = probe.clone();
    let first = domain::domain(probed.clone());
    let second = domain::domain(probed);

    let opened = open_account(&first, "new", "first", 5).await;
    assert_eq!(opened.version, 1);
    assert_eq!(probe.state_reads(), 0, "creating a new root reads nothing");
    support::deposit(&first, "new", 1).await;
    assert_eq!(probe.state_reads(), 0, "the created root is held: no read");

    let before = global_log(&backend).await;
    let again = json!({"owner": "second", "initial": 7, "tags": []});
    let err = fails(&second, open_command(&second, &again, "new")).await;
    assert_eq!(
        err,
        exists("new"),
        "the commit found the stream; decided again on it"
    );
    assert_eq!(
        probe.state_reads(),
        1,
        "read once, after the refused commit"
    );
    assert_eq!(
        second.stats().conflict_retries,
        0,
        "a stream found to exist is no conflict retry"
    );
    assert_log_unchanged(&backend, &before, "creating a root another domain created").await;

    // A create that its own rules refuse is no exception: nothing is committed, so the stream
    // is read before the answer, which is the one the stored root gives.
    let broken = json!({"owner": "third", "initial": -5, "tags": []});
    let third = domain::domain(backend.clone());
    let err = fails(&third, open_command(&third, &broken, "new")).await;
    assert_eq!(err, exists("new"), "a refused create on an existing root");
    assert_log_unchanged(&backend, &before, "a refused create on an existing root").await;

    // The same with an explicit expected version 0.
    let fourth = domain::domain(backend.clone());
    let err = fails(
        &fourth,
        open_command(&fourth, &again, "new").expect_version(0),
    )
    .await;
    assert_eq!(err, exists("new"), "expected version 0 on a root at 2");
    assert_log_unchanged(&backend, &before, "expect_version(0) on an existing root").await;

    // `second` now holds the stream as stored: its next command lands on the real head.
    let moved = support::deposit(&second, "new", 10).await;
    assert_eq!(moved.version, 3);
    assert_eq!(
        probe.state_reads(),
        1,
        "no further read by the command pipeline"
    );
    assert_eq!(account(&first, "new").await.balance, 16);
}

/// Acting on a root that does not exist is `NotFound` and creates nothing.
pub async fn act_on_missing_root(backend: Arc<dyn Backend>) {
    let domain = domain::domain(backend.clone());
    let before = global_log(&backend).await;
    let id = Uuid::now_v7();
    let cmd = command(
        &domain,
        "deposit",
        json!({"amount": 5}),
        ("account", "ghost"),
    )
    .with_id(id);
    let err = fails(&domain, cmd).await;
    assert_eq!(
        err,
        Error::NotFound {
            resource: "account".into(),
            id: "ghost".into()
        }
    );
    assert_no_record(&backend, "", id, "missing root").await;
    assert_log_unchanged(&backend, &before, "acting on a missing root").await;
    let fetched = domain.statemgr().fetch_json("account", "ghost").await;
    assert!(expect_err(fetched, "ghost stays missing").is_not_found());
    let history = domain.statemgr().history("account", "ghost").await;
    assert_eq!(
        history.expect("the history of a missing root"),
        Vec::new(),
        "ghost has an empty history"
    );
}

/// `expect_version` that does not match the head fails at once with both versions, and writes
/// nothing; the matching one succeeds.
pub async fn expect_version_mismatch(backend: Arc<dyn Backend>) {
    let domain = domain::domain(backend.clone());
    open_account(&domain, "ev-1", "eve", 0).await;
    support::deposit(&domain, "ev-1", 1).await;
    let before = global_log(&backend).await;

    for stale in [0, 1, 3] {
        let cmd = command(
            &domain,
            "deposit",
            json!({"amount": 10}),
            ("account", "ev-1"),
        )
        .expect_version(stale);
        let err = fails(&domain, cmd).await;
        assert_eq!(
            err,
            Error::VersionConflict {
                resource: "account".into(),
                id: "ev-1".into(),
                expected: stale,
                actual: 2
            },
            "expect_version({stale})"
        );
    }
    assert_log_unchanged(&backend, &before, "expect_version mismatch").await;

    let cmd = command(
        &domain,
        "deposit",
        json!({"amount": 10}),
        ("account", "ev-1"),
    )
    .expect_version(2);
    let response = support::ok(&domain, cmd).await;
    assert_eq!(response.version, 3);
    assert_eq!(account(&domain, "ev-1").await.balance, 11);
}
