//! The global log as readers see it: an opaque, totally ordered [`LogCursor`], the
//! [`LogQuery`] a reader sends and the [`LogPage`] it gets back (design decision D13).
//!
//! A bare position is not a place in the log: PostgreSQL orders the log by (transaction id,
//! position), so positions go backwards in log order. The cursor carries whatever the backend
//! orders by, compares in log order, and has a stable string form for checkpoints.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::event::EventEnvelope;

/// A place in the global log: just after one event, or the [origin](LogCursor::START).
///
/// Cursors are totally ordered in log order: an event read after another has a greater cursor.
/// Every event has one (the cursor "at" it); a read [after](LogQuery::after) a cursor returns
/// only events whose cursor is greater. So a reader that checkpoints `page.next` (or the cursor of
/// the last event it handled) resumes exactly after it, never skipping or repeating an event.
///
/// The two components are the backend's: the first orders commits (PostgreSQL: the writing
/// transaction's id, `xid8`; memory: always 0), the second is the event's global position. A
/// cursor is meaningful only on the store that issued it. Readers treat it as opaque: compare it,
/// store it as its [string form](LogCursor#string-form), parse it back.
///
/// # String form
///
/// `Display` and `FromStr` (and serde) use 33 characters: the two components as 16 lowercase
/// hex digits each, joined by `-`, e.g. `00000000000002f1-000000000000001c`. The form is stable
/// and its lexicographic order is the cursor order, so it can be stored in a text column and
/// compared there. Anything else is refused with a [`ParseCursorError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct LogCursor {
    tx: u64,
    position: u64,
}

impl LogCursor {
    /// Before every event: a read after it starts at the beginning of the log.
    pub const START: LogCursor = LogCursor { tx: 0, position: 0 };

    /// The origin, [`LogCursor::START`].
    pub const fn origin() -> LogCursor {
        LogCursor::START
    }

    /// A cursor from its components; for backends. `tx` orders commits (0 where position order
    /// is commit order), `position` is the event's global position.
    pub const fn new(tx: u64, position: u64) -> LogCursor {
        LogCursor { tx, position }
    }

    /// The commit-order component; for backends.
    pub const fn tx(self) -> u64 {
        self.tx
    }

    /// The global position of the event this cursor is at (0 for the origin).
    pub const fn position(self) -> u64 {
        self.position
    }

    /// Whether this is the origin.
    pub const fn is_start(self) -> bool {
        self.tx == 0 && self.position == 0
    }
}

impl fmt::Display for LogCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}-{:016x}", self.tx, self.position)
    }
}

/// A string that is not the [string form](LogCursor#string-form) of a log cursor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{input}` is not a log cursor: expected 16 lowercase hex digits, `-`, 16 lowercase hex \
     digits (like `{}`)",
    LogCursor::START
)]
pub struct ParseCursorError {
    input: String,
}

impl ParseCursorError {
    /// The refused input (cut to 64 characters).
    pub fn input(&self) -> &str {
        &self.input
    }
}

impl FromStr for LogCursor {
    type Err = ParseCursorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let refuse = || ParseCursorError {
            input: s.chars().take(64).collect(),
        };
        let hex16 = |part: &str| {
            let valid = part.len() == 16
                && part
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            valid.then(|| u64::from_str_radix(part, 16).ok()).flatten()
        };
        let (tx, position) = s.split_once('-').ok_or_else(refuse)?;
        match (hex16(tx), hex16(position)) {
            (Some(tx), Some(position)) => Ok(LogCursor { tx, position }),
            _ => Err(refuse()),
        }
    }
}

impl Serialize for LogCursor {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for LogCursor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Which events of the log a reader wants. Every field left unset matches every event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogFilter {
    /// Only events of this namespace.
    pub namespace: Option<String>,
    /// Only events of this tenant (`""` is the single-tenant partition).
    pub tenant: Option<String>,
    /// Only events of this resource kind.
    pub resource: Option<String>,
    /// Only events with one of these keys; empty means any key.
    pub evt_keys: Vec<String>,
}

impl LogFilter {
    /// Whether an event passes the filter.
    pub fn matches(&self, event: &EventEnvelope) -> bool {
        self.admits(
            &event.tenant,
            &event.namespace,
            &event.resource,
            &event.evt_key,
        )
    }

    /// Whether an event of this tenant, namespace, resource and key passes the filter (for a
    /// backend that keeps events in a form of its own).
    pub fn admits(&self, tenant: &str, namespace: &str, resource: &str, evt_key: &str) -> bool {
        self.namespace.as_deref().is_none_or(|n| n == namespace)
            && self.tenant.as_deref().is_none_or(|t| t == tenant)
            && self.resource.as_deref().is_none_or(|r| r == resource)
            && (self.evt_keys.is_empty() || self.evt_keys.iter().any(|k| k == evt_key))
    }

