//! Tenant walls on the read side: after the conformance suite's tenant property has written its
//! histories (two tenants per case with colliding identifiers and command ids), a tenant's
//! subscription, projection (built from the start of the log, as a rebuild is) and event
//! handler receive nothing of the other tenant, on memory, on PostgreSQL, and on PostgreSQL
//! behind row-level security with the backend's own tenant predicates removed.

#![cfg(feature = "postgres")]

#[path = "../../fluvius-postgres/tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use fluvius_conformance::cases::tenant_property::{
    CASES, marker, tenants, tenants_never_see_each_other,
};
use fluvius_core::{Backend, BoxFuture, EventEnvelope, LogCursor, LogQuery};
use fluvius_memory::MemBackend;
use fluvius_readside::{
    EventHandler, Handled, MapProjection, MemCheckpoints, MemParkStore, ReadsideError, Subscription,
};
use parking_lot::Mutex;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory() {
    read_side_is_walled(Arc::new(MemBackend::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres() {
    let db = TestDb::create().await;
    let backend = db.backend().await;
    read_side_is_walled(Arc::new(OwnedDb::new(backend, Some(Arc::new(db))))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_behind_row_level_security_only() {
    let db = TestDb::create().await;
    let backend = db.walled_backend().await.without_tenant_filters();
    read_side_is_walled(Arc::new(OwnedDb::new(backend, Some(Arc::new(db))))).await;
}
