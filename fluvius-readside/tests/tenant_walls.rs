//! Tenant walls on the read side: after the conformance suite's tenant property has written its
//! histories (two tenants per case with colliding identifiers and command ids), a tenant's
//! subscription, projection (built from the start of the log, as a rebuild is) and event
//! handler receive nothing of the other tenant, on memory, on PostgreSQL, and on PostgreSQL
//! behind row-level security with the backend's own tenant predicates removed. On PostgreSQL a
//! tenant's projection rebuilt into a new version (`PgRebuild`) holds nothing of the other.
//!
//! The outbox too: both tenants of each case send messages from commands with the same order
//! ids, command ids and ordering keys; a relay serving one tenant delivers its messages and
//! nothing of the other's, an operator's listing for one tenant shows only its messages, and a
//! message parked for one tenant does not hold up the other tenant's message of the same key.
//! Each tenant's inline row of the order is its own.

#![cfg(feature = "postgres")]

#[path = "../../fluvius-postgres/tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use fluvius_conformance::cases::tenant_property::{
    CASES, marker, tenants, tenants_never_see_each_other,
};
use fluvius_conformance::shop::{self, EMAIL, FEED};
use fluvius_conformance::support::command;
use fluvius_core::{
    Backend, BoxFuture, EventEnvelope, LogCursor, LogQuery, OutboxEntry, OutboxQuery,
};
use fluvius_memory::MemBackend;
use fluvius_readside::postgres::{PgProjection, PgRebuild};
use fluvius_readside::{
    Deliver, EventHandler, Handled, MapProjection, MemCheckpoints, MemParkStore, OutboxAdmin,
    OutboxRelay, ReadsideError, Retry, Subscription,
};
use parking_lot::Mutex;
use serde_json::json;
use sqlx::PgPool;
use support::{OwnedDb, TestDb};

const WAIT: Duration = Duration::from_secs(30);

/// An event handler whose side effect is to keep each event it was given, as JSON.
#[derive(Clone, Default)]
struct Outbox {
    sent: Arc<Mutex<Vec<String>>>,
}

impl EventHandler for Outbox {
    fn handle<'a>(&'a self, event: &'a EventEnvelope) -> BoxFuture<'a, Result<(), ReadsideError>> {
        let text = serde_json::to_string(event).unwrap_or_default();
        self.sent.lock().push(text);
        Box::pin(std::future::ready(Ok(())))
    }
}

/// Where the log ends now.
async fn log_end(backend: &dyn Backend) -> LogCursor {
    let mut query = LogQuery::from_start().limit(1000);
    loop {
        let page = backend.read_log(&query).await.expect("read the log");
        query.after = page.next;
        if page.caught_up {
            return page.next;
        }
    }
}

/// Runs the tenant property, then for every case and each of its two tenants a subscription
/// filtered by that tenant into a projection and into an event handler: nothing either gets
/// holds the other tenant's name or marker, and each gets its own tenant's events.
async fn read_side_is_walled(backend: Arc<dyn Backend>) {
    tenants_never_see_each_other(backend.clone()).await;
    let end = log_end(&*backend).await;
    let mut seen_own = 0;
    for case in 0..CASES {
        let pair = tenants(case);
        for (me, other) in [(&pair[0], &pair[1]), (&pair[1], &pair[0])] {
            let projection = MapProjection::<String, Vec<String>>::new(format!("walls-{me}"))
                .on_any(|map, event| {
                    let text = serde_json::to_string(event).unwrap_or_default();
                    map.update(event.identifier.clone(), Vec::new(), |texts| {
                        texts.push(text)
                    });
                    Ok(())
                });
            let outbox = Outbox::default();
            let handled = Handled::new(
                format!("walls-outbox-{me}"),
                outbox.clone(),
                Arc::new(MemCheckpoints::new()),
                Arc::new(MemParkStore::new()),
            );
            let projected = Subscription::new(backend.clone())
                .tenant(me.as_str())
                .spawn(projection.clone())
                .expect("spawn the projection");
            let handler = Subscription::new(backend.clone())
                .tenant(me.as_str())
                .spawn(handled)
                .expect("spawn the handler");
            projected
                .wait_for(end, WAIT)
                .await
                .expect("the projection catches up");
            handler
                .wait_for(end, WAIT)
                .await
                .expect("the handler catches up");
            projected.stop().await;
            handler.stop().await;

            let projected: Vec<String> = projection.snapshot().into_values().flatten().collect();
            let sent = outbox.sent.lock().clone();
            assert_eq!(
                projected.len(),
                sent.len(),
                "case {case}: the projection and the handler of `{me}` saw the same events"
            );
            for text in projected.iter().chain(&sent) {
                for foreign in [other.as_str(), marker(other).as_str()] {
                    assert!(
                        !text.contains(foreign),
                        "case {case}: `{me}`'s read side got `{foreign}`: {text}"
                    );
                }
                assert!(text.contains(&format!("\"tenant\":\"{me}\"")), "{text}");
            }
            seen_own += sent.len();
        }
    }
    assert!(
        seen_own > 0,
        "the histories wrote events for the read side to see"
    );
}

