//! Unit tests of the in-memory backend, with envelopes and writes built by hand.

mod commit;
mod concurrency;
mod find;
mod reads;

use chrono::{DateTime, TimeZone, Utc};
use fluvius_core::{
    AggRoot, Backend, CommitBatch, CommitReceipt, EventEnvelope, EventMetadata, ExpectedVersion,
    IdempotencyRecord, LogQuery, StateDoc, StateWrite, StoreError, StreamKey, StreamWrite,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::MemBackend;

/// A fixed instant, `secs` seconds after the start of 2024.
fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_704_067_200 + secs, 0)
        .single()
        .expect("valid time")
}

/// The key of an `account` stream of the `bank` namespace.
fn key(tenant: &str, id: &str) -> StreamKey {
    StreamKey {
        tenant: tenant.into(),
        namespace: "bank".into(),
        resource: "account".into(),
        id: id.into(),
    }
}

/// An event of `key` at `version`, recorded at `at(version)`.
fn event(key: &StreamKey, version: u64, payload: Value) -> EventEnvelope {
    let mut metadata = EventMetadata::default();
    metadata.command = "deposit".into();
    metadata.user = Some("tester".into());
    metadata.tenant = key.tenant.clone();
    metadata.time = at(0);
    EventEnvelope::new(
        key,
        version,
        "deposited",
        1,
        payload,
        metadata,
        at(version as i64),
    )
}

/// A JSON state row at `version`.
fn state(version: u64, doc: Value) -> StateWrite {
    StateWrite::new(
        version,
        StateDoc::Json(doc),
        false,
        at(version as i64),
        at(version as i64),
        Some("tester".into()),
    )
}

/// A write of `count` events to a stream at `head`, expecting `head`; the state is
/// `{"balance": <new version>}`.
fn write(key: &StreamKey, head: u64, count: u64) -> StreamWrite {
    let expected = match head {
        0 => ExpectedVersion::NoStream,
        v => ExpectedVersion::Exact(v),
    };
    let events: Vec<EventEnvelope> = (head + 1..=head + count)
        .map(|v| event(key, v, json!({ "amount": v })))
        .collect();
    let doc = json!({ "balance": head + count });
    StreamWrite::new(
        key.clone(),
        expected,
        events,
        state(head + count, doc),
        Vec::new(),
    )
}

/// An idempotency record of a command on `key`, recorded at `at(secs)`.
fn record(key: &StreamKey, command_id: Uuid, secs: i64) -> IdempotencyRecord {
    IdempotencyRecord::new(
        key.tenant.clone(),
        command_id,
        "fingerprint".into(),
        AggRoot::new(key.resource.clone(), &key.id),
        0,
        1,
        json!({ "balance": 1 }),
        at(secs),
    )
}

/// Commits a single stream write.
async fn commit_one(backend: &MemBackend, write: StreamWrite) -> Result<CommitReceipt, StoreError> {
    backend.commit(CommitBatch::single(write)).await
}

/// The whole global log.
async fn log(backend: &MemBackend) -> Vec<EventEnvelope> {
    let query = LogQuery::from_start().limit(usize::MAX);
    backend.read_log(&query).await.expect("read_log").events
}

/// The versions of a list of events.
fn versions(events: &[EventEnvelope]) -> Vec<u64> {
    events.iter().map(|e| e.version).collect()
}

/// The positions of a list of events.
fn positions(events: &[EventEnvelope]) -> Vec<u64> {
    events.iter().map(|e| e.position).collect()
}

/// The JSON of a stored state document.
fn doc(state: &StateDoc) -> Value {
    state.to_json().expect("state as JSON")
}
