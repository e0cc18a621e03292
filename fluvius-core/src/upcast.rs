//! Events that outlive their code: how a stored event of an older shape, or of a key no action
//! emits any more, is read as the events this build understands.
//!
//! The log is never rewritten. Every reader (the command fold, time travel, history, the global
//! log, imports, the test kit, subscribers) brings each stored event to the current shape through
//! [`ResourceDescriptor::upcast`], the one decode path: a key's declared chain of steps
//! (`#[action(.., schema_version = 3, upcast(1 = v1_to_v2, 2 = v2_to_v3))]`) for older versions,
//! a `#[retired]` function for keys whose action is gone. The guide is `docs/events.md`.

use std::fmt::Display;

use serde_json::Value;

use crate::aggregate::ResourceDescriptor;
use crate::error::Error;
use crate::event::EventEnvelope;
use crate::state::AnyState;

/// One step of a chain: an event's JSON at one schema version to the next.
pub type UpcastStep = fn(Value) -> Result<Value, String>;

/// How a retired key's stored events are read: `(schema version, payload)` to current events.
pub type RetiredRead = fn(u32, Value) -> Result<Vec<Upcasted>, String>;

/// An event key a resource reads at its current schema version, and the steps from older ones.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EventVersions {
    /// The event's wire name.
    pub evt_key: &'static str,
    /// The schema version this build writes and reads.
    pub current: u32,
    /// `steps[i]` reads version `i + 1` and returns version `i + 2`.
    pub steps: Vec<UpcastStep>,
}

impl EventVersions {
    /// The versions of a key; used by generated code.
    pub fn new(evt_key: &'static str, current: u32, steps: Vec<UpcastStep>) -> Self {
        EventVersions {
            evt_key,
            current,
            steps,
        }
    }

    /// A stored payload at `version`, brought to the current version.
    fn lift(&self, version: u32, mut payload: Value) -> Result<Value, Error> {
        if version == 0 || version > self.current {
            return Err(Error::Decode {
                what: format!("event `{}` v{version}", self.evt_key),
                message: format!(
                    "this build reads `{}` up to schema version {}: an event at v{version} was written by {}",
                    self.evt_key,
                    self.current,
                    if version == 0 {
                        "no version of Fluvius (versions start at 1)"
                    } else {
                        "a newer build; deploy it, or add the version here"
                    }
                ),
            });
        }
        for from in version..self.current {
            let step = self
                .steps
                .get(from as usize - 1)
                .ok_or_else(|| Error::Decode {
                    what: format!("event `{}` v{from}", self.evt_key),
                    message: format!("no upcast step reads `{}` at v{from}", self.evt_key),
                })?;
            payload = step(payload).map_err(|message| Error::Decode {
                what: format!("event `{}` v{from}", self.evt_key),
                message: format!("its upcast step to v{} failed: {message}", from + 1),
            })?;
        }
        Ok(payload)
    }
}

/// A key no action emits any more, and the function that reads its stored events.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RetiredEvent {
    /// The retired wire name.
    pub evt_key: &'static str,
    /// Reads one stored event as zero or more events of current keys.
    pub read: RetiredRead,
}

impl RetiredEvent {
    /// A retired key; used by generated code.
    pub fn new(evt_key: &'static str, read: RetiredRead) -> Self {
        RetiredEvent { evt_key, read }
    }
}

/// An event a `#[retired]` function reads a stored one as: a key an action still emits, at any
/// of its schema versions (its chain brings it to the current one).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Upcasted {
    /// A current event key of the resource.
    pub evt_key: String,
    /// The schema version `payload` has.
    pub schema_version: u32,
    /// The event data.
    pub payload: Value,
}

impl Upcasted {
    /// An event of `evt_key` whose data has the shape of `schema_version`.
    pub fn new(evt_key: impl Into<String>, schema_version: u32, payload: Value) -> Self {
        Upcasted {
            evt_key: evt_key.into(),
            schema_version,
            payload,
        }
    }
}

/// What an upcast step may return: the next version's JSON, or a reason it cannot be read.
#[diagnostic::on_unimplemented(
    message = "an upcast step returns `serde_json::Value` or `Result<serde_json::Value, E>` with `E: Display`, not `{Self}`",
    label = "this step's return type"
)]
pub trait StepOutput {
    /// The next version's JSON, or why there is none.
    fn into_step(self) -> Result<Value, String>;
}

impl StepOutput for Value {
    fn into_step(self) -> Result<Value, String> {
        Ok(self)
    }
}

impl<E: Display> StepOutput for Result<Value, E> {
    fn into_step(self) -> Result<Value, String> {
        self.map_err(|e| e.to_string())
    }
}

/// What a `#[retired]` function may return: nothing (the event is kept in the log and skipped by
/// folds), one event, several (a split), or a reason it cannot be read.
#[diagnostic::on_unimplemented(
    message = "a `#[retired]` function returns `()`, `Upcasted`, `Option<Upcasted>` or `Vec<Upcasted>` (or a `Result` of one with an `E: Display` error), not `{Self}`",
    label = "this function's return type"
)]
pub trait RetiredOutput {
    /// The current events the stored one stands for.
    fn into_events(self) -> Result<Vec<Upcasted>, String>;
}

impl RetiredOutput for () {
    fn into_events(self) -> Result<Vec<Upcasted>, String> {
        Ok(Vec::new())
    }
}

impl RetiredOutput for Upcasted {
    fn into_events(self) -> Result<Vec<Upcasted>, String> {
        Ok(vec![self])
    }
}

