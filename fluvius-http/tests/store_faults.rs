//! What the store's failures look like over HTTP: unavailable is 503 with `Retry-After`, an
//! unknown outcome and an internal fault are 500, and none of them shows the store's own words.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use fluvius_conformance::wrap::{Hooks, Wrapped};
use fluvius_core::{Backend, BoxFuture, CommitBatch, CommitReceipt, Detail, StoreError};
use fluvius_http::HttpApi;
use serde_json::json;
use support::{bank_on, problem, serve};

/// The store's own words, which must never reach a caller.
const INTERNALS: &str = "SQLSTATE 57P01: terminating connection due to administrator command";

/// Commits fail the way `mode` says: 0 = pass, 1 = unavailable, 2 = outcome unknown,
/// 3 = internal.
#[derive(Debug, Default)]
struct Failing {
    mode: AtomicU8,
}

impl Hooks for Failing {
    fn commit<'a>(
        &'a self,
        inner: &'a dyn Backend,
        batch: CommitBatch,
    ) -> BoxFuture<'a, Result<CommitReceipt, StoreError>> {
        let detail = Some(Detail::new(INTERNALS));
        match self.mode.load(Ordering::SeqCst) {
            1 => Box::pin(async move { Err(StoreError::unavailable("the store is down", detail)) }),
            2 => {
                Box::pin(
                    async move { Err(StoreError::outcome_unknown("the connection broke", detail)) },
                )
            }
            3 => Box::pin(async move { Err(StoreError::internal("a statement failed", detail)) }),
            _ => inner.commit(batch),
        }
    }
}

#[tokio::test]
async fn store_failures_have_their_statuses_and_no_internals() {
    let hooks = Wrapped::around(
        Arc::new(fluvius_memory::MemBackend::new()),
        Failing::default(),
    );
    let domain = bank_on(hooks.clone());
    let server = serve(
        HttpApi::builder().domain(domain.clone()).build().unwrap(),
        domain,
    )
    .await;
    let id = server.open_account().await;
    let path = format!("/banking:deposit/account/{id}");
    for (mode, status, code) in [
        (1, 503, "unavailable"),
        (2, 500, "outcome-unknown"),
        (3, 500, "internal"),
    ] {
        hooks.mode.store(mode, Ordering::SeqCst);
        let response = server.post(&path, json!({"amount": 1})).await;
        let retry_after = response.headers().get("retry-after").cloned();
        let body = problem(response, status, code).await;
        assert!(
            !body.to_string().contains("SQLSTATE"),
            "internals in {body}"
        );
        assert_eq!(retry_after.is_some(), mode == 1, "Retry-After on {code}");
    }
    hooks.mode.store(0, Ordering::SeqCst);
    let ok = server.post(&path, json!({"amount": 1})).await;
    assert_eq!(ok.status(), 200);
}
