//! What a processed command answers: its events, the new state and the new version.

use std::sync::Arc;

use serde::ser::{Error as _, SerializeStruct};
use serde::{Serialize, Serializer};
use serde_json::Value;
use uuid::Uuid;

use crate::command::AggRoot;
use crate::error::Error;
use crate::event::EventEnvelope;
use crate::log::LogCursor;
use crate::state::{AnyState, State};

/// The result of a command: the events it wrote (0..n), the state they lead to and its version.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Response {
    /// The command's id.
    pub command_id: Uuid,
    /// The root the command acted on (with its generated id for creation commands).
    pub root: AggRoot,
    /// The events written, with their versions and global positions.
    pub events: Vec<EventEnvelope>,
    /// The stream's version after the command.
    pub version: u64,
    /// Whether this is the recorded answer to an earlier command with the same id.
    pub replayed: bool,
    /// The read-your-writes token: the log cursor of the last event this command wrote
    /// ([`LogCursor::START`] when it wrote none). See [`Response::cursor`].
    pub cursor: LogCursor,
    pub(crate) state: Arc<dyn AnyState>,
    pub(crate) resource_type: &'static str,
}

impl Response {
    /// The new state, as the resource's state type.
    pub fn state<T: State>(&self) -> Result<&T, Error> {
        self.state
            .as_any()
            .downcast_ref::<T>()
            .ok_or_else(|| Error::WrongStateType {
                resource: self.root.resource.clone(),
                requested: std::any::type_name::<T>(),
                actual: self.resource_type,
            })
    }

    /// The read-your-writes token: the [log cursor](LogCursor) of the last event the command
    /// wrote, so that a log reader has passed this write (read every event of it, or skipped it
    /// as not matching its filter) exactly when `page.next >= response.cursor()`.
    ///
    /// All of a command's events commit together and its last event has the greatest cursor of
    /// them, so one comparison covers them all. A command that wrote no event carries
    /// [`LogCursor::START`], which every reader has passed. A [replayed](Response::replayed)
    /// answer carries the cursor of the original command's last event, looked up in the log.
    pub fn cursor(&self) -> LogCursor {
        self.cursor
    }

    /// The new state as JSON.
    pub fn state_json(&self) -> Result<Value, Error> {
        self.state.to_json().map_err(|e| Error::Decode {
            what: format!("state of {}", self.root),
            message: e.to_string(),
        })
    }
}

impl Serialize for Response {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let state = self.state.to_json().map_err(S::Error::custom)?;
        let mut s = serializer.serialize_struct("Response", 7)?;
        s.serialize_field("command_id", &self.command_id)?;
        s.serialize_field("root", &self.root)?;
        s.serialize_field("events", &self.events)?;
        s.serialize_field("version", &self.version)?;
        s.serialize_field("replayed", &self.replayed)?;
        s.serialize_field("cursor", &self.cursor)?;
        s.serialize_field("state", &state)?;
        s.end()
    }
}
