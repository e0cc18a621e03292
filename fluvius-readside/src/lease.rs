//! Ownership of a subscription by one worker at a time: a lease with an expiry and a fencing
//! epoch. A worker holds the lease while it renews it; when it stops renewing (it died, it was
//! paused, its network went), the lease expires and another worker takes it with the next epoch.
//! Every checkpoint write of a fenced subscription checks, in the same transaction, that its
//! epoch still holds the lease, so a stale owner that wakes up writes nothing.
//!
//! No session-level lock is involved: a lease is a row (or, in memory, an entry), so it survives
//! a dropped connection and works behind a transaction-mode pooler.

use std::collections::HashMap;
use std::fmt::{self, Debug};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fluvius_core::BoxFuture;
use parking_lot::Mutex;

use crate::error::ReadsideError;

/// The proof that a worker holds a lease: its name, the owner and the epoch it was taken at.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Fence {
    /// The lease's name (the subscription's).
    pub lease: String,
    /// The worker holding it.
    pub owner: String,
    /// Raised by one each time the lease changes hands.
    pub epoch: u64,
}

impl fmt::Display for Fence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` (owner `{}`, epoch {})",
            self.lease, self.owner, self.epoch
        )
    }
}

/// Leases, durable where the checkpoints are.
pub trait LeaseStore: Send + Sync + Debug + 'static {
    /// Takes the lease `name` for `owner` for `ttl`, if nobody else holds it unexpired. Taking
    /// it from another owner (or after it expired) raises the epoch; `owner` renewing its own
    /// unexpired lease keeps it. `None` when another owner holds it.
    fn acquire<'a>(
        &'a self,
        name: &'a str,
        owner: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Option<Fence>, ReadsideError>>;

    /// Extends a held lease by `ttl` from now; `false` when the fence no longer holds it.
    fn renew<'a>(
        &'a self,
        fence: &'a Fence,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, ReadsideError>>;

    /// Gives a held lease up at once (a no-op when the fence no longer holds it).
    fn release<'a>(&'a self, fence: &'a Fence) -> BoxFuture<'a, Result<(), ReadsideError>>;

    /// The unexpired leases whose names start with `prefix`, as `(name, owner)`.
    fn held<'a>(
        &'a self,
        prefix: &'a str,
    ) -> BoxFuture<'a, Result<Vec<(String, String)>, ReadsideError>>;
}

/// The error of a write whose fence lost its lease.
pub(crate) fn lost(fence: &Fence) -> ReadsideError {
    ReadsideError::LeaseLost {
        lease: fence.lease.clone(),
        owner: fence.owner.clone(),
        epoch: fence.epoch,
    }
}

/// Leases in memory, for workers of one process (and tests); shared by clones. Checkpoints made
/// with [`MemCheckpoints::fenced_by`](crate::MemCheckpoints::fenced_by) check them on every save.
#[derive(Debug, Clone, Default)]
pub struct MemLeases {
    leases: Arc<Mutex<HashMap<String, MemLease>>>,
}

#[derive(Debug, Clone)]
struct MemLease {
    owner: String,
    epoch: u64,
    expires: Instant,
}

impl MemLeases {
    /// No leases.
    pub fn new() -> MemLeases {
        MemLeases::default()
    }

    /// Runs `f` while the lease table is locked, if `fence` holds its lease: the check and the
    /// write `f` does are one step.
    pub(crate) fn while_held<T>(
        &self,
        fence: &Fence,
        f: impl FnOnce() -> Result<T, ReadsideError>,
    ) -> Result<T, ReadsideError> {
        let leases = self.leases.lock();
        match leases.get(&fence.lease) {
            Some(l)
                if l.owner == fence.owner
                    && l.epoch == fence.epoch
                    && l.expires > Instant::now() =>
            {
                f()
            }
            _ => Err(lost(fence)),
        }
    }
}

impl LeaseStore for MemLeases {
    fn acquire<'a>(
        &'a self,
        name: &'a str,
        owner: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Option<Fence>, ReadsideError>> {
        Box::pin(async move {
            let now = Instant::now();
            let mut leases = self.leases.lock();
            let epoch = match leases.get(name) {
                Some(l) if l.expires > now && l.owner != owner => return Ok(None),
                Some(l) if l.expires > now => l.epoch,
                Some(l) => l.epoch + 1,
                None => 1,
            };
            leases.insert(
                name.to_owned(),
                MemLease {
                    owner: owner.to_owned(),
                    epoch,
                    expires: now + ttl,
                },
            );
            Ok(Some(Fence {
                lease: name.to_owned(),
                owner: owner.to_owned(),
                epoch,
            }))
        })
    }

    fn renew<'a>(
        &'a self,
        fence: &'a Fence,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, ReadsideError>> {
        Box::pin(async move {
            let now = Instant::now();
            let mut leases = self.leases.lock();
            match leases.get_mut(&fence.lease) {
                Some(l) if l.owner == fence.owner && l.epoch == fence.epoch && l.expires > now => {
                    l.expires = now + ttl;
                    Ok(true)
                }
                _ => Ok(false),
            }
        })
    }

    fn release<'a>(&'a self, fence: &'a Fence) -> BoxFuture<'a, Result<(), ReadsideError>> {
        Box::pin(async move {
            let mut leases = self.leases.lock();
            if let Some(l) = leases.get_mut(&fence.lease)
                && l.owner == fence.owner
                && l.epoch == fence.epoch
            {
                l.expires = Instant::now();
            }
            Ok(())
        })
    }

    fn held<'a>(
        &'a self,
        prefix: &'a str,
    ) -> BoxFuture<'a, Result<Vec<(String, String)>, ReadsideError>> {
        Box::pin(async move {
            let now = Instant::now();
            let mut held: Vec<_> = self
                .leases
                .lock()
                .iter()
                .filter(|(name, l)| name.starts_with(prefix) && l.expires > now)
                .map(|(name, l)| (name.clone(), l.owner.clone()))
                .collect();
            held.sort();
            Ok(held)
        })
    }
}
