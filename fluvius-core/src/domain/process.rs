//! The command pipeline: route, check, run the action, stamp events, commit once, retry on conflict.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::aggregate::{ActionCall, ResourceDescriptor};
use crate::backend::{
    CommitBatch, ExpectedVersion, IdempotencyRecord, StateDoc, StateWrite, StoreError, StreamKey,
    StreamRange, StreamWrite,
};
use crate::command::Command;
use crate::error::Error;
use crate::event::{EventEnvelope, EventMetadata};
use crate::response::Response;
use crate::state::AnyState;

use super::cache::CachedStream;
use super::idempotency::fingerprint;
use super::{ActionEntry, DomainInner};

impl DomainInner {
    pub(crate) fn stream_key(&self, tenant: &str, resource: &str, id: &str) -> StreamKey {
        StreamKey {
            tenant: tenant.to_owned(),
            namespace: self.namespace.clone(),
            resource: resource.to_owned(),
            id: id.to_owned(),
        }
    }

    pub(crate) async fn process(&self, command: Command) -> Result<Response, Error> {
        self.check_tenant(&command.context)?;
        let action = self.route(&command)?.clone();
        let tenant = command.context.tenant.as_str();

        let mut idempotency = None;
        let _same_id = if command.caller_id {
            let fp = fingerprint(&command)?;
            let lock = self.cache.command_lock(tenant, command.id);
            let guard = lock.lock_owned().await;
            if let Some(record) = self.backend.idempotency(tenant, command.id).await? {
                return self.replay(record, &fp, &command).await;
            }
            idempotency = Some(fp);
            Some(guard)
        } else {
            None
        };

        let key = self.stream_key(tenant, &command.root.resource, &command.root.id);
        let resource = &self.resource(&command.root.resource)?.descriptor;
        let slot = self.cache.slot(&key);
        let mut cached = slot.lock().await;
        let mut retries = 0;
        loop {
            let current = match cached.as_ref() {
                Some(current) => current.clone(),
                None => {
                    let loaded = self.load(&key, resource).await?;
                    *cached = Some(loaded.clone());
                    loaded
                }
            };
            match self
                .attempt(
                    &command,
                    &action,
                    resource,
                    &key,
                    &current,
                    idempotency.as_deref(),
                )
                .await
            {
                Ok((response, next)) => {
                    *cached = Some(next);
                    self.stats.commands.fetch_add(1, Ordering::Relaxed);
                    return Ok(response);
                }
                Err(AttemptError::Rejected(err)) => return Err(err),
                Err(AttemptError::Store(StoreError::Conflict { actual, .. }))
                    if command.expected_version.is_none() && retries < self.max_retries =>
                {
                    retries += 1;
                    self.stats.conflict_retries.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(stream = %key, retries, actual, "version conflict, retrying");
                    *cached = Some(self.refresh(&key, resource, current).await?);
                }
                Err(AttemptError::Store(StoreError::DuplicateCommandId { .. })) => {
                    // Another process recorded this id first: answer what it answered.
                    *cached = None;
                    let record = self.backend.idempotency(tenant, command.id).await?;
                    let fp = idempotency.as_deref().unwrap_or_default();
                    return match record {
                        Some(record) => self.replay(record, fp, &command).await,
                        None => Err(Error::DuplicateCommand {
                            command_id: command.id,
                        }),
                    };
                }
                Err(AttemptError::Store(err)) => {
                    if !matches!(err, StoreError::Conflict { .. }) {
                        // The outcome of a failed write is unknown: read the stream afresh next time.
                        *cached = None;
                    }
                    return Err(err.into());
                }
            }
        }
    }

