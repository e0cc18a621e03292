//! The outbox in memory: messages in the order their commits applied them (one lock orders all
//! commits, so that order is final once a message is visible), with the open ones indexed.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, Utc};
use fluvius_core::{
    BoxFuture, MessageClaim, MessageStatus, OutboxCounts, OutboxEntry, OutboxMessage, OutboxQuery,
    OutboxStore, Resolution, Settlement, StoreError,
};
use uuid::Uuid;

use crate::MemBackend;
use crate::store::FastMap;

/// The stored messages by place, their places by id, and the places of the open ones.
#[derive(Debug, Default)]
pub(crate) struct MemOutbox {
    entries: BTreeMap<u64, OutboxEntry>,
    by_id: FastMap<Uuid, u64>,
    open: BTreeSet<u64>,
    last: u64,
}

impl MemOutbox {
    /// Stores the messages whose ids are new; answers how many were.
    pub(crate) fn append(&mut self, messages: Vec<OutboxMessage>, now: DateTime<Utc>) -> u64 {
        let mut added = 0;
        for message in messages {
            if self.by_id.contains_key(&message.id) {
                continue;
            }
            self.last += 1;
            let seq = self.last;
            self.by_id.insert(message.id, seq);
            self.open.insert(seq);
            self.entries
                .insert(seq, OutboxEntry::pending(message, seq, now));
            added += 1;
        }
        added
    }

    fn claim(&mut self, claim: &MessageClaim, now: DateTime<Utc>) -> Vec<OutboxEntry> {
        let until = now
            .checked_add_signed(chrono::Duration::from_std(claim.lease).unwrap_or_default())
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let mut seen: HashSet<(&str, &str, &str, &str)> = HashSet::new();
        let mut picked = Vec::new();
        for seq in &self.open {
            let Some(entry) = self.entries.get(seq) else {
                continue;
            };
            let message = &entry.message;
            if !claim.covers(message) {
                continue;
            }
            // Only the first open message of a key (of one tenant, namespace and topic) may go.
            let key = (
                message.tenant.as_str(),
                message.namespace.as_str(),
                message.topic.as_str(),
                message.key.as_str(),
            );
            if !seen.insert(key) {
                continue;
            }
            let free = entry.claimed_until.is_none_or(|end| end <= now);
            if entry.status == MessageStatus::Pending && entry.available_at <= now && free {
                picked.push(*seq);
                if picked.len() == claim.limit {
                    break;
                }
            }
        }
        picked
            .into_iter()
            .filter_map(|seq| {
                let entry = self.entries.get_mut(&seq)?;
                entry.claimed_by = Some(claim.owner.clone());
                entry.claimed_until = Some(until);
                entry.attempts = entry.attempts.saturating_add(1);
                Some(entry.clone())
            })
            .collect()
    }

    fn settle(
        &mut self,
        id: Uuid,
        owner: &str,
        settlement: Settlement,
        now: DateTime<Utc>,
    ) -> bool {
        let Some(seq) = self.by_id.get(&id).copied() else {
            return false;
        };
        let Some(entry) = self.entries.get_mut(&seq) else {
            return false;
        };
        if entry.status != MessageStatus::Pending || entry.claimed_by.as_deref() != Some(owner) {
            return false;
        }
        entry.claimed_by = None;
        entry.claimed_until = None;
        match settlement {
            Settlement::Delivered => {
                entry.status = MessageStatus::Delivered;
                entry.settled_at = Some(now);
                self.open.remove(&seq);
            }
            Settlement::Retry { error, at } => {
                entry.last_error = Some(error);
                entry.available_at = at;
            }
            Settlement::Park { error } => {
                entry.status = MessageStatus::Parked;
                entry.last_error = Some(error);
                entry.settled_at = Some(now);
            }
        }
        true
    }

    fn resolve(&mut self, id: Uuid, resolution: Resolution, now: DateTime<Utc>) -> bool {
        let Some(seq) = self.by_id.get(&id).copied() else {
            return false;
        };
        let Some(entry) = self.entries.get_mut(&seq) else {
            return false;
        };
        if entry.status != MessageStatus::Parked {
            return false;
        }
        match resolution {
            Resolution::Retry => {
                entry.status = MessageStatus::Pending;
                entry.attempts = 0;
                entry.available_at = now;
                entry.settled_at = None;
            }
            Resolution::Skip { by, reason } => {
                entry.status = MessageStatus::Skipped;
                entry.resolution = Some(format!("{by}: {reason}"));
                entry.settled_at = Some(now);
                self.open.remove(&seq);
            }
        }
        true
    }

