//! The domain's side of the audit log: recording the attempts that did not commit, and the
//! reports over the records ([`AuditLog`]).

use std::sync::Arc;

use crate::audit::{Attempt, AuditPage, AuditQuery, AuditRecord, AuditStore, audit_fields};
use crate::context::Context;
use crate::error::Error;
use crate::filter::{Filter, Page, PageInfo, parse_sort};
use crate::limits;
use crate::statemgr::Query;

use super::{Domain, DomainInner};

impl DomainInner {
    /// Writes the records of attempts that did not commit, durably, before the caller is
    /// answered. The write runs in a task of its own, so a caller that stops waiting loses
    /// only its answer, never the record. A failed write is logged; the caller's answer stays
    /// what the command produced (it wrote nothing).
    pub(crate) async fn record_attempts(self: &Arc<Self>, records: Vec<AuditRecord>) {
        let inner = Arc::clone(self);
        let write = tokio::spawn(async move {
            let Some(store) = inner.backend.audit() else {
                return;
            };
            let count = records.len();
            if let Err(err) = store.append_audit(records).await {
                tracing::error!(
                    namespace = %inner.namespace,
                    records = count,
                    error = %err,
                    "writing audit records failed"
                );
            }
        });
        if let Err(err) = write.await {
            tracing::error!(namespace = %self.namespace, error = %err, "the audit write stopped");
        }
    }
}

impl Domain {
    /// Records an attempt that failed before it became a [`Command`](crate::Command): an
    /// unknown command key or resource, a request body that could not be read, a root the
    /// command may not target ([`Domain::create_command`] failed). Transports call it so that
    /// every attempt they were given is in the audit log; `command_id` is the caller's, when it
    /// gave one. Does nothing when the domain records no audit log.
    pub async fn record_rejected(
        &self,
        context: &Context,
        key: &str,
        target: (&str, &str),
        command_id: Option<uuid::Uuid>,
        error: &Error,
    ) {
        let inner = &self.inner;
        if !inner.audit {
            return;
        }
        let attempt = Attempt {
            context,
            key,
            command_id: command_id.unwrap_or_else(crate::ids::new_v7),
            resource: target.0,
            identifier: target.1,
        };
        let record = AuditRecord::of_attempt(
            &inner.namespace,
            &attempt,
            crate::audit::AuditOutcome::Invalid,
            inner.clock.now(),
        )
        .failed_with(error);
        inner.record_attempts(vec![record]).await;
    }

    /// The audit log as seen from a context: the records of its tenant in this domain's
    /// namespace. Works on any backend that keeps an audit log, whether or not this domain
    /// records one (another process may).
    pub fn audit_log(&self, context: &Context) -> AuditLog {
        AuditLog {
            domain: self.clone(),
            context: context.clone(),
        }
    }
}

/// Reports over the audit log of one tenant in one namespace. Made by [`Domain::audit_log`].
///
/// Queries take the same [`Query`] as [`StateManager::find`](crate::StateManager::find): a
/// filter in the JSON DSL over the fields of [`AuditRecord`], sort keys and a page. For
/// example, by root `{"resource": "account", "identifier": "a-1"}`, by actor `{"user": "ada"}`,
/// by time window `{"recorded_at.between": ["2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"]}`,
/// by outcome `{"outcome.in": ["denied", "refused"]}`. The default order is the record id
/// (the order in which the attempts were decided).
#[derive(Debug, Clone)]
pub struct AuditLog {
    domain: Domain,
    context: Context,
}

/// One page of an audit report.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct AuditReport {
    /// The records on this page.
    pub items: Vec<AuditRecord>,
    /// Totals and page numbers.
    pub page: PageInfo,
}

/// The formats an audit export is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExportFormat {
    /// One JSON object per line (the record's document), `\n` after each.
    JsonLines,
    /// RFC 4180 CSV with a header row; lists are joined with `;`, absent values are empty.
    Csv,
}

/// The columns of a CSV export, in order.
pub const CSV_COLUMNS: [&str; 19] = [
    "id",
    "recorded_at",
    "tenant",
    "namespace",
    "command",
    "command_id",
    "resource",
    "identifier",
    "user",
    "roles",
    "correlation_id",
    "causation_id",
    "transport",
    "outcome",
    "code",
    "message",
    "policies",
    "version",
    "events",
];

impl AuditLog {
    fn store(&self) -> Result<&dyn AuditStore, Error> {
        self.domain.inner.backend.audit().ok_or_else(|| {
            Error::Config(format!(
                "backend `{}` keeps no audit log",
                self.domain.inner.backend.name()
            ))
        })
    }

