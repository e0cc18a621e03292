//! Typed events for handlers. A subscription made with
//! [`Subscription::upcast_with`](crate::Subscription::upcast_with) hands every event over in its
//! current shape, through the domain's upcasters, so a handler decodes the current version only.

use fluvius_core::EventEnvelope;
use serde::de::DeserializeOwned;

use crate::error::ReadsideError;

/// Decodes an event's data as `E`, which has the shape of `schema_version`. An event at another
/// version is refused, never guessed at.
pub fn decode<E: DeserializeOwned>(
    event: &EventEnvelope,
    schema_version: u32,
) -> Result<E, ReadsideError> {
    let decoded = if event.schema_version == schema_version {
        fluvius_core::__private::decode_event(&event.evt_key, schema_version, &event.payload)
    } else {
        Err(fluvius_core::Error::Decode {
            what: format!("event `{}` v{}", event.evt_key, event.schema_version),
            message: format!(
                "this handler reads `{}` at schema version {schema_version}, and the event is at v{}: subscribe with `upcast_with(&domain)` to read events in their current shape",
                event.evt_key, event.schema_version
            ),
        })
    };
    decoded.map_err(|err| ReadsideError::Decode {
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
