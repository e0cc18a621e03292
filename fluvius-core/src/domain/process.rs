//! The command pipeline: route, check, queue behind the stream, and let whoever holds the stream
//! decide and commit every queued command at once (see `batch`).

use std::pin::pin;
use std::sync::Arc;

use futures::future::{Either, select};

use crate::backend::StreamKey;
use crate::command::Command;
use crate::error::Error;
use crate::response::Response;

use super::DomainInner;
use super::batch::{MAX_BATCH, Pending};
use super::cache::{CachedStream, Slot};
use super::idempotency::fingerprint;

impl DomainInner {
    pub(crate) fn stream_key(&self, tenant: &str, resource: &str, id: &str) -> StreamKey {
        StreamKey {
            tenant: tenant.to_owned(),
            namespace: self.namespace.clone(),
            resource: resource.to_owned(),
            id: id.to_owned(),
        }
    }

    pub(crate) async fn process(&self, mut command: Command) -> Result<Response, Error> {
        self.check_tenant(&command.context)?;
        command.context.command_id = Some(command.id);
        command.context.root = Some(command.root.clone());
        let action = self.route(&command)?.clone();

        // Concurrent commands with the same caller id wait for each other; a repeat answers
        // what the first one answered.
        let mut fp = None;
        let _same_id = if command.caller_id {
            let tenant = command.context.tenant.as_str();
            let print = fingerprint(&command)?;
            let guard = self
                .cache
                .command_lock(tenant, command.id)
                .lock_owned()
                .await;
            if let Some(record) = self.backend.idempotency(tenant, command.id).await? {
                return self.replay(record, &print, &command).await;
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
        let entry = self.resource(&command.root.resource)?;
        let slot = self.cache.slot(&key);

        // Nobody else is on this stream: decide and commit alone, without queueing.
        if let Ok(mut head) = slot.head.try_lock()
            && slot.is_idle()
        {
            let pending = Pending::new(command, action, fp);
            let batch = [&pending];
            let mut leading = Leading {
                batch: &batch,
                head: &mut head,
                done: false,
            };
            // Boxed: the batch future is large, and this one would otherwise be copied into every
            // caller's future.
            Box::pin(self.run_batch(&key, entry, leading.head, leading.batch)).await;
            leading.done = true;
            drop(leading);
            drop(head);
            return unanswered(pending.take_result());
        }

        let pending = Arc::new(Pending::new(command, action, fp));
        let mut queued = Queued::new(&slot, &pending);
        // Wait for the stream's lock, or for the holder of it to answer this command with its
        // batch, whichever comes first.
        let lock = pin!(slot.head.lock());
        let answered = pin!(pending.answered.notified());
        let mut head = match select(lock, answered).await {
            Either::Left((head, _)) => head,
            Either::Right(((), _)) => {
                queued.armed = false;
                return unanswered(pending.take_result());
            }
        };
        queued.armed = false;
        if let Some(result) = pending.take_result() {
            // A previous holder of the lock committed (or refused) it with its own batch.
            return result;
        }
        let drained = slot.drain(MAX_BATCH);
        let batch: Vec<&Pending> = drained.iter().map(|p| &**p).collect();
        let mut leading = Leading {
            batch: &batch,
            head: &mut head,
            done: false,
        };
        Box::pin(self.run_batch(&key, entry, leading.head, leading.batch)).await;
        leading.done = true;
        drop(leading);
        drop(head);
        unanswered(pending.take_result())
    }
}

fn unanswered(result: Option<Result<Response, Error>>) -> Result<Response, Error> {
    result.unwrap_or_else(|| {
        Err(Error::Store(
            "the command was left unanswered by its stream's queue".into(),
        ))
    })
}

/// A command in its stream's queue; if its caller stops waiting before anyone takes it, it
/// leaves the queue and never runs.
struct Queued<'a> {
    slot: &'a Slot,
    pending: &'a Arc<Pending>,
    armed: bool,
}

impl<'a> Queued<'a> {
    fn new(slot: &'a Slot, pending: &'a Arc<Pending>) -> Self {
        slot.enqueue(pending);
        Queued {
            slot,
            pending,
            armed: true,
        }
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.slot.withdraw(self.pending);
        }
    }
}

/// The holder of a stream's lock, working through a batch. If it is cancelled midway (its caller
/// stopped waiting), whether its commit happened is unknown: every command of the batch is told
/// so, and the cached head is dropped so the next command reads the store.
struct Leading<'a, 'h> {
    batch: &'a [&'a Pending],
    head: &'h mut Option<CachedStream>,
    done: bool,
}

impl Drop for Leading<'_, '_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        *self.head = None;
        for pending in self.batch {
            pending.resolve_if_open(|| {
                Err(Error::Store(
                    "the outcome is unknown: the command committing this batch was cancelled; read the stream before retrying".into(),
                ))
            });
        }
    }
}
