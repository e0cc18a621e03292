//! The Cedar engine through a domain's public API: commands allowed and denied with the
//! deciding policy ids, startup errors for policies that do not fit the domain, atomic
//! reloads, and `find` agreeing exactly with the authorizer.

mod support;

use std::sync::Arc;

use fluvius::Error;
use fluvius::prelude::*;
use fluvius_policy::{CedarEngine, CedarError};
use serde_json::json;
use support::{Account, POLICIES, ctx, open, run};

fn engine(policies: &str) -> Result<CedarEngine, CedarError> {
    CedarEngine::new([support::builder().policy_model()], policies)
}

fn domain(engine: Arc<CedarEngine>) -> Domain {
    support::builder()
        .shared_policy(engine)
        .build()
        .expect("the domain builds")
}

fn denial(result: Result<Response, Error>) -> (String, Vec<String>) {
    let err = result.expect_err("the command is denied");
    let denial = err
        .denial()
        .unwrap_or_else(|| panic!("not a denial: {err:?}"));
    (denial.action.clone(), denial.policies.clone())
}

#[tokio::test]
async fn tellers_deposit_only_the_owner_withdraws() {
    let domain = domain(Arc::new(engine(POLICIES).expect("the policies fit")));
    let (teller, ann, bob) = (ctx("tess", &["teller"]), ctx("ann", &[]), ctx("bob", &[]));
    open(&domain, "a1", "ann", &[]).await;

    let deposited = run(&domain, &teller, "deposit", json!({"amount": 5}), "a1").await;
    assert_eq!(deposited.expect("a teller deposits").version, 2);
    run(&domain, &ann, "withdraw", json!({"amount": 5}), "a1")
        .await
        .expect("the owner withdraws");
    assert_eq!(
        denial(run(&domain, &teller, "withdraw", json!({"amount": 5}), "a1").await),
        ("withdraw".into(), vec![])
    );
    assert_eq!(
        denial(run(&domain, &bob, "withdraw", json!({"amount": 5}), "a1").await),
        ("withdraw".into(), vec![])
    );
    assert_eq!(
        denial(run(&domain, &ann, "deposit", json!({"amount": 5}), "a1").await),
        ("deposit".into(), vec![])
    );
    let history = domain
        .statemgr_for(&ann)
        .history("account", "a1")
        .await
        .expect("the owner reads");
    assert_eq!(history.len(), 3, "the denied commands wrote nothing");

    run(&domain, &ctx("root", &["admin"]), "freeze", json!({}), "a1")
        .await
        .expect("an admin freezes");
    let (action, policies) =
        denial(run(&domain, &teller, "deposit", json!({"amount": 5}), "a1").await);
    assert_eq!(
        (action.as_str(), policies),
        ("deposit", vec!["frozen-is-for-admins".to_owned()])
    );
    let (_, policies) = denial(run(&domain, &ann, "withdraw", json!({"amount": 5}), "a1").await);
    assert_eq!(
        policies,
        ["frozen-is-for-admins"],
        "the forbid decides over the owner's permit"
    );
    run(
        &domain,
        &ctx("root", &["admin"]),
        "deposit",
        json!({"amount": 1}),
        "a1",
    )
    .await
    .expect("an admin deposits");

    let err = domain
        .statemgr_for(&teller)
        .fetch::<Account>("account", "a1")
        .await
        .expect_err("frozen is hidden from tellers");
    assert!(err.is_not_found(), "{err:?}");
    let state: Account = domain
        .statemgr_for(&ann)
        .fetch("account", "a1")
        .await
        .expect("the owner reads");
    assert_eq!(state.balance, 101);
}

