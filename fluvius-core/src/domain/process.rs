//! The command pipeline: route, check, queue behind the stream, and let the stream's one driver
//! decide and commit every queued command at once (see `batch`).
//!
//! The driver is a `'static` future. The caller that starts it polls it in its own task, so an
//! uncontended command costs no task spawn; if that caller stops waiting (a timeout, a client
//! that disconnects) or gets its answer while others still wait, the driver moves to a task of
//! its own and finishes there. A caller's cancellation therefore only ever loses its own answer.

use std::future::{Future, poll_fn};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use std::sync::atomic::{AtomicU32, Ordering};

use futures::FutureExt;
use tokio::sync::oneshot;
use tracing::Instrument;

use crate::audit::{AuditOutcome, AuditRecord};
use crate::backend::StreamKey;
use crate::command::Command;
use crate::error::Error;
use crate::response::Response;

use super::DomainInner;
use super::batch::{MAX_BATCH, Pending};
use super::cache::StreamSlot;
use super::idempotency::{fingerprint, idempotency_key};

type Driver = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

impl DomainInner {
    pub(crate) fn stream_key(&self, tenant: &str, resource: &str, id: &str) -> StreamKey {
        StreamKey {
            tenant: tenant.to_owned(),
            namespace: self.namespace.clone(),
            resource: resource.to_owned(),
            id: id.to_owned(),
        }
    }

    /// Runs a command inside its `fluvius.command` span, which records the outcome (`ok`,
    /// `replayed` or the error's [`code`](Error::code)) and the conflict retries it took.
    pub(crate) async fn process(self: &Arc<Self>, command: Command) -> Result<Response, Error> {
        if self.audit {
            // Boxed, so a domain without an audit log keeps its command future small.
            return Box::pin(self.process_audited(command)).await;
        }
        self.process_traced(command).await
    }

    /// [`DomainInner::process`] in an audited domain: the attempt's record is written when the
    /// command did not commit (an accepted one's went with its commit).
    async fn process_audited(self: &Arc<Self>, command: Command) -> Result<Response, Error> {
        let started = self.clock.now();
        let attempt =
            AuditRecord::of_command(&self.namespace, &command, AuditOutcome::Accepted, started);
        let result = self.process_traced(command).await;
        // An accepted command's record was written with its commit.
        let record = match &result {
            Ok(response) if !response.replayed => return result,
            Ok(response) => AuditRecord {
                outcome: AuditOutcome::Replayed,
                version: Some(response.version),
                events: response.events.len() as u64,
                ..attempt
            },
            Err(err) => attempt.failed_with(err),
        };
        self.record_attempts(vec![record]).await;
        result
    }

    async fn process_traced(self: &Arc<Self>, command: Command) -> Result<Response, Error> {
        let span = tracing::info_span!(
            "fluvius.command",
            namespace = %self.namespace,
            key = %command.key,
            resource = %command.root.resource,
            id = %command.root.id,
            tenant = %command.context.tenant,
            command_id = %command.id,
            correlation_id = %command.context.correlation_id,
            outcome = tracing::field::Empty,
            retries = tracing::field::Empty,
        );
        let retries = Arc::new(AtomicU32::new(0));
        if span.is_disabled() {
            // Nobody listens: no span to enter on every poll, nothing to record.
            return self.process_counted(command, retries).await;
        }
        let result = Box::pin(self.process_counted(command, retries.clone()))
            .instrument(span.clone())
            .await;
        let outcome = match &result {
            Ok(response) if response.replayed => "replayed",
            Ok(_) => "ok",
            Err(err) => err.code(),
        };
        span.record("outcome", outcome);
        span.record("retries", retries.load(Ordering::Relaxed));
        result
    }

    async fn process_counted(
        self: &Arc<Self>,
        mut command: Command,
        retries: Arc<AtomicU32>,
    ) -> Result<Response, Error> {
        self.check_tenant(&command.context)?;
        command.context.command_id = Some(command.id);
        command.context.root = Some(command.root.clone());
        let action = self.route(&command)?.clone();

        // Concurrent commands with the same caller id wait for each other; a repeat answers
        // what the first one answered.
        let mut fp = None;
        let _same_id = if command.caller_id {
            let tenant = command.context.tenant.as_str();
            let print = fingerprint(&self.namespace, &command)?;
            let guard = self
                .cache
                .command_lock(tenant, command.id)
                .lock_owned()
                .await;
            let recorded = self
                .backend
                .idempotency(tenant, idempotency_key(&self.namespace, command.id))
                .await?;
            if let Some(record) = recorded {
                return Box::pin(self.replay(record, &print, &command)).await;
            }
            fp = Some(print);
            Some(guard)
        } else {
            None
        };

        let key = self.stream_key(
            &command.context.tenant,
            &command.root.resource,
            &command.root.id,
        );
        let slot = self.cache.slot(&key);
        let (reply, mut answer) = oneshot::channel();
        let pending = Arc::new(Pending::new(command, action, fp, reply, retries));
        if !slot.submit(pending) {
            // A driver is at work on this stream and will answer.
            return answer.await.unwrap_or_else(|_| Err(driver_lost()));
        }

        // A panic inside the driver (in the backend, say) stays there: its guard fails what it
        // leaves, and no caller's task unwinds.
        let driving = AssertUnwindSafe(drive(self.clone(), key, slot)).catch_unwind();
        let mut driver = Detachable(Some(Box::pin(driving.map(drop))));
        let result = poll_fn(|cx| {
            if let Some(running) = driver.0.as_mut()
                && running.as_mut().poll(cx).is_ready()
            {
                driver.0 = None;
            }
            Pin::new(&mut answer).poll(cx)
        })
        .await;
        // Still running: other commands wait on it; it carries on in a task of its own.
        drop(driver);
        result.unwrap_or_else(|_| Err(driver_lost()))
    }
}

