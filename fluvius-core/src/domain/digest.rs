//! Stable digests: canonical JSON (sorted keys) and SHA-256, for command fingerprints and for the
//! state digest that tells a stored state written by other code from one this code can trust.

use std::fmt::Write as _;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::aggregate::ResourceDescriptor;

/// Lower-case hex SHA-256 of a text.
pub(crate) fn sha256_hex(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// The digest of a resource's state: its schema with sorted keys, the (evt_key, schema version)
/// pairs it handles, and the aggregate's `state_version`.
pub(crate) fn state_digest(
    resource: &ResourceDescriptor,
    schema: &Value,
    state_version: u32,
) -> String {
    let mut text = String::new();
    canonical(schema, &mut text);
    let mut handled: Vec<String> = resource
        .handled_events
        .iter()
        .map(|(key, version)| format!("{key}@{version}"))
        .collect();
    handled.sort();
    text.push('\n');
    text.push_str(&handled.join(","));
    let _ = write!(text, "\nstate_version={state_version}");
    sha256_hex(&text)
}

/// Writes JSON with object keys sorted, whatever the map's own order.
pub(crate) fn canonical(value: &Value, out: &mut String) {
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
