//! The outbox: messages an action sends, written in the same transaction as its events, and
//! the contract a backend keeps to store them and hand them to relays.
//!
//! An action takes `outbox: &Outbox` and calls [`Outbox::send`]; when the command commits, its
//! messages are committed with its events, and when it does not, they are dropped with it. A
//! relay (`fluvius-readside`'s `OutboxRelay`) claims them through [`OutboxStore`] and delivers
//! each at least once, in order per topic and key: a message waits until every earlier message of
//! its topic and key was delivered or skipped, so a failing message holds up its own key and no
//! other. Keys are those of one tenant and namespace: two tenants' messages never share a key,
//! whatever their keys say. A message that keeps failing is parked with its error and attempts until an operator
//! retries or skips it ([`OutboxStore::resolve_message`]); a skip is recorded.
//!
//! Event handlers send messages too, with [`OutboxStore::send_messages`]: a message's id is
//! derived from what caused it ([`OutboxMessage::caused_by_event`]), so sending it again after a
//! retry or a crash stores it once.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::backend::{BoxFuture, StoreError};
use crate::error::Error;
use crate::event::EventEnvelope;
use crate::limits;

/// The most messages one command may send.
pub const MAX_MESSAGES_PER_COMMAND: usize = 1_000;

/// The most messages one call of [`OutboxStore::claim_messages`] or
/// [`OutboxStore::outbox_entries`] answers.
pub const MAX_OUTBOX_PAGE: usize = 1_000;

/// Where an action puts the messages it sends: taken as `outbox: &Outbox` by an `#[action]`.
///
/// Sending is infallible at the call; a message that cannot be stored (an empty or oversized
/// topic or key, a payload that is not JSON or breaks the [`limits`]) fails the command with
/// [`Error::Unstorable`] or [`Error::Decode`] once the action returns, and nothing is written.
#[derive(Default)]
pub struct Outbox {
    sent: Mutex<Vec<Sent>>,
}

/// A message as the action sent it.
struct Sent {
    topic: String,
    key: Option<String>,
    payload: Result<Value, String>,
}

impl fmt::Debug for Outbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbox")
            .field("messages", &self.sent.lock().len())
            .finish()
    }
}

impl Outbox {
    /// An empty outbox.
    pub fn new() -> Outbox {
        Outbox::default()
    }

    /// Sends `payload` to `topic`, keyed by the command's stream (`resource/id`): messages of
    /// one stream to one topic are delivered in the order they were sent.
    pub fn send<T: Serialize + ?Sized>(&self, topic: impl Into<String>, payload: &T) {
        self.push(topic.into(), None, payload);
    }

    /// Sends `payload` to `topic` under an ordering key of the action's choosing (a customer
    /// id, say): messages of one topic and key are delivered in log order.
    pub fn send_keyed<T: Serialize + ?Sized>(
        &self,
        topic: impl Into<String>,
        key: impl Into<String>,
        payload: &T,
    ) {
        self.push(topic.into(), Some(key.into()), payload);
    }

    fn push<T: Serialize + ?Sized>(&self, topic: String, key: Option<String>, payload: &T) {
        let payload = match limits::check_json("its payload", payload) {
            Ok(()) => serde_json::to_value(payload).map_err(|e| e.to_string()),
            Err(limit) => Err(limit.to_string()),
        };
        self.sent.lock().push(Sent {
            topic,
            key,
            payload,
        });
    }

    /// How many messages were sent so far.
    pub fn len(&self) -> usize {
        self.sent.lock().len()
    }