    /// Runs the action once against `current` and commits what it decided.
    async fn attempt(
        &self,
        command: &Command,
        action: &ActionEntry,
        resource: &ResourceDescriptor,
        key: &StreamKey,
        current: &CachedStream,
        fingerprint: Option<&str>,
    ) -> Result<(Response, CachedStream), AttemptError> {
        let descriptor = &action.descriptor;
        let root = &command.root;
        if descriptor.creates {
            if current.version > 0 {
                return Err(reject(Error::AlreadyExists {
                    resource: root.resource.clone(),
                    id: root.id.clone(),
                }));
            }
        } else if current.version == 0 || current.deleted {
            return Err(reject(Error::not_found(&root.resource, &root.id)));
        }
        if let Some(expected) = command.expected_version
            && expected != current.version
        {
            return Err(reject(Error::VersionConflict {
                resource: root.resource.clone(),
                id: root.id.clone(),
                expected,
                actual: current.version,
            }));
        }

        let handler = &self.aggregates[action.aggregate].handler;
        let call = ActionCall::new(
            action.index,
            &command.context,
            root,
            current.state.as_ref(),
            &command.payload,
        );
        let outcome = handler.handle(call).await.map_err(reject)?;

        if outcome.events.is_empty() && fingerprint.is_none() {
            let response = self.response(command, Vec::new(), current, resource);
            return Ok((response, current.clone()));
        }

        let now = self.recorded_at(current.updated_at);
        let version = current.version + outcome.events.len() as u64;
        let context = &command.context;
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
                version: current.version + 1 + i as u64,
                evt_key: raw.evt_key.to_owned(),
                schema_version: raw.schema_version,
                payload: raw.payload,
                metadata: EventMetadata {
                    command: command.key.clone(),
                    user: context.user.clone(),
                    tenant: context.tenant.clone(),
                    correlation_id: context.correlation_id,
                    causation_id: command.id,
                    time: context.time,
                    headers: context.headers.clone(),
                },
                recorded_at: now,
                position: 0,
            })
            .collect();
        let next = match outcome.state {
            Some(state) if !events.is_empty() => CachedStream {
                version,
                state: Arc::from(state),
                deleted: current.deleted || descriptor.deletes,
                created_at: current.created_at.or(Some(now)),
                updated_at: Some(now),
            },
            _ => current.clone(),
        };
        let state_write = StateWrite::new(
            next.version,
            StateDoc::Typed(next.state.clone()),
            next.deleted,
            next.created_at.unwrap_or(now),
            next.updated_at.unwrap_or(now),
            context.user.clone(),
        );
        let records = match fingerprint {
            Some(fp) => {
                let state = next.state.to_json().map_err(|e| {
                    reject(Error::Decode {
                        what: format!("state of {root}"),
                        message: e.to_string(),
                    })
                })?;
                vec![IdempotencyRecord::new(
                    key.tenant.clone(),
                    command.id,
                    fp.to_owned(),
                    root.clone(),
                    current.version,
                    next.version,
                    state,
                    now,
                )]
            }
            None => Vec::new(),
        };
        let expected = match current.version {
            0 => ExpectedVersion::NoStream,
            v => ExpectedVersion::Exact(v),
        };
        // The response carries the events too; the write takes its own copy.
        let write = StreamWrite::new(key.clone(), expected, events.clone(), state_write, records);
        let receipt = self.backend.commit(CommitBatch::single(write)).await?;
        let mut events = events;
        if let Some(positions) = receipt.positions.first() {
            for (event, position) in events.iter_mut().zip(positions) {
                event.position = *position;
            }
        }
        let response = self.response(command, events, &next, resource);
        Ok((response, next))
    }

    fn response(
        &self,
        command: &Command,
        events: Vec<EventEnvelope>,
        head: &CachedStream,
        resource: &ResourceDescriptor,
    ) -> Response {
        Response {
            command_id: command.id,
            root: command.root.clone(),
            events,
            version: head.version,
            replayed: false,
            state: head.state.clone(),
            resource_type: resource.state_type_name,
        }
    }

    /// `recorded_at` never decreases within a stream, whatever the clock says.
    fn recorded_at(&self, last: Option<DateTime<Utc>>) -> DateTime<Utc> {
        let now = self.clock.now();
        match last {
            Some(last) if last > now => last,
            _ => now,
        }
    }

    /// The head of a stream from the store: its state row, or a fold of its events when the row
    /// cannot be decoded.
    pub(crate) async fn load(
        &self,
        key: &StreamKey,
        resource: &ResourceDescriptor,
    ) -> Result<CachedStream, Error> {
        let Some(stored) = self.backend.load_state(key).await? else {
            return Ok(empty_head(resource));
        };
        let state: Option<Arc<dyn AnyState>> = match stored.state {
            StateDoc::Typed(state) if state.as_any().type_id() == (resource.state_type)() => {
                Some(state)
            }
            other => other
                .to_json()
                .ok()
                .and_then(|json| (resource.decode_state)(json).ok())
                .map(Arc::from),
        };
        match state {
            Some(state) => Ok(CachedStream {
                version: stored.version,
                state,
                deleted: stored.deleted,
                created_at: Some(stored.created_at),
                updated_at: Some(stored.updated_at),
            }),
            None => {
                tracing::debug!(stream = %key, "stored state does not decode, folding events");
                let events = self.backend.read_stream(key, StreamRange::all()).await?;
                fold_onto(resource, empty_head(resource), &events)
            }
        }
    }

    /// After a conflict: fold only the events the cache has not seen.
    async fn refresh(
        &self,
        key: &StreamKey,
        resource: &ResourceDescriptor,
        current: CachedStream,
    ) -> Result<CachedStream, Error> {
        let tail = self
            .backend
            .read_stream(key, StreamRange::after(current.version))
            .await?;
        match tail.first() {
            Some(first) if first.version == current.version + 1 => {
                fold_onto(resource, current, &tail)
            }
            _ => self.load(key, resource).await,
        }
    }
}

/// The head of a stream that has no events yet.
pub(crate) fn empty_head(resource: &ResourceDescriptor) -> CachedStream {
    CachedStream {
        version: 0,
        state: Arc::from((resource.default_state)()),
        deleted: false,
        created_at: None,
        updated_at: None,
    }
}

/// Applies events to a head, decoding each through the resource's one event decoder.
pub(crate) fn fold_onto(
    resource: &ResourceDescriptor,
    head: CachedStream,
    events: &[EventEnvelope],
) -> Result<CachedStream, Error> {
    if events.is_empty() {
        return Ok(head);
    }
    let mut state = head.state.clone_state();
    let mut deleted = head.deleted;
    let mut created_at = head.created_at;
    let mut updated_at = head.updated_at;
    let mut version = head.version;
    for event in events {
        if (resource.apply_event)(
            state.as_mut(),
            &event.evt_key,
            event.schema_version,
            &event.payload,
        )? {
            deleted = true;
        }
        version = event.version;
        created_at = created_at.or(Some(event.recorded_at));
        updated_at = Some(event.recorded_at);
    }
    Ok(CachedStream {
        version,
        state: Arc::from(state),
        deleted,
        created_at,
        updated_at,
    })
}

/// Why one attempt did not commit: the command was refused, or the store said no.
enum AttemptError {
    Rejected(Error),
    Store(StoreError),
}

impl From<StoreError> for AttemptError {
    fn from(err: StoreError) -> Self {
        AttemptError::Store(err)
    }
}

fn reject(err: Error) -> AttemptError {
    AttemptError::Rejected(err)
}
