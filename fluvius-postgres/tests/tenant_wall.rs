//! Row-level security as a second tenant wall: a backend connected as a role the policies apply
//! to sets its tenant per transaction, and keeps tenants apart even with its own tenant
//! predicates removed from every read.

mod support;

use std::sync::Arc;

use fluvius_conformance::cases::tenant_property::tenants_never_see_each_other;
use fluvius_core::Backend;
use fluvius_postgres::{PgBackend, PgError};
use support::{OwnedDb, TestDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn owner_is_not_walled() {
    let db = TestDb::create().await;
    let owner = db.backend().await;
    assert!(!owner.behind_tenant_wall().await.unwrap());
}

/// The tenant property holds with nothing but the policies between the tenants.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn property_holds_with_only_the_wall() {
    let db = TestDb::create().await;
    let walled = db.walled_backend().await.without_tenant_filters();
    let backend: Arc<dyn Backend> = Arc::new(OwnedDb::new(walled, Some(Arc::new(db))));
    tenants_never_see_each_other(backend).await;
}

/// Without the wall and without the filters, the same property fails: the test above proves the
/// wall, not a property that cannot fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn property_fails_without_wall_or_filters() {
    let db = TestDb::create().await;
    let open = db.backend().await.without_tenant_filters();
    let backend: Arc<dyn Backend> = Arc::new(OwnedDb::new(open, Some(Arc::new(db))));
    let outcome = tokio::spawn(tenants_never_see_each_other(backend)).await;
    let err = outcome.expect_err("a tenant sees the other's rows");
    let panic = err.into_panic();
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or_default();
    assert!(message.contains("of the other tenant"), "{message}");
}

/// Behind the wall, a statement that names no tenant sees no row; scoped to a tenant, only that
/// tenant's; and a write of another tenant's row is refused by the policy.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_policies_admit_only_the_transactions_tenant() {
    let db = TestDb::create().await;
    let owner = db.backend().await;
    sqlx::query(
        "INSERT INTO fluvius.states (tenant, namespace, resource, identifier, version, state, \
         digest, deleted, created_at, updated_at) \
         SELECT t, 'ns', 'account', 'x', 1, '{}', 'd', false, now(), now() \
           FROM unnest(ARRAY['a', 'b', '']) AS t",
    )
    .execute(owner.pool())
    .await
    .unwrap();
    let pool = db.walled_pool(2).await;
    let count = "SELECT count(*) FROM fluvius.states";
    let unset: i64 = sqlx::query_scalar(count).fetch_one(&pool).await.unwrap();
    assert_eq!(unset, 0, "no tenant set: no row");

    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SELECT set_config('fluvius.tenant', 't:a', true)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let tenants: Vec<String> = sqlx::query_scalar("SELECT tenant FROM fluvius.states")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(tenants, ["a"]);
    let foreign = sqlx::query("UPDATE fluvius.states SET tenant = 'b' WHERE tenant = 'a'")
        .execute(&mut *tx)
        .await
        .expect_err("a row moved to another tenant breaks the policy");
    assert!(
        foreign.to_string().contains("row-level security"),
        "{foreign}"
    );
    drop(tx);

    // The setting lasted one transaction: on the same connections, nothing is visible again,
    // including the empty tenant a left-over empty setting would otherwise match.
    for _ in 0..4 {
        let after: i64 = sqlx::query_scalar(count).fetch_one(&pool).await.unwrap();
        assert_eq!(after, 0);
    }
}

/// A role that may not migrate connects to a migrated schema; an unmigrated one is named.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn from_migrated_pool_checks_the_schema() {
    let db = TestDb::create().await;
    let err = PgBackend::from_migrated_pool(db.pool(1).await)
        .await
        .expect_err("nothing is migrated");
    assert!(
        matches!(err, PgError::NotMigrated { applied: None, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("fluvius_postgres::migrate"),
        "{err}"
    );
    db.backend().await;
    PgBackend::from_migrated_pool(db.pool(1).await)
        .await
        .expect("migrated");
}

/// Behind the wall the commit queue groups one tenant's calls per transaction: commands of four
/// tenants at once all commit, into their own tenant, grouped.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_tenants_commit_in_groups_of_one_tenant() {
    use fluvius_conformance::domain::{self, Account};
    use fluvius_conformance::support::tenant;
    use serde_json::json;

    let db = TestDb::create().await;
    let walled = db.walled_backend().await;
    let stats = walled.clone();
    let backend: Arc<dyn Backend> = Arc::new(OwnedDb::new(walled, Some(Arc::new(db))));
    let domain = domain::multi_tenant_domain(backend);
    let tenants = ["t0", "t1", "t2", "t3"];
    let (accounts, deposits) = (4, 10);
    let mut tasks = Vec::new();
    for name in tenants {
        for n in 0..accounts {
            let domain = domain.clone();
            tasks.push(tokio::spawn(async move {
                let ctx = tenant(name);
                let id = format!("acct-{n}");
                let open = domain
                    .create_command(
                        "open-account",
                        json!({"owner": name, "initial": 0, "tags": []}),
                        ("account", id.as_str()),
                    )
                    .unwrap()
                    .with_context(ctx.clone());
                domain.process_command(open).await.unwrap();
                for amount in 1..=deposits {
                    let deposit = domain
                        .create_command(
                            "deposit",
                            json!({"amount": amount}),
                            ("account", id.as_str()),
                        )
                        .unwrap()
                        .with_context(ctx.clone());
                    domain.process_command(deposit).await.unwrap();
                }
            }));
        }
    }
    for task in tasks {
        task.await.expect("every command commits");
    }
    for name in tenants {
        let reads = domain.statemgr_for(&tenant(name));
        for n in 0..accounts {
            let account: Account = reads.fetch("account", &format!("acct-{n}")).await.unwrap();
            assert_eq!(account.owner, name);
            assert_eq!(account.balance, deposits * (deposits + 1) / 2);
        }
    }
    let stats = stats.commit_stats();
    let commands = (tenants.len() * accounts * (1 + deposits as usize)) as u64;
    assert_eq!(stats.calls, commands);
    assert!(stats.flushes < stats.calls, "calls were grouped: {stats:?}");
}
