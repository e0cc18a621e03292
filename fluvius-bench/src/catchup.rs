//! The read side's catch-up workloads: a log of `--events` events is written first (not
//! timed), then a subscription reads it from the origin to the end and the time is measured.
//!
//! `--readside noop` hands each page to a subscriber that does nothing and stores its checkpoint
//! after each page; `--readside projection` runs a PostgreSQL projection doing one upsert per
//! event, its checkpoint in the same transaction; `--readside projection-batch` the same
//! projection written set-based, one statement per page. The report's `commands` are the events caught
//! up, `p50_us`/`p99_us` the time per page. At the end the checkpoint must be at the log's last
//! event and, for the projection, the projected totals must add up to the events (exit non-zero
//! otherwise).

use std::sync::Arc;
use std::time::Instant;

use fluvius::backend::{
    BoxFuture, CommitBatch, ExpectedVersion, StateDoc, StateWrite, StreamKey, StreamWrite,
};
use fluvius::readside::postgres::{PgCheckpoints, PgProjection};
use fluvius::readside::{
    Batch, CheckpointStore, Checkpointed, Consumer, ReadsideError, Subscriber, Subscription,
};
use fluvius::{Backend, EventEnvelope, EventMetadata, LogCursor, LogFilter, MemBackend, PgBackend};
use parking_lot::Mutex;
use serde::Deserialize;

use crate::report::{Latencies, Report, peak_rss_mb};
use crate::{Args, BackendKind, Readside};

/// Events per stream in the pre-filled log.
const PER_STREAM: u64 = 10;
/// Streams per commit while pre-filling.
const STREAMS_PER_COMMIT: u64 = 100;
/// Events per page read.
const PAGE: usize = 2000;

#[derive(Debug, Deserialize)]
struct Deposited {
    amount: i64,
}

