//! The suite can fail: run against deliberately broken wrappers of the in-memory backend, the
//! cases that guard each broken promise must panic.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use fluvius_core::filter::{Filter, Op};
use fluvius_core::{
    Backend, BoxFuture, CommitBatch, CommitReceipt, EventEnvelope, ExpectedVersion,
    IdempotencyRecord, LogCursor, LogPage, LogQuery, StaleQuery, StatePage, StateQuery, StateWrite,
    StoreError, StoredState, StreamKey, StreamRange,
};
use fluvius_memory::MemBackend;
use uuid::Uuid;

/// What a mutant gets wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flaw {
    /// Commits without checking the expected version.
    NoVersionCheck,
    /// Never records nor finds idempotency records.
    NoIdempotency,
    /// Puts every tenant's data in one partition.
    TenantBlind,
    /// Returns every row of a query, whatever the filter.
    IgnoresFilters,
    /// Reads whole streams whatever the range asked for.
    IgnoresRanges,
    /// Drops the last event of every page of the global log, yet moves the cursor past it.
    DropsPageTail,
    /// Points `next` of a page of two or more events back before its last one, which the next
    /// page then repeats.
    RepeatsPageTail,
    /// Leaves a filtered reader's cursor at the last event it returned, so it scans the events
    /// it skipped again and again.
    NextIgnoresSkipped,
    /// Never stores a state digest: every state row reads back as written by unknown code.
    DropsDigest,
    /// Rewrites a stale state row's state but keeps its old digest.
    KeepsOldDigest,
    /// Returns a query's rows in reverse order.
    FindUnsorted,
    /// Reports the rows of the page as a query's total.
    FindWrongTotal,
    /// Rewrites a state row whatever version it is at, over a writer that came first.
    UnguardedRewrite,
    /// Lists stale rows from the start whatever page was asked for.
    StalePagesRestart,
    /// Commits a batch's stream writes one by one, keeping those before a refused one.
    SplitsBatches,
    /// Evaluates `ne` and negations as SQL's three-valued `NOT` does: rows where a negated
    /// field is null or absent drop out.
    ThreeValuedLogic,
    /// Commits the events of accepted commands but not their audit records.
    DropsCommittedAudit,
}

/// `filter` with SQL's three-valued logic: `ne` and every `Not` also require the fields they
/// read to be present.
fn three_valued(filter: &Filter) -> Filter {
    match filter {
        Filter::And(parts) => Filter::And(parts.iter().map(three_valued).collect()),
        Filter::Or(parts) => Filter::Or(parts.iter().map(three_valued).collect()),
        Filter::Not(inner) => {
            let mut parts = vec![Filter::Not(Box::new(three_valued(inner)))];
            present(inner, &mut parts);
            Filter::And(parts)
        }
        Filter::Cmp(c) if c.op == Op::Ne => {
            let mut parts = vec![filter.clone()];
            present(filter, &mut parts);
            Filter::And(parts)
        }
        other => other.clone(),
    }
}

/// Pushes `field.null: false` for every field a filter reads.
fn present(filter: &Filter, out: &mut Vec<Filter>) {
    match filter {
        Filter::And(parts) | Filter::Or(parts) => parts.iter().for_each(|p| present(p, out)),
        Filter::Not(inner) => present(inner, out),
        Filter::Cmp(c) => {
            let mut test = c.clone();
            test.op = Op::Null;
            test.value = serde_json::Value::Bool(false);
            out.push(Filter::Cmp(test));
        }
        _ => {}
    }
}

#[derive(Debug)]
struct Mutant {
    inner: MemBackend,
    flaw: Flaw,
}

impl Mutant {
    fn key(&self, key: &StreamKey) -> StreamKey {
        let mut key = key.clone();
        if self.flaw == Flaw::TenantBlind {
            key.tenant.clear();
        }
        key
    }
}

