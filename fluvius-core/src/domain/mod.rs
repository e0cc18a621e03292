//! The domain: a namespace, its aggregates and resources, a backend, and the command pipeline.

mod audit;
mod batch;
mod builder;
mod cache;
mod digest;
mod events;
mod head;
mod idempotency;
mod import;
mod policy;
mod process;
mod refresh;
mod unit;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

use crate::aggregate::{ActionDescriptor, Aggregate, ResourceDescriptor};
use crate::backend::Backend;
use crate::command::{Command, CommandPayload, IntoTarget, Payload};
use crate::context::{Clock, Context};
use crate::error::Error;
use crate::filter::FieldIndex;
use crate::limits::{self, LimitError};
use crate::response::Response;
use crate::statemgr::StateManager;

pub use audit::{AuditExport, AuditLog, AuditReport, CSV_COLUMNS, ExportFormat};
pub use builder::DomainBuilder;
use cache::StreamCache;
pub(crate) use head::{empty_head, fold_onto, fold_owned};
pub use idempotency::idempotency_key;
pub use import::{ImportEvent, ImportReport};
pub(crate) use policy::Visible;
pub use refresh::{MAX_REFRESH_BATCH, RefreshOptions, RefreshReport};
pub use unit::MAX_UNIT_COMMANDS;

/// A bounded context: its namespace, aggregates, resources and the backend they live in.
///
/// Cheap to clone: clones share the backend and the stream cache.
#[derive(Clone, Debug)]
pub struct Domain {
    pub(crate) inner: Arc<DomainInner>,
}

#[derive(Debug)]
pub(crate) struct DomainInner {
    pub(crate) namespace: String,
    pub(crate) multi_tenant: bool,
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) aggregates: Vec<AggregateEntry>,
    pub(crate) resources: HashMap<&'static str, ResourceEntry, foldhash::fast::RandomState>,
    pub(crate) actions: HashMap<&'static str, ActionEntry, foldhash::fast::RandomState>,
    pub(crate) cache: StreamCache,
    pub(crate) max_retries: u32,
    pub(crate) stats: Stats,
    pub(crate) policy: Option<Arc<dyn crate::policy::PolicyEngine>>,
    /// Whether every command attempt is recorded in the backend's audit log.
    pub(crate) audit: bool,
}

/// Counters of what the domain's command pipeline did.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) commands: AtomicU64,
    pub(crate) conflict_retries: AtomicU64,
}

/// A snapshot of a domain's counters, from [`Domain::stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct DomainStats {
    /// Commands that committed (replays of idempotent commands excluded).
    pub commands: u64,
    /// Times a command was re-run after another process moved its stream on.
    pub conflict_retries: u64,
}

pub(crate) struct AggregateEntry {
    pub(crate) name: &'static str,
    pub(crate) handler: Box<dyn Aggregate>,
}

impl std::fmt::Debug for AggregateEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AggregateEntry")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
pub(crate) struct ResourceEntry {
    pub(crate) descriptor: ResourceDescriptor,
    pub(crate) fields: FieldIndex,
    pub(crate) schema: Value,
    pub(crate) digest: String,
    /// The inline projections over this resource's streams.
    pub(crate) inline: Vec<Arc<dyn crate::inline::InlineProjection>>,
}

#[derive(Debug, Clone)]
pub(crate) struct ActionEntry {
    pub(crate) aggregate: usize,
    pub(crate) index: usize,
    pub(crate) descriptor: ActionDescriptor,
}

impl Domain {
    /// Starts building a domain with this namespace.
    pub fn builder(namespace: impl Into<String>) -> DomainBuilder {
        DomainBuilder::new(namespace.into())
    }

    /// The namespace (bounded context).
    pub fn namespace(&self) -> &str {
        &self.inner.namespace
    }

    /// Whether every command and read must name a tenant.
    pub fn is_multi_tenant(&self) -> bool {
        self.inner.multi_tenant
    }

    /// Counters of the command pipeline since the domain was built.
    pub fn stats(&self) -> DomainStats {
        DomainStats {
            commands: self.inner.stats.commands.load(Ordering::Relaxed),
            conflict_retries: self.inner.stats.conflict_retries.load(Ordering::Relaxed),
        }
    }

