//! Events as stored: immutable facts with everything needed to audit and replay them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// One event of a stream, as the log holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EventEnvelope {
    /// Unique, time-ordered event id.
    pub event_id: Uuid,
    /// The tenant the stream belongs to (empty in single-tenant domains).
    pub tenant: String,
    /// The domain's namespace.
    pub namespace: String,
    /// The resource kind.
    pub resource: String,
    /// The aggregate root's identifier.
    pub identifier: String,
    /// Position in the stream: 1, 2, 3 ... without gaps.
    pub version: u64,
    /// The event's wire name.
    pub evt_key: String,
    /// The version of the payload's shape.
    pub schema_version: u32,
    /// The event data.
    pub payload: Value,
    /// Who, why and when.
    pub metadata: EventMetadata,
    /// When the store recorded the event (never decreasing within a stream).
    pub recorded_at: DateTime<Utc>,
    /// Position in the global log, assigned at commit (0 before).
    pub position: u64,
}

impl EventEnvelope {
    /// A new event of a stream, with a fresh time-ordered id and no position yet (the backend
    /// assigns it at commit).
    pub fn new(
        key: &crate::backend::StreamKey,
        version: u64,
        evt_key: impl Into<String>,
        schema_version: u32,
        payload: Value,
        metadata: EventMetadata,
        recorded_at: DateTime<Utc>,
    ) -> Self {
        EventEnvelope {
            event_id: crate::ids::new_v7(),
            tenant: key.tenant.clone(),
            namespace: key.namespace.clone(),
            resource: key.resource.clone(),
            identifier: key.id.clone(),
            version,
            evt_key: evt_key.into(),
            schema_version,
            payload,
            metadata,
            recorded_at,
            position: 0,
        }
    }
}

/// The context an event was recorded in.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EventMetadata {
    /// The command key that produced the event.
    pub command: String,
    /// The acting user.
    pub user: Option<String>,
    /// The tenant.
    pub tenant: String,
    /// The business operation the event belongs to.
    pub correlation_id: Uuid,
    /// The command that caused the event.
    pub causation_id: Uuid,
    /// What caused the command, as its context said (an event id, another command's id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caused_by: Option<Uuid>,
    /// Business time given by the caller.
    pub time: DateTime<Utc>,
    /// Free-form headers from the context.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

/// Event data an action produced, before the domain stamps it into an envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct RawEvent {
    /// The event's wire name.
    pub evt_key: &'static str,
    /// The version of the payload's shape.
    pub schema_version: u32,
    /// The event data.
    pub payload: Value,
}
