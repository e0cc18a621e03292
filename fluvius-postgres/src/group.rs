//! Group commit across streams: concurrent [`commit`](fluvius_core::Backend::commit) calls of a
//! [`PgBackend`] and its clones share one transaction, so they share one WAL flush, each call
//! keeping its own all-or-nothing outcome.
//!
//! A call is checked and laid out in the caller's task ([`Prepared`]), then queued with a oneshot
//! sender for its answer. Fewer than [`PgBackend::max_flushers`] flushers running, the caller
//! spawns one (a task of its own, so a caller that stops waiting cannot cancel a flush that
//! carries other callers' writes). A flusher takes the queued calls, up to
//! [`PgBackend::max_group`] stream writes, sends them in one round trip
//! (one call of `fluvius.commit`, whether it carries one call or several), answers each
//! call, and takes the next calls; with none queued it waits for one, at most [`LINGER`], then
//! stops. The queue and the counts of flushers (running, waiting) share one mutex, so a queued
//! call always has a flusher that will take it: see [`CommitQueue::push`].

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use fluvius_core::{CommitBatch, CommitReceipt, StoreError};
use sqlx::Postgres;
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgSeverity;

use crate::PgBackend;
use crate::commit::{Answer, CommitRow, Prepared, answers, arguments, database_error};
use crate::error::PgError;

/// How many flushes may be in flight at once unless configured otherwise (see
/// [`PgBackend::max_flushers`]).
pub const DEFAULT_MAX_FLUSHERS: usize = 2;

/// How many stream writes one flush carries at most unless configured otherwise (see
/// [`PgBackend::max_group`]).
pub const DEFAULT_MAX_GROUP: usize = 256;

/// A call of `commit` waiting in the queue.
#[derive(Debug)]
struct Call {
    prepared: Prepared,
    reply: tokio::sync::oneshot::Sender<Answer>,
}

impl Call {
    fn answer(self, answer: Answer) {
        Call::reply(self.reply, answer);
    }

    fn reply(reply: tokio::sync::oneshot::Sender<Answer>, answer: Answer) {
        // The caller may have stopped waiting: its write is committed (or not) all the same.
        let _ = reply.send(answer);
    }
}

/// The commit queue a backend shares with its clones.
#[derive(Debug)]
pub(crate) struct CommitQueue {
    state: Mutex<QueueState>,
    /// Wakes an idle flusher when a call is queued.
    wake: tokio::sync::Notify,
    max_flushers: AtomicUsize,
    max_group: AtomicUsize,
    /// The pool's size: flushers leave at least one connection to reads.
    pool_size: usize,
    flushes: AtomicU64,
    calls: AtomicU64,
    /// Groups carry one tenant's calls (the backend is behind the row-level security wall).
    one_tenant: AtomicBool,
}

#[derive(Debug, Default)]
struct QueueState {
    waiting: VecDeque<Call>,
    /// Flushers running, idle ones included: each holds a slot of `max_flushers`.
    flushers: usize,
    /// Flushers waiting (at most [`LINGER`]) for calls to be queued.
    idle: usize,
}

/// What a flusher does next.
enum Next {
    /// Send these calls.
    Send(Vec<Call>),
    /// Wait for calls, at most [`LINGER`].
    Wait,
    /// Stop: the slot was given back.
    Stop,
}

/// How long a flusher with nothing to send waits for a new call before it stops. Cost only: a
/// flusher that waits keeps its connection, and the next call skips spawning a task and taking
/// a connection from the pool (which pings it first, a round trip, unless the pool was built
/// with `test_before_acquire(false)`).
const LINGER: std::time::Duration = std::time::Duration::from_millis(5);

impl CommitQueue {
    /// The queue of a backend on a pool of at most `pool_size` connections.
    pub(crate) fn new(pool_size: u32) -> Self {
        CommitQueue {
            state: Mutex::default(),
            wake: tokio::sync::Notify::new(),
            max_flushers: AtomicUsize::new(DEFAULT_MAX_FLUSHERS),
            max_group: AtomicUsize::new(DEFAULT_MAX_GROUP),
            pool_size: usize::try_from(pool_size).unwrap_or(usize::MAX),
            flushes: AtomicU64::new(0),
            calls: AtomicU64::new(0),
            one_tenant: AtomicBool::new(false),
        }
    }
}

