//! The replay workload: what an upcast step costs a fold. A log of `--events` meter readings
//! (streams of [`PER_STREAM`] events) is imported first (not timed), either in the current shape
//! (`--replay current`, `reading-taken` v2) or one version older (`--replay upcast`, v1, read
//! through one step); then every stream is folded from its first event with `fetch_at` by
//! `--concurrency` tasks, and the time is measured. The report's `commands` are the events
//! folded, `p50_us`/`p99_us` the time per stream. Every folded meter must count its readings
//! (exit non-zero otherwise).

use std::sync::Arc;
use std::time::Instant;

use fluvius::prelude::*;
use fluvius::{Backend, ImportEvent, MemBackend, PgBackend};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::report::{Latencies, Report, peak_rss_mb};
use crate::{Args, BackendKind, ReplayShape};

/// Events per stream: one installation and the readings.
const PER_STREAM: usize = 100;
/// Streams per import commit while the log is filled.
const STREAMS_PER_IMPORT: usize = 50;

/// A meter's state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Meter {
    /// Readings taken.
    pub readings: u64,
    /// Their sum.
    pub total: i64,
}

/// `meter-installed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Installed {
    /// Where.
    pub site: String,
}

/// `reading-taken` v2: v1 had no unit (always watt-hours).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Reading {
    /// The value read.
    pub value: i64,
    /// Its unit.
    pub unit: String,
}

impl Apply<Installed> for Meter {
    fn apply(&mut self, _event: &Installed) {}
}

impl Apply<Reading> for Meter {
    fn apply(&mut self, event: &Reading) {
        self.readings += 1;
        self.total = self.total.saturating_add(event.value);
    }
}

/// `reading-taken` v1 → v2: the unit was implied.
fn reading_v1_to_v2(mut payload: Value) -> Result<Value, String> {
    let object = payload.as_object_mut().ok_or("not an object")?;
    object.insert("unit".into(), Value::from("Wh"));
    Ok(payload)
}

/// The metering aggregate of the replay workload.
#[derive(Debug, Clone, Copy)]
pub struct Metering;

#[aggregate(resources(meter = Meter))]
impl Metering {
    #[action(evt_key = "meter-installed", resources = ["meter"], new)]
    async fn install(&self, site: String) -> Result<Installed, DomainError> {
        Ok(Installed { site })
    }

    #[action(
        evt_key = "reading-taken",
        resources = ["meter"],
        schema_version = 2,
        upcast(1 = reading_v1_to_v2)
    )]
    async fn read(&self, _meter: &Meter, value: i64, unit: String) -> Result<Reading, DomainError> {
        Ok(Reading { value, unit })
    }
}

/// Fills the log, folds every stream, checks and reports.
pub async fn run(args: &Args, shape: ReplayShape) -> Result<Report, String> {
    let (backend_name, backend): (&'static str, Arc<dyn Backend>) = match args.backend {
        BackendKind::Memory => ("memory", Arc::new(MemBackend::new())),
        BackendKind::Postgres => {
            let connections = u32::try_from(args.concurrency).unwrap_or(64).clamp(1, 64);
            let pool = crate::database::fresh_pool(connections).await?;
            let backend = PgBackend::from_pool(pool)
                .await
                .map_err(|e| e.to_string())?;
            ("postgres", Arc::new(backend))
        }
    };
    let domain = Domain::builder("metering")
        .aggregate(Metering)
        .shared_backend(backend)
        .finish()
        .map_err(|e| e.to_string())?;
    let streams = (args.events / PER_STREAM).max(1);
    fill(&domain, streams, shape).await?;

    let tasks = args.concurrency.min(streams);
    let started = Instant::now();
    let mut handles = Vec::with_capacity(tasks);
    for task in 0..tasks {
        let domain = domain.clone();
        handles.push(tokio::spawn(async move {
            let reads = domain.statemgr();
            let mut latencies = Latencies::with_capacity(streams / tasks + 1);
            let mut failures = Vec::new();
            for stream in (task..streams).step_by(tasks) {
                let at = Instant::now();
                let folded = reads
                    .fetch_at::<Meter>("meter", id(stream), At::Version(PER_STREAM as u64))
                    .await;
                latencies.record(at.elapsed());
                match folded {
                    Ok(record) if record.state.readings == (PER_STREAM - 1) as u64 => {}
                    Ok(record) => failures.push(format!(
                        "{} folded {} readings, not {}",
                        id(stream),
                        record.state.readings,
                        PER_STREAM - 1
                    )),
                    Err(err) => failures.push(format!("{}: {err}", id(stream))),
                }
            }
            (latencies, failures)
        }));
    }
    let mut latencies = Latencies::with_capacity(streams);
    let mut failures = Vec::new();
    for handle in handles {
        let (lat, fail) = handle
            .await
            .map_err(|e| format!("a fold task failed: {e}"))?;
        latencies.merge(lat);
        failures.extend(fail);
    }
    let secs = started.elapsed().as_secs_f64();
    let events = (streams * PER_STREAM) as u64;
    Ok(Report {
        system: "fluvius",
        backend: backend_name,
        workload: match shape {
            ReplayShape::Current => "replay-current",
            ReplayShape::Upcast => "replay-upcast",
        },
        commands: events,
        secs,
        cmds_per_sec: events as f64 / secs,
        p50_us: latencies.quantile(0.50),
        p99_us: latencies.quantile(0.99),
        conflict_retries: 0,
        rss_mb: peak_rss_mb(),
        transport: None,
        audit: false,
        tenant_wall: false,
        notify: false,
        failures,
    })
}

fn id(stream: usize) -> String {
    format!("m-{stream:07}")
}

/// Imports `streams` meters, their readings in the shape `shape` asks for.
async fn fill(domain: &Domain, streams: usize, shape: ReplayShape) -> Result<(), String> {
    for first in (0..streams).step_by(STREAMS_PER_IMPORT) {
        let mut events = Vec::with_capacity(STREAMS_PER_IMPORT * PER_STREAM);
        for stream in first..(first + STREAMS_PER_IMPORT).min(streams) {
            events.push(ImportEvent::new(
                "meter",
                id(stream),
                "meter-installed",
                json!({"site": "bench"}),
            ));
            for value in 1..PER_STREAM as i64 {
                let event = match shape {
                    ReplayShape::Current => ImportEvent::new(
                        "meter",
                        id(stream),
                        "reading-taken",
                        json!({"value": value, "unit": "Wh"}),
                    )
                    .schema_version(2),
                    ReplayShape::Upcast => ImportEvent::new(
                        "meter",
                        id(stream),
                        "reading-taken",
                        json!({"value": value}),
                    ),
                };
                events.push(event);
            }
        }
        domain
            .import(events)
            .await
            .map_err(|e| format!("filling the log: {e}"))?;
    }
    Ok(())
}
