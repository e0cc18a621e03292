//! [`PgRebuild`]: a new version of a projection fills its own tables from the start of the log
//! while the live version keeps serving reads, then takes over in one transaction.
//!
//! `fluvius.projection_versions` names the live version of each projection (no row: version
//! 1). A projection's batch, after it has moved (and so locked) its checkpoint row, reads that
//! row and refuses to write when a later version is live. The swap locks the row, then the live
//! version's checkpoint row, checks the new version has got at least as far, moves the live
//! version and runs the caller's swap statements (a view redefined, say), and commits. A batch
//! of the old version either committed before the swap took the checkpoint's lock (and the new
//! version is past it), or waits for the swap and then sees it: nothing it does lands after.

use std::fmt;
use std::sync::Arc;

use fluvius_core::LogCursor;
use sqlx::{PgConnection, PgPool};

use super::checkpoints::load;
use super::projection::{PgHandlerFuture, PgProjection};
use crate::consumer::Consumer;
use crate::error::ReadsideError;
use crate::subscription::Subscription;

/// How many catch-up rounds a rebuild runs before it gives up on writers that outpace it.
pub const MAX_REBUILD_ROUNDS: u32 = 1_000;

type SwapHandler =
    Arc<dyn for<'c> Fn(&'c mut PgConnection) -> PgHandlerFuture<'c> + Send + Sync + 'static>;

/// The version of `projection` that serves reads (1 when none was swapped in).
pub async fn live_version(pool: &PgPool, projection: &str) -> Result<u32, ReadsideError> {
    let mut conn = pool
        .acquire()
        .await
        .map_err(ReadsideError::pg("acquiring a connection"))?;
    read_live(&mut conn, projection, false).await
}

async fn read_live(
    conn: &mut PgConnection,
    projection: &str,
    lock: bool,
) -> Result<u32, ReadsideError> {
    let sql = if lock {
        "SELECT live_version FROM fluvius.projection_versions WHERE name = $1 FOR UPDATE"
    } else {
        "SELECT live_version FROM fluvius.projection_versions WHERE name = $1"
    };
    let live: Option<i32> = sqlx::query_scalar(sql)
        .bind(projection)
        .fetch_optional(&mut *conn)
        .await
        .map_err(ReadsideError::pg("reading a projection's live version"))?;
    Ok(live.map_or(1, |v| v.max(1) as u32))
}

/// Refuses a batch of `version` once a later version of `projection` is live.
pub(crate) async fn check_live(
    conn: &mut PgConnection,
    projection: &str,
    version: u32,
) -> Result<(), ReadsideError> {
    let live = read_live(conn, projection, false).await?;
    if live > version {
        return Err(ReadsideError::Retired {
            projection: projection.to_owned(),
            version,
            live,
        });
    }
    Ok(())
}

/// The checkpoint name of `version` of `projection` (as [`PgProjection::versioned`] names it).
pub(crate) fn checkpoint_name(projection: &str, version: u32) -> String {
    if version <= 1 {
        projection.to_owned()
    } else {
        format!("{projection}@v{version}")
    }
}

/// What a finished rebuild did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Swapped {
    /// The projection.
    pub projection: String,
    /// The version that served reads before.
    pub from_version: u32,
    /// The version that serves reads now.
    pub to_version: u32,
    /// Where the new version stood at the swap.
    pub cursor: LogCursor,
    /// Events the new version took during this run (from its checkpoint: a resumed rebuild
    /// counts only what it did itself).
    pub events: u64,
    /// Catch-up rounds before the swap went through.
    pub rounds: u32,
    /// The new version was already live: an earlier run swapped it in.
    pub already_live: bool,
}

