//! Who may do what: the policy engine a domain consults before every command and every read.
//!
//! An engine answers two questions. [`PolicyEngine::authorize`] decides one request: may this
//! principal run this command (or read this root) given the root's current state?
//! [`PolicyEngine::visible`] answers for a whole resource kind at once: which roots may this
//! principal see, as a filter in the JSON filter DSL, so that `find` pages and totals are exact
//! on every backend. Both are synchronous: a decision is a few microseconds of in-process work,
//! and a policy that needs I/O belongs in the context (roles and attributes gathered once per
//! request), not in the check.
//!
//! Without an engine a domain allows everything.

use std::fmt::{self, Debug};

use serde_json::Value;

use crate::context::Context;

/// The query operations a policy is asked about, by their action names.
pub const QUERY_ACTIONS: [&str; 4] = ["fetch", "fetch-at", "history", "find"];

/// What a request wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation<'a> {
    /// Run the command with this key.
    Command(&'a str),
    /// Read a root's current state.
    Fetch,
    /// Read a root at a version or an instant in its past.
    FetchAt,
    /// Read a root's events.
    History,
    /// List the roots of a resource kind.
    Find,
}

impl<'a> Operation<'a> {
    /// The action name policies use: the command key, or `fetch`, `fetch-at`, `history`,
    /// `find` (see [`QUERY_ACTIONS`]).
    pub fn action(&self) -> &'a str {
        match self {
            Operation::Command(key) => key,
            Operation::Fetch => QUERY_ACTIONS[0],
            Operation::FetchAt => QUERY_ACTIONS[1],
            Operation::History => QUERY_ACTIONS[2],
            Operation::Find => QUERY_ACTIONS[3],
        }
    }

    /// Whether this is a command (a write) rather than a read.
    pub fn is_command(&self) -> bool {
        matches!(self, Operation::Command(_))
    }
}

impl fmt::Display for Operation<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.action())
    }
}

/// One request to decide: a principal (the context's user, roles and claims, in its tenant)
/// wants to apply an operation to one root whose current state is known.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct PolicyRequest<'a> {
    /// The domain's namespace.
    pub namespace: &'a str,
    /// Who asks, for which tenant: [`Context::user`], [`Context::roles`], [`Context::claims`],
    /// [`Context::tenant`].
    pub context: &'a Context,
    /// The command or read.
    pub operation: Operation<'a>,
    /// The resource kind.
    pub resource: &'a str,
    /// The root's identifier (the generated one for creation commands).
    pub id: &'a str,
    /// The root's current state as JSON (its default state when the root does not exist yet).
    pub state: &'a Value,
    /// Whether the root exists (has events and is not deleted).
    pub exists: bool,
}

impl<'a> PolicyRequest<'a> {
    /// A request on an existing root (engines' own tests; the domain makes the real ones).
    pub fn new(
        namespace: &'a str,
        context: &'a Context,
        operation: Operation<'a>,
        resource: &'a str,
        id: &'a str,
        state: &'a Value,
    ) -> Self {
        PolicyRequest {
            namespace,
            context,
            operation,
            resource,
            id,
            state,
            exists: true,
        }
    }
}

/// Which roots of a resource kind a principal may list.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct VisibilityRequest<'a> {
    /// The domain's namespace.
    pub namespace: &'a str,
    /// Who asks, for which tenant.
    pub context: &'a Context,
    /// The resource kind.
    pub resource: &'a str,
}

impl<'a> VisibilityRequest<'a> {
    /// A visibility request (engines' own tests; the domain makes the real ones).
    pub fn new(namespace: &'a str, context: &'a Context, resource: &'a str) -> Self {
        VisibilityRequest {
            namespace,
            context,
            resource,
        }
    }
}

/// An engine's answer to a [`PolicyRequest`], with the policies that decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Decision {
    /// Whether the request may go ahead.
    pub allowed: bool,
    /// The ids of the policies that decided: the permits that allowed it, or the forbids that
    /// denied it (empty when it was denied because nothing permits it).
    pub policies: Vec<String>,
}

impl Decision {
    /// An allowing decision, made by these policies.
    pub fn allow(policies: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Decision {
            allowed: true,
            policies: policies.into_iter().map(Into::into).collect(),
        }
    }

    /// A denying decision, made by these policies (none: nothing permits the request).
    pub fn deny(policies: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Decision {
            allowed: false,
            policies: policies.into_iter().map(Into::into).collect(),
        }
    }
}

