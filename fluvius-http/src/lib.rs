//! HTTP for Fluvius domains, on axum 0.8: routes generated from the action metadata of the
//! served domains, an OpenAPI 3.1 document emitted from the same metadata, RFC 9457 problem
//! details for every error, and the request context (user, tenant, roles, correlation) from
//! trusted headers or a verified JWT.
//!
//! ```
//! use fluvius_http::{Auth, HttpApi};
//! # async fn demo(domain: fluvius_core::Domain) -> Result<(), Box<dyn std::error::Error>> {
//! let api = HttpApi::builder()
//!     .domain(domain)
//!     .auth(Auth::TrustedHeaders)
//!     .body_limit(256 * 1024)
//!     .build()?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! # if false {
//! axum::serve(listener, api.router()).await?;
//! # }
//! # Ok(()) }
//! ```
//!
//! The routes, headers, error codes and authentication options are described in the HTTP
//! guide, `docs/http.md`.

// Handlers answer errors as whole HTTP responses; they are built once per failed request.
#![allow(clippy::result_large_err)]

mod api;
mod audit;
mod auth;
mod caller;
mod commands;
mod jwks;
mod meta;
mod middleware;
mod openapi;
mod problem;
mod queries;
mod rejection;
mod units;

pub use api::{
    DEFAULT_BODY_LIMIT, DEFAULT_REQUEST_TIMEOUT, DomainOptions, HttpApi, HttpApiBuilder,
};
pub use auth::{
    Auth, AuthError, ClaimsMapping, JwtAuth, KeySource, MAX_LEEWAY_SECS, Principal, TenantClaim,
};
pub use caller::{REQUEST_ID_HEADER, ROLES_HEADER};
pub use commands::{IDEMPOTENCY_KEY, MAX_IDEMPOTENCY_KEY, NEW, REPLAYED};
pub use jwks::Jwks;
pub use middleware::{CAUSATION_ID, CORRELATION_ID, REQUEST_ID};
pub use problem::{PROBLEM_JSON, Problem, from_error};
pub use units::UNIT;

/// The axum version the router is built with, to serve or compose it.
pub use axum;
/// The JWT library the key and algorithm types come from.
pub use jsonwebtoken;
