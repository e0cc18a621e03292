//! State queries: filter, sort and page the state rows of one resource kind in memory.

use std::borrow::Cow;
use std::cmp::Ordering;

use fluvius_core::filter::{Filter, Page, SortKey, compare_docs};
use fluvius_core::{StateDoc, StatePage, StateQuery, StateRow, StoreError, StoredState, StreamKey};
use serde_json::Value;

use crate::store::Store;

/// What a state query asks for, borrowed from a [`StateQuery`] (or built directly in tests).
#[derive(Debug, Clone, Copy)]
pub(crate) struct FindSpec<'a> {
    pub(crate) tenant: &'a str,
    pub(crate) namespace: &'a str,
    pub(crate) resource: &'a str,
    pub(crate) filter: &'a Filter,
    pub(crate) sort: &'a [SortKey],
    pub(crate) page: Page,
    pub(crate) include_deleted: bool,
}

impl<'a> From<&'a StateQuery> for FindSpec<'a> {
    fn from(query: &'a StateQuery) -> Self {
        FindSpec {
            tenant: &query.tenant,
            namespace: &query.namespace,
            resource: &query.resource,
            filter: &query.filter,
            sort: &query.sort,
            page: query.page,
            include_deleted: query.include_deleted,
        }
    }
}

/// A row that matched, with the JSON it was judged on (null when no JSON was needed).
struct Hit<'s> {
    id: &'s str,
    json: Cow<'s, Value>,
    stored: &'s StoredState,
    created_by: Option<&'s str>,
}

impl Store {
    /// The state rows of a resource kind that match a query: one page, and how many match.
    pub(crate) fn find(&self, spec: &FindSpec<'_>) -> Result<StatePage, StoreError> {
        let scope = (
            spec.tenant.to_owned(),
            spec.namespace.to_owned(),
            spec.resource.to_owned(),
        );
        let Some(ids) = self.index.get(&scope) else {
            return Ok(StatePage::default());
        };
        let (tenant, namespace, resource) = scope;
        // One key, its id overwritten for each stream, so the lookups allocate nothing.
        let mut probe = StreamKey {
            tenant,
            namespace,
            resource,
            id: String::new(),
        };
        // Only a filter or a sort reads the documents; listing everything needs no JSON.
        let needs_json = !matches!(spec.filter, Filter::All) || !spec.sort.is_empty();
        let mut hits = Vec::new();
        for id in ids {
            probe.id.clear();
            probe.id.push_str(id);
            let Some(stream) = self.streams.get(&probe) else {
                continue;
            };
            let Some(stored) = stream.state.as_ref() else {
                continue;
            };
            if stored.deleted && !spec.include_deleted {
                continue;
            }
            // JSON documents are judged in place; only typed states are serialised.
            let json = match &stored.state {
                _ if !needs_json => Cow::Owned(Value::Null),
                StateDoc::Json(doc) => Cow::Borrowed(doc),
                typed => Cow::Owned(typed.to_json().map_err(|err| {
                    StoreError::internal(
                        format!("the state of stream {probe} cannot be filtered or sorted: {err}"),
                        None,
                    )
                })?),
            };
            if spec.filter.matches(id, &json) {
                let created_by = stream.events.first().and_then(|first| first.user());
                hits.push(Hit {
                    id,
                    json,
                    stored,
                    created_by,
                });
            }
        }
        // The index yields ids in ascending order, which is the order without sort keys.
        if !spec.sort.is_empty() {
            hits.sort_by(|a, b| by_keys(a, b, spec.sort));
        }
        let total = hits.len() as u64;
        let rows = hits
            .into_iter()
            .skip(spec.page.skip())
            .take(spec.page.take())
            .map(|hit| {
                StateRow::new(hit.id.to_owned(), hit.stored.clone())
                    .with_created_by(hit.created_by.map(str::to_owned))
            })
            .collect();
        Ok(StatePage::new(rows, total))
    }
}

fn by_keys(a: &Hit<'_>, b: &Hit<'_>, keys: &[SortKey]) -> Ordering {
    compare_docs(&a.json, a.id, &b.json, b.id, keys)
}
