//! Who runs a command, for which tenant, and when: the context every command carries.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The circumstances of a command: actor, tenant, correlation and business time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Context {
    /// The acting user, if known.
    pub user: Option<String>,
    /// The tenant (realm); empty in single-tenant domains.
    pub tenant: String,
    /// Ties together every command and event of one business operation.
    pub correlation_id: Uuid,
    /// The command or event that caused this one, if any.
    pub causation_id: Option<Uuid>,
    /// Business time: when the caller says the thing happened.
    pub time: DateTime<Utc>,
    /// Free-form headers (request id, client, ...), stored with every event.
    pub headers: BTreeMap<String, String>,
    /// The acting user's roles, for policies (`teller`, `admin`); not stored with events.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub roles: BTreeSet<String>,
    /// Further facts about the acting user for policies (claims of a token, a department, ...);
    /// not stored with events.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub claims: BTreeMap<String, serde_json::Value>,
    /// The id of the command being processed; set by the domain before the action runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_id: Option<Uuid>,
    /// The root the command targets (with its generated id for creation commands); set by the
    /// domain before the action runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<crate::command::AggRoot>,
    /// How the command reached the domain, for the audit log; not stored with events.
    #[serde(default, skip_serializing_if = "is_in_process")]
    pub transport: crate::audit::Transport,
}

fn is_in_process(transport: &crate::audit::Transport) -> bool {
    *transport == crate::audit::Transport::InProcess
}

impl Default for Context {
    fn default() -> Self {
        Context::new()
    }
}

impl Context {
    /// An anonymous, single-tenant context with a fresh correlation id, at the current time.
    pub fn new() -> Self {
        Context {
            user: None,
            tenant: String::new(),
            correlation_id: crate::ids::new_v7(),
            causation_id: None,
            time: Utc::now(),
            headers: BTreeMap::new(),
            roles: BTreeSet::new(),
            claims: BTreeMap::new(),
            command_id: None,
            root: None,
            transport: crate::audit::Transport::InProcess,
        }
    }

    /// Sets the acting user.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Sets the tenant.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = tenant.into();
        self
    }

    /// Sets the correlation id.
    pub fn correlation_id(mut self, id: Uuid) -> Self {
        self.correlation_id = id;
        self
    }

    /// Sets the causation id.
    pub fn causation_id(mut self, id: Uuid) -> Self {
        self.causation_id = Some(id);
        self
    }

    /// Sets the business time.
    pub fn time(mut self, time: DateTime<Utc>) -> Self {
        self.time = time;
        self
    }

    /// Adds a role of the acting user.
    pub fn role(mut self, role: impl Into<String>) -> Self {
        self.roles.insert(role.into());
        self
    }

    /// Adds roles of the acting user.
    pub fn roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.roles.extend(roles.into_iter().map(Into::into));
        self
    }

    /// Adds a claim about the acting user.
    pub fn claim(mut self, name: impl Into<String>, value: serde_json::Value) -> Self {
        self.claims.insert(name.into(), value);
        self
    }

    /// Sets how the command reached the domain (for the audit log).
    pub fn transport(mut self, transport: crate::audit::Transport) -> Self {
        self.transport = transport;
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }
}

/// The source of `recorded_at` timestamps; injectable so tests can travel in time.
pub trait Clock: Send + Sync + Debug + 'static {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to, for tests.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock(Arc::new(Mutex::new(start)))
    }

    /// Moves the clock to `to`.
    pub fn set(&self, to: DateTime<Utc>) {
        *self.0.lock() = to;
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self.0.lock();
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock()
    }
}
