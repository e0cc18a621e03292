//! State queries: filter, sort, soft deletes, paging, and documents kept as they were stored.

use std::any::Any;
use std::sync::Arc;

use fluvius_core::filter::{FieldIndex, FieldKind, Filter, Page, SortKey, parse_sort};
use fluvius_core::{AnyState, ExpectedVersion, StateDoc, StatePage, StoreError, StreamWrite};
use serde_json::{Value, json};

use super::{commit_one, event, key, state};
use crate::MemBackend;
use crate::find::FindSpec;

/// The fields of the test accounts.
fn fields() -> FieldIndex {
    let mut fields = FieldIndex::new();
    fields.insert("balance", FieldKind::Integer);
    fields.insert("owner", FieldKind::String);
    fields
}

fn filter(input: Value) -> Filter {
    Filter::parse(&input, &fields()).expect("a valid filter")
}

fn sort(items: &[&str]) -> Vec<SortKey> {
    let items: Vec<String> = items.iter().map(|s| s.to_string()).collect();
    parse_sort(&items, &fields()).expect("valid sort keys")
}

fn spec<'a>(filter: &'a Filter, sort: &'a [SortKey], page: Page, deleted: bool) -> FindSpec<'a> {
    FindSpec {
        tenant: "t",
        namespace: "bank",
        resource: "account",
        filter,
        sort,
        page,
        include_deleted: deleted,
    }
}

fn page(limit: i64, offset: i64) -> Page {
    Page::new(Some(limit), Some(offset)).expect("a valid page")
}

fn ids(page: &StatePage) -> Vec<&str> {
    page.rows.iter().map(|row| row.id.as_str()).collect()
}

/// Creates stream `id` of tenant `t` with one event and the given state document.
async fn put(backend: &MemBackend, id: &str, doc: StateDoc, deleted: bool) {
    let k = key("t", id);
    let mut row = state(1, json!(null));
    row.state = doc;
    row.deleted = deleted;
    let write = StreamWrite::new(
        k.clone(),
        ExpectedVersion::NoStream,
        vec![event(&k, 1, json!({}))],
        row,
        Vec::new(),
    );
    commit_one(backend, write).await.expect("commit");
}

/// Accounts `a`..`e`; `d` is deleted and `e` has no balance.
async fn accounts() -> MemBackend {
    let backend = MemBackend::new();
    let docs = [
        ("c", json!({ "balance": 50, "owner": "Carol" }), false),
        ("a", json!({ "balance": 10, "owner": "Alice" }), false),
        ("b", json!({ "balance": 50, "owner": "Bob" }), false),
        ("d", json!({ "balance": 70, "owner": "Dan" }), true),
        ("e", json!({ "owner": "Eve" }), false),
    ];
    for (id, doc, deleted) in docs {
        put(&backend, id, StateDoc::Json(doc), deleted).await;
    }
    // Another resource kind and another tenant, which no query below may see.
    put(
        &backend,
        "z",
        StateDoc::Json(json!({ "balance": 1 })),
        false,
    )
    .await;
    let mut other = key("t", "y");
    other.resource = "loan".into();
    let write = StreamWrite::new(
        other.clone(),
        ExpectedVersion::NoStream,
        vec![event(&other, 1, json!({}))],
        state(1, json!({ "balance": 5 })),
        Vec::new(),
    );
    commit_one(&backend, write).await.expect("commit");
    commit_one(&backend, super::write(&key("u", "x"), 0, 1))
        .await
        .expect("commit");
    backend
}

#[tokio::test]
async fn find_filters_and_counts() {
    let backend = accounts().await;
    let rich = filter(json!({ "balance.gte": 50 }));
    let found = backend
        .find_spec(&spec(&rich, &[], Page::default(), false))
        .unwrap();
    assert_eq!(ids(&found), vec!["b", "c"]);
    assert_eq!(found.total, 2);
    let found = backend
        .find_spec(&spec(&rich, &[], Page::default(), true))
        .unwrap();
    assert_eq!(ids(&found), vec!["b", "c", "d"]);
    let row = &found.rows[2].stored;
    assert!(row.deleted);
    assert_eq!(row.version, 1);

    let everything = backend
        .find_spec(&spec(&Filter::All, &[], Page::default(), false))
        .unwrap();
    assert_eq!(ids(&everything), vec!["a", "b", "c", "e", "z"]);
    let owner = filter(json!({ "owner.has": "o" }));
    let found = backend
        .find_spec(&spec(&owner, &[], Page::default(), false))
        .unwrap();
    assert_eq!(ids(&found), vec!["b", "c"]);
}