/// What the commit queue of a backend (and its clones) has done, for monitoring and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommitStats {
    /// Flushes made: round trips, each one transaction carrying one or more calls.
    pub flushes: u64,
    /// Calls of `commit` the flushes carried (committed or refused).
    pub calls: u64,
    /// Calls waiting for a flusher now.
    pub waiting: usize,
    /// Flushers running now.
    pub flushers: usize,
}

impl CommitQueue {
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        // Nothing panics while holding the lock; a poisoned queue is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn set_max_flushers(&self, n: usize) {
        self.max_flushers.store(n.max(1), Ordering::Relaxed);
    }

    pub(crate) fn set_max_group(&self, n: usize) {
        self.max_group.store(n.max(1), Ordering::Relaxed);
    }

    pub(crate) fn max_flushers(&self) -> usize {
        self.max_flushers.load(Ordering::Relaxed)
    }

    pub(crate) fn max_group(&self) -> usize {
        self.max_group.load(Ordering::Relaxed)
    }

    /// How many flushers may run: `max_flushers`, but at most the pool's size less one (a
    /// flusher holds a connection while it runs), and at least one.
    fn flusher_limit(&self) -> usize {
        self.max_flushers()
            .min(self.pool_size.saturating_sub(1))
            .max(1)
    }

    pub(crate) fn stats(&self) -> CommitStats {
        let state = self.lock();
        CommitStats {
            flushes: self.flushes.load(Ordering::Relaxed),
            calls: self.calls.load(Ordering::Relaxed),
            waiting: state.waiting.len(),
            flushers: state.flushers,
        }
    }

    /// Queues a call; `true` when the caller must spawn a flusher (a slot was taken for it).
    ///
    /// No lost wake-up: a flusher decides to wait or to stop in a critical section of this
    /// mutex, and so does a caller between waking a waiting flusher, spawning one, or relying on
    /// a running one (which takes the queue again before it waits or stops). A wake-up sent
    /// before the flusher waits is kept by the `Notify` as a permit.
    ///
    /// `one_tenant`: the backend is behind the wall, so groups must be of one tenant.
    fn push(&self, call: Call, one_tenant: bool) -> bool {
        if one_tenant {
            self.one_tenant.store(true, Ordering::Relaxed);
        }
        let mut state = self.lock();
        state.waiting.push_back(call);
        if state.idle > 0 {
            drop(state);
            self.wake.notify_one();
            false
        } else if state.flushers < self.flusher_limit() {
            state.flushers += 1;
            true
        } else {
            false
        }
    }

    /// What a flusher does next: send the oldest calls, up to `max_group` stream writes (at
    /// least one call); if there is none, wait, or, after a wait that timed out, stop (giving
    /// its slot back in the same critical section). `waited` says whether the flusher comes
    /// back from waiting (it was counted idle), `timed_out` whether that wait timed out.
    fn next(&self, waited: bool, timed_out: bool) -> Next {
        let mut state = self.lock();
        if waited {
            state.idle -= 1;
        }
        if state.waiting.is_empty() {
            if timed_out {
                state.flushers -= 1;
                return Next::Stop;
            }
            state.idle += 1;
            return Next::Wait;
        }
        let max = self.max_group();
        if self.one_tenant.load(Ordering::Relaxed) {
            return Next::Send(one_tenant_group(&mut state.waiting, max));
        }
        let mut writes = 0;
        let mut calls = Vec::new();
        while let Some(next) = state.waiting.front() {
            let more = next.prepared.writes();
            if !calls.is_empty() && writes + more > max {
                break;
            }
            writes += more;
            calls.extend(state.waiting.pop_front());
        }
        Next::Send(calls)
    }

    /// A flusher stopped before the queue was empty (its runtime shut down, or it panicked): its
    /// slot is given back, and if it was the last one the waiting calls, none of them sent, are
    /// answered rather than left waiting for a flusher nobody will spawn.
    fn abandon(&self, idle: bool) {
        let orphans = {
            let mut state = self.lock();
            state.flushers -= 1;
            if idle {
                state.idle -= 1;
            }
            if state.flushers == 0 {
                std::mem::take(&mut state.waiting)
            } else {
                VecDeque::new()
            }
        };
        for call in orphans {
            call.answer(Err(StoreError::unavailable(
                "the task flushing the commit queue stopped (its runtime shut down?); the \
                 write was not sent, nothing was committed",
                None,
            )));
        }
    }
}