/// An order's inline row: who ordered and how many items it holds.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct OrderLine {
    customer: String,
    items: u32,
}

#[derive(serde::Deserialize)]
struct Placed {
    customer: String,
    items: u32,
}

#[derive(serde::Deserialize)]
struct Added {
    n: u32,
}

fn order_lines() -> fluvius_core::Inline<OrderLine> {
    fluvius_core::Inline::new("order-lines", "order")
        .on("order-placed", |row: &mut OrderLine, data: Placed, _| {
            row.customer = data.customer;
            row.items = data.items;
        })
        .on("items-added", |row: &mut OrderLine, data: Added, _| {
            row.items += data.n;
        })
}

/// Delivers into a list; fails every mail of the tenant `refuse`, when one is named.
#[derive(Clone, Default)]
struct Deliveries {
    got: Arc<Mutex<Vec<OutboxEntry>>>,
    refuse: Option<String>,
}

impl Deliver for Deliveries {
    fn deliver<'a>(&'a self, m: &'a OutboxEntry) -> BoxFuture<'a, Result<(), ReadsideError>> {
        Box::pin(async move {
            if self.refuse.as_deref() == Some(m.message.tenant.as_str()) && m.message.topic == EMAIL
            {
                return Err(ReadsideError::handler("this tenant's mail server is down"));
            }
            self.got.lock().push(m.clone());
            Ok(())
        })
    }
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let start = tokio::time::Instant::now();
    while !check() {
        assert!(start.elapsed() < WAIT, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Both tenants of every case place order `o-1` (one command id for both) for a customer named
/// by their marker, and add items to it: three messages each, keys colliding across tenants.
/// Then each tenant's relay and listing hold only that tenant's messages.
async fn outbox_is_walled(backend: Arc<dyn Backend>) {
    let domain = shop::builder(backend.clone())
        .multi_tenant(true)
        .inline_projection(order_lines())
        .finish()
        .expect("the multi-tenant shop is well formed");
    for case in 0..CASES {
        let place_id = uuid::Uuid::from_u128(u128::from(case) + 1);
        for me in tenants(case) {
            let context = fluvius_conformance::support::tenant(&me);
            let placed = command(
                &domain,
                "place-order",
                json!({"customer": marker(&me), "items": 1}),
                ("order", "o-1"),
            )
            .with_context(context.clone())
            .with_id(place_id);
            domain.process_command(placed).await.expect("placed");
            let added = command(
                &domain,
                "add-items",
                json!({"n": 2, "topic": FEED}),
                ("order", "o-1"),
            )
            .with_context(context);
            domain.process_command(added).await.expect("added");
        }
    }
    let admin = OutboxAdmin::new(backend.clone()).expect("admin");
    let check = |me: &str, other: &str, entries: &[OutboxEntry]| {
        for entry in entries {
            let text = serde_json::to_string(entry).expect("entry as JSON");
            for foreign in [other, marker(other).as_str()] {
                assert!(!text.contains(foreign), "`{me}` got `{foreign}`: {text}");
            }
            assert_eq!(entry.message.tenant, me);
        }
    };
    for case in 0..CASES {
        let pair = tenants(case);
        for (me, other) in [(&pair[0], &pair[1]), (&pair[1], &pair[0])] {
            let listed = admin
                .list(&OutboxQuery::all().tenant(me.as_str()))
                .await
                .expect("list");
            assert_eq!(listed.len(), 3, "case {case}: `{me}` sent three messages");
            check(me, other, &listed);
            let deliveries = Deliveries::default();
            let relay = OutboxRelay::new(backend.clone(), Arc::new(deliveries.clone()))
                .tenant(me.as_str())
                .poll_every(Duration::from_millis(5))
                .spawn()
                .expect("a tenant's relay");
            eventually("the tenant's relay delivered its messages", || {
                deliveries.got.lock().len() >= 3
            })
            .await;
            relay.stop().await;
            let got = deliveries.got.lock().clone();
            check(me, other, &got);
            assert_eq!(
                got.len(),
                3,
                "case {case}: `{me}`'s relay delivered its three"
            );
        }
    }
    assert_eq!(admin.counts().await.expect("counts").pending, 0);

    // Each tenant's inline row of `o-1` is its own.
    for case in 0..CASES {
        let pair = tenants(case);
        for (me, other) in [(&pair[0], &pair[1]), (&pair[1], &pair[0])] {
            let context = fluvius_conformance::support::tenant(me);
            let (line, version) = domain
                .statemgr_for(&context)
                .fetch_inline::<OrderLine>("order-lines", "o-1")
                .await
                .expect("the tenant's inline row");
            assert_eq!((line.items, version), (3, 2), "case {case}: `{me}`'s row");
            assert_eq!(line.customer, marker(me));
            let text = serde_json::to_string(&line).expect("a row as JSON");
            assert!(!text.contains(&marker(other)), "`{me}`'s row holds {text}");
        }
    }

    // One tenant's parked mail does not hold up the other's mail of the same key.
    let pair = tenants(CASES);
    for me in &pair {
        let placed = command(
            &domain,
            "place-order",
            json!({"customer": marker(me), "items": 1}),
            ("order", "o-1"),
        )
        .with_context(fluvius_conformance::support::tenant(me));
        domain.process_command(placed).await.expect("placed");
    }
    let deliveries = Deliveries {
        refuse: Some(pair[0].clone()),
        ..Deliveries::default()
    };
    let relay = OutboxRelay::new(backend.clone(), Arc::new(deliveries.clone()))
        .poll_every(Duration::from_millis(5))
        .retry(Retry::new(
            2,
            Duration::from_millis(2),
            Duration::from_millis(5),
        ))
        .spawn()
        .expect("a relay of all tenants");
    eventually("the second tenant's mail went", || {
        deliveries
            .got
            .lock()
            .iter()
            .any(|e| e.message.tenant == pair[1] && e.message.topic == EMAIL)
    })
    .await;
    let start = tokio::time::Instant::now();
    let parked = loop {
        let parked = admin.parked().await.expect("parked");
        if !parked.is_empty() || start.elapsed() > WAIT {
            break parked;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    relay.stop().await;
    assert_eq!(parked.len(), 1, "{parked:?}");
    assert_eq!(parked[0].message.tenant, pair[0]);
    assert_eq!(parked[0].message.key, "order/o-1");
}

/// On PostgreSQL: each tenant's projection, rebuilt from the start of the log into version 2 by
/// a tenant-filtered `PgRebuild`, holds its own events and nothing of the other tenant.
async fn rebuilds_are_walled(backend: Arc<dyn Backend>, pool: PgPool) {
    for v in 1..=2 {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE TABLE walls_v{v} (projection text, event text)"
        )))
        .execute(&pool)
        .await
        .expect("create a projection table");
    }
    let projection = |me: &str, v: u32| {
        let insert = format!("INSERT INTO walls_v{v} (projection, event) VALUES ($1, $2)");
        let name = format!("walls-{me}");
        PgProjection::versioned(format!("walls-{me}"), v, pool.clone())
            .expect("a version")
            .on_any(move |tx, event| {
                let (insert, name) = (insert.clone(), name.clone());
                let text = serde_json::to_string(event).unwrap_or_default();
                Box::pin(async move {
                    sqlx::query(sqlx::AssertSqlSafe(insert))
                        .bind(name)
                        .bind(text)
                        .execute(&mut *tx)
                        .await?;
                    Ok(())
                })
            })
    };
    let mut rebuilt = 0;
    for case in 0..CASES {
        let pair = tenants(case);
        for (me, other) in [(&pair[0], &pair[1]), (&pair[1], &pair[0])] {
            let swapped = PgRebuild::new(
                Subscription::new(backend.clone()).tenant(me.as_str()),
                projection(me, 2),
            )
            .run()
            .await
            .expect("the rebuild swaps");
            assert_eq!(swapped.to_version, 2);
            let texts: Vec<String> =
                sqlx::query_scalar("SELECT event FROM walls_v2 WHERE projection = $1")
                    .bind(format!("walls-{me}"))
                    .fetch_all(&pool)
                    .await
                    .expect("read the rebuilt projection");
            rebuilt += texts.len();
            for text in &texts {
                for foreign in [other.as_str(), marker(other).as_str()] {
                    assert!(
                        !text.contains(foreign),
                        "case {case}: `{me}`'s rebuild got `{foreign}`: {text}"
                    );
                }
                assert!(text.contains(&format!("\"tenant\":\"{me}\"")), "{text}");
            }
        }
    }
    assert!(rebuilt > 0, "the histories wrote events to rebuild");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory() {
    let backend: Arc<dyn Backend> = Arc::new(MemBackend::new());
    read_side_is_walled(backend.clone()).await;
    outbox_is_walled(backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres() {
    let db = TestDb::create().await;
    let backend = db.backend().await;
    let pool = db.pool(4).await;
    let backend: Arc<dyn Backend> = Arc::new(OwnedDb::new(backend, Some(Arc::new(db))));
    read_side_is_walled(backend.clone()).await;
    rebuilds_are_walled(backend.clone(), pool).await;
    outbox_is_walled(backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_behind_row_level_security_only() {
    let db = TestDb::create().await;
    let backend = db.walled_backend().await.without_tenant_filters();
    let pool = db.pool(4).await;
    let backend: Arc<dyn Backend> = Arc::new(OwnedDb::new(backend, Some(Arc::new(db))));
    read_side_is_walled(backend.clone()).await;
    rebuilds_are_walled(backend.clone(), pool).await;
    outbox_is_walled(backend).await;
}
