//! Where each subscription stands: a [`LogCursor`] per name, moved only from where its runner
//! last left it, so two runners of one name cannot both advance it.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;

use fluvius_core::{BoxFuture, LogCursor};
use parking_lot::Mutex;

use crate::error::ReadsideError;
use crate::lease::{Fence, MemLeases};

/// A durable map from subscription name to cursor.
pub trait CheckpointStore: Send + Sync + Debug + 'static {
    /// The stored cursor of `name`; `None` if it never stored one.
    fn load<'a>(&'a self, name: &'a str)
    -> BoxFuture<'a, Result<Option<LogCursor>, ReadsideError>>;

    /// Moves `name` from `from` to `to`. Fails with [`ReadsideError::CheckpointMoved`], storing
    /// nothing, when the stored cursor is not `from` (no stored cursor counts as
    /// [`LogCursor::START`]); with a `fence`, fails with [`ReadsideError::LeaseLost`], storing
    /// nothing, when the fence no longer holds its lease (checked in the same step as the move).
    fn save<'a>(
        &'a self,
        name: &'a str,
        from: LogCursor,
        to: LogCursor,
        fence: Option<&'a Fence>,
    ) -> BoxFuture<'a, Result<(), ReadsideError>>;
}

/// Checkpoints in memory, shared by clones; for tests and the in-memory backend.
#[derive(Debug, Clone, Default)]
pub struct MemCheckpoints {
    cursors: Arc<Mutex<HashMap<String, LogCursor>>>,
    leases: Option<MemLeases>,
}

impl MemCheckpoints {
    /// No checkpoints.
    pub fn new() -> MemCheckpoints {
        MemCheckpoints::default()
    }

    /// Checkpoints whose fenced saves check `leases` (the workers' lease store).
    pub fn fenced_by(leases: MemLeases) -> MemCheckpoints {
        MemCheckpoints {
            cursors: Arc::default(),
            leases: Some(leases),
        }
    }

    /// Moves `name` from `from` to `to` if it is at `from`; the check and the move are one step.
    pub(crate) fn compare_and_set(
        map: &mut HashMap<String, LogCursor>,
        name: &str,
        from: LogCursor,
        to: LogCursor,
    ) -> Result<(), ReadsideError> {
        let actual = map.get(name).copied().unwrap_or(LogCursor::START);
        if actual != from {
            return Err(ReadsideError::CheckpointMoved {
                name: name.to_owned(),
                expected: from,
                actual,
            });
        }
        map.insert(name.to_owned(), to);
        Ok(())
    }
}

impl CheckpointStore for MemCheckpoints {
    fn load<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<LogCursor>, ReadsideError>> {
        Box::pin(async move { Ok(self.cursors.lock().get(name).copied()) })
    }

    fn save<'a>(
        &'a self,
        name: &'a str,
        from: LogCursor,
        to: LogCursor,
        fence: Option<&'a Fence>,
    ) -> BoxFuture<'a, Result<(), ReadsideError>> {
        Box::pin(async move {
            let save = || MemCheckpoints::compare_and_set(&mut self.cursors.lock(), name, from, to);
            match (fence, &self.leases) {
                (None, _) => save(),
                (Some(fence), Some(leases)) => leases.while_held(fence, save),
                (Some(fence), None) => Err(ReadsideError::Invalid(format!(
                    "a subscription under the lease {fence} saves into checkpoints that cannot check it: make them with `MemCheckpoints::fenced_by(leases)`"
                ))),
            }
        })
    }
}