#[tokio::test]
async fn find_sorts_then_breaks_ties_by_id() {
    let backend = accounts().await;
    let keys = sort(&["balance.desc"]);
    let found = backend
        .find_spec(&spec(&Filter::All, &keys, Page::default(), true))
        .unwrap();
    // Absent values sort first when descending.
    assert_eq!(ids(&found), vec!["e", "d", "b", "c", "a", "z"]);
    let keys = sort(&["balance", "owner.desc"]);
    let found = backend
        .find_spec(&spec(&Filter::All, &keys, Page::default(), false))
        .unwrap();
    assert_eq!(ids(&found), vec!["z", "a", "c", "b", "e"]);
}

#[tokio::test]
async fn find_pages_and_reports_the_total() {
    let backend = accounts().await;
    let keys = sort(&["owner"]);
    let mut pages = Vec::new();
    for offset in [0, 2, 4, 6] {
        let found = backend
            .find_spec(&spec(&Filter::All, &keys, page(2, offset), false))
            .unwrap();
        let ids: Vec<String> = ids(&found).into_iter().map(str::to_owned).collect();
        pages.push((ids, found.total));
    }
    // Absent values sort last when ascending.
    let expected: Vec<(Vec<String>, u64)> = [vec!["a", "b"], vec!["c", "e"], vec!["z"], vec![]]
        .into_iter()
        .map(|ids| (ids.into_iter().map(str::to_owned).collect(), 5))
        .collect();
    assert_eq!(pages, expected);
    let found = backend
        .find_spec(&spec(&Filter::All, &[], page(3, 1), true))
        .unwrap();
    assert_eq!((ids(&found), found.total), (vec!["b", "c", "d"], 6));
}

/// A typed state that serialises by hand.
#[derive(Debug)]
struct Typed(i64);

impl AnyState for Typed {
    fn to_json(&self) -> Result<Value, serde_json::Error> {
        Ok(json!({ "balance": self.0 }))
    }
    fn clone_state(&self) -> Box<dyn AnyState> {
        Box::new(Typed(self.0))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn type_name(&self) -> &'static str {
        "Typed"
    }
}

/// A typed state whose serialisation fails.
#[derive(Debug)]
struct Unreadable;

impl AnyState for Unreadable {
    fn to_json(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_str("{")
    }
    fn clone_state(&self) -> Box<dyn AnyState> {
        Box::new(Unreadable)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn type_name(&self) -> &'static str {
        "Unreadable"
    }
}

#[tokio::test]
async fn find_returns_typed_states_as_stored() {
    let backend = MemBackend::new();
    let typed: Arc<dyn AnyState> = Arc::new(Typed(7));
    put(&backend, "a", StateDoc::Typed(Arc::clone(&typed)), false).await;
    put(&backend, "b", StateDoc::Typed(Arc::new(Typed(3))), false).await;
    let rich = filter(json!({ "balance.gt": 5 }));
    let found = backend
        .find_spec(&spec(&rich, &[], Page::default(), false))
        .unwrap();
    assert_eq!(found.total, 1);
    let StateDoc::Typed(stored) = &found.rows[0].stored.state else {
        panic!("the typed state was re-encoded");
    };
    assert!(Arc::ptr_eq(stored, &typed));
}

#[tokio::test]
async fn a_state_that_cannot_be_serialised_is_an_error() {
    let backend = MemBackend::new();
    put(&backend, "a", StateDoc::Typed(Arc::new(Unreadable)), false).await;
    let rich = filter(json!({ "balance.gt": 5 }));
    let err = backend
        .find_spec(&spec(&rich, &[], Page::default(), false))
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Internal { message: m, .. } if m.contains("t/bank.account/a") && m.contains("Unreadable")),
        "{err}"
    );
    // Listing without filter or sort does not need the JSON.
    let found = backend
        .find_spec(&spec(&Filter::All, &[], Page::default(), false))
        .unwrap();
    assert_eq!(found.total, 1);
}