/// The oldest call and, in queue order, the later calls of its tenant, up to `max` stream writes
/// (at least one call); the other calls keep their places. A call writing several tenants goes
/// alone (its transaction is scoped to all tenants).
fn one_tenant_group(waiting: &mut VecDeque<Call>, max: usize) -> Vec<Call> {
    let Some(first) = waiting.pop_front() else {
        return Vec::new();
    };
    let Some(tenant) = first.prepared.tenant.clone() else {
        return vec![first];
    };
    let mut writes = first.prepared.writes();
    let mut calls = vec![first];
    let mut i = 0;
    while i < waiting.len() && writes < max {
        let call = &waiting[i];
        let more = call.prepared.writes();
        if call.prepared.tenant.as_deref() != Some(tenant.as_str()) {
            i += 1;
        } else if writes + more > max {
            // The tenant's calls keep their queue order: none passes this one.
            break;
        } else {
            writes += more;
            calls.extend(waiting.remove(i));
        }
    }
    calls
}

/// Gives the flusher's slot back if the flusher stops before the queue is empty.
struct Slot {
    queue: Arc<CommitQueue>,
    /// The slot was given back.
    released: bool,
    /// The flusher is counted idle.
    idle: bool,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if !self.released {
            self.queue.abandon(self.idle);
        }
    }
}

