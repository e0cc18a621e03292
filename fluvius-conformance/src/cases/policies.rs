//! Policies decide who may run which command on which root, and what a read may see: a denied
//! command writes nothing and names the deciding policies, a read of a root the principal may
//! not see is not found, and `find` returns exactly the visible roots, with exact pages and
//! totals, on every backend.
//!
//! The cases drive the [test engine](crate::policy::OwnerPolicy). Each has a `_with` twin that
//! takes the engine, so the sensitivity tests can prove the cases catch a broken one.

use std::sync::Arc;

use fluvius_core::{At, Backend, Context, Domain, Error, PolicyEngine, Query};
use serde_json::{Value, json};

use crate::domain::{self, Account};
use crate::policy::OwnerPolicy;
use crate::support::{
    assert_log_unchanged, assert_no_record, ctx, expect_err, global_log, ids, run_as,
};

fn policed(backend: Arc<dyn Backend>, engine: Arc<dyn PolicyEngine>) -> Domain {
    domain::builder(backend)
        .shared_policy(engine)
        .finish()
        .expect("the test domain with a policy is well formed")
}

fn as_user(user: &str) -> Context {
    ctx().user(user)
}

fn teller() -> Context {
    ctx().user("tess").role("teller")
}

async fn open_as(domain: &Domain, context: &Context, id: &str, owner: &str, tags: &[&str]) {
    let payload = json!({"owner": owner, "initial": 100, "tags": tags});
    run_as(domain, context, "open-account", payload, id)
        .await
        .unwrap_or_else(|err| panic!("opening `{id}` failed: {err}"));
}

fn denied(err: &Error, action: &str, id: &str, policies: &[&str], step: &str) {
    let denial = err
        .denial()
        .unwrap_or_else(|| panic!("{step}: expected a policy denial, got {err:?}"));
    assert_eq!(denial.action, action, "{step}: the denied action");
    assert_eq!(
        (denial.resource.as_str(), denial.id.as_str()),
        ("account", id),
        "{step}: the denied root"
    );
    assert_eq!(denial.policies, policies, "{step}: the deciding policies");
    assert_eq!(err.code(), "forbidden", "{step}: the error code");
    let message = err.to_string();
    assert!(
        message.contains(action) && message.contains(id),
        "{step}: the message names the command and root: {message}"
    );
}

/// Tellers deposit, only the owner withdraws, a frozen account is for admins only; every denial
/// is `Forbidden` with the deciding policy ids and writes nothing (no event, no state change, no
/// idempotency record).
pub async fn commands_obey_policies(backend: Arc<dyn Backend>) {
    commands_obey_policies_with(backend, Arc::new(OwnerPolicy::new())).await;
}

