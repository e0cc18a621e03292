//! The audit log: one record per command attempt, whatever became of it, and the contract a
//! backend keeps to store and query those records.
//!
//! A domain built with [`DomainBuilder::audit`](crate::DomainBuilder::audit) records every
//! command it is given: accepted ones in the command's own commit (the record exists exactly
//! when the events do), every other outcome (invalid, refused, denied by a policy, failed,
//! outcome unknown, replayed by idempotency) in a write of its own before the caller hears the
//! answer. Reports read the records back through
//! [`Domain::audit_log`](crate::Domain::audit_log) with the filter DSL of
//! [`StateManager::find`](crate::StateManager::find), and export them as JSON lines or CSV.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::backend::{BoxFuture, StoreError};
use crate::command::Command;
use crate::error::Error;
use crate::filter::{FieldIndex, Filter, Page, SortKey};

/// How a command reached the domain; set on the [`Context`](crate::Context) by whoever builds
/// it (the HTTP layer says [`Transport::Http`], a worker [`Transport::Worker`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Transport {
    /// A call of the Rust API in the domain's own process.
    #[default]
    InProcess,
    /// An HTTP request.
    Http,
    /// A read-side worker or event handler.
    Worker,
    /// An operator's command-line tool.
    Cli,
}

impl Transport {
    /// The name used in records and exports (`in-process`, `http`, `worker`, `cli`).
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::InProcess => "in-process",
            Transport::Http => "http",
            Transport::Worker => "worker",
            Transport::Cli => "cli",
        }
    }
}

/// What became of a command attempt.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum AuditOutcome {
    /// It committed.
    Accepted,
    /// A repeat of a committed command id: answered from the record, nothing written.
    Replayed,
    /// It could not run as given: an invalid payload, an unknown command or resource, a
    /// missing or unexpected tenant, an invalid unit.
    Invalid,
    /// The domain refused it: a broken business rule, a missing root, a root that already
    /// exists, a version conflict, a command id used for another command.
    Refused,
    /// A policy denied it.
    Denied,
    /// It failed: the store was unavailable, the action panicked, an internal error.
    Failed,
    /// Whether it committed is not known (the store failed while committing): read the stream,
    /// or repeat it with the same command id. An accepted record exists too if it committed.
    Unknown,
}

impl AuditOutcome {
    /// The outcome an error stands for (a unit's error: that of the command that failed).
    pub fn of(error: &Error) -> AuditOutcome {
        match error.innermost() {
            Error::Validation { .. }
            | Error::UnknownCommand(_)
            | Error::UnknownResource(_)
            | Error::ForbiddenResource { .. }
            | Error::InvalidUnit { .. }
            | Error::InvalidQuery(_)
            | Error::InvalidVersion { .. }
            | Error::MissingTenant(_)
            | Error::UnexpectedTenant { .. }
            | Error::WrongStateType { .. } => AuditOutcome::Invalid,
            Error::Rule(_)
            | Error::NotFound { .. }
            | Error::AlreadyExists { .. }
            | Error::VersionConflict { .. }
            | Error::DuplicateCommand { .. } => AuditOutcome::Refused,
            Error::Forbidden(_) => AuditOutcome::Denied,
            Error::OutcomeUnknown { .. } => AuditOutcome::Unknown,
            _ => AuditOutcome::Failed,
        }
    }

    /// The name used in records, filters and exports (`accepted`, `denied`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Accepted => "accepted",
            AuditOutcome::Replayed => "replayed",
            AuditOutcome::Invalid => "invalid",
            AuditOutcome::Refused => "refused",
            AuditOutcome::Denied => "denied",
            AuditOutcome::Failed => "failed",
            AuditOutcome::Unknown => "unknown",
        }
    }
}

/// One command attempt, as the audit log keeps it.
///
/// As a document (for filters, sorts and JSON exports) its fields keep these names; `id` is
/// also what the filter DSL's `id` key reads, and the default order (ids are UUIDv7, so it is
/// the order in which the attempts were decided).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[non_exhaustive]
pub struct AuditRecord {
    /// The record's id (UUIDv7).
    pub id: Uuid,
    /// When the domain recorded the attempt (its clock).
    pub recorded_at: DateTime<Utc>,
    /// The tenant of the command's context.
    pub tenant: String,
    /// The domain's namespace.
    pub namespace: String,
    /// The command key, as given (also for an unknown command).
    pub command: String,
    /// The command's id (caller-supplied or generated).
    pub command_id: Uuid,
    /// The targeted resource kind, as given.
    pub resource: String,
    /// The targeted root's identifier (generated for a creation without one).
    pub identifier: String,
    /// The acting user, if known.
    pub user: Option<String>,
    /// The acting user's roles, as the context claimed them.
    pub roles: Vec<String>,
    /// The context's correlation id.
    pub correlation_id: Uuid,
    /// The context's causation id (the command or event that caused this one).
    pub causation_id: Option<Uuid>,
    /// How the command reached the domain.
    pub transport: Transport,
    /// What became of it.
    pub outcome: AuditOutcome,
    /// The error's [`code`](Error::code) when it did not commit.
    pub code: Option<String>,
    /// The error's message when it did not commit.
    pub message: Option<String>,
    /// The ids of the policies that decided: those that allowed an accepted command, those that
    /// denied a denied one (empty when nothing permitted it, or when no engine is installed).
    pub policies: Vec<String>,
    /// The stream's version after the command (accepted and replayed commands).
    pub version: Option<u64>,
    /// How many events it committed.
    pub events: u64,
}