/// A rebuild of a PostgreSQL projection into a new version without read downtime.
///
/// [`run`](PgRebuild::run) catches the new version up from its checkpoint (from the start of
/// the log the first time; where a killed run left it otherwise), then swaps it in: one
/// transaction moves the live version and runs the [`on_swap`](PgRebuild::on_swap)
/// statements. If writers moved the live version past the new one meanwhile, it catches up
/// again and retries. After the swap the old version's runners stop with
/// [`ReadsideError::Retired`]; start the new version's own subscription to keep it current.
///
/// ```no_run
/// # async fn run(backend: std::sync::Arc<dyn fluvius_core::Backend>, pool: sqlx::PgPool)
/// #     -> Result<(), fluvius_readside::ReadsideError> {
/// use fluvius_readside::Subscription;
/// use fluvius_readside::postgres::{PgProjection, PgRebuild};
///
/// // Version 2 writes `balances_v2`; readers read the view `balances`.
/// let v2 = PgProjection::versioned("balances", 2, pool.clone())?.on_any(|tx, event| {
///     Box::pin(async move {
///         sqlx::query(
///             "INSERT INTO balances_v2 (id, events) VALUES ($1, 1) \
///              ON CONFLICT (id) DO UPDATE SET events = balances_v2.events + 1",
///         )
///         .bind(&event.identifier)
///         .execute(&mut *tx)
///         .await?;
///         Ok(())
///     })
/// });
/// let swapped = PgRebuild::new(Subscription::new(backend.clone()), v2.clone())
///     .on_swap(|tx| {
///         Box::pin(async move {
///             sqlx::query("CREATE OR REPLACE VIEW balances AS SELECT * FROM balances_v2")
///                 .execute(&mut *tx)
///                 .await?;
///             Ok(())
///         })
///     })
///     .run()
///     .await?;
/// assert_eq!(swapped.to_version, 2);
/// // Keep version 2 current from here on.
/// let handle = Subscription::new(backend).spawn(v2)?;
/// # drop(handle);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PgRebuild {
    subscription: Subscription,
    next: PgProjection,
    on_swap: Option<SwapHandler>,
    max_rounds: u32,
}

impl fmt::Debug for PgRebuild {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgRebuild")
            .field("next", &self.next)
            .field("on_swap", &self.on_swap.is_some())
            .field("max_rounds", &self.max_rounds)
            .finish()
    }
}

impl PgRebuild {
    /// Rebuilds into `next` (a [`PgProjection::versioned`] later than the live version),
    /// reading with `subscription`'s settings (its filters, page size and upcasting).
    pub fn new(subscription: Subscription, next: PgProjection) -> PgRebuild {
        PgRebuild {
            subscription,
            next,
            on_swap: None,
            max_rounds: MAX_REBUILD_ROUNDS,
        }
    }