    fn list(&self, query: &OutboxQuery) -> Vec<OutboxEntry> {
        let open_only = query.status.is_some_and(MessageStatus::is_open);
        let take = query.page_size();
        let after = query.after.saturating_add(1);
        if open_only {
            return self
                .open
                .range(after..)
                .filter_map(|seq| self.entries.get(seq))
                .filter(|entry| query.matches(entry))
                .take(take)
                .cloned()
                .collect();
        }
        self.entries
            .range(after..)
            .map(|(_, entry)| entry)
            .filter(|entry| query.matches(entry))
            .take(take)
            .cloned()
            .collect()
    }

    fn counts(&self, topics: Option<&[String]>) -> OutboxCounts {
        let mut counts = OutboxCounts::default();
        for entry in self.open.iter().filter_map(|seq| self.entries.get(seq)) {
            if topics.is_some_and(|t| !t.contains(&entry.message.topic)) {
                continue;
            }
            match entry.status {
                MessageStatus::Pending => counts.pending += 1,
                MessageStatus::Parked => counts.parked += 1,
                _ => {}
            }
        }
        counts
    }

    fn purge(&mut self, before: DateTime<Utc>) -> u64 {
        let gone: Vec<u64> = self
            .entries
            .iter()
            .filter(|(_, e)| !e.status.is_open() && e.settled_at.is_some_and(|t| t < before))
            .map(|(seq, _)| *seq)
            .collect();
        for seq in &gone {
            if let Some(entry) = self.entries.remove(seq) {
                self.by_id.remove(&entry.message.id);
            }
        }
        gone.len() as u64
    }
}

impl OutboxStore for MemBackend {
    fn send_messages(
        &self,
        messages: Vec<OutboxMessage>,
    ) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move {
            for message in &messages {
                message.check().map_err(|limit| {
                    StoreError::internal(format!("a message cannot be stored: {limit}"), None)
                })?;
            }
            Ok(self.store().write().outbox.append(messages, Utc::now()))
        })
    }

    fn claim_messages<'a>(
        &'a self,
        claim: &'a MessageClaim,
    ) -> BoxFuture<'a, Result<Vec<OutboxEntry>, StoreError>> {
        Box::pin(async move {
            claim.check()?;
            Ok(self.store().write().outbox.claim(claim, Utc::now()))
        })
    }

    fn settle_message<'a>(
        &'a self,
        id: Uuid,
        owner: &'a str,
        settlement: Settlement,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            Ok(self
                .store()
                .write()
                .outbox
                .settle(id, owner, settlement, Utc::now()))
        })
    }

    fn resolve_message(
        &self,
        id: Uuid,
        resolution: Resolution,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move {
            Ok(self
                .store()
                .write()
                .outbox
                .resolve(id, resolution, Utc::now()))
        })
    }

    fn outbox_entries<'a>(
        &'a self,
        query: &'a OutboxQuery,
    ) -> BoxFuture<'a, Result<Vec<OutboxEntry>, StoreError>> {
        Box::pin(async move { Ok(self.store().read().outbox.list(query)) })
    }

    fn outbox_entry(&self, id: Uuid) -> BoxFuture<'_, Result<Option<OutboxEntry>, StoreError>> {
        Box::pin(async move {
            let store = self.store().read();
            Ok(store
                .outbox
                .by_id
                .get(&id)
                .and_then(|seq| store.outbox.entries.get(seq))
                .cloned())
        })
    }

    fn outbox_counts<'a>(
        &'a self,
        topics: Option<&'a [String]>,
    ) -> BoxFuture<'a, Result<OutboxCounts, StoreError>> {
        Box::pin(async move { Ok(self.store().read().outbox.counts(topics)) })
    }

    fn purge_messages(&self, before: DateTime<Utc>) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move { Ok(self.store().write().outbox.purge(before)) })
    }
}
