//! Stable digests: canonical JSON (sorted keys) and SHA-256, for command fingerprints and for the
//! state digest that tells a stored state written by other code from one this code can trust.

use std::fmt::Write as _;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Lower-case hex SHA-256 of a text.
pub(crate) fn sha256_hex(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// The digest of a resource's state: its schema with sorted keys and the aggregate's
/// `state_version`, the two things that change what a stored state means.
///
/// The events the resource handles are left out on purpose: a new action (a new event key)
/// cannot change a state folded from events written before it existed, so a deploy that adds
/// one must not mark every stored state stale. A change that does alter the meaning of stored
/// state without touching its schema (a handler that folds differently, a new event schema
/// version read another way, a removed handler) is what `state_version` is bumped for.
pub(crate) fn state_digest(schema: &Value, state_version: u32) -> String {
    let mut text = String::new();
    canonical(schema, &mut text);
    let _ = write!(text, "\nstate_version={state_version}");
    sha256_hex(&text)
}

/// Writes JSON with object keys sorted, whatever the map's own order.
pub(crate) fn canonical(value: &Value, out: &mut String) {
    write_canonical(value, out, false);
}

/// [`canonical`] leaving out object fields whose value is null, as a payload's omitted `Option`
/// fields are.
pub(crate) fn canonical_payload(value: &Value, out: &mut String) {
    write_canonical(value, out, true);
}

fn write_canonical(value: &Value, out: &mut String, skip_nulls: bool) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<_> = map
                .iter()
                .filter(|(_, v)| !(skip_nulls && v.is_null()))
                .map(|(k, _)| k)
                .collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out, skip_nulls);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out, skip_nulls);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}
