//! Idempotency (invariant 5, decision D6): a caller-supplied command id is recorded with a
//! fingerprint of the command, scoped by tenant; repeats answer the first response and write
//! nothing; the same id for another command is an error.

use std::sync::Arc;

use chrono::Duration;
use fluvius_core::{AggRoot, Backend, Domain, Error, Response, idempotency_key};
use serde_json::json;
use uuid::Uuid;

use crate::domain::{self, Account, Bank, Deposit, RegisterCustomer};
use crate::support::{
    self, account, assert_log_unchanged, clocked, command, fails, global_log, ok, open_account,
};

fn assert_replay_of(first: &Response, again: &Response, step: &str) {
    assert!(!first.replayed, "{step}: the first answer is not a replay");
    assert!(again.replayed, "{step}: the repeat is marked replayed");
    assert_eq!(again.command_id, first.command_id, "{step}: command id");
    assert_eq!(again.root, first.root, "{step}: root");
    assert_eq!(again.version, first.version, "{step}: version");
    assert_eq!(
        again.events, first.events,
        "{step}: events, positions included"
    );
    assert_eq!(
        again.state_json().expect("replayed state"),
        first.state_json().expect("first state"),
        "{step}: state"
    );
}

/// A repeat returns the first response (even after the stream moved on, from a cold domain, and
/// as a typed command with the same content) and writes nothing.
pub async fn repeat_returns_first_response(backend: Arc<dyn Backend>) {
    let (domain, _clock) = clocked(&backend);
    open_account(&domain, "idem", "ida", 100).await;
    let id = Uuid::now_v7();
    let deposit = || {
        command(
            &domain,
            "deposit",
            json!({"amount": 5}),
            ("account", "idem"),
        )
        .with_id(id)
    };
    let first = ok(&domain, deposit()).await;
    assert_eq!((first.version, first.events.len()), (2, 1));
    let before = global_log(&backend).await;

    let again = ok(&domain, deposit()).await;
    assert_replay_of(&first, &again, "immediate repeat");
    assert_log_unchanged(&backend, &before, "immediate repeat").await;

    support::deposit(&domain, "idem", 1).await;
    let before = global_log(&backend).await;
    let later = ok(&domain, deposit()).await;
    assert_replay_of(&first, &later, "repeat after the stream moved on");
    assert_eq!(later.state::<Account>().expect("state").balance, 105);

    let cold = domain::domain_with_clock(backend.clone(), support::clock());
    let from_cold = ok(
        &cold,
        command(&cold, "deposit", json!({"amount": 5}), ("account", "idem")).with_id(id),
    )
    .await;
    assert_replay_of(&first, &from_cold, "repeat from another domain");

    let typed = domain
        .command(Deposit { amount: 5 }, ("account", "idem"))
        .expect("typed deposit")
        .with_id(id);
    let typed = ok(&domain, typed).await;
    assert_replay_of(&first, &typed, "typed repeat of a JSON command");
    assert_log_unchanged(&backend, &before, "repeats after the stream moved on").await;
    assert_eq!(account(&domain, "idem").await.balance, 106);
}

/// The same id for a different command (payload, action or root) is `DuplicateCommand` and
/// writes nothing.
pub async fn same_id_other_command(backend: Arc<dyn Backend>) {
    let domain = domain::domain(backend.clone());
    open_account(&domain, "d-1", "dora", 100).await;
    open_account(&domain, "d-2", "dora", 100).await;
    let id = Uuid::now_v7();
    ok(
        &domain,
        command(&domain, "deposit", json!({"amount": 5}), ("account", "d-1")).with_id(id),
    )
    .await;
    let before = global_log(&backend).await;
    let duplicate = Error::DuplicateCommand { command_id: id };

    let others = [
        ("other payload", "deposit", json!({"amount": 6}), "d-1"),
        ("other action", "withdraw", json!({"amount": 5}), "d-1"),
        ("other root", "deposit", json!({"amount": 5}), "d-2"),
    ];
    for (step, key, payload, target) in others {
        let cmd = command(&domain, key, payload, ("account", target)).with_id(id);
        assert_eq!(fails(&domain, cmd).await, duplicate, "{step}");
    }
    assert_log_unchanged(&backend, &before, "duplicate command ids").await;
    assert_eq!(account(&domain, "d-1").await.balance, 105);
    assert_eq!(account(&domain, "d-2").await.balance, 100);
}

