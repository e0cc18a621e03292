//! Units: several commands, on any streams, decided one after the other and committed in one
//! write, so that all of them commit or none does (a transfer between two accounts without a
//! saga).
//!
//! A unit holds its streams the way an import does ([`Claim`]), in one global order so that two
//! units cannot deadlock, after the locks of its caller-supplied command ids (the order the
//! single-command path takes them in). Each command is decided against the heads the commands
//! before it left; the heads it touched go back to the stream cache only once the commit
//! succeeded. A conflict with another process re-reads the streams and decides the whole unit
//! again, bounded by the domain's `max_retries`.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use futures::FutureExt;
use tracing::Instrument;
use uuid::Uuid;

use crate::audit::{AuditOutcome, AuditRecord};
use crate::backend::{CommitBatch, IdempotencyRecord, StoreError, StreamKey};
use crate::command::Command;
use crate::error::Error;
use crate::event::EventEnvelope;
use crate::log::LogCursor;
use crate::outbox::OutboxMessage;
use crate::response::Response;

use super::batch::{backoff, conflict};
use super::cache::CachedStream;
use super::idempotency::{fingerprint, idempotency_key};
use super::process::Claim;
use super::{ActionEntry, Domain, DomainInner};

/// The most commands one unit may hold; a larger unit is refused with [`Error::InvalidUnit`]
/// before anything is read. It bounds the time a unit holds its streams and the size of its one
/// commit.
pub const MAX_UNIT_COMMANDS: usize = 256;

impl Domain {
    /// Runs several commands as one unit: each is decided, in the order given, against the state
    /// the commands before it left (the same root twice: the second sees the first's events),
    /// and all of them commit in one atomic write, or none does.
    ///
    /// Answers each command's [`Response`], in order. When any command fails (validation, an
    /// unknown command or resource, a broken rule, a create on an existing root, an update of a
    /// missing one, a panic in its action, an `expect_version` that does not match), nothing is
    /// written and the error is [`Error::UnitCommand`], naming the command by its index and key
    /// with its own error. A unit that cannot run as given (more than [`MAX_UNIT_COMMANDS`]
    /// commands, two commands with one id, commands of different tenants, some commands already
    /// committed and others not) is [`Error::InvalidUnit`]. An empty unit answers an empty list.
    ///
    /// Commands with a caller-supplied id ([`Command::with_id`]) are idempotent together: a
    /// repeat of a unit that committed answers every command's recorded response
    /// ([`Response::replayed`]) and writes nothing. The commit signal is raised once per unit.
    pub async fn process_unit(
        &self,
        commands: impl IntoIterator<Item = Command>,
    ) -> Result<Vec<Response>, Error> {
        self.inner
            .process_unit(commands.into_iter().collect())
            .await
    }
}

/// One command of a unit, routed.
struct Member {
    command: Command,
    action: ActionEntry,
    fingerprint: Option<String>,
    /// Its stream, as an index into the unit's streams.
    stream: usize,
}

/// One stream a unit touches: its key and its commands (indices into the unit), in order.
struct Touched {
    key: StreamKey,
    members: Vec<usize>,
}

/// What the unit decided for one command.
struct Decided {
    events: usize,
    head: CachedStream,
}

/// How one attempt at the unit ended.
enum Attempt {
    Done(Vec<Response>),
    /// A conflict with another writer on a stream: decide again.
    Conflict {
        stream: usize,
        actual: u64,
    },
    /// Another process recorded one of the ids: look at the records again.
    Recorded,
}