    /// Statements run in the swap's transaction: what makes readers read the new tables (a
    /// view redefined, tables renamed). If they fail, nothing is swapped.
    pub fn on_swap<F>(mut self, f: F) -> PgRebuild
    where
        F: for<'c> Fn(&'c mut PgConnection) -> PgHandlerFuture<'c> + Send + Sync + 'static,
    {
        self.on_swap = Some(Arc::new(f));
        self
    }

    /// At most this many catch-up rounds (default [`MAX_REBUILD_ROUNDS`]) before the rebuild
    /// gives up with an error; nothing is swapped then, and a later run resumes.
    pub fn max_rounds(mut self, rounds: u32) -> PgRebuild {
        self.max_rounds = rounds.max(1);
        self
    }

    /// Catches the new version up and swaps it in. Resumable: a run that was killed or failed
    /// leaves the new version's checkpoint where it got, and the next run goes on from there; a
    /// run after the swap returns at once with [`Swapped::already_live`].
    pub async fn run(&self) -> Result<Swapped, ReadsideError> {
        let projection = self.next.projection().to_owned();
        let version = self.next.version();
        let pool = self.next.pool().clone();
        let live = live_version(&pool, &projection).await?;
        if live > version {
            return Err(ReadsideError::Invalid(format!(
                "version {version} of projection `{projection}` is older than the live version \
                 {live}: rebuild into a later version"
            )));
        }
        if live == version {
            // Swapped in by an earlier run: its own subscription keeps it current.
            return Ok(Swapped {
                projection,
                from_version: version,
                to_version: version,
                cursor: self.next.checkpoint().await?,
                events: 0,
                rounds: 0,
                already_live: true,
            });
        }
        let mut events = 0;
        for round in 1..=self.max_rounds {
            events += self.subscription.catch_up(&self.next).await?;
            if let Some(swapped) = self.try_swap(&pool, round, events).await? {
                tracing::info!(
                    target: "fluvius.rebuild",
                    projection = %projection,
                    from_version = swapped.from_version,
                    to_version = version,
                    events,
                    rounds = round,
                    cursor = %swapped.cursor,
                    "projection swapped in"
                );
                return Ok(swapped);
            }
        }
        Err(ReadsideError::Invalid(format!(
            "version {version} of projection `{projection}` did not catch up with the live \
             version in {} rounds (it stands at {}); nothing was swapped, run it again",
            self.max_rounds,
            self.next.checkpoint().await?
        )))
    }

    /// One swap attempt: `None` when the live version is still ahead of the new one.
    async fn try_swap(
        &self,
        pool: &PgPool,
        round: u32,
        events: u64,
    ) -> Result<Option<Swapped>, ReadsideError> {
        let projection = self.next.projection();
        let version = self.next.version();
        let mut tx = pool
            .begin()
            .await
            .map_err(ReadsideError::pg("starting a projection swap"))?;
        sqlx::query(
            "INSERT INTO fluvius.projection_versions (name, live_version) VALUES ($1, 1) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(projection)
        .execute(&mut *tx)
        .await
        .map_err(ReadsideError::pg("registering a projection's versions"))?;
        let live = read_live(&mut tx, projection, true).await?;
        if live >= version {
            // Another run swapped meanwhile (this version or a later one).
            if live > version {
                return Err(ReadsideError::Retired {
                    projection: projection.to_owned(),
                    version,
                    live,
                });
            }
            let cursor = load(&mut tx, self.next.name()).await?;
            return Ok(Some(Swapped {
                projection: projection.to_owned(),
                from_version: live,
                to_version: version,
                cursor: cursor.unwrap_or(LogCursor::START),
                events,
                rounds: round,
                already_live: true,
            }));
        }
        // The live version's checkpoint row, locked: its batch in flight finishes first, and
        // its next one waits for this transaction and then finds itself retired.
        let live_name = checkpoint_name(projection, live);
        sqlx::query(
            r#"INSERT INTO fluvius.checkpoints (name, "cursor") VALUES ($1, $2)
               ON CONFLICT (name) DO NOTHING"#,
        )
        .bind(&live_name)
        .bind(LogCursor::START.to_string())
        .execute(&mut *tx)
        .await
        .map_err(ReadsideError::pg("locking the live version's checkpoint"))?;
        let live_at: String = sqlx::query_scalar(
            r#"SELECT "cursor" FROM fluvius.checkpoints WHERE name = $1 FOR UPDATE"#,
        )
        .bind(&live_name)
        .fetch_one(&mut *tx)
        .await
        .map_err(ReadsideError::pg("locking the live version's checkpoint"))?;
        let live_at = super::parse_cursor(&live_name, "checkpoint", &live_at)?;
        let next_at = load(&mut tx, self.next.name())
            .await?
            .unwrap_or(LogCursor::START);
        if next_at < live_at {
            // Writers moved the live version on while the new one caught up: another round.
            return Ok(None);
        }
        sqlx::query(
            "UPDATE fluvius.projection_versions SET live_version = $2, swapped_at = now() \
             WHERE name = $1",
        )
        .bind(projection)
        .bind(version as i32)
        .execute(&mut *tx)
        .await
        .map_err(ReadsideError::pg("moving a projection's live version"))?;
        if let Some(on_swap) = &self.on_swap {
            on_swap(&mut tx).await?;
        }
        tx.commit()
            .await
            .map_err(ReadsideError::pg("committing a projection swap"))?;
        Ok(Some(Swapped {
            projection: projection.to_owned(),
            from_version: live,
            to_version: version,
            cursor: next_at,
            events,
            rounds: round,
            already_live: false,
        }))
    }
}
