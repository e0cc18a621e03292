//! Reads by key: a stream's state row, its events and snapshots, idempotency records. Each is
//! one statement on an index (the primary or unique key of its table).

use chrono::{DateTime, Utc};
use fluvius_core::{
    AggRoot, EventEnvelope, EventMetadata, IdempotencyRecord, Snapshot, StateDoc, StoredState,
    StreamKey, StreamRange,
};
use serde_json::Value;
use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use crate::PgBackend;
use crate::columns::{micros, micros_up};
use crate::error::{PgError, to_i64, to_u64};
use crate::wall::Scope;

/// The columns [`state_from_row`] reads, for `SELECT`s of `fluvius.states`.
pub(crate) const STATE_COLUMNS: &str =
    "version, state, digest, deleted, created_at, updated_at, updated_by";

impl PgBackend {
    /// The state row of a stream.
    pub(crate) async fn state_row(&self, key: &StreamKey) -> Result<Option<StoredState>, PgError> {
        const DOING: &str = "loading a state row";
        let mut conn = self.conn(Scope::Tenant(&key.tenant), DOING).await?;
        let row = sqlx::query(self.read_sql(
            "SELECT version, state, digest, deleted, created_at, updated_at, updated_by \
             FROM fluvius.states \
             WHERE tenant = $1 AND namespace = $2 AND resource = $3 AND identifier = $4",
        ))
        .bind(&key.tenant)
        .bind(&key.namespace)
        .bind(&key.resource)
        .bind(&key.id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(PgError::query(DOING))?;
        conn.done(DOING).await?;
        row.map(|row| state_from_row(&row)).transpose()
    }

    /// A stream's events within a range, in version order.
    pub(crate) async fn stream_events(
        &self,
        key: &StreamKey,
        range: StreamRange,
    ) -> Result<Vec<EventEnvelope>, PgError> {
        let up_to = range
            .up_to_version
            .map(|v| to_i64("version", v))
            .transpose()?;
        const DOING: &str = "reading a stream";
        let mut conn = self.conn(Scope::Tenant(&key.tenant), DOING).await?;
        let rows = sqlx::query(self.read_sql(
            "SELECT position, event_id, tenant, namespace, resource, identifier, version, \
                    evt_key, schema_version, payload, metadata, recorded_at \
             FROM fluvius.events \
             WHERE tenant = $1 AND namespace = $2 AND resource = $3 AND identifier = $4 \
               AND version > $5 AND version <= coalesce($6, 9223372036854775807) \
               AND ($7::timestamptz IS NULL OR recorded_at <= $7) \
             ORDER BY version",
        ))
        .bind(&key.tenant)
        .bind(&key.namespace)
        .bind(&key.resource)
        .bind(&key.id)
        .bind(to_i64("version", range.after_version)?)
        .bind(up_to)
        .bind(range.recorded_until.map(micros))
        .fetch_all(&mut *conn)
        .await
        .map_err(PgError::query(DOING))?;
        conn.done(DOING).await?;
        rows.iter().map(event_from_row).collect()
    }

    /// The latest state of a stream within a range: from the snapshots, or the state row itself
    /// (the head snapshot) when it is in range.
    pub(crate) async fn snapshot(
        &self,
        key: &StreamKey,
        range: StreamRange,
    ) -> Result<Option<Snapshot>, PgError> {
        let up_to = range
            .up_to_version
            .map(|v| to_i64("version", v))
            .transpose()?;
        const DOING: &str = "loading a snapshot";
        let mut conn = self.conn(Scope::Tenant(&key.tenant), DOING).await?;
        let row = sqlx::query(self.read_sql(
            "SELECT version, state, digest, recorded_at FROM ( \
                SELECT version, state, digest, recorded_at FROM fluvius.snapshots \
                 WHERE tenant = $1 AND namespace = $2 AND resource = $3 AND identifier = $4 \
                   AND version <= coalesce($5, 9223372036854775807) \
                   AND ($6::timestamptz IS NULL OR recorded_at <= $6) \
                 ORDER BY version DESC LIMIT 1) AS s \
             UNION ALL \
             SELECT version, state, digest, updated_at FROM fluvius.states \
              WHERE tenant = $1 AND namespace = $2 AND resource = $3 AND identifier = $4 \
                AND version <= coalesce($5, 9223372036854775807) \
                AND ($6::timestamptz IS NULL OR updated_at <= $6) \
             ORDER BY version DESC LIMIT 1",
        ))
        .bind(&key.tenant)
        .bind(&key.namespace)
        .bind(&key.resource)
        .bind(&key.id)
        .bind(up_to)
        .bind(range.recorded_until.map(micros))
        .fetch_optional(&mut *conn)
        .await
        .map_err(PgError::query(DOING))?;
        conn.done(DOING).await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(Snapshot::new(
            to_u64("snapshot version", get(&row, "version")?)?,
            get(&row, "state")?,
            get(&row, "digest")?,
            get(&row, "recorded_at")?,
        )))
    }