    /// Whether no message was sent.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The messages sent, stamped for storage: ids derived from the command id (the same on a
    /// retry of the decision), the default key, the origin. Used by the domain.
    pub(crate) fn take(
        &self,
        command: &str,
        origin: &MessageOrigin,
        tenant: &str,
        namespace: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<OutboxMessage>, Error> {
        let sent = std::mem::take(&mut *self.sent.lock());
        if sent.len() > MAX_MESSAGES_PER_COMMAND {
            return Err(Error::Unstorable {
                command: command.to_owned(),
                what: format!("{} messages", sent.len()),
                limit: limits::LimitError::new(
                    limits::Limit::Messages,
                    format!("it sent {}", sent.len()),
                ),
            });
        }
        let Some(command_id) = origin.command_id else {
            return Err(Error::internal("a command's messages need its command id"));
        };
        let stream_key = match (&origin.resource, &origin.identifier) {
            (Some(resource), Some(id)) => format!("{resource}/{id}"),
            _ => String::new(),
        };
        let mut out = Vec::with_capacity(sent.len());
        for (n, message) in sent.into_iter().enumerate() {
            let what = format!("a message to topic `{}`", message.topic);
            let unstorable = |limit| Error::Unstorable {
                command: command.to_owned(),
                what: what.clone(),
                limit,
            };
            limits::check_identifier("its topic", &message.topic).map_err(unstorable)?;
            let key = message.key.unwrap_or_else(|| stream_key.clone());
            limits::check_identifier("its key", &key).map_err(unstorable)?;
            let payload = message.payload.map_err(|message| Error::Decode {
                what: what.clone(),
                message,
            })?;
            out.push(OutboxMessage {
                id: derived_id(command_id, tenant, namespace, "command", n),
                tenant: tenant.to_owned(),
                namespace: namespace.to_owned(),
                topic: message.topic,
                key,
                payload,
                origin: origin.clone(),
                created_at: now,
            });
        }
        Ok(out)
    }
}

/// The `n`-th message id of a cause (a command or an event) in a tenant's namespace: a
/// name-based id, the same each time it is derived, and never that of another tenant's or
/// namespace's message (command ids are unique per tenant only).
fn derived_id(cause: Uuid, tenant: &str, namespace: &str, kind: &str, n: usize) -> Uuid {
    let name = format!(
        "fluvius-message:{}:{tenant}:{}:{namespace}:{kind}:{n}",
        tenant.len(),
        namespace.len()
    );
    Uuid::new_v5(&cause, name.as_bytes())
}

/// What caused a message: the command (or event) and the stream it came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageOrigin {
    /// The command key, for a message an action sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The command id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_id: Option<Uuid>,
    /// The event that caused it, for a message an event handler sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<Uuid>,
    /// The business operation it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<Uuid>,
    /// The acting user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The resource kind of the stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The identifier of the stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    /// The stream's version after the command (or the event's version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
}

impl MessageOrigin {
    /// The origin of a message an event handler sends about `event`.
    pub fn of_event(event: &EventEnvelope) -> MessageOrigin {
        MessageOrigin {
            command: Some(event.metadata.command.clone()),
            command_id: Some(event.metadata.causation_id),
            event_id: Some(event.event_id),
            correlation_id: Some(event.metadata.correlation_id),
            user: event.metadata.user.clone(),
            resource: Some(event.resource.clone()),
            identifier: Some(event.identifier.clone()),
            version: Some(event.version),
        }
    }
}

/// A message to store in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxMessage {
    /// Its id: storing a message whose id is stored already stores nothing. Ids the domain and
    /// [`OutboxMessage::caused_by_event`] derive include the tenant and namespace; a caller that
    /// chooses its own keeps them unique across tenants.
    pub id: Uuid,
    /// The tenant it belongs to (empty in a single-tenant domain).
    pub tenant: String,
    /// The namespace of the domain that sent it.
    pub namespace: String,
    /// Where it goes (`email`, `webhook.orders`): relays claim by topic.
    pub topic: String,
    /// Its ordering key: messages of one topic and key are delivered in log order.
    pub key: String,
    /// The message itself.
    pub payload: Value,
    /// What caused it.
    pub origin: MessageOrigin,
    /// When it was sent.
    pub created_at: DateTime<Utc>,
}