/// [`commands_obey_policies`] with a given engine.
pub async fn commands_obey_policies_with(backend: Arc<dyn Backend>, engine: Arc<dyn PolicyEngine>) {
    let domain = policed(backend.clone(), engine);
    let ann = as_user("ann");
    let err = expect_err(
        run_as(
            &domain,
            &ann,
            "open-account",
            json!({"owner": "ann", "initial": 100, "tags": []}),
            "a1",
        )
        .await,
        "a customer opens an account",
    );
    denied(
        &err,
        "open-account",
        "a1",
        &[],
        "a customer opens an account",
    );
    open_as(&domain, &teller(), "a1", "ann", &[]).await;
    open_as(&domain, &teller(), "frozen", "ann", &["frozen"]).await;

    run_as(&domain, &teller(), "deposit", json!({"amount": 5}), "a1")
        .await
        .expect("a teller deposits");
    run_as(&domain, &ann, "deposit", json!({"amount": 5}), "a1")
        .await
        .expect("the owner deposits");
    run_as(&domain, &ann, "withdraw", json!({"amount": 30}), "a1")
        .await
        .expect("the owner withdraws");
    let before = global_log(&backend).await;

    let err = expect_err(
        run_as(&domain, &teller(), "withdraw", json!({"amount": 1}), "a1").await,
        "a teller withdraws",
    );
    denied(&err, "withdraw", "a1", &[], "a teller withdraws");
    let err = expect_err(
        run_as(
            &domain,
            &as_user("bob"),
            "deposit",
            json!({"amount": 1}),
            "a1",
        )
        .await,
        "a stranger deposits",
    );
    denied(&err, "deposit", "a1", &[], "a stranger deposits");
    let err = expect_err(
        run_as(
            &domain,
            &Context::new(),
            "deposit",
            json!({"amount": 1}),
            "a1",
        )
        .await,
        "an anonymous deposit",
    );
    denied(&err, "deposit", "a1", &[], "an anonymous deposit");
    let err = expect_err(
        run_as(&domain, &ann, "withdraw", json!({"amount": 1}), "frozen").await,
        "the owner withdraws from a frozen account",
    );
    denied(
        &err,
        "withdraw",
        "frozen",
        &["frozen-admin-only"],
        "the owner withdraws from a frozen account",
    );
    let err = expect_err(
        run_as(
            &domain,
            &teller(),
            "deposit",
            json!({"amount": 1}),
            "frozen",
        )
        .await,
        "a teller deposits into a frozen account",
    );
    denied(
        &err,
        "deposit",
        "frozen",
        &["frozen-admin-only"],
        "a teller deposits into a frozen account",
    );

    // A denial with a caller-supplied id records nothing: the same id may run once allowed.
    let command = domain
        .create_command("withdraw", json!({"amount": 2}), ("account", "a1"))
        .expect("routes")
        .with_context(as_user("bob"));
    let id = command.id();
    let command = command.with_id(id);
    expect_err(
        domain.process_command(command).await,
        "a stranger withdraws with an id",
    );
    assert_no_record(&backend, "", id, "a denied command with an id").await;

    // A unit is checked command by command: a denied one fails the whole unit.
    let unit = [
        ("deposit", json!({"amount": 3}), "a1"),
        ("withdraw", json!({"amount": 1}), "a1"),
    ]
    .map(|(key, payload, id)| {
        domain
            .create_command(key, payload, ("account", id))
            .expect("routes")
            .with_context(teller())
    });
    let err = expect_err(
        domain.process_unit(unit).await,
        "a unit whose second command a teller may not run",
    );
    denied(
        err.innermost(),
        "withdraw",
        "a1",
        &[],
        "the unit's denied command",
    );
    assert_eq!(
        err.code(),
        "forbidden",
        "the unit answers with the denial's code"
    );
    assert_log_unchanged(&backend, &before, "the denied commands").await;

    let admin = ctx().user("root").role("admin");
    let state: Account = domain
        .statemgr_for(&admin)
        .fetch("account", "a1")
        .await
        .expect("an admin reads");
    assert_eq!(state.balance, 80, "the denied commands changed the balance");
    run_as(&domain, &admin, "withdraw", json!({"amount": 1}), "frozen")
        .await
        .expect("an admin acts on a frozen account");
    let again = domain
        .create_command("withdraw", json!({"amount": 2}), ("account", "a1"))
        .expect("routes")
        .with_context(ann.clone())
        .with_id(id);
    domain
        .process_command(again)
        .await
        .expect("the owner runs the id a denial left unused");
}

/// `fetch`, `fetch_at` and `history` of a root the principal may not see answer not found,
/// exactly as for a root that does not exist; the owner, a teller and an admin see it.
pub async fn reads_hide_what_policies_hide(backend: Arc<dyn Backend>) {
    reads_hide_what_policies_hide_with(backend, Arc::new(OwnerPolicy::new())).await;
}

