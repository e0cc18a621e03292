//! Where each subscription stands: a [`LogCursor`] per name, moved only from where its runner
//! last left it, so two runners of one name cannot both advance it.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;

use fluvius_core::{BoxFuture, LogCursor};
use parking_lot::Mutex;

use crate::error::ReadsideError;

/// A durable map from subscription name to cursor.
pub trait CheckpointStore: Send + Sync + Debug + 'static {
    /// The stored cursor of `name`; `None` if it never stored one.
    fn load<'a>(&'a self, name: &'a str)
    -> BoxFuture<'a, Result<Option<LogCursor>, ReadsideError>>;

    /// Moves `name` from `from` to `to`. Fails with [`ReadsideError::CheckpointMoved`], storing
    /// nothing, when the stored cursor is not `from` (no stored cursor counts as
    /// [`LogCursor::START`]).
    fn save<'a>(
        &'a self,
        name: &'a str,
        from: LogCursor,
        to: LogCursor,
    ) -> BoxFuture<'a, Result<(), ReadsideError>>;
}

/// Checkpoints in memory, shared by clones; for tests and the in-memory backend.
#[derive(Debug, Clone, Default)]
pub struct MemCheckpoints {
    cursors: Arc<Mutex<HashMap<String, LogCursor>>>,
}

impl MemCheckpoints {
    /// No checkpoints.
    pub fn new() -> MemCheckpoints {
        MemCheckpoints::default()
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
    ) -> BoxFuture<'a, Result<(), ReadsideError>> {
        Box::pin(async move {
            MemCheckpoints::compare_and_set(&mut self.cursors.lock(), name, from, to)
        })
    }
}
