//! The filter DSL on numbers, arrays, booleans and timestamps (decision D8): numbers compare by
//! value, `has` on an array looks for an element, timestamps compare as instants.

use std::sync::Arc;

use fluvius_core::{Backend, Query};
use serde_json::{Value, json};

use super::fixtures::{accounts, seed_accounts};
use crate::domain::{self, Account};
use crate::support::ids;

/// Numeric, array, boolean and timestamp filters over the twenty seeded accounts.
pub async fn filter_values(backend: Arc<dyn Backend>) {
    let domain = domain::domain(backend);
    seed_accounts(&domain).await;
    let all = || 1..=20i64;
    let cases: Vec<(Value, Vec<String>)> = vec![
        (json!({"balance": 50}), accounts([5])),
        (json!({"balance.eq": 50}), accounts([5])),
        (
            json!({"balance.ne": 50}),
            accounts(all().filter(|n| *n != 5)),
        ),
        (json!({"balance.lt": 30}), accounts([1, 2])),
        (json!({"balance.lte": 30}), accounts([1, 2, 3])),
        (json!({"balance.gt": 180}), accounts([19, 20])),
        (json!({"balance.gte": 180}), accounts([18, 19, 20])),
        (json!({"balance.in": [10, 200, 999]}), accounts([1, 20])),
        (json!({"balance.between": [40, 60]}), accounts([4, 5, 6])),
        (
            json!({"balance!between": [40, 60]}),
            accounts(all().filter(|n| !(4..=6).contains(n))),
        ),
        (json!({"tags.has": "five"}), accounts([5, 10, 15, 20])),
        (
            json!({"tags.ov": ["five", "none"]}),
            accounts([5, 10, 15, 20]),
        ),
        (
            json!({"tags.ov": ["five", "even"]}),
            accounts(all().filter(|n| n % 2 == 0 || n % 5 == 0)),
        ),
        (
            json!({"tags!ov": ["even"]}),
            accounts(all().filter(|n| n % 2 == 1)),
        ),
        (json!({"tags.ov": []}), vec![]),
        (
            json!({"tags!has": "even"}),
            accounts(all().filter(|n| n % 2 == 1)),
        ),
        (json!({"owner.has": "ALI"}), accounts([1, 5, 9, 13, 17])),
        (
            json!({"balance.gte": 100, "tags.has": "even"}),
            accounts([10, 12, 14, 16, 18, 20]),
        ),
        (json!({"closed": false}), accounts(all())),
        (json!({"closed": true}), vec![]),
        (json!({"opened_at.null": false}), accounts(all())),
        (
            json!({"opened_at.gt": "2024-01-11T00:00:00Z"}),
            accounts(11..=20),
        ),
        (
            json!({"opened_at.between": ["2024-01-04T00:00:00Z", "2024-01-06T00:00:00Z"]}),
            accounts([3, 4, 5]),
        ),
        // The same instant written with another offset.
        (
            json!({"opened_at.eq": "2024-01-11T01:00:00+01:00"}),
            accounts([10]),
        ),
        (
            json!({"opened_at.lt": "2024-01-03T00:00:00.000001Z"}),
            accounts([1, 2]),
        ),
    ];
    for (filter, want) in cases {
        let query = Query::new().filter(filter.clone());
        let found = domain
            .statemgr()
            .find::<Account>("account", &query)
            .await
            .unwrap_or_else(|err| panic!("filter {filter} failed: {err}"));
        assert_eq!(ids(&found), want, "filter {filter}");
        assert_eq!(
            found.page.total,
            want.len() as u64,
            "filter {filter}: total"
        );
    }
}

/// `find::<serde_json::Value>` returns the same rows and states as the typed query, and as
/// `fetch_json`.
pub async fn find_as_json(backend: Arc<dyn Backend>) {
    let domain = domain::domain(backend);
    seed_accounts(&domain).await;
    let query = Query::new()
        .filter(json!({"tags.has": "five"}))
        .sort(["balance.desc"]);
    let reads = domain.statemgr();
    let typed = reads
        .find::<Account>("account", &query)
        .await
        .expect("typed find");
    let json = reads
        .find::<Value>("account", &query)
        .await
        .expect("JSON find");
    assert_eq!(ids(&json), accounts([20, 15, 10, 5]));
    assert_eq!(ids(&json), ids(&typed));
    assert_eq!(json.page, typed.page);
    for (as_json, as_type) in json.items.iter().zip(&typed.items) {
        assert_eq!(
            as_json.state,
            serde_json::to_value(&as_type.state).expect("state to JSON")
        );
        assert_eq!((as_json.version, as_json.deleted), (1, false));
        let fetched = reads
            .fetch_json("account", &as_json.id)
            .await
            .expect("fetch_json");
        assert_eq!(
            as_json.state, fetched,
            "{}: find and fetch agree",
            as_json.id
        );
    }
    assert_eq!(json.items[0].state["balance"], json!(200));
    assert_eq!(json.items[0].state["tags"], json!(["even", "five"]));
}
