//! Group commit: the commands queued on one stream are decided one after the other against the
//! evolving state, then written in a single commit. A refused command is simply not in it.
//!
//! Every answer is explained by committed history alone: accepted commands are answered after
//! their commit, and so are refusals, since they were decided against the batch-mates before
//! them. When the commit fails (a conflict with another process, or a store failure) every
//! command of the batch, refused ones included, is decided again against fresh state; conflict
//! retries back off with jitter so that writers in several processes do not keep colliding.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures::FutureExt;
use parking_lot::Mutex;
use tokio::sync::oneshot;
use tracing::Instrument;
use uuid::Uuid;

use crate::aggregate::{ActionCall, ActionOutcome, Aggregate, ResourceDescriptor};
use crate::audit::{AuditOutcome, AuditRecord};
use crate::backend::{CommitBatch, CommitReceipt, IdempotencyRecord, StoreError, StreamKey};
use crate::command::Command;
use crate::error::Error;
use crate::event::{EventEnvelope, EventMetadata};
use crate::log::LogCursor;
use crate::outbox::{MessageOrigin, Outbox, OutboxMessage};
use crate::response::Response;

use super::cache::CachedStream;
use super::idempotency::idempotency_key;
use super::{ActionEntry, DomainInner, ResourceEntry};

/// The most commands one commit carries; the rest wait for the next one.
pub(crate) const MAX_BATCH: usize = 256;

/// A command waiting for its stream, and where its answer goes.
pub(crate) struct Pending {
    pub(crate) command: Command,
    pub(crate) action: ActionEntry,
    pub(crate) fingerprint: Option<String>,
    reply: Mutex<Option<oneshot::Sender<Result<Response, Error>>>>,
    /// How often the command was decided again after a conflict or failure (for its span).
    retries: Arc<AtomicU32>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("command", &self.command.id)
            .finish_non_exhaustive()
    }
}

impl Pending {
    pub(crate) fn new(
        command: Command,
        action: ActionEntry,
        fingerprint: Option<String>,
        reply: oneshot::Sender<Result<Response, Error>>,
        retries: Arc<AtomicU32>,
    ) -> Self {
        Pending {
            command,
            action,
            fingerprint,
            reply: Mutex::new(Some(reply)),
            retries,
        }
    }

    /// Answers the command (once; a later answer is ignored).
    pub(crate) fn resolve(&self, result: Result<Response, Error>) {
        if let Some(reply) = self.reply.lock().take() {
            // The caller may have stopped waiting; the outcome stands all the same.
            let _ = reply.send(result);
        }
    }

    /// Whether nobody waits for the answer any more (the caller was cancelled).
    pub(crate) fn abandoned(&self) -> bool {
        self.reply
            .lock()
            .as_ref()
            .is_none_or(|reply| reply.is_closed())
    }
}

/// What one command decided: its events (handed to the batch's stream write; this is their
/// number) and the head they lead to.
struct Decided<'p> {
    pending: &'p Pending,
    events: usize,
    head: CachedStream,
    record: Option<IdempotencyRecord>,
    audit: Option<Box<AuditRecord>>,
    messages: Vec<OutboxMessage>,
}

/// What deciding one command produced: how many events it stamped, the head they lead to, its
/// idempotency record and (in an audited domain) its audit record as accepted.
pub(crate) struct Decision {
    pub(crate) events: usize,
    pub(crate) head: CachedStream,
    pub(crate) record: Option<IdempotencyRecord>,
    /// Boxed: most domains record no audit log, and a decision is moved a few times.
    pub(crate) audit: Option<Box<AuditRecord>>,
    /// The messages its action sent.
    pub(crate) messages: Vec<OutboxMessage>,
}