impl OutboxMessage {
    /// Message number `n` that the handler `handler` sends about `event`, keyed by the event's
    /// stream. Its id is derived from the event id, the handler's name and `n`, so a handler
    /// that runs again for the event (at-least-once) stores each message once.
    pub fn caused_by_event(
        event: &EventEnvelope,
        handler: &str,
        n: usize,
        topic: impl Into<String>,
        payload: Value,
    ) -> OutboxMessage {
        OutboxMessage {
            id: derived_id(
                event.event_id,
                &event.tenant,
                &event.namespace,
                &format!("handler:{handler}"),
                n,
            ),
            tenant: event.tenant.clone(),
            namespace: event.namespace.clone(),
            topic: topic.into(),
            key: format!("{}/{}", event.resource, event.identifier),
            payload,
            origin: MessageOrigin::of_event(event),
            created_at: Utc::now(),
        }
    }

    /// The same message under another ordering key.
    pub fn with_key(mut self, key: impl Into<String>) -> OutboxMessage {
        self.key = key.into();
        self
    }

    /// Checks what a backend would refuse to store: an empty or oversized topic or key, a
    /// tenant or namespace that is too long, a payload beyond the [`limits`].
    pub fn check(&self) -> Result<(), limits::LimitError> {
        limits::check_identifier("a message's topic", &self.topic)?;
        limits::check_identifier("a message's key", &self.key)?;
        limits::check_bounded_text("a message's tenant", &self.tenant)?;
        limits::check_identifier("a message's namespace", &self.namespace)?;
        limits::check_json("a message's payload", &self.payload)
    }
}

/// Where a message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum MessageStatus {
    /// Waiting for delivery (or for a retry).
    Pending,
    /// Delivered.
    Delivered,
    /// Failed too often: it and the later messages of its topic and key wait for an operator.
    Parked,
    /// An operator skipped it: it will not be delivered, and the record says who and why.
    Skipped,
}

impl MessageStatus {
    /// Its name in storage and listings: `pending`, `delivered`, `parked`, `skipped`.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Pending => "pending",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Parked => "parked",
            MessageStatus::Skipped => "skipped",
        }
    }

    /// The status a name stands for.
    pub fn parse(name: &str) -> Option<MessageStatus> {
        Some(match name {
            "pending" => MessageStatus::Pending,
            "delivered" => MessageStatus::Delivered,
            "parked" => MessageStatus::Parked,
            "skipped" => MessageStatus::Skipped,
            _ => return None,
        })
    }

    /// Whether it still holds up the later messages of its topic and key.
    pub fn is_open(self) -> bool {
        matches!(self, MessageStatus::Pending | MessageStatus::Parked)
    }
}

impl fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored message and where its delivery stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OutboxEntry {
    /// The message.
    #[serde(flatten)]
    pub message: OutboxMessage,
    /// Its place in the outbox, in the order messages were stored (listings follow it).
    pub seq: u64,
    /// Where it stands.
    pub status: MessageStatus,
    /// How many deliveries were started.
    pub attempts: u32,
    /// The last delivery error.
    pub last_error: Option<String>,
    /// Not claimed again before this instant (a retry's pause).
    pub available_at: DateTime<Utc>,
    /// The relay holding the claim, if one does.
    pub claimed_by: Option<String>,
    /// When that claim ends.
    pub claimed_until: Option<DateTime<Utc>>,
    /// When it was delivered, parked or skipped.
    pub settled_at: Option<DateTime<Utc>>,
    /// For a skipped message: who skipped it and why (`who: why`).
    pub resolution: Option<String>,
}

impl OutboxEntry {
    /// A message just stored at place `seq`: pending, never tried, due at `now`.
    pub fn pending(message: OutboxMessage, seq: u64, now: DateTime<Utc>) -> OutboxEntry {
        OutboxEntry {
            message,
            seq,
            status: MessageStatus::Pending,
            attempts: 0,
            last_error: None,
            available_at: now,
            claimed_by: None,
            claimed_until: None,
            settled_at: None,
            resolution: None,
        }
    }
}

