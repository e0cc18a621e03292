//! The bank's worker process: runs the `bank-balances` projection (see `example_bank::worker`)
//! whenever it holds the projection's lease, the `banking` commands queued in
//! `fluvius.command_queue`, and a relay delivering the outbox's large-withdrawal alerts (to a
//! desk that prints them), beside any number of other `bank-worker` processes on the same
//! database, until it is stopped.
//!
//! `cargo run -p example-bank --bin bank-worker -- [--postgres URL] [--id NAME] [--lease-ms N]`
//! (URL default: `DATABASE_URL`, else the local server; NAME default: host and process id;
//! lease default 2,000 ms). Ctrl-C or SIGTERM shut it down gracefully: the batch in flight
//! finishes and the lease is released, so another worker takes over at once. A `kill -9` works
//! too: its lease expires and another worker takes over with the next epoch; the queued
//! commands it had claimed run again once their claim (as long as the lease) expires, and each
//! applies once (the domain's idempotency, keyed by the queued command's id). It logs what it
//! does on stderr (`RUST_LOG`, default `info,sqlx=warn`).

use std::sync::Arc;
use std::time::Duration;

use example_bank::readside::AlertDesk;
use example_bank::{ALERTS, Banking, worker};
use fluvius::prelude::*;
use fluvius::readside::postgres::{PgCommandQueue, PgLeases};
use fluvius::readside::{OutboxRelay, QueueRunner, Worker};

struct Args {
    url: String,
    id: String,
    lease: Duration,
}

fn args() -> Result<Args, String> {
    let mut args = Args {
        url: std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned()),
        id: format!(
            "{}:{}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into()),
            std::process::id()
        ),
        lease: Duration::from_millis(2_000),
    };
    let mut given = std::env::args().skip(1);
    while let Some(flag) = given.next() {
        let mut value = || {
            given
                .next()
                .ok_or_else(|| format!("`{flag}` needs a value"))
        };
        match flag.as_str() {
            "--postgres" => args.url = value()?,
            "--id" => args.id = value()?,
            "--lease-ms" => {
                let ms = value()?;
                let ms: u64 = ms
                    .parse()
                    .map_err(|_| format!("`--lease-ms` takes milliseconds, not `{ms}`"))?;
                args.lease = Duration::from_millis(ms);
            }
            other => {
                return Err(format!(
                    "unknown argument `{other}`: expected `--postgres URL`, `--id NAME` or `--lease-ms N`"
                ));
            }
        }
    }
    Ok(args)
}

async fn run(args: Args) -> Result<(), String> {
    let backend = fluvius::PgBackend::connect(&args.url)
        .await
        .map_err(|e| format!("cannot use PostgreSQL at {}: {e}", args.url))?;
    let pool = backend.pool().clone();
    worker::create_tables(&pool)
        .await
        .map_err(|e| format!("cannot create the read model's table: {e}"))?;
    let domain = Domain::builder("banking")
        .aggregate(Banking)
        .backend(backend)
        .finish()
        .map_err(|e| e.to_string())?;
    let handle = Worker::new(&args.id, Arc::new(PgLeases::new(pool.clone())))
        .lease_ttl(args.lease)
        .run(
            worker::subscription(&domain),
            worker::balances(pool.clone()),
        )
        .spawn()
        .map_err(|e| e.to_string())?;
    // The lease of a claimed alert is the worker's; a delivery may take up to half of it.
    let alerts = OutboxRelay::new(domain.backend().clone(), Arc::new(AlertDesk::printing()))
        .owner(&args.id)
        .topics([ALERTS])
        .lease(args.lease)
        .delivery_timeout(args.lease / 2)
        .spawn()
        .map_err(|e| e.to_string())?;
    let commands = QueueRunner::new(domain, Arc::new(PgCommandQueue::new(pool)))
        .owner(&args.id)
        .lease(args.lease)
        .spawn()
        .map_err(|e| e.to_string())?;
    println!("bank-worker {} running (lease {:?})", args.id, args.lease);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("cannot listen for SIGTERM: {e}"))?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    commands.stop().await;
    alerts.stop().await;
    handle.shutdown().await;
    println!("bank-worker {} stopped", args.id);
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // What the worker does (leases taken and given back, retries, deliveries) is logged with
    // `tracing`, on stderr; `RUST_LOG` chooses how much (default `info,sqlx=warn`).
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn".into());
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .init();
    let result = match args() {
        Ok(args) => run(args).await,
        Err(err) => {
            eprintln!("bank-worker: {err}");
            return std::process::ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bank-worker: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