    /// Checks a query and scopes it to the context's tenant and the domain's namespace.
    fn scoped(&self, query: &Query) -> Result<AuditQuery, Error> {
        let inner = &self.domain.inner;
        inner.check_tenant(&self.context)?;
        limits::check_bounded_text("the tenant", &self.context.tenant)
            .map_err(|err| Error::InvalidQuery(err.into()))?;
        let fields = audit_fields();
        let filter = if query.filter.is_null() {
            Filter::All
        } else {
            Filter::parse(&query.filter, fields)?
        };
        let sort = parse_sort(&query.sort, fields)?;
        limits::check_sort_keys(sort.len()).map_err(|err| Error::InvalidQuery(err.into()))?;
        let page = Page::request(query.limit, query.offset, query.page)?;
        Ok(AuditQuery::new(
            self.context.tenant.clone(),
            inner.namespace.clone(),
            filter,
            sort,
            page,
        ))
    }

    /// One page of the records matching a query, with the total.
    pub async fn query(&self, query: &Query) -> Result<AuditReport, Error> {
        let store = self.store()?;
        let scoped = self.scoped(query)?;
        let found = store.query_audit(&scoped).await?;
        Ok(AuditReport {
            items: found.records,
            page: PageInfo::new(found.total, &scoped.page),
        })
    }

    /// Every record matching the query's filter, in its sort order, written as `format` in
    /// chunks of at most 1,000 records (the query's limit and offset are not used). The query
    /// is checked here: a malformed filter is an error before anything is written.
    pub fn export(&self, query: &Query, format: ExportFormat) -> Result<AuditExport, Error> {
        self.store()?;
        let mut scoped = self.scoped(query)?;
        scoped.page = Page::request(Some(crate::filter::MAX_LIMIT), Some(0), None)?;
        Ok(AuditExport {
            log: self.clone(),
            query: scoped,
            format,
            started: false,
            done: false,
        })
    }
}

/// An export in progress: [`AuditExport::next_chunk`] until it answers `None`, or
/// [`AuditExport::write_to`].
#[derive(Debug)]
pub struct AuditExport {
    log: AuditLog,
    query: AuditQuery,
    format: ExportFormat,
    started: bool,
    done: bool,
}

impl AuditExport {
    /// The next chunk of the export (the first starts with the CSV header), `None` after the
    /// last.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, Error> {
        if self.done {
            return Ok(None);
        }
        let store = self.log.store()?;
        let AuditPage { records, .. } = store.query_audit(&self.query).await?;
        let header = !self.started && self.format == ExportFormat::Csv;
        self.started = true;
        let limit = usize::try_from(self.query.page.limit).unwrap_or(usize::MAX);
        if records.len() < limit {
            self.done = true;
        }
        self.query.page.offset += self.query.page.limit;
        let out = match self.format {
            ExportFormat::JsonLines => {
                let mut out = Vec::new();
                for record in &records {
                    let doc = record.to_document()?;
                    out.extend_from_slice(doc.to_string().as_bytes());
                    out.push(b'\n');
                }
                out
            }
            ExportFormat::Csv => csv_rows(header, &records)?,
        };
        if out.is_empty() {
            return Ok(None);
        }
        Ok(Some(out))
    }

    /// Writes the whole export; returns how many bytes it wrote.
    pub async fn write_to(mut self, out: &mut (impl std::io::Write + Send)) -> Result<u64, Error> {
        let mut written = 0u64;
        while let Some(chunk) = self.next_chunk().await? {
            out.write_all(&chunk)
                .map_err(|err| Error::internal(format!("writing the audit export: {err}")))?;
            written += chunk.len() as u64;
        }
        Ok(written)
    }
}

/// A record's values in the order of [`CSV_COLUMNS`].
fn csv_fields(record: &AuditRecord) -> impl Iterator<Item = String> {
    let optional = |value: Option<String>| value.unwrap_or_default();
    [
        record.id.to_string(),
        record
            .recorded_at
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        record.tenant.clone(),
        record.namespace.clone(),
        record.command.clone(),
        record.command_id.to_string(),
        record.resource.clone(),
        record.identifier.clone(),
        optional(record.user.clone()),
        record.roles.join(";"),
        record.correlation_id.to_string(),
        optional(record.causation_id.map(|id| id.to_string())),
        record.transport.as_str().to_owned(),
        record.outcome.as_str().to_owned(),
        optional(record.code.clone()),
        optional(record.message.clone()),
        record.policies.join(";"),
        optional(record.version.map(|v| v.to_string())),
        record.events.to_string(),
    ]
    .into_iter()
}

/// CSV rows (RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled;
/// rows end with CRLF), after the header when `header`.
fn csv_rows(header: bool, records: &[AuditRecord]) -> Result<Vec<u8>, Error> {
    let failed = |err: &dyn std::fmt::Display| Error::internal(format!("writing CSV: {err}"));
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    if header {
        writer.write_record(CSV_COLUMNS).map_err(|e| failed(&e))?;
    }
    for record in records {
        writer
            .write_record(csv_fields(record))
            .map_err(|e| failed(&e))?;
    }
    writer.into_inner().map_err(|e| failed(&e))
}
