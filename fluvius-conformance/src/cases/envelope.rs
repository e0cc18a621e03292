//! Appending and reading events: every field of the envelope (invariant 1), the audit trail and
//! the global log.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use fluvius_core::{Backend, Context, EventEnvelope};
use serde_json::json;
use uuid::Uuid;

use crate::domain::NAMESPACE;
use crate::support::{clocked, global_log, ok, t, t0};

/// Every envelope field is filled as the command and its context say, in responses, in
/// `history` and in the global log alike.
pub async fn envelope_fields(backend: Arc<dyn Backend>) {
    let (domain, clock) = clocked(&backend);
    let correlation = Uuid::now_v7();
    let context = Context::new()
        .user("alice")
        .correlation_id(correlation)
        .time(t(-3600))
        .header("request-id", "r-1");

    let open_id = Uuid::now_v7();
    let open = domain
        .create_command(
            "open-account",
            json!({"owner": "alice", "initial": 100, "tags": ["new"]}),
            ("account", "acc-1"),
        )
        .expect("open-account routes to account")
        .with_id(open_id)
        .with_context(context.clone());
    let opened = ok(&domain, open).await;

    clock.advance(chrono::Duration::seconds(1));
    let register = domain
        .create_command(
            "register",
            json!({"name": "Alice", "tier": "gold", "city": "Paris"}),
            ("customer", "cus-1"),
        )
        .expect("register routes to customer")
        .with_context(context.clone().causation_id(open_id));
    let register_id = register.id();
    let registered = ok(&domain, register).await;

    clock.advance(chrono::Duration::seconds(1));
    let many = domain
        .create_command(
            "deposit-many",
            json!({"amounts": [5, 7]}),
            ("account", "acc-1"),
        )
        .expect("deposit-many routes to account")
        .with_context(context.clone().user("bob"));
    let many_id = many.id();
    let deposited = ok(&domain, many).await;

    clock.advance(chrono::Duration::seconds(1));
    let relocate = domain
        .create_command("relocate", json!({"city": "Lyon"}), ("customer", "cus-1"))
        .expect("relocate routes to customer")
        .with_context(context.clone());
    let relocate_id = relocate.id();
    let relocated = ok(&domain, relocate).await;

    assert_eq!(
        (
            opened.version,
            registered.version,
            deposited.version,
            relocated.version
        ),
        (1, 1, 3, 2)
    );

    let headers = BTreeMap::from([("request-id".to_owned(), "r-1".to_owned())]);
    // (resource, id, version, evt_key, schema version, payload, command, user, causation, recorded_at)
    let expected = [
        (
            "account",
            "acc-1",
            1,
            "account-opened",
            1,
            json!({"owner": "alice", "initial": 100, "tags": ["new"], "opened_at": t(-3600)}),
            "open-account",
            "alice",
            open_id,
            t0(),
        ),
        (
            "customer",
            "cus-1",
            1,
            "customer-registered",
            1,
            json!({"name": "Alice", "email": null, "tier": "gold", "city": "Paris"}),
            "register",
            "alice",
            register_id,
            t(1),
        ),
        (
            "account",
            "acc-1",
            2,
            "deposit-made",
            1,
            json!({"amount": 5}),
            "deposit-many",
            "bob",
            many_id,
            t(2),
        ),
        (
            "account",
            "acc-1",
            3,
            "deposit-made",
            1,
            json!({"amount": 7}),
            "deposit-many",
            "bob",
            many_id,
            t(2),
        ),
        (
            "customer",
            "cus-1",
            2,
            "customer-relocated",
            2,
            json!({"city": "Lyon"}),
            "relocate",
            "alice",
            relocate_id,
            t(3),
        ),
    ];

    let log = global_log(&backend).await;
    assert_eq!(
        log.len(),
        expected.len(),
        "the global log holds every event once"
    );
    let mut last_position = 0;
    let mut event_ids = HashSet::new();
    for (event, want) in log.iter().zip(&expected) {
        let (resource, id, version, evt_key, schema, payload, key, user, causation, at) = want;
        let at_event = format!("{resource}/{id} v{version}");
        assert!(!event.event_id.is_nil(), "{at_event}: event id is nil");
        assert!(
            event_ids.insert(event.event_id),
            "{at_event}: event id reused"
        );
        assert_eq!(
            event.tenant, "",
            "{at_event}: tenant of a single-tenant domain"
        );
        assert_eq!(event.namespace, NAMESPACE, "{at_event}: namespace");
        assert_eq!(event.resource, *resource, "{at_event}: resource");
        assert_eq!(event.identifier, *id, "{at_event}: identifier");
        assert_eq!(event.version, *version, "{at_event}: version");
        assert_eq!(event.evt_key, *evt_key, "{at_event}: evt_key");
        assert_eq!(event.schema_version, *schema, "{at_event}: schema version");
        assert_eq!(event.payload, *payload, "{at_event}: payload");
        assert_eq!(event.metadata.command, *key, "{at_event}: metadata.command");
        assert_eq!(
            event.metadata.user.as_deref(),
            Some(*user),
            "{at_event}: user"
        );
        assert_eq!(event.metadata.tenant, "", "{at_event}: metadata.tenant");
        assert_eq!(
            event.metadata.correlation_id, correlation,
            "{at_event}: correlation id"
        );
        assert_eq!(
            event.metadata.causation_id, *causation,
            "{at_event}: causation = command id"
        );
        assert_eq!(event.metadata.time, t(-3600), "{at_event}: business time");
        assert_eq!(event.metadata.headers, headers, "{at_event}: headers");
        assert_eq!(
            event.recorded_at, *at,
            "{at_event}: recorded_at from the clock"
        );
        assert!(
            event.position > last_position,
            "{at_event}: position {} does not follow {last_position}",
            event.position
        );
        last_position = event.position;
    }

    // Responses carry the very events the log holds, positions included.
    let responded: Vec<EventEnvelope> = [&opened, &registered, &deposited, &relocated]
        .iter()
        .flat_map(|r| r.events.clone())
        .collect();
    let mut by_position = responded.clone();
    by_position.sort_by_key(|e| e.position);
    assert_eq!(by_position, log, "response events equal the stored events");

    let history = domain
        .statemgr()
        .history("account", "acc-1")
        .await
        .expect("history of acc-1");
    let stored: Vec<_> = log
        .iter()
        .filter(|e| e.resource == "account")
        .cloned()
        .collect();
    assert_eq!(
        history, stored,
        "history is the stream's events, oldest first"
    );
}
