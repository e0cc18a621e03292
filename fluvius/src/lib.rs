//! Fluvius: event-sourced, CQRS domains in Rust.
//!
//! Write business logic as actions on aggregates; Fluvius turns each command into immutable
//! events, keeps the event log as the source of truth, derives current state from it, answers
//! queries from the state store, and travels back in time.
//!
//! ```
//! use fluvius::prelude::*;
//! use schemars::JsonSchema;
//! use serde::{Deserialize, Serialize};
//! use serde_json::json;
//!
//! #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
//! pub struct Counter { pub value: i64 }
//!
//! #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
//! pub struct Incremented { pub by: i64 }
//!
//! impl Apply<Incremented> for Counter {
//!     fn apply(&mut self, event: &Incremented) { self.value += event.by; }
//! }
//!
//! pub struct Counting;
//!
//! #[aggregate(resources(counter = Counter))]
//! impl Counting {
//!     /// Creates a counter starting from `start`.
//!     #[action(evt_key = "counter-started", resources = ["counter"], new, key = "start")]
//!     async fn start(&self, start: i64) -> Result<Incremented, DomainError> {
//!         Ok(Incremented { by: start })
//!     }
//!
//!     /// Adds to a counter; the step must be positive.
//!     #[action(evt_key = "counter-incremented", resources = ["counter"])]
//!     async fn increment(&self, counter: &Counter, by: i64) -> Result<Incremented, DomainError> {
//!         if by <= 0 {
//!             return Err(DomainError::new("the step must be positive"));
//!         }
//!         Ok(Incremented { by })
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), fluvius::Error> {
//! let domain = Domain::builder("demo").aggregate(Counting).build()?;
//! let started = domain.execute(Start { start: 5 }, AggRoot::generate("counter")).await?;
//! let id = started.root.id.clone();
//! let cmd = domain.create_command("increment", json!({"by": 2}), ("counter", &id))?;
//! domain.process_command(cmd).await?;
//!
//! let now: Counter = domain.statemgr().fetch("counter", &id).await?;
//! assert_eq!(now.value, 7);
//! let then = domain.statemgr().fetch_at::<Counter>("counter", &id, At::Version(1)).await?;
//! assert_eq!((then.state.value, then.version), (5, 1));
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! | feature  | default | what it adds |
//! |----------|---------|--------------|
//! | `memory` | yes     | `MemBackend`, the in-memory backend, used when no backend is configured |
//! | `postgres` | no    | `PgBackend`, the PostgreSQL backend on sqlx: `.backend(PgBackend::connect(url).await?)` |
//! | `http`   | no      | `fluvius::http`: the HTTP API on axum, `HttpApi::builder().domain(d).build()?.router()` |
//! | `policy` | no      | `fluvius::policy::CedarEngine`: policies in Cedar, validated against a schema generated from the domains |
//! | `readside` | no    | `fluvius::readside`: catch-up subscriptions, projections, event handlers (with `postgres`: their PostgreSQL stores) |
//!
//! # The macros
//!
//! [`aggregate`] goes on an inherent impl block and names the resource kinds with their state
//! types: `#[aggregate(resources(account = Account, customer = Customer))]`. Its methods marked
//! [`action`] become commands:
//!
//! - `#[action(evt_key = "deposit-made", resources = ["account"])]`: the event's wire name and
//!   the resource kinds the action may be applied to. Options: `new` (creates the root; acting on an
//!   existing one is an error), `delete` (the event soft-deletes the root), `key = "..."` (the
//!   command key, kebab-case of the method name by default), `schema_version = N` (default 1),
//!   `payload = Name` (the generated payload type, the method name in UpperCamelCase by default).
//! - Actions are `async fn(&self, ...)`. A `&State` parameter receives the root's current state,
//!   a `&Context` parameter the command's context; every by-value parameter becomes a field of the
//!   generated payload type (unknown fields are rejected).
//! - An action returns `Result<E, _>`, `Result<Option<E>, _>` or `Result<Vec<E>, _>` where `E` is
//!   the event data (`Serialize + Deserialize + JsonSchema`) and the error converts into
//!   [`Error`] (as [`DomainError`] does). The state type must implement [`Apply<E>`](Apply): a
//!   missing transition is a compile error at the action.

pub use fluvius_core::{
    ActionDescriptor, AggRoot, Aggregate, AnyState, Apply, At, Backend, Clock, Command,
    CommandPayload, Context, Domain, DomainBuilder, DomainError, DomainStats, Error, EventEnvelope,
    EventMetadata, Found, ImportEvent, ImportReport, IntoTarget, LogCursor, LogFilter, LogPage,
    LogQuery, MAX_UNIT_COMMANDS, ManualClock, NewRoot, ParseCursorError, Query, Record,
    RefreshOptions, RefreshReport, ResourceDescriptor, Response, State, StateManager, SystemClock,
    backend, filter, limits, log, testkit,
};
pub use fluvius_core::{
    AuditExport, AuditLog, AuditOutcome, AuditRecord, AuditReport, ExportFormat, Transport, audit,
};
pub use fluvius_core::{
    Inline, InlineProjection, InlineRow, MessageOrigin, MessageStatus, Outbox, OutboxEntry,
    OutboxMessage, OutboxQuery, OutboxStore, inline, outbox,
};
pub use fluvius_core::{Upcasted, upcast};
pub use fluvius_macros::{action, aggregate, retired};
#[cfg(feature = "memory")]
pub use fluvius_memory::MemBackend;
#[cfg(feature = "postgres")]
pub use fluvius_postgres::{PgBackend, PgError};

/// The HTTP API: routes generated from the domains, OpenAPI, problem details, auth context.
#[cfg(feature = "http")]
pub use fluvius_http as http;
/// The read side: catch-up subscriptions, projections and event handlers (feature `readside`).
#[cfg(feature = "readside")]
pub use fluvius_readside as readside;

/// Policies: the [`PolicyEngine`](policy::PolicyEngine) trait a domain consults before every
/// command and read, and (feature `policy`) the Cedar engine `CedarEngine`.
#[cfg_attr(
    feature = "policy",
    doc = "",
    doc = "With this build's features: [`CedarEngine`](policy::CedarEngine)."
)]
pub mod policy {
    pub use fluvius_core::policy::*;
    #[cfg(feature = "policy")]
    pub use fluvius_policy::{CedarEngine, CedarError, READ_GROUP, WRITE_GROUP};
}

#[doc(hidden)]
pub use fluvius_core::__private;

#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

/// Builds a domain on the configured backend, or on the in-memory backend when none is
/// configured (with the `memory` feature).
pub trait DomainBuilderExt {
    /// Builds the domain.
    fn build(self) -> Result<Domain, Error>;
}

impl DomainBuilderExt for DomainBuilder {
    fn build(self) -> Result<Domain, Error> {
        #[cfg(feature = "memory")]
        {
            self.build_or_else(|| std::sync::Arc::new(MemBackend::new()))
        }
        #[cfg(not(feature = "memory"))]
        {
            self.finish()
        }
    }
}

pub mod guide;

/// Everything a domain module needs: `use fluvius::prelude::*;`.
pub mod prelude {
    pub use crate::DomainBuilderExt as _;
    pub use crate::{
        AggRoot, Apply, At, Context, Domain, DomainError, Outbox, Query, Response, Upcasted,
        action, aggregate, retired,
    };
}
