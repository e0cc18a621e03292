//! Units of commands (`Domain::process_unit`): several commands on several streams decided in
//! order, each against the state the earlier ones left, and committed all together or not at
//! all; refusals of every kind, creates, repeats, limits and tenants. The concurrency cases are
//! in [`unit_concurrency`](super::unit_concurrency).

use std::sync::Arc;

use fluvius_core::{
    AggRoot, Backend, Command, Domain, Error, MAX_UNIT_COMMANDS, Response, idempotency_key,
};
use serde_json::json;
use uuid::Uuid;

use crate::domain::{self, Account, Customer, rules};
use crate::support::{
    account, assert_log_unchanged, assert_no_record, command, deposit, global_log, open_account,
    tenant,
};

/// Runs a unit that must commit.
pub(crate) async fn unit(domain: &Domain, commands: Vec<Command>) -> Vec<Response> {
    let n = commands.len();
    domain
        .process_unit(commands)
        .await
        .unwrap_or_else(|err| panic!("a unit of {n} commands failed: {err}"))
}

/// Runs a unit that must fail; returns its error.
pub(crate) async fn unit_fails(domain: &Domain, commands: Vec<Command>) -> Error {
    match domain.process_unit(commands).await {
        Ok(responses) => panic!(
            "the unit should have failed, but committed versions {:?}",
            responses.iter().map(|r| r.version).collect::<Vec<_>>()
        ),
        Err(err) => err,
    }
}

/// Asserts a unit error names command `index` with `key`, and returns the command's own error.
pub(crate) fn failed_at(err: &Error, index: usize, key: &str) -> Error {
    match err {
        Error::UnitCommand {
            index: i,
            command,
            error,
            ..
        } if *i == index && command == key => {
            assert!(
                err.to_string().contains(&format!("command {index} ")),
                "the message names the command's index: {err}"
            );
            (**error).clone()
        }
        other => panic!("expected command {index} (`{key}`) of the unit to fail, got: {other}"),
    }
}

pub(crate) fn deposit_cmd(domain: &Domain, id: &str, amount: i64) -> Command {
    command(
        domain,
        "deposit",
        json!({"amount": amount}),
        ("account", id),
    )
}

pub(crate) fn withdraw_cmd(domain: &Domain, id: &str, amount: i64) -> Command {
    command(
        domain,
        "withdraw",
        json!({"amount": amount}),
        ("account", id),
    )
}

pub(crate) fn transfer(domain: &Domain, from: &str, to: &str, amount: i64) -> Vec<Command> {
    vec![
        withdraw_cmd(domain, from, amount),
        deposit_cmd(domain, to, amount),
    ]
}

pub(crate) fn balance(response: &Response) -> i64 {
    response.state::<Account>().expect("account state").balance
}

/// Asserts that an account's stream is versions 1..=head without a gap.
pub(crate) async fn assert_gapless(domain: &Domain, id: &str) -> u64 {
    let versions: Vec<u64> = domain
        .statemgr()
        .history("account", id)
        .await
        .expect("history")
        .iter()
        .map(|e| e.version)
        .collect();
    let head = versions.len() as u64;
    assert_eq!(versions, (1..=head).collect::<Vec<_>>(), "gapless `{id}`");
    head
}