impl Backend for Mutant {
    fn name(&self) -> &'static str {
        "mutant"
    }

    fn commit(&self, mut batch: CommitBatch) -> BoxFuture<'_, Result<CommitReceipt, StoreError>> {
        if self.flaw == Flaw::SplitsBatches {
            return Box::pin(async move {
                let mut positions = Vec::new();
                for write in batch.streams {
                    let receipt = self.inner.commit(CommitBatch::single(write)).await?;
                    positions.extend(receipt.positions);
                }
                Ok(CommitReceipt::new(positions))
            });
        }
        if self.flaw == Flaw::NoVersionCheck {
            return Box::pin(async move {
                // Lays each write over whatever head the stream has: a lost update.
                for write in &mut batch.streams {
                    let head = self
                        .inner
                        .load_state(&write.key)
                        .await?
                        .map_or(0, |s| s.version);
                    write.expected = ExpectedVersion::at(head);
                    for (version, event) in
                        (head + 1..).zip(std::sync::Arc::make_mut(&mut write.events).iter_mut())
                    {
                        event.version = version;
                    }
                    write.state.version = head + write.events.len() as u64;
                }
                self.inner.commit(batch).await
            });
        }
        for write in &mut batch.streams {
            match self.flaw {
                Flaw::NoVersionCheck => {}
                Flaw::NoIdempotency => write.idempotency.clear(),
                Flaw::TenantBlind => {
                    write.key.tenant.clear();
                    std::sync::Arc::make_mut(&mut write.events)
                        .iter_mut()
                        .for_each(|e| e.tenant.clear());
                    write.idempotency.iter_mut().for_each(|r| r.tenant.clear());
                }
                Flaw::DropsDigest => write.state.digest.clear(),
                Flaw::DropsCommittedAudit => write.audit.clear(),
                _ => {}
            }
        }
        self.inner.commit(batch)
    }

    fn load_state<'a>(
        &'a self,
        key: &'a StreamKey,
    ) -> BoxFuture<'a, Result<Option<StoredState>, StoreError>> {
        let key = self.key(key);
        Box::pin(async move { self.inner.load_state(&key).await })
    }

    fn read_stream<'a>(
        &'a self,
        key: &'a StreamKey,
        range: StreamRange,
    ) -> BoxFuture<'a, Result<Vec<EventEnvelope>, StoreError>> {
        let key = self.key(key);
        let range = match self.flaw {
            Flaw::IgnoresRanges => StreamRange::all(),
            _ => range,
        };
        Box::pin(async move { self.inner.read_stream(&key, range).await })
    }

    fn read_log<'a>(&'a self, query: &'a LogQuery) -> BoxFuture<'a, Result<LogPage, StoreError>> {
        Box::pin(async move {
            let page = self.inner.read_log(query).await?;
            let mut entries: Vec<(LogCursor, EventEnvelope)> =
                page.cursors.into_iter().zip(page.events).collect();
            let mut next = page.next;
            match self.flaw {
                Flaw::DropsPageTail => {
                    entries.pop();
                }
                Flaw::RepeatsPageTail if entries.len() >= 2 => {
                    next = entries[entries.len() - 2].0;
                }
                Flaw::NextIgnoresSkipped if !query.filter.is_all() => {
                    next = entries.last().map_or(query.after, |(cursor, _)| *cursor);
                }
                _ => {}
            }
            Ok(LogPage::new(entries, next, page.caught_up))
        })
    }

    fn log_cursor(&self, position: u64) -> BoxFuture<'_, Result<Option<LogCursor>, StoreError>> {
        self.inner.log_cursor(position)
    }

    fn find<'a>(&'a self, query: &'a StateQuery) -> BoxFuture<'a, Result<StatePage, StoreError>> {
        let mut query = query.clone();
        match self.flaw {
            Flaw::TenantBlind => query.tenant.clear(),
            Flaw::IgnoresFilters => query.filter = Filter::All,
            Flaw::ThreeValuedLogic => query.filter = three_valued(&query.filter),
            _ => {}
        }
        Box::pin(async move {
            let mut page = self.inner.find(&query).await?;
            match self.flaw {
                Flaw::FindUnsorted => page.rows.reverse(),
                Flaw::FindWrongTotal => page.total = page.rows.len() as u64,
                _ => {}
            }
            Ok(page)
        })
    }

    fn idempotency<'a>(
        &'a self,
        tenant: &'a str,
        command_id: Uuid,
    ) -> BoxFuture<'a, Result<Option<IdempotencyRecord>, StoreError>> {
        match self.flaw {
            Flaw::NoIdempotency => Box::pin(async { Ok(None) }),
            Flaw::TenantBlind => self.inner.idempotency("", command_id),
            _ => self.inner.idempotency(tenant, command_id),
        }
    }

    fn purge_idempotency(&self, before: DateTime<Utc>) -> BoxFuture<'_, Result<u64, StoreError>> {
        self.inner.purge_idempotency(before)
    }

    fn refresh_state<'a>(
        &'a self,
        key: &'a StreamKey,
        mut state: StateWrite,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let key = self.key(key);
        Box::pin(async move {
            match self.flaw {
                Flaw::DropsDigest => state.digest.clear(),
                Flaw::KeepsOldDigest => {
                    if let Some(row) = self.inner.load_state(&key).await? {
                        state.digest = row.digest;
                    }
                }
                Flaw::UnguardedRewrite => {
                    if let Some(row) = self.inner.load_state(&key).await? {
                        state.version = row.version;
                    }
                }
                _ => {}
            }
            self.inner.refresh_state(&key, state).await
        })
    }

    fn audit(&self) -> Option<&dyn fluvius_core::AuditStore> {
        self.inner.audit()
    }

    fn outbox(&self) -> Option<&dyn fluvius_core::OutboxStore> {
        self.inner.outbox()
    }

    fn keeps_inline_rows(&self) -> bool {
        self.inner.keeps_inline_rows()
    }

    fn read_inline<'a>(
        &'a self,
        projection: &'a str,
        key: &'a fluvius_core::StreamKey,
    ) -> fluvius_core::BoxFuture<
        'a,
        Result<Option<fluvius_core::InlineRow>, fluvius_core::StoreError>,
    > {
        self.inner.read_inline(projection, key)
    }

    fn stale_states<'a>(
        &'a self,
        query: &'a StaleQuery,
    ) -> BoxFuture<'a, Result<Vec<StreamKey>, StoreError>> {
        let mut query = query.clone();
        if self.flaw == Flaw::StalePagesRestart {
            query.after = None;
        }
        Box::pin(async move { self.inner.stale_states(&query).await })
    }
}

