//! The Fluvius benchmark binary: runs the bank or the hot workload against a backend, checks every
//! balance, and prints one JSON line of figures.
//!
//! `--system fluvius` drives the bank domain through `Domain`; `--system plain` does the same work
//! hand-written against the same backend, as the baseline to compare with.

mod catchup;
mod database;
mod http;
mod pg_plain;
mod plain;
mod replay;
mod report;
mod workload;

use std::process::ExitCode;

use clap::{Parser, ValueEnum};

// A service keeping its event log in memory allocates steadily; glibc's per-thread arenas then
// grow in small mprotect steps. Production binaries pick their allocator; the benchmark uses
// mimalloc for both systems, so ratios stay like for like.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Command-line interface; keep it stable, figures are compared across versions.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "fluvius-bench",
    about = "Bank and hot workloads against a Fluvius backend"
)]
pub struct Args {
    /// Where events and state are stored.
    #[arg(long, value_enum, default_value_t = BackendKind::Memory)]
    pub backend: BackendKind,
    /// `bank`: A accounts, each opened then deposited into D times; `hot`: C tasks depositing H
    /// times into one account.
    #[arg(long, value_enum, default_value_t = Workload::Bank)]
    pub workload: Workload,
    /// Accounts in the bank workload.
    #[arg(long, default_value_t = 1000)]
    pub accounts: usize,
    /// Deposits per account in the bank workload.
    #[arg(long, default_value_t = 9)]
    pub deposits: usize,
    /// Concurrent tasks.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Deposits per task in the hot workload.
    #[arg(long, default_value_t = 30)]
    pub hot_per_task: usize,
    /// `fluvius` (the framework) or `plain` (the hand-written baseline).
    #[arg(long, value_enum, default_value_t = System::Fluvius)]
    pub system: System,
    /// Runs a read-side catch-up workload instead of `--workload`: `noop` (a subscriber doing
    /// nothing), `projection` (one upsert per event, checkpoint in the same transaction) or
    /// `projection-batch` (the same, one statement per page); `latency`: commit-to-subscriber
    /// latency while commits run.
    #[arg(long, value_enum)]
    pub readside: Option<Readside>,
    /// Runs the replay workload instead of `--workload`: `--events` events in streams of 100,
    /// stored in the current shape (`current`) or one schema version older (`upcast`, read
    /// through one upcast step), each stream folded from its first event.
    #[arg(long, value_enum)]
    pub replay: Option<ReplayShape>,
    /// Events pre-filled for `--readside` (a multiple of 10) and `--replay`.
    #[arg(long, default_value_t = 200_000)]
    pub events: usize,
    /// `in-process` (calls on the domain) or `http` (the domain served by `fluvius-http` on
    /// 127.0.0.1 and driven by an HTTP client; `--system fluvius` only).
    #[arg(long, value_enum, default_value_t = Transport::InProcess)]
    pub transport: Transport,
    /// Builds the bank domain with its audit log on (`--system fluvius`, workloads `bank` and
    /// `hot`): every command also writes its audit record in its commit.
    #[arg(long)]
    pub audit: bool,
    /// PostgreSQL only, `--system fluvius`: connects the backend as a role that row-level
    /// security applies to (`fluvius_bench_app`, created if need be; the schema migrated by the
    /// `DATABASE_URL` user first), so every transaction is scoped to its tenant.
    #[arg(long)]
    pub tenant_wall: bool,
    /// PostgreSQL only, `--system fluvius`, workloads `bank` and `hot`: wake-ups across
    /// processes on: the backend announces its commits with `NOTIFY` (`notify_commits`), and a
    /// second backend on a pool of its own listens for them (`listen_commits`), as a worker in
    /// another process would.
    #[arg(long)]
    pub notify: bool,
}

/// The read-side catch-up workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Readside {
    /// A subscriber that does nothing, its checkpoint stored after each page.
    Noop,
    /// A PostgreSQL projection: one upsert per event, checkpoint in the same transaction.
    Projection,
    /// The same projection set-based: one upsert statement per page.
    ProjectionBatch,
    /// Commit-to-subscriber latency while `--concurrency` tasks commit `--events` events.
    Latency,
}

/// The stored shape of the replay workload's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReplayShape {
    /// Stored at the current schema version: no upcast step runs.
    Current,
    /// Stored one version older: every reading goes through one upcast step.
    Upcast,
}

/// How commands reach the domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Transport {
    /// Direct calls.
    InProcess,
    /// HTTP on the loopback interface.
    Http,
}

/// The backend under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendKind {
    /// The in-memory backend.
    Memory,
    /// PostgreSQL at `DATABASE_URL` (a fresh `fluvius_bench` database is created on that server).
    Postgres,
}

/// The workload shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// Many accounts, a few deposits each.
    Bank,
    /// One account, many concurrent deposits.
    Hot,
}

/// What runs the workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum System {
    /// The Fluvius domain.
    Fluvius,
    /// Hand-written commands against the same backend.
    Plain,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.transport == Transport::Http && args.system == System::Plain {
        eprintln!("fluvius-bench: --transport http runs the fluvius system only");
        return ExitCode::from(2);
    }
    if args.audit
        && (args.system == System::Plain || args.replay.is_some() || args.readside.is_some())
    {
        eprintln!("fluvius-bench: --audit applies to the fluvius system's bank and hot workloads");
        return ExitCode::from(2);
    }
    if args.tenant_wall
        && (args.system == System::Plain
            || args.backend != BackendKind::Postgres
            || args.replay.is_some()
            || args.readside.is_some())
    {
        eprintln!("fluvius-bench: --tenant-wall applies to the fluvius system on PostgreSQL");
        return ExitCode::from(2);
    }
    if args.notify
        && (args.system == System::Plain
            || args.backend != BackendKind::Postgres
            || args.replay.is_some()
            || args.readside.is_some())
    {
        eprintln!("fluvius-bench: --notify applies to the fluvius system on PostgreSQL");
        return ExitCode::from(2);
    }
    if args.concurrency == 0 {
        eprintln!("fluvius-bench: --concurrency must be at least 1");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("fluvius-bench: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let run = async {
        match (args.replay, args.readside) {
            (Some(shape), _) => replay::run(&args, shape).await,
            (None, Some(Readside::Latency)) => catchup::latency(&args).await,
            (None, Some(kind)) => catchup::run(&args, kind).await,
            (None, None) => workload::run(&args).await,
        }
    };
    match runtime.block_on(run) {
        Ok(report) => {
            println!("{}", report.to_json());
            if report.failures.is_empty() {
                ExitCode::SUCCESS
            } else {
                for failure in report.failures.iter().take(10) {
                    eprintln!("fluvius-bench: {failure}");
                }
                ExitCode::FAILURE
            }
        }
        Err(err) => {
            eprintln!("fluvius-bench: {err}");
            ExitCode::FAILURE
        }
    }
}
