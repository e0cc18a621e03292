//! The one error type every public call of the framework returns, and the rule error actions raise.

use std::fmt;
use std::sync::Arc;

use uuid::Uuid;

use crate::filter::FilterError;

/// Everything that can go wrong when a command is processed or state is read.
///
/// Each variant is a sentence a caller can act on. A command that fails with any of them has
/// written nothing.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The payload does not match the action's parameters.
    #[error("invalid payload for `{command}`: {message}")]
    Validation {
        /// The command key the payload was meant for.
        command: String,
        /// The offending field, when one can be named.
        field: Option<String>,
        /// What is wrong with it.
        message: String,
    },
    /// The action refused the command: a business rule is broken.
    #[error("rule broken: {0}")]
    Rule(#[from] DomainError),
    /// No command with this key exists in the domain.
    #[error("unknown command `{0}`")]
    UnknownCommand(String),
    /// No resource with this name exists in the domain.
    #[error("unknown resource `{0}`")]
    UnknownResource(String),
    /// The action exists but may not be applied to this kind of resource.
    #[error("command `{command}` may not be applied to resource `{resource}` (allowed: {allowed})")]
    ForbiddenResource {
        /// The command key.
        command: String,
        /// The resource the command targeted.
        resource: String,
        /// The resources the action accepts, comma separated.
        allowed: String,
    },
    /// A policy denied the command: nothing was written. The denial names the command, the root,
    /// the user and the deciding policies.
    #[error("{0}")]
    Forbidden(Box<crate::policy::Denial>),
    /// The aggregate root does not exist (or was deleted).
    #[error("{resource} `{id}` not found")]
    NotFound {
        /// The resource kind.
        resource: String,
        /// The identifier.
        id: String,
    },
    /// A creation command targeted a root that already exists.
    #[error("{resource} `{id}` already exists")]
    AlreadyExists {
        /// The resource kind.
        resource: String,
        /// The identifier.
        id: String,
    },
    /// The stream moved on since the command read it.
    #[error("version conflict on {resource} `{id}`: expected version {expected}, found {actual}")]
    VersionConflict {
        /// The resource kind.
        resource: String,
        /// The identifier.
        id: String,
        /// The version the command expected.
        expected: u64,
        /// The version the store holds.
        actual: u64,
    },
    /// The command id was already used for a different command.
    #[error("command id {command_id} was already used for a different command")]
    DuplicateCommand {
        /// The caller-supplied command id.
        command_id: Uuid,
    },
    /// A query's filter, sort or pagination is malformed.
    #[error("invalid query: {0}")]
    InvalidQuery(#[from] FilterError),
    /// A time-travel target does not exist.
    #[error(
        "invalid version {requested} for {resource} `{id}`: the stream has versions 1 to {head}"
    )]
    InvalidVersion {
        /// The resource kind.
        resource: String,
        /// The identifier.
        id: String,
        /// The version asked for.
        requested: u64,
        /// The stream's head version.
        head: u64,
    },
    /// State was read as a different Rust type than the resource's state type.
    #[error("resource `{resource}` holds `{actual}`, not `{requested}`")]
    WrongStateType {
        /// The resource kind.
        resource: String,
        /// The type the caller asked for.
        requested: &'static str,
        /// The resource's state type.
        actual: &'static str,
    },
    /// The domain is multi-tenant and the context names no tenant.
    #[error("domain `{0}` is multi-tenant: the context must name a tenant")]
    MissingTenant(String),
    /// The domain is single-tenant and the context names a tenant.
    #[error(
        "domain `{namespace}` is single-tenant: the context names tenant `{tenant}`; build the domain with `.multi_tenant(true)` or leave the tenant empty"
    )]
    UnexpectedTenant {
        /// The domain's namespace.
        namespace: String,
        /// The tenant the context named.
        tenant: String,
    },
    /// A stored event or state could not be decoded.
    #[error("cannot decode {what}: {message}")]
    Decode {
        /// What was being decoded.
        what: String,
        /// The decoder's message.
        message: String,
    },
    /// The domain was configured inconsistently.
    #[error("invalid domain configuration: {0}")]
    Config(String),
    /// The store cannot be reached right now (connection refused or lost before the write, pool
    /// exhausted, server shutting down, a serialization failure). Nothing was written: retrying
    /// later is safe.
    #[error("the store is unavailable, nothing was written; retry later: {message}")]
    Unavailable {
        /// What was unavailable, without server internals.
        message: String,
        /// The server's own words, for logs (`source()`).
        #[source]
        detail: Option<Detail>,
    },
    /// The write was sent but its outcome is unknown (the connection broke during the commit):
    /// the command may have committed. Read the stream, or repeat the command with the same
    /// command id, before retrying.
    #[error("the outcome is unknown: {message}")]
    OutcomeUnknown {
        /// What happened, without server internals.
        message: String,
        /// The server's own words, for logs (`source()`).
        #[source]
        detail: Option<Detail>,
    },
    /// A fault the caller cannot fix (a bug in the framework, the backend or the deployment).
    /// Nothing was written.
    #[error("internal error: {message}")]
    Internal {
        /// What failed, without server internals.
        message: String,
        /// The server's own words, for logs (`source()`).
        #[source]
        detail: Option<Detail>,
    },
    /// The action's code panicked. Nothing was written for this command; other commands are
    /// unaffected.
    #[error("action `{action}` of command `{command}` panicked: {message}")]
    ActionPanicked {
        /// The command key.
        command: String,
        /// The Rust method behind it.
        action: &'static str,
        /// The panic's message.
        message: String,
    },
    /// One command of a unit ([`Domain::process_unit`](crate::Domain::process_unit)) failed, so
    /// none of the unit was written. `index` counts from 0 in the order the commands were given;
    /// `error` says why, as the command alone would have.
    #[error(
        "command {index} of the unit (`{command}` on {root}) failed, nothing was written: {error}"
    )]
    UnitCommand {
        /// The command's place in the unit, from 0.
        index: usize,
        /// Its command key.
        command: String,
        /// The root it targets.
        root: crate::command::AggRoot,
        /// Why it failed.
        error: Box<Error>,
    },
    /// A unit of commands cannot be run as given: too many commands, two with one command id,
    /// commands of different tenants, or some commands already committed and others not.
    /// Nothing was written.
    #[error("invalid unit: {message}")]
    InvalidUnit {
        /// The command the problem was found at, when there is one.
        index: Option<usize>,
        /// What is wrong, naming the commands by index and key.
        message: String,
    },
    /// What an action produced (its event data or the state they lead to) breaks a limit of
    /// [`limits`](crate::limits), so it could not be stored or read back; nothing was written.
    #[error("action `{command}` produced {what} that cannot be stored: {limit}")]
    Unstorable {
        /// The command key of the action.
        command: String,
        /// What broke the limit, e.g. ``event `ratio-computed` ``.
        what: String,
        /// The limit broken, and where.
        limit: crate::limits::LimitError,
    },
}

