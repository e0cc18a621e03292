//! Stale state rows: listing the rows of a resource written with another state digest, and
//! rewriting one in place, guarded by its version, once the domain has refolded it.

use std::ops::Bound::{Excluded, Unbounded};

use fluvius_core::{StaleQuery, StateWrite, StreamKey};

use crate::store::Store;

impl Store {
    /// Replaces a stream's state row with `state` if the row is at `state.version`, keeping
    /// its `created_at`; returns whether it did.
    pub(crate) fn refresh_state(&mut self, key: &StreamKey, mut state: StateWrite) -> bool {
        let Some(row) = self.streams.get_mut(key).and_then(|s| s.state.as_mut()) else {
            return false;
        };
        if row.version != state.version {
            return false;
        }
        state.created_at = row.created_at;
        *row = state;
        true
    }

    /// One page of the stale rows of a resource, across tenants, in (tenant, identifier) order.
    pub(crate) fn stale_states(&self, query: &StaleQuery) -> Vec<StreamKey> {
        let mut scopes: Vec<_> = self
            .index
            .iter()
            .filter(|((_, namespace, resource), _)| {
                *namespace == query.namespace && *resource == query.resource
            })
            .collect();
        scopes.sort_by(|a, b| a.0.0.cmp(&b.0.0));
        let mut found = Vec::new();
        for ((tenant, namespace, resource), ids) in scopes {
            let mut key = StreamKey {
                tenant: tenant.clone(),
                namespace: namespace.clone(),
                resource: resource.clone(),
                id: String::new(),
            };
            // Ids are in order: start right after the last one of the previous page.
            let ids: Box<dyn Iterator<Item = &String>> = match &query.after {
                Some((after, _)) if tenant < after => continue,
                Some((after, id)) if tenant == after => {
                    Box::new(ids.range::<String, _>((Excluded(id), Unbounded)))
                }
                _ => Box::new(ids.iter()),
            };
            for id in ids {
                if found.len() >= query.limit {
                    return found;
                }
                key.id.clone_from(id);
                let stale = self
                    .streams
                    .get(&key)
                    .and_then(|s| s.state.as_ref())
                    .is_some_and(|row| row.digest != query.digest);
                if stale {
                    found.push(key.clone());
                }
            }
        }
        found
    }
}
