//! The audit log in memory: per tenant and namespace, the records in the order they arrived.
//!
//! A commit appends its records under the store's lock and does nothing more: the order by id,
//! and the documents filters and sorts read, are made when a query asks for them.

use std::borrow::Cow;

use fluvius_core::filter::{Filter, compare_docs};
use fluvius_core::{AuditPage, AuditQuery, AuditRecord, AuditStore, BoxFuture, StoreError};
use serde_json::Value;

use crate::backend::MemBackend;
use crate::store::{FastMap, Store};

/// The audit records of each tenant (outer key) and namespace (inner key), as they arrived.
pub(crate) type AuditLog = FastMap<String, FastMap<String, Vec<AuditRecord>>>;

impl Store {
    /// Adds records (a commit's, under its lock; or those of attempts that did not commit).
    pub(crate) fn append_audit(&mut self, records: Vec<AuditRecord>) {
        for record in records {
            let namespaces = match self.audit.get_mut(&record.tenant) {
                Some(namespaces) => namespaces,
                None => self.audit.entry(record.tenant.clone()).or_default(),
            };
            let list = match namespaces.get_mut(&record.namespace) {
                Some(list) => list,
                None => namespaces.entry(record.namespace.clone()).or_default(),
            };
            list.push(record);
        }
    }

    /// One page of the records matching a query, and how many match.
    pub(crate) fn query_audit(&self, query: &AuditQuery) -> Result<AuditPage, StoreError> {
        let Some(records) = self
            .audit
            .get(&query.tenant)
            .and_then(|namespaces| namespaces.get(&query.namespace))
        else {
            return Ok(AuditPage::default());
        };
        let needs_docs = !matches!(query.filter, Filter::All) || !query.sort.is_empty();
        let mut hits: Vec<(String, Cow<'_, Value>, &AuditRecord)> = Vec::new();
        for record in records {
            let id = record.id.to_string();
            let doc = if needs_docs {
                Cow::Owned(record.to_document()?)
            } else {
                Cow::Borrowed(&Value::Null)
            };
            if query.filter.matches(&id, &doc) {
                hits.push((id, doc, record));
            }
        }
        // By id without sort keys (a UUID's bytes order it as its lower-case text does, which
        // is PostgreSQL's `COLLATE "C"` order); the sort keys break their ties by id too.
        hits.sort_by(|a, b| match query.sort.is_empty() {
            true => a.2.id.cmp(&b.2.id),
            false => compare_docs(&a.1, &a.0, &b.1, &b.0, &query.sort),
        });
        let total = hits.len() as u64;
        let page = hits
            .into_iter()
            .skip(query.page.skip())
            .take(query.page.take())
            .map(|(_, _, record)| record.clone())
            .collect();
        Ok(AuditPage::new(page, total))
    }
}

impl AuditStore for MemBackend {
    fn append_audit(&self, records: Vec<AuditRecord>) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            self.store().write().append_audit(records);
            Ok(())
        })
    }

    fn query_audit<'a>(
        &'a self,
        query: &'a AuditQuery,
    ) -> BoxFuture<'a, Result<AuditPage, StoreError>> {
        Box::pin(async move { self.store().read().query_audit(query) })
    }
}
