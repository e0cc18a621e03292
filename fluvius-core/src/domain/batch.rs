//! Group commit: the commands queued on one stream are decided one after the other against the
//! evolving state, then written in a single commit. A refused command is simply not in it; on a
//! conflict with another process the stream's tail is folded in and the batch is decided again.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use parking_lot::Mutex;
use uuid::Uuid;

use crate::aggregate::{ActionCall, ResourceDescriptor};
use crate::backend::{CommitBatch, IdempotencyRecord, StoreError, StreamKey};
use crate::command::Command;
use crate::error::Error;
use crate::event::{EventEnvelope, EventMetadata};
use crate::response::Response;

use super::cache::CachedStream;
use super::{ActionEntry, DomainInner, ResourceEntry};

/// The most commands one commit carries; the rest wait for the next one.
pub(crate) const MAX_BATCH: usize = 256;

/// A command waiting for its stream, and the answer it will get.
pub(crate) struct Pending {
    pub(crate) command: Command,
    pub(crate) action: ActionEntry,
    pub(crate) fingerprint: Option<String>,
    result: Mutex<Option<Result<Response, Error>>>,
    /// Signalled once the command has its answer, so its caller stops waiting for the lock.
    pub(crate) answered: tokio::sync::Notify,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("command", &self.command.id)
            .finish_non_exhaustive()
    }
}

impl Pending {
    pub(crate) fn new(command: Command, action: ActionEntry, fingerprint: Option<String>) -> Self {
        Pending {
            command,
            action,
            fingerprint,
            result: Mutex::new(None),
            answered: tokio::sync::Notify::new(),
        }
    }

    pub(crate) fn resolve(&self, result: Result<Response, Error>) {
        *self.result.lock() = Some(result);
        self.answered.notify_one();
    }

    /// Answers the command unless it already has an answer.
    pub(crate) fn resolve_if_open(&self, result: impl FnOnce() -> Result<Response, Error>) {
        let mut slot = self.result.lock();
        if slot.is_none() {
            *slot = Some(result());
            self.answered.notify_one();
        }
    }

    pub(crate) fn take_result(&self) -> Option<Result<Response, Error>> {
        self.result.lock().take()
    }
}

/// What one command decided: its events and the head they lead to.
struct Decided<'p> {
    pending: &'p Pending,
    events: Vec<EventEnvelope>,
    head: CachedStream,
    record: Option<IdempotencyRecord>,
}

