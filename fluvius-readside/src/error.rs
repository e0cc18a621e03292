//! [`ReadsideError`]: what can go wrong between the log and a read model.

use std::time::Duration;

use fluvius_core::{LogCursor, StoreError};

/// Why a subscription, projection or handler call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadsideError {
    /// The backend could not be read or written; the subscription retries by itself.
    #[error("the event store failed: {0}")]
    Store(#[from] StoreError),
    /// A read-your-writes wait ran out of time.
    #[error(
        "`{name}` has not passed {cursor} within {waited:?} (it stands at {reached}); the write \
         is committed, its effect is not visible there yet"
    )]
    Timeout {
        /// The subscription.
        name: String,
        /// The cursor waited for.
        cursor: LogCursor,
        /// Where the subscription stood when the wait ended.
        reached: LogCursor,
        /// How long the wait lasted.
        waited: Duration,
    },
    /// The subscription's task has ended (stopped, or its runtime shut down).
    #[error("`{0}` has stopped")]
    Stopped(String),
    /// An event's data does not decode into the type its handler asked for.
    #[error(
        "event `{evt_key}` v{schema_version} of {stream} (version {version}) does not decode: {message}"
    )]
    Decode {
        /// The event key.
        evt_key: String,
        /// The stored schema version.
        schema_version: u32,
        /// The stream, as `tenant/namespace.resource/id`.
        stream: String,
        /// The event's stream version.
        version: u64,
        /// Why.
        message: String,
    },
    /// A stored event cannot be read in its current shape (a failing upcast step, a key the
    /// domain neither emits nor retires); the subscription retries, it never skips the event.
    #[error("a stored event cannot be read in its current shape: {0}")]
    Upcast(fluvius_core::Error),
    /// A handler refused an event.
    #[error("{0}")]
    Handler(String),
    /// The stored checkpoint is not where this runner left it: another runner of the same name
    /// moved it. Nothing of this batch was written; the runner rereads the checkpoint.
    #[error(
        "the checkpoint of `{name}` is at {actual}, not at {expected}: another runner of the same \
         name moved it; nothing was written"
    )]
    CheckpointMoved {
        /// The checkpoint's name.
        name: String,
        /// Where this runner expected it.
        expected: LogCursor,
        /// Where it is.
        actual: LogCursor,
    },
    /// The worker's lease on this subscription passed to another worker (it expired while this
    /// one was paused or cut off); the batch was rolled back and the subscription stops here.
    #[error(
        "the lease `{lease}` of owner `{owner}` at epoch {epoch} is no longer held: another worker \
         owns the subscription now; nothing of this batch was written"
    )]
    LeaseLost {
        /// The lease.
        lease: String,
        /// The owner that lost it.
        owner: String,
        /// The epoch it had held it at.
        epoch: u64,
    },
    /// A later version of this projection serves reads now: this version was swapped out by a
    /// rebuild and writes nothing more. The batch was rolled back and the subscription stops.
    #[error(
        "version {version} of projection `{projection}` was swapped out (version {live} serves \
         reads now); nothing of this batch was written"
    )]
    Retired {
        /// The projection, without its version.
        projection: String,
        /// The version that tried to write.
        version: u32,
        /// The version that serves reads.
        live: u32,
    },
    /// A queued command had not ended when a wait for it ran out of time; it is still queued.
    #[error(
        "queued command {id} has not ended within {waited:?} ({attempts} attempts so far, last \
         error: {})", last_error.as_deref().unwrap_or("none")
    )]
    QueueWait {
        /// The command id.
        id: uuid::Uuid,
        /// How long the wait lasted.
        waited: Duration,
        /// The runs it has had.
        attempts: u32,
        /// Its last failure.
        last_error: Option<String>,
    },
    /// A stored checkpoint or parked event could not be read back.
    #[error("the stored {what} of `{name}` cannot be read: {message}")]
    Corrupt {
        /// What was read.
        what: &'static str,
        /// The subscription.
        name: String,
        /// Why.
        message: String,
    },
    /// An argument was refused; nothing was written.
    #[error("{0}")]
    Invalid(String),
    /// No event of this stream key is parked.
    #[error("`{name}` has no parked event for {stream}")]
    NotParked {
        /// The handler's subscription.
        name: String,
        /// The stream, as `tenant/namespace.resource/id`.
        stream: String,
    },
    /// A PostgreSQL statement of the read side failed.
    #[cfg(feature = "postgres")]
    #[error("a PostgreSQL statement failed while {doing}: {source}")]
    Postgres {
        /// What was being done.
        doing: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
}

impl ReadsideError {
    /// A handler's refusal, in its own words.
    pub fn handler(message: impl std::fmt::Display) -> ReadsideError {
        ReadsideError::Handler(message.to_string())
    }

    #[cfg(feature = "postgres")]
    pub(crate) fn pg(doing: &'static str) -> impl FnOnce(sqlx::Error) -> ReadsideError {
        move |source| ReadsideError::Postgres { doing, source }
    }
}

/// The longest subscription name accepted (it keys a checkpoint row).
pub const MAX_NAME_LEN: usize = 200;

/// Refuses names that cannot key a checkpoint: empty, too long, or with control characters.
pub(crate) fn check_name(name: &str) -> Result<(), ReadsideError> {
    if name.is_empty() {
        return Err(ReadsideError::Invalid(
            "a subscription name must not be empty".into(),
        ));
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err(ReadsideError::Invalid(format!(
            "the subscription name `{}…` is longer than {MAX_NAME_LEN} characters",
            name.chars().take(40).collect::<String>()
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(ReadsideError::Invalid(format!(
            "the subscription name {name:?} contains a control character"
        )));
    }
    Ok(())
}

#[cfg(feature = "postgres")]
impl From<sqlx::Error> for ReadsideError {
    /// A statement of a projection's handler failed (so `?` works on sqlx calls inside one).
    fn from(source: sqlx::Error) -> Self {
        ReadsideError::Postgres {
            doing: "running a projection's statement",
            source,
        }
    }
}
