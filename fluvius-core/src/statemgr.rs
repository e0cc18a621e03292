//! The read side: current state, queries with the filter DSL, time travel and the audit trail.

use std::any::TypeId;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::backend::{StateDoc, StateQuery, StreamKey, StreamRange};
use crate::context::Context;
use crate::domain::{Domain, ResourceEntry, Visible};
use crate::error::Error;
use crate::event::EventEnvelope;
use crate::filter::{Filter, FilterError, Page, PageInfo, parse_sort};
use crate::limits::{self, LimitError};
use crate::log::{LogPage, LogQuery};
use crate::policy::Operation;
use crate::state::{AnyState, State};

/// A point in a stream's past.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum At {
    /// The state right after this version (1 = after the first event).
    Version(u64),
    /// The state after the last event recorded at or before this instant.
    Time(DateTime<Utc>),
}

/// A query over one resource kind: a filter in the JSON DSL, sort keys and a page.
///
/// ```
/// use fluvius_core::Query;
/// use serde_json::json;
/// let query = Query::new()
///     .filter(json!({"balance.gte": 100, "customer_id!eq": "c-1"}))
///     .sort(["balance.desc"])
///     .limit(20);
/// # let _ = query;
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    pub(crate) filter: Value,
    pub(crate) sort: Vec<String>,
    pub(crate) limit: Option<i64>,
    pub(crate) offset: Option<i64>,
    pub(crate) page: Option<i64>,
}

impl Query {
    /// Everything, first page.
    pub fn new() -> Self {
        Query::default()
    }

    /// Sets the filter (a JSON object in the filter DSL).
    pub fn filter(mut self, filter: Value) -> Self {
        self.filter = filter;
        self
    }

    /// Sets the sort keys: `field`, `field.asc` or `field.desc`.
    pub fn sort<I, S>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.sort = keys.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the page size (default 50, at most 1000).
    pub fn limit(mut self, limit: i64) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Sets how many matches to skip. Give this or [`Query::page`], not both.
    pub fn offset(mut self, offset: i64) -> Self {
        self.offset = Some(offset);
        self
    }

    /// Asks for the 1-based page `page` of `limit` rows: the same as an offset of
    /// `(page - 1) * limit`. Page 0 is an error, and so is giving an offset as well.
    pub fn page(mut self, page: i64) -> Self {
        self.page = Some(page);
        self
    }
}

/// A root's state with its bookkeeping: now ([`StateManager::fetch_record`],
/// [`StateManager::find`]) or at a point in its past ([`StateManager::fetch_at`]), where
/// `version`, `deleted`, `updated_at` and `updated_by` describe the root as it was then.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Record<T> {
    /// The root's identifier.
    pub id: String,
    /// The stream's head version.
    pub version: u64,
    /// Whether the root is soft-deleted.
    pub deleted: bool,
    /// When the first event was recorded.
    pub created_at: DateTime<Utc>,
    /// Who caused the first event (the user of its command's context).
    pub created_by: Option<String>,
    /// When the last event was recorded.
    pub updated_at: DateTime<Utc>,
    /// Who caused the last change.
    pub updated_by: Option<String>,
    /// The state.
    pub state: T,
}

/// One page of query results.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Found<T> {
    /// The matching roots on this page.
    pub items: Vec<Record<T>>,
    /// Totals and page numbers.
    pub page: PageInfo,
}

/// Reads state for one context (its tenant). Made by [`Domain::statemgr`].
#[derive(Debug, Clone)]
pub struct StateManager {
    domain: Domain,
    context: Context,
    include_deleted: bool,
}

impl StateManager {
    pub(crate) fn new(domain: Domain, context: Context) -> Self {
        StateManager {
            domain,
            context,
            include_deleted: false,
        }
    }

    /// Also returns soft-deleted roots.
    pub fn with_deleted(mut self) -> Self {
        self.include_deleted = true;
        self
    }

