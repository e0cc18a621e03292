//! What `#[aggregate]` generates: descriptors of resources and actions, and one dispatch entry.

use std::any::TypeId;
use std::fmt;

use serde_json::Value;

use crate::backend::BoxFuture;
use crate::command::{AggRoot, Payload};
use crate::context::Context;
use crate::error::Error;
use crate::event::RawEvent;
use crate::state::AnyState;
use crate::upcast::{EventVersions, RetiredEvent};

/// An aggregate: a set of actions over one or more resource kinds.
///
/// Implemented by `#[aggregate]`; not meant to be written by hand.
pub trait Aggregate: Send + Sync + 'static {
    /// The aggregate's resources and actions.
    fn descriptor() -> AggregateDescriptor
    where
        Self: Sized;

    /// Runs one action against a state and returns what it decided.
    fn handle<'a>(&'a self, call: ActionCall<'a>) -> BoxFuture<'a, Result<ActionOutcome, Error>>;
}

/// The static description of an aggregate.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AggregateDescriptor {
    /// The aggregate type's name.
    pub name: &'static str,
    /// The resource kinds it owns.
    pub resources: Vec<ResourceDescriptor>,
    /// Its actions, indexed by [`ActionCall::action`].
    pub actions: Vec<ActionDescriptor>,
    /// Bumped by the user when a state type's meaning changes without its schema changing, so
    /// stored states and snapshots are refolded (`#[aggregate(state_version = N)]`, default 1).
    pub state_version: u32,
}

impl AggregateDescriptor {
    /// A descriptor; used by generated code.
    pub fn new(
        name: &'static str,
        resources: Vec<ResourceDescriptor>,
        actions: Vec<ActionDescriptor>,
    ) -> Self {
        AggregateDescriptor {
            name,
            resources,
            actions,
            state_version: 1,
        }
    }

    /// Sets the state version; used by generated code.
    pub fn with_state_version(mut self, version: u32) -> Self {
        self.state_version = version;
        self
    }
}

/// How a resource's state is created, decoded and evolved.
#[derive(Clone)]
#[non_exhaustive]
pub struct ResourceDescriptor {
    /// The resource name, e.g. `account`.
    pub name: &'static str,
    /// The state type's name.
    pub state_type_name: &'static str,
    /// The state type's id, to check typed reads.
    pub state_type: fn() -> TypeId,
    /// The state type's JSON schema.
    pub schema: fn() -> Value,
    /// The state of a root before its first event.
    pub default_state: fn() -> Box<dyn AnyState>,
    /// Decodes stored state JSON.
    pub decode_state: fn(Value) -> Result<Box<dyn AnyState>, serde_json::Error>,
    /// Applies one event of a current key at its current schema version and runs the
    /// transition; returns whether it deletes the root. Readers call
    /// [`ResourceDescriptor::apply`], which brings older events to the current shape first.
    pub apply_current: fn(&mut dyn AnyState, &str, &Value) -> Result<bool, Error>,
    /// The event keys this resource handles, with their current schema version and the upcast
    /// steps from older ones.
    pub events: Vec<EventVersions>,
    /// The retired keys its folds still read.
    pub retired: Vec<RetiredEvent>,
}

impl ResourceDescriptor {
    /// A descriptor; used by generated code.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: &'static str,
        state_type_name: &'static str,
        state_type: fn() -> TypeId,
        schema: fn() -> Value,
        default_state: fn() -> Box<dyn AnyState>,
        decode_state: fn(Value) -> Result<Box<dyn AnyState>, serde_json::Error>,
        apply_current: fn(&mut dyn AnyState, &str, &Value) -> Result<bool, Error>,
        events: Vec<EventVersions>,
        retired: Vec<RetiredEvent>,
    ) -> Self {
        ResourceDescriptor {
            name,
            state_type_name,
            state_type,
            schema,
            default_state,
            decode_state,
            apply_current,
            events,
            retired,
        }
    }
}

impl fmt::Debug for ResourceDescriptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceDescriptor")
            .field("name", &self.name)
            .field("state_type_name", &self.state_type_name)
            .finish_non_exhaustive()
    }
}

/// The metadata of one action: what routes, `_meta` and docs are generated from.
#[derive(Clone)]
#[non_exhaustive]
pub struct ActionDescriptor {
    /// The command key (kebab-case of the method name unless renamed).
    pub key: &'static str,
    /// The Rust method name.
    pub method: &'static str,
    /// The event's wire name.
    pub evt_key: &'static str,
    /// The event payload's schema version.
    pub schema_version: u32,
    /// The resource kinds the action may be applied to.
    pub resources: &'static [&'static str],
    /// Whether the action creates a new root.
    pub creates: bool,
    /// Whether the action's event soft-deletes the root.
    pub deletes: bool,
    /// The method's doc comment.
    pub doc: &'static str,
    /// The payload's JSON schema.
    pub payload_schema: fn() -> Value,
    /// The event data's JSON schema.
    pub event_schema: fn() -> Value,
}

impl ActionDescriptor {
    /// A descriptor; used by generated code.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        key: &'static str,
        method: &'static str,
        evt_key: &'static str,
        schema_version: u32,
        resources: &'static [&'static str],
        creates: bool,
        deletes: bool,
        doc: &'static str,
        payload_schema: fn() -> Value,
        event_schema: fn() -> Value,
    ) -> Self {
        ActionDescriptor {
            key,
            method,
            evt_key,
            schema_version,
            resources,
            creates,
            deletes,
            doc,
            payload_schema,
            event_schema,
        }
    }
}

impl fmt::Debug for ActionDescriptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActionDescriptor")
            .field("key", &self.key)
            .field("evt_key", &self.evt_key)
            .field("resources", &self.resources)
            .field("creates", &self.creates)
            .field("deletes", &self.deletes)
            .finish_non_exhaustive()
    }
}

/// One invocation of an action.
#[derive(Debug)]
#[non_exhaustive]
pub struct ActionCall<'a> {
    /// Index into [`AggregateDescriptor::actions`].
    pub action: usize,
    /// The command's context.
    pub context: &'a Context,
    /// The targeted root.
    pub root: &'a AggRoot,
    /// The root's current state (the default state for creation actions).
    pub state: &'a dyn AnyState,
    /// The payload.
    pub payload: &'a Payload,
    /// Where the action's messages go.
    pub outbox: &'a crate::outbox::Outbox,
}

impl<'a> ActionCall<'a> {
    pub(crate) fn new(
        action: usize,
        context: &'a Context,
        root: &'a AggRoot,
        state: &'a dyn AnyState,
        payload: &'a Payload,
        outbox: &'a crate::outbox::Outbox,
    ) -> Self {
        ActionCall {
            action,
            context,
            root,
            state,
            payload,
            outbox,
        }
    }
}

/// What an action decided: its events and the state they lead to.
#[derive(Debug)]
#[non_exhaustive]
pub struct ActionOutcome {
    /// The events, 0..n.
    pub events: Vec<RawEvent>,
    /// The state after the events; `None` when there are none.
    pub state: Option<Box<dyn AnyState>>,
}

impl ActionOutcome {
    /// An outcome; used by generated code.
    pub fn new(events: Vec<RawEvent>, state: Option<Box<dyn AnyState>>) -> Self {
        ActionOutcome { events, state }
    }
}
