//! The user guide, rendered from docs/ (its code blocks are doctests).

#[doc = include_str!("../../docs/getting-started.md")]
pub mod getting_started {}

#[doc = include_str!("../../docs/aggregates.md")]
pub mod aggregates {}

#[doc = include_str!("../../docs/commands.md")]
pub mod commands {}

#[doc = include_str!("../../docs/units.md")]
pub mod units {}
#[cfg(feature = "memory")]
#[doc = include_str!("../../docs/audit.md")]
pub mod audit {}

#[doc = include_str!("../../docs/queries.md")]
pub mod queries {}

#[doc = include_str!("../../docs/limits.md")]
pub mod limits {}

#[doc = include_str!("../../docs/events.md")]
pub mod events {}

#[doc = include_str!("../../docs/time-travel.md")]
pub mod time_travel {}

#[doc = include_str!("../../docs/testing.md")]
pub mod testing {}

#[doc = include_str!("../../docs/backends.md")]
pub mod backends {}

#[doc = include_str!("../../docs/benchmarks.md")]
pub mod benchmarks {}

#[doc = include_str!("../../docs/decisions.md")]
pub mod decisions {}

#[cfg(feature = "postgres")]
#[doc = include_str!("../../docs/postgres.md")]
pub mod postgres {}

#[cfg(feature = "http")]
#[doc = include_str!("../../docs/http.md")]
pub mod http {}
#[cfg(feature = "readside")]
#[doc = include_str!("../../docs/readside.md")]
pub mod readside {}

#[cfg(feature = "policy")]
#[doc = include_str!("../../docs/policies.md")]
pub mod policies {}