/// A transfer commits both commands in one commit; a transfer whose second command breaks a
/// rule writes neither, and the domain's cache still holds the committed heads.
pub async fn transfer_is_all_or_nothing(backend: Arc<dyn Backend>) {
    let bank = domain::domain(backend.clone());
    open_account(&bank, "a", "ann", 100).await;
    open_account(&bank, "b", "bob", 0).await;
    let before = global_log(&backend).await.len();

    let moved = unit(&bank, transfer(&bank, "a", "b", 30)).await;
    assert_eq!(moved.len(), 2);
    assert_eq!((moved[0].version, balance(&moved[0])), (2, 70));
    assert_eq!((moved[1].version, balance(&moved[1])), (2, 30));
    assert_eq!(moved[0].root, AggRoot::new("account", "a"));
    assert_eq!(moved[0].events[0].evt_key, "money-withdrawn");
    assert_eq!(moved[1].events[0].evt_key, "deposit-made");
    assert_eq!(
        moved[0].cursor.tx(),
        moved[1].cursor.tx(),
        "one commit: both events share the commit's order component"
    );
    assert!(moved[0].cursor < moved[1].cursor, "events in unit order");
    let log = global_log(&backend).await;
    assert_eq!(log.len(), before + 2);
    assert_eq!(log[before].event_id, moved[0].events[0].event_id);
    assert_eq!(log[before].position, moved[0].events[0].position);
    assert_eq!(log[before + 1].event_id, moved[1].events[0].event_id);

    // The first command would commit alone; the second breaks a rule: neither is written.
    let before = global_log(&backend).await;
    let mut broken = vec![deposit_cmd(&bank, "b", 50)];
    broken.push(withdraw_cmd(&bank, "a", 500));
    let err = unit_fails(&bank, broken).await;
    let cause = failed_at(&err, 1, "withdraw");
    assert_eq!(
        cause.to_string(),
        format!("rule broken: {}", rules::INSUFFICIENT_FUNDS)
    );
    assert_eq!(err.code(), "rule");
    assert!(
        err.to_string().contains("account/a"),
        "names the root: {err}"
    );
    assert_log_unchanged(&backend, &before, "a unit with a broken rule").await;
    assert_eq!(account(&bank, "a").await.balance, 70);
    assert_eq!(account(&bank, "b").await.balance, 30);
    // The cache kept the committed heads, not the refused unit's.
    assert_eq!(deposit(&bank, "b", 1).await.version, 3);
    assert_eq!(deposit(&bank, "a", 1).await.version, 3);
}

/// Every kind of refusal of a later command fails the whole unit, naming that command, and
/// writes nothing; an empty unit answers nothing.
pub async fn every_refusal_writes_nothing(backend: Arc<dyn Backend>) {
    let bank = domain::domain(backend.clone());
    open_account(&bank, "a", "ann", 100).await;
    open_account(&bank, "z", "zoe", 0).await;
    let close = command(
        &bank,
        "close-account",
        json!({"reason": "done"}),
        ("account", "z"),
    );
    bank.process_command(close).await.expect("close z");
    let before = global_log(&backend).await;

    let cases: Vec<(Command, &str, &str)> = vec![
        (
            command(
                &bank,
                "deposit",
                json!({"amount": "lots"}),
                ("account", "a"),
            ),
            "deposit",
            "validation",
        ),
        (
            command(
                &bank,
                "open-account",
                json!({"owner": "ann", "initial": 1, "tags": []}),
                ("account", "a"),
            ),
            "open-account",
            "already-exists",
        ),
        (deposit_cmd(&bank, "ghost", 1), "deposit", "not-found"),
        (deposit_cmd(&bank, "z", 1), "deposit", "not-found"),
        (
            command(
                &bank,
                "explode",
                json!({"message": "boom"}),
                ("account", "a"),
            ),
            "explode",
            "action-panicked",
        ),
        (
            deposit_cmd(&bank, "a", 1).expect_version(1),
            "deposit",
            "version-conflict",
        ),
        (deposit_cmd(&bank, "a", -1), "deposit", "rule"),
        // A command of another domain: its key is unknown here.
        (
            crate::ledger::domain_v1(backend.clone())
                .create_command("credit", json!({"amount": 1}), ("ledger", "l"))
                .expect("a ledger command"),
            "credit",
            "unknown-command",
        ),
    ];
    for (bad, key, code) in cases {
        let id = Uuid::now_v7();
        let first = deposit_cmd(&bank, "a", 5).with_id(id);
        let err = unit_fails(&bank, vec![first, bad]).await;
        let cause = failed_at(&err, 1, key);
        assert_eq!(cause.code(), code, "{key}: {cause}");
        assert_eq!(err.code(), code);
        if code == "action-panicked" {
            assert!(
                cause.to_string().contains("boom"),
                "the panic is named: {cause}"
            );
        }
        assert_no_record(&backend, "", id, code).await;
    }
    assert_log_unchanged(&backend, &before, "refused units").await;
    assert_eq!(account(&bank, "a").await.balance, 100);
    assert!(unit(&bank, Vec::new()).await.is_empty(), "an empty unit");
    assert_log_unchanged(&backend, &before, "an empty unit").await;
    // The stream works on as if nothing was tried.
    assert_eq!(deposit(&bank, "a", 1).await.version, 2);
}

