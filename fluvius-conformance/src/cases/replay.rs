//! State = fold of events (invariant 2): the stored state equals a replay of the stream, and a
//! domain with a cold cache reads and continues the same state.

use std::sync::Arc;

use fluvius_core::{At, Backend, Domain};
use serde_json::{Value, json};

use crate::domain::{self, Account, Address, Customer};
use crate::support::{self, run};

async fn mixed_history(domain: &Domain) {
    for (id, initial) in [("m-1", 100), ("m-2", 0), ("m-3", 42)] {
        let payload = json!({"owner": id, "initial": initial, "tags": ["base"]});
        run(domain, "open-account", payload, ("account", id)).await;
    }
    let steps = [
        ("deposit", json!({"amount": 50}), "m-1"),
        ("withdraw", json!({"amount": 30}), "m-1"),
        ("tag", json!({"tag": "vip"}), "m-1"),
        ("tag", json!({"tag": "vip"}), "m-1"), // no-op
        ("deposit-many", json!({"amounts": [1, 2, 3]}), "m-2"),
        ("withdraw", json!({"amount": 6}), "m-2"),
        ("tag", json!({"tag": "base"}), "m-3"), // no-op
        ("deposit-many", json!({"amounts": []}), "m-3"), // no-op
    ];
    for (key, payload, id) in steps {
        run(domain, key, payload, ("account", id)).await;
    }
    let register = json!({"name": "Ria", "email": "ria@x.io", "tier": "silver", "city": "Oslo"});
    run(domain, "register", register, ("customer", "m-c")).await;
    run(
        domain,
        "relocate",
        json!({"city": null}),
        ("customer", "m-c"),
    )
    .await;
    run(
        domain,
        "relocate",
        json!({"city": "Bergen"}),
        ("customer", "m-c"),
    )
    .await;
}

/// After a mix of commands, the state at the head version equals the current state, for typed
/// and JSON reads, and both equal the values worked out by hand.
pub async fn replay_equals_stored_state(backend: Arc<dyn Backend>) {
    let domain = domain::domain(backend);
    mixed_history(&domain).await;
    let reads = domain.statemgr();
    let expected = [
        ("m-1", 120, vec!["base", "vip"], 4),
        ("m-2", 0, vec!["base"], 5),
        ("m-3", 42, vec!["base"], 1),
    ];
    for (id, balance, tags, head) in expected {
        let now: Account = reads.fetch("account", id).await.expect("current state");
        assert_eq!(now.balance, balance, "{id}: balance");
        assert_eq!(now.tags, tags, "{id}: tags");
        assert_eq!(now.owner, id, "{id}: owner");
        assert_eq!(now.opened_at, Some(support::t0()), "{id}: opened_at");
        let record = reads
            .fetch_record::<Account>("account", id)
            .await
            .expect("record");
        assert_eq!(record.version, head, "{id}: head version");
        let replayed = reads
            .fetch_at::<Account>("account", id, At::Version(head))
            .await
            .expect("replay to the head");
        assert_eq!(
            replayed.state, now,
            "{id}: replay to the head equals the stored state"
        );
        assert_eq!(
            replayed, record,
            "{id}: the record at the head equals the current record"
        );
        let json_now: Value = reads.fetch_json("account", id).await.expect("json");
        let json_then = reads
            .fetch_at_json("account", id, At::Version(head))
            .await
            .expect("json replay")
            .state;
        assert_eq!(json_then, json_now, "{id}: JSON replay equals JSON state");
        assert_eq!(json_now, serde_json::to_value(&now).expect("state to JSON"));
    }
    let customer: Customer = reads.fetch("customer", "m-c").await.expect("customer");
    let want = Customer {
        name: "Ria".into(),
        email: Some("ria@x.io".into()),
        tier: "silver".into(),
        address: Some(Address {
            city: "Bergen".into(),
        }),
    };
    assert_eq!(customer, want);
    let replayed = reads
        .fetch_at::<Customer>("customer", "m-c", At::Version(3))
        .await
        .expect("customer replay")
        .state;
    assert_eq!(replayed, want);
}

/// A new domain on the same store (a cold cache, like a restarted process) reads the same
/// states and versions, and its next command continues each stream at the right version.
pub async fn cold_domain_reads_same(backend: Arc<dyn Backend>) {
    let warm = domain::domain(backend.clone());
    mixed_history(&warm).await;
    let cold = domain::domain(backend);
    for id in ["m-1", "m-2", "m-3"] {
        let a = warm
            .statemgr()
            .fetch_record::<Account>("account", id)
            .await
            .expect("warm read");
        let b = cold
            .statemgr()
            .fetch_record::<Account>("account", id)
            .await
            .expect("cold read");
        assert_eq!(
            (a.version, &a.state, a.created_at, a.updated_at),
            (b.version, &b.state, b.created_at, b.updated_at),
            "{id}: cold and warm domains read the same record"
        );
        let history_warm = warm
            .statemgr()
            .history("account", id)
            .await
            .expect("history");
        let history_cold = cold
            .statemgr()
            .history("account", id)
            .await
            .expect("history");
        assert_eq!(history_warm, history_cold, "{id}: same history");
    }
    let next = support::deposit(&cold, "m-1", 1).await;
    assert_eq!(next.version, 5, "the cold domain continues at the head");
    assert_eq!(next.state::<Account>().expect("state").balance, 121);
    let back = support::deposit(&warm, "m-1", 1).await;
    assert_eq!(
        back.version, 6,
        "the warm domain catches up with the cold one's write"
    );
    assert_eq!(support::account(&cold, "m-1").await.balance, 122);
    let relocated = run(
        &cold,
        "relocate",
        json!({"city": "Oslo"}),
        ("customer", "m-c"),
    )
    .await;
    assert_eq!(relocated.version, 4);
    let customer: Customer = warm
        .statemgr()
        .fetch("customer", "m-c")
        .await
        .expect("customer");
    assert_eq!(customer.address.map(|a| a.city).as_deref(), Some("Oslo"));
}