/// A relay's request for due messages.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MessageClaim {
    /// The relay's name, held in the claims.
    pub owner: String,
    /// The topics it delivers; `None` for all.
    pub topics: Option<Vec<String>>,
    /// The one tenant whose messages it delivers; `None` for all tenants.
    pub tenant: Option<String>,
    /// At most this many messages (at most [`MAX_OUTBOX_PAGE`]), one per topic and key.
    pub limit: usize,
    /// How long the claims last.
    pub lease: Duration,
}

impl MessageClaim {
    /// A claim of at most `limit` messages of any topic for `lease`.
    pub fn new(owner: impl Into<String>, limit: usize, lease: Duration) -> MessageClaim {
        MessageClaim {
            owner: owner.into(),
            topics: None,
            tenant: None,
            limit,
            lease,
        }
    }

    /// Only messages of this tenant.
    pub fn tenant(mut self, tenant: impl Into<String>) -> MessageClaim {
        self.tenant = Some(tenant.into());
        self
    }

    /// Only messages of these topics.
    pub fn topics(mut self, topics: Vec<String>) -> MessageClaim {
        self.topics = Some(topics);
        self
    }

    /// Refuses a claim a backend cannot answer: no owner, a limit of 0 or above
    /// [`MAX_OUTBOX_PAGE`], a zero lease, an empty topic list.
    pub fn check(&self) -> Result<(), StoreError> {
        let invalid = |message: String| StoreError::internal(message, None);
        if self.owner.is_empty() {
            return Err(invalid("a message claim names no relay".into()));
        }
        if self.limit == 0 || self.limit > MAX_OUTBOX_PAGE {
            return Err(invalid(format!(
                "a message claim asks for 1 to {MAX_OUTBOX_PAGE} messages, not {}",
                self.limit
            )));
        }
        if self.lease.is_zero() {
            return Err(invalid(
                "a message claim's lease is longer than zero".into(),
            ));
        }
        if self.topics.as_ref().is_some_and(Vec::is_empty) {
            return Err(invalid("a message claim's topic list is empty".into()));
        }
        Ok(())
    }

    /// Whether it covers `message` (its topic and tenant).
    pub fn covers(&self, message: &OutboxMessage) -> bool {
        self.topics
            .as_ref()
            .is_none_or(|topics| topics.contains(&message.topic))
            && self.tenant.as_ref().is_none_or(|t| *t == message.tenant)
    }
}

/// How a claimed delivery ended, as the relay holding the claim reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// It was delivered.
    Delivered,
    /// It failed and is tried again at `at`; its key waits meanwhile.
    Retry {
        /// The error.
        error: String,
        /// When to try again.
        at: DateTime<Utc>,
    },
    /// It failed too often: parked, with its key, until an operator acts.
    Park {
        /// The error.
        error: String,
    },
}

/// What an operator does with a parked message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Deliver it again, its attempts counted from zero.
    Retry,
    /// Never deliver it; its key moves on. Recorded with who and why.
    Skip {
        /// Who skipped it.
        by: String,
        /// Why.
        reason: String,
    },
}

/// Which stored messages to list.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct OutboxQuery {
    /// Only messages in this status.
    pub status: Option<MessageStatus>,
    /// Only messages of this tenant.
    pub tenant: Option<String>,
    /// Only messages of this topic.
    pub topic: Option<String>,
    /// Only messages after this place.
    pub after: u64,
    /// At most this many (0 means [`MAX_OUTBOX_PAGE`]).
    pub limit: usize,
}

impl OutboxQuery {
    /// All messages, in outbox order.
    pub fn all() -> OutboxQuery {
        OutboxQuery::default()
    }

    /// Only messages in `status`.
    pub fn status(mut self, status: MessageStatus) -> OutboxQuery {
        self.status = Some(status);
        self
    }

