//! Fingerprints of commands with caller-supplied ids, and replaying their recorded answers.

use crate::backend::{IdempotencyRecord, StreamKey, StreamRange};
use crate::command::Command;
use crate::error::Error;
use crate::log::LogCursor;
use crate::response::Response;

use super::DomainInner;
use super::digest::{canonical, sha256_hex};

/// SHA-256 over the command key, the root (`:new` for generated identifiers) and the payload
/// written as canonical JSON (object keys sorted).
pub(crate) fn fingerprint(command: &Command) -> Result<String, Error> {
    let mut text = String::new();
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
    canonical(&command.payload.to_json()?, &mut text);
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