    /// The idempotency record of a command id within a tenant.
    pub(crate) async fn idempotency_record(
        &self,
        tenant: &str,
        command_id: Uuid,
    ) -> Result<Option<IdempotencyRecord>, PgError> {
        const DOING: &str = "loading an idempotency record";
        let mut conn = self.conn(Scope::Tenant(tenant), DOING).await?;
        let row = sqlx::query(self.read_sql(
            "SELECT fingerprint, resource, identifier, from_version, to_version, state, \
                    recorded_at \
             FROM fluvius.idempotency WHERE tenant = $1 AND command_id = $2",
        ))
        .bind(tenant)
        .bind(command_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(PgError::query(DOING))?;
        conn.done(DOING).await?;
        let Some(row) = row else { return Ok(None) };
        let resource: String = get(&row, "resource")?;
        let identifier: String = get(&row, "identifier")?;
        Ok(Some(IdempotencyRecord::new(
            tenant.to_owned(),
            command_id,
            get(&row, "fingerprint")?,
            AggRoot::new(resource, identifier),
            to_u64("version", get(&row, "from_version")?)?,
            to_u64("version", get(&row, "to_version")?)?,
            get(&row, "state")?,
            get(&row, "recorded_at")?,
        )))
    }

    /// Deletes the idempotency records recorded before `before`.
    pub(crate) async fn purge_records(&self, before: DateTime<Utc>) -> Result<u64, PgError> {
        const DOING: &str = "purging idempotency records";
        // A purge crosses tenants by design.
        let mut conn = self.conn(Scope::All, DOING).await?;
        let done = sqlx::query("DELETE FROM fluvius.idempotency WHERE recorded_at < $1")
            .bind(micros_up(before))
            .execute(&mut *conn)
            .await
            .map_err(PgError::query(DOING))?;
        conn.done(DOING).await?;
        Ok(done.rows_affected())
    }
}

/// One column of a row, with the column named in the error.
pub(crate) fn get<'r, T>(row: &'r PgRow, column: &str) -> Result<T, PgError>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(column).map_err(|err| PgError::Decode {
        what: format!("column `{column}`"),
        message: err.to_string(),
    })
}

/// A state row selected with [`STATE_COLUMNS`].
pub(crate) fn state_from_row(row: &PgRow) -> Result<StoredState, PgError> {
    let state: Value = get(row, "state")?;
    let digest: String = get(row, "digest")?;
    Ok(StoredState::new(
        to_u64("state version", get(row, "version")?)?,
        StateDoc::Json(state),
        get(row, "deleted")?,
        get(row, "created_at")?,
        get(row, "updated_at")?,
        get(row, "updated_by")?,
    )
    .with_digest(digest))
}

/// An event row: position, event_id, tenant, namespace, resource, identifier, version,
/// evt_key, schema_version, payload, metadata, recorded_at.
pub(crate) fn event_from_row(row: &PgRow) -> Result<EventEnvelope, PgError> {
    let event_id: Uuid = get(row, "event_id")?;
    let metadata: Value = get(row, "metadata")?;
    let metadata: EventMetadata =
        serde_json::from_value(metadata).map_err(|err| PgError::Decode {
            what: format!("metadata of event {event_id}"),
            message: err.to_string(),
        })?;
    let key = StreamKey {
        tenant: get(row, "tenant")?,
        namespace: get(row, "namespace")?,
        resource: get(row, "resource")?,
        id: get(row, "identifier")?,
    };
    let schema_version: i32 = get(row, "schema_version")?;
    let mut event = EventEnvelope::new(
        &key,
        to_u64("event version", get(row, "version")?)?,
        get::<String>(row, "evt_key")?,
        u32::try_from(schema_version).map_err(|_| PgError::Decode {
            what: format!("schema version of event {event_id}"),
            message: format!("{schema_version} is negative"),
        })?,
        get(row, "payload")?,
        metadata,
        get(row, "recorded_at")?,
    );
    event.event_id = event_id;
    event.position = to_u64("event position", get(row, "position")?)?;
    Ok(event)
}
