//! Stored events as this build reads them, for readers of events rather than state: subscribers,
//! projections, exports. The same decode path the folds use (see [`crate::upcast`]).

use crate::error::Error;
use crate::event::EventEnvelope;
use crate::log::{LogCursor, LogPage};

use super::Domain;

impl Domain {
    /// Events read from the store, in the current shape of this domain's code: events of its
    /// namespace go through their resource's upcasters
    /// ([`ResourceDescriptor::upcast_envelopes`](crate::ResourceDescriptor::upcast_envelopes)),
    /// events of other namespaces pass unchanged. An event of this namespace whose resource or
    /// key this build does not know is an [`Error::Decode`] naming it.
    pub fn upcast_events(&self, events: Vec<EventEnvelope>) -> Result<Vec<EventEnvelope>, Error> {
        let mut out = Vec::with_capacity(events.len());
        for event in events {
            out.extend(self.upcast_event(event)?);
        }
        Ok(out)
    }

    /// One stored event in the current shape (several when a `#[retired]` function splits it).
    pub fn upcast_event(&self, event: EventEnvelope) -> Result<Vec<EventEnvelope>, Error> {
        if event.namespace != self.inner.namespace {
            return Ok(vec![event]);
        }
        let entry = self
            .inner
            .resources
            .get(event.resource.as_str())
            .ok_or_else(|| Error::Decode {
                what: format!("event `{}` of `{}`", event.evt_key, event.resource),
                message: format!(
                    "domain `{}` has no resource `{}`",
                    self.inner.namespace, event.resource
                ),
            })?;
        entry.descriptor.upcast_envelopes(vec![event])
    }

    /// A page of the global log with every event in the current shape; an event read as several
    /// repeats its cursor, so the page's `events` and `cursors` stay in step.
    pub fn upcast_page(&self, page: LogPage) -> Result<LogPage, Error> {
        let LogPage {
            events,
            cursors,
            next,
            caught_up,
            ..
        } = page;
        let mut entries: Vec<(LogCursor, EventEnvelope)> = Vec::with_capacity(events.len());
        for (cursor, event) in cursors.into_iter().zip(events) {
            for current in self.upcast_event(event)? {
                entries.push((cursor, current));
            }
        }
        Ok(LogPage::new(entries, next, caught_up))
    }
}
