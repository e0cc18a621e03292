//! The read-side tests can fail: the checks that count skipped, duplicated and out-of-order
//! events catch a backend that skips ahead in the log (as time-based gap skipping does) and a
//! subscriber that repeats or reorders events.

mod common;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use common::{Recorder, deposit, key, pair, tally, whole_log};
use fluvius_core::{
    Backend, BoxFuture, CommitBatch, CommitReceipt, CommitSignal, EventEnvelope, IdempotencyRecord,
    LogCursor, LogPage, LogQuery, StaleQuery, StatePage, StateQuery, StateWrite, StoreError,
    StoredState, StreamKey, StreamRange,
};
use fluvius_memory::MemBackend;
use fluvius_readside::{Checkpointed, MemCheckpoints, Subscription};
use uuid::Uuid;

/// A backend whose log reads leave out every event at a position ending in 7 while still moving
/// `next` past it: a reader that trusted a timeout to give up on a gap would do the same.
#[derive(Debug)]
struct SkipsAhead(MemBackend);

impl Backend for SkipsAhead {
    fn name(&self) -> &'static str {
        "skips-ahead"
    }
    fn commit(&self, batch: CommitBatch) -> BoxFuture<'_, Result<CommitReceipt, StoreError>> {
        self.0.commit(batch)
    }
    fn load_state<'a>(
        &'a self,
        key: &'a StreamKey,
    ) -> BoxFuture<'a, Result<Option<StoredState>, StoreError>> {
        self.0.load_state(key)
    }
    fn read_stream<'a>(
        &'a self,
        key: &'a StreamKey,
        range: StreamRange,
    ) -> BoxFuture<'a, Result<Vec<EventEnvelope>, StoreError>> {
        self.0.read_stream(key, range)
    }
    fn read_log<'a>(&'a self, query: &'a LogQuery) -> BoxFuture<'a, Result<LogPage, StoreError>> {
        Box::pin(async move {
            let page = self.0.read_log(query).await?;
            let entries = page
                .entries()
                .filter(|(cursor, _)| cursor.position() % 10 != 7)
                .map(|(cursor, event)| (cursor, event.clone()))
                .collect();
            Ok(LogPage::new(entries, page.next, page.caught_up))
        })
    }
    fn log_cursor(&self, position: u64) -> BoxFuture<'_, Result<Option<LogCursor>, StoreError>> {
        self.0.log_cursor(position)
    }
    fn find<'a>(&'a self, query: &'a StateQuery) -> BoxFuture<'a, Result<StatePage, StoreError>> {
        self.0.find(query)
    }
    fn idempotency<'a>(
        &'a self,
        tenant: &'a str,
        command_id: Uuid,
    ) -> BoxFuture<'a, Result<Option<IdempotencyRecord>, StoreError>> {
        self.0.idempotency(tenant, command_id)
    }
    fn purge_idempotency(&self, before: DateTime<Utc>) -> BoxFuture<'_, Result<u64, StoreError>> {
        self.0.purge_idempotency(before)
    }
    fn refresh_state<'a>(
        &'a self,
        key: &'a StreamKey,
        state: StateWrite,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.0.refresh_state(key, state)
    }
    fn stale_states<'a>(
        &'a self,
        query: &'a StaleQuery,
    ) -> BoxFuture<'a, Result<Vec<StreamKey>, StoreError>> {
        self.0.stale_states(query)
    }
    fn commit_signal(&self) -> Option<&CommitSignal> {
        self.0.commit_signal()
    }
}

#[tokio::test]
async fn a_backend_that_skips_ahead_is_caught() {
    let honest = MemBackend::new();
    let mutant = Arc::new(SkipsAhead(honest.clone()));
    for i in 0..20 {
        deposit(&honest, &key("", "account", &format!("s{i}")), 0, 10).await;
    }
    let recorder = Recorder::default();
    Subscription::new(mutant)
        .batch_size(13)
        .catch_up(&Checkpointed::new(
            "mutant",
            Arc::new(MemCheckpoints::new()),
            recorder.clone(),
        ))
        .await
        .unwrap();
    let committed: Vec<_> = whole_log(&honest).await.iter().map(pair).collect();
    let seen: Vec<_> = recorder.seen.lock().iter().map(|(_, e)| pair(e)).collect();
    let t = tally(&committed, &seen);
    assert_eq!(t.skipped, 20, "every tenth event was left out");
    assert!(
        t.out_of_order > 0,
        "a stream's versions jump over the missing ones"
    );
}

#[test]
fn repeats_and_reorders_are_counted() {
    let ev = |s: &str, v: u64| (s.to_owned(), v);
    let committed = vec![ev("a", 1), ev("a", 2), ev("b", 1)];
    let clean = tally(&committed, &committed);
    assert_eq!(
        (clean.skipped, clean.duplicated, clean.out_of_order),
        (0, 0, 0)
    );
    let repeated = tally(
        &committed,
        &[ev("a", 1), ev("a", 2), ev("a", 2), ev("b", 1)],
    );
    assert_eq!((repeated.duplicated, repeated.out_of_order), (1, 1));
    let reordered = tally(&committed, &[ev("a", 2), ev("a", 1), ev("b", 1)]);
    assert_eq!((reordered.skipped, reordered.out_of_order), (0, 2));
}