impl AuditRecord {
    /// A record of `command` in `namespace` with `outcome`, recorded at `at`; the rest empty.
    pub(crate) fn of_command(
        namespace: &str,
        command: &Command,
        outcome: AuditOutcome,
        at: DateTime<Utc>,
    ) -> Self {
        let root = &command.root;
        let attempt = Attempt {
            context: &command.context,
            key: &command.key,
            command_id: command.id,
            resource: &root.resource,
            identifier: &root.id,
        };
        AuditRecord::of_attempt(namespace, &attempt, outcome, at)
    }

    pub(crate) fn of_attempt(
        namespace: &str,
        attempt: &Attempt<'_>,
        outcome: AuditOutcome,
        at: DateTime<Utc>,
    ) -> Self {
        let context = attempt.context;
        AuditRecord {
            id: crate::ids::new_v7(),
            recorded_at: at,
            tenant: context.tenant.clone(),
            namespace: namespace.to_owned(),
            command: attempt.key.to_owned(),
            command_id: attempt.command_id,
            resource: attempt.resource.to_owned(),
            identifier: attempt.identifier.to_owned(),
            user: context.user.clone(),
            roles: context.roles.iter().cloned().collect(),
            correlation_id: context.correlation_id,
            causation_id: context.causation_id,
            transport: context.transport,
            outcome,
            code: None,
            message: None,
            policies: Vec::new(),
            version: None,
            events: 0,
        }
    }

    /// Sets what an error says about the attempt: its outcome, code, message and (for a
    /// denial) the deciding policies.
    pub(crate) fn failed_with(mut self, error: &Error) -> Self {
        self.outcome = AuditOutcome::of(error);
        self.code = Some(error.code().to_owned());
        self.message = Some(error.to_string());
        if let Some(denial) = error.denial() {
            self.policies = denial.policies.clone();
        }
        self
    }

    /// The record as the document filters and sorts read.
    pub fn to_document(&self) -> Result<serde_json::Value, StoreError> {
        serde_json::to_value(self).map_err(|err| {
            StoreError::internal(format!("encoding audit record {}: {err}", self.id), None)
        })
    }
}

/// What a record says about the attempt itself.
pub(crate) struct Attempt<'a> {
    pub(crate) context: &'a crate::context::Context,
    pub(crate) key: &'a str,
    pub(crate) command_id: Uuid,
    pub(crate) resource: &'a str,
    pub(crate) identifier: &'a str,
}

/// The JSON schema of an audit record's document.
pub fn audit_schema() -> &'static serde_json::Value {
    static SCHEMA: OnceLock<serde_json::Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        serde_json::to_value(schemars::schema_for!(AuditRecord)).unwrap_or_default()
    })
}

/// The fields of an audit record the filter DSL and sort keys may name.
pub fn audit_fields() -> &'static FieldIndex {
    static FIELDS: OnceLock<FieldIndex> = OnceLock::new();
    FIELDS.get_or_init(|| FieldIndex::from_schema(audit_schema()))
}

/// A validated query over one tenant's audit records of one namespace.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AuditQuery {
    /// The tenant.
    pub tenant: String,
    /// The namespace.
    pub namespace: String,
    /// The filter, validated against [`audit_fields`].
    pub filter: Filter,
    /// Sort keys; ties are broken by id ascending.
    pub sort: Vec<SortKey>,
    /// Limit and offset.
    pub page: Page,
}

impl AuditQuery {
    /// A query; the filter, sort and page come validated from the filter DSL.
    pub fn new(
        tenant: String,
        namespace: String,
        filter: Filter,
        sort: Vec<SortKey>,
        page: Page,
    ) -> Self {
        AuditQuery {
            tenant,
            namespace,
            filter,
            sort,
            page,
        }
    }
}

/// One page of audit records and how many match in all.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct AuditPage {
    /// The records on this page, in the query's order.
    pub records: Vec<AuditRecord>,
    /// How many records match the query.
    pub total: u64,
}

impl AuditPage {
    /// A page.
    pub fn new(records: Vec<AuditRecord>, total: u64) -> Self {
        AuditPage { records, total }
    }
}

/// Where a backend keeps audit records ([`Backend::audit`](crate::Backend::audit)).
///
/// Records of accepted commands arrive with their commit
/// ([`StreamWrite::audit`](crate::StreamWrite::audit)) and must be written in its transaction;
/// the others arrive through [`AuditStore::append_audit`], each call durable when it returns.
pub trait AuditStore: Send + Sync {
    /// Writes records of attempts that did not commit.
    fn append_audit(&self, records: Vec<AuditRecord>) -> BoxFuture<'_, Result<(), StoreError>>;

    /// One page of the records matching a query, with the total count.
    fn query_audit<'a>(
        &'a self,
        query: &'a AuditQuery,
    ) -> BoxFuture<'a, Result<AuditPage, StoreError>>;
}