/// [`reads_hide_what_policies_hide`] with a given engine.
pub async fn reads_hide_what_policies_hide_with(
    backend: Arc<dyn Backend>,
    engine: Arc<dyn PolicyEngine>,
) {
    let domain = policed(backend, engine);
    open_as(&domain, &teller(), "a1", "ann", &[]).await;
    let not_found = Error::NotFound {
        resource: "account".into(),
        id: "a1".into(),
    };
    for (who, context) in [
        ("a stranger", as_user("bob")),
        ("an anonymous caller", Context::new()),
    ] {
        let reads = domain.statemgr_for(&context);
        let err = expect_err(reads.fetch::<Account>("account", "a1").await, who);
        assert_eq!(err, not_found, "{who} fetches");
        let err = expect_err(reads.fetch_record::<Value>("account", "a1").await, who);
        assert_eq!(err, not_found, "{who} fetches the record");
        let err = expect_err(
            reads
                .fetch_at::<Account>("account", "a1", At::Version(1))
                .await,
            who,
        );
        assert_eq!(err, not_found, "{who} travels in time");
        let err = expect_err(reads.history("account", "a1").await, who);
        assert_eq!(err, not_found, "{who} reads the history");
    }
    for context in [as_user("ann"), teller(), ctx().role("admin")] {
        let reads = domain.statemgr_for(&context);
        let state: Account = reads.fetch("account", "a1").await.expect("allowed fetch");
        assert_eq!(state.owner, "ann");
        let past = reads
            .fetch_at::<Account>("account", "a1", At::Version(1))
            .await
            .expect("allowed fetch_at");
        assert_eq!(past.version, 1);
        assert_eq!(
            reads
                .history("account", "a1")
                .await
                .expect("allowed history")
                .len(),
            1
        );
    }
    // Customers are open to everyone.
    domain
        .process_command(
            domain
                .create_command(
                    "register",
                    json!({"name": "Ann", "tier": "gold", "city": null}),
                    ("customer", "c1"),
                )
                .expect("routes")
                .with_context(Context::new()),
        )
        .await
        .expect("anyone registers a customer");
    domain
        .statemgr_for(&as_user("bob"))
        .fetch_json("customer", "c1")
        .await
        .expect("anyone reads a customer");
}

/// `find` returns exactly the roots the principal may see: exact pages and totals, combined
/// (AND) with the caller's own filter, sorts and pages.
pub async fn find_sees_only_visible_roots(backend: Arc<dyn Backend>) {
    find_sees_only_visible_roots_with(backend, Arc::new(OwnerPolicy::new())).await;
}

/// [`find_sees_only_visible_roots`] with a given engine.
pub async fn find_sees_only_visible_roots_with(
    backend: Arc<dyn Backend>,
    engine: Arc<dyn PolicyEngine>,
) {
    let domain = policed(backend, engine);
    // Interleaved owners, so a page of all rows is never a page of one owner's.
    let mut anns = Vec::new();
    for i in 0..12 {
        let id = format!("acc-{i:02}");
        let owner = if i % 3 == 0 { "ann" } else { "bob" };
        open_as(&domain, &teller(), &id, owner, &[]).await;
        if owner == "ann" {
            anns.push(id);
        }
    }
    let ann = domain.statemgr_for(&as_user("ann"));
    let mut seen = Vec::new();
    for page in 1..=2 {
        let found = ann
            .find::<Account>("account", &Query::new().sort(["id"]).limit(3).page(page))
            .await
            .expect("ann finds");
        assert_eq!(found.page.total, 4, "ann's total counts only her accounts");
        assert_eq!(found.page.pages, 2, "ann's page count");
        let expected = if page == 1 { 3 } else { 1 };
        assert_eq!(
            found.items.len(),
            expected,
            "page {page} of ann's accounts is exact"
        );
        assert!(
            found.items.iter().all(|r| r.state.owner == "ann"),
            "ann sees another's account"
        );
        seen.extend(ids(&found));
    }
    assert_eq!(seen, anns, "ann's pages, in order");

    let filtered = ann
        .find::<Account>(
            "account",
            &Query::new()
                .filter(json!({"id.in": ["acc-00", "acc-01", "acc-03"]}))
                .limit(10),
        )
        .await
        .expect("ann finds with a filter");
    assert_eq!(
        ids(&filtered),
        ["acc-00", "acc-03"],
        "the caller's filter and the policy's, combined"
    );
    assert_eq!(filtered.page.total, 2);
    let negated = ann
        .find::<Value>("account", &Query::new().filter(json!({"owner!eq": "ann"})))
        .await
        .expect("ann asks for the others' accounts");
    assert_eq!(
        (negated.items.len(), negated.page.total),
        (0, 0),
        "a negated filter escapes the policy's"
    );

    let tellers = domain
        .statemgr_for(&teller())
        .find::<Value>("account", &Query::new().limit(5))
        .await
        .expect("a teller finds");
    assert_eq!(
        (tellers.items.len(), tellers.page.total),
        (5, 12),
        "a teller sees every account"
    );
    let nobody = domain
        .statemgr_for(&Context::new())
        .find::<Value>("account", &Query::new())
        .await
        .expect("an anonymous find");
    assert_eq!(
        (nobody.items.len(), nobody.page.total, nobody.page.pages),
        (0, 0, 0),
        "an anonymous caller sees nothing"
    );
}