/// One id in two tenants is two commands; each tenant replays its own.
pub async fn id_scoped_by_tenant(backend: Arc<dyn Backend>) {
    let domain = domain::multi_tenant_domain_with_clock(backend.clone(), support::clock());
    let id = Uuid::now_v7();
    let open = |tenant: &str, initial: i64| {
        command(
            &domain,
            "open-account",
            json!({"owner": tenant, "initial": initial, "tags": []}),
            ("account", "same"),
        )
        .with_id(id)
        .with_context(support::tenant(tenant))
    };
    let acme = ok(&domain, open("acme", 1)).await;
    let globex = ok(&domain, open("globex", 2)).await;
    assert!(
        !acme.replayed && !globex.replayed,
        "two tenants, two commands"
    );
    assert_eq!(global_log(&backend).await.len(), 2);
    let before = global_log(&backend).await;
    let again = ok(&domain, open("acme", 1)).await;
    assert_replay_of(&acme, &again, "repeat in acme");
    let err = fails(&domain, open("globex", 3)).await;
    assert_eq!(
        err,
        Error::DuplicateCommand { command_id: id },
        "other payload in globex"
    );
    assert_log_unchanged(&backend, &before, "repeats per tenant").await;
    for (tenant, initial) in [("acme", 1), ("globex", 2)] {
        let state: Account = domain
            .statemgr_for(&support::tenant(tenant))
            .fetch("account", "same")
            .await
            .expect("each tenant has its account");
        assert_eq!((state.owner.as_str(), state.balance), (tenant, initial));
    }
}

/// A creation with a generated identifier, repeated with the same id, answers the first
/// identifier and creates nothing.
pub async fn generated_id_repeat(backend: Arc<dyn Backend>) {
    let (domain, _clock) = clocked(&backend);
    let id = Uuid::now_v7();
    let open = || {
        command(
            &domain,
            "open-account",
            json!({"owner": "gen", "initial": 3, "tags": []}),
            AggRoot::generate("account"),
        )
        .with_id(id)
    };
    let (one, two) = (open(), open());
    let second_target = two.root().id.clone();
    assert_ne!(
        one.root().id,
        second_target,
        "each command generates an identifier"
    );
    let first = ok(&domain, one).await;
    let before = global_log(&backend).await;
    let again = ok(&domain, two).await;
    assert_replay_of(&first, &again, "generated identifier");
    assert_log_unchanged(&backend, &before, "repeated creation").await;
    let created = domain
        .statemgr()
        .fetch::<Account>("account", &first.root.id)
        .await;
    assert_eq!(created.expect("the first identifier exists").balance, 3);
    let phantom = domain
        .statemgr()
        .fetch_json("account", &second_target)
        .await;
    assert!(
        phantom.is_err_and(|e| e.is_not_found()),
        "the second identifier was never created"
    );
}

/// Duplicates sent at once, through two domains, write exactly once; all answer the same.
pub async fn concurrent_duplicates(backend: Arc<dyn Backend>) {
    let first = domain::domain_with_clock(backend.clone(), support::clock());
    let second = domain::domain_with_clock(backend.clone(), support::clock());
    open_account(&first, "dd", "dan", 0).await;
    let id = Uuid::now_v7();
    let mut handles = Vec::new();
    for n in 0..16 {
        let domain = if n % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        handles.push(tokio::spawn(async move {
            let cmd = domain
                .create_command("deposit", json!({"amount": 7}), ("account", "dd"))
                .expect("deposit routes")
                .with_id(id);
            domain.process_command(cmd).await
        }));
    }
    let mut responses = Vec::new();
    for handle in handles {
        let response = handle.await.expect("task does not panic");
        responses.push(response.unwrap_or_else(|err| panic!("a duplicate failed: {err}")));
    }
    let originals: Vec<&Response> = responses.iter().filter(|r| !r.replayed).collect();
    assert_eq!(originals.len(), 1, "exactly one duplicate ran");
    for response in &responses {
        assert_eq!(response.version, 2);
        assert_eq!(response.events, originals[0].events);
    }
    assert_eq!(account(&first, "dd").await.balance, 7);
    assert_eq!(global_log(&backend).await.len(), 2);
}