/// Runs a catch-up workload.
pub async fn run(args: &Args, kind: Readside) -> Result<Report, String> {
    let (backend_name, backend, pg): (&'static str, Arc<dyn Backend>, Option<PgBackend>) =
        match args.backend {
            BackendKind::Memory => ("memory", Arc::new(MemBackend::new()), None),
            BackendKind::Postgres => {
                let pool = crate::database::fresh_pool(8).await?;
                let backend = PgBackend::from_pool(pool)
                    .await
                    .map_err(|e| e.to_string())?;
                ("postgres", Arc::new(backend.clone()), Some(backend))
            }
        };
    let last = prefill(&backend, args.events as u64).await?;
    if args.system == crate::System::Plain {
        return match (kind, &pg) {
            (Readside::Projection, Some(pg)) => plain_projection(args, pg, last).await,
            _ => Err("--system plain runs the readside projection workload on PostgreSQL".into()),
        };
    }
    let timed = Timed::default();
    let sub = Subscription::new(Arc::clone(&backend)).batch_size(PAGE);
    let (consumer, checkpoints): (Box<dyn Consumer>, Arc<dyn CheckpointStore>) = match (kind, &pg) {
        (Readside::Noop, Some(pg)) => {
            let store: Arc<dyn CheckpointStore> = Arc::new(PgCheckpoints::new(pg.pool().clone()));
            (
                Box::new(Checkpointed::new("bench-noop", store.clone(), Noop)),
                store,
            )
        }
        (Readside::Noop, None) => {
            let store: Arc<dyn CheckpointStore> =
                Arc::new(fluvius::readside::MemCheckpoints::new());
            (
                Box::new(Checkpointed::new("bench-noop", store.clone(), Noop)),
                store,
            )
        }
        (Readside::Projection, Some(pg)) => {
            create_table(pg).await?;
            let projection = PgProjection::new("bench-projection", pg.pool().clone()).on(
                "deposit-made",
                |tx, data: Deposited, event| {
                    Box::pin(async move {
                        sqlx::query(
                            "INSERT INTO bench_balances (id, total) VALUES ($1, $2) \
                                 ON CONFLICT (id) DO UPDATE \
                                 SET total = bench_balances.total + excluded.total",
                        )
                        .bind(&event.identifier)
                        .bind(data.amount)
                        .execute(&mut *tx)
                        .await?;
                        Ok(())
                    })
                },
            );
            (
                Box::new(projection),
                Arc::new(PgCheckpoints::new(pg.pool().clone())),
            )
        }
        (Readside::ProjectionBatch, Some(pg)) => {
            create_table(pg).await?;
            // One statement per page: the page's amounts summed per account, then upserted.
            let projection =
                PgProjection::new("bench-projection", pg.pool().clone()).on_batch(|tx, entries| {
                    Box::pin(async move {
                        let mut sums = std::collections::BTreeMap::<&str, i64>::new();
                        for (_, event) in entries {
                            let data: Deposited = fluvius::readside::decode(event, 1)?;
                            *sums.entry(event.identifier.as_str()).or_default() += data.amount;
                        }
                        let (ids, amounts): (Vec<&str>, Vec<i64>) = sums.into_iter().unzip();
                        sqlx::query(
                            "INSERT INTO bench_balances (id, total) \
                             SELECT * FROM unnest($1::text[], $2::bigint[]) \
                             ON CONFLICT (id) DO UPDATE \
                             SET total = bench_balances.total + excluded.total",
                        )
                        .bind(ids)
                        .bind(amounts)
                        .execute(&mut *tx)
                        .await?;
                        Ok(())
                    })
                });
            (
                Box::new(projection),
                Arc::new(PgCheckpoints::new(pg.pool().clone())),
            )
        }
        (Readside::Latency, _) => return Err("the latency workload runs apart".into()),
        (Readside::Projection | Readside::ProjectionBatch, None) => {
            return Err(
                "--readside projection writes to a PostgreSQL table: use --backend postgres".into(),
            );
        }
    };
    let name = consumer.name().to_owned();
    let wrapped = TimedConsumer {
        inner: consumer,
        timed: timed.clone(),
    };
    let start = Instant::now();
    // On a worker thread of the runtime, where `Subscription::spawn` runs a subscription.
    let events = tokio::spawn(async move { sub.catch_up(&wrapped).await })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let secs = start.elapsed().as_secs_f64();

    let mut failures = Vec::new();
    if events != args.events as u64 {
        failures.push(format!(
            "caught up {events} events, the log holds {}",
            args.events
        ));
    }
    let stored = checkpoints
        .load(&name)
        .await
        .map_err(|e| e.to_string())?
        .unwrap_or(LogCursor::START);
    if stored != last {
        failures.push(format!(
            "the checkpoint is at {stored}, the log ends at {last}"
        ));
    }
    if let (Readside::Projection | Readside::ProjectionBatch, Some(pg)) = (kind, &pg) {
        let total: Option<i64> =
            sqlx::query_scalar("SELECT sum(total)::bigint FROM bench_balances")
                .fetch_one(pg.pool())
                .await
                .map_err(|e| e.to_string())?;
        if total != Some(args.events as i64) {
            failures.push(format!(
                "the projection adds up to {total:?}, expected {}",
                args.events
            ));
        }
    }
    let mut latencies = std::mem::take(&mut *timed.pages.lock());
    Ok(Report {
        transport: None,
        audit: false,
        tenant_wall: false,
        notify: false,
        system: "fluvius",
        backend: backend_name,
        workload: match kind {
            Readside::Noop => "catchup-noop",
            Readside::Projection => "catchup-projection",
            Readside::ProjectionBatch => "catchup-projection-batch",
            Readside::Latency => "commit-to-handler",
        },
        commands: events,
        secs: (secs * 1e4).round() / 1e4,
        cmds_per_sec: (events as f64 / secs.max(1e-9)).round(),
        p50_us: latencies.quantile(0.50),
        p99_us: latencies.quantile(0.99),
        conflict_retries: 0,
        rss_mb: peak_rss_mb(),
        failures,
    })
}

/// The per-event projection written by hand, as the baseline of `--readside projection`: the
/// log read in the same pages straight from the backend, each page in one transaction with one
/// upsert per event and the checkpoint row, no subscription, consumer or decoding layer.
async fn plain_projection(args: &Args, pg: &PgBackend, last: LogCursor) -> Result<Report, String> {
    create_table(pg).await?;
    let pool = pg.pool();
    sqlx::query(
        "CREATE TABLE bench_plain_checkpoint (name text PRIMARY KEY, cursor text NOT NULL)",
    )
    .execute(pool)
    .await
    .map_err(|e| e.to_string())?;
    let start = Instant::now();
    // On a worker thread of the runtime, as a subscription's task runs.
    let (events, after, latencies) = tokio::spawn(plain_pages(pg.clone()))
        .await
        .map_err(|e| e.to_string())??;
    let secs = start.elapsed().as_secs_f64();
    let mut failures = Vec::new();
    if events != args.events as u64 || after != last {
        failures.push(format!(
            "read {events} events up to {after}, the log holds {} up to {last}",
            args.events
        ));
    }
    let total: Option<i64> = sqlx::query_scalar("SELECT sum(total)::bigint FROM bench_balances")
        .fetch_one(pool)
        .await
        .map_err(|e| e.to_string())?;
    if total != Some(args.events as i64) {
        failures.push(format!(
            "the projection adds up to {total:?}, expected {}",
            args.events
        ));
    }
    let mut latencies = latencies;
    Ok(Report {
        transport: None,
        audit: false,
        tenant_wall: false,
        notify: false,
        system: "plain",
        backend: "postgres",
        workload: "catchup-projection",
        commands: events,
        secs: (secs * 1e4).round() / 1e4,
        cmds_per_sec: (events as f64 / secs.max(1e-9)).round(),
        p50_us: latencies.quantile(0.50),
        p99_us: latencies.quantile(0.99),
        conflict_retries: 0,
        rss_mb: peak_rss_mb(),
        failures,
    })
}

/// The pages of [`plain_projection`]: events applied, where the reader stands, page latencies.
async fn plain_pages(pg: PgBackend) -> Result<(u64, LogCursor, Latencies), String> {
    let pool = pg.pool();
    let mut query = fluvius::LogQuery::from_start().limit(PAGE);
    let mut latencies = Latencies::default();
    let mut events = 0u64;
    loop {
        let page_started = Instant::now();
        let page = pg.read_log(&query).await.map_err(|e| e.to_string())?;
        let mut tx = pool.begin().await.map_err(|e| e.to_string())?;
        for event in &page.events {
            let amount = event.payload["amount"].as_i64().unwrap_or_default();
            sqlx::query(
                "INSERT INTO bench_balances (id, total) VALUES ($1, $2) \
                 ON CONFLICT (id) DO UPDATE SET total = bench_balances.total + excluded.total",
            )
            .bind(&event.identifier)
            .bind(amount)
            .execute(&mut *tx)
            .await
            .map_err(|e| e.to_string())?;
        }
        sqlx::query(
            "INSERT INTO bench_plain_checkpoint (name, cursor) VALUES ('plain', $1) \
             ON CONFLICT (name) DO UPDATE SET cursor = excluded.cursor",
        )
        .bind(page.next.to_string())
        .execute(&mut *tx)
        .await
        .map_err(|e| e.to_string())?;
        tx.commit().await.map_err(|e| e.to_string())?;
        events += page.events.len() as u64;
        latencies.record(page_started.elapsed());
        query.after = page.next;
        if page.caught_up {
            return Ok((events, query.after, latencies));
        }
    }
}

/// The projections' table.
async fn create_table(pg: &PgBackend) -> Result<(), String> {
    sqlx::query("CREATE TABLE bench_balances (id text PRIMARY KEY, total bigint NOT NULL)")
        .execute(pg.pool())
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Writes `events` deposits of 1, `PER_STREAM` per stream, several streams per commit, four
/// commits at a time; returns the cursor of the log's last event.
async fn prefill(backend: &Arc<dyn Backend>, events: u64) -> Result<LogCursor, String> {
    if events == 0 || !events.is_multiple_of(PER_STREAM) {
        return Err(format!(
            "--events must be a positive multiple of {PER_STREAM}, not {events}"
        ));
    }
    let streams = events / PER_STREAM;
    let commits: Vec<u64> = (0..streams).step_by(STREAMS_PER_COMMIT as usize).collect();
    let mut last = LogCursor::START;
    for chunk in commits.chunks(4) {
        let mut tasks = Vec::new();
        for &first in chunk {
            let backend = Arc::clone(backend);
            let upto = (first + STREAMS_PER_COMMIT).min(streams);
            tasks.push(tokio::spawn(async move {
                let now = chrono::Utc::now();
                let writes = (first..upto)
                    .map(|s| {
                        let key = StreamKey {
                            tenant: String::new(),
                            namespace: "banking".into(),
                            resource: "account".into(),
                            id: format!("acct-{s:08}"),
                        };
                        let events: Vec<EventEnvelope> = (1..=PER_STREAM)
                            .map(|v| {
                                EventEnvelope::new(
                                    &key,
                                    v,
                                    "deposit-made",
                                    1,
                                    serde_json::json!({"amount": 1}),
                                    EventMetadata::default(),
                                    now,
                                )
                            })
                            .collect();
                        let state = StateWrite::new(
                            PER_STREAM,
                            StateDoc::Json(serde_json::json!({"balance": PER_STREAM})),
                            false,
                            now,
                            now,
                            None,
                        );
                        StreamWrite::new(key, ExpectedVersion::NoStream, events, state, Vec::new())
                    })
                    .collect();
                backend.commit(CommitBatch::new(writes)).await
            }));
        }
        for task in tasks {
            let receipt = task
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("pre-filling the log: {e}"))?;
            last = last.max(receipt.cursor());
        }
    }
    Ok(last)
}

/// A subscriber that does nothing.
#[derive(Debug)]
struct Noop;

impl Subscriber for Noop {
    fn handle<'a>(
        &'a self,
        events: &'a [(LogCursor, EventEnvelope)],
    ) -> BoxFuture<'a, Result<(), ReadsideError>> {
        std::hint::black_box(events);
        Box::pin(std::future::ready(Ok(())))
    }
}

