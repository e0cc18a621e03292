//! Refused reads: the wrong state type, malformed queries, impossible time-travel targets and a
//! missing tenant are errors that say why, on every backend, never panics.

use std::sync::Arc;

use fluvius_core::filter::FilterError;
use fluvius_core::{At, Backend, Error, Query};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::domain::{self, Account, Customer};
use crate::support::{
    self, assert_log_unchanged, command, expect_err, fails, global_log, open_account,
};

/// Reading a resource as another resource's state type is `WrongStateType`, for every read.
pub async fn wrong_state_type(backend: Arc<dyn Backend>) {
    let domain = domain::domain(backend);
    open_account(&domain, "w-1", "walt", 5).await;
    let wrong = Error::WrongStateType {
        resource: "account".into(),
        requested: std::any::type_name::<Customer>(),
        actual: std::any::type_name::<Account>(),
    };
    let reads = domain.statemgr();
    let err = expect_err(reads.fetch::<Customer>("account", "w-1").await, "fetch");
    assert_eq!(err, wrong, "fetch");
    let err = expect_err(
        reads.fetch_record::<Customer>("account", "w-1").await,
        "fetch_record",
    );
    assert_eq!(err, wrong, "fetch_record");
    let err = expect_err(
        reads
            .fetch_at::<Customer>("account", "w-1", At::Version(1))
            .await,
        "fetch_at",
    );
    assert_eq!(err, wrong, "fetch_at");
    let err = expect_err(
        reads.find::<Customer>("account", &Query::new()).await,
        "find",
    );
    assert_eq!(err, wrong, "find");
    // Not even a missing root hides the mistake.
    let err = expect_err(
        reads.fetch::<Customer>("account", "nobody").await,
        "fetch missing",
    );
    assert_eq!(err, wrong, "fetch of a missing root");

    let err = expect_err(
        reads.fetch::<Account>("planet", "w-1").await,
        "unknown resource",
    );
    assert_eq!(err, Error::UnknownResource("planet".into()));
    let err = expect_err(
        reads.history("planet", "w-1").await,
        "history of unknown resource",
    );
    assert_eq!(err, Error::UnknownResource("planet".into()));

    let state: Account = reads
        .fetch("account", "w-1")
        .await
        .expect("the right type reads");
    assert_eq!(state.balance, 5);
    let json: Value = reads
        .fetch_json("account", "w-1")
        .await
        .expect("JSON always reads");
    assert_eq!(json["owner"], json!("walt"));
}

fn filter_error(err: Error, step: &str) -> FilterError {
    match err {
        Error::InvalidQuery(inner) => inner,
        other => panic!("{step}: expected an invalid query, got {other:?}"),
    }
}

/// Malformed queries are `InvalidQuery`, naming the culprit.
pub async fn invalid_queries(backend: Arc<dyn Backend>) {
    let domain = domain::domain(backend);
    open_account(&domain, "q-1", "quinn", 5).await;
    let reads = domain.statemgr();
    let bad = |query: Query| {
        let reads = reads.clone();
        async move { reads.find::<Account>("account", &query).await }
    };

    let err = expect_err(
        bad(Query::new().filter(json!({"colour.eq": "red"}))).await,
        "field",
    );
    assert_eq!(
        filter_error(err, "unknown field"),
        FilterError::UnknownField {
            field: "colour".into(),
            key: "colour.eq".into()
        }
    );
    let err = expect_err(
        bad(Query::new().filter(json!({"balance.like": 5}))).await,
        "op",
    );
    assert_eq!(
        filter_error(err, "unknown operator"),
        FilterError::UnknownOperator {
            op: "like".into(),
            key: "balance.like".into()
        }
    );
    let err = expect_err(
        bad(Query::new().filter(json!({"balance.gt": "lots"}))).await,
        "value",
    );
    assert!(
        matches!(filter_error(err, "wrong value"), FilterError::InvalidValue { field, .. } if field == "balance"),
        "a string for a number field"
    );
    let err = expect_err(
        bad(Query::new().filter(json!({"balance.between": [1]}))).await,
        "between",
    );
    assert!(matches!(
        filter_error(err, "between"),
        FilterError::InvalidValue { op: "between", .. }
    ));
    let err = expect_err(
        bad(Query::new().filter(json!({"balance.between": [60, 40]}))).await,
        "reversed between",
    );
    assert_eq!(
        err.to_string(),
        "invalid query: filter key `balance.between` expects `[lo, hi]` with lo <= hi, got [60,40]"
    );
    let err = expect_err(
        bad(Query::new().filter(json!({"owner!in": "Ada"}))).await,
        "in without a list",
    );
    assert_eq!(
        err.to_string(),
        "invalid query: filter key `owner!in` expects an array of values, got \"Ada\""
    );
    let err = expect_err(
        bad(Query::new().filter(json!([1, 2]))).await,
        "not an object",
    );
    assert!(matches!(
        filter_error(err, "not an object"),
        FilterError::NotAnObject { .. }
    ));
    let err = expect_err(bad(Query::new().limit(0)).await, "limit 0");
    assert_eq!(
        filter_error(err, "limit 0"),
        FilterError::InvalidLimit { limit: 0 }
    );
    let err = expect_err(bad(Query::new().limit(-3)).await, "negative limit");
    assert_eq!(
        filter_error(err, "negative limit"),
        FilterError::InvalidLimit { limit: -3 }
    );
    let err = expect_err(bad(Query::new().offset(-1)).await, "negative offset");
    assert_eq!(
        filter_error(err, "negative offset"),
        FilterError::InvalidOffset { offset: -1 }
    );
    let err = expect_err(bad(Query::new().sort(["colour.asc"])).await, "sort field");
    assert_eq!(
        filter_error(err, "unknown sort field"),
        FilterError::UnknownSortField {
            field: "colour".into(),
            item: "colour.asc".into()
        }
    );
    let err = expect_err(
        bad(Query::new().sort(["balance.up"])).await,
        "sort direction",
    );
    assert_eq!(
        filter_error(err, "bad sort direction"),
        FilterError::BadSortDirection {
            direction: "up".into(),
            item: "balance.up".into()
        }
    );
    let err = expect_err(bad(Query::new().sort(["tags"])).await, "array sort");
    assert!(matches!(
        filter_error(err, "unsortable"),
        FilterError::UnsortableField { .. }
    ));
}