/// The names of the cases that fail against a mutant.
async fn failing(flaw: Flaw) -> BTreeSet<String> {
    let mut failed = BTreeSet::new();
    for case in fluvius_conformance::CASES {
        let backend: Arc<dyn Backend> = Arc::new(Mutant {
            inner: MemBackend::new(),
            flaw,
        });
        let run = tokio::spawn((case.run)(backend));
        let passed = matches!(
            tokio::time::timeout(Duration::from_secs(60), run).await,
            Ok(Ok(()))
        );
        if !passed {
            failed.insert(format!("{}::{}", case.module, case.name));
        }
    }
    failed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_broken_promise_is_caught() {
    let expectations: [(Flaw, &[&str]); 17] = [
        (
            Flaw::NoVersionCheck,
            &[
                "concurrency::two_domains_race",
                "concurrency::stale_cache_retries",
                "root_errors::create_existing_root",
                "unit_concurrency::stale_stream_in_unit",
                "unit_concurrency::units_across_domains",
            ],
        ),
        (
            Flaw::NoIdempotency,
            &[
                "idempotency::repeat_returns_first_response",
                "idempotency::same_id_other_command",
                "idempotency::generated_id_repeat",
                "idempotency::concurrent_duplicates",
                "idempotency::noop_with_id",
                "idempotency::purge_idempotency",
                "units::unit_replay",
            ],
        ),
        (
            Flaw::TenantBlind,
            &[
                "tenancy::tenant_walls",
                "tenant_property::tenants_never_see_each_other",
                "idempotency::id_scoped_by_tenant",
                "units::unit_tenancy",
            ],
        ),
        (
            Flaw::IgnoresFilters,
            &[
                "query_filters::filter_operators",
                "query_filters::filter_negation",
                "query_filters::filter_composition",
                "query_filters::filter_shorthands",
                "query_values::filter_values",
                "query_values::find_as_json",
            ],
        ),
        (
            Flaw::IgnoresRanges,
            &[
                "time_travel::fetch_at_each_version",
                "time_travel::fetch_at_time",
                "idempotency::repeat_returns_first_response",
            ],
        ),
        (
            Flaw::DropsPageTail,
            &[
                "log::log_in_commit_order",
                "log::log_pages_under_concurrent_writers",
                "log::log_filters",
            ],
        ),
        (
            Flaw::RepeatsPageTail,
            &[
                "log::log_in_commit_order",
                "log::log_pages_under_concurrent_writers",
                "log::log_filters",
            ],
        ),
        (Flaw::NextIgnoresSkipped, &["log::log_filters"]),
        (
            Flaw::DropsDigest,
            &[
                "upgrade::changed_state_version_refolds_once",
                "upgrade::refresh_states_makes_find_exact",
            ],
        ),
        (
            Flaw::KeepsOldDigest,
            &[
                "upgrade::changed_state_version_refolds_once",
                "upgrade::refresh_states_makes_find_exact",
            ],
        ),
        (
            Flaw::FindUnsorted,
            &[
                "query_pages::sort_orders",
                "upgrade::refresh_states_makes_find_exact",
            ],
        ),
        (Flaw::FindWrongTotal, &["query_pages::pagination"]),
        (
            Flaw::UnguardedRewrite,
            &["upgrade::write_back_keeps_concurrent_writer"],
        ),
        (
            Flaw::StalePagesRestart,
            &["upgrade::refresh_states_pages_across_tenants"],
        ),
        (
            Flaw::SplitsBatches,
            &[
                "import::multi_stream_commit_is_atomic",
                "unit_concurrency::stale_stream_in_unit",
            ],
        ),
        (
            Flaw::ThreeValuedLogic,
            &[
                "query_filters::filter_operators",
                "query_filters::filter_negation",
                "query_filters::filter_shorthands",
            ],
        ),
        (
            Flaw::DropsCommittedAudit,
            &[
                "audit::every_attempt_is_recorded",
                "audit::units_are_recorded_whole",
                "audit::concurrent_attempts_recorded_once",
            ],
        ),
    ];
    // The failing cases' panic messages are expected here; keep the output readable.
    std::panic::set_hook(Box::new(|_| {}));
    let mut results = Vec::new();
    for (flaw, _) in &expectations {
        results.push(failing(*flaw).await);
    }
    drop(std::panic::take_hook());
    for ((flaw, expected), failed) in expectations.iter().zip(results) {
        let missed: Vec<_> = expected.iter().filter(|c| !failed.contains(**c)).collect();
        assert!(
            missed.is_empty(),
            "{flaw:?}: these cases passed against a broken backend: {missed:?} (failed: {failed:?})"
        );
    }
}
