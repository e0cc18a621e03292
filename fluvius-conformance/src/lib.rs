//! The backend conformance suite of Fluvius: one set of behaviour tests that every backend runs
//! against itself (design invariant 6), so the in-memory and PostgreSQL stores keep the same
//! promises.
//!
//! The cases drive a small [test domain](domain) (accounts and customers, written with
//! `#[aggregate]`) through the public [`Domain`](fluvius_core::Domain) API, exactly as a user
//! would, and check the invariants: every envelope field, gapless versions and increasing
//! positions; rejected commands of every kind writing nothing; optimistic concurrency within one
//! domain and across two domains on one store; idempotency; replay equal to stored state; time
//! travel; the filter DSL with sorting and pagination; soft deletion; zero and many events per
//! command; typed and JSON commands; tenant walls; units of several commands committed all or
//! none, alone and under concurrency; policies (denied commands writing nothing, hidden reads,
//! exact `find` pages under a [policy engine](policy)). Each case is a
//! `pub async fn(Arc<dyn Backend>)` that panics on failure (see [`cases`]).
//!
//! # Running the suite against a backend
//!
//! In an integration test of the backend crate (with `fluvius-conformance` as a dev-dependency),
//! call [`conformance_tests!`] with an expression that evaluates to a future of a fresh, empty
//! `Arc<dyn Backend>`. It stamps one test per case, named `<topic>::<case>`, each on a
//! multi-threaded tokio runtime with 4 workers, each evaluating the expression anew:
//!
//! ```
//! // fluvius-memory/tests/conformance.rs
//! fluvius_conformance::conformance_tests!(async {
//!     std::sync::Arc::new(fluvius_memory::MemBackend::new()) as std::sync::Arc<dyn fluvius_core::Backend>
//! });
//! ```
//!
//! A database backend creates a throw-away database per test in the expression (it may call
//! functions of the test file, which the stamped modules import with `use super::*`):
//!
//! ```text
//! fluvius_conformance::conformance_tests!(fresh_database_backend());
//! ```
//!
//! Each case asserts exact counts over the global log, so every evaluation of the expression must
//! return an isolated, empty store. Run one topic with `cargo test --test conformance idempotency::`.
//!
//! The crate must be a dependency under its own name (`fluvius_conformance`): the stamped tests
//! reach tokio through it, so the backend's tests need no tokio dependency of their own.
//!
//! [`CASES`] lists the same cases as values, for runners that are not `cargo test`.

use std::sync::Arc;

use fluvius_core::{Backend, BoxFuture};

pub mod cases;
pub mod domain;
pub mod gate;
pub mod ledger;
pub mod policy;
pub mod probe;
pub mod shop;
pub mod support;
pub mod wrap;

/// One conformance case: where it lives and how to run it.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Case {
    /// The topic module under [`cases`], e.g. `idempotency`.
    pub module: &'static str,
    /// The case's function name, e.g. `repeat_returns_first_response`.
    pub name: &'static str,
    /// Runs the case against a fresh, empty backend; the future panics on failure.
    pub run: fn(Arc<dyn Backend>) -> BoxFuture<'static, ()>,
}

/// Expands the case list into [`CASES`]; only `__with_cases!` calls it.
#[doc(hidden)]
#[macro_export]
macro_rules! __cases_const {
    (() $($module:ident { $($case:ident),* $(,)? })*) => {
        /// Every conformance case, in the order [`conformance_tests!`] stamps them.
        pub const CASES: &[$crate::Case] = &[
            $($(
                $crate::Case {
                    module: stringify!($module),
                    name: stringify!($case),
                    run: |backend| ::std::boxed::Box::pin($crate::cases::$module::$case(backend)),
                },
            )*)*
        ];
    };
}

crate::__with_cases!(__cases_const!());

/// Stamps one `#[tokio::test(flavor = "multi_thread", worker_threads = 4)]` per conformance case
/// into the calling test file, each running the case against the backend the given future
/// yields.
///
/// The argument is an expression of type `impl Future<Output = Arc<dyn Backend>>`, evaluated
/// afresh inside each test's runtime, so it may open connections or create a database. See the
/// [crate docs](crate) for an example.
#[macro_export]
macro_rules! conformance_tests {
    ($factory:expr $(,)?) => {
        $crate::__with_cases!(__stamp_tests!($factory));
    };
}

/// Turns the case list into test modules; only `conformance_tests!` calls it.
#[doc(hidden)]
#[macro_export]
macro_rules! __stamp_tests {
    (($factory:expr) $($module:ident { $($case:ident),* $(,)? })*) => {
        $(
            mod $module {
                #[allow(unused_imports)]
                use super::*;

                $(
                    #[$crate::__private::tokio::test(
                        flavor = "multi_thread",
                        worker_threads = 4,
                        crate = "::fluvius_conformance::__private::tokio"
                    )]
                    async fn $case() {
                        let backend: ::std::sync::Arc<dyn $crate::__private::Backend> = $factory.await;
                        $crate::cases::$module::$case(backend).await;
                    }
                )*
            }
        )*
    };
}

/// What the exported macros expand to refers to; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use fluvius_core::Backend;
    pub use tokio;
}