impl DomainInner {
    /// Runs a unit inside its `fluvius.unit` span (namespace, tenant, commands, streams, and
    /// when it ends `outcome` and `retries`).
    pub(crate) async fn process_unit(
        self: &Arc<Self>,
        commands: Vec<Command>,
    ) -> Result<Vec<Response>, Error> {
        let span = tracing::info_span!(
            "fluvius.unit",
            namespace = %self.namespace,
            tenant = tracing::field::Empty,
            commands = commands.len(),
            streams = tracing::field::Empty,
            outcome = tracing::field::Empty,
            retries = tracing::field::Empty,
        );
        let retries = AtomicU32::new(0);
        let attempts: Vec<AuditRecord> = if self.audit {
            let now = self.clock.now();
            commands
                .iter()
                .map(|c| AuditRecord::of_command(&self.namespace, c, AuditOutcome::Accepted, now))
                .collect()
        } else {
            Vec::new()
        };
        let result = self
            .run_unit(commands, &retries, &span)
            .instrument(span.clone())
            .await;
        if self.audit {
            // Accepted commands were recorded with their commit; a replayed unit and a failed
            // one are recorded command by command, each failure with the unit's error (which
            // names the command that failed).
            let records: Vec<AuditRecord> = match &result {
                Ok(responses) => responses
                    .iter()
                    .zip(attempts)
                    .filter(|(response, _)| response.replayed)
                    .map(|(response, attempt)| AuditRecord {
                        outcome: AuditOutcome::Replayed,
                        version: Some(response.version),
                        events: response.events.len() as u64,
                        ..attempt
                    })
                    .collect(),
                Err(err) => attempts.into_iter().map(|a| a.failed_with(err)).collect(),
            };
            if !records.is_empty() {
                self.record_attempts(records).await;
            }
        }
        if !span.is_disabled() {
            let outcome = match &result {
                Ok(responses) if responses.iter().any(|r| r.replayed) => "replayed",
                Ok(_) => "ok",
                Err(err) => err.code(),
            };
            span.record("outcome", outcome);
            span.record("retries", retries.load(Ordering::Relaxed));
        }
        result
    }

    async fn run_unit(
        self: &Arc<Self>,
        commands: Vec<Command>,
        retries: &AtomicU32,
        span: &tracing::Span,
    ) -> Result<Vec<Response>, Error> {
        if commands.len() > MAX_UNIT_COMMANDS {
            return Err(Error::InvalidUnit {
                index: None,
                message: format!(
                    "a unit holds at most {MAX_UNIT_COMMANDS} commands, this one has {}: split \
                     it into smaller units",
                    commands.len()
                ),
            });
        }
        let Some(first) = commands.first() else {
            return Ok(Vec::new());
        };
        let tenant = first.context.tenant.clone();
        span.record("tenant", tenant.as_str());
        let (members, streams) = self.route_unit(commands, &tenant)?;
        span.record("streams", streams.len());

        // Command ids first, then streams, each in one global order: the single-command path
        // takes an id's lock before it queues on its stream, so this order cannot deadlock
        // with it, nor with another unit or an import.
        let mut ids: Vec<Uuid> = members
            .iter()
            .filter(|m| m.command.caller_id)
            .map(|m| m.command.id)
            .collect();
        ids.sort();
        let mut id_locks = Vec::with_capacity(ids.len());
        for id in ids {
            id_locks.push(self.cache.command_lock(&tenant, id).lock_owned().await);
        }
        if let Some(replayed) = self.recorded_unit(&members).await? {
            return Ok(replayed);
        }
        let mut order: Vec<usize> = (0..streams.len()).collect();
        order.sort_by(|&a, &b| streams[a].key.cmp(&streams[b].key));
        let mut claims: Vec<Option<Claim>> = (0..streams.len()).map(|_| None).collect();
        for &s in &order {
            claims[s] = Some(Claim::new(self, streams[s].key.clone()).await);
        }
        let mut claims: Vec<Claim> = claims.into_iter().flatten().collect();

        let mut attempts = 0u32;
        loop {
            let outcome = self.attempt_unit(&members, &streams, &mut claims).await?;
            attempts += 1;
            let expected_on = |stream: usize| {
                streams[stream]
                    .members
                    .iter()
                    .any(|&m| members[m].command.expected_version.is_some())
            };
            match outcome {
                Attempt::Done(responses) => return Ok(responses),
                Attempt::Conflict { stream, actual } if attempts > self.max_retries => {
                    let index = streams[stream].members[0];
                    let command = &members[index].command;
                    let had = claims[stream].head.as_ref().map_or(0, |h| h.version);
                    return Err(unit_error(
                        index,
                        command,
                        conflict(command, had, actual.max(had)),
                    ));
                }
                Attempt::Conflict { stream, .. } => {
                    retries.fetch_add(1, Ordering::Relaxed);
                    self.stats.conflict_retries.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(stream = %streams[stream].key, attempts, "version conflict in a unit, retrying");
                    // A conflict on a stream whose expected version the caller gave is answered
                    // by the next decision at once; any other waits, so that writers spread out.
                    if !expected_on(stream) {
                        tokio::time::sleep(backoff(attempts)).await;
                    }
                    self.refresh_unit(&streams, &mut claims).await?;
                }
                Attempt::Recorded if attempts > self.max_retries => {
                    return Err(Error::Unavailable {
                        message: "the command ids of the unit were being recorded by another \
                                  process while it committed; nothing was written"
                            .into(),
                        detail: None,
                    });
                }
                Attempt::Recorded => {
                    if let Some(replayed) = self.recorded_unit(&members).await? {
                        return Ok(replayed);
                    }
                }
            }
        }
    }