#[derive(Debug, Default, Clone)]
struct Timed {
    pages: Arc<Mutex<Latencies>>,
}

/// Times each page a consumer takes.
struct TimedConsumer {
    inner: Box<dyn Consumer>,
    timed: Timed,
}

impl Consumer for TimedConsumer {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn filter(&self) -> LogFilter {
        self.inner.filter()
    }

    fn checkpoint(&self) -> BoxFuture<'_, Result<LogCursor, ReadsideError>> {
        self.inner.checkpoint()
    }

    fn consume<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<(), ReadsideError>> {
        Box::pin(async move {
            let start = Instant::now();
            let result = self.inner.consume(batch).await;
            self.timed.pages.lock().record(start.elapsed());
            result
        })
    }
}

/// Remembers when each event (by position) was handed to the subscriber.
#[derive(Debug, Default, Clone)]
struct Arrivals {
    at: Arc<Mutex<std::collections::HashMap<u64, Instant>>>,
}

impl Subscriber for Arrivals {
    fn handle<'a>(
        &'a self,
        events: &'a [(LogCursor, EventEnvelope)],
    ) -> BoxFuture<'a, Result<(), ReadsideError>> {
        let now = Instant::now();
        let mut at = self.at.lock();
        for (_, event) in events {
            at.insert(event.position, now);
        }
        Box::pin(std::future::ready(Ok(())))
    }
}

