//! The bank and hot workloads, run by concurrent tasks against either driver.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use example_bank::{Banking, Deposit, OpenAccount};
use fluvius::prelude::*;
use fluvius::{Backend, MemBackend, PgBackend};

use crate::http::HttpBank;
use crate::pg_plain::PgPlainBank;
use crate::plain::PlainBank;
use crate::report::{Latencies, Report, peak_rss_mb};
use crate::{Args, BackendKind, System, Transport, Workload};

/// The opening balance of every account.
const OPENING: i64 = 100;

/// Runs the workload the arguments describe.
pub async fn run(args: &Args) -> Result<Report, String> {
    let connections = u32::try_from(args.concurrency)
        .unwrap_or(u32::MAX)
        .clamp(1, 64);
    // With `--notify`, the listening backend, held until the run ends.
    let mut listening = None;
    let (backend_name, driver) = match (args.backend, args.system) {
        (BackendKind::Memory, system) => {
            let backend: Arc<dyn Backend> = Arc::new(MemBackend::new());
            let driver = match system {
                System::Fluvius => Driver::Fluvius(fluvius_domain(backend, args.audit)?),
                System::Plain => Driver::Plain(Arc::new(PlainBank::new(backend))),
            };
            ("memory", driver)
        }
        (BackendKind::Postgres, System::Fluvius) => {
            let pool = crate::database::fresh_pool(connections).await?;
            let mut backend = PgBackend::from_pool(pool)
                .await
                .map_err(|e| e.to_string())?;
            if args.tenant_wall {
                let walled = crate::database::walled_pool(backend.pool(), connections).await?;
                backend = PgBackend::from_migrated_pool(walled)
                    .await
                    .map_err(|e| e.to_string())?;
                if !backend
                    .behind_tenant_wall()
                    .await
                    .map_err(|e| e.to_string())?
                {
                    return Err("the benchmark's role is not subject to row-level security".into());
                }
            }
            if args.notify {
                let listener_pool = crate::database::second_pool(2).await?;
                let listener = PgBackend::from_migrated_pool(listener_pool)
                    .await
                    .map_err(|e| e.to_string())?;
                // Kept for the run: dropping it stops the listening task.
                listening = Some((listener.listen_commits(), listener));
                backend = backend.notify_commits(true);
            }
            (
                "postgres",
                Driver::Fluvius(fluvius_domain(Arc::new(backend), args.audit)?),
            )
        }
        (BackendKind::Postgres, System::Plain) => {
            let pool = crate::database::fresh_pool(connections).await?;
            (
                "postgres",
                Driver::PgPlain(Arc::new(PgPlainBank::new(pool).await?)),
            )
        }
    };
    let driver = match (args.transport, driver) {
        (Transport::Http, Driver::Fluvius(domain)) => {
            Driver::Http(Arc::new(HttpBank::serve(domain, args.concurrency).await?))
        }
        (_, driver) => driver,
    };
    let (ids, expected): (Vec<String>, i64) = match args.workload {
        Workload::Bank => (
            (0..args.accounts)
                .map(|_| uuid::Uuid::now_v7().to_string())
                .collect(),
            OPENING + args.deposits as i64,
        ),
        Workload::Hot => (
            vec![uuid::Uuid::now_v7().to_string()],
            OPENING + (args.concurrency * args.hot_per_task) as i64,
        ),
    };
    let ids = Arc::new(ids);

    let started = Instant::now();
    let mut latencies = match args.workload {
        Workload::Bank => bank(args, &driver, &ids).await?,
        Workload::Hot => hot(args, &driver, &ids[0]).await?,
    };
    let secs = started.elapsed().as_secs_f64();

    let mut failures = Vec::new();
    for id in ids.iter() {
        match driver.balance(id).await {
            Ok(balance) if balance == expected => {}
            Ok(balance) => failures.push(format!(
                "account {id}: balance {balance}, expected {expected}"
            )),
            Err(err) => failures.push(format!("account {id}: {err}")),
        }
    }
    let commands = latencies.len() as u64;
    // The listener ran through the whole workload; it stops here.
    drop(listening);
    Ok(Report {
        system: match args.system {
            System::Fluvius => "fluvius",
            System::Plain => "plain",
        },
        backend: backend_name,
        workload: match args.workload {
            Workload::Bank => "bank",
            Workload::Hot => "hot",
        },
        commands,
        secs: (secs * 1e4).round() / 1e4,
        cmds_per_sec: (commands as f64 / secs.max(1e-9)).round(),
        p50_us: latencies.quantile(0.50),
        p99_us: latencies.quantile(0.99),
        conflict_retries: driver.conflict_retries(),
        rss_mb: peak_rss_mb(),
        transport: (args.transport == Transport::Http).then_some("http"),
        audit: args.audit,
        tenant_wall: args.tenant_wall,
        notify: args.notify,
        failures,
    })
}

