//! [`PgLeases`]: subscription leases in `fluvius.leases`, and the fence check a checkpoint write
//! makes in its own transaction.

use std::time::Duration;

use fluvius_core::BoxFuture;
use sqlx::{PgConnection, PgPool};

use crate::error::ReadsideError;
use crate::lease::{Fence, LeaseStore, lost};

/// Leases in the `fluvius.leases` table, timed by the database's clock (one clock for every
/// worker, whatever their machines' clocks say).
#[derive(Debug, Clone)]
pub struct PgLeases {
    pool: PgPool,
}

impl PgLeases {
    /// Leases in the database of `pool` (migrated by the backend).
    pub fn new(pool: PgPool) -> PgLeases {
        PgLeases { pool }
    }
}

fn millis(ttl: Duration) -> f64 {
    ttl.as_secs_f64() * 1000.0
}

fn epoch_of(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// Checks, in the caller's transaction, that `fence` still holds its lease, and keeps the lease
/// row share-locked until that transaction ends: a takeover waits for it, so a batch either
/// commits under a lease it held or not at all. Run it last, just before the commit.
pub(crate) async fn check_fence(
    conn: &mut PgConnection,
    fence: &Fence,
) -> Result<(), ReadsideError> {
    let held: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM fluvius.leases
          WHERE name = $1 AND owner = $2 AND epoch = $3 AND expires_at > clock_timestamp()
          FOR SHARE",
    )
    .bind(&fence.lease)
    .bind(&fence.owner)
    .bind(i64::try_from(fence.epoch).unwrap_or(i64::MAX))
    .fetch_optional(&mut *conn)
    .await
    .map_err(ReadsideError::pg("checking a lease"))?;
    held.map(|_| ()).ok_or_else(|| lost(fence))
}

impl LeaseStore for PgLeases {
    fn acquire<'a>(
        &'a self,
        name: &'a str,
        owner: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Option<Fence>, ReadsideError>> {
        Box::pin(async move {
            let epoch: Option<i64> = sqlx::query_scalar(
                "INSERT INTO fluvius.leases AS l (name, owner, epoch, expires_at)
                 VALUES ($1, $2, 1, clock_timestamp() + $3 * interval '1 millisecond')
                 ON CONFLICT (name) DO UPDATE
                    SET owner = excluded.owner,
                        epoch = CASE WHEN l.owner = excluded.owner AND l.expires_at > clock_timestamp()
                                     THEN l.epoch ELSE l.epoch + 1 END,
                        expires_at = excluded.expires_at,
                        taken_at = CASE WHEN l.owner = excluded.owner AND l.expires_at > clock_timestamp()
                                        THEN l.taken_at ELSE now() END
                  WHERE l.owner = excluded.owner OR l.expires_at <= clock_timestamp()
                 RETURNING epoch",
            )
            .bind(name)
            .bind(owner)
            .bind(millis(ttl))
            .fetch_optional(&self.pool)
            .await
            .map_err(ReadsideError::pg("taking a lease"))?;
            Ok(epoch.map(|epoch| Fence {
                lease: name.to_owned(),
                owner: owner.to_owned(),
                epoch: epoch_of(epoch),
            }))
        })
    }

    fn renew<'a>(
        &'a self,
        fence: &'a Fence,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, ReadsideError>> {
        Box::pin(async move {
            let renewed = sqlx::query(
                "UPDATE fluvius.leases
                    SET expires_at = clock_timestamp() + $4 * interval '1 millisecond'
                  WHERE name = $1 AND owner = $2 AND epoch = $3 AND expires_at > clock_timestamp()",
            )
            .bind(&fence.lease)
            .bind(&fence.owner)
            .bind(i64::try_from(fence.epoch).unwrap_or(i64::MAX))
            .bind(millis(ttl))
            .execute(&self.pool)
            .await
            .map_err(ReadsideError::pg("renewing a lease"))?;
            Ok(renewed.rows_affected() == 1)
        })
    }

    fn release<'a>(&'a self, fence: &'a Fence) -> BoxFuture<'a, Result<(), ReadsideError>> {
        Box::pin(async move {
            sqlx::query(
                "UPDATE fluvius.leases SET expires_at = clock_timestamp()
                  WHERE name = $1 AND owner = $2 AND epoch = $3",
            )
            .bind(&fence.lease)
            .bind(&fence.owner)
            .bind(i64::try_from(fence.epoch).unwrap_or(i64::MAX))
            .execute(&self.pool)
            .await
            .map_err(ReadsideError::pg("releasing a lease"))?;
            Ok(())
        })
    }

    fn held<'a>(
        &'a self,
        prefix: &'a str,
    ) -> BoxFuture<'a, Result<Vec<(String, String)>, ReadsideError>> {
        Box::pin(async move {
            sqlx::query_as(
                "SELECT name, owner FROM fluvius.leases
                  WHERE starts_with(name, $1) AND expires_at > clock_timestamp()
                  ORDER BY name",
            )
            .bind(prefix)
            .fetch_all(&self.pool)
            .await
            .map_err(ReadsideError::pg("listing leases"))
        })
    }
}
