//! Tenants are walls (invariant 8, decision D9): in a multi-tenant domain, every read and write is
//! scoped by the context's tenant, and the cases below try to cross them.

use std::sync::Arc;

use fluvius_core::{At, Backend, Error, Query};
use serde_json::{Value, json};

use crate::domain::{self, Account, Customer};
use crate::support::{self, assert_log_unchanged, expect_err, global_log, ok, tenant};

/// Tenant B cannot see tenant A's roots through fetch, find, history or time travel, cannot act
/// on them, and can own a root with the same identifier without touching A's.
pub async fn tenant_walls(backend: Arc<dyn Backend>) {
    let domain = domain::multi_tenant_domain(backend.clone());
    let (acme, globex) = (tenant("acme"), tenant("globex"));
    let as_tenant =
        |context: &fluvius_core::Context, key: &str, payload: Value, target: (&str, &str)| {
            domain
                .create_command(key, payload, target)
                .expect("command routes")
                .with_context(context.clone())
        };
    ok(
        &domain,
        as_tenant(
            &acme,
            "open-account",
            json!({"owner": "acme", "initial": 50, "tags": ["a"]}),
            ("account", "x"),
        ),
    )
    .await;
    ok(
        &domain,
        as_tenant(
            &acme,
            "register",
            json!({"name": "Ann", "tier": "gold", "city": "Paris"}),
            ("customer", "ann"),
        ),
    )
    .await;
    ok(
        &domain,
        as_tenant(&acme, "deposit", json!({"amount": 5}), ("account", "x")),
    )
    .await;
    let before = global_log(&backend).await;

    let not_found = |resource: &str, id: &str| Error::NotFound {
        resource: resource.into(),
        id: id.into(),
    };
    let b = domain.statemgr_for(&globex);
    for reads in [b.clone(), b.clone().with_deleted()] {
        let err = expect_err(reads.fetch::<Account>("account", "x").await, "fetch");
        assert_eq!(err, not_found("account", "x"), "B fetches A's account");
        let err = expect_err(reads.fetch_json("customer", "ann").await, "fetch_json");
        assert_eq!(err, not_found("customer", "ann"), "B fetches A's customer");
        let history = reads.history("account", "x").await.expect("history");
        assert!(history.is_empty(), "B reads A's history: {history:?}");
        let err = expect_err(
            reads
                .fetch_at::<Account>("account", "x", At::Version(1))
                .await,
            "fetch_at",
        );
        assert!(err.is_not_found(), "B travels in A's stream: {err:?}");
        for resource in ["account", "customer"] {
            let found = reads
                .find::<Value>(resource, &Query::new())
                .await
                .expect("find");
            assert_eq!(
                (found.items.len(), found.page.total),
                (0, 0),
                "B lists A's {resource}s"
            );
        }
        let filtered = reads
            .find::<Customer>("customer", &Query::new().filter(json!({"name": "Ann"})))
            .await
            .expect("filtered find");
        assert!(filtered.items.is_empty(), "B finds A's customer by name");
    }
    for (key, payload) in [
        ("deposit", json!({"amount": 1})),
        ("withdraw", json!({"amount": 1})),
        ("close-account", json!({"reason": "takeover"})),
    ] {
        let err = expect_err(
            domain
                .process_command(as_tenant(&globex, key, payload, ("account", "x")))
                .await,
            key,
        );
        assert_eq!(
            err,
            not_found("account", "x"),
            "B runs {key} on A's account"
        );
    }
    let err = expect_err(
        domain
            .process_command(as_tenant(
                &globex,
                "relocate",
                json!({"city": "Rome"}),
                ("customer", "ann"),
            ))
            .await,
        "relocate",
    );
    assert_eq!(err, not_found("customer", "ann"));
    assert_log_unchanged(&backend, &before, "B's attempts on A's roots").await;

    // Same identifier in B: a separate root, starting at version 1.
    let mine = ok(
        &domain,
        as_tenant(
            &globex,
            "open-account",
            json!({"owner": "globex", "initial": 9, "tags": []}),
            ("account", "x"),
        ),
    )
    .await;
    assert_eq!(mine.version, 1);
    assert_eq!(
        (
            mine.events[0].tenant.as_str(),
            mine.events[0].metadata.tenant.as_str()
        ),
        ("globex", "globex")
    );
    let next_a = ok(
        &domain,
        as_tenant(&acme, "deposit", json!({"amount": 1}), ("account", "x")),
    )
    .await;
    assert_eq!(next_a.version, 3, "A's stream continues at its own head");

    let a_state: Account = domain
        .statemgr_for(&acme)
        .fetch("account", "x")
        .await
        .expect("A's");
    let b_state: Account = domain
        .statemgr_for(&globex)
        .fetch("account", "x")
        .await
        .expect("B's");
    assert_eq!((a_state.owner.as_str(), a_state.balance), ("acme", 56));
    assert_eq!((b_state.owner.as_str(), b_state.balance), ("globex", 9));
    let a_history = domain
        .statemgr_for(&acme)
        .history("account", "x")
        .await
        .expect("A history");
    assert!(
        a_history
            .iter()
            .all(|e| e.tenant == "acme" && e.metadata.tenant == "acme")
    );
    assert_eq!(a_history.len(), 3);
    let b_list = domain
        .statemgr_for(&globex)
        .find::<Account>("account", &Query::new())
        .await
        .expect("B's list");
    assert_eq!(support::ids(&b_list), vec!["x"]);
    assert_eq!(b_list.items[0].state.owner, "globex");

    let log = global_log(&backend).await;
    let tenants: Vec<&str> = log.iter().map(|e| e.tenant.as_str()).collect();
    assert_eq!(tenants, vec!["acme", "acme", "acme", "globex", "acme"]);
}
