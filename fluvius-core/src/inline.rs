//! Inline projections: a read model kept in the command's own commit, one row per stream of a
//! resource, folded from that stream's events only.
//!
//! A projection's row is keyed by the stream it folds, and its fold sees that stream's events and
//! nothing else: it has no way to write another stream's row. That is the whole point. A
//! projection that gathered several streams into one row (a customer's total over their
//! accounts) would be written by commands on different streams whose commits do not conflict
//! with each other, so each would fold its event into a row the other had not seen yet, and one
//! of the two would be lost. Rows keyed by their own stream are written only by commits that
//! hold that stream's version, so two writers of one row always conflict, and the loser decides
//! again on the winner's row. Projections across streams belong on the read side
//! (`fluvius-readside`), fed from the log.
//!
//! ```
//! use fluvius_core::inline::Inline;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Default, Serialize, Deserialize)]
//! struct Statement { deposits: u32, last: Vec<i64> }
//!
//! #[derive(Deserialize)]
//! struct Deposited { amount: i64 }
//!
//! let statement = Inline::<Statement>::new("statement", "account")
//!     .on("deposit-made", |row, data: Deposited, _event| {
//!         row.deposits += 1;
//!         row.last.push(data.amount);
//!         row.last = row.last.split_off(row.last.len().saturating_sub(5));
//!     });
//! # let _ = statement;
//! ```
//!
//! [`DomainBuilder::inline_projection`](crate::DomainBuilder::inline_projection) registers one;
//! [`StateManager::fetch_inline`](crate::StateManager::fetch_inline) reads a row.

use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::backend::StreamKey;
use crate::event::EventEnvelope;

/// An inline projection: its name, the resource whose streams it folds, and its fold.
pub trait InlineProjection: Send + Sync + 'static {
    /// Its name: rows are stored under it.
    fn name(&self) -> &str;

    /// The resource whose streams it folds, one row each.
    fn resource(&self) -> &str;

    /// Folds one event of the row's stream into the row (`Value::Null` before the first). An
    /// error fails the commit it was part of: nothing of it is written.
    fn apply(&self, row: &mut Value, event: &EventEnvelope) -> Result<(), String>;
}

/// A stored row: the stream's version it has folded up to, and the row.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct InlineRow {
    /// The version of the last event folded into it.
    pub version: u64,
    /// The row.
    pub row: Value,
}

impl InlineRow {
    /// A row folded up to `version`.
    pub fn new(version: u64, row: Value) -> InlineRow {
        InlineRow { version, row }
    }
}

/// A row to write with a stream: the projection's name and the row after the commit's events.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct InlineWrite {
    /// The projection.
    pub projection: String,
    /// The stream it belongs to.
    pub key: StreamKey,
    /// The row and the version it is folded up to (the stream's version after the commit).
    pub row: InlineRow,
}

impl InlineWrite {
    /// A row of `projection` for the stream `key`.
    pub fn new(projection: impl Into<String>, key: StreamKey, row: InlineRow) -> InlineWrite {
        InlineWrite {
            projection: projection.into(),
            key,
            row,
        }
    }
}

type Handler<T> = Arc<dyn Fn(&mut T, &EventEnvelope) -> Result<(), String> + Send + Sync>;

/// An inline projection whose rows are a Rust type, with a handler per event key; events of
/// other keys leave the row as it is.
pub struct Inline<T> {
    name: String,
    resource: String,
    handlers: HashMap<String, Handler<T>>,
    _row: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for Inline<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inline")
            .field("name", &self.name)
            .field("resource", &self.resource)
            .field("events", &self.handlers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl<T> Inline<T>
where
    T: Serialize + DeserializeOwned + Default + 'static,
{
    /// The projection `name` over the streams of `resource`.
    pub fn new(name: impl Into<String>, resource: impl Into<String>) -> Inline<T> {
        Inline {
            name: name.into(),
            resource: resource.into(),
            handlers: HashMap::new(),
            _row: PhantomData,
        }
    }

    /// Folds events `evt_key` (their data decoded as `E`, in the current shape) into the row.
    pub fn on<E, F>(mut self, evt_key: impl Into<String>, f: F) -> Inline<T>
    where
        E: DeserializeOwned + 'static,
        F: Fn(&mut T, E, &EventEnvelope) + Send + Sync + 'static,
    {
        let evt_key = evt_key.into();
        let what = evt_key.clone();
        self.handlers.insert(
            evt_key,
            Arc::new(move |row: &mut T, event: &EventEnvelope| {
                let data = E::deserialize(&event.payload)
                    .map_err(|err| format!("event `{what}` does not decode: {err}"))?;
                f(row, data, event);
                Ok(())
            }),
        );
        self
    }
}

impl<T> InlineProjection for Inline<T>
where
    T: Serialize + DeserializeOwned + Default + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn resource(&self) -> &str {
        &self.resource
    }

    fn apply(&self, row: &mut Value, event: &EventEnvelope) -> Result<(), String> {
        let Some(handler) = self.handlers.get(&event.evt_key) else {
            if row.is_null() {
                // A stream's row exists from its first event on, the default until a handled one.
                *row = serde_json::to_value(T::default())
                    .map_err(|err| format!("the row does not encode: {err}"))?;
            }
            return Ok(());
        };
        let mut typed = if row.is_null() {
            T::default()
        } else {
            T::deserialize(&*row).map_err(|err| format!("the stored row does not decode: {err}"))?
        };
        handler(&mut typed, event)?;
        *row = serde_json::to_value(&typed)
            .map_err(|err| format!("the row does not encode: {err}"))?;
        Ok(())
    }
}

impl fmt::Debug for dyn InlineProjection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InlineProjection")
            .field("name", &self.name())
            .field("resource", &self.resource())
            .finish()
    }
}