/// Time travel to version 0 or past the head is `InvalidVersion` with the head; a missing root
/// is `NotFound`.
pub async fn time_travel_errors(backend: Arc<dyn Backend>) {
    let domain = domain::domain(backend);
    open_account(&domain, "tt-1", "tess", 1).await;
    support::deposit(&domain, "tt-1", 1).await;
    let reads = domain.statemgr();
    for requested in [0, 3, 100] {
        let err = expect_err(
            reads
                .fetch_at::<Account>("account", "tt-1", At::Version(requested))
                .await,
            "out of range",
        );
        assert_eq!(
            err,
            Error::InvalidVersion {
                resource: "account".into(),
                id: "tt-1".into(),
                requested,
                head: 2
            },
            "At::Version({requested})"
        );
    }
    let err = expect_err(
        reads
            .fetch_at::<Account>("account", "nobody", At::Version(1))
            .await,
        "missing root",
    );
    assert!(err.is_not_found(), "missing root at version 1: {err:?}");
    let err = expect_err(
        reads
            .fetch_at_json("account", "nobody", At::Time(support::t(10)))
            .await,
        "missing root in time",
    );
    assert!(err.is_not_found(), "missing root at an instant: {err:?}");
}

/// A multi-tenant domain refuses commands and reads that name no tenant, and writes nothing.
pub async fn missing_tenant(backend: Arc<dyn Backend>) {
    let domain = domain::multi_tenant_domain(backend.clone());
    let missing = Error::MissingTenant(domain::NAMESPACE.into());
    let before = global_log(&backend).await;

    let id = Uuid::now_v7();
    let open = command(
        &domain,
        "open-account",
        json!({"owner": "nobody", "initial": 1, "tags": []}),
        ("account", "mt-1"),
    )
    .with_id(id);
    assert_eq!(
        fails(&domain, open).await,
        missing,
        "command without tenant"
    );
    support::assert_no_record(&backend, "", id, "command without tenant").await;
    assert_log_unchanged(&backend, &before, "command without tenant").await;

    let with_tenant = command(
        &domain,
        "open-account",
        json!({"owner": "acme", "initial": 1, "tags": []}),
        ("account", "mt-1"),
    )
    .with_context(support::tenant("acme"));
    support::ok(&domain, with_tenant).await;

    let reads = domain.statemgr();
    let err = expect_err(reads.fetch::<Account>("account", "mt-1").await, "fetch");
    assert_eq!(err, missing, "fetch without tenant");
    let err = expect_err(reads.find::<Value>("account", &Query::new()).await, "find");
    assert_eq!(err, missing, "find without tenant");
    let err = expect_err(reads.history("account", "mt-1").await, "history");
    assert_eq!(err, missing, "history without tenant");
    let err = expect_err(
        reads
            .fetch_at::<Account>("account", "mt-1", At::Version(1))
            .await,
        "fetch_at",
    );
    assert_eq!(err, missing, "fetch_at without tenant");
    let err = expect_err(
        domain
            .execute(crate::domain::Deposit { amount: 1 }, ("account", "mt-1"))
            .await,
        "execute with the default context",
    );
    assert_eq!(err, missing, "execute without tenant");
    let balance = domain
        .statemgr_for(&support::tenant("acme"))
        .fetch::<Account>("account", "mt-1")
        .await
        .expect("the tenant reads its account")
        .balance;
    assert_eq!(balance, 1, "nothing was deposited without a tenant");
}