/// Commands on one stream chain: each sees the events of the ones before it, versions continue,
/// and each answers its own state.
pub async fn same_stream_chains(backend: Arc<dyn Backend>) {
    let bank = domain::domain(backend.clone());
    open_account(&bank, "a", "ann", 100).await;
    open_account(&bank, "b", "bob", 0).await;
    // The withdrawal of 110 is covered only by the deposit before it.
    let chain = vec![
        deposit_cmd(&bank, "a", 10),
        deposit_cmd(&bank, "b", 1),
        withdraw_cmd(&bank, "a", 110),
        command(
            &bank,
            "deposit-many",
            json!({"amounts": [1, 2]}),
            ("account", "a"),
        ),
        command(&bank, "tag", json!({"tag": "vip"}), ("account", "a")).expect_version(5),
    ];
    let answers = unit(&bank, chain).await;
    let seen: Vec<(u64, i64, usize)> = answers
        .iter()
        .map(|r| (r.version, balance(r), r.events.len()))
        .collect();
    assert_eq!(
        seen,
        vec![(2, 110, 1), (2, 1, 1), (3, 0, 1), (5, 3, 2), (6, 3, 1)]
    );
    let versions: Vec<u64> = answers[3].events.iter().map(|e| e.version).collect();
    assert_eq!(versions, vec![4, 5]);
    assert_eq!(assert_gapless(&bank, "a").await, 6);
    assert_eq!(
        account(&bank, "a").await.tags,
        vec!["vip".to_owned()],
        "the last command of the chain is stored"
    );

    // A refusal caused by an earlier command of the unit: the first withdrawal empties it.
    let before = global_log(&backend).await;
    let err = unit_fails(
        &bank,
        vec![withdraw_cmd(&bank, "a", 3), withdraw_cmd(&bank, "a", 1)],
    )
    .await;
    failed_at(&err, 1, "withdraw");
    assert_log_unchanged(
        &backend,
        &before,
        "a chain refused by its own first command",
    )
    .await;
}

/// Creates inside a unit: a new root can be created and acted on in one unit; a second create
/// of it, or an update before its create, fails the unit.
pub async fn creates_in_a_unit(backend: Arc<dyn Backend>) {
    let bank = domain::domain(backend.clone());
    let open = command(
        &bank,
        "open-account",
        json!({"owner": "nia", "initial": 5, "tags": []}),
        AggRoot::generate("account"),
    );
    let id = open.root().id.clone();
    let register = command(
        &bank,
        "register",
        json!({"name": "Nia", "email": null, "tier": "gold"}),
        ("customer", "nia"),
    );
    let answers = unit(&bank, vec![open, deposit_cmd(&bank, &id, 7), register]).await;
    assert_eq!(answers[0].root.id, id);
    assert_eq!((answers[0].version, balance(&answers[0])), (1, 5));
    assert_eq!((answers[1].version, balance(&answers[1])), (2, 12));
    assert_eq!(answers[2].version, 1);
    assert_eq!(account(&bank, &id).await.balance, 12);
    let nia: Customer = bank.statemgr().fetch("customer", "nia").await.expect("nia");
    assert_eq!(nia.tier, "gold");

    let before = global_log(&backend).await;
    let twice = |bank: &Domain| {
        command(
            bank,
            "open-account",
            json!({"owner": "two", "initial": 1, "tags": []}),
            ("account", "twice"),
        )
    };
    let err = unit_fails(&bank, vec![twice(&bank), twice(&bank)]).await;
    assert_eq!(failed_at(&err, 1, "open-account").code(), "already-exists");
    let err = unit_fails(
        &bank,
        vec![deposit_cmd(&bank, "later", 1), {
            command(
                &bank,
                "open-account",
                json!({"owner": "l", "initial": 1, "tags": []}),
                ("account", "later"),
            )
        }],
    )
    .await;
    assert_eq!(failed_at(&err, 0, "deposit").code(), "not-found");
    assert_log_unchanged(&backend, &before, "refused creates").await;
}

