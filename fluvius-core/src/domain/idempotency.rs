//! Fingerprints of commands with caller-supplied ids, and replaying their recorded answers.

use crate::backend::{IdempotencyRecord, StreamKey, StreamRange};
use crate::command::Command;
use crate::error::Error;
use crate::log::LogCursor;
use crate::response::Response;

use super::DomainInner;
use uuid::Uuid;

use super::digest::{canonical_payload, sha256_hex};

/// The key under which backends record a caller-supplied command id of a domain: a name-based
/// (version 5) UUID of the namespace and the id, so that the same id in two namespaces (and, by
/// the backends' `(tenant, key)` scoping, in two tenants) is two commands.
///
/// ```
/// use fluvius_core::idempotency_key;
/// let id = uuid::Uuid::now_v7();
/// assert_ne!(idempotency_key("sales", id), idempotency_key("billing", id));
/// assert_eq!(idempotency_key("sales", id), idempotency_key("sales", id));
/// ```
pub fn idempotency_key(namespace: &str, command_id: Uuid) -> Uuid {
    let scope = Uuid::new_v5(&Uuid::NAMESPACE_OID, namespace.as_bytes());
    Uuid::new_v5(&scope, command_id.as_bytes())
}

/// SHA-256 over the namespace, the command key, the root (`:new` for generated identifiers) and
/// the payload written as canonical JSON (object keys sorted, null fields left out: an omitted
/// `Option` field and an explicit `null` are the same command, typed or JSON).
pub(crate) fn fingerprint(namespace: &str, command: &Command) -> Result<String, Error> {
    let mut text = String::new();
    text.push_str(namespace);
    text.push('\n');
    text.push_str(&command.key);
    text.push('\n');
    text.push_str(&command.root.resource);
    text.push('\n');
    text.push_str(if command.generated_id {
        ":new"
    } else {
        &command.root.id
    });
    text.push('\n');
    canonical_payload(&command.payload.to_json()?, &mut text);
    Ok(sha256_hex(&text))
}

impl DomainInner {
    /// The recorded answer to a command id, or an error if the id was used for another command.
    pub(crate) async fn replay(
        &self,
        record: IdempotencyRecord,
        fingerprint: &str,
        command: &Command,
    ) -> Result<Response, Error> {
        if record.fingerprint != fingerprint {
            return Err(Error::DuplicateCommand {
                command_id: command.id,
            });
        }
        let resource = self.resource(&record.root.resource)?;
        let key = StreamKey {
            tenant: record.tenant.clone(),
            namespace: self.namespace.clone(),
            resource: record.root.resource.clone(),
            id: record.root.id.clone(),
        };
        let events = if record.to_version > record.from_version {
            self.backend
                .read_stream(
                    &key,
                    StreamRange::after(record.from_version).up_to(record.to_version),
                )
                .await?
        } else {
            Vec::new()
        };
        let cursor = self.replayed_cursor(&events).await?;
        let state =
            (resource.descriptor.decode_state)(record.state).map_err(|e| Error::Decode {
                what: format!("recorded state of {}", record.root),
                message: e.to_string(),
            })?;
        Ok(Response {
            command_id: command.id,
            root: record.root,
            events,
            version: record.to_version,
            replayed: true,
            cursor,
            state: state.into(),
            resource_type: resource.descriptor.state_type_name,
        })
    }

    /// The cursor the original command answered with: at its last event, looked up in the log
    /// (the idempotency record keeps versions, and on PostgreSQL a position alone is not a
    /// cursor).
    async fn replayed_cursor(
        &self,
        events: &[crate::event::EventEnvelope],
    ) -> Result<LogCursor, Error> {
        let Some(last) = events.iter().map(|e| e.position).max() else {
            return Ok(LogCursor::START);
        };
        self.backend.log_cursor(last).await?.ok_or_else(|| {
            Error::internal(format!(
                "the event at position {last} of a recorded command is missing from the global log"
            ))
        })
    }
}
