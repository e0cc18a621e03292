//! The write path: a whole [`CommitBatch`] in one call of `fluvius.commit_batch`, one round trip.

use std::collections::HashSet;

use fluvius_core::{
    CommitBatch, CommitReceipt, EventEnvelope, ExpectedVersion, StoreError, StreamKey, StreamWrite,
};
use serde_json::Value;
use sqlx::postgres::PgDatabaseError;

use crate::PgBackend;
use crate::columns::Columns;
use crate::error::PgError;

/// The one statement a commit issues; its implicit transaction is the commit's transaction.
const COMMIT_SQL: &str = "SELECT fluvius.commit_batch(\
    $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, \
    $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31)";

impl PgBackend {
    /// Commits a batch atomically: every stream's head is checked and its events, state row,
    /// snapshot and idempotency records written, or nothing is.
    pub(crate) async fn commit_batch(
        &self,
        batch: CommitBatch,
    ) -> Result<CommitReceipt, StoreError> {
        if batch.streams.is_empty() {
            return Ok(CommitReceipt::default());
        }
        reject_repeated_ids(&batch)?;
        let malformed: Vec<Option<String>> = batch.streams.iter().map(malformed).collect();
        let columns = Columns::from_batch(&batch, malformed.clone())?;
        let counts = columns.counts();
        let every = crate::error::to_i64("snapshot interval", self.snapshot_every)?;
        let result = columns
            .bind(sqlx::query_scalar::<_, Vec<i64>>(COMMIT_SQL))
            .bind(every)
            .fetch_one(&self.pool)
            .await;
        match result {
            Ok(positions) => receipt(&counts, positions),
            Err(err) => Err(self.commit_error(err, &batch, &malformed).await),
        }
    }

    /// Turns the server's refusal into the contract's error.
    async fn commit_error(
        &self,
        err: sqlx::Error,
        batch: &CommitBatch,
        malformed: &[Option<String>],
    ) -> StoreError {
        let Some(db) = database_error(&err) else {
            return PgError::query("committing a batch")(err).into();
        };
        let detail: Value = db
            .detail()
            .and_then(|d| serde_json::from_str(d).ok())
            .unwrap_or(Value::Null);
        let write = detail["write"]
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| batch.streams.get(i).map(|w| (i, w)));
        match (db.code(), db.constraint(), write) {
            ("FV001", _, Some((_, write))) => StoreError::Conflict {
                key: write.key.clone(),
                expected: write.expected,
                actual: detail["actual"].as_u64().unwrap_or_default(),
            },
            ("FV002", _, Some((i, _))) => {
                StoreError::Backend(malformed[i].clone().unwrap_or_default())
            }
            ("FV003", _, _) => match detail["command_id"].as_str().map(str::parse) {
                Some(Ok(command_id)) => StoreError::DuplicateCommandId {
                    tenant: detail["tenant"].as_str().unwrap_or_default().to_owned(),
                    command_id,
                },
                _ => PgError::query("committing a batch")(err).into(),
            },
            // A writer that raced past the checks: possible only without the stream lock or for
            // a command id committed between the check and the insert.
            ("23505", Some("idempotency_pkey"), _) => self.duplicate_of(batch).await,
            ("23505", Some("events_stream_version_key"), _) => self.conflict_of(batch).await,
            _ => PgError::query("committing a batch")(err).into(),
        }
    }

    /// The duplicate command id of a batch whose idempotency insert hit the primary key.
    async fn duplicate_of(&self, batch: &CommitBatch) -> StoreError {
        let records = batch.streams.iter().flat_map(|w| &w.idempotency);
        for record in records {
            match self
                .idempotency_record(&record.tenant, record.command_id)
                .await
            {
                Ok(None) => continue,
                Ok(Some(_)) => {
                    return StoreError::DuplicateCommandId {
                        tenant: record.tenant.clone(),
                        command_id: record.command_id,
                    };
                }
                Err(err) => return err.into(),
            }
        }
        StoreError::Backend("a command id of the batch was recorded concurrently".into())
    }

    /// The conflict of a batch whose event insert hit the (stream, version) key.
    async fn conflict_of(&self, batch: &CommitBatch) -> StoreError {
        for write in &batch.streams {
            match self.state_row(&write.key).await {
                Ok(row) => {
                    let actual = row.map_or(0, |r| r.version);
                    if !write.expected.matches(actual) || write.expected == ExpectedVersion::Any {
                        return StoreError::Conflict {
                            key: write.key.clone(),
                            expected: write.expected,
                            actual,
                        };
                    }
                }
                Err(err) => return err.into(),
            }
        }
        StoreError::Backend("a stream of the batch was written concurrently".into())
    }
}

fn database_error(err: &sqlx::Error) -> Option<&PgDatabaseError> {
    match err {
        sqlx::Error::Database(db) => db.try_downcast_ref::<PgDatabaseError>(),
        _ => None,
    }
}

/// The same (tenant, command id) twice in one batch is a duplicate, as in the memory backend.
fn reject_repeated_ids(batch: &CommitBatch) -> Result<(), StoreError> {
    let mut seen = HashSet::new();
    for record in batch.streams.iter().flat_map(|w| &w.idempotency) {
        if !seen.insert((record.tenant.as_str(), record.command_id)) {
            return Err(StoreError::DuplicateCommandId {
                tenant: record.tenant.clone(),
                command_id: record.command_id,
            });
        }
    }
    Ok(())
}

/// Why a write's events cannot be written whatever the stream's head, if they cannot: an event
/// addressed to another stream, or (unless the write renumbers) versions that do not continue
/// the expected head without gaps. Reported after the version check, as memory does.
fn malformed(write: &StreamWrite) -> Option<String> {
    let key = &write.key;
    let base = write.expected.as_u64();
    for (k, event) in (1..).zip(&write.events) {
        if !belongs_to(event, key) {
            return Some(format!(
                "event {} is addressed to stream {}/{}.{}/{} but was written to stream {key}",
                event.event_id, event.tenant, event.namespace, event.resource, event.identifier,
            ));
        }
        if let Some(base) = base
            && event.version != base + k
        {
            return Some(format!(
                "event {} of stream {key} has version {}, but the stream's next version is {}: \
                 events must continue their stream without gaps",
                event.event_id,
                event.version,
                base + k,
            ));
        }
    }
    None
}

fn belongs_to(event: &EventEnvelope, key: &StreamKey) -> bool {
    event.tenant == key.tenant
        && event.namespace == key.namespace
        && event.resource == key.resource
        && event.identifier == key.id
}

/// Splits the positions (batch order) into one list per stream write.
fn receipt(counts: &[usize], positions: Vec<i64>) -> Result<CommitReceipt, StoreError> {
    let total: usize = counts.iter().sum();
    if positions.len() != total {
        return Err(StoreError::Backend(format!(
            "the commit returned {} positions for {total} events",
            positions.len()
        )));
    }
    let mut positions = positions.into_iter();
    let mut per_write = Vec::with_capacity(counts.len());
    for &count in counts {
        let mut list = Vec::with_capacity(count);
        for position in positions.by_ref().take(count) {
            list.push(crate::error::to_u64("event position", position)?);
        }
        per_write.push(list);
    }
    Ok(CommitReceipt::new(per_write))
}
