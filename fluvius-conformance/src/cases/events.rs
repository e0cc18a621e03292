//! How many events a command writes: none for a no-op, several for a `Vec` action, all or
//! nothing (decision D4); and typed commands write exactly what JSON commands write (D2).

use std::sync::Arc;

use fluvius_core::Backend;
use serde_json::{Value, json};

use crate::domain::{self, Account, CloseAccount, DepositMany, OpenAccount, RegisterCustomer, Tag};
use crate::support::{
    self, account, assert_log_unchanged, command, fails, global_log, ok, open_account, run,
};

/// An `Option` action returning `None` and a `Vec` action returning nothing write nothing and
/// answer the current version and state.
pub async fn zero_events(backend: Arc<dyn Backend>) {
    let domain = domain::domain(backend.clone());
    open_account(&domain, "z", "zoe", 7).await;
    let tagged = run(&domain, "tag", json!({"tag": "vip"}), ("account", "z")).await;
    assert_eq!((tagged.events.len(), tagged.version), (1, 2));
    let before = global_log(&backend).await;

    let same = run(&domain, "tag", json!({"tag": "vip"}), ("account", "z")).await;
    assert_eq!(
        (same.events.len(), same.version, same.replayed),
        (0, 2, false)
    );
    let state = same.state::<Account>().expect("state");
    assert_eq!(
        (state.balance, state.tags.clone()),
        (7, vec!["vip".to_owned()])
    );
    let empty = run(
        &domain,
        "deposit-many",
        json!({"amounts": []}),
        ("account", "z"),
    )
    .await;
    assert_eq!((empty.events.len(), empty.version), (0, 2));

    assert_log_unchanged(&backend, &before, "actions without events").await;
    let record = domain
        .statemgr()
        .fetch_record::<Account>("account", "z")
        .await
        .expect("record");
    assert_eq!(record.version, 2);
    // The next event follows without a gap.
    assert_eq!(support::deposit(&domain, "z", 1).await.version, 3);
}

/// A `Vec` action writes its events with consecutive versions and positions in one command; a
/// rule broken by any of them writes none.
pub async fn many_events(backend: Arc<dyn Backend>) {
    // A manual clock: the response's events are compared with the stored ones, `recorded_at`
    // included, and whole seconds survive every store's timestamp precision.
    let (domain, _clock) = support::clocked(&backend);
    open_account(&domain, "n", "ned", 0).await;
    support::deposit(&domain, "n", 1).await;
    let response = run(
        &domain,
        "deposit-many",
        json!({"amounts": [10, 20, 30]}),
        ("account", "n"),
    )
    .await;
    let versions: Vec<u64> = response.events.iter().map(|e| e.version).collect();
    assert_eq!(versions, vec![3, 4, 5]);
    assert_eq!(response.version, 5);
    let payloads: Vec<&Value> = response.events.iter().map(|e| &e.payload).collect();
    assert_eq!(
        payloads,
        vec![
            &json!({"amount": 10}),
            &json!({"amount": 20}),
            &json!({"amount": 30})
        ]
    );
    let positions: Vec<u64> = response.events.iter().map(|e| e.position).collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "positions increase: {positions:?}"
    );
    assert_eq!(response.state::<Account>().expect("state").balance, 61);
    let causes: Vec<_> = response
        .events
        .iter()
        .map(|e| e.metadata.causation_id)
        .collect();
    assert_eq!(
        causes,
        vec![response.command_id; 3],
        "one command caused all three"
    );

    let history = domain
        .statemgr()
        .history("account", "n")
        .await
        .expect("history");
    assert_eq!(
        history[2..].to_vec(),
        response.events,
        "history holds the same events"
    );
    let before = global_log(&backend).await;
    let refused = command(
        &domain,
        "deposit-many",
        json!({"amounts": [5, -5]}),
        ("account", "n"),
    );
    fails(&domain, refused).await;
    assert_log_unchanged(&backend, &before, "a refused multi-event command").await;
    assert_eq!(account(&domain, "n").await.balance, 61);
}

/// Typed commands (generated payload types) and JSON commands write the same events and lead to
/// the same state.
pub async fn typed_and_json_agree(backend: Arc<dyn Backend>) {
    let domain = domain::domain(backend);
    let typed = [
        domain.command(
            OpenAccount {
                owner: "tara".into(),
                initial: 3,
                tags: vec!["t".into()],
            },
            ("account", "typed"),
        ),
        domain.command(Tag { tag: "u".into() }, ("account", "typed")),
        domain.command(
            DepositMany {
                amounts: vec![1, 2],
            },
            ("account", "typed"),
        ),
        domain.command(
            CloseAccount {
                reason: "done".into(),
            },
            ("account", "typed"),
        ),
    ];
    let json = [
        (
            "open-account",
            json!({"owner": "tara", "initial": 3, "tags": ["t"]}),
        ),
        ("tag", json!({"tag": "u"})),
        ("deposit-many", json!({"amounts": [1, 2]})),
        ("close-account", json!({"reason": "done"})),
    ];
    // Typed commands must close an empty account: withdraw what the deposits added first.
    let mut typed_responses = Vec::new();
    let mut json_responses = Vec::new();
    for (cmd, (key, payload)) in typed.into_iter().zip(json) {
        let cmd = cmd
            .expect("typed command routes")
            .with_context(support::ctx());
        if cmd.key() == "close-account" {
            run(
                &domain,
                "withdraw",
                json!({"amount": 6}),
                ("account", "typed"),
            )
            .await;
            run(
                &domain,
                "withdraw",
                json!({"amount": 6}),
                ("account", "json"),
            )
            .await;
        }
        typed_responses.push(ok(&domain, cmd).await);
        json_responses.push(run(&domain, key, payload, ("account", "json")).await);
    }
    for (t, j) in typed_responses.iter().zip(&json_responses) {
        let shape = |e: &fluvius_core::EventEnvelope| {
            (
                e.version,
                e.evt_key.clone(),
                e.schema_version,
                e.payload.clone(),
                e.metadata.command.clone(),
            )
        };
        let t_events: Vec<_> = t.events.iter().map(shape).collect();
        let j_events: Vec<_> = j.events.iter().map(shape).collect();
        assert_eq!(t_events, j_events, "typed and JSON events agree");
        assert_eq!(t.version, j.version);
        assert_eq!(
            t.state_json().expect("typed state"),
            j.state_json().expect("JSON state")
        );
    }
    let reads = domain.statemgr().with_deleted();
    let a: Account = reads
        .fetch("account", "typed")
        .await
        .expect("typed account");
    let b: Account = reads.fetch("account", "json").await.expect("JSON account");
    assert_eq!(a, b);
    assert_eq!((a.balance, a.tags.len(), a.closed), (0, 2, true));

    let executed = domain
        .execute(
            RegisterCustomer {
                name: "Tom".into(),
                email: None,
                tier: "gold".into(),
                city: Some("Rome".into()),
            },
            ("customer", "tom"),
        )
        .await
        .expect("execute a typed creation");
    assert_eq!(executed.events[0].metadata.command, "register");
    assert_eq!(
        executed.events[0].payload,
        json!({"name": "Tom", "email": null, "tier": "gold", "city": "Rome"})
    );
}
