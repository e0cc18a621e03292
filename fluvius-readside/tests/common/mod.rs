//! What the read-side tests share: writing events straight through a backend, and recording
//! what a consumer saw so a test can count skips, duplicates and order.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;

use fluvius_core::{
    Backend, BoxFuture, CommitBatch, CommitReceipt, EventEnvelope, EventMetadata, ExpectedVersion,
    LogCursor, StateDoc, StateWrite, StreamKey, StreamWrite,
};
use fluvius_readside::{ReadsideError, Subscriber};
use parking_lot::Mutex;

/// A stream of the `bank` namespace.
pub fn key(tenant: &str, resource: &str, id: &str) -> StreamKey {
    StreamKey {
        tenant: tenant.to_owned(),
        namespace: "bank".to_owned(),
        resource: resource.to_owned(),
        id: id.to_owned(),
    }
}

/// Commits `n` events `deposit-made {"amount": k}` to `key`, after version `from`.
pub async fn deposit(backend: &dyn Backend, key: &StreamKey, from: u64, n: u64) -> CommitReceipt {
    deposit_as(backend, key, from, n, "deposit-made").await
}

/// Commits `n` events with key `evt_key` (data `{"amount": version}`) to `key`, after `from`.
pub async fn deposit_as(
    backend: &dyn Backend,
    key: &StreamKey,
    from: u64,
    n: u64,
    evt_key: &str,
) -> CommitReceipt {
    let now = chrono::Utc::now();
    let events: Vec<EventEnvelope> = (from + 1..=from + n)
        .map(|v| {
            EventEnvelope::new(
                key,
                v,
                evt_key,
                1,
                serde_json::json!({"amount": v}),
                EventMetadata::default(),
                now,
            )
        })
        .collect();
    let state = StateWrite::new(
        from + n,
        StateDoc::Json(serde_json::json!({"n": from + n})),
        false,
        now,
        now,
        None,
    );
    backend
        .commit(CommitBatch::single(StreamWrite::new(
            key.clone(),
            ExpectedVersion::at(from),
            events,
            state,
            Vec::new(),
        )))
        .await
        .expect("commit")
}

/// A subscriber recording every event it is handed, in order.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    pub seen: Arc<Mutex<Vec<(LogCursor, EventEnvelope)>>>,
}

impl Subscriber for Recorder {
    fn handle<'a>(
        &'a self,
        events: &'a [(LogCursor, EventEnvelope)],
    ) -> BoxFuture<'a, Result<(), ReadsideError>> {
        self.seen.lock().extend(events.iter().cloned());
        Box::pin(std::future::ready(Ok(())))
    }
}

/// What a reader saw against what was committed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub seen: usize,
    pub skipped: usize,
    pub duplicated: usize,
    pub out_of_order: usize,
}

/// Compares the (stream, version) pairs seen, in order, with those committed.
pub fn tally(committed: &[(String, u64)], seen: &[(String, u64)]) -> Tally {
    let mut counts: HashMap<&(String, u64), usize> = HashMap::new();
    for s in seen {
        *counts.entry(s).or_default() += 1;
    }
    let skipped = committed.iter().filter(|c| !counts.contains_key(c)).count();
    let duplicated = counts.values().map(|n| n - 1).sum();
    let mut last: HashMap<&str, u64> = HashMap::new();
    let mut out_of_order = 0;
    for (stream, version) in seen {
        let prev = last.insert(stream, *version).unwrap_or(0);
        if *version != prev + 1 {
            out_of_order += 1;
        }
    }
    Tally {
        seen: seen.len(),
        skipped,
        duplicated,
        out_of_order,
    }
}

/// The (stream, version) pair of an event.
pub fn pair(event: &EventEnvelope) -> (String, u64) {
    (
        format!("{}/{}/{}", event.tenant, event.resource, event.identifier),
        event.version,
    )
}

/// The whole global log, read in pages until caught up.
pub async fn whole_log(backend: &dyn Backend) -> Vec<EventEnvelope> {
    let mut query = fluvius_core::LogQuery::from_start().limit(5000);
    let mut log = Vec::new();
    loop {
        let page = backend.read_log(&query).await.expect("read_log");
        log.extend(page.events);
        query.after = page.next;
        if page.caught_up {
            return log;
        }
    }
}
