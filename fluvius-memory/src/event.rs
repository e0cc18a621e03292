//! Events as this store keeps them: compact, since a store holds millions.
//!
//! An [`EventEnvelope`] carries its stream's four key strings, its key and its command's key as
//! owned strings and its data as a `serde_json::Value` tree: about 1.3 KB for a small event. Here
//! the stream key is shared by the stream's events, the event and command keys, tenants and users
//! are interned, and the data is its compact JSON text, parsed again when the event is read: a
//! few hundred bytes an event. The text is the exact image of the value (serde_json prints every
//! number it holds so that it reads back the same, and non-finite numbers never get this far), so
//! what is read back is what was written.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use fluvius_core::{EventEnvelope, EventMetadata, StoreError, StreamKey};
use foldhash::fast::RandomState;
use uuid::Uuid;

/// One event, as held by the log and by its stream.
#[derive(Debug)]
pub(crate) struct StoredEvent {
    pub(crate) event_id: Uuid,
    pub(crate) stream: Arc<StreamKey>,
    pub(crate) version: u64,
    pub(crate) position: u64,
    pub(crate) evt_key: Arc<str>,
    pub(crate) schema_version: u32,
    pub(crate) recorded_at: DateTime<Utc>,
    /// The event data as compact JSON.
    payload: Box<str>,
    command: Arc<str>,
    user: Option<Arc<str>>,
    tenant: Arc<str>,
    correlation_id: Uuid,
    causation_id: Uuid,
    caused_by: Option<Uuid>,
    time: DateTime<Utc>,
    /// The context's headers, in key order (8 bytes for the commonest case, none).
    headers: Option<Box<[(String, String)]>>,
}

/// An event encoded for the store, before it is given its stream handle and position.
#[derive(Debug)]
pub(crate) struct Encoded {
    payload: Box<str>,
}

/// Encodes the data of an event; done before the store's lock is taken.
pub(crate) fn encode(event: &EventEnvelope) -> Result<Encoded, StoreError> {
    let payload = serde_json::to_string(&event.payload).map_err(|err| {
        StoreError::Invalid(format!(
            "the data of event {} cannot be encoded: {err}",
            event.event_id
        ))
    })?;
    Ok(Encoded {
        payload: payload.into_boxed_str(),
    })
}

/// The strings many events repeat (event and command keys, tenants, users), each kept once.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    strings: HashSet<Arc<str>, RandomState>,
}

impl Interner {
    pub(crate) fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(known) = self.strings.get(s) {
            return Arc::clone(known);
        }
        let fresh: Arc<str> = Arc::from(s);
        self.strings.insert(Arc::clone(&fresh));
        fresh
    }
}

impl StoredEvent {
    /// The stored form of an event of `stream`, at `position`.
    pub(crate) fn new(
        event: &EventEnvelope,
        encoded: Encoded,
        stream: &Arc<StreamKey>,
        position: u64,
        strings: &mut Interner,
    ) -> Self {
        let meta = &event.metadata;
        StoredEvent {
            event_id: event.event_id,
            stream: Arc::clone(stream),
            version: event.version,
            position,
            evt_key: strings.intern(&event.evt_key),
            schema_version: event.schema_version,
            recorded_at: event.recorded_at,
            payload: encoded.payload,
            command: strings.intern(&meta.command),
            user: meta.user.as_deref().map(|user| strings.intern(user)),
            tenant: strings.intern(&meta.tenant),
            correlation_id: meta.correlation_id,
            causation_id: meta.causation_id,
            caused_by: meta.caused_by,
            time: meta.time,
            headers: (!meta.headers.is_empty()).then(|| {
                meta.headers
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            }),
        }
    }

    /// The user who caused the event, if the context named one.
    pub(crate) fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The event as the backend contract hands it out.
    pub(crate) fn envelope(&self) -> Result<EventEnvelope, StoreError> {
        let payload = serde_json::from_str(&self.payload).map_err(|err| {
            StoreError::internal(
                format!(
                    "event {} of stream {} does not read back: {err}",
                    self.event_id, self.stream
                ),
                None,
            )
        })?;
        let mut metadata = EventMetadata::default();
        metadata.command = self.command.to_string();
        metadata.user = self.user.as_deref().map(str::to_owned);
        metadata.tenant = self.tenant.to_string();
        metadata.correlation_id = self.correlation_id;
        metadata.causation_id = self.causation_id;
        metadata.caused_by = self.caused_by;
        metadata.time = self.time;
        metadata.headers = self
            .headers
            .iter()
            .flatten()
            .cloned()
            .collect::<BTreeMap<_, _>>();
        let mut event = EventEnvelope::new(
            &self.stream,
            self.version,
            self.evt_key.to_string(),
            self.schema_version,
            payload,
            metadata,
            self.recorded_at,
        );
        event.event_id = self.event_id;
        event.position = self.position;
        Ok(event)
    }
}