/// An engine's answer to a [`VisibilityRequest`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Visibility {
    /// Every root is visible.
    All,
    /// Only the roots matching this filter (JSON filter DSL, as in [`Query::filter`](crate::Query::filter))
    /// are visible; the domain combines it with the caller's filter (AND).
    Filter(Value),
    /// No root is visible: `find` answers an empty page.
    Nothing,
}

/// A failure of the engine itself (not a denial): a request it cannot evaluate, or a domain it
/// was not built for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

impl PolicyError {
    /// An engine failure with this message.
    pub fn new(message: impl Into<String>) -> Self {
        PolicyError(message.into())
    }
}

/// What an engine is told about a domain when it is installed: the resource kinds with their
/// state schemas, and the commands with the resource kinds they apply to.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PolicyModel {
    /// The domain's namespace.
    pub namespace: String,
    /// The resource kinds, sorted by name.
    pub resources: Vec<ModelResource>,
    /// The commands, sorted by key.
    pub commands: Vec<ModelCommand>,
}

/// A resource kind in a [`PolicyModel`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ModelResource {
    /// The resource name (`account`).
    pub name: String,
    /// The JSON schema of its state.
    pub schema: Value,
}

/// A command in a [`PolicyModel`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ModelCommand {
    /// The command key (`deposit`).
    pub key: String,
    /// The resource kinds it applies to.
    pub resources: Vec<String>,
    /// Whether it creates its root.
    pub creates: bool,
}

impl PolicyModel {
    /// A model with this namespace and nothing in it (engines' tests build models by hand).
    pub fn new(namespace: impl Into<String>) -> Self {
        PolicyModel {
            namespace: namespace.into(),
            resources: Vec::new(),
            commands: Vec::new(),
        }
    }

    /// Adds a resource kind with its state schema.
    pub fn resource(mut self, name: impl Into<String>, schema: Value) -> Self {
        self.resources.push(ModelResource {
            name: name.into(),
            schema,
        });
        self
    }

    /// Adds a command applying to these resource kinds.
    pub fn command(
        mut self,
        key: impl Into<String>,
        resources: impl IntoIterator<Item = impl Into<String>>,
        creates: bool,
    ) -> Self {
        self.commands.push(ModelCommand {
            key: key.into(),
            resources: resources.into_iter().map(Into::into).collect(),
            creates,
        });
        self
    }
}

/// Decides who may run which command on which root, and what a query may see.
///
/// Installed with [`DomainBuilder::policy`](crate::DomainBuilder::policy). The domain calls
/// [`bind`](PolicyEngine::bind) once when it is built (an error fails the build), then
/// [`authorize`](PolicyEngine::authorize) before every command's action runs and before every
/// `fetch`, `fetch_at` and `history`, and [`visible`](PolicyEngine::visible) before every
/// `find`. An engine is shared by every clone of the domain and called concurrently; it must not
/// re-read its policies per call.
pub trait PolicyEngine: Send + Sync + Debug + 'static {
    /// Checks that the engine fits the domain it is installed in (its policies name only the
    /// domain's resources, attributes and commands). Called once, when the domain is built.
    fn bind(&self, model: &PolicyModel) -> Result<(), PolicyError> {
        let _ = model;
        Ok(())
    }

    /// Decides one request.
    fn authorize(&self, request: &PolicyRequest<'_>) -> Result<Decision, PolicyError>;

    /// Which roots of a resource kind the principal may list. Must agree with
    /// [`authorize`](PolicyEngine::authorize) for [`Operation::Find`]: a root is listed exactly
    /// when a `find` request on it would be allowed.
    fn visible(&self, request: &VisibilityRequest<'_>) -> Result<Visibility, PolicyError>;
}

/// A denied request, carried by [`Error::Forbidden`](crate::Error::Forbidden): what was
/// denied, to whom, and the policies that decided.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Denial {
    /// The action: the command key, or a query action (`fetch`, `find`, ...).
    pub action: String,
    /// The resource kind.
    pub resource: String,
    /// The root's identifier.
    pub id: String,
    /// The acting user, if known.
    pub user: Option<String>,
    /// The ids of the forbidding policies; empty when nothing permitted the request.
    pub policies: Vec<String>,
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = match &self.user {
            Some(user) => format!("user `{user}`"),
            None => "an anonymous caller".to_owned(),
        };
        write!(
            f,
            "`{}` on {} `{}` is not allowed for {who}: ",
            self.action, self.resource, self.id
        )?;
        if self.policies.is_empty() {
            f.write_str("no policy permits it")
        } else {
            write!(f, "forbidden by policy {}", self.policies.join(", "))
        }
    }
}
