//! The policy cases can fail: run with deliberately broken engines on the in-memory backend, the
//! cases that guard each broken promise must panic, and with the sound engine they must pass.

use std::sync::Arc;
use std::time::Duration;

use fluvius_conformance::cases::policies;
use fluvius_conformance::policy::{OwnerPolicy, PolicyFlaw};
use fluvius_core::{Backend, BoxFuture, PolicyEngine};
use fluvius_memory::MemBackend;

type Case = fn(Arc<dyn Backend>, Arc<dyn PolicyEngine>) -> BoxFuture<'static, ()>;

const CASES: [(&str, Case); 3] = [
    ("commands_obey_policies", |b, e| {
        Box::pin(policies::commands_obey_policies_with(b, e))
    }),
    ("reads_hide_what_policies_hide", |b, e| {
        Box::pin(policies::reads_hide_what_policies_hide_with(b, e))
    }),
    ("find_sees_only_visible_roots", |b, e| {
        Box::pin(policies::find_sees_only_visible_roots_with(b, e))
    }),
];

/// The names of the cases that fail with `engine`.
async fn failing(engine: OwnerPolicy) -> Vec<&'static str> {
    let mut failed = Vec::new();
    for (name, case) in CASES {
        let backend: Arc<dyn Backend> = Arc::new(MemBackend::new());
        let run = tokio::spawn(case(backend, Arc::new(engine.clone())));
        let passed = matches!(
            tokio::time::timeout(Duration::from_secs(60), run).await,
            Ok(Ok(()))
        );
        if !passed {
            failed.push(name);
        }
    }
    failed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_broken_engine_is_caught() {
    let expectations: [(PolicyFlaw, &[&str]); 3] = [
        (
            PolicyFlaw::IgnoresDenials,
            &["commands_obey_policies", "reads_hide_what_policies_hide"],
        ),
        (
            PolicyFlaw::ForgetsFindFilter,
            &["find_sees_only_visible_roots"],
        ),
        (PolicyFlaw::IgnoresForbids, &["commands_obey_policies"]),
    ];
    assert!(
        failing(OwnerPolicy::new()).await.is_empty(),
        "the sound engine fails a case"
    );
    std::panic::set_hook(Box::new(|_| {}));
    let mut results = Vec::new();
    for (flaw, _) in &expectations {
        results.push(failing(OwnerPolicy::flawed(*flaw)).await);
    }
    drop(std::panic::take_hook());
    for ((flaw, expected), failed) in expectations.iter().zip(results) {
        let missed: Vec<_> = expected.iter().filter(|c| !failed.contains(c)).collect();
        assert!(
            missed.is_empty(),
            "{flaw:?}: these cases passed with a broken engine: {missed:?} (failed: {failed:?})"
        );
    }
}
