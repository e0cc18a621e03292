//! Reading back what was written: the global log in position order, and a record's bookkeeping
//! through `fetch_record` and `find`.

use std::sync::Arc;

use fluvius_core::{Backend, EventEnvelope, Record};
use serde_json::{Value, json};

use crate::domain::Account;
use crate::support::{self, clocked, global_log, ok, t, t0};

/// `read_all` returns the global log in position order, pages continue where they stop, and
/// positions increase across streams in commit order.
pub async fn read_all_in_position_order(backend: Arc<dyn Backend>) {
    let domain = crate::domain::domain(backend.clone());
    let before = global_log(&backend).await.len();
    let mut order = Vec::new();
    for round in 1..=3 {
        for id in ["r-a", "r-b", "r-c"] {
            if round == 1 {
                support::open_account(&domain, id, "owner", 0).await;
            } else {
                support::deposit(&domain, id, round).await;
            }
            order.push((id.to_owned(), round as u64));
        }
    }
    let log = global_log(&backend).await;
    let seen: Vec<(String, u64)> = log[before..]
        .iter()
        .map(|e| (e.identifier.clone(), e.version))
        .collect();
    assert_eq!(seen, order, "the global log is in commit order");
    assert!(
        log.windows(2).all(|w| w[0].position < w[1].position),
        "positions strictly increase"
    );

    let mut paged = Vec::new();
    let mut after = 0;
    loop {
        let page = backend.read_all(after, 2).await.expect("read_all page");
        assert!(
            page.len() <= 2,
            "read_all returned {} events for limit 2",
            page.len()
        );
        let Some(last) = page.last() else { break };
        after = last.position;
        paged.extend(page);
    }
    assert_eq!(paged, log, "pages of 2 concatenate to the whole log");

    let fourth = log[before + 3].position;
    let tail = backend.read_all(fourth, 100).await.expect("read_all tail");
    assert_eq!(
        tail,
        log[before + 4..].to_vec(),
        "read_all(after) starts after that position"
    );
    let past = backend.read_all(log[log.len() - 1].position, 100).await;
    assert_eq!(
        past.expect("read_all past the head"),
        Vec::<EventEnvelope>::new()
    );
}

/// A record's bookkeeping (version, timestamps, last user) is the same through `fetch_record`
/// and `find`, and matches the stream.
pub async fn record_bookkeeping(backend: Arc<dyn Backend>) {
    let (domain, clock) = clocked(&backend);
    support::open_account(&domain, "rec-1", "ann", 10).await;
    clock.advance(chrono::Duration::seconds(30));
    let command = support::command(
        &domain,
        "deposit",
        json!({"amount": 5}),
        ("account", "rec-1"),
    )
    .with_context(support::ctx().user("bob"));
    ok(&domain, command).await;

    let fetched: Record<Account> = domain
        .statemgr()
        .fetch_record("account", "rec-1")
        .await
        .expect("fetch_record rec-1");
    let found = domain
        .statemgr()
        .find::<Account>("account", &fluvius_core::Query::new())
        .await
        .expect("find accounts");
    assert_eq!(found.items.len(), 1);
    let listed = &found.items[0];
    let want = (2, false, t0(), t(30), Some("bob".to_owned()), 15);
    let from_find = (
        listed.version,
        listed.deleted,
        listed.created_at,
        listed.updated_at,
        listed.updated_by.clone(),
        listed.state.balance,
    );
    let from_fetch = (
        fetched.version,
        fetched.deleted,
        fetched.created_at,
        fetched.updated_at,
        fetched.updated_by.clone(),
        fetched.state.balance,
    );
    assert_eq!(
        from_find, want,
        "find: (version, deleted, created_at, updated_at, updated_by, balance)"
    );
    assert_eq!(
        from_fetch, want,
        "fetch_record: (version, deleted, created_at, updated_at, updated_by, balance)"
    );
    let json: Value = domain
        .statemgr()
        .fetch_json("account", "rec-1")
        .await
        .expect("fetch_json rec-1");
    assert_eq!(json["balance"], json!(15));
}