/// Commands with ids: a repeat of a committed unit answers every recorded response and writes
/// nothing; a unit mixing committed and new commands, or reusing an id for another command, is
/// refused; a refused unit records nothing.
pub async fn unit_replay(backend: Arc<dyn Backend>) {
    let bank = domain::domain(backend.clone());
    open_account(&bank, "a", "ann", 100).await;
    open_account(&bank, "b", "bob", 0).await;
    let (one, two) = (Uuid::now_v7(), Uuid::now_v7());
    let with_ids = |bank: &Domain, amount: i64| {
        let mut commands = transfer(bank, "a", "b", amount);
        commands[0] = withdraw_cmd(bank, "a", amount).with_id(one);
        commands[1] = deposit_cmd(bank, "b", amount).with_id(two);
        commands
    };
    let first = unit(&bank, with_ids(&bank, 25)).await;
    assert!(first.iter().all(|r| !r.replayed));
    for id in [one, two] {
        let record = backend
            .idempotency("", idempotency_key(domain::NAMESPACE, id))
            .await
            .expect("read the record");
        assert!(record.is_some(), "each command of the unit is recorded");
    }
    deposit(&bank, "a", 1).await;
    let before = global_log(&backend).await;

    let cold = domain::domain(backend.clone());
    for (who, domain) in [("the same domain", &bank), ("another domain", &cold)] {
        let again = unit(domain, with_ids(domain, 25)).await;
        for (a, b) in first.iter().zip(&again) {
            assert!(b.replayed, "{who}: replayed");
            assert_eq!(
                (b.command_id, b.version),
                (a.command_id, a.version),
                "{who}"
            );
            assert_eq!(b.events, a.events, "{who}: the recorded events");
            assert_eq!(b.state_json().unwrap(), a.state_json().unwrap(), "{who}");
        }
    }
    // One command of the unit alone is a repeat too.
    let alone = bank
        .process_command(deposit_cmd(&bank, "b", 25).with_id(two))
        .await
        .expect("a repeat of one command of the unit");
    assert!(alone.replayed);
    assert_log_unchanged(&backend, &before, "repeated units").await;

    let three = Uuid::now_v7();
    let mixed = vec![
        withdraw_cmd(&bank, "a", 25).with_id(one),
        deposit_cmd(&bank, "b", 25).with_id(three),
    ];
    let err = unit_fails(&bank, mixed).await;
    assert!(
        matches!(err, Error::InvalidUnit { index: Some(1), .. }),
        "a unit mixing committed and new commands: {err}"
    );
    let reused = vec![
        deposit_cmd(&bank, "b", 1).with_id(three),
        withdraw_cmd(&bank, "a", 99).with_id(one),
    ];
    let err = unit_fails(&bank, reused).await;
    assert_eq!(failed_at(&err, 1, "withdraw").code(), "duplicate-command");
    let refused = vec![
        deposit_cmd(&bank, "b", 1).with_id(three),
        withdraw_cmd(&bank, "a", 10_000),
    ];
    unit_fails(&bank, refused).await;
    assert_no_record(&backend, "", three, "a refused unit").await;
    assert_log_unchanged(&backend, &before, "refused repeats").await;
}

