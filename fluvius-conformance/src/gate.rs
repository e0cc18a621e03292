//! A backend wrapper that holds commits at a gate until the case lets them through, so a case
//! can line commands up behind a commit in flight and act (cancel a caller, write from another
//! domain) while it waits.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use fluvius_core::{Backend, BoxFuture, CommitBatch, CommitReceipt, StoreError};
use tokio::sync::Semaphore;

use crate::wrap::{Hooks, Wrapped};

/// A backend whose commits wait at a gate while it is closed.
pub type GatedBackend = Wrapped<Gate>;

/// The gate: while closed, each commit waits for a permit.
#[derive(Debug)]
pub struct Gate {
    closed: AtomicBool,
    permits: Semaphore,
    arrived: AtomicUsize,
}

impl Wrapped<Gate> {
    /// An open gate in front of `inner`.
    pub fn new(inner: Arc<dyn Backend>) -> Arc<Self> {
        Wrapped::around(
            inner,
            Gate {
                closed: AtomicBool::new(false),
                permits: Semaphore::new(0),
                arrived: AtomicUsize::new(0),
            },
        )
    }

    /// Makes later commits wait for [`GatedBackend::let_through`] or [`GatedBackend::open`].
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    /// Lets `n` waiting or later commits through.
    pub fn let_through(&self, n: usize) {
        self.permits.add_permits(n);
    }

    /// Lets every commit through from now on.
    pub fn open(&self) {
        self.closed.store(false, Ordering::SeqCst);
        self.permits.add_permits(Semaphore::MAX_PERMITS / 2);
    }

    /// Waits until `n` commits in all have reached the gate while it was closed.
    pub async fn arrivals(&self, n: usize) {
        for _ in 0..2_000 {
            if self.arrived.load(Ordering::SeqCst) >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!(
            "only {} of {n} commits reached the gate in 10 s",
            self.arrived.load(Ordering::SeqCst)
        );
    }
}

impl Hooks for Gate {
    fn commit<'a>(
        &'a self,
        inner: &'a dyn Backend,
        batch: CommitBatch,
    ) -> BoxFuture<'a, Result<CommitReceipt, StoreError>> {
        Box::pin(async move {
            if self.closed.load(Ordering::SeqCst) {
                self.arrived.fetch_add(1, Ordering::SeqCst);
                self.permits
                    .acquire()
                    .await
                    .expect("the gate's semaphore is never closed")
                    .forget();
            }
            inner.commit(batch).await
        })
    }
}