impl Error {
    /// A stable, machine-readable name of the variant (kebab-case), for logs, metrics and API
    /// error codes. A [`Error::UnitCommand`] answers its command's own code (a broken rule in a
    /// unit is `rule`).
    pub fn code(&self) -> &'static str {
        match self {
            Error::UnitCommand { error, .. } => error.code(),
            Error::InvalidUnit { .. } => "invalid-unit",
            Error::Validation { .. } => "validation",
            Error::Rule(_) => "rule",
            Error::UnknownCommand(_) => "unknown-command",
            Error::UnknownResource(_) => "unknown-resource",
            Error::ForbiddenResource { .. } => "forbidden-resource",
            Error::Forbidden(_) => "forbidden",
            Error::NotFound { .. } => "not-found",
            Error::AlreadyExists { .. } => "already-exists",
            Error::VersionConflict { .. } => "version-conflict",
            Error::DuplicateCommand { .. } => "duplicate-command",
            Error::InvalidQuery(_) => "invalid-query",
            Error::InvalidVersion { .. } => "invalid-version",
            Error::WrongStateType { .. } => "wrong-state-type",
            Error::MissingTenant(_) => "missing-tenant",
            Error::UnexpectedTenant { .. } => "unexpected-tenant",
            Error::Decode { .. } => "decode",
            Error::Config(_) => "config",
            Error::Unavailable { .. } => "unavailable",
            Error::OutcomeUnknown { .. } => "outcome-unknown",
            Error::Internal { .. } => "internal",
            Error::ActionPanicked { .. } => "action-panicked",
            Error::Unstorable { .. } => "unstorable",
        }
    }

    /// The error itself, or for a [`Error::UnitCommand`] the error of the failing command.
    pub fn innermost(&self) -> &Error {
        match self {
            Error::UnitCommand { error, .. } => error.innermost(),
            other => other,
        }
    }

    /// Whether the error is (or a unit failed on) a [`Error::VersionConflict`].
    pub fn is_conflict(&self) -> bool {
        matches!(self.innermost(), Error::VersionConflict { .. })
    }

    /// Whether the error is a policy's denial ([`Error::Forbidden`]).
    pub fn is_forbidden(&self) -> bool {
        matches!(self, Error::Forbidden(_))
    }

    /// The denial, when the error is a policy's ([`Error::Forbidden`]): what was denied and the
    /// ids of the policies that decided.
    pub fn denial(&self) -> Option<&crate::policy::Denial> {
        match self {
            Error::Forbidden(denial) => Some(denial),
            _ => None,
        }
    }

    /// Whether the error is (or a unit failed on) a [`Error::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self.innermost(), Error::NotFound { .. })
    }

    /// Whether retrying the same command (or unit) later may succeed: the store was
    /// unavailable, or a stream moved on.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.innermost(),
            Error::Unavailable { .. } | Error::VersionConflict { .. }
        )
    }

    /// An [`Error::Internal`] without detail.
    pub fn internal(message: impl Into<String>) -> Self {
        Error::Internal {
            message: message.into(),
            detail: None,
        }
    }

    /// Names the action in an [`Error::Unstorable`] raised where only its event was known.
    pub(crate) fn for_command(self, key: &str) -> Self {
        match self {
            Error::Unstorable {
                command,
                what,
                limit,
            } if command.is_empty() => Error::Unstorable {
                command: key.to_owned(),
                what,
                limit,
            },
            other => other,
        }
    }

    pub(crate) fn not_found(resource: &str, id: &str) -> Self {
        Error::NotFound {
            resource: resource.to_owned(),
            id: id.to_owned(),
        }
    }
}

/// What a store said about a failure, in its own words (server messages, SQL states): kept out
/// of the message a caller is shown, reachable through [`std::error::Error::source`] and logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detail(Arc<str>);

impl Detail {
    /// Detail from anything displayable (a driver's error, say).
    pub fn new(text: impl fmt::Display) -> Self {
        Detail(Arc::from(text.to_string()))
    }

    /// The detail's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Detail {}

/// A broken business rule, returned by an action to refuse a command.
///
/// ```
/// use fluvius_core::DomainError;
/// let err = DomainError::new("insufficient funds").with_code("insufficient-funds");
/// assert_eq!(err.to_string(), "insufficient funds");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[error("{message}")]
pub struct DomainError {
    /// A stable machine-readable code, when the action gives one.
    pub code: Option<String>,
    /// The sentence shown to the caller.
    pub message: String,
}

impl DomainError {
    /// A rule error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        DomainError {
            code: None,
            message: message.into(),
        }
    }

    /// Attaches a stable code callers can match on.
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }
}

impl From<&str> for DomainError {
    fn from(message: &str) -> Self {
        DomainError::new(message)
    }
}

impl From<String> for DomainError {
    fn from(message: String) -> Self {
        DomainError::new(message)
    }
}
