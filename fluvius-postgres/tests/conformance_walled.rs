//! The shared backend conformance suite against PostgreSQL behind the row-level security wall:
//! connected as a role the policies apply to, so every statement runs scoped to its tenant (or,
//! for the operations that cross tenants by design, to all of them).

mod support;

use support::fresh_walled_backend;

fluvius_conformance::conformance_tests!(fresh_walled_backend());