impl DomainInner {
    /// Decides and commits a batch of commands of one stream, answering each of them.
    ///
    /// The reads and waits off the common path (loading an uncached stream, catching up after a
    /// conflict, the backoff, another process's record of a command id) are boxed: inline, the
    /// largest of them would set the size of every driver, which is allocated and copied once
    /// per uncontended command.
    pub(crate) async fn run_batch(
        &self,
        key: &StreamKey,
        entry: &ResourceEntry,
        cached: &mut Option<CachedStream>,
        batch: &[Arc<Pending>],
    ) {
        let resource = &entry.descriptor;
        let mut open: Vec<&Pending> = batch.iter().map(|p| &**p).collect();
        let mut attempts = 0;
        while !open.is_empty() {
            if attempts > 0 {
                for pending in &open {
                    pending.retries.fetch_add(1, Ordering::Relaxed);
                }
            }
            // A stream this domain does not hold, first asked to be created, is almost always
            // new: it is decided as empty without reading it. The commit expects version 0, so
            // a stream that exists after all refuses the commit (see `unconfirmed` below).
            let assumed = cached.is_none() && creates_unread(&open);
            let mut start = match cached.take() {
                Some(head) => head,
                None if assumed => super::empty_head(resource),
                None => match Box::pin(self.load(key, entry)).await {
                    Ok(head) => head,
                    Err(err) => return fail_all(&open, &err),
                },
            };
            // An explicit expected version ahead of the cache means another process wrote:
            // catch up before judging it.
            if open.iter().any(|p| {
                p.command
                    .expected_version
                    .is_some_and(|v| v > start.version)
            }) {
                start = match Box::pin(self.refresh(key, entry, start)).await {
                    Ok(head) => head,
                    Err(err) => return fail_all(&open, &err),
                };
            }
            let mut head = start.clone();
            let mut decided = Vec::with_capacity(open.len());
            let mut events = Vec::with_capacity(open.len());
            let mut refused = Vec::new();
            // What this attempt decides, in order, kept only for a stream assumed new.
            let deciding = if assumed { open.clone() } else { Vec::new() };
            for pending in open.drain(..) {
                match self.decide(pending, key, &head, &mut events).await {
                    Ok(d) => {
                        head = d.head.clone();
                        decided.push(d);
                    }
                    Err(err) => refused.push((pending, err)),
                }
            }
            let writes = !events.is_empty()
                || decided
                    .iter()
                    .any(|d| d.record.is_some() || d.audit.is_some() || !d.messages.is_empty());
            let committed = if writes {
                self.commit(
                    key,
                    entry,
                    &start,
                    &head,
                    &decided,
                    std::mem::take(&mut events),
                )
                .await
            } else {
                Ok((Vec::new(), Vec::new()))
            };
            // The guess that the stream is new holds only if a commit expecting version 0 went
            // through. It did not when nothing was committed (refusals, no-ops: their answers
            // would stand on the guess) or when the commit found the stream: read it and decide
            // the batch again, in its order, as if it had been read first. Nothing raced, so
            // this is no retry.
            let unconfirmed = assumed
                && match &committed {
                    Ok(_) => !writes,
                    Err(err) => matches!(err, StoreError::Conflict { .. }),
                };
            if unconfirmed {
                tracing::debug!(stream = %key, "a stream decided as new is read; deciding on it");
                match Box::pin(self.load(key, entry)).await {
                    Ok(head) => *cached = Some(head),
                    Err(err) => return fail_all(&deciding, &err),
                }
                open = deciding;
                continue;
            }
            let err = match committed {
                Ok((cursors, events)) => {
                    let count = decided.len() as u64;
                    let mut cursors = cursors.into_iter();
                    let mut events = events.into_iter();
                    for d in decided {
                        let mut own: Vec<EventEnvelope> = events.by_ref().take(d.events).collect();
                        let mut last = LogCursor::START;
                        for (event, cursor) in own.iter_mut().zip(cursors.by_ref()) {
                            event.position = cursor.position();
                            last = cursor;
                        }
                        d.pending
                            .resolve(Ok(response(d.pending, own, last, &d.head, resource)));
                    }
                    for (pending, err) in refused {
                        pending.resolve(Err(err));
                    }
                    if writes {
                        self.stats.commands.fetch_add(count, Ordering::Relaxed);
                    }
                    *cached = Some(head);
                    return;
                }
                Err(err) => err,
            };
            attempts += 1;
            // Refusals were decided against batch-mates that did not commit: decide them again.
            open.extend(refused.into_iter().map(|(pending, _)| pending));
            match err {
                StoreError::Conflict { actual, .. } => {
                    tracing::debug!(stream = %key, attempts, actual, "version conflict, retrying");
                    let retrying = decided
                        .iter()
                        .any(|d| d.pending.command.expected_version.is_none())
                        && attempts <= self.max_retries;
                    if retrying {
                        // Wait first, then read the tail: what is read last is freshest when the
                        // batch is decided again.
                        self.stats.conflict_retries.fetch_add(1, Ordering::Relaxed);
                        Box::pin(tokio::time::sleep(backoff(attempts))).await;
                    }
                    let fresh = match Box::pin(self.refresh(key, entry, start.clone())).await {
                        Ok(head) => head,
                        Err(err) => {
                            let all: Vec<_> = decided.iter().map(|d| d.pending).collect();
                            fail_all(&all, &err);
                            return fail_all(&open, &err);
                        }
                    };
                    for d in decided {
                        let command = &d.pending.command;
                        if let Some(expected) = command.expected_version {
                            d.pending
                                .resolve(Err(conflict(command, expected, fresh.version)));
                        } else if attempts > self.max_retries {
                            d.pending.resolve(Err(conflict(
                                command,
                                start.version,
                                fresh.version.max(actual),
                            )));
                        } else {
                            open.push(d.pending);
                        }
                    }
                    *cached = Some(fresh);
                }
                StoreError::DuplicateCommandId { .. } => {
                    // Another process recorded one of these ids first: answer those as it did
                    // and try the others again.
                    *cached = Some(start);
                    for d in decided {
                        let pending = d.pending;
                        match Box::pin(self.recorded_elsewhere(pending)).await {
                            Some(answer) => pending.resolve(answer),
                            None if attempts > self.max_retries => {
                                pending.resolve(Err(Error::DuplicateCommand {
                                    command_id: pending.command.id,
                                }))
                            }
                            None => open.push(pending),
                        }
                    }
                }
                err => {
                    // Whether a failed write happened is unknown to this process: the accepted
                    // commands are told so, the stream is read afresh, and the refused ones are
                    // decided again against what the store then holds.
                    let err = Error::from(err);
                    let all: Vec<_> = decided.iter().map(|d| d.pending).collect();
                    fail_all(&all, &err);
                    if attempts > self.max_retries {
                        return fail_all(&open, &err);
                    }
                }
            }
        }
    }