/// A no-op command with an id is recorded too: its repeat is a replay with no event.
pub async fn noop_with_id(backend: Arc<dyn Backend>) {
    let domain = domain::domain(backend.clone());
    let open = json!({"owner": "nora", "initial": 0, "tags": ["vip"]});
    support::run(&domain, "open-account", open, ("account", "noop")).await;
    let before = global_log(&backend).await;
    let id = Uuid::now_v7();
    let tag = || command(&domain, "tag", json!({"tag": "vip"}), ("account", "noop")).with_id(id);
    let first = ok(&domain, tag()).await;
    assert_eq!(
        (first.events.len(), first.version, first.replayed),
        (0, 1, false)
    );
    let again = ok(&domain, tag()).await;
    assert_eq!(
        (again.events.len(), again.version, again.replayed),
        (0, 1, true)
    );
    let other = command(&domain, "tag", json!({"tag": "new"}), ("account", "noop")).with_id(id);
    assert_eq!(
        fails(&domain, other).await,
        Error::DuplicateCommand { command_id: id }
    );
    assert_log_unchanged(&backend, &before, "no-op with an id").await;
}

/// `purge_idempotency_all_tenants` removes the records older than an instant and only those; a purged id
/// is forgotten (its repeat runs again), a kept one still replays.
pub async fn purge_idempotency(backend: Arc<dyn Backend>) {
    let (domain, clock) = clocked(&backend);
    open_account(&domain, "p", "pam", 0).await;
    let (old, recent) = (Uuid::now_v7(), Uuid::now_v7());
    let deposit =
        |id| command(&domain, "deposit", json!({"amount": 1}), ("account", "p")).with_id(id);
    ok(&domain, deposit(old)).await;
    clock.advance(Duration::hours(1));
    ok(&domain, deposit(recent)).await;

    let removed = domain
        .purge_idempotency_all_tenants(support::t(1800))
        .await
        .expect("purge");
    assert_eq!(removed, 1, "only the record older than the cut-off goes");
    let key = |id| idempotency_key(domain::NAMESPACE, id);
    let gone = backend
        .idempotency("", key(old))
        .await
        .expect("read record");
    assert!(gone.is_none(), "the old record was purged");
    let kept = backend
        .idempotency("", key(recent))
        .await
        .expect("read record");
    let kept = kept.expect("the recent record is kept");
    assert_eq!(
        (kept.command_id, kept.to_version, kept.recorded_at),
        (key(recent), 3, support::t(3600))
    );
    assert_eq!(
        backend
            .purge_idempotency(support::t(1800))
            .await
            .expect("purge"),
        0
    );

    assert!(
        ok(&domain, deposit(recent)).await.replayed,
        "a kept id still replays"
    );
    let rerun = ok(&domain, deposit(old)).await;
    assert!(!rerun.replayed, "a purged id is a new command");
    assert_eq!(rerun.version, 4);
    assert_eq!(account(&domain, "p").await.balance, 3);
}

/// One id in two namespaces on one store is two commands: a domain is never told that a command
/// only another domain ran has succeeded.
pub async fn id_scoped_by_namespace(backend: Arc<dyn Backend>) {
    let here = domain::domain(backend.clone());
    let there = Domain::builder("elsewhere")
        .aggregate(Bank)
        .shared_backend(backend.clone())
        .finish()
        .expect("a second domain");
    let id = Uuid::now_v7();
    let open = |domain: &fluvius_core::Domain, initial: i64| {
        command(
            domain,
            "open-account",
            json!({"owner": "ann", "initial": initial, "tags": []}),
            ("account", "same"),
        )
        .with_id(id)
    };
    let first = ok(&here, open(&here, 1)).await;
    let second = ok(&there, open(&there, 2)).await;
    assert!(
        !first.replayed && !second.replayed,
        "the same id in another namespace is another command"
    );
    assert_eq!(global_log(&backend).await.len(), 2);
    let again = ok(&there, open(&there, 2)).await;
    assert_replay_of(&second, &again, "repeat in the second namespace");
    let state: Account = there
        .statemgr()
        .fetch("account", "same")
        .await
        .expect("the second domain's account");
    assert_eq!(state.balance, 2);
}

/// A typed command and a JSON one with the same content fingerprint alike, even when the JSON
/// leaves out an `Option` field the typed value carries as `None`.
pub async fn typed_and_json_fingerprint_alike(backend: Arc<dyn Backend>) {
    let domain = domain::domain(backend.clone());
    let id = Uuid::now_v7();
    let json_form = command(
        &domain,
        "register",
        json!({"name": "Ann", "tier": "gold"}),
        ("customer", "c-1"),
    )
    .with_id(id);
    let first = ok(&domain, json_form).await;
    let typed = domain
        .command(
            RegisterCustomer {
                name: "Ann".into(),
                email: None,
                tier: "gold".into(),
                city: None,
            },
            ("customer", "c-1"),
        )
        .expect("typed command")
        .with_context(support::ctx())
        .with_id(id);
    let again = ok(&domain, typed).await;
    assert_replay_of(&first, &again, "typed repeat of a JSON command");
}
