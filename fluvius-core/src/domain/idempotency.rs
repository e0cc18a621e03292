//! Fingerprints of commands with caller-supplied ids, and replaying their recorded answers.

use std::fmt::Write as _;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::backend::{IdempotencyRecord, StreamKey, StreamRange};
use crate::command::Command;
use crate::error::Error;
use crate::response::Response;

use super::DomainInner;

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
    let digest = Sha256::digest(text.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest {
        let _ = write!(hex, "{byte:02x}");
    }
    Ok(hex)
}

fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<_> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
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
            state: state.into(),
            resource_type: resource.descriptor.state_type_name,
        })
    }
}