impl DomainInner {
    /// Starts a driver in a task of its own, for commands queued while the stream was claimed.
    pub(crate) fn spawn_driver(self: &Arc<Self>, key: StreamKey, slot: StreamSlot) {
        let driving = AssertUnwindSafe(drive(self.clone(), key, slot)).catch_unwind();
        tokio::spawn(driving.map(drop));
    }
}

/// A stream held outside the command pipeline (by an import); commands submitted meanwhile
/// queue, and get a driver when the claim ends, even if the holder is cancelled.
pub(crate) struct Claim {
    domain: Arc<DomainInner>,
    key: StreamKey,
    slot: StreamSlot,
    /// The stream's head while claimed; parked for the next driver when the claim ends.
    pub(crate) head: Option<super::cache::CachedStream>,
}

impl Claim {
    /// Waits for the stream (before the driver's next batch when a driver runs), then holds it.
    pub(crate) async fn new(domain: &Arc<DomainInner>, key: StreamKey) -> Claim {
        let slot = domain.cache.slot(&key);
        let mut waiting = Waiting {
            domain,
            key: &key,
            slot: &slot,
            counted: false,
        };
        let head = loop {
            let mut released = std::pin::pin!(slot.released());
            released.as_mut().enable();
            if let Some(head) = slot.try_claim(&mut waiting.counted) {
                break head;
            }
            released.await;
        };
        drop(waiting);
        Claim {
            domain: domain.clone(),
            key,
            slot,
            head,
        }
    }
}

/// A claim still waiting: if its caller gives up, commands a driver left queued for it get a
/// driver again.
struct Waiting<'a> {
    domain: &'a Arc<DomainInner>,
    key: &'a StreamKey,
    slot: &'a StreamSlot,
    counted: bool,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.counted && self.slot.cancel_claim() {
            self.domain
                .spawn_driver(self.key.clone(), self.slot.clone());
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if self.slot.unclaim(self.head.take()) {
            self.domain
                .spawn_driver(self.key.clone(), self.slot.clone());
        }
    }
}

impl std::fmt::Debug for Claim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claim")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// Works through a stream's queue until it is empty, then parks the head for the next driver.
async fn drive(domain: Arc<DomainInner>, key: StreamKey, slot: StreamSlot) {
    let mut guard = DriverGuard {
        slot: &slot,
        finished: false,
    };
    let mut head = slot.take_head();
    let entry = match domain.resource(&key.resource) {
        Ok(entry) => entry,
        // Commands are routed before they are queued, so the resource exists.
        Err(err) => {
            for pending in slot.abandon_driving() {
                pending.resolve(Err(err.clone()));
            }
            guard.finished = true;
            return;
        }
    };
    // A claim that waits (a unit, an import) goes before the next batch, but not before the
    // first: every driver does some of the work it was started for.
    let mut may_yield = false;
    while let Some(batch) = slot.next_batch(MAX_BATCH, &mut head, may_yield) {
        domain.run_batch(&key, entry, &mut head, &batch).await;
        may_yield = true;
        if slot.has_waiting() {
            // Let the answered callers go (the one polling this driver included: it moves the
            // driver to a task of its own) and queue their next commands into a larger batch.
            tokio::task::yield_now().await;
        }
    }
    guard.finished = true;
}

/// Fails the waiting commands of a driver that stopped before its queue was empty (a panic in
/// the backend, or a runtime shutting down), so no caller waits forever and the next command
/// starts a new driver on a fresh read of the store.
struct DriverGuard<'a> {
    slot: &'a StreamSlot,
    finished: bool,
}

impl Drop for DriverGuard<'_> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        for pending in self.slot.abandon_driving() {
            pending.resolve(Err(Error::internal(
                "the stream's command driver stopped before running this command; it was not run",
            )));
        }
    }
}

/// A driver polled by the caller that started it; moved to a task of its own when that caller
/// stops polling it before it is done.
struct Detachable(Option<Driver>);

impl Drop for Detachable {
    fn drop(&mut self) {
        if let Some(driver) = self.0.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(driver);
        }
        // Without a runtime the driver is dropped here, and its guard fails what it leaves.
    }
}

/// The answer of a command whose driver dropped it unanswered: it may have been decided and
/// committed or not.
fn driver_lost() -> Error {
    Error::OutcomeUnknown {
        message: "the stream's command driver stopped while this command was in flight; read the stream, or repeat the command with the same command id".into(),
        detail: None,
    }
}
