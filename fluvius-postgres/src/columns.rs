//! A commit batch laid out as the parallel arrays `fluvius.commit_batch` takes: a batch of any
//! size binds the same 31 parameters, so it is one statement and one round trip.

use chrono::{DateTime, Utc};
use fluvius_core::{CommitBatch, ExpectedVersion, StoreError};
use serde_json::Value;
use sqlx::Postgres;
use sqlx::postgres::PgArguments;
use sqlx::query::QueryScalar;
use uuid::Uuid;

use crate::error::{PgError, to_i64};

/// One array per argument of `fluvius.commit_batch`, in its order.
#[derive(Debug, Default)]
pub(crate) struct Columns {
    // One entry per stream write.
    w_tenant: Vec<String>,
    w_namespace: Vec<String>,
    w_resource: Vec<String>,
    w_identifier: Vec<String>,
    w_expected: Vec<i64>,
    w_count: Vec<i32>,
    w_malformed: Vec<Option<String>>,
    w_state: Vec<Value>,
    w_digest: Vec<String>,
    w_deleted: Vec<bool>,
    w_created_at: Vec<DateTime<Utc>>,
    w_updated_at: Vec<DateTime<Utc>>,
    w_updated_by: Vec<Option<String>>,
    // One entry per event.
    e_write: Vec<i32>,
    e_k: Vec<i32>,
    e_event_id: Vec<Uuid>,
    e_evt_key: Vec<String>,
    e_schema_version: Vec<i32>,
    e_payload: Vec<Value>,
    e_metadata: Vec<Value>,
    e_recorded_at: Vec<DateTime<Utc>>,
    // One entry per idempotency record.
    i_tenant: Vec<String>,
    i_command_id: Vec<Uuid>,
    i_fingerprint: Vec<String>,
    i_resource: Vec<String>,
    i_identifier: Vec<String>,
    i_from: Vec<i64>,
    i_to: Vec<i64>,
    i_state: Vec<Value>,
    i_recorded_at: Vec<DateTime<Utc>>,
}

impl Columns {
    /// Lays a batch out; `malformed` holds, per write, why its events cannot be written.
    pub(crate) fn from_batch(
        batch: &CommitBatch,
        malformed: Vec<Option<String>>,
    ) -> Result<Columns, StoreError> {
        let events = batch.streams.iter().map(|w| w.events.len()).sum();
        let mut c = Columns {
            e_write: Vec::with_capacity(events),
            e_k: Vec::with_capacity(events),
            e_event_id: Vec::with_capacity(events),
            e_evt_key: Vec::with_capacity(events),
            e_schema_version: Vec::with_capacity(events),
            e_payload: Vec::with_capacity(events),
            e_metadata: Vec::with_capacity(events),
            e_recorded_at: Vec::with_capacity(events),
            w_malformed: malformed,
            ..Columns::default()
        };
        for (write_no, write) in (1..).zip(&batch.streams) {
            let key = &write.key;
            let state = write.state.state.to_json().map_err(|err| PgError::Encode {
                what: format!("the state of stream {key}"),
                message: err.to_string(),
            })?;
            c.w_tenant.push(key.tenant.clone());
            c.w_namespace.push(key.namespace.clone());
            c.w_resource.push(key.resource.clone());
            c.w_identifier.push(key.id.clone());
            c.w_expected.push(match write.expected {
                ExpectedVersion::Any => -1,
                other => to_i64("expected version", other.as_u64().unwrap_or_default())?,
            });
            c.w_count
                .push(small("events in one stream write", write.events.len())?);
            c.w_state.push(state);
            c.w_digest.push(write.state.digest.clone());
            c.w_deleted.push(write.state.deleted);
            c.w_created_at.push(micros(write.state.created_at));
            c.w_updated_at.push(micros(write.state.updated_at));
            c.w_updated_by.push(write.state.updated_by.clone());
            for (k, event) in (1..).zip(&write.events) {
                let metadata =
                    serde_json::to_value(&event.metadata).map_err(|err| PgError::Encode {
                        what: format!("the metadata of event {}", event.event_id),
                        message: err.to_string(),
                    })?;
                c.e_write.push(write_no);
                c.e_k.push(k);
                c.e_event_id.push(event.event_id);
                c.e_evt_key.push(event.evt_key.clone());
                c.e_schema_version
                    .push(small("schema version", event.schema_version)?);
                c.e_payload.push(event.payload.clone());
                c.e_metadata.push(metadata);
                c.e_recorded_at.push(micros(event.recorded_at));
            }
            for record in &write.idempotency {
                c.i_tenant.push(record.tenant.clone());
                c.i_command_id.push(record.command_id);
                c.i_fingerprint.push(record.fingerprint.clone());
                c.i_resource.push(record.root.resource.clone());
                c.i_identifier.push(record.root.id.clone());
                c.i_from.push(to_i64("version", record.from_version)?);
                c.i_to.push(to_i64("version", record.to_version)?);
                c.i_state.push(record.state.clone());
                c.i_recorded_at.push(micros(record.recorded_at));
            }
        }
        Ok(c)
    }

    /// How many events each write carries.
    pub(crate) fn counts(&self) -> Vec<usize> {
        self.w_count
            .iter()
            .map(|&n| usize::try_from(n).unwrap_or_default())
            .collect()
    }

    /// Binds the arrays as parameters `$1` to `$30`.
    pub(crate) fn bind<'q>(
        self,
        query: QueryScalar<'q, Postgres, Vec<i64>, PgArguments>,
    ) -> QueryScalar<'q, Postgres, Vec<i64>, PgArguments> {
        query
            .bind(self.w_tenant)
            .bind(self.w_namespace)
            .bind(self.w_resource)
            .bind(self.w_identifier)
            .bind(self.w_expected)
            .bind(self.w_count)
            .bind(self.w_malformed)
            .bind(self.w_state)
            .bind(self.w_digest)
            .bind(self.w_deleted)
            .bind(self.w_created_at)
            .bind(self.w_updated_at)
            .bind(self.w_updated_by)
            .bind(self.e_write)
            .bind(self.e_k)
            .bind(self.e_event_id)
            .bind(self.e_evt_key)
            .bind(self.e_schema_version)
            .bind(self.e_payload)
            .bind(self.e_metadata)
            .bind(self.e_recorded_at)
            .bind(self.i_tenant)
            .bind(self.i_command_id)
            .bind(self.i_fingerprint)
            .bind(self.i_resource)
            .bind(self.i_identifier)
            .bind(self.i_from)
            .bind(self.i_to)
            .bind(self.i_state)
            .bind(self.i_recorded_at)
    }
}

/// An instant as PostgreSQL stores it: whole microseconds, rounded down (the driver would round
/// toward 2000-01-01, which is up for earlier instants), so that a stored event is never later
/// than the instant it was recorded at.
pub(crate) fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t - chrono::Duration::nanoseconds(i64::from(t.timestamp_subsec_nanos() % 1_000))
}

/// The first whole microsecond at or after `t`: stored instants are below `t` exactly when they
/// are below it.
pub(crate) fn micros_up(t: DateTime<Utc>) -> DateTime<Utc> {
    let floor = micros(t);
    if floor == t {
        t
    } else {
        floor + chrono::Duration::microseconds(1)
    }
}

/// A count or small number as PostgreSQL's `integer`.
fn small<N: TryInto<i32> + Copy + std::fmt::Display>(what: &str, n: N) -> Result<i32, PgError> {
    n.try_into().map_err(|_| PgError::Encode {
        what: format!("{what} {n}"),
        message: "it is above the largest integer (2^31 - 1)".into(),
    })
}