/// `--readside latency`: `--concurrency` tasks commit `--events` one-event commits in all while a
/// subscription runs; the latency of an event is from its commit returning to the subscriber
/// receiving it (0 when the subscriber was first).
pub async fn latency(args: &Args) -> Result<Report, String> {
    let (backend_name, backend, checkpoints): (
        &'static str,
        Arc<dyn Backend>,
        Arc<dyn CheckpointStore>,
    ) = match args.backend {
        BackendKind::Memory => (
            "memory",
            Arc::new(MemBackend::new()),
            Arc::new(fluvius::readside::MemCheckpoints::new()),
        ),
        BackendKind::Postgres => {
            let pool =
                crate::database::fresh_pool(args.concurrency.clamp(1, 60) as u32 + 4).await?;
            let backend = PgBackend::from_pool(pool)
                .await
                .map_err(|e| e.to_string())?;
            let store = Arc::new(PgCheckpoints::new(backend.pool().clone()));
            ("postgres", Arc::new(backend), store)
        }
    };
    let arrivals = Arrivals::default();
    let handle = Subscription::new(Arc::clone(&backend))
        .batch_size(PAGE)
        .spawn(Checkpointed::new(
            "bench-latency",
            checkpoints,
            arrivals.clone(),
        ))
        .map_err(|e| e.to_string())?;
    let per_task = args.events / args.concurrency.max(1);
    let start = Instant::now();
    let tasks: Vec<_> = (0..args.concurrency)
        .map(|t| {
            let backend = Arc::clone(&backend);
            tokio::spawn(async move {
                let key = StreamKey {
                    tenant: String::new(),
                    namespace: "banking".into(),
                    resource: "account".into(),
                    id: format!("latency-{t}"),
                };
                let mut committed = Vec::with_capacity(per_task);
                for v in 1..=per_task as u64 {
                    let now = chrono::Utc::now();
                    let event = EventEnvelope::new(
                        &key,
                        v,
                        "deposit-made",
                        1,
                        serde_json::json!({"amount": 1}),
                        EventMetadata::default(),
                        now,
                    );
                    let state = StateWrite::new(
                        v,
                        StateDoc::Json(serde_json::json!({"balance": v})),
                        false,
                        now,
                        now,
                        None,
                    );
                    let receipt = backend
                        .commit(CommitBatch::single(StreamWrite::new(
                            key.clone(),
                            ExpectedVersion::at(v - 1),
                            vec![event],
                            state,
                            Vec::new(),
                        )))
                        .await
                        .map_err(|e| e.to_string())?;
                    committed.push((receipt.positions[0][0], receipt.cursor(), Instant::now()));
                }
                Ok::<_, String>(committed)
            })
        })
        .collect();
    let mut committed = Vec::new();
    for task in tasks {
        committed.extend(task.await.map_err(|e| e.to_string())??);
    }
    let secs = start.elapsed().as_secs_f64();
    let last = committed
        .iter()
        .map(|c| c.1)
        .max()
        .unwrap_or(LogCursor::START);
    handle
        .wait_for(last, std::time::Duration::from_secs(60))
        .await
        .map_err(|e| e.to_string())?;
    handle.stop().await;
    let at = arrivals.at.lock();
    let mut latencies = Latencies::with_capacity(committed.len());
    let mut failures = Vec::new();
    for (position, _, returned) in &committed {
        match at.get(position) {
            Some(arrived) => latencies.record(arrived.saturating_duration_since(*returned)),
            None => failures.push(format!("the event at position {position} never arrived")),
        }
    }
    let commands = committed.len() as u64;
    Ok(Report {
        transport: None,
        audit: false,
        tenant_wall: false,
        notify: false,
        system: "fluvius",
        backend: backend_name,
        workload: "commit-to-handler",
        commands,
        secs: (secs * 1e4).round() / 1e4,
        cmds_per_sec: (commands as f64 / secs.max(1e-9)).round(),
        p50_us: latencies.quantile(0.50),
        p99_us: latencies.quantile(0.99),
        conflict_retries: 0,
        rss_mb: peak_rss_mb(),
        failures,
    })
}
