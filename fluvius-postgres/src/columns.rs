//! Commit batches laid out as the parallel arrays `fluvius.commit` takes: a group of any size
//! binds the same parameters, so it is
//! one statement and one round trip.

use chrono::{DateTime, Utc};
use fluvius_core::{CommitBatch, StoreError};
use serde_json::Value;
use sqlx::Arguments;
use sqlx::error::BoxDynError;
use sqlx::postgres::PgArguments;
use uuid::Uuid;

use crate::error::{PgError, to_i64};

/// One array per stream write, event and idempotency record argument of `fluvius.commit`, in
/// its order.
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
    // One entry per audit record (not arguments of `fluvius.commit`: the statement inserts them
    // for the calls that committed, see `commit::AUDITED_COMMIT_SQL`).
    a_call: Vec<i32>,
    a_tenant: Vec<String>,
    a_namespace: Vec<String>,
    a_id: Vec<Uuid>,
    a_recorded_at: Vec<DateTime<Utc>>,
    a_record: Vec<Value>,
    // One entry per outbox message (inserted like the audit records).
    m_call: Vec<i32>,
    m_id: Vec<Uuid>,
    m_tenant: Vec<String>,
    m_namespace: Vec<String>,
    m_topic: Vec<String>,
    m_key: Vec<String>,
    m_payload: Vec<Value>,
    m_origin: Vec<Value>,
    m_created_at: Vec<DateTime<Utc>>,
    /// The number (from 1, in the group) of the last event of the message's stream write; 0
    /// when the write has none.
    m_event: Vec<i32>,
    // One entry per inline projection row (upserted like the audit records are inserted).
    r_call: Vec<i32>,
    r_projection: Vec<String>,
    r_tenant: Vec<String>,
    r_namespace: Vec<String>,
    r_resource: Vec<String>,
    r_identifier: Vec<String>,
    r_version: Vec<i64>,
    r_row: Vec<Value>,
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
            c.w_expected
                .push(to_i64("expected version", write.expected.as_u64())?);
            c.w_count
                .push(small("events in one stream write", write.events.len())?);
            c.w_state.push(state);
            c.w_digest.push(write.state.digest.clone());
            c.w_deleted.push(write.state.deleted);
            c.w_created_at.push(micros(write.state.created_at));
            c.w_updated_at.push(micros(write.state.updated_at));
            c.w_updated_by.push(write.state.updated_by.clone());
            for (k, event) in (1..).zip(write.events.iter()) {
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
            for record in &write.audit {
                c.a_call.push(0);
                c.a_tenant.push(record.tenant.clone());
                c.a_namespace.push(record.namespace.clone());
                c.a_id.push(record.id);
                c.a_recorded_at.push(micros(record.recorded_at));
                c.a_record.push(record.to_document()?);
            }
            let last_event = if write.events.is_empty() {
                0
            } else {
                small("events in one batch", c.e_write.len())?
            };
            for message in &write.messages {
                let origin =
                    serde_json::to_value(&message.origin).map_err(|err| PgError::Encode {
                        what: format!("the origin of message {}", message.id),
                        message: err.to_string(),
                    })?;
                c.m_call.push(0);
                c.m_id.push(message.id);
                c.m_tenant.push(message.tenant.clone());
                c.m_namespace.push(message.namespace.clone());
                c.m_topic.push(message.topic.clone());
                c.m_key.push(message.key.clone());
                c.m_payload.push(message.payload.clone());
                c.m_origin.push(origin);
                c.m_created_at.push(micros(message.created_at));
                c.m_event.push(last_event);
            }
            for row in &write.inline {
                c.r_call.push(0);
                c.r_projection.push(row.projection.clone());
                c.r_tenant.push(row.key.tenant.clone());
                c.r_namespace.push(row.key.namespace.clone());
                c.r_resource.push(row.key.resource.clone());
                c.r_identifier.push(row.key.id.clone());
                c.r_version.push(to_i64("version", row.row.version)?);
                c.r_row.push(row.row.row.clone());
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

    /// How many stream writes the columns hold.
    pub(crate) fn writes(&self) -> usize {
        self.w_tenant.len()
    }

    /// How many idempotency records the columns hold.
    pub(crate) fn records(&self) -> usize {
        self.i_tenant.len()
    }

    /// Whether the columns hold audit records or outbox messages, which the statement
    /// inserts after the commit function ran.
    pub(crate) fn extras(&self) -> bool {
        !self.a_id.is_empty() || !self.m_id.is_empty() || !self.r_call.is_empty()
    }

    /// Appends the columns of another batch (call `call` of a group, counted from 1): its writes
    /// follow these, so its events' write numbers move up by the writes already here.
    pub(crate) fn append(&mut self, mut other: Columns, call: i32) -> Result<(), StoreError> {
        let offset = small("stream writes in one group", self.writes())?;
        let event_offset = small("events in one group", self.e_write.len())?;
        self.w_tenant.append(&mut other.w_tenant);
        self.w_namespace.append(&mut other.w_namespace);
        self.w_resource.append(&mut other.w_resource);
        self.w_identifier.append(&mut other.w_identifier);
        self.w_expected.append(&mut other.w_expected);
        self.w_count.append(&mut other.w_count);
        self.w_malformed.append(&mut other.w_malformed);
        self.w_state.append(&mut other.w_state);
        self.w_digest.append(&mut other.w_digest);
        self.w_deleted.append(&mut other.w_deleted);
        self.w_created_at.append(&mut other.w_created_at);
        self.w_updated_at.append(&mut other.w_updated_at);
        self.w_updated_by.append(&mut other.w_updated_by);
        self.e_write
            .extend(other.e_write.into_iter().map(|w| w + offset));
        self.e_k.append(&mut other.e_k);
        self.e_event_id.append(&mut other.e_event_id);
        self.e_evt_key.append(&mut other.e_evt_key);
        self.e_schema_version.append(&mut other.e_schema_version);
        self.e_payload.append(&mut other.e_payload);
        self.e_metadata.append(&mut other.e_metadata);
        self.e_recorded_at.append(&mut other.e_recorded_at);
        self.i_tenant.append(&mut other.i_tenant);
        self.i_command_id.append(&mut other.i_command_id);
        self.i_fingerprint.append(&mut other.i_fingerprint);
        self.i_resource.append(&mut other.i_resource);
        self.i_identifier.append(&mut other.i_identifier);
        self.i_from.append(&mut other.i_from);
        self.i_to.append(&mut other.i_to);
        self.i_state.append(&mut other.i_state);
        self.i_recorded_at.append(&mut other.i_recorded_at);
        self.a_call.extend(other.a_call.iter().map(|_| call));
        self.a_tenant.append(&mut other.a_tenant);
        self.a_namespace.append(&mut other.a_namespace);
        self.a_id.append(&mut other.a_id);
        self.a_recorded_at.append(&mut other.a_recorded_at);
        self.a_record.append(&mut other.a_record);
        self.m_call.extend(other.m_call.iter().map(|_| call));
        self.m_id.append(&mut other.m_id);
        self.m_tenant.append(&mut other.m_tenant);
        self.m_namespace.append(&mut other.m_namespace);
        self.m_topic.append(&mut other.m_topic);
        self.m_key.append(&mut other.m_key);
        self.m_payload.append(&mut other.m_payload);
        self.m_origin.append(&mut other.m_origin);
        self.m_created_at.append(&mut other.m_created_at);
        self.m_event.extend(
            other
                .m_event
                .into_iter()
                .map(|e| if e == 0 { 0 } else { e + event_offset }),
        );
        self.r_call.extend(other.r_call.iter().map(|_| call));
        self.r_projection.append(&mut other.r_projection);
        self.r_tenant.append(&mut other.r_tenant);
        self.r_namespace.append(&mut other.r_namespace);
        self.r_resource.append(&mut other.r_resource);
        self.r_identifier.append(&mut other.r_identifier);
        self.r_version.append(&mut other.r_version);
        self.r_row.append(&mut other.r_row);
        Ok(())
    }

    /// Adds the 30 arrays to `args`, in the order of the functions' parameters, then the six
    /// audit arrays, the ten message arrays and the eight inline-row arrays when there are
    /// any of those.
    pub(crate) fn add_to(self, args: &mut PgArguments) -> Result<(), BoxDynError> {
        let extras = self.extras();
        args.add(self.w_tenant)?;
        args.add(self.w_namespace)?;
        args.add(self.w_resource)?;
        args.add(self.w_identifier)?;
        args.add(self.w_expected)?;
        args.add(self.w_count)?;
        args.add(self.w_malformed)?;
        args.add(self.w_state)?;
        args.add(self.w_digest)?;
        args.add(self.w_deleted)?;
        args.add(self.w_created_at)?;
        args.add(self.w_updated_at)?;
        args.add(self.w_updated_by)?;
        args.add(self.e_write)?;
        args.add(self.e_k)?;
        args.add(self.e_event_id)?;
        args.add(self.e_evt_key)?;
        args.add(self.e_schema_version)?;
        args.add(self.e_payload)?;
        args.add(self.e_metadata)?;
        args.add(self.e_recorded_at)?;
        args.add(self.i_tenant)?;
        args.add(self.i_command_id)?;
        args.add(self.i_fingerprint)?;
        args.add(self.i_resource)?;
        args.add(self.i_identifier)?;
        args.add(self.i_from)?;
        args.add(self.i_to)?;
        args.add(self.i_state)?;
        args.add(self.i_recorded_at)?;
        if extras {
            args.add(self.a_call)?;
            args.add(self.a_tenant)?;
            args.add(self.a_namespace)?;
            args.add(self.a_id)?;
            args.add(self.a_recorded_at)?;
            args.add(self.a_record)?;
            args.add(self.m_call)?;
            args.add(self.m_id)?;
            args.add(self.m_tenant)?;
            args.add(self.m_namespace)?;
            args.add(self.m_topic)?;
            args.add(self.m_key)?;
            args.add(self.m_payload)?;
            args.add(self.m_origin)?;
            args.add(self.m_created_at)?;
            args.add(self.m_event)?;
            args.add(self.r_call)?;
            args.add(self.r_projection)?;
            args.add(self.r_tenant)?;
            args.add(self.r_namespace)?;
            args.add(self.r_resource)?;
            args.add(self.r_identifier)?;
            args.add(self.r_version)?;
            args.add(self.r_row)?;
        }
        Ok(())
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
        // The last representable instant has no next microsecond: it stands for itself.
        floor
            .checked_add_signed(chrono::Duration::microseconds(1))
            .unwrap_or(t)
    }
}

/// A count or small number as PostgreSQL's `integer`.
pub(crate) fn small<N: TryInto<i32> + Copy + std::fmt::Display>(
    what: &str,
    n: N,
) -> Result<i32, PgError> {
    n.try_into().map_err(|_| PgError::Encode {
        what: format!("{what} {n}"),
        message: "it is above the largest integer (2^31 - 1)".into(),
    })
}