    /// Checks and routes every command of a unit, and groups them by stream (in the order the
    /// streams first appear).
    fn route_unit(
        &self,
        commands: Vec<Command>,
        tenant: &str,
    ) -> Result<(Vec<Member>, Vec<Touched>), Error> {
        let mut members = Vec::with_capacity(commands.len());
        let mut streams: Vec<Touched> = Vec::new();
        let mut stream_of: HashMap<StreamKey, usize> = HashMap::new();
        let mut ids: HashMap<Uuid, usize> = HashMap::new();
        for (index, mut command) in commands.into_iter().enumerate() {
            self.check_tenant(&command.context)
                .map_err(|err| unit_error(index, &command, err))?;
            if command.context.tenant != tenant {
                return Err(Error::InvalidUnit {
                    index: Some(index),
                    message: format!(
                        "command {index} (`{}` on {}) names tenant `{}` but command 0 names \
                         `{tenant}`: a unit commits within one tenant",
                        command.key, command.root, command.context.tenant
                    ),
                });
            }
            if let Some(before) = ids.insert(command.id, index) {
                return Err(Error::InvalidUnit {
                    index: Some(index),
                    message: format!(
                        "command {index} (`{}` on {}) has the command id {} of command {before}: \
                         each command of a unit needs an id of its own",
                        command.key, command.root, command.id
                    ),
                });
            }
            command.context.command_id = Some(command.id);
            command.context.root = Some(command.root.clone());
            let action = self
                .route(&command)
                .map_err(|err| unit_error(index, &command, err))?
                .clone();
            let fingerprint = if command.caller_id {
                Some(
                    fingerprint(&self.namespace, &command)
                        .map_err(|err| unit_error(index, &command, err))?,
                )
            } else {
                None
            };
            let key = self.stream_key(tenant, &command.root.resource, &command.root.id);
            let stream = *stream_of.entry(key.clone()).or_insert_with(|| {
                streams.push(Touched {
                    key,
                    members: Vec::new(),
                });
                streams.len() - 1
            });
            streams[stream].members.push(index);
            members.push(Member {
                command,
                action,
                fingerprint,
                stream,
            });
        }
        Ok((members, streams))
    }

    /// The recorded answers when every command of the unit was already committed (a repeat),
    /// `None` when none was; an error when the ids say otherwise.
    async fn recorded_unit(&self, members: &[Member]) -> Result<Option<Vec<Response>>, Error> {
        if members.iter().all(|m| m.fingerprint.is_none()) {
            return Ok(None);
        }
        let mut recorded: Vec<Option<IdempotencyRecord>> = Vec::with_capacity(members.len());
        for member in members {
            let record = match &member.fingerprint {
                Some(_) => {
                    let command = &member.command;
                    self.backend
                        .idempotency(
                            &command.context.tenant,
                            idempotency_key(&self.namespace, command.id),
                        )
                        .await?
                }
                None => None,
            };
            recorded.push(record);
        }
        let Some(seen) = recorded.iter().position(Option::is_some) else {
            return Ok(None);
        };
        // An id used before for another command is that command's error, as it would be alone.
        for (index, (member, record)) in members.iter().zip(&recorded).enumerate() {
            if let (Some(record), Some(print)) = (record, &member.fingerprint)
                && &record.fingerprint != print
            {
                let command = &member.command;
                let err = Error::DuplicateCommand {
                    command_id: command.id,
                };
                return Err(unit_error(index, command, err));
            }
        }
        if let Some(fresh) = recorded.iter().position(Option::is_none) {
            let (a, b) = (&members[seen].command, &members[fresh].command);
            let why = if b.caller_id {
                "was not"
            } else {
                "has no command id, so its repeat cannot be recognised"
            };
            return Err(Error::InvalidUnit {
                index: Some(fresh),
                message: format!(
                    "command {seen} (`{}` on {}) was already committed under its id, command \
                     {fresh} (`{}` on {}) {why}: a unit is repeated whole, with the same \
                     command ids, or not at all",
                    a.key, a.root, b.key, b.root
                ),
            });
        }
        let mut responses = Vec::with_capacity(members.len());
        for (index, (member, record)) in members.iter().zip(recorded).enumerate() {
            let (Some(record), Some(print)) = (record, &member.fingerprint) else {
                continue;
            };
            let response = self
                .replay(record, print, &member.command)
                .await
                .map_err(|err| unit_error(index, &member.command, err))?;
            responses.push(response);
        }
        Ok(Some(responses))
    }