    /// Whether the filter lets every event through.
    pub fn is_all(&self) -> bool {
        *self == LogFilter::default()
    }
}

/// One read of the global log: the events after a cursor that pass a filter, at most `limit`.
///
/// ```
/// use fluvius_core::{LogCursor, LogQuery};
///
/// let query = LogQuery::after(LogCursor::START)
///     .limit(100)
///     .namespace("banking")
///     .evt_key("deposit-made")
///     .evt_key("money-withdrawn");
/// assert_eq!(query.limit, 100);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogQuery {
    /// Only events after this cursor.
    pub after: LogCursor,
    /// At most this many events (default [`LogQuery::DEFAULT_LIMIT`]). 0 returns no events but
    /// still says, through `caught_up`, whether some are waiting.
    pub limit: usize,
    /// Which events.
    pub filter: LogFilter,
}

impl LogQuery {
    /// The page size of a query that sets none.
    pub const DEFAULT_LIMIT: usize = 100;

    /// Every event after `cursor`, [`DEFAULT_LIMIT`](LogQuery::DEFAULT_LIMIT) at a time.
    pub fn after(cursor: LogCursor) -> LogQuery {
        LogQuery {
            after: cursor,
            limit: LogQuery::DEFAULT_LIMIT,
            filter: LogFilter::default(),
        }
    }

    /// From the beginning of the log.
    pub fn from_start() -> LogQuery {
        LogQuery::after(LogCursor::START)
    }

    /// At most `limit` events.
    pub fn limit(mut self, limit: usize) -> LogQuery {
        self.limit = limit;
        self
    }

    /// Only events of a namespace.
    pub fn namespace(mut self, namespace: impl Into<String>) -> LogQuery {
        self.filter.namespace = Some(namespace.into());
        self
    }

    /// Only events of a tenant.
    pub fn tenant(mut self, tenant: impl Into<String>) -> LogQuery {
        self.filter.tenant = Some(tenant.into());
        self
    }

    /// Only events of a resource kind.
    pub fn resource(mut self, resource: impl Into<String>) -> LogQuery {
        self.filter.resource = Some(resource.into());
        self
    }

    /// Also events with this key; once any key is given, only events with one of the given keys.
    pub fn evt_key(mut self, evt_key: impl Into<String>) -> LogQuery {
        self.filter.evt_keys.push(evt_key.into());
        self
    }

    /// Replaces the whole filter.
    pub fn filter(mut self, filter: LogFilter) -> LogQuery {
        self.filter = filter;
        self
    }
}

impl Default for LogQuery {
    fn default() -> Self {
        LogQuery::from_start()
    }
}

/// What one read of the log returns.
///
/// * `events` are the matching events after the query's cursor, in log order, at most `limit`;
///   `cursors[i]` is the cursor at `events[i]` (checkpoint it to resume right after that event).
/// * `next` is where the next read continues: every event up to and including `next` has been
///   returned or did not match the filter. It is past the non-matching events the read looked
///   at, so a filtered reader never scans them twice, and it never goes backwards
///   (`next >= query.after`).
/// * `caught_up` is true when no further matching event after `next` was readable when the
///   read ran: wait (poll, or be notified) before reading again. False means there is more right
///   now: read again at once. On PostgreSQL, "readable" excludes events committed above the
///   oldest running transaction (see the backend's docs); they become readable when it ends.
///
/// A reader has passed a write when `page.next >= response.cursor` (see
/// [`Response::cursor`](crate::Response::cursor)).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LogPage {
    /// The events, in log order.
    pub events: Vec<EventEnvelope>,
    /// The cursor at each event, same order and length as `events`.
    pub cursors: Vec<LogCursor>,
    /// Where the next read continues.
    pub next: LogCursor,
    /// Whether nothing more was readable when the read ran.
    pub caught_up: bool,
}

impl LogPage {
    /// A page. `entries` are the events with their cursors, in log order.
    ///
    /// # Panics
    ///
    /// If `next` is before the last entry's cursor: the page would send its reader back.
    pub fn new(
        entries: Vec<(LogCursor, EventEnvelope)>,
        next: LogCursor,
        caught_up: bool,
    ) -> LogPage {
        let (cursors, events): (Vec<_>, Vec<_>) = entries.into_iter().unzip();
        assert!(
            cursors.last().is_none_or(|last| *last <= next),
            "a log page's `next` ({next}) is before its last event"
        );
        LogPage {
            events,
            cursors,
            next,
            caught_up,
        }
    }

    /// The events with their cursors.
    pub fn entries(&self) -> impl ExactSizeIterator<Item = (LogCursor, &EventEnvelope)> {
        self.cursors.iter().copied().zip(&self.events)
    }

