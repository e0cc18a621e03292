//! Policy-based, resource-level authorization for Fluvius domains, decided by
//! [Cedar](https://www.cedarpolicy.com) policies.
//!
//! [`CedarEngine`] implements [`fluvius_core::PolicyEngine`]. It is built from the domains'
//! [`PolicyModel`](fluvius_core::PolicyModel)s and Cedar policy text; from the models it
//! generates a Cedar schema, per domain namespace:
//!
//! - an entity type per resource (`banking::account`), its attributes those of the state's
//!   JSON schema that Cedar can hold (integers as `Long`, strings, booleans, sets, nested
//!   records; nullable fields optional);
//! - `banking::User` principals with attributes `id` (the context's user, `""` when
//!   anonymous), `roles` (a set of strings) and `tenant`, members of `banking::Role::"<role>"`
//!   for each role of the context;
//! - an action per command key (`banking::Action::"deposit"`), in the group
//!   `banking::Action::"write"`, and the query actions `fetch`, `fetch-at`, `history` and
//!   `find`, in the group `banking::Action::"read"`; every request's context is
//!   `{tenant: String, exists: Bool}`.
//!
//! Every policy is validated against that schema (Cedar's strict mode) when the engine is built
//! or reloaded, so a policy naming an unknown action, entity type or attribute fails at startup.
//! A policy's id is its `@id("..")` annotation (else the source name, with `#<n>` when a source
//! holds several), and the ids of the deciding policies travel with every decision, and on
//! [`Error::Forbidden`](fluvius_core::Error::Forbidden).
//!
//! Policies that apply to `find` are translated into the JSON filter DSL, so `find` lists
//! exactly the roots a `find` request on each would be allowed; one that does not translate is
//! an error at startup (see `docs/policies.md`).

mod engine;
mod entities;
mod error;
mod schema;
mod slot;
mod translate;

pub use engine::CedarEngine;
pub use error::CedarError;
pub use schema::{READ_GROUP, WRITE_GROUP};
