//! An in-memory backend for Fluvius: the event log, state rows and idempotency records of a
//! domain, held in a process's memory.
//!
//! [`MemBackend`] implements [`fluvius_core::Backend`] with the same guarantees as a database
//! backend: a commit is atomic (every stream write of a batch is checked before anything is
//! written), global positions are 1, 2, 3 ... without gaps, and tenants never see each other's
//! data; it keeps an audit log too ([`fluvius_core::AuditStore`]). It is meant for tests, examples and prototypes; nothing survives the process.
//!
//! Clones of a `MemBackend` share one store, so two domains built on clones of the same backend
//! behave like two processes on one database:
//!
//! ```
//! use fluvius_core::{Backend, LogQuery, StreamKey};
//! use fluvius_memory::MemBackend;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), fluvius_core::StoreError> {
//! let backend = MemBackend::new();
//! let other_process = backend.clone();
//! assert_eq!(other_process.name(), "memory");
//!
//! let key = StreamKey {
//!     tenant: String::new(),
//!     namespace: "bank".into(),
//!     resource: "account".into(),
//!     id: "a-1".into(),
//! };
//! assert!(backend.load_state(&key).await?.is_none());
//! let page = other_process.read_log(&LogQuery::from_start()).await?;
//! assert!(page.is_empty() && page.caught_up);
//! # Ok(())
//! # }
//! ```
//!
//! Every call runs synchronously under one `parking_lot` lock, which is never held across an
//! `.await`. Committing one event to a stream and loading a stream's state cost the same whatever
//! the length of the stream.

mod audit;
mod backend;
mod commit;
mod event;
mod find;
mod outbox;
mod refresh;
mod store;

#[cfg(test)]
mod tests;

pub use backend::MemBackend;