    /// Whether the page holds no event.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_tx_then_position() {
        let a = LogCursor::new(7, 20);
        let b = LogCursor::new(8, 3);
        assert!(LogCursor::START < a && a < b);
        assert!(LogCursor::new(7, 21) > a);
        assert_eq!(LogCursor::origin(), LogCursor::START);
        assert!(LogCursor::START.is_start() && !a.is_start());
    }

    #[test]
    fn string_form_round_trips_and_sorts_like_cursors() {
        let cursors = [
            LogCursor::START,
            LogCursor::new(0, 1),
            LogCursor::new(0, u64::MAX),
            LogCursor::new(1, 0),
            LogCursor::new(0x2f1, 0x1c),
            LogCursor::new(u64::MAX, u64::MAX),
        ];
        assert_eq!(cursors[4].to_string(), "00000000000002f1-000000000000001c");
        for pair in cursors.windows(2) {
            assert!(pair[0] < pair[1]);
            assert!(pair[0].to_string() < pair[1].to_string());
        }
        for cursor in cursors {
            assert_eq!(cursor.to_string().parse::<LogCursor>(), Ok(cursor));
            let json = serde_json::to_string(&cursor).unwrap();
            assert_eq!(serde_json::from_str::<LogCursor>(&json).unwrap(), cursor);
        }
    }

    #[test]
    fn garbage_is_refused() {
        for bad in [
            "",
            "-",
            "42",
            "0000000000000000",
            "0000000000000000-",
            "0000000000000000-000000000000000",
            "0000000000000000-00000000000000000",
            "0000000000000000_0000000000000000",
            "000000000000000A-0000000000000000",
            "+000000000000000-0000000000000000",
            "0000000000000000-0000000000000000-",
            " 0000000000000000-0000000000000000",
            "000000000000000g-0000000000000000",
        ] {
            let err = bad.parse::<LogCursor>().expect_err(bad);
            assert_eq!(err.input(), bad);
            assert!(err.to_string().contains("is not a log cursor"), "{err}");
        }
        assert!(serde_json::from_str::<LogCursor>("\"nope\"").is_err());
        assert!(serde_json::from_str::<LogCursor>("12").is_err());
    }

    #[test]
    fn filter_matches_each_field() {
        let key = crate::backend::StreamKey {
            tenant: "t1".into(),
            namespace: "bank".into(),
            resource: "account".into(),
            id: "a".into(),
        };
        let event = EventEnvelope::new(
            &key,
            1,
            "deposit-made",
            1,
            serde_json::Value::Null,
            Default::default(),
            chrono::Utc::now(),
        );
        let q = LogQuery::from_start;
        assert!(q().filter.matches(&event) && q().filter.is_all());
        assert!(q().namespace("bank").filter.matches(&event));
        assert!(!q().namespace("shop").filter.matches(&event));
        assert!(q().tenant("t1").filter.matches(&event));
        assert!(!q().tenant("").filter.matches(&event));
        assert!(q().resource("account").filter.matches(&event));
        assert!(!q().resource("customer").filter.matches(&event));
        assert!(
            q().evt_key("x")
                .evt_key("deposit-made")
                .filter
                .matches(&event)
        );
        assert!(!q().evt_key("x").filter.matches(&event));
    }

    #[test]
    #[should_panic(expected = "before its last event")]
    fn a_page_never_points_back() {
        let key = crate::backend::StreamKey {
            tenant: String::new(),
            namespace: "n".into(),
            resource: "r".into(),
            id: "i".into(),
        };
        let event = EventEnvelope::new(
            &key,
            1,
            "k",
            1,
            serde_json::Value::Null,
            Default::default(),
            chrono::Utc::now(),
        );
        LogPage::new(
            vec![(LogCursor::new(0, 5), event)],
            LogCursor::new(0, 4),
            true,
        );
    }
}

/// The most events [`Backend::log_lag`](crate::Backend::log_lag) counts; past it a reader is
/// "at least this far" behind.
pub const LAG_COUNT_LIMIT: u64 = 100_000;

/// How far a log reader at some cursor is behind, as the backend saw it at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogLag {
    /// Events after the cursor that pass the filter and a read could return now, counted up to
    /// [`LAG_COUNT_LIMIT`].
    pub events: u64,
    /// Whether the count stopped at [`LAG_COUNT_LIMIT`].
    pub at_least: bool,
    /// How long the oldest transaction still running in the store's database has been open:
    /// events committed after it wait until it ends (PostgreSQL's horizon). `None` when none
    /// is running, or when the backend cannot tell.
    pub horizon_age: Option<std::time::Duration>,
}

impl LogLag {
    /// A lag of `events` (capped at [`LAG_COUNT_LIMIT`]) and the horizon's age.
    pub fn new(events: u64, horizon_age: Option<std::time::Duration>) -> LogLag {
        LogLag {
            events: events.min(LAG_COUNT_LIMIT),
            at_least: events >= LAG_COUNT_LIMIT,
            horizon_age,
        }
    }
}
