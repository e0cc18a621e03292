//! The audit log in memory: per (tenant, namespace), the records in id order with the documents
//! filters and sorts read.

use std::collections::BTreeMap;

use fluvius_core::filter::compare_docs;
use fluvius_core::{AuditPage, AuditQuery, AuditRecord, AuditStore, BoxFuture, StoreError};
use serde_json::Value;

use crate::backend::MemBackend;
use crate::store::Store;

/// One stored record and its document.
#[derive(Debug, Clone)]
pub(crate) struct AuditEntry {
    record: AuditRecord,
    doc: Value,
}

/// The records of one tenant in one namespace, by id (the text of the UUID, so the order is the
/// one PostgreSQL's `COLLATE "C"` gives).
pub(crate) type AuditScope = BTreeMap<String, AuditEntry>;

impl Store {
    /// Adds records (a commit's, under its lock; or those of attempts that did not commit).
    pub(crate) fn append_audit(&mut self, records: Vec<AuditRecord>) -> Result<(), StoreError> {
        for record in records {
            let doc = record.to_document()?;
            let scope = (record.tenant.clone(), record.namespace.clone());
            self.audit
                .entry(scope)
                .or_default()
                .insert(record.id.to_string(), AuditEntry { record, doc });
        }
        Ok(())
    }

    /// One page of the records matching a query, and how many match.
    pub(crate) fn query_audit(&self, query: &AuditQuery) -> AuditPage {
        let scope = (query.tenant.clone(), query.namespace.clone());
        let Some(entries) = self.audit.get(&scope) else {
            return AuditPage::default();
        };
        let mut hits: Vec<(&String, &AuditEntry)> = entries
            .iter()
            .filter(|(id, entry)| query.filter.matches(id, &entry.doc))
            .collect();
        if !query.sort.is_empty() {
            hits.sort_by(|a, b| compare_docs(&a.1.doc, a.0, &b.1.doc, b.0, &query.sort));
        }
        let total = hits.len() as u64;
        let records = hits
            .into_iter()
            .skip(query.page.skip())
            .take(query.page.take())
            .map(|(_, entry)| entry.record.clone())
            .collect();
        AuditPage::new(records, total)
    }
}

impl AuditStore for MemBackend {
    fn append_audit(&self, records: Vec<AuditRecord>) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move { self.store().write().append_audit(records) })
    }

    fn query_audit<'a>(
        &'a self,
        query: &'a AuditQuery,
    ) -> BoxFuture<'a, Result<AuditPage, StoreError>> {
        Box::pin(async move { Ok(self.store().read().query_audit(query)) })
    }
}