    /// The recorded answer of a command whose id another process wrote first.
    async fn recorded_elsewhere(&self, pending: &Pending) -> Option<Result<Response, Error>> {
        let fingerprint = pending.fingerprint.as_deref()?;
        let command = &pending.command;
        match self
            .backend
            .idempotency(
                &command.context.tenant,
                idempotency_key(&self.namespace, command.id),
            )
            .await
        {
            Ok(Some(record)) => Some(self.replay(record, fingerprint, command).await),
            Ok(None) => None,
            Err(err) => Some(Err(err.into())),
        }
    }

    /// Runs one command's action against `head` and stamps its events, appending them to
    /// `events` (untouched when the command is refused).
    async fn decide<'p>(
        &self,
        pending: &'p Pending,
        key: &StreamKey,
        head: &CachedStream,
        events: &mut Vec<EventEnvelope>,
    ) -> Result<Decided<'p>, Error> {
        let fingerprint = pending.fingerprint.as_deref();
        let decision = self
            .decide_command(
                &pending.command,
                &pending.action,
                fingerprint,
                key,
                head,
                events,
            )
            .await?;
        Ok(Decided {
            pending,
            events: decision.events,
            head: decision.head,
            record: decision.record,
            audit: decision.audit,
            messages: decision.messages,
        })
    }

    /// [`DomainInner::decide`] for a command anywhere (a stream's batch or a unit): the
    /// policies of existence, the expected version, the action (a panic caught), its events
    /// stamped onto `events`, the head they lead to and the idempotency record.
    pub(crate) async fn decide_command(
        &self,
        command: &Command,
        action: &ActionEntry,
        fingerprint: Option<&str>,
        key: &StreamKey,
        head: &CachedStream,
        events: &mut Vec<EventEnvelope>,
    ) -> Result<Decision, Error> {
        let descriptor = &action.descriptor;
        let root = &command.root;
        if descriptor.creates {
            if head.version > 0 {
                return Err(Error::AlreadyExists {
                    resource: root.resource.clone(),
                    id: root.id.clone(),
                });
            }
        } else if head.version == 0 || head.deleted {
            return Err(Error::not_found(&root.resource, &root.id));
        }
        if let Some(expected) = command.expected_version
            && expected != head.version
        {
            return Err(conflict(command, expected, head.version));
        }
        let policies = self.authorize_command(command, head)?;

        let handler = &self.aggregates[action.aggregate].handler;
        let outbox = Outbox::new();
        let call = ActionCall::new(
            action.index,
            &command.context,
            root,
            head.state.as_ref(),
            &command.payload,
            &outbox,
        );
        let outcome = run_action(handler.as_ref(), call, command, descriptor.method).await?;

        let now = self.recorded_at(head.updated_at);
        let context = &command.context;
        let metadata = EventMetadata {
            command: command.key.clone(),
            user: context.user.clone(),
            tenant: context.tenant.clone(),
            correlation_id: context.correlation_id,
            causation_id: command.id,
            caused_by: context.causation_id,
            time: context.time,
            headers: context.headers.clone(),
        };
        let count = outcome.events.len();
        let messages = if outbox.is_empty() {
            Vec::new()
        } else {
            self.messages_of(command, key, head.version + count as u64, &outbox, now)?
        };
        let next = match outcome.state {
            Some(state) if count > 0 => CachedStream {
                version: head.version + count as u64,
                state: Arc::from(state),
                deleted: head.deleted || descriptor.deletes,
                created_at: head.created_at.or(Some(now)),
                updated_at: Some(now),
                updated_by: context.user.clone(),
            },
            _ => head.clone(),
        };
        let record = match fingerprint {
            Some(fingerprint) => {
                let state = next.state.to_json().map_err(|e| Error::Decode {
                    what: format!("state of {root}"),
                    message: e.to_string(),
                })?;
                Some(IdempotencyRecord::new(
                    key.tenant.clone(),
                    idempotency_key(&self.namespace, command.id),
                    fingerprint.to_owned(),
                    root.clone(),
                    head.version,
                    next.version,
                    state,
                    now,
                ))
            }
            None => None,
        };
        // Last, once nothing can fail: a refusal leaves `events` untouched.
        let mut metadata = Some(metadata);
        for (i, raw) in outcome.events.into_iter().enumerate() {
            // The last event takes the metadata itself, the others a copy.
            let metadata = if i + 1 == count {
                metadata.take().unwrap_or_default()
            } else {
                metadata.clone().unwrap_or_default()
            };
            events.push(EventEnvelope {
                event_id: crate::ids::new_v7(),
                tenant: key.tenant.clone(),
                namespace: key.namespace.clone(),
                resource: key.resource.clone(),
                identifier: key.id.clone(),
                version: head.version + 1 + i as u64,
                evt_key: raw.evt_key.to_owned(),
                schema_version: raw.schema_version,
                payload: raw.payload,
                metadata,
                recorded_at: now,
                position: 0,
            });
        }
        let audit = self.audit.then(|| {
            let mut audit =
                AuditRecord::of_command(&self.namespace, command, AuditOutcome::Accepted, now);
            audit.policies = policies;
            audit.version = Some(next.version);
            audit.events = count as u64;
            Box::new(audit)
        });
        Ok(Decision {
            events: count,
            head: next,
            record,
            audit,
            messages,
        })
    }

    /// The messages an action sent, stamped for the outbox; refused when the backend keeps no
    /// outbox.
    fn messages_of(
        &self,
        command: &Command,
        key: &StreamKey,
        version: u64,
        outbox: &Outbox,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<OutboxMessage>, Error> {
        if self.backend.outbox().is_none() {
            return Err(Error::Config(format!(
                "action `{}` sent {} messages, but the {} backend keeps no outbox",
                command.key,
                outbox.len(),
                self.backend.name()
            )));
        }
        let context = &command.context;
        let origin = MessageOrigin {
            command: Some(command.key.clone()),
            command_id: Some(command.id),
            event_id: None,
            correlation_id: Some(context.correlation_id),
            user: context.user.clone(),
            resource: Some(key.resource.clone()),
            identifier: Some(key.id.clone()),
            version: Some(version),
        };
        outbox.take(&command.key, &origin, &key.tenant, &key.namespace, now)
    }

    /// Writes the decided commands (whose events, in order, are `events`) in one commit; returns
    /// the log cursors of the events and the events themselves, in order.
    async fn commit(
        &self,
        key: &StreamKey,
        entry: &ResourceEntry,
        start: &CachedStream,
        head: &CachedStream,
        decided: &[Decided<'_>],
        events: Vec<EventEnvelope>,
    ) -> Result<(Vec<LogCursor>, Vec<EventEnvelope>), StoreError> {
        let events = Arc::new(events);
        let records = decided.iter().filter_map(|d| d.record.clone()).collect();
        let audit = decided
            .iter()
            .filter_map(|d| d.audit.as_deref().cloned())
            .collect();
        let messages = decided
            .iter()
            .flat_map(|d| d.messages.iter().cloned())
            .collect();
        let inline = self
            .inline_writes(key, entry, start.version, &events)
            .await?;
        let write = self
            .stream_write(key, entry, start, head, Arc::clone(&events), records)
            .with_audit(audit)
            .with_messages(messages)
            .with_inline(inline);
        let receipt = self
            .traced_commit(CommitBatch::single(write), decided.len())
            .await?;
        // A backend that kept no handle on the events gives them back without a copy.
        let events = Arc::try_unwrap(events).unwrap_or_else(|shared| shared.as_ref().clone());
        Ok((receipt.cursors(0).collect(), events))
    }

    /// One backend commit inside its `fluvius.commit` span (backend, streams, events, commands,
    /// outcome), the same on every backend since the domain draws it.
    pub(crate) async fn traced_commit(
        &self,
        batch: CommitBatch,
        commands: usize,
    ) -> Result<CommitReceipt, StoreError> {
        let span = tracing::info_span!(
            "fluvius.commit",
            backend = self.backend.name(),
            namespace = %self.namespace,
            streams = batch.streams.len(),
            events = batch.streams.iter().map(|w| w.events.len()).sum::<usize>(),
            commands,
            outcome = tracing::field::Empty,
        );
        if span.is_disabled() {
            return self.backend.commit(batch).await;
        }
        let result = self.backend.commit(batch).instrument(span.clone()).await;
        span.record(
            "outcome",
            match &result {
                Ok(_) => "committed",
                Err(StoreError::Conflict { .. }) => "conflict",
                Err(StoreError::DuplicateCommandId { .. }) => "duplicate-command-id",
                Err(StoreError::Unavailable { .. }) => "unavailable",
                Err(StoreError::OutcomeUnknown { .. }) => "outcome-unknown",
                Err(_) => "failed",
            },
        );
        result
    }
}

/// Runs an action, turning a panic into that command's error: the panic never reaches the
/// rest of the batch or another caller.
async fn run_action(
    handler: &dyn Aggregate,
    call: ActionCall<'_>,
    command: &Command,
    method: &'static str,
) -> Result<ActionOutcome, Error> {
    let panicked = |payload: Box<dyn Any + Send>| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".to_owned());
        tracing::error!(command = %command.key, action = method, %message, "action panicked");
        Error::ActionPanicked {
            command: command.key.clone(),
            action: method,
            message,
        }
    };
    let future = match std::panic::catch_unwind(AssertUnwindSafe(|| handler.handle(call))) {
        Ok(future) => future,
        Err(payload) => return Err(panicked(payload)),
    };
    match AssertUnwindSafe(future).catch_unwind().await {
        // Errors about what the action produced come from code that does not know its key.
        Ok(outcome) => outcome.map_err(|err| err.for_command(&command.key)),
        Err(payload) => Err(panicked(payload)),
    }
}