/// The limits of a unit: at most `MAX_UNIT_COMMANDS` commands, each with its own id.
pub async fn unit_limits(backend: Arc<dyn Backend>) {
    let bank = domain::domain(backend.clone());
    for i in 0..4 {
        open_account(&bank, &format!("l{i}"), "lim", 0).await;
    }
    let before = global_log(&backend).await;
    let many = |n: usize| -> Vec<Command> {
        (0..n)
            .map(|i| deposit_cmd(&bank, &format!("l{}", i % 4), 1))
            .collect()
    };
    let err = unit_fails(&bank, many(MAX_UNIT_COMMANDS + 1)).await;
    assert!(
        matches!(err, Error::InvalidUnit { index: None, .. }),
        "an oversized unit: {err}"
    );
    assert!(
        err.to_string().contains(&MAX_UNIT_COMMANDS.to_string()),
        "{err}"
    );
    assert_eq!(err.code(), "invalid-unit");

    let id = Uuid::now_v7();
    let same_id = vec![
        deposit_cmd(&bank, "l0", 1).with_id(id),
        deposit_cmd(&bank, "l1", 1).with_id(id),
    ];
    let err = unit_fails(&bank, same_id).await;
    assert!(
        matches!(err, Error::InvalidUnit { index: Some(1), .. }),
        "one id twice: {err}"
    );
    assert_log_unchanged(&backend, &before, "units over the limits").await;
    assert_no_record(&backend, "", id, "one id twice").await;

    let full = unit(&bank, many(MAX_UNIT_COMMANDS)).await;
    assert_eq!(full.len(), MAX_UNIT_COMMANDS);
    assert_eq!(
        full.last().map(|r| r.version),
        Some(1 + MAX_UNIT_COMMANDS as u64 / 4)
    );
    assert_eq!(
        global_log(&backend).await.len(),
        before.len() + MAX_UNIT_COMMANDS
    );
}

/// In a multi-tenant domain a unit commits within one tenant: a command of another tenant, or of
/// none, fails it; a single-tenant domain refuses a tenant.
pub async fn unit_tenancy(backend: Arc<dyn Backend>) {
    let bank = domain::multi_tenant_domain(backend.clone());
    let open = |t: &str, id: &str| {
        command(
            &bank,
            "open-account",
            json!({"owner": t, "initial": 10, "tags": []}),
            ("account", id),
        )
        .with_context(tenant(t))
    };
    let opened = unit(&bank, vec![open("t1", "a"), open("t1", "b")]).await;
    assert_eq!(opened.len(), 2);
    let before = global_log(&backend).await;
    let err = unit_fails(&bank, vec![open("t1", "c"), open("t2", "c")]).await;
    assert!(
        matches!(err, Error::InvalidUnit { index: Some(1), .. }),
        "two tenants: {err}"
    );
    let none = deposit_cmd(&bank, "a", 1).with_context(crate::support::ctx());
    let err = unit_fails(&bank, vec![none]).await;
    assert_eq!(failed_at(&err, 0, "deposit").code(), "missing-tenant");
    assert_log_unchanged(&backend, &before, "units across tenants").await;
    let t2 = bank.statemgr_for(&tenant("t2"));
    assert!(
        t2.fetch::<Account>("account", "a").await.is_err(),
        "t1's unit stays in t1"
    );

    let single = domain::domain(backend.clone());
    let err = unit_fails(
        &single,
        vec![deposit_cmd(&single, "a", 1).with_context(tenant("t1"))],
    )
    .await;
    assert_eq!(failed_at(&err, 0, "deposit").code(), "unexpected-tenant");
}