    fn resource<T: 'static>(&self, name: &str) -> Result<&ResourceEntry, Error> {
        self.domain.inner.check_tenant(&self.context)?;
        limits::check_bounded_text("the tenant", &self.context.tenant).map_err(refused)?;
        let entry = self.domain.inner.resource(name)?;
        if TypeId::of::<T>() != TypeId::of::<Value>()
            && TypeId::of::<T>() != (entry.descriptor.state_type)()
        {
            return Err(Error::WrongStateType {
                resource: name.to_owned(),
                requested: std::any::type_name::<T>(),
                actual: entry.descriptor.state_type_name,
            });
        }
        Ok(entry)
    }

    /// The current state of a root.
    pub async fn fetch<T: State>(&self, resource: &str, id: impl ToString) -> Result<T, Error> {
        Ok(self.current::<T>(resource, id, false).await?.state)
    }

    /// The current state of a root as JSON.
    pub async fn fetch_json(&self, resource: &str, id: impl ToString) -> Result<Value, Error> {
        Ok(self.current::<Value>(resource, id, false).await?.state)
    }

    /// The current state of a root with its version, timestamps and users. `T` is the state
    /// type or `serde_json::Value`.
    pub async fn fetch_record<T: 'static + Clone + serde::de::DeserializeOwned>(
        &self,
        resource: &str,
        id: impl ToString,
    ) -> Result<Record<T>, Error> {
        self.current::<T>(resource, id, true).await
    }

    /// The row of inline projection `projection` for a root (see [`crate::inline`]) and the
    /// version it is folded up to, which is the root's version. Read like
    /// [`fetch`](StateManager::fetch): [`Error::NotFound`] when the root does not exist (or is
    /// deleted, unless [`with_deleted`](StateManager::with_deleted)), or a read policy hides
    /// it. A root that has not been written since the projection was added is folded from its
    /// events for the answer (its row is written with its next command).
    pub async fn fetch_inline<T: serde::de::DeserializeOwned>(
        &self,
        projection: &str,
        id: impl ToString,
    ) -> Result<(T, u64), Error> {
        let id = id.to_string();
        let inner = &self.domain.inner;
        let (entry, folder) = inner
            .resources
            .values()
            .find_map(|entry| {
                let found = entry.inline.iter().find(|p| p.name() == projection)?;
                Some((entry, found.clone()))
            })
            .ok_or_else(|| {
                Error::Config(format!(
                    "domain `{}` has no inline projection `{projection}`",
                    inner.namespace
                ))
            })?;
        let resource = entry.descriptor.name;
        self.resource::<Value>(resource)?;
        check_id(&id)?;
        let key = inner.stream_key(&self.context.tenant, resource, &id);
        let head = inner.load_from(inner.reader(), &key, entry).await?;
        if head.version == 0 || (head.deleted && !self.include_deleted) {
            return Err(Error::not_found(resource, &id));
        }
        inner.authorize_read(&self.context, Operation::Fetch, resource, &id, &head)?;
        let stored = inner.backend.read_inline(projection, &key).await?;
        let (version, mut row) = match stored {
            Some(stored) => (stored.version, stored.row),
            None => (0, Value::Null),
        };
        let mut version = version;
        if version < head.version {
            let missing = inner
                .backend
                .read_stream(&key, StreamRange::after(version).up_to(head.version))
                .await?;
            for event in entry.descriptor.upcast_envelopes(missing)? {
                folder
                    .apply(&mut row, &event)
                    .map_err(|err| Error::Decode {
                        what: format!("inline projection `{projection}` of {resource}/{id}"),
                        message: err,
                    })?;
                version = event.version;
            }
        }
        let row = T::deserialize(row).map_err(|err| Error::Decode {
            what: format!("the row of inline projection `{projection}` of {resource}/{id}"),
            message: err.to_string(),
        })?;
        Ok((row, version))
    }

    /// The current record of a root; its creator only when asked for (one more read).
    async fn current<T: 'static + Clone + serde::de::DeserializeOwned>(
        &self,
        resource: &str,
        id: impl ToString,
        with_creator: bool,
    ) -> Result<Record<T>, Error> {
        let id = id.to_string();
        let entry = self.resource::<T>(resource)?;
        check_id(&id)?;
        let inner = &self.domain.inner;
        let key = inner.stream_key(&self.context.tenant, resource, &id);
        let head = inner.load_from(inner.reader(), &key, entry).await?;
        if head.version == 0 || (head.deleted && !self.include_deleted) {
            return Err(Error::not_found(resource, &id));
        }
        inner.authorize_read(&self.context, Operation::Fetch, resource, &id, &head)?;
        let created_by = if with_creator {
            self.first_event(&key).await?.and_then(|e| e.metadata.user)
        } else {
            None
        };
        Ok(Record {
            state: typed::<T>(&head.state, resource)?,
            id,
            version: head.version,
            deleted: head.deleted,
            created_at: head.created_at.unwrap_or_default(),
            created_by,
            updated_at: head.updated_at.unwrap_or_default(),
            updated_by: head.updated_by,
        })
    }

    /// Asks the policy engine whether a read of a root's past or events may see it, judged by
    /// the root as it is now. A root without events has nothing to hide: the read itself
    /// answers it (not found, or an empty history).
    async fn authorize_root(
        &self,
        entry: &ResourceEntry,
        id: &str,
        operation: Operation<'_>,
    ) -> Result<(), Error> {
        let inner = &self.domain.inner;
        if !self.domain.has_policy() {
            return Ok(());
        }
        check_id(id)?;
        let resource = entry.descriptor.name;
        let key = inner.stream_key(&self.context.tenant, resource, id);
        let head = inner.load_from(inner.reader(), &key, entry).await?;
        if head.version == 0 {
            return Ok(());
        }
        inner.authorize_read(&self.context, operation, resource, id, &head)
    }

    /// The first event of a stream, if it has one.
    async fn first_event(&self, key: &StreamKey) -> Result<Option<EventEnvelope>, Error> {
        let events = self
            .domain
            .inner
            .reader()
            .read_stream(key, StreamRange::all().up_to(1))
            .await?;
        Ok(events.into_iter().next())
    }

    /// The root at a version or an instant, folded from its events: its state then, the version
    /// it was at, whether it was deleted at that version, when it was created and by whom, and
    /// when and by whom it was last changed up to then.
    ///
    /// A root deleted at or before that point is returned (with `deleted: true`), whether or
    /// not the state manager reads [`with_deleted`](StateManager::with_deleted): the past is
    /// read as it was. A root without events, or an instant before its first event, is
    /// [`Error::NotFound`]; version 0 or a version past the head is [`Error::InvalidVersion`].
    pub async fn fetch_at<T: State>(
        &self,
        resource: &str,
        id: impl ToString,
        at: At,
    ) -> Result<Record<T>, Error> {
        let id = id.to_string();
        let entry = self.resource::<T>(resource)?;
        self.authorize_root(entry, &id, Operation::FetchAt).await?;
        let past = self.fold_at(entry, &id, at).await?;
        past.into_record(id, resource)
    }

    /// The root at a version or an instant, its state as JSON (see [`StateManager::fetch_at`]).
    pub async fn fetch_at_json(
        &self,
        resource: &str,
        id: impl ToString,
        at: At,
    ) -> Result<Record<Value>, Error> {
        let id = id.to_string();
        let entry = self.resource::<Value>(resource)?;
        self.authorize_root(entry, &id, Operation::FetchAt).await?;
        let past = self.fold_at(entry, &id, at).await?;
        past.into_record(id, resource)
    }

    async fn fold_at(&self, entry: &ResourceEntry, id: &str, at: At) -> Result<Past, Error> {
        check_id(id)?;
        match at {
            At::Version(v) => limits::check_version("the version", v),
            At::Time(t) => limits::check_time("the instant", t),
        }
        .map_err(refused)?;
        let inner = &self.domain.inner;
        let reader = inner.reader();
        let resource = entry.descriptor.name;
        let key = inner.stream_key(&self.context.tenant, resource, id);
        let mut range = match at {
            At::Version(0) => {
                let head = match reader.load_state(&key).await? {
                    Some(stored) => stored.version,
                    None => return Err(Error::not_found(resource, id)),
                };
                return Err(Error::InvalidVersion {
                    resource: resource.to_owned(),
                    id: id.to_owned(),
                    requested: 0,
                    head,
                });
            }
            At::Version(v) => StreamRange::all().up_to(v),
            At::Time(t) => StreamRange::all().until(t),
        };
        // Start from the latest trustworthy snapshot in range, if the backend keeps them. A
        // snapshot does not say whether the root was deleted by then, so a root deleted now is
        // folded from its first event.
        let mut start = crate::domain::empty_head(&entry.descriptor);
        let mut stale = None;
        if let Some(snapshot) = reader.load_snapshot(&key, range).await? {
            let (version, recorded_at) = (snapshot.version, snapshot.recorded_at);
            let deleted_now = match reader.load_state(&key).await? {
                Some(stored) => stored.deleted,
                None => false,
            };
            match (entry.descriptor.decode_state)(snapshot.state) {
                Ok(state) if snapshot.digest == entry.digest && !deleted_now => {
                    start.version = version;
                    start.state = Arc::from(state);
                    range.after_version = version;
                }
                Ok(_) if snapshot.digest == entry.digest => {}
                _ => stale = Some((version, recorded_at)),
            }
        }
        let events = reader.read_stream(&key, range).await?;
        let reached = events.last().map_or(start.version, |e| e.version);
        if let At::Version(requested) = at
            && reached < requested
        {
            let head = match reader.load_state(&key).await? {
                Some(stored) => stored.version,
                None => return Err(Error::not_found(resource, id)),
            };
            return Err(Error::InvalidVersion {
                resource: resource.to_owned(),
                id: id.to_owned(),
                requested,
                head,
            });
        }
        if reached == 0 {
            return Err(Error::not_found(resource, id));
        }
        let from_snapshot = start.version;
        let first_folded = events
            .first()
            .map(|e| (e.recorded_at, e.metadata.user.clone()));
        let folded_none = events.is_empty();
        let mut head = match stale {
            Some((version, recorded_at)) => {
                inner
                    .fold_past_stale_snapshot(&key, entry, version, recorded_at, &events)
                    .await?
            }
            None => crate::domain::fold_owned(&entry.descriptor, start, events)?,
        };
        let (created_at, created_by) = if from_snapshot == 0 {
            match first_folded {
                Some((at, by)) => (Some(at), by),
                None => (None, None),
            }
        } else {
            // The fold began after the first event: read it, and the snapshot's own event when
            // nothing came after it, for the bookkeeping a snapshot does not keep.
            let first = self.first_event(&key).await?;
            if folded_none {
                let mut at_snapshot = StreamRange::all().up_to(from_snapshot);
                at_snapshot.after_version = from_snapshot - 1;
                if let Some(last) = reader.read_stream(&key, at_snapshot).await?.pop() {
                    head.updated_at = Some(last.recorded_at);
                    head.updated_by = last.metadata.user;
                }
            }
            (
                first.as_ref().map(|e| e.recorded_at),
                first.and_then(|e| e.metadata.user),
            )
        };
        Ok(Past {
            state: head.state,
            version: head.version,
            deleted: head.deleted,
            created_at,
            created_by,
            updated_at: head.updated_at,
            updated_by: head.updated_by,
        })
    }

    /// The events of a root, oldest first, with their metadata: the audit trail. An identifier
    /// without events has an empty history. Events stored in an older shape are returned in the
    /// current one (see [`ResourceDescriptor::upcast_envelopes`](crate::ResourceDescriptor::upcast_envelopes)).
    pub async fn history(
        &self,
        resource: &str,
        id: impl ToString,
    ) -> Result<Vec<EventEnvelope>, Error> {
        let id = id.to_string();
        let entry = self.resource::<Value>(resource)?;
        check_id(&id)?;
        self.authorize_root(entry, &id, Operation::History).await?;
        let key = self
            .domain
            .inner
            .stream_key(&self.context.tenant, resource, &id);
        let events = self
            .domain
            .inner
            .reader()
            .read_stream(&key, StreamRange::all())
            .await?;
        entry.descriptor.upcast_envelopes(events)
    }

    /// A page of the global log, walled to this domain and the context's tenant: the query's
    /// namespace and tenant are set to them (whatever it said), and every event comes in its
    /// current shape ([`Domain::upcast_page`]). The filter's `evt_key`s match keys as stored.
    pub async fn read_log(&self, query: &LogQuery) -> Result<LogPage, Error> {
        let inner = &self.domain.inner;
        inner.check_tenant(&self.context)?;
        let mut query = query.clone();
        query.filter.namespace = Some(inner.namespace.clone());
        query.filter.tenant = Some(self.context.tenant.clone());
        let page = inner.reader().read_log(&query).await?;
        self.domain.upcast_page(page)
    }

    /// The roots matching a query, one page. `T` is the state type or `serde_json::Value`.
    pub async fn find<T: 'static + Clone + serde::de::DeserializeOwned>(
        &self,
        resource: &str,
        query: &Query,
    ) -> Result<Found<T>, Error> {
        let entry = self.resource::<T>(resource)?;
        let filter = if query.filter.is_null() {
            Filter::All
        } else {
            Filter::parse(&query.filter, &entry.fields)?
        };
        let sort = parse_sort(&query.sort, &entry.fields)?;
        limits::check_sort_keys(sort.len()).map_err(refused)?;
        let page = Page::request(query.limit, query.offset, query.page)?;
        let inner = &self.domain.inner;
        let filter = match inner.visible_roots(&self.context, entry)? {
            Visible::All => filter,
            Visible::Only(visible) => Filter::And(vec![visible, filter]),
            Visible::Nothing => {
                return Ok(Found {
                    items: Vec::new(),
                    page: PageInfo::new(0, &page),
                });
            }
        };
        let state_query = StateQuery {
            tenant: self.context.tenant.clone(),
            namespace: self.domain.inner.namespace.clone(),
            resource: resource.to_owned(),
            filter,
            sort,
            page,
            include_deleted: self.include_deleted,
        };
        let found = inner.reader().find(&state_query).await?;
        let mut items = Vec::with_capacity(found.rows.len());
        for row in found.rows {
            let mut stored = row.stored;
            if !stored.digest.is_empty() && stored.digest != entry.digest {
                // Written by code with another state shape: answer with the state refolded from
                // the events, as a fetch would.
                let key = inner.stream_key(&self.context.tenant, resource, &row.id);
                let head = inner.load_from(inner.reader(), &key, entry).await?;
                stored.state = StateDoc::Typed(head.state);
            }
            let state = match stored.state {
                StateDoc::Typed(state) => typed::<T>(&state, resource)?,
                StateDoc::Json(json) => decode::<T>(json, resource)?,
            };
            items.push(Record {
                id: row.id,
                version: stored.version,
                deleted: stored.deleted,
                created_at: stored.created_at,
                created_by: row.created_by,
                updated_at: stored.updated_at,
                updated_by: stored.updated_by,
                state,
            });
        }
        Ok(Found {
            items,
            page: PageInfo::new(found.total, &page),
        })
    }
}