    /// The backend the domain writes to.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.inner.backend
    }

    /// The actions of every aggregate, sorted by command key.
    pub fn actions(&self) -> Vec<&ActionDescriptor> {
        let mut actions: Vec<_> = self.inner.actions.values().map(|a| &a.descriptor).collect();
        actions.sort_by_key(|a| a.key);
        actions
    }

    /// The action behind a command key.
    pub fn action(&self, key: &str) -> Option<&ActionDescriptor> {
        self.inner.actions.get(key).map(|a| &a.descriptor)
    }

    /// The resource kinds, sorted by name.
    pub fn resources(&self) -> Vec<&ResourceDescriptor> {
        let mut resources: Vec<_> = self
            .inner
            .resources
            .values()
            .map(|r| &r.descriptor)
            .collect();
        resources.sort_by_key(|r| r.name);
        resources
    }

    /// The digest stored with a resource's state (see [`StateWrite::digest`](crate::StateWrite)).
    pub fn state_digest(&self, resource: &str) -> Result<&str, Error> {
        Ok(&self.inner.resource(resource)?.digest)
    }

    /// The JSON schema of a resource's state.
    pub fn resource_schema(&self, resource: &str) -> Result<&Value, Error> {
        Ok(&self.inner.resource(resource)?.schema)
    }

    /// Builds a command from a key, a JSON payload and a target, checking that the command exists
    /// and may be applied to the target's resource kind.
    pub fn create_command(
        &self,
        key: &str,
        payload: Value,
        target: impl IntoTarget,
    ) -> Result<Command, Error> {
        let mut command = Command::new(key.to_owned(), Payload::json(payload), target);
        self.inner.route(&command)?;
        command.payload_checked = true;
        Ok(command)
    }

    /// Builds a command from a typed payload generated by `#[aggregate]`.
    pub fn command<P: CommandPayload>(
        &self,
        payload: P,
        target: impl IntoTarget,
    ) -> Result<Command, Error> {
        let mut command = Command::new(P::KEY.to_owned(), Payload::typed(payload), target);
        self.inner.route(&command)?;
        command.payload_checked = true;
        Ok(command)
    }

    /// Runs a command: checks it, runs its action against the current state, and commits the
    /// events, the new state and the idempotency record in one write.
    pub async fn process_command(&self, command: Command) -> Result<Response, Error> {
        self.inner.process(command).await
    }

    /// Builds and runs a typed command with a default context.
    pub async fn execute<P: CommandPayload>(
        &self,
        payload: P,
        target: impl IntoTarget,
    ) -> Result<Response, Error> {
        let command = self.command(payload, target)?;
        self.process_command(command).await
    }

    /// Builds and runs a typed command in a given context (user, tenant, correlation, time).
    pub async fn execute_as<P: CommandPayload>(
        &self,
        context: &Context,
        payload: P,
        target: impl IntoTarget,
    ) -> Result<Response, Error> {
        let command = self.command(payload, target)?.with_context(context.clone());
        self.process_command(command).await
    }

    /// Reads state in a single-tenant domain.
    pub fn statemgr(&self) -> StateManager {
        StateManager::new(self.clone(), Context::new())
    }

    /// Reads state as seen from a context (its tenant).
    pub fn statemgr_for(&self, context: &Context) -> StateManager {
        StateManager::new(self.clone(), context.clone())
    }

    /// Deletes the idempotency records of every tenant recorded before `before`; returns how many
    /// were removed. An operator's housekeeping, crossing tenants by design (hence the name).
    /// `before` lies within the [time limits](crate::limits::min_time).
    pub async fn purge_idempotency_all_tenants(
        &self,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, Error> {
        limits::check_time("the purge horizon", before)
            .map_err(|err| Error::InvalidQuery(err.into()))?;
        Ok(self.inner.backend.purge_idempotency(before).await?)
    }
}

impl DomainInner {
    pub(crate) fn resource(&self, name: &str) -> Result<&ResourceEntry, Error> {
        self.resources
            .get(name)
            .ok_or_else(|| Error::UnknownResource(name.to_owned()))
    }

    pub(crate) fn check_tenant(&self, context: &Context) -> Result<(), Error> {
        if self.multi_tenant && context.tenant.is_empty() {
            return Err(Error::MissingTenant(self.namespace.clone()));
        }
        if !self.multi_tenant && !context.tenant.is_empty() {
            return Err(Error::UnexpectedTenant {
                namespace: self.namespace.clone(),
                tenant: context.tenant.clone(),
            });
        }
        Ok(())
    }

    /// The action a command runs, after checking its resource kind.
    pub(crate) fn route(&self, command: &Command) -> Result<&ActionEntry, Error> {
        let action = self
            .actions
            .get(command.key.as_str())
            .ok_or_else(|| Error::UnknownCommand(command.key.clone()))?;
        let resource = command.root.resource.as_str();
        self.resource(resource)?;
        if !action.descriptor.resources.contains(&resource) {
            return Err(Error::ForbiddenResource {
                command: command.key.clone(),
                resource: resource.to_owned(),
                allowed: action.descriptor.resources.join(", "),
            });
        }
        // The message names the culprit; `field` is kept for payload fields serde names.
        check_command(command).map_err(|err| Error::Validation {
            command: command.key.clone(),
            field: None,
            message: err.to_string(),
        })?;
        Ok(action)
    }
}

/// The limits of [`crate::limits`] a command must keep before it is queued: its identifiers,
/// context, expected version and payload.
fn check_command(command: &Command) -> Result<(), LimitError> {
    if !command.payload_checked {
        limits::check_identifier("the aggregate root identifier", &command.root.id)?;
    }
    let context = &command.context;
    limits::check_bounded_text("the tenant", &context.tenant)?;
    if let Some(user) = &context.user {
        limits::check_text("the user", user)?;
    }
    for role in &context.roles {
        limits::check_text("a role", role)?;
    }
    for (name, value) in &context.headers {
        limits::check_text("a header name", name)?;
        limits::check_text("a header value", value)?;
    }
    limits::check_time("the business time", context.time)?;
    if let Some(expected) = command.expected_version {
        limits::check_version("the expected version", expected)?;
    }
    if command.payload_checked {
        return Ok(());
    }
    command.payload.check_limits()
}
