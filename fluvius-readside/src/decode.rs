//! Typed events for handlers: every event is decoded through the framework's one decoder of
//! (evt_key, schema version, JSON), so upcasters that plug in there serve the read side too.

use fluvius_core::EventEnvelope;
use serde::de::DeserializeOwned;

use crate::error::ReadsideError;

/// Decodes an event's data as `E`, written at `schema_version`.
pub fn decode<E: DeserializeOwned>(
    event: &EventEnvelope,
    schema_version: u32,
) -> Result<E, ReadsideError> {
    fluvius_core::__private::decode_event(
        &event.evt_key,
        event.schema_version,
        schema_version,
        &event.payload,
    )
    .map_err(|err| ReadsideError::Decode {
        evt_key: event.evt_key.clone(),
        schema_version: event.schema_version,
        stream: stream_of(event),
        version: event.version,
        message: match err {
            fluvius_core::Error::Decode { message, .. } => message,
            other => other.to_string(),
        },
    })
}

/// An event's stream as `tenant/namespace.resource/id`.
pub(crate) fn stream_of(event: &EventEnvelope) -> String {
    format!(
        "{}/{}.{}/{}",
        event.tenant, event.namespace, event.resource, event.identifier
    )
}