/// A root folded up to a point in its past, with what the fold alone does not know.
struct Past {
    state: Arc<dyn AnyState>,
    version: u64,
    deleted: bool,
    created_at: Option<DateTime<Utc>>,
    created_by: Option<String>,
    updated_at: Option<DateTime<Utc>>,
    updated_by: Option<String>,
}

impl Past {
    fn into_record<T: 'static + Clone + serde::de::DeserializeOwned>(
        self,
        id: String,
        resource: &str,
    ) -> Result<Record<T>, Error> {
        Ok(Record {
            state: typed::<T>(&self.state, resource)?,
            id,
            version: self.version,
            deleted: self.deleted,
            created_at: self.created_at.unwrap_or_default(),
            created_by: self.created_by,
            updated_at: self.updated_at.unwrap_or_default(),
            updated_by: self.updated_by,
        })
    }
}

/// A read naming an identifier no write can have is refused as a malformed read, the same on
/// every backend.
fn check_id(id: &str) -> Result<(), Error> {
    limits::check_identifier("the aggregate root identifier", id).map_err(refused)
}

fn refused(err: LimitError) -> Error {
    Error::InvalidQuery(FilterError::Limit(err))
}

fn typed<T: 'static + Clone + serde::de::DeserializeOwned>(
    state: &Arc<dyn AnyState>,
    resource: &str,
) -> Result<T, Error> {
    if let Some(state) = state.as_any().downcast_ref::<T>() {
        return Ok(state.clone());
    }
    let json = state.to_json().map_err(|e| Error::Decode {
        what: format!("state of `{resource}`"),
        message: e.to_string(),
    })?;
    decode(json, resource)
}

fn decode<T: serde::de::DeserializeOwned>(json: Value, resource: &str) -> Result<T, Error> {
    serde_json::from_value(json).map_err(|e| Error::Decode {
        what: format!("state of `{resource}`"),
        message: e.to_string(),
    })
}
