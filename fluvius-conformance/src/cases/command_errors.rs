//! Rejected commands, part one: payload validation, broken rules and routing. Each error kind is
//! triggered, says exactly why, and writes nothing (invariant 3): no event, no state change, no
//! idempotency record.

use std::sync::Arc;

use fluvius_core::{Backend, DomainError, Error};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::domain::{self, Deposit, rules};
use crate::support::{
    self, account, assert_log_unchanged, assert_no_record, command, expect_err, fails, global_log,
    open_account,
};

fn validation(err: &Error) -> (&str, Option<&str>, &str) {
    match err {
        Error::Validation {
            command,
            field,
            message,
        } => (command.as_str(), field.as_deref(), message.as_str()),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

/// Payloads that do not match the action's parameters are refused, naming the field.
pub async fn validation_errors(backend: Arc<dyn Backend>) {
    let domain = domain::domain(backend.clone());
    open_account(&domain, "v-1", "vera", 10).await;
    let before = global_log(&backend).await;

    let cases: [(&str, Value, Option<&str>); 5] = [
        (
            "unknown field",
            json!({"amount": 5, "bogus": 1}),
            Some("bogus"),
        ),
        ("missing field", json!({}), Some("amount")),
        ("wrong type", json!({"amount": "five"}), Some("amount")),
        (
            "fraction for an integer",
            json!({"amount": 1.5}),
            Some("amount"),
        ),
        ("not an object", json!([5]), None),
    ];
    for (step, payload, field) in cases {
        let id = Uuid::now_v7();
        let cmd = command(&domain, "deposit", payload, ("account", "v-1")).with_id(id);
        let err = fails(&domain, cmd).await;
        let (key, named, message) = validation(&err);
        assert_eq!(key, "deposit", "{step}: the error names the command");
        assert_eq!(
            named, field,
            "{step}: the error names the field ({message})"
        );
        if let Some(field) = field {
            assert!(
                message.contains(&format!("`{field}`")),
                "{step}: the message names the field: {message}"
            );
        }
        assert_no_record(&backend, "", id, step).await;
    }

    // A creation payload with a nested wrong type names its path.
    let cmd = command(
        &domain,
        "open-account",
        json!({"owner": "x", "initial": 1, "tags": [1]}),
        ("account", "v-2"),
    );
    let err = fails(&domain, cmd).await;
    let (_, named, message) = validation(&err);
    assert_eq!(
        named,
        Some("tags[0]"),
        "the path of a wrong element is named"
    );
    assert_eq!(
        message, "field `tags[0]`: invalid type: integer `1`, expected a string",
        "and so does the message"
    );

    assert_log_unchanged(&backend, &before, "validation errors").await;
    assert_eq!(account(&domain, "v-1").await.balance, 10);
    assert_eq!(
        support::version(&domain, &support::ctx(), "account", "v-1").await,
        1
    );
    let missing = domain.statemgr().fetch_json("account", "v-2").await;
    assert!(expect_err(missing, "v-2 was never created").is_not_found());
}

/// A broken business rule is `Error::Rule` with the action's message and code; nothing is
/// written, not even part of a multi-event command.
pub async fn rule_broken(backend: Arc<dyn Backend>) {
    let domain = domain::domain(backend.clone());
    open_account(&domain, "r-1", "rita", 10).await;
    let before = global_log(&backend).await;

    let id = Uuid::now_v7();
    let withdraw = command(
        &domain,
        "withdraw",
        json!({"amount": 11}),
        ("account", "r-1"),
    )
    .with_id(id);
    let err = fails(&domain, withdraw).await;
    assert_eq!(
        err,
        Error::Rule(DomainError::new(rules::INSUFFICIENT_FUNDS).with_code("insufficient-funds"))
    );
    assert_no_record(&backend, "", id, "insufficient funds").await;

    let many = command(
        &domain,
        "deposit-many",
        json!({"amounts": [1, 2, 0]}),
        ("account", "r-1"),
    );
    let err = fails(&domain, many).await;
    assert_eq!(
        err,
        Error::Rule(DomainError::new(rules::NON_POSITIVE).with_code("non-positive-amount"))
    );

    let open = command(
        &domain,
        "open-account",
        json!({"owner": "neg", "initial": -1, "tags": []}),
        ("account", "r-2"),
    );
    let err = fails(&domain, open).await;
    assert_eq!(
        err,
        Error::Rule(DomainError::new(rules::NEGATIVE_OPENING).with_code("negative-opening"))
    );
    let register = command(
        &domain,
        "register",
        json!({"name": "Pat", "tier": "platinum"}),
        ("customer", "c-1"),
    );
    let err = fails(&domain, register).await;
    assert_eq!(
        err.to_string(),
        format!("rule broken: {}", rules::UNKNOWN_TIER)
    );

    assert_log_unchanged(&backend, &before, "broken rules").await;
    assert_eq!(
        account(&domain, "r-1").await.balance,
        10,
        "r-1 is untouched"
    );
    let history = domain.statemgr().history("account", "r-2").await;
    assert!(
        history
            .expect("the history of a root never written")
            .is_empty(),
        "r-2 has no history"
    );
    let customer = domain.statemgr().fetch_json("customer", "c-1").await;
    assert!(expect_err(customer, "c-1 does not exist").is_not_found());
}

/// Unknown commands and resources, actions on the wrong resource kind and empty identifiers are
/// refused when the command is built.
pub async fn routing_errors(backend: Arc<dyn Backend>) {
    let domain = domain::domain(backend.clone());
    support::run(
        &domain,
        "register",
        json!({"name": "Cy", "tier": "gold"}),
        ("customer", "cy"),
    )
    .await;
    let before = global_log(&backend).await;

    let err = expect_err(
        domain.create_command("teleport", json!({}), ("account", "a")),
        "unknown command",
    );
    assert_eq!(err, Error::UnknownCommand("teleport".into()));
    // `register_customer` is renamed `register`: the method name is no command key.
    let err = expect_err(
        domain.create_command("register-customer", json!({}), ("customer", "x")),
        "the method name of a renamed action",
    );
    assert_eq!(err, Error::UnknownCommand("register-customer".into()));
    assert!(domain.action("register").is_some_and(|a| a.creates));

    let err = expect_err(
        domain.create_command("deposit", json!({"amount": 1}), ("planet", "p")),
        "unknown resource",
    );
    assert_eq!(err, Error::UnknownResource("planet".into()));

    let forbidden = Error::ForbiddenResource {
        command: "deposit".into(),
        resource: "customer".into(),
        allowed: "account".into(),
    };
    let err = expect_err(
        domain.create_command("deposit", json!({"amount": 1}), ("customer", "cy")),
        "JSON command on the wrong resource kind",
    );
    assert_eq!(err, forbidden);
    let err = expect_err(
        domain.command(Deposit { amount: 1 }, ("customer", "cy")),
        "typed command on the wrong resource kind",
    );
    assert_eq!(err, forbidden);
    let err = expect_err(
        domain
            .execute(Deposit { amount: 1 }, ("customer", "cy"))
            .await,
        "executing on the wrong resource kind",
    );
    assert_eq!(err, forbidden);

    let err = expect_err(
        domain.create_command("deposit", json!({"amount": 1}), ("account", "")),
        "empty identifier",
    );
    assert!(
        matches!(&err, Error::Validation { command, field: None, .. } if command == "deposit"),
        "empty identifier: got {err:?}"
    );

    // A domain that cannot be assembled says so instead of misrouting later.
    let err = expect_err(
        fluvius_core::Domain::builder("")
            .aggregate(domain::Bank)
            .shared_backend(backend.clone())
            .finish(),
        "empty namespace",
    );
    assert!(matches!(err, Error::Config(_)), "empty namespace: {err:?}");
    let err = expect_err(
        fluvius_core::Domain::builder(domain::NAMESPACE)
            .shared_backend(backend.clone())
            .finish(),
        "no aggregate",
    );
    assert!(matches!(err, Error::Config(_)), "no aggregate: {err:?}");

    assert_log_unchanged(&backend, &before, "routing errors").await;
    let cy: Value = domain
        .statemgr()
        .fetch_json("customer", "cy")
        .await
        .expect("cy");
    assert_eq!(cy["tier"], json!("gold"));
}