impl DomainInner {
    /// Decides and commits a batch of commands of one stream, answering each of them.
    pub(crate) async fn run_batch(
        &self,
        key: &StreamKey,
        entry: &ResourceEntry,
        cached: &mut Option<CachedStream>,
        batch: &[&Pending],
    ) {
        let resource = &entry.descriptor;
        let mut open: Vec<&Pending> = batch.to_vec();
        let mut retries = 0;
        while !open.is_empty() {
            let mut start = match cached.take() {
                Some(head) => head,
                None => match self.load(key, entry).await {
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
                start = match self.refresh(key, entry, start).await {
                    Ok(head) => head,
                    Err(err) => return fail_all(&open, &err),
                };
            }
            let mut head = start.clone();
            let mut decided = Vec::with_capacity(open.len());
            for pending in open.drain(..) {
                match self.decide(pending, key, &head).await {
                    Ok(d) => {
                        head = d.head.clone();
                        decided.push(d);
                    }
                    Err(err) => pending.resolve(Err(err)),
                }
            }
            if decided
                .iter()
                .all(|d| d.events.is_empty() && d.record.is_none())
            {
                for d in decided {
                    d.pending
                        .resolve(Ok(response(d.pending, d.events, &d.head, resource)));
                }
                *cached = Some(head);
                return;
            }
            match self.commit(key, entry, &start, &head, &decided).await {
                Ok(positions) => {
                    let committed = decided.len() as u64;
                    let mut positions = positions.into_iter();
                    for d in decided {
                        let mut events = d.events;
                        for (event, position) in events.iter_mut().zip(positions.by_ref()) {
                            event.position = position;
                        }
                        d.pending
                            .resolve(Ok(response(d.pending, events, &d.head, resource)));
                    }
                    self.stats.commands.fetch_add(committed, Ordering::Relaxed);
                    *cached = Some(head);
                    return;
                }
                Err(StoreError::Conflict { actual, .. }) => {
                    tracing::debug!(stream = %key, retries, actual, "version conflict, retrying");
                    let fresh = match self.refresh(key, entry, start).await {
                        Ok(head) => head,
                        Err(err) => {
                            let all: Vec<_> = decided.iter().map(|d| d.pending).collect();
                            return fail_all(&all, &err);
                        }
                    };
                    retries += 1;
                    for d in decided {
                        let command = &d.pending.command;
                        if let Some(expected) = command.expected_version {
                            d.pending
                                .resolve(Err(conflict(command, expected, fresh.version)));
                        } else if retries > self.max_retries {
                            d.pending.resolve(Err(conflict(
                                command,
                                start_version(&d),
                                fresh.version,
                            )));
                        } else {
                            open.push(d.pending);
                        }
                    }
                    if !open.is_empty() {
                        self.stats.conflict_retries.fetch_add(1, Ordering::Relaxed);
                    }
                    *cached = Some(fresh);
                }
                Err(StoreError::DuplicateCommandId { .. }) => {
                    // Another process recorded one of these ids first: answer those as it did
                    // and try the others again.
                    retries += 1;
                    for d in decided {
                        let pending = d.pending;
                        match self.recorded_elsewhere(pending).await {
                            Some(answer) => pending.resolve(answer),
                            None if retries > self.max_retries => {
                                pending.resolve(Err(Error::DuplicateCommand {
                                    command_id: pending.command.id,
                                }))
                            }
                            None => open.push(pending),
                        }
                    }
                }
                Err(err) => {
                    // The outcome of a failed write is unknown: read the stream afresh next time.
                    let err = Error::from(err);
                    let all: Vec<_> = decided.iter().map(|d| d.pending).collect();
                    return fail_all(&all, &err);
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
            .idempotency(&command.context.tenant, command.id)
            .await
        {
            Ok(Some(record)) => Some(self.replay(record, fingerprint, command).await),
            Ok(None) => None,
            Err(err) => Some(Err(err.into())),
        }
    }

    /// Runs one command's action against `head` and stamps its events.
    async fn decide<'p>(
        &self,
        pending: &'p Pending,
        key: &StreamKey,
        head: &CachedStream,
    ) -> Result<Decided<'p>, Error> {
        let command = &pending.command;
        let descriptor = &pending.action.descriptor;
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

        let handler = &self.aggregates[pending.action.aggregate].handler;
        let call = ActionCall::new(
            pending.action.index,
            &command.context,
            root,
            head.state.as_ref(),
            &command.payload,
        );
        let outcome = handler.handle(call).await?;

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
        let events: Vec<EventEnvelope> = outcome
            .events
            .into_iter()
            .enumerate()
            .map(|(i, raw)| EventEnvelope {
                event_id: Uuid::now_v7(),
                tenant: key.tenant.clone(),
                namespace: key.namespace.clone(),
                resource: key.resource.clone(),
                identifier: key.id.clone(),
                version: head.version + 1 + i as u64,
                evt_key: raw.evt_key.to_owned(),
                schema_version: raw.schema_version,
                payload: raw.payload,
                metadata: metadata.clone(),
                recorded_at: now,
                position: 0,
            })
            .collect();
        let next = match outcome.state {
            Some(state) if !events.is_empty() => CachedStream {
                version: head.version + events.len() as u64,
                state: Arc::from(state),
                deleted: head.deleted || descriptor.deletes,
                created_at: head.created_at.or(Some(now)),
                updated_at: Some(now),
                updated_by: context.user.clone(),
            },
            _ => head.clone(),
        };
        let record = match &pending.fingerprint {
            Some(fingerprint) => {
                let state = next.state.to_json().map_err(|e| Error::Decode {
                    what: format!("state of {root}"),
                    message: e.to_string(),
                })?;
                Some(IdempotencyRecord::new(
                    key.tenant.clone(),
                    command.id,
                    fingerprint.clone(),
                    root.clone(),
                    head.version,
                    next.version,
                    state,
                    now,
                ))
            }
            None => None,
        };
        Ok(Decided {
            pending,
            events,
            head: next,
            record,
        })
    }

    /// Writes the decided commands in one commit; returns the positions of their events in order.
    async fn commit(
        &self,
        key: &StreamKey,
        entry: &ResourceEntry,
        start: &CachedStream,
        head: &CachedStream,
        decided: &[Decided<'_>],
    ) -> Result<Vec<u64>, StoreError> {
        let events: Vec<EventEnvelope> = decided.iter().flat_map(|d| d.events.clone()).collect();
        let records = decided.iter().filter_map(|d| d.record.clone()).collect();
        let write = self.stream_write(key, entry, start, head, events, records);
        let receipt = self.backend.commit(CommitBatch::single(write)).await?;
        Ok(receipt.positions.into_iter().next().unwrap_or_default())
    }
}

fn start_version(d: &Decided<'_>) -> u64 {
    d.head.version - d.events.len() as u64
}

fn conflict(command: &Command, expected: u64, actual: u64) -> Error {
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
    head: &CachedStream,
    resource: &ResourceDescriptor,
) -> Response {
    Response {
        command_id: pending.command.id,
        root: pending.command.root.clone(),
        events,
        version: head.version,
        replayed: false,
        state: head.state.clone(),
        resource_type: resource.state_type_name,
    }
}
