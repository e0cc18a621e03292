//! The shared backend conformance suite, run against the in-memory backend: one test per case,
//! each on a fresh `MemBackend`.

fluvius_conformance::conformance_tests!(async {
    std::sync::Arc::new(fluvius_memory::MemBackend::new())
        as std::sync::Arc<dyn fluvius_core::Backend>
});
