//! Wake-ups across processes: a coalesced `NOTIFY` after commits, and a listener that turns the
//! notifications of other processes into this process's [`CommitSignal`].
//!
//! The `NOTIFY` is never part of a command's transaction: PostgreSQL takes a cluster-wide lock
//! at the commit of any transaction that notified, which would serialise every commit. It is
//! sent by a task of its own after commits have returned, one statement at a time and at most
//! one per [`NOTIFY_SPACING`]: commits that return meanwhile are covered by a single next one.
//! A lost notification costs only latency, since readers also poll.

use std::sync::Arc;
use std::time::Duration;

use fluvius_core::CommitSignal;
use parking_lot::Mutex;
use sqlx::PgPool;
use sqlx::postgres::PgListener;

/// The channel commits are announced on (`NOTIFY fluvius_log`), one per database.
pub const LOG_CHANNEL: &str = "fluvius_log";

/// The least time between two notifications of one backend. Without it a busy writer sends one
/// per round trip, thousands a second, each a transaction of the server's and a wake-up of every
/// listener; the bank benchmark lost about a tenth of its throughput to them on two cores. A
/// listener elsewhere hears of a commit at most this much later.
pub const NOTIFY_SPACING: Duration = Duration::from_millis(5);

/// Where the coalescing sender is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sending {
    /// No notification in flight.
    Idle,
    /// One in flight, no commit since it was sent.
    InFlight,
    /// One in flight, and commits since: send one more after it.
    Again,
}

/// The coalescing `NOTIFY` sender of one backend and its clones.
#[derive(Debug)]
pub(crate) struct Notifier {
    state: Mutex<Sending>,
}

impl Notifier {
    pub(crate) fn new() -> Notifier {
        Notifier {
            state: Mutex::new(Sending::Idle),
        }
    }

    /// Announces a commit that has returned: sends a `NOTIFY` now, or after the one in flight.
    pub(crate) fn poke(self: &Arc<Self>, pool: &PgPool) {
        let mut state = self.state.lock();
        match *state {
            Sending::Idle => {
                *state = Sending::InFlight;
                drop(state);
                let notifier = Arc::clone(self);
                let pool = pool.clone();
                tokio::spawn(async move { notifier.send_until_quiet(pool).await });
            }
            Sending::InFlight => *state = Sending::Again,
            Sending::Again => {}
        }
    }

    async fn send_until_quiet(&self, pool: PgPool) {
        loop {
            let started = tokio::time::Instant::now();
            let sent = sqlx::query("SELECT pg_notify($1, '')")
                .bind(LOG_CHANNEL)
                .execute(&pool)
                .await;
            if let Err(err) = sent {
                // Readers poll as well: a lost notification delays them, it loses nothing.
                tracing::debug!(error = %err, "could not announce a commit with NOTIFY");
            }
            // Commits returning meanwhile find one in flight and are covered by the next.
            tokio::time::sleep(NOTIFY_SPACING.saturating_sub(started.elapsed())).await;
            let mut state = self.state.lock();
            if *state == Sending::Again {
                *state = Sending::InFlight;
            } else {
                *state = Sending::Idle;
                return;
            }
        }
    }
}

/// A task listening for the commits other processes announce on the database, raising this
/// backend's [`CommitSignal`] for each; made by
/// [`PgBackend::listen_commits`](crate::PgBackend::listen_commits). It reconnects by itself
/// after a lost connection (and raises the signal then, since notifications may have been missed
/// meanwhile). Dropping it stops the task.
#[derive(Debug)]
pub struct PgCommitListener {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PgCommitListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PgCommitListener {
    pub(crate) fn spawn(pool: PgPool, signal: Arc<CommitSignal>) -> PgCommitListener {
        PgCommitListener {
            task: tokio::spawn(listen(pool, signal)),
        }
    }
}

async fn listen(pool: PgPool, signal: Arc<CommitSignal>) {
    let mut pause = Duration::from_millis(50);
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(err) => {
                tracing::debug!(error = %err, "cannot open a connection to LISTEN on");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        if let Err(err) = listener.listen(LOG_CHANNEL).await {
            tracing::debug!(error = %err, "LISTEN failed");
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(5));
            continue;
        }
        // Commits made before LISTEN took effect were not announced to us.
        signal.raise();
        pause = Duration::from_millis(50);
        loop {
            match listener.try_recv().await {
                Ok(Some(_)) => signal.raise(),
                // The connection was lost and is reopened on the next call: what was announced
                // meanwhile is lost, so readers look now.
                Ok(None) => signal.raise(),
                Err(err) => {
                    tracing::debug!(error = %err, "the LISTEN connection failed");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(5));
                    break;
                }
            }
        }
    }
}
