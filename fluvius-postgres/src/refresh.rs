//! Stale state rows and snapshots: listing the rows of a resource written with another state
//! digest, and rewriting a row or a snapshot in place once the domain has refolded it.
//!
//! A rewrite adds no events, so it needs no stream lock: the `version = $n` condition is
//! re-checked on the row a concurrent commit leaves, which then keeps its own state.

use fluvius_core::{Snapshot, StaleQuery, StateWrite, StreamKey};

use crate::PgBackend;
use crate::columns::micros;
use crate::error::{PgError, to_i64};
use crate::read::get;
use crate::wall::Scope;

impl PgBackend {
    /// Replaces a stream's state row if it is at `state.version`; returns whether it did.
    pub(crate) async fn rewrite_state(
        &self,
        key: &StreamKey,
        state: StateWrite,
    ) -> Result<bool, PgError> {
        let json = state.state.to_json().map_err(|err| PgError::Encode {
            what: format!("the state of stream {key}"),
            message: err.to_string(),
        })?;
        const DOING: &str = "rewriting a state row";
        let mut conn = self.conn(Scope::Tenant(&key.tenant), DOING).await?;
        let done = sqlx::query(
            "UPDATE fluvius.states \
                SET state = $6, digest = $7, deleted = $8, updated_at = $9, updated_by = $10 \
              WHERE tenant = $1 AND namespace = $2 AND resource = $3 AND identifier = $4 \
                AND version = $5",
        )
        .bind(&key.tenant)
        .bind(&key.namespace)
        .bind(&key.resource)
        .bind(&key.id)
        .bind(to_i64("version", state.version)?)
        .bind(json)
        .bind(&state.digest)
        .bind(state.deleted)
        .bind(micros(state.updated_at))
        .bind(&state.updated_by)
        .execute(&mut *conn)
        .await
        .map_err(PgError::query(DOING))?;
        conn.done(DOING).await?;
        Ok(done.rows_affected() == 1)
    }

    /// Replaces the snapshot kept at `snapshot.version` of a stream, if there is one.
    pub(crate) async fn rewrite_snapshot(
        &self,
        key: &StreamKey,
        snapshot: Snapshot,
    ) -> Result<(), PgError> {
        const DOING: &str = "replacing a snapshot";
        let mut conn = self.conn(Scope::Tenant(&key.tenant), DOING).await?;
        sqlx::query(
            "UPDATE fluvius.snapshots SET state = $6, digest = $7 \
              WHERE tenant = $1 AND namespace = $2 AND resource = $3 AND identifier = $4 \
                AND version = $5",
        )
        .bind(&key.tenant)
        .bind(&key.namespace)
        .bind(&key.resource)
        .bind(&key.id)
        .bind(to_i64("version", snapshot.version)?)
        .bind(snapshot.state)
        .bind(&snapshot.digest)
        .execute(&mut *conn)
        .await
        .map_err(PgError::query(DOING))?;
        conn.done(DOING).await
    }

    /// One page of the stale rows of a resource, across tenants, in (tenant, identifier) order.
    pub(crate) async fn stale_rows(&self, query: &StaleQuery) -> Result<Vec<StreamKey>, PgError> {
        let (after_tenant, after_id) = match &query.after {
            Some((tenant, id)) => (Some(tenant.as_str()), Some(id.as_str())),
            None => (None, None),
        };
        let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
        const DOING: &str = "listing stale state rows";
        // A refresh walks every tenant's rows of a resource, by design (an operator's upgrade).
        let mut conn = self.conn(Scope::All, DOING).await?;
        let rows = sqlx::query(
            "SELECT tenant, identifier FROM fluvius.states \
              WHERE namespace = $1 AND resource = $2 AND digest <> $3 \
                AND ($4::text IS NULL OR (tenant, identifier) > ($4, $5)) \
              ORDER BY tenant, identifier LIMIT $6",
        )
        .bind(&query.namespace)
        .bind(&query.resource)
        .bind(&query.digest)
        .bind(after_tenant)
        .bind(after_id)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await
        .map_err(PgError::query(DOING))?;
        conn.done(DOING).await?;
        rows.iter()
            .map(|row| {
                Ok(StreamKey {
                    tenant: get(row, "tenant")?,
                    namespace: query.namespace.clone(),
                    resource: query.resource.clone(),
                    id: get(row, "identifier")?,
                })
            })
            .collect()
    }
}
