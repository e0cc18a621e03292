//! [`PgProjection`]: a projection into the user's own tables, each batch of events and the
//! checkpoint written in one transaction, so each event's effect happens exactly once.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use fluvius_core::{BoxFuture, EventEnvelope, LogCursor, LogFilter};
use serde::de::DeserializeOwned;
use sqlx::{PgConnection, PgPool};

use super::checkpoints::{load, move_checkpoint};
use super::leases::check_fence;
use super::rebuild::{check_live, checkpoint_name};
use crate::consumer::{Batch, Consumer};
use crate::decode::decode;
use crate::error::ReadsideError;

/// What a PostgreSQL projection handler returns: a future borrowing the transaction.
pub type PgHandlerFuture<'c> = BoxFuture<'c, Result<(), ReadsideError>>;

type PgBatchHandler = Arc<
    dyn for<'c> Fn(&'c mut PgConnection, &'c [(LogCursor, EventEnvelope)]) -> PgHandlerFuture<'c>
        + Send
        + Sync,
>;

type PgHandler = Arc<
    dyn for<'c> Fn(&'c mut PgConnection, &'c EventEnvelope) -> PgHandlerFuture<'c> + Send + Sync,
>;

/// Pins a closure to the higher-ranked signature of a handler.
fn handler<F>(f: F) -> F
where
    F: for<'c> Fn(&'c mut PgConnection, &'c EventEnvelope) -> PgHandlerFuture<'c>,
{
    f
}

/// A projection whose state lives in the user's tables of the event store's database.
///
/// Each handler gets the batch's transaction and the typed event data; it writes with plain
/// sqlx. The subscription reads only the handled event keys. A batch, its handlers' writes and
/// the move of the checkpoint (`fluvius.checkpoints`, compare-and-set from where the batch
/// started) commit together or not at all; a second runner of the same name finds the
/// checkpoint moved and writes nothing.
///
/// ```no_run
/// # async fn run(pool: sqlx::PgPool) -> Result<(), fluvius_readside::ReadsideError> {
/// use fluvius_readside::postgres::PgProjection;
/// use serde::Deserialize;
///
/// #[derive(Deserialize)]
/// struct Deposited { amount: i64 }
///
/// let balances = PgProjection::new("balances", pool).on(
///     "deposit-made",
///     |tx, data: Deposited, event| {
///         Box::pin(async move {
///             sqlx::query(
///                 "INSERT INTO balances (id, total) VALUES ($1, $2) \
///                  ON CONFLICT (id) DO UPDATE SET total = balances.total + excluded.total",
///             )
///             .bind(&event.identifier)
///             .bind(data.amount)
///             .execute(&mut *tx)
///             .await?;
///             Ok(())
///         })
///     },
/// );
/// # let _ = balances;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PgProjection {
    /// The checkpoint's name: the projection's, with `@v<version>` from version 2 on.
    name: String,
    projection: String,
    version: u32,
    pool: PgPool,
    handlers: HashMap<String, PgHandler>,
    any: Option<PgHandler>,
    batch: Option<PgBatchHandler>,
}

impl fmt::Debug for PgProjection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut keys: Vec<&String> = self.handlers.keys().collect();
        keys.sort();
        f.debug_struct("PgProjection")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("evt_keys", &keys)
            .field("any", &self.any.is_some())
            .field("batch", &self.batch.is_some())
            .finish()
    }
}

impl PgProjection {
    /// A projection named `name` (its checkpoint's name) writing through `pool`, which must be
    /// the event store's database (the backend's [`pool`](fluvius_postgres::PgBackend::pool)).
    pub fn new(name: impl Into<String>, pool: PgPool) -> PgProjection {
        let name = name.into();
        PgProjection {
            projection: name.clone(),
            name,
            version: 1,
            pool,
            handlers: HashMap::new(),
            any: None,
            batch: None,
        }
    }

    /// Version `version` of the projection `name`, for a rebuild into new tables without read
    /// downtime ([`PgRebuild`](super::PgRebuild)). Version 1 is [`new`](PgProjection::new);
    /// a later version keeps its checkpoint as `name@v<version>` and should write tables of its
    /// own. Once a later version is swapped in, this one's batches fail with
    /// [`ReadsideError::Retired`] and write nothing. Refuses version 0.
    pub fn versioned(
        name: impl Into<String>,
        version: u32,
        pool: PgPool,
    ) -> Result<PgProjection, ReadsideError> {
        let mut projection = PgProjection::new(name, pool);
        match version {
            0 => Err(ReadsideError::Invalid(format!(
                "projection `{}`: versions count from 1",
                projection.projection
            ))),
            1 => Ok(projection),
            v if v > i32::MAX as u32 => Err(ReadsideError::Invalid(format!(
                "projection `{}`: version {v} is past the largest, {}",
                projection.projection,
                i32::MAX
            ))),
            v => {
                projection.name = checkpoint_name(&projection.projection, v);
                projection.version = v;
                Ok(projection)
            }
        }
    }