fn fluvius_domain(backend: Arc<dyn Backend>, audit: bool) -> Result<Domain, String> {
    Domain::builder("banking")
        .aggregate(Banking)
        .shared_backend(backend)
        .audit(audit)
        .build()
        .map_err(|e| e.to_string())
}

async fn bank(args: &Args, driver: &Driver, ids: &Arc<Vec<String>>) -> Result<Latencies, String> {
    let next = Arc::new(AtomicUsize::new(0));
    let deposits = args.deposits;
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency {
        let (driver, ids, next) = (driver.clone(), ids.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Latencies::with_capacity(ids.len() / 8 * (deposits + 1));
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(id) = ids.get(i) else { break };
                lat.record(timed(driver.open(id)).await?);
                for _ in 0..deposits {
                    lat.record(timed(driver.deposit(id)).await?);
                }
            }
            Ok::<_, String>(lat)
        }));
    }
    join(tasks).await
}

async fn hot(args: &Args, driver: &Driver, id: &str) -> Result<Latencies, String> {
    driver.open(id).await?;
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency {
        let (driver, id, n) = (driver.clone(), id.to_owned(), args.hot_per_task);
        tasks.push(tokio::spawn(async move {
            let mut lat = Latencies::with_capacity(n);
            for _ in 0..n {
                lat.record(timed(driver.deposit(&id)).await?);
            }
            Ok::<_, String>(lat)
        }));
    }
    join(tasks).await
}

async fn timed(fut: impl Future<Output = Result<(), String>>) -> Result<Duration, String> {
    let start = Instant::now();
    fut.await?;
    Ok(start.elapsed())
}

async fn join(
    tasks: Vec<tokio::task::JoinHandle<Result<Latencies, String>>>,
) -> Result<Latencies, String> {
    let mut all = Latencies::default();
    for task in tasks {
        all.merge(task.await.map_err(|e| format!("a task died: {e}"))??);
    }
    Ok(all)
}

/// What runs the commands. Each system's futures are boxed, so the task's future stays small
/// whatever the largest system's is (all systems pay the same allocation per command).
#[derive(Clone)]
enum Driver {
    Fluvius(Domain),
    Plain(Arc<PlainBank>),
    PgPlain(Arc<PgPlainBank>),
    Http(Arc<HttpBank>),
}

impl Driver {
    async fn open(&self, id: &str) -> Result<(), String> {
        match self {
            Driver::Fluvius(domain) => {
                let open = OpenAccount {
                    customer_id: "bench".into(),
                    initial_balance: OPENING,
                };
                Box::pin(domain.execute(open, ("account", id)))
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
            Driver::Plain(bank) => Box::pin(bank.open(id, OPENING)).await,
            Driver::PgPlain(bank) => Box::pin(bank.open(id, OPENING)).await,
            Driver::Http(bank) => Box::pin(bank.open(id)).await,
        }
    }

    async fn deposit(&self, id: &str) -> Result<(), String> {
        match self {
            Driver::Fluvius(domain) => {
                Box::pin(domain.execute(Deposit { amount: 1 }, ("account", id)))
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
            Driver::Plain(bank) => Box::pin(bank.deposit(id, 1)).await,
            Driver::PgPlain(bank) => Box::pin(bank.deposit(id, 1)).await,
            Driver::Http(bank) => Box::pin(bank.deposit(id)).await,
        }
    }

    async fn balance(&self, id: &str) -> Result<i64, String> {
        let domain = match self {
            Driver::Fluvius(domain) => domain,
            Driver::Http(bank) => bank.domain(),
            Driver::Plain(bank) => return bank.balance(id).await,
            Driver::PgPlain(bank) => return bank.balance(id).await,
        };
        domain
            .statemgr()
            .fetch::<example_bank::Account>("account", id)
            .await
            .map(|a| a.balance)
            .map_err(|e| e.to_string())
    }

    fn conflict_retries(&self) -> u64 {
        match self {
            Driver::Fluvius(domain) => domain.stats().conflict_retries,
            Driver::Plain(bank) => bank.conflict_retries(),
            Driver::PgPlain(bank) => bank.conflict_retries(),
            Driver::Http(bank) => bank.domain().stats().conflict_retries,
        }
    }
}
