//! The shared backend conformance suite, run against PostgreSQL: one test per case, each on its
//! own throw-away database.

mod support;

use support::fresh_backend;

fluvius_conformance::conformance_tests!(fresh_backend());