    /// Decides every command against the heads its predecessors left and commits the unit.
    /// The heads go back to the claims (and so to the stream cache) only when the commit
    /// succeeded; after any other outcome a claim keeps the head the attempt started from, or
    /// none when the store's state is unknown.
    async fn attempt_unit(
        &self,
        members: &[Member],
        streams: &[Touched],
        claims: &mut [Claim],
    ) -> Result<Attempt, Error> {
        let mut starts = Vec::with_capacity(streams.len());
        for (stream, claim) in streams.iter().zip(claims.iter_mut()) {
            let entry = self.resource(&stream.key.resource)?;
            let mut head = match claim.head.take() {
                Some(head) => head,
                None => self.load(&stream.key, entry).await?,
            };
            // An expected version ahead of the cache means another process wrote.
            let ahead = stream.members.iter().any(|&m| {
                members[m]
                    .command
                    .expected_version
                    .is_some_and(|v| v > head.version)
            });
            if ahead {
                head = self.refresh(&stream.key, entry, head).await?;
            }
            claim.head = Some(head.clone());
            starts.push(head);
        }

        let mut heads = starts.clone();
        let mut events: Vec<Vec<EventEnvelope>> = streams.iter().map(|_| Vec::new()).collect();
        let mut records: Vec<Vec<IdempotencyRecord>> = streams.iter().map(|_| Vec::new()).collect();
        let mut audits: Vec<Vec<AuditRecord>> = streams.iter().map(|_| Vec::new()).collect();
        let mut messages: Vec<Vec<OutboxMessage>> = streams.iter().map(|_| Vec::new()).collect();
        let mut decided = Vec::with_capacity(members.len());
        for (index, member) in members.iter().enumerate() {
            let s = member.stream;
            let decision = self
                .decide_command(
                    &member.command,
                    &member.action,
                    member.fingerprint.as_deref(),
                    &streams[s].key,
                    &heads[s],
                    &mut events[s],
                )
                .await
                .map_err(|err| unit_error(index, &member.command, err))?;
            heads[s] = decision.head.clone();
            records[s].extend(decision.record);
            audits[s].extend(decision.audit.map(|audit| *audit));
            messages[s].extend(decision.messages);
            decided.push(Decided {
                events: decision.events,
                head: decision.head,
            });
        }

        let writes_anything = events.iter().any(|e| !e.is_empty())
            || records.iter().any(|r| !r.is_empty())
            || audits.iter().any(|a| !a.is_empty())
            || messages.iter().any(|m| !m.is_empty());
        let mut own: Vec<Vec<EventEnvelope>> = Vec::new();
        let receipt = if writes_anything {
            // Every stream the unit read is in the commit, events or not: its expected version
            // guards the decisions taken against it.
            let mut writes = Vec::with_capacity(streams.len());
            let mut shared = Vec::with_capacity(streams.len());
            for (s, stream) in streams.iter().enumerate() {
                let entry = self.resource(&stream.key.resource)?;
                let inline = match self
                    .inline_writes(&stream.key, entry, starts[s].version, &events[s])
                    .await
                {
                    Ok(rows) => rows,
                    Err(StoreError::Conflict { actual, .. }) => {
                        return Ok(Attempt::Conflict { stream: s, actual });
                    }
                    Err(err) => return Err(err.into()),
                };
                let list = Arc::new(std::mem::take(&mut events[s]));
                shared.push(Arc::clone(&list));
                writes.push(
                    self.stream_write(
                        &stream.key,
                        entry,
                        &starts[s],
                        &heads[s],
                        list,
                        std::mem::take(&mut records[s]),
                    )
                    .with_audit(std::mem::take(&mut audits[s]))
                    .with_messages(std::mem::take(&mut messages[s]))
                    .with_inline(inline),
                );
            }
            // A backend that panics must not unwind through the caller holding the streams.
            let committed = AssertUnwindSafe(
                self.traced_commit(CommitBatch::new(writes), members.len()),
            )
            .catch_unwind()
            .await
            .unwrap_or_else(|_| {
                Err(StoreError::outcome_unknown(
                    "the backend panicked while committing the unit: whether it committed is \
                     unknown; repeat it with the same command ids to find out",
                    None,
                ))
            });
            match committed {
                Ok(receipt) => {
                    own = shared
                        .into_iter()
                        .map(|list| Arc::try_unwrap(list).unwrap_or_else(|l| l.as_ref().clone()))
                        .collect();
                    Some(receipt)
                }
                Err(StoreError::Conflict { key, actual, .. }) => {
                    let stream = streams.iter().position(|s| s.key == key).unwrap_or(0);
                    return Ok(Attempt::Conflict { stream, actual });
                }
                Err(StoreError::DuplicateCommandId { .. }) => return Ok(Attempt::Recorded),
                Err(err) => {
                    // Whether the write happened is not known here: read afresh next time.
                    for claim in claims.iter_mut() {
                        claim.head = None;
                    }
                    return Err(err.into());
                }
            }
        } else {
            None
        };

        // Committed (or nothing to write): answer each command with its own events.
        let mut cursors: Vec<std::vec::IntoIter<LogCursor>> = (0..streams.len())
            .map(|s| match &receipt {
                Some(receipt) => receipt.cursors(s).collect::<Vec<_>>().into_iter(),
                None => Vec::new().into_iter(),
            })
            .collect();
        let mut taken: Vec<std::vec::IntoIter<EventEnvelope>> =
            own.into_iter().map(Vec::into_iter).collect();
        let mut responses = Vec::with_capacity(members.len());
        for (member, decided) in members.iter().zip(decided) {
            let s = member.stream;
            let mut mine: Vec<EventEnvelope> = match taken.get_mut(s) {
                Some(iter) => iter.by_ref().take(decided.events).collect(),
                None => Vec::new(),
            };
            let mut last = LogCursor::START;
            for event in &mut mine {
                if let Some(cursor) = cursors[s].next() {
                    event.position = cursor.position();
                    last = cursor;
                }
            }
            let resource = &self.resource(&member.command.root.resource)?.descriptor;
            responses.push(Response {
                command_id: member.command.id,
                root: member.command.root.clone(),
                events: mine,
                version: decided.head.version,
                replayed: false,
                cursor: last,
                state: decided.head.state.clone(),
                resource_type: resource.state_type_name,
            });
        }
        if receipt.is_some() {
            self.stats
                .commands
                .fetch_add(members.len() as u64, Ordering::Relaxed);
        }
        for (claim, head) in claims.iter_mut().zip(heads) {
            claim.head = Some(head);
        }
        Ok(Attempt::Done(responses))
    }

    /// After a conflict: every stream of the unit caught up with the store.
    async fn refresh_unit(&self, streams: &[Touched], claims: &mut [Claim]) -> Result<(), Error> {
        for (stream, claim) in streams.iter().zip(claims.iter_mut()) {
            let entry = self.resource(&stream.key.resource)?;
            let fresh = match claim.head.take() {
                Some(head) => self.refresh(&stream.key, entry, head).await?,
                None => self.load(&stream.key, entry).await?,
            };
            claim.head = Some(fresh);
        }
        Ok(())
    }
}

/// The unit's error for its command `index`.
fn unit_error(index: usize, command: &Command, error: Error) -> Error {
    Error::UnitCommand {
        index,
        command: command.key.clone(),
        root: command.root.clone(),
        error: Box::new(error),
    }
}