#[test]
fn policies_that_do_not_fit_the_domain_fail_at_startup() {
    let unknown_action =
        r#"@id("typo") permit(principal, action == bank::Action::"withdrawl", resource);"#;
    match engine(unknown_action) {
        Err(CedarError::Invalid { policy, message }) => {
            assert_eq!(policy, "typo");
            assert!(message.contains("withdrawl"), "{message}");
        }
        other => panic!("an unknown action: {other:?}"),
    }
    let unknown_attribute = r#"@id("attr") permit(principal, action, resource is bank::account) when { resource.ownr == "x" };"#;
    match engine(unknown_attribute) {
        Err(CedarError::Invalid { policy, message }) => {
            assert_eq!(policy, "attr");
            assert!(message.contains("ownr"), "{message}");
        }
        other => panic!("an unknown attribute: {other:?}"),
    }
    let wrong_type = r#"@id("type") permit(principal, action, resource is bank::account) when { resource.balance == "x" };"#;
    assert!(matches!(
        engine(wrong_type),
        Err(CedarError::Invalid { .. })
    ));
    let unguarded = r#"@id("note") permit(principal, action, resource is bank::account) when { resource.note == "x" };"#;
    assert!(
        matches!(engine(unguarded), Err(CedarError::Invalid { .. })),
        "an optional attribute read without `has`"
    );
    let syntax = "permit(principal, action, resource";
    assert!(matches!(engine(syntax), Err(CedarError::Parse { .. })));
    let twice = r#"@id("a") permit(principal, action, resource); @id("a") forbid(principal, action, resource);"#;
    assert_eq!(
        engine(twice).unwrap_err(),
        CedarError::DuplicateId("a".into())
    );

    let untranslatable = r#"@id("pattern") permit(principal, action == bank::Action::"find", resource is bank::account) when { resource.owner like "a*" };"#;
    match engine(untranslatable) {
        Err(err @ CedarError::Untranslatable { .. }) => {
            let message = err.to_string();
            assert!(
                message.contains("pattern") && message.contains("like"),
                "{message}"
            );
        }
        other => panic!("a `like` on find: {other:?}"),
    }
    let fetch_only = r#"permit(principal, action == bank::Action::"fetch", resource is bank::account) when { resource.owner like "a*" };"#;
    engine(fetch_only).expect("what does not translate is fine outside `find`");
}

#[test]
fn an_engine_built_for_another_domain_fails_the_build() {
    let other = fluvius::policy::PolicyModel::new("other");
    let engine = CedarEngine::new([other], "permit(principal, action, resource);").expect("builds");
    let err = support::builder()
        .policy(engine)
        .build()
        .expect_err("the domain is not in the engine");
    assert!(
        matches!(&err, Error::Config(m) if m.contains("`bank`")),
        "{err:?}"
    );
}

#[tokio::test]
async fn reloads_are_atomic_and_validated() {
    let engine = Arc::new(engine(POLICIES).expect("fits"));
    let domain = domain(engine.clone());
    open(&domain, "a1", "ann", &[]).await;
    let bob = ctx("bob", &[]);
    assert!(
        run(&domain, &bob, "deposit", json!({"amount": 1}), "a1")
            .await
            .is_err()
    );

    let more = format!(
        "{POLICIES}\n@id(\"anyone-deposits\") permit(principal, action == bank::Action::\"deposit\", resource);"
    );
    engine.reload(&more).expect("the new policies fit");
    let done = run(&domain, &bob, "deposit", json!({"amount": 1}), "a1")
        .await
        .expect("allowed after the reload");
    assert_eq!(done.version, 2);
    assert!(engine.policy_ids().contains(&"anyone-deposits".to_owned()));

    let broken = r#"permit(principal, action == bank::Action::"nope", resource);"#;
    assert!(engine.reload(broken).is_err());
    run(&domain, &bob, "deposit", json!({"amount": 1}), "a1")
        .await
        .expect("a failed reload keeps the old policies");
}

#[tokio::test]
async fn find_lists_exactly_what_the_authorizer_allows() {
    support::find_agrees_with_the_authorizer(support::builder()).await;
}
