//! Bulk import: many events of many streams folded, checked and written in one commit.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::backend::{CommitBatch, StreamKey};
use crate::error::Error;
use crate::event::{EventEnvelope, EventMetadata};
use crate::limits::{self, LimitError};

use super::Domain;
use super::head::fold_onto;
use super::process::Claim;

/// One event to import into a stream.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ImportEvent {
    /// The tenant (empty in single-tenant domains).
    pub tenant: String,
    /// The resource kind.
    pub resource: String,
    /// The aggregate root's identifier.
    pub id: String,
    /// The event's wire name.
    pub evt_key: String,
    /// The payload's schema version.
    pub schema_version: u32,
    /// The event data.
    pub payload: Value,
    /// Who and why; `command` defaults to `import`.
    pub metadata: EventMetadata,
    /// When it was recorded in the source system; now when absent. Never before the stream's
    /// previous event.
    pub recorded_at: Option<DateTime<Utc>>,
}

impl ImportEvent {
    /// An event of schema version 1 for a root of a single-tenant domain.
    pub fn new(
        resource: impl Into<String>,
        id: impl ToString,
        evt_key: impl Into<String>,
        payload: Value,
    ) -> Self {
        let metadata = EventMetadata {
            command: "import".into(),
            ..EventMetadata::default()
        };
        ImportEvent {
            tenant: String::new(),
            resource: resource.into(),
            id: id.to_string(),
            evt_key: evt_key.into(),
            schema_version: 1,
            payload,
            metadata,
            recorded_at: None,
        }
    }

    /// Sets the tenant.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = tenant.into();
        self.metadata.tenant = self.tenant.clone();
        self
    }

    /// Sets the schema version.
    pub fn schema_version(mut self, version: u32) -> Self {
        self.schema_version = version;
        self
    }

    /// Sets the original recording time.
    pub fn recorded_at(mut self, at: DateTime<Utc>) -> Self {
        self.recorded_at = Some(at);
        self
    }

    /// Sets the metadata.
    pub fn metadata(mut self, metadata: EventMetadata) -> Self {
        self.metadata = metadata;
        self
    }
}

/// What an import wrote.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ImportReport {
    /// Streams written.
    pub streams: usize,
    /// Events written.
    pub events: usize,
}

impl Domain {
    /// Appends events to many streams in one atomic commit, after the streams' current events.
    ///
    /// Every event is decoded and applied through its resource's transitions first, so an
    /// unknown event key or a payload that does not decode fails the whole import, naming the
    /// event, and nothing is written. Each event keeps the [limits](crate::limits) a command
    /// keeps (identifiers, texts, instants, JSON). Commands on the same streams wait for the
    /// import.
    pub async fn import(&self, events: Vec<ImportEvent>) -> Result<ImportReport, Error> {
        let inner = &self.inner;
        let mut order: Vec<StreamKey> = Vec::new();
        let mut streams: HashMap<StreamKey, Vec<(usize, ImportEvent)>> = HashMap::new();
        for (index, event) in events.into_iter().enumerate() {
            if inner.multi_tenant && event.tenant.is_empty() {
                return Err(Error::MissingTenant(inner.namespace.clone()));
            }
            if !inner.multi_tenant && !event.tenant.is_empty() {
                return Err(Error::UnexpectedTenant {
                    namespace: inner.namespace.clone(),
                    tenant: event.tenant,
                });
            }
            inner.resource(&event.resource)?;
            check_event(&event).map_err(|err| Error::Validation {
                command: "import".into(),
                field: Some(format!("events[{index}]")),
                message: err.to_string(),
            })?;
            let key = inner.stream_key(&event.tenant, &event.resource, &event.id);
            let entry = streams.entry(key.clone()).or_default();
            if entry.is_empty() {
                order.push(key);
            }
            entry.push((index, event));
        }
        // Lock the streams in one global order so two imports cannot deadlock.
        let mut sorted = order.clone();
        sorted.sort();
        let mut guards = Vec::with_capacity(sorted.len());
        for key in &sorted {
            guards.push(Claim::new(inner, key.clone()).await);
        }
        let position_of: HashMap<&StreamKey, usize> =
            sorted.iter().enumerate().map(|(i, k)| (k, i)).collect();

        let mut writes = Vec::with_capacity(order.len());
        let mut heads = Vec::with_capacity(order.len());
        let mut total = 0;
        for key in &order {
            let entry = inner.resource(&key.resource)?;
            let guard = &mut guards[position_of[key]];
            let start = match guard.head.take() {
                Some(head) => head,
                None => inner.load(key, entry).await?,
            };
            let mut last = start.updated_at;
            let mut envelopes = Vec::new();
            for (n, (index, event)) in streams
                .remove(key)
                .unwrap_or_default()
                .into_iter()
                .enumerate()
            {
                let at = inner.recorded_at(last);
                let at = match event.recorded_at {
                    Some(given) if last.is_none_or(|l| given >= l) => given,
                    _ => at,
                };
                last = Some(at);
                let mut metadata = event.metadata;
                if metadata.correlation_id.is_nil() {
                    metadata.correlation_id = crate::ids::new_v7();
                }
                envelopes.push(EventEnvelope {
                    event_id: crate::ids::new_v7(),
                    tenant: key.tenant.clone(),
                    namespace: key.namespace.clone(),
                    resource: key.resource.clone(),
                    identifier: key.id.clone(),
                    version: start.version + 1 + n as u64,
                    evt_key: event.evt_key,
                    schema_version: event.schema_version,
                    payload: event.payload,
                    metadata,
                    recorded_at: at,
                    position: index as u64,
                });
            }
            let head = fold_onto(&entry.descriptor, start.clone(), &envelopes).map_err(|err| {
                let index = envelopes.first().map_or(0, |e| e.position);
                Error::Validation {
                    command: "import".into(),
                    field: Some(format!("events[{index}..] of {key}")),
                    message: err.to_string(),
                }
            })?;
            head.state
                .check_limits(&format!("the state of {key} after the import"))
                .map_err(|err| Error::Validation {
                    command: "import".into(),
                    field: Some(format!("events of {key}")),
                    message: err.to_string(),
                })?;
            for event in &mut envelopes {
                event.position = 0;
            }
            total += envelopes.len();
            writes.push(inner.stream_write(
                key,
                entry,
                &start,
                &head,
                std::sync::Arc::new(envelopes),
                Vec::new(),
            ));
            heads.push((position_of[key], head));
        }
        match inner.traced_commit(CommitBatch::new(writes), 0).await {
            Ok(_) => {
                for (slot, head) in heads {
                    guards[slot].head = Some(head);
                }
                Ok(ImportReport {
                    streams: order.len(),
                    events: total,
                })
            }
            Err(err) => Err(err.into()),
        }
    }
}

/// The limits an imported event keeps, the same a command keeps: identifiers, texts, instants
/// and the JSON limits of its data and metadata.
fn check_event(event: &ImportEvent) -> Result<(), LimitError> {
    limits::check_bounded_text("the tenant", &event.tenant)?;
    limits::check_identifier("the aggregate root identifier", &event.id)?;
    limits::check_json("the event data", &event.payload)?;
    limits::check_json("the metadata", &event.metadata)?;
    limits::check_time("the business time", event.metadata.time)?;
    if let Some(at) = event.recorded_at {
        limits::check_time("the recording time", at)?;
    }
    Ok(())
}