impl RetiredOutput for Option<Upcasted> {
    fn into_events(self) -> Result<Vec<Upcasted>, String> {
        Ok(self.into_iter().collect())
    }
}

impl RetiredOutput for Vec<Upcasted> {
    fn into_events(self) -> Result<Vec<Upcasted>, String> {
        Ok(self)
    }
}

impl<T: RetiredOutput, E: Display> RetiredOutput for Result<T, E> {
    fn into_events(self) -> Result<Vec<Upcasted>, String> {
        self.map_err(|e| e.to_string())?.into_events()
    }
}

impl ResourceDescriptor {
    /// A stored event as this build reads it: `Ok(None)` when it is already a current event (the
    /// common case, and free), otherwise the current events it stands for, each at its key's
    /// current schema version. An event of a key the resource neither emits nor retires, a
    /// version newer than this build, or a failing step is an [`Error::Decode`] naming the event.
    pub fn upcast(
        &self,
        evt_key: &str,
        schema_version: u32,
        payload: &Value,
    ) -> Result<Option<Vec<Upcasted>>, Error> {
        if let Some(versions) = self.events.iter().find(|e| e.evt_key == evt_key) {
            if schema_version == versions.current {
                return Ok(None);
            }
            let lifted = versions.lift(schema_version, payload.clone())?;
            return Ok(Some(vec![Upcasted::new(
                versions.evt_key,
                versions.current,
                lifted,
            )]));
        }
        let Some(retired) = self.retired.iter().find(|r| r.evt_key == evt_key) else {
            return Err(self.unknown_event(evt_key));
        };
        let read =
            (retired.read)(schema_version, payload.clone()).map_err(|message| Error::Decode {
                what: format!("retired event `{evt_key}` v{schema_version}"),
                message: format!("its `#[retired]` function failed: {message}"),
            })?;
        read.into_iter()
            .map(|event| {
                let versions = self
                    .events
                    .iter()
                    .find(|e| e.evt_key == event.evt_key)
                    .ok_or_else(|| Error::Decode {
                        what: format!("retired event `{evt_key}` v{schema_version}"),
                        message: format!(
                            "its `#[retired]` function reads it as `{}`, which resource `{}` does not emit",
                            event.evt_key, self.name
                        ),
                    })?;
                let payload = versions.lift(event.schema_version, event.payload)?;
                Ok(Upcasted::new(versions.evt_key, versions.current, payload))
            })
            .collect::<Result<Vec<_>, Error>>()
            .map(Some)
    }

    /// Applies one stored event to a state, through [`upcast`](Self::upcast): the one way every
    /// reader folds. Returns whether the event deletes the root.
    pub fn apply(
        &self,
        state: &mut dyn AnyState,
        evt_key: &str,
        schema_version: u32,
        payload: &Value,
    ) -> Result<bool, Error> {
        // The common cases without building `Upcasted` values: a current event, and an older
        // version of a current key.
        if let Some(versions) = self.events.iter().find(|e| e.evt_key == evt_key) {
            if schema_version == versions.current {
                return (self.apply_current)(state, evt_key, payload);
            }
            let lifted = versions.lift(schema_version, payload.clone())?;
            return (self.apply_current)(state, evt_key, &lifted);
        }
        match self.upcast(evt_key, schema_version, payload)? {
            None => (self.apply_current)(state, evt_key, payload),
            Some(events) => {
                let mut deleted = false;
                for event in &events {
                    deleted |= (self.apply_current)(state, &event.evt_key, &event.payload)?;
                }
                Ok(deleted)
            }
        }
    }

    /// [`apply`](Self::apply) of an event the caller owns: an older version is lifted without
    /// copying its data first.
    pub fn apply_owned(
        &self,
        state: &mut dyn AnyState,
        evt_key: &str,
        schema_version: u32,
        payload: Value,
    ) -> Result<bool, Error> {
        match self.events.iter().find(|e| e.evt_key == evt_key) {
            Some(versions) if schema_version != versions.current => {
                let lifted = versions.lift(schema_version, payload)?;
                (self.apply_current)(state, evt_key, &lifted)
            }
            _ => self.apply(state, evt_key, schema_version, &payload),
        }
    }

    /// The stored events of this resource as current envelopes, for readers of events rather
    /// than state (history, the global log). A current event is passed through unchanged; an
    /// upcast one keeps its identity (id, stream, version, position, metadata) with the current
    /// key, schema version and data; a retired event read as several shares that identity; a
    /// retired event read as none is kept as recorded, so an audit trail never loses a fact.
    pub fn upcast_envelopes(
        &self,
        events: Vec<EventEnvelope>,
    ) -> Result<Vec<EventEnvelope>, Error> {
        let mut out = Vec::with_capacity(events.len());
        for event in events {
            match self.upcast(&event.evt_key, event.schema_version, &event.payload)? {
                None => out.push(event),
                Some(read) if read.is_empty() => out.push(event),
                Some(read) => {
                    for current in read {
                        let mut envelope = event.clone();
                        envelope.evt_key = current.evt_key;
                        envelope.schema_version = current.schema_version;
                        envelope.payload = current.payload;
                        out.push(envelope);
                    }
                }
            }
        }
        Ok(out)
    }

    fn unknown_event(&self, evt_key: &str) -> Error {
        Error::Decode {
            what: format!("event `{evt_key}`"),
            message: format!(
                "resource `{}` has no action emitting it: if its action was removed, keep its \
                 stored events readable with a `#[retired(evt_key = \"{evt_key}\")]` function in \
                 the aggregate (see docs/events.md)",
                self.name
            ),
        }
    }
}