    /// Only messages of `tenant`.
    pub fn tenant(mut self, tenant: impl Into<String>) -> OutboxQuery {
        self.tenant = Some(tenant.into());
        self
    }

    /// Only messages of `topic`.
    pub fn topic(mut self, topic: impl Into<String>) -> OutboxQuery {
        self.topic = Some(topic.into());
        self
    }

    /// Only messages after `seq`, at most `limit`.
    pub fn page(mut self, after: u64, limit: usize) -> OutboxQuery {
        self.after = after;
        self.limit = limit;
        self
    }

    /// The page size it stands for: `limit`, 0 meaning the largest, capped at the largest.
    pub fn page_size(&self) -> usize {
        match self.limit {
            0 => MAX_OUTBOX_PAGE,
            n => n.min(MAX_OUTBOX_PAGE),
        }
    }

    /// Whether `entry` matches it (its place aside).
    pub fn matches(&self, entry: &OutboxEntry) -> bool {
        self.status.is_none_or(|s| s == entry.status)
            && self
                .tenant
                .as_ref()
                .is_none_or(|t| *t == entry.message.tenant)
            && self
                .topic
                .as_ref()
                .is_none_or(|t| *t == entry.message.topic)
    }
}

/// How many messages wait, for the outbox-pending metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct OutboxCounts {
    /// Messages waiting for delivery or a retry.
    pub pending: u64,
    /// Parked messages.
    pub parked: u64,
}

/// Where a backend keeps the outbox: a backend that has one writes the
/// [`StreamWrite::messages`](crate::StreamWrite::messages) of a commit in its transaction, and
/// answers relays and operators here. Every method works across tenants: relays and operators
/// serve the whole outbox, and filter by tenant where they show it to one.
pub trait OutboxStore: Send + Sync {
    /// Stores messages outside a command (an event handler's); a message whose id is stored
    /// already is left as it is. Answers how many were new.
    fn send_messages(&self, messages: Vec<OutboxMessage>)
    -> BoxFuture<'_, Result<u64, StoreError>>;

    /// Claims due messages for a relay: pending, due, unclaimed (or their claim ended), and the
    /// first open message of their tenant, namespace, topic and key, at most one per key, in
    /// outbox order. A message is claimed only once every message of an earlier transaction is
    /// visible, so the order within a key never changes after the fact. Each claim counts an
    /// attempt.
    fn claim_messages<'a>(
        &'a self,
        claim: &'a MessageClaim,
    ) -> BoxFuture<'a, Result<Vec<OutboxEntry>, StoreError>>;

    /// Records how a claimed delivery ended, if `owner` still holds the claim; answers whether
    /// it did (when not, another relay claimed the message since, and its report counts).
    fn settle_message<'a>(
        &'a self,
        id: Uuid,
        owner: &'a str,
        settlement: Settlement,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// An operator's decision on a parked message; answers whether the message was parked
    /// (nothing changes when it was not).
    fn resolve_message(
        &self,
        id: Uuid,
        resolution: Resolution,
    ) -> BoxFuture<'_, Result<bool, StoreError>>;

    /// Stored messages matching a query, in outbox order.
    fn outbox_entries<'a>(
        &'a self,
        query: &'a OutboxQuery,
    ) -> BoxFuture<'a, Result<Vec<OutboxEntry>, StoreError>>;

    /// One stored message.
    fn outbox_entry(&self, id: Uuid) -> BoxFuture<'_, Result<Option<OutboxEntry>, StoreError>>;

    /// How many messages of `topics` (`None`: all) are pending and parked.
    fn outbox_counts<'a>(
        &'a self,
        topics: Option<&'a [String]>,
    ) -> BoxFuture<'a, Result<OutboxCounts, StoreError>>;

    /// Deletes delivered and skipped messages settled before `before`; answers how many.
    fn purge_messages(&self, before: DateTime<Utc>) -> BoxFuture<'_, Result<u64, StoreError>>;
}