    /// The projection's name, without its version.
    pub fn projection(&self) -> &str {
        &self.projection
    }

    /// Its version (1 unless made by [`versioned`](PgProjection::versioned)).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The pool it writes through.
    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Handles events with key `evt_key`, their data decoded as `E` at schema version 1.
    pub fn on<E, F>(self, evt_key: impl Into<String>, f: F) -> PgProjection
    where
        E: DeserializeOwned + Send + 'static,
        F: for<'c> Fn(&'c mut PgConnection, E, &'c EventEnvelope) -> PgHandlerFuture<'c>
            + Send
            + Sync
            + 'static,
    {
        self.on_version(evt_key, 1, f)
    }

    /// Handles events with key `evt_key` whose data is `E` at `schema_version`.
    pub fn on_version<E, F>(
        mut self,
        evt_key: impl Into<String>,
        schema_version: u32,
        f: F,
    ) -> PgProjection
    where
        E: DeserializeOwned + Send + 'static,
        F: for<'c> Fn(&'c mut PgConnection, E, &'c EventEnvelope) -> PgHandlerFuture<'c>
            + Send
            + Sync
            + 'static,
    {
        let wrapped = handler(move |tx, event| match decode::<E>(event, schema_version) {
            Ok(data) => f(tx, data, event),
            Err(err) => Box::pin(std::future::ready(Err(err))),
        });
        self.handlers.insert(evt_key.into(), Arc::new(wrapped));
        self
    }

    /// Handles every event the subscription reads that has no handler of its own.
    pub fn on_any<F>(mut self, f: F) -> PgProjection
    where
        F: for<'c> Fn(&'c mut PgConnection, &'c EventEnvelope) -> PgHandlerFuture<'c>
            + Send
            + Sync
            + 'static,
    {
        self.any = Some(Arc::new(f));
        self
    }

    /// Handles each batch as a whole, in the batch's transaction, before the per-event handlers:
    /// for set-based writes (one `INSERT .. SELECT FROM unnest(..)` for a whole batch) where a
    /// statement per event costs too many round trips. With it, the subscription reads every
    /// event key (narrow it on the [`Subscription`](crate::Subscription)).
    pub fn on_batch<F>(mut self, f: F) -> PgProjection
    where
        F: for<'c> Fn(
                &'c mut PgConnection,
                &'c [(LogCursor, EventEnvelope)],
            ) -> PgHandlerFuture<'c>
            + Send
            + Sync
            + 'static,
    {
        self.batch = Some(Arc::new(f));
        self
    }

    async fn apply(&self, batch: &Batch) -> Result<(), ReadsideError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(ReadsideError::pg("starting a projection's transaction"))?;
        // First: the row lock serialises runners of one name, and a moved checkpoint refuses
        // the batch before any handler runs.
        move_checkpoint(&mut tx, &self.name, batch.after, batch.next).await?;
        // A swap locks the live version's checkpoint row before it moves the live version, so
        // this read, after the checkpoint's lock is held, sees any swap that could race it.
        check_live(&mut tx, &self.projection, self.version).await?;
        if let Some(whole) = &self.batch
            && !batch.entries.is_empty()
        {
            whole(&mut tx, &batch.entries).await?;
        }
        for (_, event) in &batch.entries {
            if let Some(h) = self.handlers.get(&event.evt_key) {
                h(&mut tx, event).await?;
            } else if let Some(any) = &self.any {
                any(&mut tx, event).await?;
            }
        }
        if let Some(fence) = &batch.fence {
            // Last, so the lease row is locked only for the commit.
            check_fence(&mut tx, fence).await?;
        }
        tx.commit()
            .await
            .map_err(ReadsideError::pg("committing a projection's transaction"))
    }
}

impl Consumer for PgProjection {
    fn name(&self) -> &str {
        &self.name
    }

    fn filter(&self) -> LogFilter {
        let mut filter = LogFilter::default();
        if self.any.is_none() && self.batch.is_none() {
            filter.evt_keys = self.handlers.keys().cloned().collect();
            filter.evt_keys.sort();
        }
        filter
    }

    fn checkpoint(&self) -> BoxFuture<'_, Result<LogCursor, ReadsideError>> {
        Box::pin(async move {
            let mut conn = self
                .pool
                .acquire()
                .await
                .map_err(ReadsideError::pg("acquiring a connection"))?;
            Ok(load(&mut conn, &self.name)
                .await?
                .unwrap_or(LogCursor::START))
        })
    }

    fn consume<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<(), ReadsideError>> {
        Box::pin(self.apply(batch))
    }
}