/// Whether a batch on a stream the domain does not hold may be decided without reading it: its
/// first command creates the root and expects nothing or version 0 (so the commit checks that
/// the stream is new).
fn creates_unread(open: &[&Pending]) -> bool {
    open.first().is_some_and(|first| {
        first.action.descriptor.creates && first.command.expected_version.is_none_or(|v| v == 0)
    })
}

/// How long to wait before conflict retry `attempt` (1, 2, ...): up to 250 µs, doubling to at
/// most 8 ms, with full jitter so that competing processes spread out instead of colliding again.
/// The ceiling stays low because a writer that keeps committing never waits: many quick tries
/// beat a few long sleeps against it.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let ceiling = (250u64 << attempt.saturating_sub(1).min(5)).min(8_000);
    let jitter = Uuid::new_v4().as_u64_pair().0 % (ceiling + 1);
    Duration::from_micros(jitter)
}

pub(crate) fn conflict(command: &Command, expected: u64, actual: u64) -> Error {
    Error::VersionConflict {
        resource: command.root.resource.clone(),
        id: command.root.id.clone(),
        expected,
        actual,
    }
}

fn fail_all(pending: &[&Pending], err: &Error) {
    for p in pending {
        p.resolve(Err(err.clone()));
    }
}

fn response(
    pending: &Pending,
    events: Vec<EventEnvelope>,
    cursor: LogCursor,
    head: &CachedStream,
    resource: &ResourceDescriptor,
) -> Response {
    Response {
        command_id: pending.command.id,
        root: pending.command.root.clone(),
        events,
        version: head.version,
        replayed: false,
        cursor,
        state: head.state.clone(),
        resource_type: resource.state_type_name,
    }
}
