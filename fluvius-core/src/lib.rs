//! The core of Fluvius: the domain model, the command pipeline, the backend contract, the filter
//! DSL and the test kit.
//!
//! Users depend on the `fluvius` facade crate, which re-exports everything here together with the
//! `#[aggregate]` macro and the backends. Backends depend on this crate and implement
//! [`Backend`].

pub mod aggregate;
pub mod audit;
pub mod backend;
pub mod command;
pub mod context;
mod domain;
pub mod error;
pub mod event;
pub mod filter;
mod ids;
pub mod inline;
pub mod limits;
pub mod log;
pub mod outbox;
pub mod policy;
mod response;
pub mod signal;
pub mod state;
mod statemgr;
pub mod testkit;
pub mod upcast;

pub use aggregate::{
    ActionCall, ActionDescriptor, ActionOutcome, Aggregate, AggregateDescriptor, ResourceDescriptor,
};
pub use audit::{AuditOutcome, AuditPage, AuditQuery, AuditRecord, AuditStore, Transport};
pub use backend::{
    Backend, BoxFuture, CommitBatch, CommitReceipt, ExpectedVersion, IdempotencyRecord, Snapshot,
    StaleQuery, StateDoc, StatePage, StateQuery, StateRow, StateWrite, StoreError, StoredState,
    StreamKey, StreamRange, StreamWrite,
};
pub use command::{AggRoot, Command, CommandPayload, IntoTarget, NewRoot, Payload};
pub use context::{Clock, Context, ManualClock, SystemClock};
pub use domain::{
    AuditExport, AuditLog, AuditReport, CSV_COLUMNS, Domain, DomainBuilder, DomainStats,
    ExportFormat, ImportEvent, ImportReport, MAX_REFRESH_BATCH, MAX_UNIT_COMMANDS, RefreshOptions,
    RefreshReport, idempotency_key,
};
pub use error::{Detail, DomainError, Error};
pub use event::{EventEnvelope, EventMetadata, RawEvent};
pub use inline::{Inline, InlineProjection, InlineRow, InlineWrite};
pub use limits::{Limit, LimitError};
pub use log::{LAG_COUNT_LIMIT, LogCursor, LogFilter, LogLag, LogPage, LogQuery, ParseCursorError};
pub use outbox::{
    MessageClaim, MessageOrigin, MessageStatus, Outbox, OutboxCounts, OutboxEntry, OutboxMessage,
    OutboxQuery, OutboxStore, Resolution, Settlement,
};
pub use policy::{
    Decision, Denial, Operation, PolicyEngine, PolicyError, PolicyModel, PolicyRequest, Visibility,
    VisibilityRequest,
};
pub use response::Response;
pub use signal::{CommitSignal, CommitWatch};
pub use state::{AnyState, Apply, State};
pub use statemgr::{At, Found, Query, Record, StateManager};
pub use upcast::Upcasted;

/// What `#[aggregate]` expands to refers to; not a public API.
#[doc(hidden)]
pub mod __private;