impl PgBackend {
    /// Commits a batch through the commit queue: atomically, possibly in one transaction with
    /// the batches of concurrent calls.
    pub(crate) async fn commit_queued(&self, batch: CommitBatch) -> Answer {
        if batch.streams.is_empty() {
            return Ok(CommitReceipt::default());
        }
        let prepared = self.prepare(batch)?;
        // Known before anything is sent: behind the wall, a group is one tenant's calls.
        let walled = self.walled().await?;
        if self.queue.max_group() <= 1 {
            // Group commit is off: every call is its own transaction, sent by its caller.
            return self.commit_alone(prepared).await;
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        if self.queue.push(Call { prepared, reply }, walled) {
            tokio::spawn(self.clone().flush());
        }
        answer.await.unwrap_or_else(|_| {
            Err(StoreError::outcome_unknown(
                "the task flushing the commit queue stopped while this write was in flight \
                 (its runtime shut down?); whether it committed is unknown",
                None,
            ))
        })
    }

    /// A flusher: sends groups of queued calls until the queue stays empty for [`LINGER`], all
    /// on one connection of the pool, taken for its first flush.
    async fn flush(self) {
        let mut slot = Slot {
            queue: Arc::clone(&self.queue),
            released: false,
            idle: false,
        };
        let mut conn = None;
        let (mut waited, mut timed_out) = (false, false);
        loop {
            match self.queue.next(waited, timed_out) {
                Next::Send(calls) => {
                    slot.idle = false;
                    (waited, timed_out) = (false, false);
                    self.queue.flushes.fetch_add(1, Ordering::Relaxed);
                    self.queue
                        .calls
                        .fetch_add(calls.len() as u64, Ordering::Relaxed);
                    self.send(calls, &mut conn).await;
                }
                Next::Wait => {
                    slot.idle = true;
                    let woken = tokio::time::timeout(LINGER, self.queue.wake.notified()).await;
                    (waited, timed_out) = (true, woken.is_err());
                }
                Next::Stop => {
                    slot.released = true;
                    return;
                }
            }
        }
    }

    /// One round trip for the calls, each answered. `conn` is the flusher's connection: taken
    /// from the pool if it has none, let go after an error that may have broken it.
    async fn send(&self, mut calls: Vec<Call>, conn: &mut Option<PoolConnection<Postgres>>) {
        let n = calls.len();
        let held = match conn {
            Some(held) => held,
            None => match self.pool.acquire().await {
                Ok(fresh) => conn.insert(fresh),
                Err(err) => {
                    let err =
                        StoreError::from(PgError::query("acquiring a connection to commit")(err));
                    return calls.into_iter().for_each(|c| c.answer(Err(err.clone())));
                }
            },
        };
        if n == 1
            && let Some(Call { prepared, reply }) = calls.pop()
        {
            let answer = self.commit_prepared(held, prepared).await;
            if matches!(
                answer,
                Err(StoreError::Unavailable { .. }
                    | StoreError::OutcomeUnknown { .. }
                    | StoreError::Internal { .. })
            ) {
                // Perhaps a broken connection: the next flush takes another.
                *conn = None;
            }
            return Call::reply(reply, answer);
        }
        let (mut batches, replies): (Vec<Prepared>, Vec<_>) =
            calls.into_iter().map(|c| (c.prepared, c.reply)).unzip();
        // Behind the wall the queue made this a group of one tenant (see `CommitQueue::next`).
        let scope = batches.first().and_then(|first| self.wall_scope(first));
        let (args, sql) = match arguments(&mut batches, scope) {
            Ok(laid_out) => laid_out,
            Err(err) => {
                let err = StoreError::Invalid(format!(
                    "a group commit of {n} calls could not be encoded, nothing was sent: {err}"
                ));
                return replies
                    .into_iter()
                    .for_each(|r| Call::reply(r, Err(err.clone())));
            }
        };
        let result = sqlx::query_as_with::<_, CommitRow, _>(sql, args)
            .fetch_one(&mut **held)
            .await;
        match result {
            Ok(row) => {
                let answers = answers(&batches, row);
                // Let go of the events first: a caller that holds the last handle on its events
                // takes them back without a copy.
                drop(batches);
                for (reply, answer) in replies.into_iter().zip(answers) {
                    Call::reply(reply, answer);
                }
            }
            Err(err) => {
                *conn = None;
                self.group_failed(batches, replies, err).await;
            }
        }
    }

    /// The group's statement failed: nothing of it committed, unless the connection failed on
    /// the way back.
    async fn group_failed(
        &self,
        batches: Vec<Prepared>,
        replies: Vec<tokio::sync::oneshot::Sender<Answer>>,
        err: sqlx::Error,
    ) {
        let n = batches.len();
        let err = match database_error(&err) {
            Some(db)
                if db.severity() == PgSeverity::Error
                    && (db.code().starts_with("22") || db.code().starts_with("23")) =>
            {
                // A call carried data the checks do not cover (an event id used before, a value
                // out of range): the group rolled back. Each call alone gets its own outcome.
                return self.send_alone(batches, replies).await;
            }
            // The server answered with an error: the group rolled back.
            Some(db) if db.severity() == PgSeverity::Error => {
                StoreError::from(PgError::query("committing a group")(err))
            }
            _ if !crate::error::outcome_unknown(&err) => {
                StoreError::from(PgError::query("committing a group")(err))
            }
            _ => {
                let detail = fluvius_core::Detail::new(PgError::query("committing a group")(err));
                tracing::warn!(error = %detail, calls = n, "group commit outcome unknown");
                StoreError::outcome_unknown(
                    format!(
                        "the connection to PostgreSQL failed while a group commit of {n} calls \
                         was in flight: whether it committed is unknown"
                    ),
                    detail,
                )
            }
        };
        for reply in replies {
            Call::reply(reply, Err(err.clone()));
        }
    }

    /// Sends each call on its own, one after the other (after a group that failed as a whole).
    async fn send_alone(
        &self,
        batches: Vec<Prepared>,
        replies: Vec<tokio::sync::oneshot::Sender<Answer>>,
    ) {
        for (mut prepared, reply) in batches.into_iter().zip(replies) {
            let answer = match prepared.lay_out_again() {
                Ok(()) => self.commit_alone(prepared).await,
                Err(err) => Err(err),
            };
            // Each of these is a flush of its own.
            self.queue.flushes.fetch_add(1, Ordering::Relaxed);
            Call::reply(reply, answer);
        }
    }
}
